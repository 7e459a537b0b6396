//! An anomaly's Slack alert with a chart, when `[alerts.slack_bot]` gives a
//! bot token and a channel: the subject's recent intervals are drawn as a
//! PNG ([`super::chart`]) and uploaded with Slack's external upload
//! (`files.getUploadURLExternal`, a POST of the bytes to the URL it gives,
//! then `files.completeUploadExternal`, which shares the file in the
//! channel with the alert's text). Without a bot, the alert goes through
//! the webhook as text, with a link to the dashboard's baselines page when
//! `dashboard.url` is set.
//!
//! Slack has no idempotent upload: a completion whose answer was lost is
//! done again on the retry, so the chart may be posted twice. The token is
//! sent to Slack's API only, never to the upload URL.

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::{Outcome, chart};
use crate::config::SlackBotConfig;
use crate::httpclient::RetryPolicy;
use crate::rate::RateLimiter;
use crate::secret::{self, Secret, SecretError};
use crate::store::{AlertOutbox, DueAlert};

/// Intervals drawn, at most: the anomaly's and those before it.
const INTERVALS: i64 = 48;
/// A Slack answer read into memory, at most.
const MAX_ANSWER: usize = 64 * 1024;

/// A Slack app's bot, posting to one channel.
#[derive(Debug, Clone)]
pub struct SlackBot {
    api: String,
    channel: String,
    token: Secret,
}

/// What an anomaly's Slack alert names, to draw its chart.
pub(super) struct Chart<'a> {
    pub subject: &'a str,
    pub interval: i64,
    pub text: &'a str,
}

impl SlackBot {
    /// The bot from `[alerts.slack_bot]`, or None when no channel is set.
    pub fn load(cfg: &SlackBotConfig) -> Result<Option<SlackBot>, SecretError> {
        if cfg.channel.is_empty() {
            return Ok(None);
        }
        let token = secret::load(
            "Slack bot token",
            &cfg.token_env,
            cfg.token_file.as_deref(),
            "alerts.slack_bot.token_file",
        )?;
        Ok(Some(SlackBot {
            api: cfg.api_url.trim_end_matches('/').to_string(),
            channel: cfg.channel.clone(),
            token,
        }))
    }

    /// One try: draw, get an upload URL, upload, share in the channel.
    /// (`&mut` outbox: its connection is not `Sync`, and the future must
    /// be `Send`.)
    pub(super) async fn post_chart(
        &self,
        http: &reqwest::Client,
        outbox: &mut AlertOutbox,
        alert: &DueAlert,
        chart: Chart<'_>,
        policy: &RetryPolicy,
        limit: Option<&RateLimiter>,
    ) -> Outcome {
        let retry = |why: String| Outcome::Retry {
            wait: policy.backoff(alert.attempts),
            why,
        };
        let bars = match outbox.recent_activity(chart.subject, chart.interval, INTERVALS) {
            Ok(bars) => bars,
            Err(e) => return retry(e.to_string()),
        };
        let png = chart::activity_png(&bars);
        if let Some(l) = limit {
            l.acquire().await;
        }
        let length = png.len().to_string();
        let form = [
            ("filename", "dlpd-activity.png"),
            ("length", length.as_str()),
        ];
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let got = self
            .call(
                http,
                "files.getUploadURLExternal",
                "application/x-www-form-urlencoded",
                body,
                policy,
                alert.attempts,
            )
            .await;
        let answer = match got {
            Ok(a) => a,
            Err(o) => return o,
        };
        let (Some(url), Some(file_id)) =
            (answer["upload_url"].as_str(), answer["file_id"].as_str())
        else {
            return retry("Slack gave no upload URL".into());
        };
        if let Err(why) = self.fit_for_upload(url) {
            return Outcome::GiveUp(why);
        }
        let sent = http
            .post(url)
            .timeout(super::TIMEOUT)
            .header(CONTENT_TYPE, "image/png")
            .body(png)
            .send()
            .await;
        if let Err(o) = super::settled(policy.judge(sent, alert.attempts)) {
            return o;
        }
        if let Some(l) = limit {
            l.acquire().await;
        }
        let complete = json!({
            "files": [{"id": file_id, "title": format!("Activity of {}", chart.subject)}],
            "channel_id": self.channel,
            "initial_comment": chart.text,
        });
        match self
            .call(
                http,
                "files.completeUploadExternal",
                "application/json",
                complete.to_string(),
                policy,
                alert.attempts,
            )
            .await
        {
            Ok(_) => Outcome::Delivered(Some(file_id.to_string())),
            Err(o) => o,
        }
    }

    /// A file's alert as a message in the channel, when there is no
    /// webhook (`chat.postMessage`).
    pub(super) async fn post_text(
        &self,
        http: &reqwest::Client,
        text: &str,
        policy: &RetryPolicy,
        tries: u32,
        limit: Option<&RateLimiter>,
    ) -> Outcome {
        if let Some(l) = limit {
            l.acquire().await;
        }
        let message = json!({"channel": self.channel, "text": text});
        match self
            .call(
                http,
                "chat.postMessage",
                "application/json",
                message.to_string(),
                policy,
                tries,
            )
            .await
        {
            Ok(answer) => Outcome::Delivered(answer["ts"].as_str().map(str::to_string)),
            Err(o) => o,
        }
    }

    /// Slack's upload URL, if it may be sent the chart: https, or plain
    /// http on loopback when the API itself is there (a test's fake).
    fn fit_for_upload(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| format!("Slack's upload URL is not a URL: {e}"))?;
        let loopback = |u: &reqwest::Url| u.host_str().is_some_and(crate::http::is_loopback_host);
        let api_local = reqwest::Url::parse(&self.api).is_ok_and(|u| loopback(&u));
        match parsed.scheme() {
            "https" => Ok(()),
            "http" if api_local && loopback(&parsed) => Ok(()),
            _ => Err("Slack's upload URL is not https; the chart was not sent".into()),
        }
    }

    /// A Web API method: its JSON answer when `ok`, or what to do.
    async fn call(
        &self,
        http: &reqwest::Client,
        method: &str,
        kind: &'static str,
        body: String,
        policy: &RetryPolicy,
        tries: u32,
    ) -> Result<Value, Outcome> {
        let sent = http
            .post(format!("{}/{method}", self.api))
            .timeout(super::TIMEOUT)
            .bearer_auth(self.token.expose())
            .header(CONTENT_TYPE, kind)
            .body(body)
            .send()
            .await;
        let response = super::settled(policy.judge(sent, tries))?;
        let bytes = crate::httpclient::read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| Outcome::Retry {
                wait: policy.backoff(tries),
                why: format!("reading Slack's answer: {e}"),
            })?;
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| Outcome::Retry {
            wait: policy.backoff(tries),
            why: format!("Slack's answer is not JSON: {e}"),
        })?;
        if answer["ok"] == true {
            return Ok(answer);
        }
        // Slack answers 200 with `ok: false` and a reason.
        let error = answer["error"]
            .as_str()
            .unwrap_or("no reason given")
            .to_string();
        Err(match error.as_str() {
            "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked"
            | "token_expired" | "missing_scope" | "not_in_channel" | "channel_not_found"
            | "invalid_arguments" => Outcome::GiveUp(format!(
                "Slack refused {method}: {error}; check alerts.slack_bot (the token, its files:write scope, the channel ID, and that the app is in the channel)"
            )),
            _ => Outcome::Retry {
                wait: policy.backoff(tries),
                why: format!("Slack answered {method} with {error}"),
            },
        })
    }
}
