//! Alerts: what is sent to Slack, a SIEM or Jira about a file with
//! findings, and the sender that delivers them.
//!
//! Alerts are queued in the store in the transaction that records the
//! findings, one per sink, file content and detector (the dedupe key is
//! path + SHA-256 + detector), so a file scanned again does not alert
//! again. The sender is a task on the daemon's runtime with its own
//! connection to the outbox: it keeps to `requests_per_second` per sink, honours 429 `Retry-After`,
//! backs off on 5xx and connection errors, and keeps an alert queued for as
//! long as its sink is down. Alerts carry counts and masked values only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::activity::Anomaly;
use crate::config::{Action, AlertsConfig};
use crate::finding::{Confidence, Detector, Exposure, FileReport};
use crate::httpclient::{Attempt, RetryPolicy};

mod chart;
pub mod jira;
pub mod slack;
use crate::rate::RateLimiter;
use crate::secret::{self, Secret, SecretError};
use crate::shutdown::Shutdown;
use crate::store::{AlertOutbox, DueAlert, NewAlert};

/// First retry delay of an alert, the longest, and the longest
/// `Retry-After` obeyed.
const RETRY: RetryPolicy = RetryPolicy {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
    retry_after_cap: Duration::from_secs(60),
};
/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Masked findings listed in a SIEM alert, at most.
const MAX_LISTED: usize = 20;

/// The configured sinks.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    slack: Option<Secret>,
    slack_bot: Option<slack::SlackBot>,
    siem: Option<(String, Option<Secret>)>,
    jira: Option<jira::Jira>,
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
        Ok(Sinks {
            slack,
            slack_bot: slack::SlackBot::load(&cfg.slack_bot)?,
            siem,
            jira: jira::Jira::load(&cfg.jira)?,
        })
    }

    /// The names of the sinks that are on.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.slack.is_some() || self.slack_bot.is_some() {
            names.push("slack");
        }
        if self.siem.is_some() {
            names.push("siem");
        }
        if self.jira.is_some() {
            names.push(jira::SINK);
        }
        names
    }
}

