//! `dlpd doctor`: everything `dlpd run` needs from the machine, checked
//! before it is needed, each failure with its fix. `check-config` runs
//! the same checks, so a config that passes it does not fail at start.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::{Action, Config, EngineKind};

/// How bad a finding of the doctor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    /// Works, but probably not as meant.
    Warn,
    /// `dlpd run` would refuse to start, or would not do what is asked.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub level: Level,
    pub what: String,
    pub fix: Option<String>,
}

fn ok(what: impl Into<String>) -> Check {
    Check {
        level: Level::Ok,
        what: what.into(),
        fix: None,
    }
}

fn bad(level: Level, what: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        level,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

/// Longest the directory count of the watch roots may take.
const COUNT_BUDGET: Duration = Duration::from_secs(10);

/// Every check, in the order a reader fixes them.
pub fn examine(config: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    for w in config.warnings() {
        out.push(bad(Level::Warn, w, "rewrite the entry as the message says"));
    }
    secrets(config, &mut out);
    roots(config, &mut out);
    writable_dir("state_dir", &config.output.state_dir, &mut out);
    listener(config, &mut out);
    inotify(config, &mut out);
    remediation(config, &mut out);
    fleet(config, &mut out);
    out
}

/// The fleet database answers with this dlpd's schema, and the events
/// file's directory can be written.
fn fleet(config: &Config, out: &mut Vec<Check>) {
    if let Some(path) = &config.export.events {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        match dir {
            Some(dir) if !dir.exists() => out.push(ok(format!(
                "export.events: {} will be created (0700)",
                dir.display()
            ))),
            Some(dir) => writable_dir("export.events", dir, out),
            None => {}
        }
    }
    if !config.fleet.enabled() {
        return;
    }
    let checked = crate::fleet::Database::load(&config.fleet).and_then(|db| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| crate::fleet::FleetError::Setting {
                key: "fleet",
                why: e.to_string(),
            })?;
        runtime.block_on(async {
            let client = tokio::time::timeout(Duration::from_secs(5), db.connect())
                .await
                .map_err(|_| crate::fleet::FleetError::Setting {
                    key: "fleet.postgres_url",
                    why: format!("{}: no answer within 5 s", db.target),
                })??;
            crate::fleet::schema::check(&db, &client).await?;
            Ok(db.target)
        })
    });
    out.push(match checked {
        Ok(target) => ok(format!(
            "fleet database {target}: reachable, schema up to date"
        )),
        // Not fatal: the daemon keeps the events until it answers.
        Err(e) => bad(
            Level::Warn,
            format!("fleet: {e}"),
            "events wait in the outbox meanwhile; see docs/fleet.md",
        ),
    });
}

fn secrets(config: &Config, out: &mut Vec<Check>) {
    if config.scanner.engine == EngineKind::Nightfall {
        out.push(match crate::nightfall::Secrets::load(config) {
            Ok(_) => ok("Nightfall API key and signing secret: readable"),
            Err(e) => bad(
                Level::Fail,
                format!("Nightfall secrets: {e}"),
                "see docs/nightfall.md",
            ),
        });
    }
    if config.uses_api_token() {
        let token = crate::secret::load(
            "API token",
            &config.api.token_env,
            config.api.token_file.as_deref(),
            "api.token_file",
        );
        out.push(match token {
            Ok(_) => ok("API token: readable"),
            Err(e) => bad(
                Level::Fail,
                format!("[api] token: {e}"),
                "set the token, or api.enabled = false and dashboard.enabled = false",
            ),
        });
    }
    if let Err(e) = crate::alerts::Sinks::load(&config.alerts) {
        out.push(bad(
            Level::Fail,
            format!("alerts: {e}"),
            "see docs/remediation.md",
        ));
    }
}

/// Matches of a globbed root checked one by one (the rest alike).
const NAMED_MATCHES: usize = 20;

