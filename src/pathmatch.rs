//! Path patterns, in one syntax wherever dlpd takes them (`watch.include`,
//! `watch.exclude`, `scanner.allow_paths`, `dlpd scan --exclude`):
//!
//! - a glob: a relative one (`*.tmp`, `.git`, `vendor/**`) matches from
//!   any path component on, an absolute one (`/srv/tmp/**`) the whole path,
//!   and a directory that matches takes everything under it along;
//! - `re:` and a regex, searched in the whole path (a directory's with a
//!   trailing `/`), for what a glob cannot say.
//!
//! Before globs, `watch.include` and `watch.exclude` took bare regexes.
//! In those two keys ([`PathPattern::parse_legacy`]) an entry that can only
//! be one (with `$`, `^`, `\`, `(`, `|` or `+` in it, or between slashes
//! like `/Finance/`) is still read as a regex, and [`PathPattern::legacy`]
//! lets the config warn.

use std::path::Path;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;

const REGEX_PREFIX: &str = "re:";

/// One pattern, as read from a config key or a flag.
#[derive(Debug, Clone)]
pub struct PathPattern {
    kind: Kind,
    legacy: bool,
}

#[derive(Debug, Clone)]
enum Kind {
    /// The glob as written, and the globs it stands for.
    Glob(String, Vec<globset::Glob>),
    Regex(Regex),
}

impl PartialEq for PathPattern {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl std::fmt::Display for PathPattern {
    /// The pattern in today's syntax (a legacy regex with its `re:`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Glob(text, _) => f.write_str(text),
            Kind::Regex(r) => write!(f, "{REGEX_PREFIX}{}", r.as_str()),
        }
    }
}

impl PathPattern {
    /// Reads one pattern in the old keys' terms: what can only be a
    /// regex of the old syntax is read as one.
    pub fn parse_legacy(raw: &str) -> Result<PathPattern, String> {
        match raw.strip_prefix(REGEX_PREFIX) {
            None if looks_like_regex(raw) => regex(raw, true),
            _ => PathPattern::parse(raw),
        }
    }

    /// Reads one pattern; the error says what is wrong with it.
    pub fn parse(raw: &str) -> Result<PathPattern, String> {
        if let Some(re) = raw.strip_prefix(REGEX_PREFIX) {
            return regex(re, false);
        }
        if raw.is_empty() {
            return Err("an empty pattern matches nothing; remove it".into());
        }
        // Relative globs match from any component on; a match takes its
        // subtree along.
        let base = if raw.starts_with('/') || raw.starts_with("**") {
            raw.to_string()
        } else {
            format!("**/{raw}")
        };
        let mut globs = vec![glob(&base, raw)?];
        if !base.ends_with("/**") {
            globs.push(glob(&format!("{}/**", base.trim_end_matches('/')), raw)?);
        }
        Ok(PathPattern {
            kind: Kind::Glob(raw.to_string(), globs),
            legacy: false,
        })
    }

    /// A bare regex in the old syntax: read as before, worth a warning.
    pub fn legacy(&self) -> bool {
        self.legacy
    }
}

impl serde::Serialize for PathPattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PathPattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        PathPattern::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn glob(pattern: &str, raw: &str) -> Result<globset::Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("`{raw}` is not a valid glob: {}", e.kind()))
}

fn regex(re: &str, legacy: bool) -> Result<PathPattern, String> {
    Regex::new(re)
        .map(|r| PathPattern {
            kind: Kind::Regex(r),
            legacy,
        })
        .map_err(|e| format!("`{re}` is not a valid regex: {e}"))
}

/// What only a regex of the old syntax would hold: anchors, escapes,
/// groups, alternation, or a name between slashes (`/Finance/`, which as
/// a glob would be an absolute path that matches nothing).
fn looks_like_regex(raw: &str) -> bool {
    raw.contains(['$', '^', '\\', '(', '|', '+'])
        || (raw.len() > 2 && raw.starts_with('/') && raw.ends_with('/') && !raw.contains('*'))
}

/// Serde's reading of `watch.include` and `watch.exclude`.
pub fn legacy_patterns<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<PathPattern>, D::Error> {
    use serde::Deserialize;
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|raw| PathPattern::parse_legacy(raw).map_err(serde::de::Error::custom))
        .collect()
}

/// Patterns compiled together: one pass over a path for all the globs.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    globs: Option<GlobSet>,
    regexes: Vec<Regex>,
    /// Some pattern names a whole path (an absolute glob, or a regex):
    /// a relative path is matched as the absolute one it stands for.
    whole: bool,
}

