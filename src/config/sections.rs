//! The config's tables, one struct each, with the shipped defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::default_state_dir;
use super::values::{
    context_bytes, detector_list, expand_path, expanded_path, expanded_paths, http_url,
    optional_http_url, optional_path, positive_u32, positive_u64, value_hashes, week_seconds,
};
use crate::finding::{Confidence, Detector, DetectorId};
use crate::pack::RulePacks;
use crate::pathmatch::PathPattern;
use crate::rules::RuleSet;

/// `[remediation]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemediationConfig {
    /// The first rule matching one of a file's findings decides its action.
    pub rules: Vec<RemediationRule>,
    /// Where quarantined files go (created 0700); default `<state_dir>/quarantine`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub quarantine_dir: Option<PathBuf>,
    /// Leave a short text file in place of a quarantined file.
    pub stub: bool,
}

impl Default for RemediationConfig {
    fn default() -> Self {
        RemediationConfig {
            rules: Vec::new(),
            quarantine_dir: None,
            stub: true,
        }
    }
}

impl RemediationConfig {
    /// The quarantine directory, resolved against the state directory.
    pub fn quarantine_dir(&self, output: &OutputConfig) -> PathBuf {
        self.quarantine_dir
            .clone()
            .unwrap_or_else(|| output.state_dir.join("quarantine"))
    }
}

/// One `[[remediation.rules]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemediationRule {
    /// Only findings of this detector, built-in or custom (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<Detector>,
    /// Only findings at or above this confidence (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<Confidence>,
    /// Only files with this exposure (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<crate::finding::Exposure>,
    /// What to do.
    pub action: Action,
    /// The sinks this rule's alerts go to (all configured when absent).
    #[serde(
        default,
        deserialize_with = "super::values::sink_names",
        skip_serializing_if = "Option::is_none"
    )]
    pub sinks: Option<Vec<String>>,
}

/// What happens to a file with findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Record the findings (always done).
    Record,
    /// Record, and send an alert.
    Notify,
    /// Record, move the file into quarantine, and send an alert.
    Quarantine,
}

/// `[alerts]`: a sink is on when its URL is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Environment variable holding a Slack incoming-webhook URL (a secret).
    pub slack_webhook_env: String,
    /// A 0600 file holding that URL; wins over the variable.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub slack_webhook_file: Option<PathBuf>,
    /// A generic JSON webhook (a SIEM's HTTP collector).
    #[serde(deserialize_with = "optional_http_url")]
    pub siem_url: String,
    /// Environment variable holding a bearer token for `siem_url`, if it needs one.
    pub siem_token_env: String,
    /// Alerts sent per second, at most, to each sink.
    #[serde(deserialize_with = "positive_u32")]
    pub requests_per_second: u32,
    /// Jira tickets, one per case.
    pub jira: JiraConfig,
    /// Charts of anomalies, posted to Slack with a bot token.
    pub slack_bot: super::SlackBotConfig,
}

/// `[alerts.jira]`: Jira Cloud tickets; on when `url` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JiraConfig {
    /// The site, e.g. `https://example.atlassian.net`.
    #[serde(deserialize_with = "optional_http_url")]
    pub url: String,
    /// The project key tickets are opened in.
    pub project: String,
    /// The issue type's name.
    pub issue_type: String,
    /// The account the API token belongs to (basic auth).
    pub email: String,
    /// Environment variable holding the API token.
    pub token_env: String,
    /// A 0600 file holding the API token; wins over the variable.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_file: Option<PathBuf>,
    /// Set the priority from the highest confidence (High, Medium, Low);
    /// off for projects whose screens have no priority field.
    pub set_priority: bool,
    /// Seconds to wait, after a create that got no answer, before
    /// searching again: Jira's search lags behind its creates, and a
    /// search too soon would open the ticket twice.
    #[serde(deserialize_with = "week_seconds")]
    pub search_lag_s: u64,
}

impl Default for JiraConfig {
    fn default() -> Self {
        JiraConfig {
            url: String::new(),
            project: String::new(),
            issue_type: "Task".into(),
            email: String::new(),
            token_env: "DLPD_JIRA_TOKEN".into(),
            token_file: None,
            set_priority: true,
            search_lag_s: 30,
        }
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            slack_webhook_env: "DLPD_SLACK_WEBHOOK_URL".into(),
            slack_webhook_file: None,
            siem_url: String::new(),
            siem_token_env: "DLPD_SIEM_TOKEN".into(),
            requests_per_second: 1,
            jira: JiraConfig::default(),
            slack_bot: super::SlackBotConfig::default(),
        }
    }
}

/// `[metrics]`: the always-on health and metrics endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Where `GET /metrics` (Prometheus text) and `GET /healthz` are
    /// served; `""` turns them off.
    #[serde(
        deserialize_with = "super::values::optional_listen_addr",
        serialize_with = "super::values::show_optional_addr"
    )]
    pub listen: Option<std::net::SocketAddr>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9464))),
        }
    }
}

