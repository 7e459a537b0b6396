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
pub struct Token {
    key: ring::hmac::Key,
    tag: ring::hmac::Tag,
}

impl Token {
    pub fn new(token: &crate::secret::Secret) -> Token {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"dlpd-token"));
        let tag = ring::hmac::sign(&key, token.expose().as_bytes());
        Token { key, tag }
    }

    /// Whether `presented` is the token.
    pub fn matches(&self, presented: &[u8]) -> bool {
        ring::hmac::verify(&self.key, presented, self.tag.as_ref()).is_ok()
    }

    /// Whether `req` carries `Authorization: Bearer <token>`.
    pub fn bearer_of<B>(&self, req: &Request<B>) -> bool {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        presented.is_some_and(|p| self.matches(p.as_bytes()))
    }
}
