//! The one TOML config file, loaded once into a checked value.
//!
//! Every key is validated while it is read, so an error names the file, the
//! line, the column and the key. Unknown keys are errors, not silently
//! ignored: a misspelt `min_confidnce` must not leave a security scanner on
//! its defaults. The built-in defaults are the shipped `etc/dlpd.toml`
//! itself, and a test keeps the two equal.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::finding::Detector;

mod fleet;
mod monitor;
mod sections;
mod values;

pub use fleet::{ExportConfig, FleetConfig, check_postgres_url};
pub use monitor::{BaselinesConfig, DashboardConfig, ExposureConfig, SlackBotConfig};
pub use sections::*;

/// The shipped, commented default config.
pub const DEFAULT_TOML: &str = include_str!("../../etc/dlpd.toml");

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
    /// The health and metrics endpoint.
    pub metrics: MetricsConfig,
    /// The web dashboard on the listener.
    pub dashboard: DashboardConfig,
    /// Behaviour baselines and their anomalies.
    pub baselines: BaselinesConfig,
    /// Cloud-sync folders beyond those found.
    pub exposure: ExposureConfig,
    /// The fleet database every machine ships its events to.
    pub fleet: FleetConfig,
    /// The events file for log pipelines.
    pub export: ExportConfig,
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

