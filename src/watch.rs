//! The watcher: turns raw filesystem events into "this file has settled"
//! notices, one per file per burst of writes.
//!
//! notify delivers raw events to a debouncer thread. The thread keeps, per
//! path, the time of its last event and its (size, mtime) then; once a path
//! has been quiet for `debounce` and its size and mtime have not moved, it
//! is reported as [`WatchEvent::Settled`]. Directories are watched one by
//! one (not recursively), so excluded subtrees cost no inotify watch, and a
//! directory that appears is watched and walked at once, so files created
//! or moved in with it are not missed. dlpd's own files are never reported.
//!
//! Every channel on the way is bounded: when the daemon's queue is full,
//! the watcher waits, notify's reader waits, and the kernel's event queue
//! overflows, which notify reports and the watcher turns into a rescan.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant, SystemTime};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use regex::Regex;

/// What the watcher tells the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The file stopped changing: scan it.
    Settled(PathBuf),
    /// The file is gone: drop its pending work.
    Removed(PathBuf),
    /// Events may have been lost under this directory (queue overflow, or a
    /// root that just appeared): walk it and queue what changed.
    Rescan(PathBuf),
}

/// Which paths to watch and report.
#[derive(Debug, Clone)]
pub struct WatchSettings {
    /// Directories watched recursively.
    pub roots: Vec<PathBuf>,
    /// If not empty, only paths matching one of these are reported.
    pub include: Vec<Regex>,
    /// Paths matching any of these are neither watched nor reported.
    pub exclude: Vec<Regex>,
    /// dlpd's own files and directories (state dir, CSV, logs).
    pub ignore: Vec<PathBuf>,
    /// How long a path must be quiet before it counts as settled.
    pub debounce: Duration,
    /// Whether symlinked directories are followed.
    pub follow_symlinks: bool,
}

impl WatchSettings {
    /// True when `path` (a directory if `dir`) is one dlpd should look at.
    pub fn wanted(&self, path: &Path, dir: bool) -> bool {
        if self.ignore.iter().any(|i| path.starts_with(i)) {
            return false;
        }
        let mut text = path.to_string_lossy().into_owned();
        if dir {
            text.push('/');
        }
        if self.exclude.iter().any(|r| r.is_match(&text)) {
            return false;
        }
        dir || self.include.is_empty() || self.include.iter().any(|r| r.is_match(&text))
    }
}

/// A running watcher; dropping it stops the watches and the thread.
pub struct Watcher {
    _notify: Arc<Mutex<RecommendedWatcher>>,
    stop: Sender<Msg>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        // A full channel means the thread is busy; wait a little for room
        // rather than leave it running (a reload keeps the daemon's side
        // open), but never hang a shutdown on it.
        let _ = self.stop.send_timeout(Msg::Stop, Duration::from_secs(1));
    }
}

/// Raw events buffered between notify's reader and the debouncer.
const RAW_EVENTS: usize = 4096;

enum Msg {
    Event(notify::Result<Event>),
    Stop,
}

/// What a path looked like at its last event.
struct Pending {
    last_event: Instant,
    seen: (u64, SystemTime),
}

/// Starts watching `settings.roots` and sends what happens to `out`. The
/// thread ends when `out` is closed or the [`Watcher`] is dropped.
pub fn spawn(settings: WatchSettings, out: Sender<WatchEvent>) -> notify::Result<Watcher> {
    let (tx, rx) = crossbeam_channel::bounded(RAW_EVENTS);
    let events = tx.clone();
    let notify = RecommendedWatcher::new(
        move |res| {
            let _ = events.send(Msg::Event(res));
        },
        notify::Config::default(),
    )?;
    let notify = Arc::new(Mutex::new(notify));
    let mut state = Debouncer {
        settings,
        notify: notify.clone(),
        pending: HashMap::new(),
        out,
        closed: Cell::new(false),
        watches: 0,
        watch_limit: std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
        limit_warned: false,
        missing: Vec::new(),
    };
    for root in state.settings.roots.clone() {
        if root.is_dir() {
            state.watch_tree(&root, false);
        } else {
            tracing::warn!(root = %root.display(), "watch root does not exist yet; it will be watched when it appears");
            state.missing.push(root);
        }
    }
    std::thread::Builder::new()
        .name("dlpd-watch".into())
        .spawn(move || state.run(rx))
        .map_err(notify::Error::io)?;
    Ok(Watcher {
        _notify: notify,
        stop: tx,
    })
}

