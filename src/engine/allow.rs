//! Allowlists: paths never scanned, values that are never findings (by
//! their SHA-256, so the value itself is written nowhere), and an inline
//! marker that silences a finding on its line.

use std::collections::HashSet;
use std::path::Path;

use crate::config::ScannerConfig;
use crate::pathmatch::PathFilter;

/// How far along its line the marker may sit from a finding: the keyword
/// window, which the engine's block overlap already covers.
pub const MARKER_REACH: usize = 64;

/// The allowlists of one `[scanner]` config.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    paths: PathFilter,
    values: HashSet<String>,
    marker: Option<memchr::memmem::Finder<'static>>,
}

impl Allowlist {
    pub fn new(cfg: &ScannerConfig) -> Allowlist {
        Allowlist {
            paths: PathFilter::new(&cfg.allow_paths),
            values: cfg.allow_values.iter().cloned().collect(),
            marker: (!cfg.allow_marker.is_empty())
                .then(|| memchr::memmem::Finder::new(cfg.allow_marker.as_bytes()).into_owned()),
        }
    }

    /// Whether `path` is allowlisted (not to be scanned).
    pub fn path(&self, path: &Path) -> bool {
        self.paths.is_match(path, false)
    }

    /// Whether the raw value is allowlisted by its hash.
    pub fn value(&self, raw: &[u8]) -> bool {
        !self.values.is_empty() && self.values.contains(&hash_value(raw))
    }

    /// Whether the marker sits in `before` (the text just before a finding)
    /// or `after`, on the finding's own line.
    pub fn marked(&self, before: &[u8], after: &[u8]) -> bool {
        let Some(m) = &self.marker else { return false };
        let before = before.rsplit(|&b| b == b'\n').next().unwrap_or(before);
        let after = after.split(|&b| b == b'\n').next().unwrap_or(after);
        let has = |s: &[u8]| m.find(s).is_some();
        has(before) || has(after)
    }
}

/// The hex SHA-256 of a value, as `scanner.allow_values` holds it.
pub fn hash_value(raw: &[u8]) -> String {
    crate::fsutil::sha256_hex(raw)
}
