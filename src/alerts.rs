//! Alerts: what is sent to Slack or a SIEM about a file with findings, and
//! the sender that delivers them.
//!
//! Alerts are queued in the store in the transaction that records the
//! findings, one per sink, file content and detector (the dedupe key is
//! path + SHA-256 + detector), so a file scanned again does not alert
//! again. The sender runs on its own thread with its own connection: it
//! keeps to `requests_per_second` per sink, honours 429 `Retry-After`,
//! backs off on 5xx and connection errors, and keeps an alert queued for as
//! long as its sink is down. Alerts carry counts and masked values only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde_json::json;

use crate::config::{Action, AlertsConfig};
use crate::finding::{Confidence, Detector, FileReport};
use crate::httpclient::{describe, retry_after};
use crate::rate::RateLimiter;
use crate::secret::{self, Secret, SecretError};
use crate::store::{AlertOutbox, NewAlert};

/// First retry delay of an alert, and the longest.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Masked findings listed in a SIEM alert, at most.
const MAX_LISTED: usize = 20;

/// The configured sinks.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    slack: Option<Secret>,
    siem: Option<(String, Option<Secret>)>,
}

impl Sinks {
    /// Reads the sinks' URLs and tokens; a sink whose URL is unset is off.
    pub fn load(cfg: &AlertsConfig) -> Result<Sinks, SecretError> {
        let slack = match &cfg.slack_webhook_file {
            Some(_) => Some(secret::load(
                "Slack webhook URL",
                &cfg.slack_webhook_env,
                cfg.slack_webhook_file.as_deref(),
                "alerts.slack_webhook_file",
            )?),
            None => std::env::var(&cfg.slack_webhook_env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Secret::new(v.trim())),
        };
        let siem = (!cfg.siem_url.is_empty()).then(|| {
            let token = std::env::var(&cfg.siem_token_env)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Secret::new(v.trim()));
            (cfg.siem_url.clone(), token)
        });
        Ok(Sinks { slack, siem })
    }

    /// The names of the sinks that are on.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.slack.is_some() {
            names.push("slack");
        }
        if self.siem.is_some() {
            names.push("siem");
        }
        names
    }
}

/// The alerts for one file: for each detector, one per sink.
pub fn for_report(
    report: &FileReport,
    action: Action,
    sinks: &[&'static str],
    host: &str,
) -> Vec<NewAlert> {
    let mut by_detector: BTreeMap<Detector, (usize, Confidence, Vec<serde_json::Value>)> =
        BTreeMap::new();
    for f in report.findings() {
        let e = by_detector.entry(f.detector.clone()).or_insert((
            0,
            Confidence::VeryUnlikely,
            Vec::new(),
        ));
        e.0 += 1;
        e.1 = e.1.max(f.confidence);
        if e.2.len() < MAX_LISTED {
            e.2.push(json!({
                "redactedFinding": f.value.masked,
                "confidence": f.confidence.as_str(),
                "byteRange": {"start": f.byte_start, "end": f.byte_end},
                "line": f.line_start,
            }));
        }
    }
    let path = report.path.to_string_lossy();
    let sha = report.sha256.as_deref().unwrap_or("");
    let action_word = match action {
        Action::Quarantine => "quarantine",
        Action::Notify | Action::Record => "notify",
    };
    let mut alerts = Vec::new();
    for (detector, (count, max, listed)) in by_detector {
        let key = crate::fsutil::sha256_hex(format!("{path}\0{sha}\0{detector}").as_bytes());
        for &sink in sinks {
            let body = match sink {
                "slack" => json!({
                    "text": format!(
                        ":rotating_light: dlpd on {host}: {count} {} finding{} ({max}) in {path}{}",
                        detector.display_name(),
                        if count == 1 { "" } else { "s" },
                        if action == Action::Quarantine { "; the file is being quarantined" } else { "" },
                    )
                }),
                _ => json!({
                    "source": "dlpd",
                    "event": "sensitive_data_found",
                    "host": host,
                    "path": path,
                    "sha256": sha,
                    "detector": detector.as_str(),
                    "count": count,
                    "maxConfidence": max.as_str(),
                    "action": action_word,
                    "engine": report.engine,
                    "uploadID": report.upload_id,
                    "scannedAt": crate::report::rfc3339(report.scanned_at),
                    "findings": listed,
                }),
            };
            alerts.push(NewAlert {
                sink,
                dedupe_key: key.clone(),
                body: body.to_string(),
            });
        }
    }
    alerts
}

/// Starts the sender thread for the store at `db_path`.
pub fn spawn_sender(db_path: &Path, sinks: Sinks, per_second: u32) -> std::io::Result<()> {
    let db_path: PathBuf = db_path.to_path_buf();
    std::thread::Builder::new()
        .name("dlpd-alerts".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!("alerts: cannot start: {e}; alerts stay queued");
                    return;
                }
            };
            runtime.block_on(send_forever(&db_path, &sinks, per_second));
        })?;
    Ok(())
}

