//! The one TOML config file, loaded once into a checked value.
//!
//! Every key is validated while it is read, so an error names the file, the
//! line, the column and the key. Unknown keys are errors, not silently
//! ignored: a misspelt `min_confidnce` must not leave a security scanner on
//! its defaults. The built-in defaults are the shipped `etc/dlpd.toml`
//! itself, and a test keeps the two equal.

use std::fmt;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use crate::engine::{Confidence, Detector, DetectorId, Finding};
use crate::rules::RuleSet;

/// The shipped, commented default config.
pub const DEFAULT_TOML: &str = include_str!("../etc/dlpd.toml");

/// Largest `scanner.context_bytes`: contexts are for people, and each block
/// of the engine carries twice this much overlap.
pub const MAX_CONTEXT_BYTES: u32 = 4096;

/// The whole config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What to look for and how.
    pub scanner: ScannerConfig,
    /// Where results go.
    pub output: OutputConfig,
    /// How dlpd talks about itself.
    pub log: LogConfig,
    /// What the daemon watches.
    pub watch: WatchConfig,
    /// The daemon's work queue.
    pub queue: QueueConfig,
    /// The Nightfall engine's account and limits.
    pub nightfall: NightfallConfig,
    /// The listener Nightfall posts scan results to.
    pub webhook: WebhookConfig,
    /// The local text-scan API on that listener.
    pub api: ApiConfig,
    /// What happens to files with findings beyond recording them.
    pub remediation: RemediationConfig,
    /// Where alerts go.
    pub alerts: AlertsConfig,
}

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
    /// What to do.
    pub action: Action,
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
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            slack_webhook_env: "DLPD_SLACK_WEBHOOK_URL".into(),
            slack_webhook_file: None,
            siem_url: String::new(),
            siem_token_env: "DLPD_SIEM_TOKEN".into(),
            requests_per_second: 1,
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
    pub include: Vec<Pattern>,
    /// Paths matching any of these are neither watched nor scanned.
    pub exclude: Vec<Pattern>,
    /// Quiet time before a changed file counts as settled.
    #[serde(deserialize_with = "positive_u64")]
    pub debounce_ms: u64,
    /// Scan what is already in the roots (and changed since its last scan) at start.
    pub scan_existing: bool,
    /// Follow symlinked directories and files.
    pub follow_symlinks: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        let pattern = |p: &str| Pattern(Regex::new(p).expect("default patterns are valid"));
        WatchConfig {
            // Without $HOME the literal stays, and is reported as a missing root.
            paths: ["~/Downloads", "~/Desktop", "~/Documents"]
                .iter()
                .map(|p| expand_path(p).unwrap_or_else(|_| PathBuf::from(p)))
                .collect(),
            include: Vec::new(),
            exclude: [
                r"/\.git/",
                r"\.DS_Store$",
                r"~$",
                r"\.swp$",
                r"\.tmp$",
                r"\.part$",
                r"\.crdownload$",
            ]
            .iter()
            .map(|p| pattern(p))
            .collect(),
            debounce_ms: 500,
            scan_existing: true,
            follow_symlinks: false,
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

/// A regular expression, compiled when the config is read so a bad one is
/// an error naming its key and line.
#[derive(Debug, Clone)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Regex::new(&raw)
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("invalid regex: {e}")))
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
    /// Files whose path matches one of these globs are not scanned.
    pub allow_paths: Vec<Glob>,
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
        }
    }
}

impl ScannerConfig {
    /// Whether a finding the remote engine reported is one this config
    /// asks for: a configured detector's at `min_confidence`, or a rule's
    /// (whose own thresholds Nightfall applied).
    pub fn wants(&self, f: &Finding) -> bool {
        match &f.detector {
            Detector::Builtin(id) if self.detectors.contains(id) => {
                f.confidence >= self.min_confidence
            }
            Detector::Builtin(id) => self.rules.builtins().any(|b| b == *id),
            Detector::Custom(name) => self.rules.is_custom(name),
        }
    }
}

