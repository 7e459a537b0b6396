//! The monitor's tables: `[dashboard]`, `[baselines]` and `[exposure]`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::values::{
    expanded_paths, http_url, month_hours, optional_http_url, optional_path, positive_f64,
    positive_u64, unit_fraction, week_seconds,
};

/// `[exposure]`: places that are cloud-sync folders beyond those the sync
/// clients' own files name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExposureConfig {
    #[serde(deserialize_with = "expanded_paths")]
    pub cloud_sync: Vec<PathBuf>,
}

/// `[baselines]`: a moving average of sensitive-file events per subject
/// and interval, and an anomaly when an interval is far above it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselinesConfig {
    pub enabled: bool,
    /// Seconds per interval.
    #[serde(deserialize_with = "week_seconds")]
    pub interval_s: u64,
    /// Weight of the newest interval in the moving average, in (0, 1].
    #[serde(deserialize_with = "unit_fraction")]
    pub alpha: f64,
    /// How many standard deviations above the average an anomaly is.
    #[serde(deserialize_with = "positive_f64")]
    pub k: f64,
    /// Intervals a subject is watched before it can raise an anomaly.
    pub warmup_intervals: u64,
    /// Fewest events in an interval that can be an anomaly.
    #[serde(deserialize_with = "positive_u64")]
    pub min_count: u64,
}

impl Default for BaselinesConfig {
    fn default() -> Self {
        BaselinesConfig {
            enabled: true,
            interval_s: 300,
            alpha: 0.001,
            k: 5.0,
            warmup_intervals: 2016,
            min_count: 10,
        }
    }
}

/// `[dashboard]`: the web pages and their JSON on `[webhook] listen`,
/// behind the `[api]` token (as a bearer token, or typed into the login
/// form for a session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    pub enabled: bool,
    /// The dashboard's address as people open it (through a proxy, say);
    /// Slack's anomaly messages link to its baselines page.
    #[serde(deserialize_with = "optional_http_url")]
    pub url: String,
    /// How long a login lasts.
    #[serde(deserialize_with = "month_hours")]
    pub session_hours: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            enabled: false,
            url: String::new(),
            session_hours: 8,
        }
    }
}

/// `[alerts.slack_bot]`: a Slack app's bot token, with which an anomaly's
/// Slack alert carries a chart of the subject's activity, uploaded to
/// `channel` (a channel ID). On when `channel` is set; the other Slack
/// alerts still go through the webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackBotConfig {
    pub channel: String,
    /// Environment variable holding the bot token (`xoxb-…`).
    pub token_env: String,
    /// A 0600 file holding the token; wins over the variable.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_file: Option<PathBuf>,
    /// Slack's Web API.
    #[serde(deserialize_with = "http_url")]
    pub api_url: String,
}

impl Default for SlackBotConfig {
    fn default() -> Self {
        SlackBotConfig {
            channel: String::new(),
            token_env: "DLPD_SLACK_BOT_TOKEN".into(),
            token_file: None,
            api_url: "https://slack.com/api".into(),
        }
    }
}
