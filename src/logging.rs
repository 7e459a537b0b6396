//! Logging has one knob: the config's level, or `RUST_LOG` when set; text
//! for people, JSON when asked. Logs go to stderr, never stdout, which
//! belongs to results.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// HTTP and TLS crates whose debug and trace output can carry hosts, URLs
/// or wire bytes: capped at info whatever the level, so a pre-signed
/// findings URL or an Authorization header never reaches a log.
const QUIET: &[&str] = &["reqwest", "hyper", "hyper_util", "rustls", "h2"];

/// Installs the global subscriber. Safe to call once per process.
pub fn init(cfg: &LogConfig) {
    let mut filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(cfg.level.as_str()));
    for target in QUIET {
        if let Ok(directive) = format!("{target}=info").parse() {
            filter = filter.add_directive(directive);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match cfg.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