/// A path glob (`**/testdata/**`), checked when the config is read.
#[derive(Debug, Clone)]
pub struct Glob(pub globset::Glob);

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.0.glob() == other.0.glob()
    }
}

impl Serialize for Glob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.glob())
    }
}

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        globset::GlobBuilder::new(&raw)
            .literal_separator(true)
            .build()
            .map(Glob)
            .map_err(|e| serde::de::Error::custom(format!("invalid glob: {e}")))
    }
}

/// `sha256:<64 hex>` (or bare hex), stored as lowercase hex.
fn value_hashes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .into_iter()
        .map(|v| {
            let hex = v.strip_prefix("sha256:").unwrap_or(&v).to_ascii_lowercase();
            if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok(hex)
            } else {
                Err(serde::de::Error::custom(format!(
                    "`{v}` is not \"sha256:<64 hex digits>\"; `dlpd hash-value` prints one"
                )))
            }
        })
        .collect()
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

/// Where the config came from, for `check-config` and the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file on disk.
    File(PathBuf),
    /// No file was found; the built-in defaults (the shipped etc/dlpd.toml).
    BuiltIn,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::BuiltIn => f.write_str("built-in defaults"),
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but a key is wrong.
    #[error("{origin}:{line}:{column}: {what}\n{snippet}")]
    Invalid {
        origin: String,
        line: usize,
        column: usize,
        /// "key `a.b`: message", or the TOML syntax message.
        what: String,
        snippet: String,
    },
}

impl Config {
    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let located = |span: Option<std::ops::Range<usize>>, what: String| {
            let at = span.map_or(0, |s| s.start).min(text.len());
            let line = text[..at].matches('\n').count() + 1;
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let column = text[line_start..at].chars().count() + 1;
            let line_text = text[line_start..].lines().next().unwrap_or("");
            ConfigError::Invalid {
                origin: origin.to_string(),
                line,
                column,
                what,
                snippet: format!("  {line_text}\n  {}^", " ".repeat(column - 1)),
            }
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| located(e.span(), e.message().to_string()))?;
        let cfg: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            located(inner.span(), format!("key `{key}`: {}", inner.message()))
        })?;
        // A remediation rule may name a custom rule's detector, which must exist.
        for (i, r) in cfg.remediation.rules.iter().enumerate() {
            if let Some(Detector::Custom(name)) = &r.detector
                && !cfg.scanner.rules.is_custom(name)
            {
                let span = text.find(&format!("\"{name}\"")).map(|at| at..at);
                return Err(located(
                    span,
                    format!(
                        "key `remediation.rules[{i}].detector`: {name:?} is neither a built-in detector nor the displayName of a REGEX or WORD_LIST detector in [[scanner.rules]]"
                    ),
                ));
            }
        }
        Ok(cfg)
    }

    /// Loads the config: `explicit` if given, else the first file found in
    /// the usual places, else the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Source), ConfigError> {
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => search_paths().into_iter().find(|p| p.is_file()),
        };
        match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let cfg = Config::parse(&text, &path.display().to_string())?;
                Ok((cfg, Source::File(path)))
            }
            // Config::default() equals DEFAULT_TOML (tested), and cannot
            // fail where $HOME is unset.
            None => Ok((Config::default(), Source::BuiltIn)),
        }
    }

    /// One line saying what the daemon will do, for its start-up and reload
    /// logs. The config holds no secret, only where to read them.
    pub fn summary(&self) -> String {
        let detectors: Vec<&str> = self.scanner.detectors.iter().map(|d| d.as_str()).collect();
        let roots: Vec<String> = self
            .watch
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut line = format!(
            "engine={:?} detectors={} min_confidence={} roots=[{}] state_dir={} csv={} redact={:?} workers={} log={}",
            self.scanner.engine,
            detectors.join(","),
            self.scanner.min_confidence,
            roots.join(", "),
            self.output.state_dir.display(),
            self.output.csv_path().display(),
            self.output.redact,
            self.queue.workers,
            self.log.level.as_str(),
        );
        if !self.scanner.rules.is_empty() {
            line.push_str(&format!(" rules={}", self.scanner.rules.specs().len()));
        }
        if self.scanner.engine == EngineKind::Nightfall {
            let nf = &self.nightfall;
            let from = |file: &Option<PathBuf>, env: &str| match file {
                Some(f) => format!("file {}", f.display()),
                None => format!("env {env}"),
            };
            line.push_str(&format!(
                " api_url={} webhook_url={} listen={} concurrency={} requests_per_second={} api_key=[{}] signing_secret=[{}]",
                nf.api_url,
                nf.webhook_url,
                self.webhook.listen,
                nf.concurrency,
                nf.requests_per_second,
                from(&nf.api_key_file, &nf.api_key_env),
                from(&nf.signing_secret_file, &nf.signing_secret_env),
            ));
        }
        line
    }

    /// The effective config as TOML, for `check-config` and start-up logs.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Where dlpd looks for a config when none is named, in order.