/// Whether `root` can be watched by this user: it exists, is a directory,
/// and can be listed.
fn directory(name: String, root: &Path) -> Check {
    match std::fs::metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bad(
            Level::Warn,
            format!("{name}: does not exist yet; it is watched once it appears"),
            "create it, or take it out of watch.paths",
        ),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bad(
            Level::Fail,
            format!("{name}: cannot be reached: permission denied on a directory above it"),
            "give this user search (x) permission on each directory above it",
        ),
        Err(e) => bad(
            Level::Fail,
            format!("{name}: {e}"),
            "fix the path in watch.paths",
        ),
        Ok(m) if !m.is_dir() => bad(
            Level::Fail,
            format!("{name}: is not a directory"),
            "watch.paths takes directories; watch the one that holds the file",
        ),
        Ok(_) if !allowed(root, libc::R_OK | libc::X_OK) => bad(
            Level::Fail,
            format!(
                "{name}: permission denied: this user (uid {}) cannot list it",
                uid()
            ),
            "give this user read and search permission, or run dlpd as a user that has it",
        ),
        Ok(_) => ok(format!("{name}: readable")),
    }
}

fn roots(config: &Config, out: &mut Vec<Check>) {
    let in_service_home = crate::config::roots_in_service_home(config);
    for root in &config.watch.paths {
        let name = format!("watch root {}", root.display());
        if in_service_home.contains(&root.as_path()) {
            out.push(bad(
                Level::Warn,
                format!("{name}: inside this service account's home, which is where `~` leads a system service"),
                "name the folders to watch by their full paths, e.g. /home/*/Downloads",
            ));
        }
        if crate::watch::roots::is_glob(root) {
            let found = crate::watch::roots::expand(root);
            if found.is_empty() {
                out.push(bad(
                    Level::Warn,
                    format!("{name}: matches no directory yet; one that appears is watched within seconds"),
                    "check the pattern: each `*` stands for one directory level",
                ));
                let prefix = crate::watch::roots::literal_prefix(root);
                out.push(directory(
                    format!("{name}: its parent {}", prefix.display()),
                    &prefix,
                ));
            } else {
                out.push(ok(format!("{name}: matches {} directories", found.len())));
                for m in found.iter().take(NAMED_MATCHES) {
                    out.push(directory(format!("watch root {}", m.display()), m));
                }
            }
            continue;
        }
        out.push(directory(name, root));
    }
}

/// A directory dlpd creates and writes (0700): there and writable, or
/// creatable.
fn writable_dir(key: &str, dir: &Path, out: &mut Vec<Check>) {
    let name = format!("{key} {}", dir.display());
    let Some(existing) = dir.ancestors().find(|a| a.exists()) else {
        return out.push(bad(
            Level::Fail,
            format!("{name}: no part of it exists"),
            "use an absolute path",
        ));
    };
    if existing != dir {
        return out.push(match allowed(existing, libc::W_OK | libc::X_OK) {
            true => ok(format!("{name}: will be created (0700)")),
            false => bad(
                Level::Fail,
                format!(
                    "{name}: cannot be created: {} is not writable by uid {}",
                    existing.display(),
                    uid()
                ),
                format!(
                    "create it for this user: install -d -m 0700 {}",
                    dir.display()
                ),
            ),
        });
    }
    let mode = std::fs::metadata(dir).map(|m| m.permissions().mode() & 0o777);
    out.push(match mode {
        Ok(_) if !dir.is_dir() => bad(
            Level::Fail,
            format!("{name}: is not a directory"),
            "point it at a directory",
        ),
        Ok(_) if !allowed(dir, libc::W_OK | libc::X_OK) => bad(
            Level::Fail,
            format!("{name}: permission denied: not writable by uid {}", uid()),
            format!("chown it to the user dlpd runs as, or pick another {key}"),
        ),
        Ok(m) if m & 0o077 != 0 => bad(
            Level::Warn,
            format!("{name}: mode {m:o} lets others in; it holds findings"),
            format!("chmod 700 {}", dir.display()),
        ),
        Ok(_) => ok(format!("{name}: writable")),
        Err(e) => bad(Level::Fail, format!("{name}: {e}"), "fix the path"),
    });
}

fn listener(config: &Config, out: &mut Vec<Check>) {
    if let Some(addr) = config.metrics.listen {
        out.push(bindable(
            config,
            "metrics.listen",
            addr,
            (Level::Warn, "; dlpd runs without its metrics"),
            "set another metrics.listen, or \"\" to turn them off",
        ));
    }
    if config.uses_listener() {
        out.push(bindable(
            config,
            "webhook.listen",
            config.webhook.listen,
            (Level::Fail, ""),
            "stop what listens there, or set another webhook.listen",
        ));
    }
}

