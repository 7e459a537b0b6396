//! Secrets (the Nightfall API key, the webhook signing secret): read from
//! the environment or from a file only its owner can read, and never shown.
//! `Debug` and `Display` print `[redacted]`, so a secret that ends up in a
//! log line or an error message is still not there.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A secret string. The only way to the value is [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value that must not be shown.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that needs it (a header, an HMAC key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a secret could not be read; each names the config key to fix.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{what}: environment variable {var} is not set; export it, or set {file_key} to a 0600 file holding it"
    )]
    Unset {
        what: &'static str,
        var: String,
        file_key: &'static str,
    },
    #[error("{key} = {path}: cannot read it: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} = {path}: mode is {mode:o}, readable by others; run chmod 600 {path}")]
    Exposed {
        key: &'static str,
        path: PathBuf,
        mode: u32,
    },
    #[error("{key} = {path}: the file is empty")]
    Empty { key: &'static str, path: PathBuf },
}

/// Reads a secret from `file` if given (it must be mode 0600 or stricter),
/// else from the environment variable `var`. Surrounding whitespace, such as
/// the newline an editor adds, is not part of the secret.
pub fn load(
    what: &'static str,
    var: &str,
    file: Option<&Path>,
    file_key: &'static str,
) -> Result<Secret, SecretError> {
    let Some(path) = file else {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Secret(v.trim().to_string())),
            _ => Err(SecretError::Unset {
                what,
                var: var.to_string(),
                file_key,
            }),
        };
    };
    let read_err = |source| SecretError::Read {
        key: file_key,
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Exposed {
            key: file_key,
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    match text.trim() {
        "" => Err(SecretError::Empty {
            key: file_key,
            path: path.to_path_buf(),
        }),
        v => Ok(Secret(v.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("NF-abc123");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "NF-abc123");
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "NF-abc\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load("API key", "X", Some(&path), "nightfall.api_key_file").unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = load("API key", "X", Some(&path), "nightfall.api_key_file").unwrap();
        assert_eq!(s.expose(), "NF-abc");
    }

    #[test]
    fn an_unset_variable_names_it_and_the_alternative() {
        let err = load(
            "API key",
            "DLPD_SURELY_UNSET_KEY",
            None,
            "nightfall.api_key_file",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("DLPD_SURELY_UNSET_KEY"), "{err}");
        assert!(err.contains("nightfall.api_key_file"), "{err}");
    }
}