struct Debouncer {
    settings: WatchSettings,
    notify: Arc<Mutex<RecommendedWatcher>>,
    pending: HashMap<PathBuf, Pending>,
    out: Sender<WatchEvent>,
    /// Set when the daemon stopped listening: time to go.
    closed: Cell<bool>,
    /// Directories this watcher has a watch on.
    watches: usize,
    /// fs.inotify.max_user_watches, where the platform has it.
    watch_limit: Option<usize>,
    limit_warned: bool,
    /// Roots that did not exist yet.
    missing: Vec<PathBuf>,
}

impl Debouncer {
    fn run(mut self, rx: Receiver<Msg>) {
        let tick = (self.settings.debounce / 4).max(Duration::from_millis(10));
        let mut last_missing_check = Instant::now();
        while !self.closed.get() {
            match rx.recv_timeout(tick) {
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Event(Ok(event))) => self.handle(event),
                Ok(Msg::Event(Err(e))) => self.watch_error(&e),
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.settle();
            if !self.missing.is_empty() && last_missing_check.elapsed() >= Duration::from_secs(1) {
                last_missing_check = Instant::now();
                self.check_missing();
            }
        }
    }

    fn send(&self, e: WatchEvent) {
        if self.out.send(e).is_err() {
            self.closed.set(true);
        }
    }

    /// Applies one raw event.
    pub(crate) fn handle(&mut self, event: Event) {
        if event.need_rescan() {
            for root in self.settings.roots.clone() {
                tracing::warn!(root = %root.display(), "filesystem events were lost (queue overflow); rescanning the root");
                self.send(WatchEvent::Rescan(root));
            }
            return;
        }
        match event.kind {
            // Our own reads come back as opens; they must not cause scans.
            EventKind::Access(AccessKind::Open(_))
            | EventKind::Access(AccessKind::Close(AccessMode::Read)) => {}
            EventKind::Create(CreateKind::Folder) => {
                for p in &event.paths {
                    self.watch_tree(p, true);
                }
            }
            EventKind::Remove(RemoveKind::Folder) => {}
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) | EventKind::Remove(_) => {
                for p in &event.paths {
                    self.pending.remove(p);
                    self.send(WatchEvent::Removed(p.clone()));
                }
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to] = event.paths.as_slice() {
                    self.pending.remove(from);
                    self.send(WatchEvent::Removed(from.clone()));
                    self.arrived(to);
                }
            }
            EventKind::Modify(ModifyKind::Name(_)) | EventKind::Create(_) => {
                for p in &event.paths {
                    self.arrived(p);
                }
            }
            EventKind::Modify(ModifyKind::Metadata(_)) => {}
            EventKind::Modify(_)
            | EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Any => {
                for p in &event.paths {
                    self.touch(p);
                }
            }
            _ => {}
        }
    }

    /// A path appeared (created or moved in): a directory is watched and
    /// walked, a file is pending.
    fn arrived(&mut self, path: &Path) {
        if path.is_dir() {
            self.watch_tree(path, true);
        } else {
            self.touch(path);
        }
    }

    /// Marks a file as changed now.
    fn touch(&mut self, path: &Path) {
        if !self.settings.wanted(path, false) {
            return;
        }
        // Gone already, or not a regular file: nothing to settle.
        let Some(seen) = self.stat(path) else {
            return;
        };
        self.pending.insert(
            path.to_path_buf(),
            Pending {
                last_event: Instant::now(),
                seen,
            },
        );
    }

    fn stat(&self, path: &Path) -> Option<(u64, SystemTime)> {
        let meta = if self.settings.follow_symlinks {
            std::fs::metadata(path)
        } else {
            std::fs::symlink_metadata(path)
        };
        let meta = meta.ok().filter(|m| m.is_file())?;
        Some((meta.len(), meta.modified().ok()?))
    }

    /// Reports the paths that have been quiet and stable for `debounce`.
    fn settle(&mut self) {
        let now = Instant::now();
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.last_event) >= self.settings.debounce)
            .map(|(path, _)| path.clone())
            .collect();
        for path in due {
            let Some(current) = self.stat(&path) else {
                // Gone, or no longer a regular file.
                self.pending.remove(&path);
                continue;
            };
            let Some(p) = self.pending.get_mut(&path) else {
                continue;
            };
            if current == p.seen {
                self.pending.remove(&path);
                self.send(WatchEvent::Settled(path));
            } else {
                // Still changing without events (or mtime granularity): wait again.
                p.seen = current;
                p.last_event = now;
            }
        }
    }

    /// Watches `dir` and every wanted directory under it; with `report`,
    /// its files are pending too (a directory created or moved in full).
    fn watch_tree(&mut self, dir: &Path, report: bool) {
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(self.settings.follow_symlinks)
            .into_iter();
        let settings = self.settings.clone();
        for entry in
            walker.filter_entry(|e| !e.file_type().is_dir() || settings.wanted(e.path(), true))
        {
            match entry {
                Ok(e) if e.file_type().is_dir() => {
                    let res = match self.notify.lock() {
                        Ok(mut w) => Some(w.watch(e.path(), RecursiveMode::NonRecursive)),
                        Err(_) => None,
                    };
                    match res {
                        Some(Ok(())) => self.watch_added(),
                        Some(Err(err)) => self.watch_error(&err),
                        None => {}
                    }
                }
                Ok(e) if report && e.file_type().is_file() => self.touch(e.path()),
                Ok(_) => {}
                Err(err) => tracing::warn!(path = ?err.path(), "cannot watch: {err}"),
            }
        }
    }

    /// Counts a new watch, and warns once when dlpd alone uses 90% of the
    /// per-user inotify limit.
    fn watch_added(&mut self) {
        self.watches += 1;
        if let Some(limit) = self.watch_limit
            && !self.limit_warned
            && near_limit(self.watches, limit)
        {
            self.limit_warned = true;
            tracing::warn!(
                watches = self.watches,
                limit,
                "close to the inotify watch limit; raise it with `sysctl fs.inotify.max_user_watches=524288` \
                 (and in /etc/sysctl.d to keep it), or exclude large trees"
            );
        }
    }

    fn watch_error(&self, e: &notify::Error) {
        if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) {
            tracing::error!(
                "inotify watch limit reached: some directories are not watched; raise it with \
                 `sysctl fs.inotify.max_user_watches=524288` (and in /etc/sysctl.d to keep it)"
            );
        } else {
            tracing::warn!(paths = ?e.paths, "watch error: {e}");
        }
    }

    /// Picks up roots that have appeared since start.
    fn check_missing(&mut self) {
        let (found, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.missing)
            .into_iter()
            .partition(|r| r.is_dir());
        self.missing = still;
        for root in found {
            tracing::info!(root = %root.display(), "watch root appeared; watching it");
            self.watch_tree(&root, false);
            self.send(WatchEvent::Rescan(root));
        }
    }
}