/// Whether `key = addr` can be listened on: free, or held by this config's
/// running daemon; else `taken` says how bad that is, and what follows.
fn bindable(
    config: &Config,
    key: &str,
    addr: std::net::SocketAddr,
    taken: (Level, &str),
    fix: &str,
) -> Check {
    let name = format!("{key} {addr}");
    match std::net::TcpListener::bind(addr) {
        Ok(_) => ok(format!("{name}: free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && daemon_running(config) => {
            ok(format!("{name}: in use by the running dlpd"))
        }
        Err(e) => bad(
            taken.0,
            format!("{name}: cannot listen: {e}{}", taken.1),
            fix,
        ),
    }
}

/// Whether the daemon of this config runs (its store names a live pid).
fn daemon_running(config: &Config) -> bool {
    crate::store::Store::open_existing(&config.output)
        .and_then(|s| s.daemon_pid())
        .is_ok_and(|pid| pid.is_some())
}

fn inotify(config: &Config, out: &mut Vec<Check>) {
    let Some(limit) = crate::watch::watch_limit() else {
        return;
    };
    let settings = crate::daemon::watch_settings(config, &[]);
    let started = Instant::now();
    let mut dirs = 0usize;
    let mut complete = true;
    for root in settings.roots.iter().filter(|r| r.is_dir()) {
        let walk = walkdir::WalkDir::new(root)
            .follow_links(settings.follow_symlinks)
            .into_iter()
            .filter_entry(|e| !e.file_type().is_dir() || settings.wanted(e.path(), true));
        for e in walk.flatten() {
            dirs += usize::from(e.file_type().is_dir());
            if started.elapsed() > COUNT_BUDGET {
                complete = false;
                break;
            }
        }
    }
    let counted = if complete {
        format!("{dirs}")
    } else {
        format!("at least {dirs}")
    };
    out.push(if dirs > limit {
        bad(
            Level::Fail,
            format!("inotify: {counted} directories to watch, over the limit of {limit}"),
            format!(
                "sysctl fs.inotify.max_user_watches={} (and the same in /etc/sysctl.d), or exclude large trees",
                dirs.next_power_of_two().max(limit * 2)
            ),
        )
    } else if crate::watch::near_limit(dirs, limit) {
        bad(
            Level::Warn,
            format!("inotify: {counted} directories to watch, near the limit of {limit} (other programs use it too)"),
            "raise fs.inotify.max_user_watches, or exclude large trees",
        )
    } else {
        ok(format!("inotify: {counted} directories to watch, limit {limit}"))
    });
}

fn remediation(config: &Config, out: &mut Vec<Check>) {
    if !config
        .remediation
        .rules
        .iter()
        .any(|r| r.action == Action::Quarantine)
    {
        return;
    }
    writable_dir(
        "remediation.quarantine_dir",
        &config.remediation.quarantine_dir(&config.output),
        out,
    );
    // Moving a file out of a folder takes write permission on the folder.
    let roots = crate::daemon::watch_settings(config, &[]).roots;
    let read_only = crate::remediation::read_only_roots(config, &roots);
    for root in &read_only {
        out.push(bad(
            Level::Fail,
            format!(
                "quarantine: {} is read-only to this process: files found there cannot be moved",
                root.display()
            ),
            crate::remediation::READ_ONLY_FIX,
        ));
    }
    for root in roots
        .iter()
        .filter(|r| r.is_dir() && !read_only.contains(r))
    {
        if !allowed(root, libc::W_OK | libc::X_OK) {
            out.push(bad(
                Level::Fail,
                format!(
                    "quarantine: {} is not writable by uid {}: files found there cannot be moved",
                    root.display(),
                    uid()
                ),
                "run dlpd as a user that can write the watched folders, or quarantine nowhere",
            ));
        }
    }
}

/// access(2) for this process's user.
fn allowed(path: &Path, mode: libc::c_int) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path.
    unsafe { libc::access(c.as_ptr(), mode) == 0 }
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Prints the checks to `w` (problems with their fixes); returns whether
/// none failed.
pub fn report(checks: &[Check], all: bool, w: &mut impl std::io::Write) -> std::io::Result<bool> {
    for c in checks.iter().filter(|c| all || c.level != Level::Ok) {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        writeln!(w, "{tag}  {}", c.what)?;
        if let Some(fix) = &c.fix {
            writeln!(w, "      fix: {fix}")?;
        }
    }
    let fails = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warns = checks.iter().filter(|c| c.level == Level::Warn).count();
    if all || fails + warns > 0 {
        writeln!(w, "dlpd doctor: {fails} problem(s), {warns} warning(s)")?;
    }
    Ok(fails == 0)
}