/// `[api]`: the local text-scan API (`POST /v3/scan` on `[webhook] listen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Serve the API.
    pub enabled: bool,
    /// Environment variable holding the bearer token clients must send.
    pub token_env: String,
    /// A 0600 file holding the token; wins over `token_env`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_file: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: false,
            token_env: "DLPD_API_TOKEN".into(),
            token_file: None,
        }
    }
}

/// `[nightfall]`: used when `scanner.engine = "nightfall"`. Secrets are
/// never in this file, only where to find them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NightfallConfig {
    /// The API's base URL.
    #[serde(deserialize_with = "http_url")]
    pub api_url: String,
    /// Environment variable holding the API key.
    pub api_key_env: String,
    /// A 0600 file holding the API key; wins over `api_key_env`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub api_key_file: Option<PathBuf>,
    /// Environment variable holding the webhook signing secret.
    pub signing_secret_env: String,
    /// A 0600 file holding the signing secret; wins over `signing_secret_env`.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub signing_secret_file: Option<PathBuf>,
    /// The public URL Nightfall posts results to; it must reach `[webhook] listen`.
    #[serde(deserialize_with = "optional_http_url")]
    pub webhook_url: String,
    /// A saved policy to scan with instead of the inline rule built from `[scanner]`.
    pub policy_uuid: String,
    /// Client-side rate limit over every API call.
    #[serde(deserialize_with = "positive_u32")]
    pub requests_per_second: u32,
    /// Files uploading at once.
    #[serde(deserialize_with = "positive_u32")]
    pub concurrency: u32,
    /// A file whose result has not arrived after this long is submitted again.
    #[serde(deserialize_with = "positive_u64")]
    pub result_timeout_s: u64,
    /// Limit on each HTTP request, including one chunk's upload.
    #[serde(deserialize_with = "positive_u64")]
    pub request_timeout_s: u64,
}

impl Default for NightfallConfig {
    fn default() -> Self {
        NightfallConfig {
            api_url: "https://api.nightfall.ai".into(),
            api_key_env: "NIGHTFALL_API_KEY".into(),
            api_key_file: None,
            signing_secret_env: "NIGHTFALL_SIGNING_SECRET".into(),
            signing_secret_file: None,
            webhook_url: String::new(),
            policy_uuid: String::new(),
            requests_per_second: 5,
            concurrency: 4,
            result_timeout_s: 900,
            request_timeout_s: 60,
        }
    }
}

/// `[webhook]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Address the listener binds; loopback unless a proxy elsewhere needs it.
    #[serde(deserialize_with = "super::values::listen_addr")]
    pub listen: std::net::SocketAddr,
    /// Larger request bodies get 413 without being read.
    #[serde(deserialize_with = "positive_u64")]
    pub max_body_bytes: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8000)),
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// `[watch]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// Roots watched recursively; `~` and `$VARS` expanded.
    #[serde(deserialize_with = "expanded_paths")]
    pub paths: Vec<PathBuf>,
    /// If not empty, only paths matching one of these are scanned.
    #[serde(deserialize_with = "crate::pathmatch::legacy_patterns")]
    pub include: Vec<PathPattern>,
    /// Paths matching any of these are neither watched nor scanned.
    #[serde(deserialize_with = "crate::pathmatch::legacy_patterns")]
    pub exclude: Vec<PathPattern>,
    /// Quiet time before a changed file counts as settled.
    #[serde(deserialize_with = "positive_u64")]
    pub debounce_ms: u64,
    /// Longest a file that keeps changing goes unscanned: it is scanned at
    /// least this often while it changes, and again once it settles.
    #[serde(deserialize_with = "positive_u64")]
    pub max_wait_ms: u64,
    /// Scan what is already in the roots (and changed since its last scan) at start.
    pub scan_existing: bool,
    /// Follow symlinked directories and files.
    pub follow_symlinks: bool,
    /// Watch removable media (mounts under /media, /run/media, /mnt or
    /// /Volumes) while they are mounted, as extra roots.
    pub removable: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        let pattern = |p: &str| PathPattern::parse(p).expect("default patterns are valid");
        WatchConfig {
            // Without $HOME the literal stays, and is reported as a missing root.
            paths: ["~/Downloads", "~/Desktop", "~/Documents"]
                .iter()
                .map(|p| expand_path(p).unwrap_or_else(|_| PathBuf::from(p)))
                .collect(),
            include: Vec::new(),
            exclude: [
                ".git",
                ".DS_Store",
                "*~",
                "*.swp",
                "*.tmp",
                "*.part",
                "*.crdownload",
            ]
            .iter()
            .map(|p| pattern(p))
            .collect(),
            debounce_ms: 500,
            max_wait_ms: 10_000,
            scan_existing: true,
            follow_symlinks: false,
            removable: false,
        }
    }
}

