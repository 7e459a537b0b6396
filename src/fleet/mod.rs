//! The fleet: every machine's events in one PostgreSQL database.
//!
//! Endpoints ship the store's event outbox ([`ship`]) into tables that
//! `dlpd fleet migrate` creates ([`schema`]); `dlpd fleet serve` shows
//! them ([`view`]). The database holds masked values and, with a shared
//! fleet key, keyed hashes; never a raw value, and never a machine's own
//! hash key. See docs/fleet.md.

use std::path::PathBuf;
use std::sync::Arc;

use ring::hmac;

use crate::config::FleetConfig;
use crate::secret::{Secret, SecretError};

pub mod schema;
pub mod ship;
pub mod view;

/// The consumer's name in the outbox.
pub const CONSUMER: &str = "fleet";
/// How long a connection may take to be made.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why the fleet database could not be used; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("fleet database URL: {0}")]
    Secret(#[from] SecretError),
    #[error("{key}: {why}")]
    Setting { key: &'static str, why: String },
    #[error("cannot reach the fleet database {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error("fleet database {target}: {source}")]
    Sql {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error(
        "the fleet database {target} has schema version {found}, and this dlpd needs {needed}; run `dlpd fleet migrate --config FILE` with an account that owns the database"
    )]
    Schema {
        target: String,
        found: i32,
        needed: i32,
    },
}

/// Where the fleet database is, and how to trust it.
pub struct Database {
    url: Secret,
    ca_file: Option<PathBuf>,
    /// `user@host:port/db`, for messages: never the password.
    pub target: String,
}

impl Database {
    /// Reads the URL (from `postgres_url_file` when set) and checks it.
    pub fn load(cfg: &FleetConfig) -> Result<Database, FleetError> {
        let url = match &cfg.postgres_url_file {
            Some(file) => {
                let url = crate::secret::load(
                    "fleet database URL",
                    "",
                    Some(file),
                    "fleet.postgres_url_file",
                )?;
                crate::config::check_postgres_url(url.expose(), true).map_err(|why| {
                    FleetError::Setting {
                        key: "fleet.postgres_url_file",
                        why: format!("{}: {why}", file.display()),
                    }
                })?;
                url
            }
            None => Secret::new(cfg.postgres_url.clone()),
        };
        let parsed: tokio_postgres::Config =
            url.expose().parse().map_err(|e| FleetError::Setting {
                key: "fleet.postgres_url",
                why: format!("{e}"),
            })?;
        let host = match parsed.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let target = format!(
            "{}@{host}:{}/{}",
            parsed.get_user().unwrap_or(""),
            parsed.get_ports().first().copied().unwrap_or(5432),
            parsed.get_dbname().unwrap_or(""),
        );
        Ok(Database {
            url,
            ca_file: cfg.ca_file.clone(),
            target,
        })
    }

    /// Connects; the connection is driven by a task on the current runtime
    /// until the client is dropped.
    pub async fn connect(&self) -> Result<tokio_postgres::Client, FleetError> {
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(self.tls()?);
        let mut config: tokio_postgres::Config =
            self.url
                .expose()
                .parse()
                .map_err(|source| FleetError::Connect {
                    target: self.target.clone(),
                    source,
                })?;
        // A server that never answers is one that is down.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("dlpd");
        let (client, connection) =
            config
                .connect(tls)
                .await
                .map_err(|source| FleetError::Connect {
                    target: self.target.clone(),
                    source,
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("fleet database connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// TLS on ring, trusting `ca_file` when set, else the system.
    fn tls(&self) -> Result<rustls::ClientConfig, FleetError> {
        let setting = |key, why: String| FleetError::Setting { key, why };
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| setting("fleet", e.to_string()))?;
        let config = match &self.ca_file {
            Some(path) => {
                use rustls::pki_types::{CertificateDer, pem::PemObject};
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| setting("fleet.ca_file", format!("{}: {e}", path.display())))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(setting(
                        "fleet.ca_file",
                        format!("{}: holds no usable PEM certificate", path.display()),
                    ));
                }
                builder.with_root_certificates(roots).with_no_client_auth()
            }
            None => {
                use rustls_platform_verifier::BuilderVerifierExt;
                builder
                    .with_platform_verifier()
                    .map_err(|e| setting("fleet", format!("the system's trust store: {e}")))?
                    .with_no_client_auth()
            }
        };
        Ok(config)
    }

    /// Errors of a query, naming the database.
    pub(crate) fn sql(&self) -> impl Fn(tokio_postgres::Error) -> FleetError + '_ {
        |source| FleetError::Sql {
            target: self.target.clone(),
            source,
        }
    }
}

/// This machine's name in the fleet: `host_id`, else /etc/machine-id,
/// else the hostname.
pub fn host_id(cfg: &FleetConfig) -> String {
    if !cfg.host_id.trim().is_empty() {
        return cfg.host_id.trim().to_string();
    }
    std::fs::read_to_string("/etc/machine-id")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(crate::logging::hostname)
}

/// The event settings and consumers `config` asks for: the fleet
/// database, the events file, both, or none (`None`).
pub fn event_settings(
    config: &crate::config::Config,
) -> Result<Option<(crate::store::EventSettings, Vec<&'static str>)>, FleetError> {
    let consumers: Vec<&'static str> = [
        config.fleet.enabled().then_some(CONSUMER),
        config
            .export
            .events
            .as_ref()
            .map(|_| crate::export::CONSUMER),
    ]
    .into_iter()
    .flatten()
    .collect();
    if consumers.is_empty() {
        return Ok(None);
    }
    let settings = crate::store::EventSettings {
        source: source(&config.fleet)?,
        cap: config.fleet.outbox_max_events,
        wake: tokio::sync::watch::channel(()).0,
    };
    Ok(Some((settings, consumers)))
}

/// Whom events are about: the host, and the fleet key when one is set.
pub fn source(cfg: &FleetConfig) -> Result<crate::events::Source, FleetError> {
    let fleet_key = match &cfg.key_file {
        Some(path) => {
            let key = crate::secret::load("fleet key", "", Some(path), "fleet.key_file")?;
            if key.expose().len() < 32 {
                return Err(FleetError::Setting {
                    key: "fleet.key_file",
                    why: format!(
                        "{}: the key is shorter than 32 bytes; make one with `head -c 32 /dev/urandom | base64 > {0}`",
                        path.display()
                    ),
                });
            }
            Some(hmac::Key::new(hmac::HMAC_SHA256, key.expose().as_bytes()))
        }
        None => None,
    };
    Ok(crate::events::Source {
        host_id: host_id(cfg),
        host_name: crate::logging::hostname(),
        fleet_key,
    })
}