pub fn search_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        paths.push(PathBuf::from(dir).join("dlpd/dlpd.toml"));
    } else if let Some(home) = home_dir() {
        paths.push(home.join(".config/dlpd/dlpd.toml"));
    }
    paths.push(PathBuf::from("/etc/dlpd/dlpd.toml"));
    paths
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The per-user state directory: systemd's `$STATE_DIRECTORY` for services,
/// else the platform's convention.
pub fn default_state_dir() -> PathBuf {
    if let Some(dirs) = std::env::var_os("STATE_DIRECTORY").filter(|d| !d.is_empty()) {
        let first = dirs
            .to_string_lossy()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        return PathBuf::from(first);
    }
    let home = home_dir();
    if cfg!(target_os = "macos") {
        if let Some(h) = home {
            return h.join("Library/Application Support/dlpd");
        }
    } else if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("dlpd");
    } else if let Some(h) = home {
        return h.join(".local/state/dlpd");
    }
    PathBuf::from("/var/lib/dlpd")
}

/// Expands a leading `~` and `$VAR` / `${VAR}` references.
pub fn expand_path(raw: &str) -> Result<PathBuf, String> {
    let mut out = String::new();
    let rest = if raw == "~" || raw.starts_with("~/") {
        let home = home_dir().ok_or("`~` needs $HOME, which is not set")?;
        out.push_str(&home.to_string_lossy());
        &raw[1..]
    } else if raw.starts_with('~') {
        return Err(format!(
            "`{raw}`: only `~` and `~/` are expanded, not `~user`"
        ));
    } else {
        raw
    };
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let (name, braced) = if rest[i + 1..].starts_with('{') {
            let close = rest[i + 2..]
                .find('}')
                .ok_or_else(|| format!("`{raw}`: unclosed `${{`"))?;
            (&rest[i + 2..i + 2 + close], true)
        } else {
            let len = rest[i + 1..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len() - i - 1);
            (&rest[i + 1..i + 1 + len], false)
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let value = std::env::var(name)
            .map_err(|_| format!("environment variable `{name}` (in `{raw}`) is not set"))?;
        out.push_str(&value);
        let skip = name.len() + if braced { 2 } else { 0 };
        for _ in 0..skip {
            chars.next();
        }
    }
    Ok(PathBuf::from(out))
}

fn expanded_path<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    let raw = String::deserialize(d)?;
    if raw.is_empty() {
        return Err(serde::de::Error::custom("must not be empty"));
    }
    expand_path(&raw).map_err(serde::de::Error::custom)
}

fn optional_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    expanded_path(d).map(Some)
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    check_http_url(&raw).map_err(serde::de::Error::custom)?;
    Ok(raw.trim_end_matches('/').to_string())
}

fn optional_http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    if !raw.is_empty() {
        check_http_url(&raw).map_err(serde::de::Error::custom)?;
    }
    Ok(raw)
}

fn check_http_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    match url.scheme() {
        "https" | "http" if url.host().is_some() => Ok(()),
        _ => Err(format!(
            "`{raw}` must be an http:// or https:// URL with a host"
        )),
    }
}

