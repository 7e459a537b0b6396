//! The install's key for stored values: findings are kept as keyed
//! hashes (HMAC-SHA256), never as the values themselves.

use std::path::Path;

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::StoreError;
use crate::fsutil::open_private_rw;

/// The per-install HMAC key: 32 random bytes in a 0600 file.
pub(super) fn load_or_create_key(path: &Path) -> Result<hmac::Key, StoreError> {
    let err = |source| StoreError::Key {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_key(path).map_err(err)?,
        Err(e) => return Err(err(e)),
    };
    if bytes.len() != 32 {
        return Err(err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not 32 bytes; delete it to make a new key (stored value hashes will no longer match)",
        )));
    }
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}

/// Makes a new key and publishes it without ever replacing one: the bytes
/// go to a temp file named for this process, then `link` gives it the real
/// name only if nobody has. When two processes open a new store at once,
/// the loser reads the winner's key, so both hash values the same way.
fn create_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut b = vec![0u8; 32];
    SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| std::io::Error::other("no system randomness"))?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write;
        let mut f = open_private_rw(&tmp)?;
        f.write_all(&b)?;
        f.sync_all()?;
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(b),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(path),
        Err(e) => Err(e),
    }
}
