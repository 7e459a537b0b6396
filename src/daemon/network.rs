//! The daemon's network side, on the process's one runtime: the listener
//! (Nightfall's results on `/ingest`, the text-scan API on `/v3/scan`,
//! health), the Nightfall client, and the alert sender. Each task is
//! spawned through [`Shutdown`], so a stop drains them in order.

use std::sync::Arc;

use crossbeam_channel::Sender;
use tokio::runtime::Handle;

use super::DaemonError;
use super::metrics::Listeners;
use super::worker::Remote;
use crate::alerts::Sinks;
use crate::config::{Config, EngineKind};
use crate::nightfall::{self, Message};
use crate::shutdown::Shutdown;

/// Starts the listener when something needs it (the Nightfall engine, or
/// `[api] enabled`), and returns the Nightfall side for the workers when
/// Nightfall is the engine.
pub(super) fn start_listener(
    config: &Config,
    keeper: Sender<Message>,
    runtime: &Handle,
    shutdown: &Shutdown,
    counted: &mut Listeners,
) -> Result<Option<Remote>, DaemonError> {
    let nightfall_on = config.scanner.engine == EngineKind::Nightfall;
    let (api_on, dashboard_on) = (config.api.enabled, config.dashboard.enabled);
    if !config.uses_listener() {
        return Ok(None);
    }
    // The dashboard takes the API's token too.
    let token = match config.uses_api_token() {
        true => Some(crate::secret::load(
            "API token",
            &config.api.token_env,
            config.api.token_file.as_deref(),
            "api.token_file",
        )?),
        false => None,
    };
    let api = token
        .as_ref()
        .filter(|_| api_on)
        .map(|t| Arc::new(crate::textscan::TextScan::new(t)));
    let dashboard = token.as_ref().filter(|_| dashboard_on).map(|t| {
        Arc::new(crate::dashboard::Dashboard::new(
            t,
            config.output.db_path(),
            keeper.clone(),
            config,
        ))
    });
    let (ingest, remote) = match nightfall_on {
        true => {
            let secrets = nightfall::Secrets::load(config)?;
            let client = Arc::new(
                nightfall::Client::new(&config.nightfall, secrets.api_key)
                    .map_err(nightfall::SetupError::from)?,
            );
            let hook = nightfall::webhook::Webhook::new(
                secrets.signing_secret,
                config.webhook.max_body_bytes,
                keeper.clone(),
                client.clone(),
                shutdown.clone(),
            );
            let remote = Remote {
                client,
                runtime: runtime.clone(),
                keeper: keeper.clone(),
            };
            (Some(hook), Some(remote))
        }
        false => (None, None),
    };
    let addr = config.webhook.listen;
    let socket = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|source| DaemonError::Listen { addr, source })?;
    let bound = socket.local_addr().unwrap_or(addr);
    if !bound.ip().is_loopback() {
        tracing::warn!(listen = %bound, "the listener is not on loopback; make sure only your proxy can reach it");
    }
    let routes: Vec<&str> = [
        ingest.as_ref().map(|_| "POST /ingest"),
        api.as_ref().map(|_| "POST /v3/scan"),
        dashboard.as_ref().map(|_| "the dashboard (GET /)"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let listener = Arc::new(crate::listener::Listener {
        ingest,
        api,
        dashboard,
        metrics: false,
        keeper,
        connections: counted.add("webhook"),
    });
    shutdown.spawn(runtime, listener.serve(socket, shutdown.clone()));
    tracing::info!(listen = %bound, routes = %routes.join(", "), "listening");
    Ok(remote)
}

/// Starts the health and metrics endpoint on `[metrics] listen`, unless
/// it is off; true when it serves. An address that is taken (a second
/// dlpd on the machine) is an error in the log, not a reason to stop
/// watching.
pub(super) fn start_metrics(
    config: &Config,
    keeper: Sender<Message>,
    runtime: &Handle,
    shutdown: &Shutdown,
    counted: &mut Listeners,
) -> bool {
    let Some(addr) = config.metrics.listen else {
        return false;
    };
    let socket = match runtime.block_on(tokio::net::TcpListener::bind(addr)) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(
                "cannot serve metrics on metrics.listen = {addr}: {e}; set another address, or \"\" to turn them off"
            );
            return false;
        }
    };
    let bound = socket.local_addr().unwrap_or(addr);
    if !bound.ip().is_loopback() {
        tracing::warn!(listen = %bound, "metrics are served beyond loopback");
    }
    let listener = Arc::new(crate::listener::Listener {
        ingest: None,
        api: None,
        dashboard: None,
        metrics: true,
        keeper,
        connections: counted.add("metrics"),
    });
    shutdown.spawn(runtime, listener.serve(socket, shutdown.clone()));
    tracing::info!(listen = %bound, "serving GET /metrics and GET /healthz");
    true
}

/// Starts the alert sender when a sink is configured.
pub(super) fn start_alerts(config: &Config, sinks: Sinks, runtime: &Handle, shutdown: &Shutdown) {
    let sender = crate::alerts::send(
        config.output.db_path(),
        sinks,
        config.alerts.requests_per_second,
        shutdown.clone(),
    );
    shutdown.spawn(runtime, sender);
}