fn detector_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DetectorId>, D::Error> {
    let list = Vec::<DetectorId>::deserialize(d)?;
    if list.is_empty() {
        return Err(serde::de::Error::custom(
            "at least one detector is needed, e.g. [\"CREDIT_CARD_NUMBER\"]",
        ));
    }
    for (i, det) in list.iter().enumerate() {
        if list[..i].contains(det) {
            return Err(serde::de::Error::custom(format!("{det} is listed twice")));
        }
    }
    Ok(list)
}

fn expanded_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|raw| expand_path(raw).map_err(serde::de::Error::custom))
        .collect()
}

fn positive_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    match u32::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be greater than 0")),
        n => Ok(n),
    }
}

fn positive_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be greater than 0")),
        n => Ok(n),
    }
}

fn context_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n > MAX_CONTEXT_BYTES {
        return Err(serde::de::Error::custom(format!(
            "{n} is over the limit of {MAX_CONTEXT_BYTES}"
        )));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_equals_built_in_defaults() {
        let shipped = Config::parse(DEFAULT_TOML, "etc/dlpd.toml").unwrap();
        assert_eq!(shipped, Config::default());
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let err = Config::parse("[scanner]\nmin_confidnce = \"LIKELY\"\n", "x.toml").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("x.toml:2:1: key `scanner.min_confidnce`: unknown field"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let msg = Config::parse("[scanner]\n\nmax_file_bytes = \"big\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("x.toml:3:18: key `scanner.max_file_bytes`: invalid type"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        for (text, key) in [
            (
                "[scanner]\ndetectors = [\"CREDIT_CARD\"]",
                "scanner.detectors[0]",
            ),
            ("[scanner]\ndetectors = []", "scanner.detectors"),
            (
                "[scanner]\nmin_confidence = \"HIGH\"",
                "scanner.min_confidence",
            ),
            ("[scanner]\ncontext_bytes = 100000", "scanner.context_bytes"),
            ("[scanner]\nmax_file_bytes = 0", "scanner.max_file_bytes"),
            ("[output]\nredact = \"partial\"", "output.redact"),
            ("[log]\nformat = \"xml\"", "log.format"),
            (
                "[output]\nstate_dir = \"$DLPD_SURELY_UNSET_VAR/x\"",
                "output.state_dir",
            ),
        ] {
            let msg = Config::parse(text, "t").unwrap_err().to_string();
            assert!(msg.contains(&format!("key `{key}`")), "{text}: {msg}");
            assert!(msg.starts_with("t:2:"), "{text}: {msg}");
        }
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let msg = Config::parse("[scanner\n", "t").unwrap_err().to_string();
        assert!(msg.starts_with("t:1:9:"), "{msg}");
    }

    #[test]
    fn paths_expand_home_and_variables() {
        let Ok(home) = std::env::var("HOME") else {
            assert!(expand_path("~/x").is_err());
            return;
        };
        assert_eq!(
            expand_path("~/x").unwrap(),
            PathBuf::from(format!("{home}/x"))
        );
        assert_eq!(
            expand_path("${HOME}/y").unwrap(),
            PathBuf::from(format!("{home}/y"))
        );
        assert_eq!(expand_path("$HOME").unwrap(), PathBuf::from(&home));
        assert_eq!(expand_path("/a$/b").unwrap(), PathBuf::from("/a$/b"));
        assert!(expand_path("~bob/x").is_err());
    }

    #[test]
    fn csv_is_relative_to_state_dir() {
        let cfg = Config::parse("[output]\nstate_dir = \"/s\"\ncsv = \"r.csv\"", "t").unwrap();
        assert_eq!(cfg.output.csv_path(), PathBuf::from("/s/r.csv"));
        let cfg = Config::parse("[output]\nstate_dir = \"/s\"\ncsv = \"/o/r.csv\"", "t").unwrap();
        assert_eq!(cfg.output.csv_path(), PathBuf::from("/o/r.csv"));
    }
}
