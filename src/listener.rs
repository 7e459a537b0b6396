//! The daemon's one HTTP listener (hyper, `[webhook] listen`, loopback by
//! default). It serves what is turned on:
//!
//! - `POST /ingest`: Nightfall's results ([`crate::nightfall::webhook`]),
//!   with the Nightfall engine;
//! - `POST /v3/scan`: the local text-scan API ([`crate::textscan`]), with
//!   `[api] enabled`;
//! - `GET /ping` and `GET /healthz` (the queue's depth), always.
//!
//! Connections are capped, headers must arrive within 10 s, and bodies are
//! capped before they are read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Sender;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};

use crate::http::{REPLY_TIMEOUT, api_error, json, text};
use crate::nightfall::Message;
use crate::nightfall::webhook::Webhook;
use crate::shutdown::Shutdown;
use crate::textscan::TextScan;

/// Most connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The routes this daemon serves.
pub struct Listener {
    pub ingest: Option<Webhook>,
    pub api: Option<TextScan>,
    pub keeper: Sender<Message>,
}

impl Listener {
    /// Serves connections from `listener` until a stop is asked for; then
    /// stops accepting, and lets each open connection finish the request
    /// it is on (HTTP/1 graceful shutdown).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: Shutdown) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let runtime = tokio::runtime::Handle::current();
        loop {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
                () = shutdown.requested() => return,
            };
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = shutdown.requested() => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!("listener: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let this = self.clone();
            let stop = shutdown.clone();
            shutdown.spawn(&runtime, async move {
                let service = hyper::service::service_fn(move |req| {
                    let this = this.clone();
                    async move { Ok::<_, Infallible>(this.route(req, peer).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let mut conn = std::pin::pin!(conn);
                let ended = tokio::select! {
                    r = conn.as_mut() => r,
                    () = stop.requested() => {
                        conn.as_mut().graceful_shutdown();
                        conn.await
                    }
                };
                if let Err(e) = ended {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                drop(permit);
            });
        }
    }

    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        match (req.method(), path, &self.ingest, &self.api) {
            (&Method::POST, "/ingest", Some(hook), _) => hook.ingest(req, peer).await,
            (&Method::POST, "/v3/scan", _, Some(api)) => api.handle(req).await,
            (&Method::GET, "/ping", _, _) => text(StatusCode::OK, "ok"),
            (&Method::GET, "/healthz", _, _) => self.health().await,
            (_, "/ingest", Some(_), _) | (_, "/ping" | "/healthz", _, _) => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            (_, "/v3/scan", _, Some(_)) => api_error(
                StatusCode::METHOD_NOT_ALLOWED,
                40500,
                "Method Not Allowed",
                "use POST",
            ),
            _ => text(StatusCode::NOT_FOUND, "not found"),
        }
    }

    async fn health(&self) -> Response<Full<Bytes>> {
        let (tx, rx) = oneshot::channel();
        let _ = self.keeper.send(Message::Health { reply: tx });
        match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(h)) => {
                let q = h.queue;
                let (status, word) = match h.problems.is_empty() {
                    true => (StatusCode::OK, "ok"),
                    false => (StatusCode::SERVICE_UNAVAILABLE, "failing"),
                };
                json(
                    status,
                    &serde_json::json!({
                        "status": word,
                        "problems": h.problems,
                        "unwatched": h.unwatched,
                        "queue": {"queued": q.queued, "running": q.running, "awaiting_results": q.awaiting},
                    }),
                )
            }
            _ => text(StatusCode::SERVICE_UNAVAILABLE, "store busy"),
        }
    }
}
