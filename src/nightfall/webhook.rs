//! `POST /ingest` on the daemon's listener: where Nightfall posts results.
//!
//! It answers a challenge with its value. Anything else must be
//! signed (see [`super::signature`]) or gets 401 and changes nothing.
//! Bodies over `max_body_bytes` get 413 without being read, malformed JSON
//! gets 400. A valid result is handed to the keeper, which ties it to its
//! job; findings are fetched in the background so Nightfall gets its 200
//! at once.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::Sender;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::sync::oneshot;

use super::signature::{check_headers, verify};

/// Largest unsigned body read: a challenge is a few dozen bytes.
const CHALLENGE_MAX_BYTES: u64 = 1024;
use super::wire::{Notification, into_findings};
use super::{Client, Message, Verdict};
use crate::http::{BodyError, REPLY_TIMEOUT, body_refusal, read_body, text};
use crate::secret::Secret;
use crate::shutdown::Shutdown;

/// What `/ingest` needs to judge and route results.
pub struct Webhook {
    secret: Secret,
    max_body: u64,
    keeper: Sender<Message>,
    client: Arc<Client>,
    /// Fetches run as tasks the daemon drains when it stops.
    shutdown: Shutdown,
}

impl Webhook {
    pub fn new(
        secret: Secret,
        max_body: u64,
        keeper: Sender<Message>,
        client: Arc<Client>,
        shutdown: Shutdown,
    ) -> Webhook {
        Webhook {
            secret,
            max_body,
            keeper,
            client,
            shutdown,
        }
    }

    /// `POST /ingest`.
    pub async fn ingest(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let timestamp = header("X-Nightfall-Timestamp");
        let signature = header("X-Nightfall-Signature");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // Authentication before the body: a signed request's headers and
        // time window are checked first; an unsigned one can only be a
        // challenge, and is read under a small cap.
        let signed = timestamp.is_some() || signature.is_some();
        if signed && let Err(why) = check_headers(timestamp.as_deref(), signature.as_deref(), now) {
            tracing::warn!(%peer, "webhook: refused a notification: {why}");
            return text(StatusCode::UNAUTHORIZED, "invalid signature");
        }
        let cap = if signed {
            self.max_body
        } else {
            CHALLENGE_MAX_BYTES
        };
        let body = match read_body(req, cap).await {
            Ok(body) => body,
            Err(BodyError::TooLarge) if !signed => {
                tracing::warn!(%peer, "webhook: refused an unsigned request larger than a challenge");
                return text(StatusCode::UNAUTHORIZED, "invalid signature");
            }
            Err(e) => return body_refusal(e, cap),
        };
        let value: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("malformed JSON: {e}")),
        };
        // The challenge is answered before any signature check: Nightfall
        // does not sign it, and echoing it reveals nothing.
        if let Some(challenge) = value.get("challenge").and_then(|c| c.as_str()) {
            return text(StatusCode::OK, challenge);
        }
        if let Err(why) = verify(
            &self.secret,
            timestamp.as_deref(),
            signature.as_deref(),
            &body,
            now,
        ) {
            tracing::warn!(%peer, "webhook: refused a notification: {why}");
            return text(StatusCode::UNAUTHORIZED, "invalid signature");
        }
        let note: Notification = match serde_json::from_value(value) {
            Ok(n) => n,
            Err(e) => {
                return text(
                    StatusCode::BAD_REQUEST,
                    &format!("not a scan notification: {e}"),
                );
            }
        };
        let upload_id = note.upload_id.clone();
        let findings_url = note.findings_url.clone();
        let (tx, rx) = oneshot::channel();
        if self
            .keeper
            .send(Message::Notified { note, reply: tx })
            .is_err()
        {
            return text(StatusCode::SERVICE_UNAVAILABLE, "shutting down");
        }
        let verdict = match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(v)) => v,
            _ => return text(StatusCode::SERVICE_UNAVAILABLE, "store busy"),
        };
        match verdict {
            Verdict::Unknown => {
                tracing::info!(upload = %upload_id, "webhook: result for an upload no job awaits (a stray or a repeat); ignored");
            }
            Verdict::Duplicate => {
                tracing::debug!(upload = %upload_id, "webhook: repeated result; already being handled");
            }
            Verdict::Settled => {}
            Verdict::Fetch => self.fetch(upload_id, findings_url),
        }
        text(StatusCode::OK, "")
    }

    /// Fetches and translates a result's findings in the background.
    fn fetch(&self, upload_id: String, url: String) {
        let (client, keeper) = (self.client.clone(), self.keeper.clone());
        let shutdown = self.shutdown.clone();
        self.shutdown
            .spawn(&tokio::runtime::Handle::current(), async move {
                let result = tokio::select! {
                    r = client.fetch_findings(&url) => r.map(|doc| into_findings(&doc)),
                    // Still pending in the store: resubmitted after the next start.
                    () = shutdown.requested() => return,
                };
                let _ = keeper.send(Message::Fetched { upload_id, result });
            });
    }
}