/// `[queue]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Most jobs queued at once; past it the watcher waits.
    #[serde(deserialize_with = "positive_u64")]
    pub capacity: u64,
    /// Files scanned at once.
    #[serde(deserialize_with = "positive_u32")]
    pub workers: u32,
    /// Attempts before a file is recorded as failed.
    #[serde(deserialize_with = "positive_u32")]
    pub max_attempts: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 10_000,
            workers: 2,
            max_attempts: 5,
        }
    }
}

/// `[scanner]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScannerConfig {
    /// Which engine scans files.
    pub engine: EngineKind,
    /// Which detectors run, by Nightfall name.
    #[serde(deserialize_with = "detector_list")]
    pub detectors: Vec<DetectorId>,
    /// Findings below this confidence are dropped.
    pub min_confidence: Confidence,
    /// Larger files are skipped with a reason, never read.
    #[serde(deserialize_with = "positive_u64")]
    pub max_file_bytes: u64,
    /// Bytes of context kept on each side of a finding.
    #[serde(deserialize_with = "context_bytes")]
    pub context_bytes: u32,
    /// Files whose path matches one of these patterns are not scanned.
    pub allow_paths: Vec<PathPattern>,
    /// Values that are never findings, by the SHA-256 of the value.
    #[serde(deserialize_with = "value_hashes")]
    pub allow_values: Vec<String>,
    /// A finding with this marker on its line (within 64 bytes) is dropped.
    pub allow_marker: String,
    /// How deep archives inside archives are opened; 0: archives are not opened.
    pub archive_depth: u32,
    /// Most entries read from one archive, all levels together.
    #[serde(deserialize_with = "positive_u64")]
    pub archive_max_entries: u64,
    /// Most bytes unpacked from one archive, all levels together.
    #[serde(deserialize_with = "positive_u64")]
    pub archive_max_bytes: u64,
    /// Largest unpacked-to-packed ratio of a member (past 1 MiB).
    #[serde(deserialize_with = "positive_u64")]
    pub archive_max_ratio: u64,
    /// Custom detection rules, in Nightfall's DetectionRule shape.
    #[serde(skip_serializing_if = "RuleSet::is_empty")]
    pub rules: RuleSet,
    /// Rule packs in gitleaks' format, loaded when the config is read.
    #[serde(skip_serializing_if = "RulePacks::is_unset")]
    pub rule_packs: RulePacks,
}

impl Default for ScannerConfig {
    fn default() -> Self {
        ScannerConfig {
            engine: EngineKind::Local,
            detectors: DetectorId::DEFAULT.to_vec(),
            min_confidence: Confidence::Likely,
            max_file_bytes: 100 * 1024 * 1024,
            context_bytes: 40,
            allow_paths: Vec::new(),
            allow_values: Vec::new(),
            allow_marker: "dlp:allow".into(),
            archive_depth: 3,
            archive_max_entries: 10_000,
            archive_max_bytes: 1 << 30,
            archive_max_ratio: 100,
            rules: RuleSet::default(),
            rule_packs: RulePacks::default(),
        }
    }
}

/// Which engine scans files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// dlpd's own detectors: offline, no account.
    Local,
    /// Nightfall's cloud file-scan API.
    Nightfall,
}

/// `[output]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Holds dlpd.sqlite and, by default, the CSV; created 0700.
    #[serde(deserialize_with = "expanded_path")]
    pub state_dir: PathBuf,
    /// The findings CSV; a relative path is under `state_dir`.
    #[serde(deserialize_with = "expanded_path")]
    pub csv: PathBuf,
    /// Whether stored and exported values are masked.
    pub redact: Redact,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            state_dir: default_state_dir(),
            csv: PathBuf::from("results.csv"),
            redact: Redact::Mask,
        }
    }
}

impl OutputConfig {
    /// The SQLite store's path.
    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("dlpd.sqlite")
    }

    /// The CSV's path, resolved against `state_dir`.
    pub fn csv_path(&self) -> PathBuf {
        self.state_dir.join(&self.csv)
    }
}

/// How values appear in stored outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Redact {
    /// `****-****-****-7862`
    Mask,
    /// The raw value: only for stores that are themselves protected.
    None,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// The level; `RUST_LOG` overrides it.
    pub level: LogLevel,
    /// `text` for people, `json` for collectors.
    pub format: LogFormat,
    /// A target logged at `info` even when the level is higher: a one-off
    /// scan is quiet but for warnings and its summary. Not a config key.
    #[serde(skip)]
    pub also_info: Option<&'static str>,
    /// Log to this file (0600, reopened on SIGHUP) instead of stderr.
    #[serde(
        deserialize_with = "optional_path",
        skip_serializing_if = "Option::is_none"
    )]
    pub file: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: LogLevel::Info,
            format: LogFormat::Text,
            also_info: None,
            file: None,
        }
    }
}

/// Log levels, as tracing names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The directive tracing-subscriber understands.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}
