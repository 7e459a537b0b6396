//! Watch roots written as globs (`/home/*/Downloads`): expanded when the
//! watcher starts and again every few seconds, so a folder of a user added
//! later is watched once it exists.
//!
//! Invariant: a globbed root is only ever a chain of real directories from
//! its literal prefix down. What a glob matches belongs to whoever owns it
//! (a user's home), and a symlink there would let them point dlpd, and its
//! quarantine, anywhere; so every component from the first glob on must be
//! a directory, not a symlink, when it is expanded, and the quarantine
//! opens such files from the literal prefix down, without following links.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use globset::GlobMatcher;

/// Past this many matches one pattern is taken to be a mistake.
pub const MAX_MATCHES: usize = 10_000;

/// Whether `root` is a glob rather than a directory.
pub fn is_glob(root: &Path) -> bool {
    root.components().any(|c| is_glob_part(c.as_os_str()))
}

fn is_glob_part(part: &std::ffi::OsStr) -> bool {
    part.as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b'*' | b'?' | b'['))
}

/// The directories before the first glob component (`/home` for
/// `/home/*/Downloads`): the part the administrator chose.
pub fn literal_prefix(root: &Path) -> PathBuf {
    root.components()
        .take_while(|c| !is_glob_part(c.as_os_str()))
        .collect()
}

/// Why `root` cannot be a globbed root, if it cannot.
pub fn check(root: &Path) -> Result<(), String> {
    if !is_glob(root) {
        return Ok(());
    }
    if !root.is_absolute() {
        return Err(format!(
            "{}: a globbed root must be absolute, e.g. /home/*/Downloads",
            root.display()
        ));
    }
    for c in root.components() {
        let part = c.as_os_str().to_string_lossy();
        if part.contains("**") {
            return Err(format!(
                "{}: `**` is not taken in a root (roots are watched recursively already); \
                 match one level with `*`, e.g. /home/*/Downloads",
                root.display()
            ));
        }
        if is_glob_part(c.as_os_str()) {
            matcher(&part).map_err(|e| format!("{}: {e}", root.display()))?;
        }
    }
    Ok(())
}

fn matcher(part: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(globset::GlobBuilder::new(part)
        .literal_separator(true)
        .build()?
        .compile_matcher())
}

/// The directories `root` matches now, sorted. A name starting with `.` is
/// only matched by a part that starts with `.` too, as in a shell.
pub fn expand(root: &Path) -> Vec<PathBuf> {
    let mut found = vec![literal_prefix(root)];
    let skip = found[0].components().count();
    for c in root.components().skip(skip) {
        let Component::Normal(part) = c else {
            // `..` or `.` after a glob: nothing sensible to match.
            return Vec::new();
        };
        let mut next = Vec::new();
        if is_glob_part(part) {
            let text = part.to_string_lossy();
            let Ok(m) = matcher(&text) else {
                return Vec::new();
            };
            let dotted = text.starts_with('.');
            for dir in &found {
                let Ok(entries) = std::fs::read_dir(dir) else {
                    continue;
                };
                for e in entries.flatten() {
                    let name = e.file_name();
                    let hidden = name.as_encoded_bytes().first() == Some(&b'.');
                    if (dotted || !hidden) && m.is_match(&name) && is_real_dir(&e.path()) {
                        next.push(e.path());
                    }
                }
                if next.len() > MAX_MATCHES {
                    break;
                }
            }
        } else {
            next = found
                .iter()
                .map(|d| d.join(part))
                .filter(|p| is_real_dir(p))
                .collect();
        }
        next.truncate(MAX_MATCHES);
        found = next;
    }
    found.sort();
    found
}

/// What `pattern` matches now that is not at or under a root in `known`;
/// those are added to `known`.
pub fn new_matches(pattern: &Path, known: &mut BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut new = Vec::new();
    for root in expand(pattern) {
        if !root.ancestors().any(|a| known.contains(a)) {
            known.insert(root.clone());
            new.push(root);
        }
    }
    new
}

/// Whether `root` could be a match of `pattern`: under its literal
/// prefix, as many levels deep as the pattern.
pub fn matches_prefix(pattern: &Path, root: &Path) -> bool {
    root.starts_with(literal_prefix(pattern))
        && root.components().count() == pattern.components().count()
}

/// A directory, and not a symlink to one.
fn is_real_dir(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_real_directories_only_level_by_level() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home");
        for d in ["a/Downloads", "b/Downloads", "c", ".hidden/Downloads"] {
            std::fs::create_dir_all(home.join(d)).unwrap();
        }
        // A user's Downloads that is a symlink to elsewhere is refused.
        std::fs::create_dir_all(home.join("d")).unwrap();
        std::os::unix::fs::symlink("/etc", home.join("d/Downloads")).unwrap();
        std::os::unix::fs::symlink(home.join("a"), home.join("e")).unwrap();
        std::fs::write(home.join("f"), "").unwrap();
        let pattern = home.join("*/Downloads");
        assert!(is_glob(&pattern));
        assert_eq!(literal_prefix(&pattern), home);
        assert_eq!(
            expand(&pattern),
            [home.join("a/Downloads"), home.join("b/Downloads")]
        );
        assert_eq!(
            expand(&home.join(".*/Downloads")),
            [home.join(".hidden/Downloads")]
        );
        assert_eq!(expand(&home.join("[ab]")), [home.join("a"), home.join("b")]);
        assert!(check(&pattern).is_ok());
        assert!(
            check(Path::new("/home/**/Downloads"))
                .unwrap_err()
                .contains("`**`")
        );
        assert!(
            check(Path::new("home/*/x"))
                .unwrap_err()
                .contains("absolute")
        );
        assert!(check(Path::new("/home/[a/x")).is_err());
        assert!(!is_glob(Path::new("/home/a/Downloads")));
    }
}
