//! The watcher: turns raw filesystem events into "this file has settled"
//! notices, one per file per burst of writes, and never goes blind.
//!
//! Three threads, and no wait that can close into a cycle:
//! - notify's reader calls [`intake::Intake::push`], which never blocks:
//!   when the debouncer is behind, the event's directory is remembered
//!   instead (coalesced, bounded) and rescanned later;
//! - the debouncer ([`debounce`]) keeps, per path, its last event and its
//!   (size, mtime); a path quiet for `debounce` whose size and mtime have
//!   stopped moving is reported as [`WatchEvent::Settled`], and one that
//!   keeps changing is reported at least every `max_wait`;
//! - the setup thread ([`setup`]) adds the watches, one directory at a
//!   time (excluded subtrees cost no inotify watch), for the roots at
//!   start, for directories that appear, and again for directories that
//!   could not be watched (watch limit, permissions) until they can.
//!
//! Only the debouncer and the setup thread send to the daemon, and the
//! daemon never waits on either, so a full daemon queue slows them down
//! and nothing else: events coalesce into rescans, none is lost silently.
//! dlpd's own files are never reported.

mod debounce;
mod intake;
pub mod mounts;
pub mod roots;
mod setup;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::Sender;
use notify::{RecommendedWatcher, Watcher as _};

pub use self::setup::{Cause, WatchHealth};
use crate::liveness::Liveness;
use crate::pathmatch::PathFilter;

/// What the watcher tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The file stopped changing (or has changed for `max_wait`): scan it.
    Settled(PathBuf),
    /// The file is gone: drop its pending work.
    Removed(PathBuf),
    /// What is not watched changed (see [`Watcher::health`]): the daemon
    /// notes it for `dlpd status` now rather than at its next wake.
    HealthChanged,
    /// Files under this directory may have changed unseen (it just
    /// appeared, became watchable, or its events were coalesced): walk it
    /// and queue what changed.
    Rescan(PathBuf),
    /// The mount table changed (see [`mounts`]).
    MountsChanged,
}

/// Which paths to watch and report.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Directories watched recursively, globbed roots' matches included.
    pub roots: Vec<PathBuf>,
    /// Globbed roots (`/home/*/Downloads`), matched again as time goes on.
    pub patterns: Vec<PathBuf>,
    /// If not empty, only files matching it are reported.
    pub include: PathFilter,
    /// Paths matching it are neither watched nor reported.
    pub exclude: PathFilter,
    /// dlpd's own files and directories (state dir, CSV, logs), and the
    /// kernel's pseudo filesystems.
    pub ignore: Vec<PathBuf>,
    /// How long a path must be quiet before it counts as settled.
    pub debounce: Duration,
    /// Longest a changing file goes unreported.
    pub max_wait: Duration,
    /// Whether symlinked directories are followed.
    pub follow_symlinks: bool,
}

pub use setup::{near_limit, read_watch_limit as watch_limit};

impl WatchSettings {
    /// Whether `dir` is reached from its root only through real
    /// directories. An event path can name a directory through a symlink
    /// a user has just put in place of one (inotify reports the old
    /// names), and watching or walking it would leave the root; unless
    /// symlinks are followed, such a directory is left alone. A globbed
    /// root counts from its literal prefix.
    pub fn reached_directly(&self, dir: &Path) -> bool {
        if self.follow_symlinks {
            return true;
        }
        let root = self
            .roots
            .iter()
            .filter(|r| dir.starts_with(r))
            .max_by_key(|r| r.as_os_str().len());
        let pattern = self.patterns.iter().find(|p| match root {
            Some(root) => roots::matches_prefix(p, root),
            // A match added since these settings were made.
            None => dir.starts_with(roots::literal_prefix(p)),
        });
        let from = match (pattern, root) {
            (Some(p), _) => roots::literal_prefix(p),
            (None, Some(root)) => root.clone(),
            (None, None) => return true,
        };
        let Ok(rest) = dir.strip_prefix(&from) else {
            return true;
        };
        let mut at = from.clone();
        for part in rest.components() {
            at.push(part);
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return false,
                Ok(_) => {}
                // Gone: nothing to watch or walk there anyway.
                Err(_) => return true,
            }
        }
        true
    }

    /// True when `path` (a directory if `dir`) is one dlpd should look at.
    pub fn wanted(&self, path: &Path, dir: bool) -> bool {
        if self.ignore.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        if self.exclude.is_match(path, dir) {
            return false;
        }
        dir || self.include.is_empty() || self.include.is_match(path, false)
    }
}

