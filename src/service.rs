//! `dlpd run` as a process: in the foreground under systemd or launchd (the
//! default), or detached with `--daemonize` on a host with neither.
//!
//! The daemon itself runs on its keeper thread ([`crate::daemon::run`]);
//! this thread waits for signals on the process's one tokio runtime, which
//! also carries the daemon's network tasks. SIGTERM and SIGINT stop it (in-flight
//! work gets [`crate::daemon::GRACE`], the rest stays queued, exit 0).
//! SIGHUP reopens the log file and reloads the config: a config that does
//! not parse is refused with its error, and dlpd carries on with the old one.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Config;
use crate::daemon::{self, Control};
use crate::fsutil::open_private_rw;
use crate::logging::LogHandle;
use crate::readiness;

/// How `dlpd run` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Detach from the terminal (fork, new session); needs `log.file`.
    pub daemonize: bool,
    /// Write the daemon's pid here, locked while it runs.
    pub pidfile: Option<PathBuf>,
    /// The config file named on the command line, re-read on SIGHUP.
    pub config_path: Option<PathBuf>,
}

/// Runs the daemon until a stop signal.
pub fn run(config: Config, log: LogHandle, opts: &RunOptions) -> anyhow::Result<()> {
    // Checked before detaching, while there is a terminal to say so.
    let mut pidfile = opts.pidfile.as_deref().map(Pidfile::lock).transpose()?;
    if opts.daemonize {
        if config.log.file.is_none() {
            anyhow::bail!(
                "--daemonize detaches from the terminal, so its logs would be lost: \
                 set [log] file = \"/var/log/dlpd/dlpd.log\" (or run in the foreground)"
            );
        }
        // The lock does not survive the fork: take it again in the daemon.
        drop(pidfile.take());
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        daemonize::Daemonize::new()
            .working_directory(cwd)
            .umask(0o077)
            .start()
            .context("cannot daemonize")?;
        pidfile = opts.pidfile.as_deref().map(Pidfile::lock).transpose()?;
    }
    tracing::info!(pid = std::process::id(), "starting: {}", config.summary());

    // The process's one runtime: signals here, and the daemon's network
    // tasks (listener, Nightfall calls, alert sender), which it drains
    // before returning.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dlpd-rt")
        .enable_all()
        .build()?;
    let (control_tx, control_rx) = crossbeam_channel::unbounded::<Control>();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("dlpd-keeper".into())
        .spawn(move || {
            let ready = || readiness::ready("watching");
            let result = daemon::run(&config, control_rx, ready, &handle);
            let _ = done_tx.send(result);
        })?;
    let result = runtime.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        loop {
            let signal = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
                _ = hup.recv() => {
                    reload(&log, opts.config_path.as_deref(), &control_tx);
                    continue;
                }
                r = &mut done_rx => return anyhow::Ok(r?),
            };
            tracing::info!(signal, "stopping: finishing scans in flight");
            readiness::stopping();
            let _ = control_tx.send(Control::Stop);
            return anyhow::Ok(done_rx.await?);
        }
    })?;
    drop(pidfile);
    if let Err(e) = &result {
        // Under --daemonize stderr is gone: the log is where this is read.
        tracing::error!("dlpd stopped: {e}");
    }
    Ok(result?)
}

/// SIGHUP: reopen the log file, then load the config again and hand it to
/// the daemon if it is valid.
fn reload(log: &LogHandle, path: Option<&Path>, control: &crossbeam_channel::Sender<Control>) {
    readiness::reloading();
    if let Err(e) = log.reopen() {
        tracing::error!("SIGHUP: {e}; logging to the old file");
    }
    match Config::load(path) {
        Err(e) => {
            tracing::error!("SIGHUP: reload refused, still running on the previous config: {e}");
        }
        Ok((fresh, source)) => {
            tracing::info!(config = %source, "SIGHUP: reloading");
            log.set_level(&fresh.log);
            let _ = control.send(Control::Reload(Box::new(fresh)));
        }
    }
    readiness::ready("watching");
}

/// A pid file, locked (`flock`) while this process lives, so a second
/// dlpd on the same file is refused; removed on a clean exit.
struct Pidfile {
    path: PathBuf,
    _file: File,
}

impl Pidfile {
    fn lock(path: &Path) -> anyhow::Result<Pidfile> {
        let mut file = open_private_rw(path)
            .with_context(|| format!("cannot open pidfile {}", path.display()))?;
        // SAFETY: flock on a valid, owned descriptor.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let other = std::fs::read_to_string(path).unwrap_or_default();
            anyhow::bail!(
                "pidfile {} is locked: another dlpd (pid {}) is running with it",
                path.display(),
                other.trim()
            );
        }
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        file.sync_all()?;
        Ok(Pidfile {
            path: path.to_path_buf(),
            _file: file,
        })
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
