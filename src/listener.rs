//! The daemon's one HTTP listener (hyper, `[webhook] listen`, loopback by
//! default). It serves what is turned on:
//!
//! - `POST /ingest`: Nightfall's results ([`crate::nightfall::webhook`]),
//!   with the Nightfall engine;
//! - `POST /v3/scan`: the local text-scan API ([`crate::textscan`]), with
//!   `[api] enabled`;
//! - `GET /ping` and `GET /healthz` (the queue's depth), always;
//! - `GET /metrics` (Prometheus text), on the `[metrics] listen` one;
//! - the dashboard's pages and JSON ([`crate::dashboard`]), with
//!   `[dashboard] enabled`.
//!
//! Connections are capped, headers must arrive within 10 s, bodies within
//! 10 s and under their cap. When every slot is taken, spare ones (one
//! request each, 2 s for headers, taken in turn) still answer `/ping` and
//! `/healthz` and refuse the rest with 503, so slow or silent clients
//! cannot hide the daemon's health; past the connections waiting for a
//! spare, new ones are closed at once.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::Sender;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::dashboard::Dashboard;
use crate::http::{api_error, json, text};
use crate::nightfall::Message;
use crate::nightfall::webhook::Webhook;
use crate::shutdown::Shutdown;
use crate::textscan::TextScan;

/// Most connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Connections beyond those that may still ask for health, one request each.
const SPARE_CONNECTIONS: usize = 16;
/// Connections waiting for a spare slot; past these, new ones are closed.
const MAX_WAITING: usize = 256;
/// How long a connection waits for a spare slot.
const SPARE_WAIT: Duration = Duration::from_secs(10);
/// How long a client may take to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The same on a spare connection.
const SPARE_HEADER_TIMEOUT: Duration = Duration::from_secs(2);

/// How a listener's connections fared, for `GET /metrics`.
#[derive(Debug, Default)]
pub struct Connections {
    /// Open now.
    pub open: AtomicU64,
    /// Taken into a regular slot, since start.
    pub slot: AtomicU64,
    /// Taken into a spare slot (health only), since start.
    pub spare: AtomicU64,
    /// Closed at once, or after waiting in vain for a spare, since start.
    pub refused: AtomicU64,
}

/// The routes this daemon serves.
pub struct Listener {
    pub ingest: Option<Webhook>,
    pub api: Option<Arc<TextScan>>,
    pub dashboard: Option<Arc<Dashboard>>,
    /// Serve `GET /metrics`.
    pub metrics: bool,
    pub keeper: Sender<Message>,
    pub connections: Arc<Connections>,
}

impl Listener {
    /// Serves connections from `listener` until a stop is asked for; then
    /// stops accepting, and lets each open connection finish the request
    /// it is on (HTTP/1 graceful shutdown).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: Shutdown) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let spares = Arc::new(Semaphore::new(SPARE_CONNECTIONS));
        let waiting = Arc::new(Semaphore::new(MAX_WAITING));
        let runtime = tokio::runtime::Handle::current();
        loop {
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
            let (this, stop) = (self.clone(), shutdown.clone());
            let count = &self.connections;
            if let Ok(permit) = slots.clone().try_acquire_owned() {
                count.slot.fetch_add(1, Ordering::Relaxed);
                shutdown.spawn(&runtime, this.connection(stream, peer, permit, false, stop));
            } else if let Ok(waiter) = waiting.clone().try_acquire_owned() {
                // Every slot is taken: wait (in turn, briefly) for a spare
                // one. Spares turn over fast: one request, short deadline.
                let spares = spares.clone();
                shutdown.spawn(&runtime, async move {
                    let got = tokio::time::timeout(SPARE_WAIT, spares.acquire_owned()).await;
                    drop(waiter);
                    if let Ok(Ok(permit)) = got {
                        this.connections.spare.fetch_add(1, Ordering::Relaxed);
                        this.connection(stream, peer, permit, true, stop).await;
                    } else {
                        this.connections.refused.fetch_add(1, Ordering::Relaxed);
                    }
                });
            } else {
                count.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "listener: every connection slot is taken; closed");
            }
        }
    }

    /// Serves one connection until it ends or a stop is asked for, then
    /// gives its slot back.
    async fn connection(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
        spare: bool,
        stop: Shutdown,
    ) {
        self.connections.open.fetch_add(1, Ordering::Relaxed);
        let connections = self.connections.clone();
        let service = hyper::service::service_fn(move |req| {
            let this = self.clone();
            async move { Ok::<_, Infallible>(this.route(req, peer, spare).await) }
        });
        let timeout = if spare {
            SPARE_HEADER_TIMEOUT
        } else {
            HEADER_TIMEOUT
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(timeout)
            .keep_alive(!spare)
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
        connections.open.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
    }

    /// `spare`: a connection past the cap, which gets health and nothing else.
    async fn route(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        spare: bool,
    ) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if spare && !matches!(path, "/ping" | "/healthz" | "/metrics") {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy: every connection slot is taken",
            );
        }
        if let Some(d) = self.dashboard.as_ref().filter(|_| Dashboard::serves(path)) {
            return d.clone().handle(req).await;
        }
        match (req.method(), path, &self.ingest, &self.api) {
            (&Method::POST, "/ingest", Some(hook), _) => hook.ingest(req, peer).await,
            (&Method::POST, "/v3/scan", _, Some(api)) => api.clone().handle(req).await,
            (&Method::GET, "/ping", _, _) => text(StatusCode::OK, "ok"),
            (&Method::GET, "/healthz", _, _) => self.health().await,
            (&Method::GET, "/metrics", _, _) if self.metrics => self.metrics().await,
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

    async fn metrics(&self) -> Response<Full<Bytes>> {
        match crate::nightfall::ask_health(&self.keeper, true).await {
            Some(h) => {
                let mut r = Response::new(Full::new(Bytes::from(h.metrics)));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4"),
                );
                r
            }
            None => text(StatusCode::SERVICE_UNAVAILABLE, "store busy"),
        }
    }

    async fn health(&self) -> Response<Full<Bytes>> {
        match crate::nightfall::ask_health(&self.keeper, false).await {
            Some(h) => {
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
                        "events": h.events.map(|(pending, dropped)| serde_json::json!({"pending": pending, "dropped": dropped})),
                    }),
                )
            }
            None => text(StatusCode::SERVICE_UNAVAILABLE, "store busy"),
        }
    }
}