async fn send_forever(db_path: &Path, sinks: &Sinks, per_second: u32) {
    let (outbox, http) = match (
        AlertOutbox::open(db_path),
        crate::httpclient::build(TIMEOUT),
    ) {
        (Ok(o), Ok(h)) => (o, h),
        (Err(e), _) => return tracing::error!("alerts: {e}; alerts stay queued"),
        (_, Err(e)) => return tracing::error!("alerts: cannot build the HTTP client: {e}"),
    };
    let limits: BTreeMap<&str, RateLimiter> = sinks
        .names()
        .into_iter()
        .map(|s| (s, RateLimiter::new(per_second)))
        .collect();
    loop {
        let due = match outbox.due(16) {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("alerts: {e}");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        }
        for alert in due {
            let (url, token) = match alert.sink.as_str() {
                "slack" => match &sinks.slack {
                    Some(url) => (url.expose().to_string(), None),
                    None => {
                        let _ = outbox.give_up(alert.id, "the slack sink is no longer configured");
                        continue;
                    }
                },
                _ => match &sinks.siem {
                    Some((url, token)) => (url.clone(), token.clone()),
                    None => {
                        let _ = outbox.give_up(alert.id, "the siem sink is no longer configured");
                        continue;
                    }
                },
            };
            if let Some(limit) = limits.get(alert.sink.as_str()) {
                limit.acquire().await;
            }
            let mut req = http
                .post(&url)
                .timeout(TIMEOUT)
                .header(CONTENT_TYPE, "application/json")
                .body(alert.body.clone());
            if let Some(t) = &token {
                req = req.bearer_auth(t.expose());
            }
            let backoff = crate::backoff::jittered(RETRY_BASE, RETRY_MAX, alert.attempts);
            let result = match req.send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(sink = %alert.sink, id = alert.id, "alert delivered");
                    outbox.delivered(alert.id)
                }
                Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                    let wait =
                        retry_after(r.headers().get(RETRY_AFTER), RETRY_MAX).unwrap_or(backoff);
                    if let Some(limit) = limits.get(alert.sink.as_str()) {
                        limit.hold_off(wait);
                    }
                    outbox.retry(alert.id, SystemTime::now() + wait, "HTTP 429")
                }
                Ok(r) if r.status().is_server_error() => {
                    let why = format!("HTTP {}", r.status());
                    tracing::warn!(sink = %alert.sink, id = alert.id, "alert not delivered ({why}); retrying");
                    outbox.retry(alert.id, SystemTime::now() + backoff, &why)
                }
                Ok(r) => {
                    let why = format!("HTTP {}: the sink refused the alert", r.status());
                    tracing::error!(sink = %alert.sink, id = alert.id, "{why}; giving up on it");
                    outbox.give_up(alert.id, &why)
                }
                Err(e) => {
                    let why = describe(&e);
                    tracing::warn!(sink = %alert.sink, id = alert.id, attempts = alert.attempts + 1, "alert not delivered ({why}); it stays queued");
                    outbox.retry(alert.id, SystemTime::now() + backoff, &why)
                }
            };
            if let Err(e) = result {
                tracing::warn!("alerts: {e}");
            }
        }
    }
}

/// This machine's name, for alerts.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