/// A running watcher; dropping it stops the watches and the threads.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    setup: Sender<setup::Request>,
    health: Arc<Mutex<WatchHealth>>,
    ready: crossbeam_channel::Receiver<()>,
}

impl Watcher {
    /// Waits up to `timeout` for the watches on the roots to be in place;
    /// true once they are. Events are drained all the while.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        match self.ready.recv_timeout(timeout) {
            Ok(()) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => true,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => false,
        }
    }

    /// What is not watched, and why.
    pub fn health(&self) -> WatchHealth {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Tries again, now, every directory that could not be watched.
    pub fn retry(&self) {
        let _ = self.setup.send(setup::Request::Retry);
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.setup.send(setup::Request::Stop);
    }
}

/// Starts watching `settings.roots` and sends what happens to `out`. The
/// threads end when `out` is closed or the [`Watcher`] is dropped; each
/// keeps a heartbeat in `liveness`.
pub fn spawn(
    settings: WatchSettings,
    out: Sender<WatchEvent>,
    liveness: &Liveness,
) -> notify::Result<Watcher> {
    let (intake, events) = intake::Intake::new();
    // Not opens, nor closes after reading: the kernel then reports none of
    // dlpd's own reads, which woke the notify thread for every file scanned.
    let kinds = notify::EventKindMask::CORE | notify::EventKindMask::ACCESS_CLOSE;
    let config = notify::Config::default().with_event_kinds(kinds);
    let notify = RecommendedWatcher::new(move |res| intake.push(res), config)?;
    let stop = Arc::new(AtomicBool::new(false));
    let health = Arc::new(Mutex::new(WatchHealth::default()));
    let (setup_tx, setup_rx) = crossbeam_channel::unbounded();
    let (ready_tx, ready) = crossbeam_channel::bounded(1);
    for root in &settings.roots {
        let _ = setup_tx.send(setup::Request::Root(root.clone()));
    }
    let _ = setup_tx.send(setup::Request::Ready(ready_tx));
    let setup = setup::Setup::new(
        settings.clone(),
        Arc::new(Mutex::new(notify)),
        out.clone(),
        stop.clone(),
        health.clone(),
        liveness.looping("watch setup"),
    );
    let debouncer = debounce::Debouncer::new(
        settings,
        out,
        setup_tx.clone(),
        stop.clone(),
        liveness.looping("watcher"),
    );
    std::thread::Builder::new()
        .name("dlpd-watch".into())
        .spawn(move || debouncer.run(events))
        .map_err(notify::Error::io)?;
    std::thread::Builder::new()
        .name("dlpd-watch-setup".into())
        .spawn(move || setup.run(setup_rx))
        .map_err(notify::Error::io)?;
    Ok(Watcher {
        stop,
        setup: setup_tx,
        health,
        ready,
    })
}

/// Sends `event` to the daemon, waiting while it is busy but giving up
/// once `stop` is set; false when the daemon is gone or stopping.
fn deliver(
    out: &Sender<WatchEvent>,
    event: WatchEvent,
    stop: &AtomicBool,
    beat: &crate::liveness::Beat,
) -> bool {
    let mut event = event;
    loop {
        beat.beat();
        match out.send_timeout(event, Duration::from_millis(200)) {
            Ok(()) => return true,
            Err(crossbeam_channel::SendTimeoutError::Disconnected(_)) => return false,
            Err(crossbeam_channel::SendTimeoutError::Timeout(back)) => {
                if stop.load(Ordering::Relaxed) {
                    return false;
                }
                event = back;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(p: &str) -> PathFilter {
        PathFilter::new(&[crate::pathmatch::PathPattern::parse(p).unwrap()])
    }

    #[test]
    fn include_and_ignore_rules() {
        let s = WatchSettings {
            roots: vec![],
            patterns: vec![],
            include: filter("*.csv"),
            exclude: filter(".git"),
            ignore: vec![PathBuf::from("/home/a/.local/state/dlpd")],
            debounce: Duration::from_millis(10),
            max_wait: Duration::from_secs(10),
            follow_symlinks: false,
        };
        assert!(s.wanted(Path::new("/home/a/x.csv"), false));
        assert!(!s.wanted(Path::new("/home/a/x.txt"), false));
        assert!(!s.wanted(Path::new("/home/a/.git"), true));
        assert!(!s.wanted(Path::new("/home/a/.git/x.csv"), false));
        assert!(!s.wanted(Path::new("/home/a/.local/state/dlpd/results.csv"), false));
        // Directories are walked whatever the include rules say.
        assert!(s.wanted(Path::new("/home/a/docs"), true));
    }
}
