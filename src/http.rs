//! What every HTTP handler of the listener shares: reading a body under
//! a cap, plain-text, JSON and Nightfall-shaped error responses, and how
//! long a handler waits for the daemon. A leaf: the router and each
//! handler import it, and it imports nothing of theirs.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};

/// How long a handler waits for the daemon's reply before answering 503.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a whole request body: a client
/// that trickles it cannot hold a connection slot longer.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the cap, declared or actual.
    TooLarge,
    /// The client stopped sending.
    Incomplete,
    /// Not all there within [`BODY_TIMEOUT`].
    Slow,
}

/// Reads a request body of at most `max` bytes within [`BODY_TIMEOUT`]: a
/// larger declared length is refused before reading, a larger body as soon
/// as it passes `max`.
pub async fn read_body(req: Request<Incoming>, max: u64) -> Result<Bytes, BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    let read = Limited::new(req.into_body(), max as usize).collect();
    match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Err(_) => Err(BodyError::Slow),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Incomplete),
    }
}

/// A plain-text response.
pub fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    with_type(status, body.to_string(), "text/plain; charset=utf-8")
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Full<Bytes>> {
    match serde_json::to_string(value) {
        Ok(body) => with_type(status, body, "application/json"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot render the answer: {e}"),
        ),
    }
}

fn with_type(status: StatusCode, body: String, kind: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(kind));
    resp
}

/// Why a slow body was refused.
pub const SLOW_BODY: &str = "the body did not arrive within 10 s";

/// The plain-text refusal of a body that could not be read.
pub fn body_refusal(e: BodyError, max: u64) -> Response<Full<Bytes>> {
    match e {
        BodyError::TooLarge => text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("body is over webhook.max_body_bytes ({max})"),
        ),
        BodyError::Incomplete => text(StatusCode::BAD_REQUEST, "incomplete body"),
        BodyError::Slow => text(StatusCode::REQUEST_TIMEOUT, SLOW_BODY),
    }
}

/// Nightfall's error body; always JSON, since SDKs parse it unchecked.
pub fn api_error(
    status: StatusCode,
    code: i64,
    message: &str,
    description: &str,
) -> Response<Full<Bytes>> {
    json(
        status,
        &serde_json::json!({"code": code, "message": message, "description": description, "additionalData": {}}),
    )
}

/// A token clients must present, compared in constant time: both sides
/// are HMACed with a key made at start, so the comparison takes the same
/// time whatever the token's length or first wrong byte.
///
/// Every check costs: it takes one of [`MAX_CHECKING`] permits before it
/// compares (none free: [`Checked::Busy`], answered 429 without looking at
/// the token), and a wrong token keeps its permit for [`PENALTY`]. So
/// guessing is held to a few tries a second whoever tries, and no lockout
/// exists for anyone to trigger. Wrong tokens are logged at most every
/// 10 s, with their count.
pub struct Token {
    key: ring::hmac::Key,
    tag: ring::hmac::Tag,
    checking: tokio::sync::Semaphore,
    /// Since the last log line: when, and how many wrong tokens.
    logged: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

/// Checks of a token at once, at most.
pub const MAX_CHECKING: usize = 4;
/// How long a wrong token holds its permit.
pub const PENALTY: Duration = Duration::from_secs(1);

/// What a token check came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Right,
    Wrong,
    /// Too many checks at once: not looked at.
    Busy,
}

impl Token {
    pub fn new(token: &crate::secret::Secret) -> Token {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"dlpd-token"));
        let tag = ring::hmac::sign(&key, token.expose().as_bytes());
        Token {
            key,
            tag,
            checking: tokio::sync::Semaphore::new(MAX_CHECKING),
            logged: std::sync::Mutex::new((None, 0)),
        }
    }

    /// Checks `presented` (`what` names where, for the log).
    pub async fn check(&self, presented: &[u8], what: &str) -> Checked {
        let Ok(_permit) = self.checking.try_acquire() else {
            return Checked::Busy;
        };
        if ring::hmac::verify(&self.key, presented, self.tag.as_ref()).is_ok() {
            return Checked::Right;
        }
        {
            let mut l = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            l.1 += 1;
            if l.0.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    count = l.1,
                    "a wrong token ({what}); {} since the last such line",
                    l.1
                );
                *l = (Some(std::time::Instant::now()), 0);
            }
        }
        tokio::time::sleep(PENALTY).await;
        Checked::Wrong
    }

    /// The bearer token `req` carries, if it has an `Authorization` header.
    pub fn bearer<B>(req: &Request<B>) -> Option<Vec<u8>> {
        let value = req.headers().get(hyper::header::AUTHORIZATION)?;
        let token = value.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b"");
        Some(token.trim_ascii().to_vec())
    }
}

/// Whether `host` (a URL's host, a `Host` header's name, a database
/// host) names this machine: `localhost`, or a loopback address, IPv6 in
/// brackets or not.
pub fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wrong_token_waits_and_past_a_few_checks_none_is_looked_at() {
        let t = std::sync::Arc::new(Token::new(&crate::secret::Secret::new("right")));
        assert_eq!(t.check(b"right", "test").await, Checked::Right);
        let tries: Vec<_> = (0..MAX_CHECKING + 2)
            .map(|_| {
                let t = t.clone();
                tokio::spawn(async move { t.check(b"wrong", "test").await })
            })
            .collect();
        // While the wrong ones wait, even the right token is not looked at.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(t.check(b"right", "test").await, Checked::Busy);
        let mut got = Vec::new();
        for h in tries {
            got.push(h.await.unwrap());
        }
        assert_eq!(
            got.iter().filter(|c| **c == Checked::Wrong).count(),
            MAX_CHECKING
        );
        assert_eq!(got.iter().filter(|c| **c == Checked::Busy).count(), 2);
        assert_eq!(t.check(b"right", "test").await, Checked::Right);
    }
}
