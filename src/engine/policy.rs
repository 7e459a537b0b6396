//! Which reported findings the config keeps. The local engine applies the
//! same rules while it scans; the Nightfall engine's results pass through
//! here when they come back, so both engines keep exactly the same.

use std::path::Path;

use super::allow::Allowlist;
use crate::config::ScannerConfig;
use crate::finding::{Confidence, Detector, DetectorId, Finding};
use crate::rules::RuleSet;

/// The `[scanner]` settings that judge findings, built once per config.
#[derive(Debug, Clone)]
pub struct Policy {
    detectors: Vec<DetectorId>,
    min_confidence: Confidence,
    rules: RuleSet,
    allow: Allowlist,
}

impl Policy {
    pub fn new(cfg: &ScannerConfig) -> Policy {
        Policy {
            detectors: cfg.detectors.clone(),
            min_confidence: cfg.min_confidence,
            rules: cfg.rules.clone(),
            allow: Allowlist::new(cfg),
        }
    }

    /// Whether `path` is allowlisted (not to be scanned at all).
    pub fn skips_path(&self, path: &Path) -> bool {
        self.allow.path(path)
    }

    /// Whether a finding is one this config asks for: a configured
    /// detector's at `min_confidence`, or a rule's (whose own thresholds
    /// the engine applied).
    pub fn wants(&self, f: &Finding) -> bool {
        match &f.detector {
            Detector::Builtin(id) if self.detectors.contains(id) => {
                f.confidence >= self.min_confidence
            }
            Detector::Builtin(id) => self.rules.builtins().any(|b| b == *id),
            Detector::Custom(name) => self.rules.is_custom(name),
        }
    }

    /// A remote engine's findings, less those under the threshold, of
    /// detectors no longer configured, allowlisted by value, or marked on
    /// their line.
    pub fn keep(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| self.wants(f))
            .filter(|f| !self.allow.value(f.value.raw.as_bytes()))
            .filter(|f| {
                !self
                    .allow
                    .marked(f.before.raw.as_bytes(), f.after.raw.as_bytes())
            })
            .collect()
    }
}
