//! Nightfall's webhook signature: lowercase hex HMAC-SHA256, keyed with the
//! signing secret's UTF-8 bytes, over `"<timestamp>:<raw body>"`.
//!
//! Verification works on the raw body bytes (never a re-serialised parse),
//! compares in constant time (`ring::hmac::verify`), and accepts a
//! timestamp at most [`MAX_AGE`] old and [`MAX_SKEW`] ahead, so a captured
//! request cannot be replayed later.

use std::time::Duration;

use ring::hmac;

use crate::secret::Secret;

/// How old a signed request may be.
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// How far ahead of our clock a signed request may be.
pub const MAX_SKEW: Duration = Duration::from_secs(60);

/// Why a request's signature was refused. None of these say which part of
/// a signature was wrong beyond what the sender already knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Nightfall-Signature or X-Nightfall-Timestamp")]
    Missing,
    #[error("X-Nightfall-Timestamp is not a decimal POSIX time")]
    BadTimestamp,
    #[error("timestamp is more than 300 s old")]
    Stale,
    #[error("timestamp is more than 60 s in the future")]
    Future,
    #[error("signature does not match")]
    Mismatch,
}

/// The signature Nightfall would send for `body` at `timestamp`.
pub fn sign(secret: &Secret, timestamp: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.as_bytes());
    ctx.update(b":");
    ctx.update(body);
    crate::fsutil::hex(ctx.sign().as_ref())
}

/// Checks a request's signature headers against its raw body, with `now`
/// in POSIX seconds.
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
) -> Result<(), SignatureError> {
    check_headers(timestamp, signature, now)?;
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let tag = unhex(signature.trim()).ok_or(SignatureError::Mismatch)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose().as_bytes());
    let mut msg = Vec::with_capacity(timestamp.len() + 1 + body.len());
    msg.extend_from_slice(timestamp.trim().as_bytes());
    msg.push(b':');
    msg.extend_from_slice(body);
    hmac::verify(&key, &msg, &tag).map_err(|_| SignatureError::Mismatch)
}

/// What can be checked before the body is read: both headers are there,
/// and the timestamp is inside the window. A request that fails here costs
/// no body read.
pub fn check_headers(
    timestamp: Option<&str>,
    signature: Option<&str>,
    now: u64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(_)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let ts: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if ts.saturating_add(MAX_AGE.as_secs()) < now {
        return Err(SignatureError::Stale);
    }
    if ts > now.saturating_add(MAX_SKEW.as_secs()) {
        return Err(SignatureError::Future);
    }
    Ok(())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of ../shared/nightfall-api.md §5.2: (secret, timestamp,
    /// body, signature).
    const VECTORS: &[(&str, &str, &str, &str)] = &[
        (
            "super-secret-shhhh",
            "1633368645",
            "hello world foo bar goodnight moon",
            "1bb7619a9504474ffc14086d0423ad15db42606d3ca52afccb4a5b2125d7b703",
        ),
        (
            "super-secret-shhhh",
            "1633368643",
            "hello world foo bar goodnight moon",
            "641ada412da02d7df7ca59e94a556b7f5683374db614565ad3d99da1a9a779fb",
        ),
        (
            "some secret",
            "1633368643",
            "hello world",
            "3ccf9cc16507ca9f55b73c94fc2e872bb7ea312b2ab9d90785c6c55f153df4f3",
        ),
        (
            "MY_WEBHOOK_SECRET",
            "1636099513",
            r#"{"findingsURL":"https://nightfall.com/findings","validUntil":"2021-11-06T08:05:13.193904055Z","uploadID":"MY_UPLOAD_ID","findingsPresent":true,"requestMetadata":"MY_SECRETS","errors":[]}"#,
            "f3c4db6aee74079e7ba09aee16f5b729beee45edf0eb8f77173dbb479f446bda",
        ),
        (
            "nf-test-signing-secret",
            "1700000000",
            r#"{"challenge":"abc123"}"#,
            "aed4e42d731566f41ff0d76ebedade572a0bf585a7c45e80647027c54cfac5fe",
        ),
        (
            "nf-test-signing-secret",
            "1700000000",
            r#"{"findingsURL":"https://files.example/f.json","validUntil":"2023-11-15T00:00:00Z","uploadID":"430d42aa-1e1f-405d-8799-7f5f26486a0d","findingsPresent":true,"requestMetadata":"{\"path\":\"/tmp/x.csv\"}","errors":[]}"#,
            "2917eb6799ee00b43257ab51ccbfab5a406a31302f205e49e61edaa5945d88df",
        ),
    ];

    #[test]
    fn the_published_vectors_sign_and_verify() {
        assert_eq!(VECTORS[5].2.len(), 213);
        for &(secret, ts, body, sig) in VECTORS {
            let secret = Secret::new(secret);
            assert_eq!(sign(&secret, ts, body.as_bytes()), sig, "{body}");
            let now = ts.parse().unwrap();
            assert_eq!(
                verify(&secret, Some(ts), Some(sig), body.as_bytes(), now),
                Ok(())
            );
            // Uppercase hex is the same signature.
            let upper = sig.to_uppercase();
            assert_eq!(
                verify(&secret, Some(ts), Some(&upper), body.as_bytes(), now),
                Ok(())
            );
        }
    }

    #[test]
    fn any_change_is_a_mismatch() {
        let (secret, ts, body, sig) = VECTORS[5];
        let secret = Secret::new(secret);
        let now = 1_700_000_000;
        let mut flipped = body.as_bytes().to_vec();
        flipped[10] ^= 1;
        let other_ts = "1700000001";
        let wrong = Secret::new("nf-test-signing-secreT");
        for (s, t, g, b) in [
            (&secret, ts, sig, flipped.as_slice()),
            (&secret, other_ts, sig, body.as_bytes()),
            (&wrong, ts, sig, body.as_bytes()),
            (&secret, ts, &sig[..62], body.as_bytes()),
            (&secret, ts, "zz", body.as_bytes()),
        ] {
            assert_eq!(
                verify(s, Some(t), Some(g), b, now),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn the_timestamp_window_is_300_s_back_and_60_s_ahead() {
        let secret = Secret::new("k");
        let body = b"{}";
        let at = |ts: u64, now: u64| {
            let t = ts.to_string();
            verify(&secret, Some(&t), Some(&sign(&secret, &t, body)), body, now)
        };
        let now = 1_700_000_000;
        assert_eq!(at(now - 300, now), Ok(()));
        assert_eq!(at(now - 301, now), Err(SignatureError::Stale));
        assert_eq!(at(now + 60, now), Ok(()));
        assert_eq!(at(now + 61, now), Err(SignatureError::Future));
        assert_eq!(
            verify(&secret, None, Some("00"), body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&secret, Some("soon"), Some("00"), body, now),
            Err(SignatureError::BadTimestamp)
        );
    }
}
