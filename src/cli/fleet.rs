//! `dlpd fleet`: the fleet database's schema, and the fleet view.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;

use crate::config::Config;
use crate::fleet::{Database, schema};
use crate::shutdown::Shutdown;

/// How often `fleet serve` makes the coming months' partitions.
const PARTITIONS_EVERY: Duration = Duration::from_secs(24 * 3600);

/// `dlpd fleet`
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create or upgrade the fleet database's schema ([fleet] postgres_url), and make the coming months' partitions; run it monthly, e.g. from a timer.
    Migrate,
    /// Serve the dashboard over the fleet database: machines, sensitive files across them, values on several machines, anomalies. It takes the [api] token; until SIGTERM or SIGINT.
    Serve {
        /// Address to listen on (loopback by default; put a TLS proxy in front to serve others).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8790")]
        listen: SocketAddr,
    },
}

pub(super) fn fleet(config: &Config, cmd: FleetCommand) -> anyhow::Result<u8> {
    if !config.fleet.enabled() {
        anyhow::bail!(
            "no fleet database is configured: set fleet.postgres_url (or fleet.postgres_url_file) in the config"
        );
    }
    let db = Database::load(&config.fleet)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    match cmd {
        FleetCommand::Migrate => runtime.block_on(async {
            let mut client = db.connect().await?;
            let (from, to) = schema::migrate(&db, &mut client).await?;
            match from == to {
                true => println!(
                    "fleet database {}: schema version {to}, up to date; partitions made ahead",
                    db.target
                ),
                false => println!(
                    "fleet database {}: schema version {from} -> {to}",
                    db.target
                ),
            }
            Ok(super::EXIT_CLEAN)
        }),
        FleetCommand::Serve { listen } => serve(config, db, listen, &runtime),
    }
}

/// `dlpd fleet serve`: the dashboard's listener, with its limits, over
/// the fleet database.
fn serve(
    config: &Config,
    db: Database,
    listen: SocketAddr,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<u8> {
    let token = crate::secret::load(
        "API token",
        &config.api.token_env,
        config.api.token_file.as_deref(),
        "api.token_file",
    )?;
    let shutdown = Shutdown::new();
    runtime.block_on(async {
        // Refuse to start on a database that cannot be read.
        let client = db.connect().await?;
        schema::check(&db, &client).await?;
        let socket = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
        let bound = socket.local_addr()?;
        drop(client);
        // A connection of its own each day: the server may have restarted.
        let partitions = Database::load(&config.fleet)?;
        shutdown.spawn(&tokio::runtime::Handle::current(), {
            let stop = shutdown.clone();
            async move {
                loop {
                    let made = match partitions.connect().await {
                        Ok(c) => schema::ensure_partitions(&partitions, &c, std::time::SystemTime::now()).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = made {
                        tracing::warn!("fleet: cannot make the coming months' partitions ({e}); run `dlpd fleet migrate` as the schema's owner");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(PARTITIONS_EVERY) => {}
                        () = stop.requested() => return,
                    }
                }
            }
        });
        let target = db.target.clone();
        let view = crate::fleet::view::FleetView::new(db);
        let dashboard = crate::dashboard::Dashboard::for_fleet(&token, view, bound.ip().to_string(), config);
        let listener = Arc::new(crate::listener::Listener {
            ingest: None,
            api: None,
            dashboard: Some(Arc::new(dashboard)),
            metrics: false,
            keeper: crossbeam_channel::bounded(0).0,
            connections: Arc::default(),
        });
        shutdown.spawn(
            &tokio::runtime::Handle::current(),
            listener.serve(socket, shutdown.clone()),
        );
        if !bound.ip().is_loopback() {
            tracing::warn!(listen = %bound, "the fleet view is not on loopback; make sure only your proxy can reach it");
        }
        tracing::info!(listen = %bound, database = %target, "fleet view: serving the dashboard over the fleet database");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    shutdown.stop_and_wait(runtime.handle(), Duration::from_secs(5));
    tracing::info!("fleet view stopped");
    Ok(super::EXIT_CLEAN)
}