impl PathFilter {
    pub fn new<'a>(patterns: impl IntoIterator<Item = &'a PathPattern>) -> PathFilter {
        let mut set = GlobSetBuilder::new();
        let mut any_glob = false;
        let mut regexes = Vec::new();
        let mut whole = false;
        for p in patterns {
            match &p.kind {
                Kind::Glob(text, globs) => {
                    whole |= text.starts_with('/');
                    for g in globs {
                        set.add(g.clone());
                        any_glob = true;
                    }
                }
                Kind::Regex(r) => {
                    whole = true;
                    regexes.push(r.clone());
                }
            }
        }
        PathFilter {
            whole,
            // Each glob compiled alone when it was read, so the set builds.
            globs: any_glob.then(|| set.build().unwrap_or_else(|_| GlobSet::empty())),
            regexes,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_none() && self.regexes.is_empty()
    }

    /// Whether `path` (a directory if `dir`) matches any pattern.
    pub fn is_match(&self, path: &Path, dir: bool) -> bool {
        if self.whole
            && path.is_relative()
            && let Ok(full) = std::path::absolute(path)
        {
            return self.matches(&full, dir);
        }
        self.matches(path, dir)
    }

    fn matches(&self, path: &Path, dir: bool) -> bool {
        if self.globs.as_ref().is_some_and(|g| g.is_match(path)) {
            return true;
        }
        if self.regexes.is_empty() {
            return false;
        }
        let mut text = path.to_string_lossy().into_owned();
        if dir {
            text.push('/');
        }
        self.regexes.iter().any(|r| r.is_match(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(patterns: &[&str]) -> PathFilter {
        let parsed: Vec<PathPattern> = patterns
            .iter()
            .map(|p| PathPattern::parse(p).unwrap())
            .collect();
        PathFilter::new(&parsed)
    }

    #[test]
    fn relative_globs_match_at_any_depth_and_take_their_subtree() {
        let f = filter(&[".git", "*.tmp", "vendor/**", "/srv/cache/**"]);
        for yes in [
            "/home/a/repo/.git",
            "/home/a/repo/.git/config",
            "/x/y.tmp",
            "/a/vendor/lib/x.rs",
            "/srv/cache/z",
        ] {
            assert!(f.is_match(Path::new(yes), false), "{yes}");
        }
        for no in [
            "/home/a/repo/.gitignore",
            "/x/y.tmpl",
            "/a/vendors/x",
            "/b/srv/cache/z",
        ] {
            assert!(!f.is_match(Path::new(no), false), "{no}");
        }
    }

    #[test]
    fn regexes_need_their_prefix_but_old_ones_are_still_read_as_regexes() {
        let p = PathPattern::parse(r"re:/\.cache/").unwrap();
        assert!(!p.legacy());
        assert_eq!(p.to_string(), r"re:/\.cache/");
        assert!(filter(&[r"re:/\.cache/"]).is_match(Path::new("/a/.cache"), true));
        assert!(!filter(&[r"re:/\.cache/"]).is_match(Path::new("/a/.cache"), false));
        let old = PathPattern::parse_legacy(r"\.swp$").unwrap();
        assert!(old.legacy());
        assert_eq!(old.to_string(), r"re:\.swp$");
        assert!(PathFilter::new(&[old]).is_match(Path::new("/a/b.swp"), false));
        let dir = PathPattern::parse_legacy("/Finance/").unwrap();
        assert!(dir.legacy());
        assert!(PathFilter::new(&[dir]).is_match(Path::new("/h/a/Finance/q.csv"), false));
        assert!(!PathPattern::parse_legacy("*.swp").unwrap().legacy());
        // Outside the old keys, what a glob may hold stays a glob.
        for glob in ["**/c++/**", "**/x (1)/**", "~$*", "$RECYCLE.BIN"] {
            let p = PathPattern::parse(glob).unwrap();
            assert!(!p.legacy() && p.to_string() == glob, "{glob}");
        }
        assert!(filter(&["~$*"]).is_match(Path::new("/d/~$report.docx"), false));
        assert!(
            PathPattern::parse("re:(")
                .unwrap_err()
                .contains("not a valid regex")
        );
        assert!(
            PathPattern::parse("[a")
                .unwrap_err()
                .contains("not a valid glob")
        );
        assert!(filter(&[]).is_empty());
    }
}