/// The alerts for one file: for each detector, one per sink; and one
/// Jira case for the file when `jira` is set (it says whether the case
/// carries a priority).
pub fn for_report(
    report: &FileReport,
    action: Action,
    sinks: &[&'static str],
    jira: Option<bool>,
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
    // Slack reads `<…>` as links and mentions (`<!channel>`).
    let slack_path = slack_escape(&path);
    let action_word = match action {
        Action::Quarantine => "quarantine",
        Action::Notify | Action::Record => "notify",
    };
    let mut alerts = Vec::new();
    if let Some(priority) = jira {
        alerts.push(jira::case(report, action, host, priority));
    }
    for (detector, (count, max, listed)) in by_detector {
        let key = crate::fsutil::sha256_hex(format!("{path}\0{sha}\0{detector}").as_bytes());
        for &sink in sinks.iter().filter(|&&s| s != jira::SINK) {
            let body = match sink {
                "slack" => json!({
                    "text": format!(
                        ":rotating_light: dlpd on {host}: {count} {} finding{} ({max}) in {slack_path}{}{}",
                        detector.display_name(),
                        if count == 1 { "" } else { "s" },
                        match report.exposure {
                            Some(e) if e != Exposure::Local => format!(" ({e})"),
                            _ => String::new(),
                        },
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
                    "exposure": report.exposure.unwrap_or(Exposure::Local).as_str(),
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
                path: Some(report.path.clone()),
            });
        }
    }
    alerts
}

/// The alerts for an anomaly: one per sink, deduplicated by subject and
/// interval.
pub fn for_anomaly(
    a: &Anomaly,
    sinks: &[&'static str],
    jira: Option<bool>,
    host: &str,
    dashboard: &str,
) -> Vec<NewAlert> {
    let key =
        crate::fsutil::sha256_hex(format!("anomaly\0{}\0{}", a.subject, a.interval).as_bytes());
    let start = crate::report::rfc3339(a.start());
    sinks
        .iter()
        .filter_map(|&sink| {
            let body = match sink {
                jira::SINK => return jira.map(|priority| jira::anomaly_case(a, host, priority)),
                // The subject and interval let a bot draw the chart.
                "slack" => json!({
                    "text": format!(
                        ":chart_with_upwards_trend: dlpd on {host}: unusual activity for {}: {} files with findings in {} s from {start}, where {:.1} is usual (band {:.1}){}",
                        slack_escape(&a.subject), a.count, a.interval_s, a.mean, a.band,
                        match dashboard {
                            "" => String::new(),
                            url => format!(" <{}/baselines|activity chart>", url.trim_end_matches('/')),
                        }
                    ),
                    "anomaly": {"subject": a.subject, "interval": a.interval},
                }),
                _ => json!({
                    "source": "dlpd",
                    "event": "activity_anomaly",
                    "host": host,
                    "subject": a.subject,
                    "count": a.count,
                    "intervalStart": start,
                    "intervalSeconds": a.interval_s,
                    "mean": a.mean,
                    "band": a.band,
                }),
            };
            Some(NewAlert {
                sink,
                dedupe_key: key.clone(),
                body: body.to_string(),
                path: None,
            })
        })
        .collect()
}

/// Text for Slack's mrkdwn: `&`, `<` and `>` escaped, so a file name
/// cannot make a link or a mention.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The alert sender: a task on the daemon's runtime, with a connection of
/// its own to the outbox. It delivers what is due until a stop is asked
/// for; what it has not delivered stays queued in the outbox for the next
/// start.
pub async fn send(db_path: PathBuf, sinks: Sinks, per_second: u32, shutdown: Shutdown) {
    let (outbox, http) = match (
        AlertOutbox::open(&db_path),
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
    let mut sender = Sender {
        outbox,
        http,
        sinks,
        limits,
    };
    while !shutdown.is_requested() {
        let due = match sender.outbox.due(16) {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!("alerts: {e}");
                Vec::new()
            }
        };
        if due.is_empty() {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                () = shutdown.requested() => return,
            }
            continue;
        }
        for alert in due {
            if shutdown.is_requested() {
                return;
            }
            sender.deliver(alert).await;
        }
    }
}

/// What the sender holds between deliveries.
struct Sender {
    outbox: AlertOutbox,
    http: reqwest::Client,
    sinks: Sinks,
    limits: BTreeMap<&'static str, RateLimiter>,
}

/// What one try of one alert came to.
enum Outcome {
    /// Taken; with what the sink made of it (a Jira issue key).
    Delivered(Option<String>),
    /// 429: the sink asked to wait.
    Throttled(Duration),
    /// Not taken this time; try again after `wait`.
    Retry { wait: Duration, why: String },
    /// Refused for good.
    GiveUp(String),
}

/// A judged request: its 2xx response, or what to do instead.
fn settled(attempt: Attempt) -> Result<reqwest::Response, Outcome> {
    match attempt {
        Attempt::Success(r) => Ok(r),
        Attempt::Throttled { wait, .. } => Err(Outcome::Throttled(wait)),
        Attempt::ServerError { response, wait } => Err(Outcome::Retry {
            wait,
            why: format!("HTTP {}", response.status()),
        }),
        Attempt::Transport { detail, wait } => Err(Outcome::Retry { wait, why: detail }),
        Attempt::Refused(r) => Err(Outcome::GiveUp(format!(
            "HTTP {}: the sink refused the alert",
            r.status()
        ))),
    }
}

impl Sender {
    /// One try of one alert; the outbox records the outcome. (`&mut`: the
    /// connection is not `Sync`, and the future must be `Send`.)
    async fn deliver(&mut self, alert: DueAlert) {
        let outcome = self.attempt(&alert).await;
        let limit = self.limits.get(alert.sink.as_str());
        let (sink, id) = (alert.sink.as_str(), alert.id);
        let result = match outcome {
            Outcome::Delivered(receipt) => {
                tracing::info!(sink, id, "alert delivered");
                self.outbox.delivered(id, receipt.as_deref())
            }
            Outcome::Throttled(wait) => {
                if let Some(limit) = limit {
                    limit.hold_off(wait);
                }
                self.outbox.retry(id, SystemTime::now() + wait, "HTTP 429")
            }
            Outcome::Retry { wait, why } => {
                tracing::warn!(
                    sink,
                    id,
                    attempts = alert.attempts + 1,
                    "alert not delivered ({why}); it stays queued"
                );
                self.outbox.retry(id, SystemTime::now() + wait, &why)
            }
            Outcome::GiveUp(why) => {
                tracing::error!(sink, id, "{why}; giving up on it");
                self.outbox.give_up(id, &why)
            }
        };
        if let Err(e) = result {
            tracing::warn!("alerts: {e}");
        }
    }

    async fn attempt(&mut self, alert: &DueAlert) -> Outcome {
        let limit = self.limits.get(alert.sink.as_str());
        let gone = |sink: &str| Outcome::GiveUp(format!("the {sink} sink is no longer configured"));
        let (url, token) = match alert.sink.as_str() {
            "slack" => return self.slack(alert).await,
            jira::SINK => {
                return match &self.sinks.jira {
                    Some(j) => {
                        j.deliver(&self.http, &mut self.outbox, alert, &RETRY, limit)
                            .await
                    }
                    None => gone(jira::SINK),
                };
            }
            _ => match &self.sinks.siem {
                Some((url, token)) => (url.clone(), token.clone()),
                None => return gone("siem"),
            },
        };
        if let Some(limit) = limit {
            limit.acquire().await;
        }
        let mut req = self
            .http
            .post(&url)
            .timeout(TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .body(alert.body.clone());
        if let Some(t) = &token {
            req = req.bearer_auth(t.expose());
        }
        match settled(RETRY.judge(req.send().await, alert.attempts)) {
            Ok(_) => Outcome::Delivered(None),
            Err(outcome) => outcome,
        }
    }

    /// A Slack alert: an anomaly's with its chart when there is a bot;
    /// otherwise its text, through the webhook (or the bot, without one).
    async fn slack(&mut self, alert: &DueAlert) -> Outcome {
        let limit = self.limits.get(alert.sink.as_str());
        let body: serde_json::Value = serde_json::from_str(&alert.body).unwrap_or_default();
        let text = body["text"].as_str().unwrap_or_default();
        if let Some(bot) = &self.sinks.slack_bot {
            let anomaly = &body["anomaly"];
            if let (Some(subject), Some(interval)) =
                (anomaly["subject"].as_str(), anomaly["interval"].as_i64())
            {
                let chart = slack::Chart {
                    subject,
                    interval,
                    text,
                };
                return bot
                    .post_chart(&self.http, &mut self.outbox, alert, chart, &RETRY, limit)
                    .await;
            }
            if self.sinks.slack.is_none() {
                return bot
                    .post_text(&self.http, text, &RETRY, alert.attempts, limit)
                    .await;
            }
        }
        let Some(url) = &self.sinks.slack else {
            return Outcome::GiveUp("the slack sink is no longer configured".into());
        };
        if let Some(limit) = limit {
            limit.acquire().await;
        }
        let sent = self
            .http
            .post(url.expose())
            .timeout(TIMEOUT)
            .header(CONTENT_TYPE, "application/json")
            .body(json!({ "text": text }).to_string())
            .send()
            .await;
        match settled(RETRY.judge(sent, alert.attempts)) {
            Ok(_) => Outcome::Delivered(None),
            Err(outcome) => outcome,
        }
    }
}