/// Kernel pseudo filesystems: never watched or walked.
pub const PSEUDO_FILESYSTEMS: [&str; 3] = ["/proc", "/sys", "/dev"];

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
            let said = with_suggestion(inner.message());
            let mut err = located(inner.span(), format!("key `{key}`: {said}"));
            // The line may hold the password it is refused for.
            if let (ConfigError::Invalid { snippet, .. }, true) =
                (&mut err, key.starts_with("fleet.postgres_url"))
            {
                *snippet = "  (the line is not shown: it may hold a password)".into();
            }
            err
        })?;
        // A remediation rule may name a custom rule's detector, which must exist.
        for (i, r) in cfg.remediation.rules.iter().enumerate() {
            if let Some(Detector::Custom(name)) = &r.detector
                && !cfg.scanner.rules.is_custom(name)
                && !cfg.scanner.rule_packs.has_rule(name)
            {
                let span = text.find(&format!("\"{name}\"")).map(|at| at..at);
                return Err(located(
                    span,
                    format!(
                        "key `remediation.rules[{i}].detector`: {name:?} is neither a built-in detector, the displayName of a REGEX or WORD_LIST detector in [[scanner.rules]], nor a rule id in scanner.rule_packs"
                    ),
                ));
            }
        }
        if cfg.watch.max_wait_ms < cfg.watch.debounce_ms {
            let span = text.find("max_wait_ms").map(|at| at..at);
            return Err(located(
                span,
                format!(
                    "key `watch.max_wait_ms`: {} is less than watch.debounce_ms ({}); a file cannot be due before it could settle",
                    cfg.watch.max_wait_ms, cfg.watch.debounce_ms
                ),
            ));
        }
        for root in &cfg.watch.paths {
            if let Err(why) = crate::watch::roots::check(root) {
                let span = text.find("paths").map(|at| at..at);
                return Err(located(span, format!("key `watch.paths`: {why}")));
            }
        }
        let jira = &cfg.alerts.jira;
        if !jira.url.is_empty() {
            let missing = [
                ("project", &jira.project, "project = \"SEC\""),
                ("email", &jira.email, "email = \"dlpd@example.com\""),
            ]
            .into_iter()
            .find(|(_, v, _)| v.trim().is_empty());
            if let Some((key, _, example)) = missing {
                let span = text.find("[alerts.jira]").map(|at| at..at);
                return Err(located(
                    span,
                    format!(
                        "key `alerts.jira.{key}`: needed when alerts.jira.url is set, e.g. {example}"
                    ),
                ));
            }
            if let Err(why) = values::credentials_may_travel(&jira.url) {
                let span = text.find(&jira.url).map(|at| at..at);
                return Err(located(span, format!("key `alerts.jira.url`: {why}")));
            }
        }
        let bot = &cfg.alerts.slack_bot;
        if !bot.channel.is_empty()
            && let Err(why) = values::credentials_may_travel(&bot.api_url)
        {
            let span = text.find("[alerts.slack_bot]").map(|at| at..at);
            return Err(located(
                span,
                format!("key `alerts.slack_bot.api_url`: {why}"),
            ));
        }
        if let Some((key, what)) = cfg.overlap() {
            let span = text
                .find(key.rsplit('.').next().unwrap_or(key))
                .map(|at| at..at);
            return Err(located(span, format!("key `{key}`: {what}")));
        }
        Ok(cfg)
    }

    /// A root dlpd would never see into: inside its own state (every
    /// event there is ignored as dlpd's own), or a kernel pseudo
    /// filesystem (endless, and reading it can block). Returns the key to
    /// blame and why.
    fn overlap(&self) -> Option<(&'static str, String)> {
        let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let own = [
            ("output.state_dir", absolute(&self.output.state_dir)),
            (
                "remediation.quarantine_dir",
                absolute(&self.remediation.quarantine_dir(&self.output)),
            ),
        ];
        for root in &self.watch.paths {
            // A globbed root is judged by the directory it starts from.
            let root = absolute(&crate::watch::roots::literal_prefix(root));
            if let Some(pseudo) = PSEUDO_FILESYSTEMS.iter().find(|p| root.starts_with(p)) {
                return Some((
                    "watch.paths",
                    format!(
                        "{} is under {pseudo}, a kernel pseudo filesystem with no user files; remove it from the list",
                        root.display()
                    ),
                ));
            }
            for (key, dir) in &own {
                if root.starts_with(dir) {
                    return Some((
                        key,
                        format!(
                            "{} contains the watch root {} (watch.paths), and dlpd ignores its own files, so nothing there would be watched; \
                             put dlpd's state outside the roots, e.g. state_dir = \"~/.local/state/dlpd\"",
                            dir.display(),
                            root.display()
                        ),
                    ));
                }
            }
        }
        None
    }

    /// What the config says in a syntax that still works but should be
    /// written another way: logged at start, listed by `dlpd doctor`.
    pub fn warnings(&self) -> Vec<String> {
        let keys = [
            ("watch.include", &self.watch.include),
            ("watch.exclude", &self.watch.exclude),
        ];
        let mut out = Vec::new();
        for (key, patterns) in keys {
            for p in patterns.iter().filter(|p| p.legacy()) {
                out.push(format!(
                    "{key}: `{}` is read as a regex, the old syntax; write it `{p}`, or as a glob (see docs/configuration.md, Path patterns)",
                    p.to_string().trim_start_matches("re:")
                ));
            }
        }
        out
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

    /// Whether anything is served on `[webhook] listen`: Nightfall's
    /// results, the text-scan API, or the dashboard.
    pub fn uses_listener(&self) -> bool {
        self.scanner.engine == EngineKind::Nightfall || self.api.enabled || self.dashboard.enabled
    }

    /// Whether the `[api]` token is needed: by the API or the dashboard.
    pub fn uses_api_token(&self) -> bool {
        self.api.enabled || self.dashboard.enabled
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

/// Where the packaged system service keeps its state (its account's home).
pub const SYSTEM_STATE_DIR: &str = "/var/lib/dlpd";

/// Roots inside the home of a service account (`/var/lib/dlpd`,
/// `/nonexistent`, `/`): where `~` leads a system service, which is never
/// a person's folder.
pub fn roots_in_service_home(config: &Config) -> Vec<&Path> {
    // The packaged service's account, whoever runs the check.
    let mut homes = vec![PathBuf::from(SYSTEM_STATE_DIR)];
    // This account's, if it is not a person's (`/` says nothing).
    if let Some(home) = home_dir().filter(|h| {
        h != Path::new("/")
            && !["/home", "/Users", "/root"]
                .iter()
                .any(|p| h.starts_with(p))
    }) {
        homes.push(home);
    }
    config
        .watch
        .paths
        .iter()
        .filter(|r| homes.iter().any(|h| r.starts_with(h)))
        .map(PathBuf::as_path)
        .collect()
}

pub(crate) fn home_dir() -> Option<PathBuf> {
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

/// serde's "unknown field `x`, expected one of `a`, `b`" (or variant),
/// with the closest expected name added: a misspelt key or value names
/// its fix.
fn with_suggestion(message: &str) -> String {
    let wrong = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    let (Some(wrong), Some((_, expected))) = (wrong, message.split_once("expected")) else {
        return message.to_string();
    };
    let closest = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|name| {
            (
                strsim::damerau_levenshtein(&wrong.to_lowercase(), &name.to_lowercase()),
                name,
            )
        })
        .min();
    match closest {
        Some((d, name)) if d <= (wrong.len() / 3).max(2) => {
            format!("{message}; did you mean `{name}`?")
        }
        _ => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::values::expand_path;
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
    fn a_root_inside_dlpds_own_state_or_a_pseudo_filesystem_is_refused() {
        for (text, key, names) in [
            (
                "[watch]\npaths = [\"/tmp/x/watched\"]\n[output]\nstate_dir = \"/tmp/x\"\n",
                "output.state_dir",
                "/tmp/x/watched",
            ),
            (
                "[watch]\npaths = [\"/srv/a\"]\n[output]\nstate_dir = \"/\"\n",
                "output.state_dir",
                "/srv/a",
            ),
            ("[watch]\npaths = [\"/proc\"]\n", "watch.paths", "/proc"),
            (
                "[watch]\npaths = [\"/sys/kernel\"]\n",
                "watch.paths",
                "/sys/kernel",
            ),
        ] {
            let e = Config::parse(text, "t.toml").unwrap_err().to_string();
            assert!(e.contains(&format!("key `{key}`")), "{e}");
            assert!(e.contains(names), "{e}");
        }
        // dlpd's state inside a root is the normal case: only its own files are ignored.
        Config::parse(
            "[watch]\npaths = [\"/home/a\"]\n[output]\nstate_dir = \"/home/a/.local/state/dlpd\"\n",
            "t.toml",
        )
        .unwrap();
    }

    #[test]
    fn csv_is_relative_to_state_dir() {
        let cfg = Config::parse("[output]\nstate_dir = \"/s\"\ncsv = \"r.csv\"", "t").unwrap();
        assert_eq!(cfg.output.csv_path(), PathBuf::from("/s/r.csv"));
        let cfg = Config::parse("[output]\nstate_dir = \"/s\"\ncsv = \"/o/r.csv\"", "t").unwrap();
        assert_eq!(cfg.output.csv_path(), PathBuf::from("/o/r.csv"));
    }
}
