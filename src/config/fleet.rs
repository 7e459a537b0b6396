//! The fleet's tables: `[fleet]` (the PostgreSQL database every machine
//! ships its events to) and `[export]` (the events file log pipelines read).

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::values::{optional_path, positive_u32, positive_u64, week_seconds};

/// `[fleet]`: findings, file records, anomalies, quarantine actions and
/// health, shipped to one PostgreSQL database. On when `postgres_url` or
/// `postgres_url_file` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// `postgres://user@host:5432/dlpd?sslmode=require`, without a password.
    #[serde(deserialize_with = "postgres_url")]
    pub postgres_url: String,
    /// A 0600 file holding the URL, password included; wins over
    /// `postgres_url`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub postgres_url_file: Option<PathBuf>,
    /// PEM certificates to trust for the server, instead of the system's.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub ca_file: Option<PathBuf>,
    /// This machine's name in the fleet; empty: /etc/machine-id, else the
    /// hostname.
    pub host_id: String,
    /// A 0600 file with the fleet's shared key (32 bytes or more), which
    /// hashes found values so the same value on two machines can be
    /// matched. Without it the fleet holds no value hash.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub key_file: Option<PathBuf>,
    /// Events per batch sent to the database.
    #[serde(deserialize_with = "positive_u32")]
    pub batch_events: u32,
    /// Seconds between health rows.
    #[serde(deserialize_with = "week_seconds")]
    pub health_interval_s: u64,
    /// Most events waiting in the outbox (for the database and the events
    /// file together); past it new events are dropped and counted.
    #[serde(deserialize_with = "positive_u64")]
    pub outbox_max_events: u64,
}

impl Default for FleetConfig {
    fn default() -> Self {
        FleetConfig {
            postgres_url: String::new(),
            postgres_url_file: None,
            ca_file: None,
            host_id: String::new(),
            key_file: None,
            batch_events: 1000,
            health_interval_s: 300,
            outbox_max_events: 1_000_000,
        }
    }
}

impl FleetConfig {
    /// Whether events go to a fleet database.
    pub fn enabled(&self) -> bool {
        !self.postgres_url.is_empty() || self.postgres_url_file.is_some()
    }
}

/// `[export]`: events as NDJSON in Elastic Common Schema names, for
/// Vector, Fluent Bit, Filebeat or Wazuh to ship.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// The events file; unset: none.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub events: Option<PathBuf>,
    /// Size at which the file is rotated (`events.ndjson.1`, …).
    #[serde(deserialize_with = "positive_u64")]
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: u32,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            events: None,
            max_bytes: 100 << 20,
            keep: 5,
        }
    }
}

/// A PostgreSQL URL with no password in it: the config file is readable
/// by others, so a password belongs in `postgres_url_file`.
fn postgres_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Ok(raw);
    }
    check_postgres_url(&raw, false).map_err(serde::de::Error::custom)?;
    Ok(raw)
}

/// Checks a PostgreSQL connection string: that it parses, holds a
/// password only where allowed, and does not send one in clear to another
/// machine (`sslmode=require` beyond loopback and Unix sockets).
pub fn check_postgres_url(raw: &str, password_allowed: bool) -> Result<(), String> {
    use tokio_postgres::config::{Host, SslMode};
    let cfg: tokio_postgres::Config = raw.parse().map_err(|e| {
        format!(
            "not a PostgreSQL URL: {e}; e.g. postgres://dlpd@db.example.com/dlpd?sslmode=require"
        )
    })?;
    if cfg.get_password().is_some() && !password_allowed {
        return Err(
            "holds a password, and the config file is readable by others; put the whole URL in a 0600 file named by fleet.postgres_url_file"
                .into(),
        );
    }
    // A password with a bare `@` splits at the wrong place, and its tail
    // would be shown as the host in every message.
    if cfg
        .get_hosts()
        .iter()
        .any(|h| matches!(h, Host::Tcp(name) if name.contains(['@', '/'])))
    {
        return Err(
            "the user or password holds a bare `@` or `/`; percent-encode it (`@` is %40)".into(),
        );
    }
    if cfg.get_hosts().is_empty() {
        return Err("names no host; e.g. postgres://dlpd@db.example.com/dlpd".into());
    }
    let remote = cfg.get_hosts().iter().any(|h| match h {
        Host::Tcp(name) => !crate::http::is_loopback_host(name),
        Host::Unix(_) => false,
    });
    if remote && cfg.get_ssl_mode() != SslMode::Require {
        return Err(
            "reaches another machine without sslmode=require, so its password and the findings could cross the network in clear; add ?sslmode=require"
                .into(),
        );
    }
    Ok(())
}
