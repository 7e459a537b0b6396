//! The webhook listener Nightfall posts results to, inside the daemon:
//! `POST /ingest`, `GET /ping` and `GET /healthz`, on hyper.
//!
//! `/ingest` answers a challenge with its value. Anything else must be
//! signed (see [`super::signature`]) or gets 401 and changes nothing.
//! Bodies over `max_body_bytes` get 413 without being read, malformed JSON
//! gets 400. A valid result is handed to the keeper, which ties it to its
//! job; findings are fetched in the background so Nightfall gets its 200
//! at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::Sender;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

use super::signature::verify;
use super::wire::{Notification, into_findings};
use super::{Client, Message, Verdict};
use crate::secret::Secret;

/// Most connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a handler waits for the keeper before answering 503.
const KEEPER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the listener needs to judge and route requests.
pub struct Webhook {
    secret: Secret,
    max_body: u64,
    keeper: Sender<Message>,
    client: Arc<Client>,
}

impl Webhook {
    pub fn new(
        secret: Secret,
        max_body: u64,
        keeper: Sender<Message>,
        client: Arc<Client>,
    ) -> Webhook {
        Webhook {
            secret,
            max_body,
            keeper,
            client,
        }
    }

    /// Serves connections from `listener` until the runtime stops.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("webhook: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let hook = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let hook = hook.clone();
                    async move { Ok::<_, Infallible>(hook.route(req, peer).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, "webhook connection ended: {e}");
                }
                drop(permit);
            });
        }
    }

    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        match (req.method(), req.uri().path()) {
            (&Method::POST, "/ingest") => self.ingest(req, peer).await,
            (&Method::GET, "/ping") => text(StatusCode::OK, "ok"),
            (&Method::GET, "/healthz") => self.health().await,
            (_, "/ingest" | "/ping" | "/healthz") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => text(StatusCode::NOT_FOUND, "not found"),
        }
    }

    async fn health(&self) -> Response<Full<Bytes>> {
        let (tx, rx) = oneshot::channel();
        let _ = self.keeper.send(Message::Health { reply: tx });
        match tokio::time::timeout(KEEPER_TIMEOUT, rx).await {
            Ok(Ok(q)) => json(
                StatusCode::OK,
                &serde_json::json!({
                    "status": "ok",
                    "queue": {"queued": q.queued, "running": q.running, "awaiting_results": q.awaiting},
                }),
            ),
            _ => text(StatusCode::SERVICE_UNAVAILABLE, "store busy"),
        }
    }

    async fn ingest(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return too_large(self.max_body);
        }
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let timestamp = header("X-Nightfall-Timestamp");
        let signature = header("X-Nightfall-Signature");
        let body = match Limited::new(req.into_body(), self.max_body as usize)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return too_large(self.max_body);
            }
            Err(_) => return text(StatusCode::BAD_REQUEST, "incomplete body"),
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
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
        let verdict = match tokio::time::timeout(KEEPER_TIMEOUT, rx).await {
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
        tokio::spawn(async move {
            let result = match client.fetch_findings(&url).await {
                Ok(doc) => {
                    let (found, unknown) = into_findings(&doc);
                    if unknown > 0 {
                        tracing::warn!(upload = %upload_id, unknown, "findings under detectors dlpd does not know were left out");
                    }
                    Ok(found)
                }
                Err(e) => Err(e.to_string()),
            };
            let _ = keeper.send(Message::Fetched { upload_id, result });
        });
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = text(status, &value.to_string());
    resp.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn too_large(max: u64) -> Response<Full<Bytes>> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("body is over webhook.max_body_bytes ({max})"),
    )
}