/// True when `used` watches are 90% or more of `limit`.
pub fn near_limit(used: usize, limit: usize) -> bool {
    used * 10 >= limit * 9
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::Flag;

    #[test]
    fn an_event_overflow_rescans_every_root_instead_of_losing_changes() {
        let (out, rx) = crossbeam_channel::unbounded();
        let notify = RecommendedWatcher::new(|_| {}, notify::Config::default()).unwrap();
        let roots = vec![PathBuf::from("/r1"), PathBuf::from("/r2")];
        let mut d = Debouncer {
            settings: WatchSettings {
                roots: roots.clone(),
                include: vec![],
                exclude: vec![],
                ignore: vec![],
                debounce: Duration::from_millis(10),
                follow_symlinks: false,
            },
            notify: Arc::new(Mutex::new(notify)),
            pending: HashMap::new(),
            out,
            closed: Cell::new(false),
            watches: 0,
            watch_limit: None,
            limit_warned: false,
            missing: vec![],
        };
        d.handle(Event::new(EventKind::Other).set_flag(Flag::Rescan));
        let got: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            got,
            roots
                .into_iter()
                .map(WatchEvent::Rescan)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn the_watch_limit_warning_comes_at_ninety_percent() {
        assert!(!near_limit(8, 10));
        assert!(near_limit(9, 10));
        assert!(!near_limit(172_000, 192_536));
        assert!(near_limit(173_283, 192_536));
    }

    #[test]
    fn include_and_ignore_rules() {
        let s = WatchSettings {
            roots: vec![],
            include: vec![Regex::new(r"\.csv$").unwrap()],
            exclude: vec![Regex::new(r"/\.git/").unwrap()],
            ignore: vec![PathBuf::from("/home/a/.local/state/dlpd")],
            debounce: Duration::from_millis(10),
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
