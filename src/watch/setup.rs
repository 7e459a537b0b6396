//! The setup thread: adds a watch on each wanted directory, and keeps the
//! directories it could not watch (the inotify limit, permissions) in a
//! list that is tried again every [`RETRY_EVERY`], when the limit changes,
//! when a directory's mode changes, and on request (SIGHUP). A directory
//! that becomes watchable is walked by the daemon for what it missed.
//! Roots that do not exist yet, or cannot be entered, are checked every
//! second; globbed roots are expanded again every [`GLOB_EVERY`]. With none
//! of these to do, it sleeps until a request comes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use super::{WatchEvent, WatchSettings, deliver, roots};
use crate::liveness::Beat;

/// How often directories that could not be watched are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(30);
/// How often roots that do not exist yet are looked for.
const MISSING_EVERY: Duration = Duration::from_secs(1);
/// How often globbed roots (`/home/*/Downloads`) are matched again.
const GLOB_EVERY: Duration = Duration::from_secs(3);
/// Most unwatched directories remembered one by one; past it the roots
/// themselves are tried again.
const MAX_UNWATCHED: usize = 100_000;
/// Directories named in a log line or in `dlpd status`.
const NAMED: usize = 3;
/// Most directory requests merged into one pass.
const BATCH: usize = 4096;
const WATCH_LIMIT: &str = "/proc/sys/fs/inotify/max_user_watches";

/// What the setup thread is asked to do.
pub(super) enum Request {
    /// A root, at start: watched, or tracked until it appears.
    Root(PathBuf),
    /// A directory appeared, or its events were coalesced: watch it and
    /// everything under it, then have the daemon walk it.
    Tree(PathBuf),
    /// Events were lost everywhere: watch and walk every root again.
    AllRoots,
    /// A directory's mode or owner changed: if it was unwatchable, try it.
    Unblocked(PathBuf),
    /// Try every unwatched directory now.
    Retry,
    /// Answered once the requests before it are done.
    Ready(Sender<()>),
    Stop,
}

/// Why a directory is not watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cause {
    /// fs.inotify.max_user_watches is reached.
    Limit,
    /// dlpd's user may not read the directory.
    Permission,
    /// Any other error from the kernel.
    Error,
}

impl Cause {
    /// What an administrator does about it.
    pub fn fix(self) -> &'static str {
        match self {
            Cause::Limit => {
                "the inotify watch limit is reached; raise it with `sysctl fs.inotify.max_user_watches=524288` \
                 (and in /etc/sysctl.d to keep it), or exclude large trees"
            }
            Cause::Permission => {
                "permission denied; give dlpd's user read and search permission, or exclude the directory"
            }
            Cause::Error => "the kernel refused the watch",
        }
    }
}

/// What is not watched, for `dlpd status` and the logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchHealth {
    /// Watches added by this watcher.
    pub watches: usize,
    /// Per cause: how many directories are not watched, and the first few.
    pub unwatched: BTreeMap<Cause, (usize, Vec<PathBuf>)>,
    /// Roots not watched yet, with why.
    pub missing_roots: Vec<(PathBuf, String)>,
}

impl WatchHealth {
    /// One line for `dlpd status`, or `None` when everything is watched.
    pub fn summary(&self) -> Option<String> {
        let mut parts: Vec<String> = self
            .unwatched
            .iter()
            .map(|(cause, (n, first))| {
                let names: Vec<String> = first.iter().map(|p| p.display().to_string()).collect();
                format!(
                    "{n} directories not watched: {} (e.g. {})",
                    cause.fix(),
                    names.join(", ")
                )
            })
            .collect();
        for (root, why) in &self.missing_roots {
            parts.push(format!("root {} not watched: {why}", root.display()));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

pub(super) struct Setup {
    settings: WatchSettings,
    notify: Arc<Mutex<RecommendedWatcher>>,
    out: Sender<WatchEvent>,
    stop: Arc<AtomicBool>,
    health: Arc<Mutex<WatchHealth>>,
    beat: Beat,
    /// Directories that could not be watched, and why.
    unwatched: BTreeMap<PathBuf, Cause>,
    /// More unwatched directories than [`MAX_UNWATCHED`] were seen.
    unwatched_overflow: bool,
    /// Unwatched counts per cause as last logged.
    logged: BTreeMap<Cause, usize>,
    missing: Vec<PathBuf>,
    /// Every root, globbed ones' matches included, to tell a new match.
    known: BTreeSet<PathBuf>,
    /// The health summary last published, to tell the daemon of a change.
    published: Option<String>,
    watches: usize,
    watch_limit: Option<usize>,
    limit_warned: bool,
}

impl Setup {
    pub fn new(
        settings: WatchSettings,
        notify: Arc<Mutex<RecommendedWatcher>>,
        out: Sender<WatchEvent>,
        stop: Arc<AtomicBool>,
        health: Arc<Mutex<WatchHealth>>,
        beat: Beat,
    ) -> Setup {
        Setup {
            known: settings.roots.iter().cloned().collect(),
            published: None,
            settings,
            notify,
            out,
            stop,
            health,
            beat,
            unwatched: BTreeMap::new(),
            unwatched_overflow: false,
            logged: BTreeMap::new(),
            missing: Vec::new(),
            watches: 0,
            watch_limit: read_watch_limit(),
            limit_warned: false,
        }
    }

    pub fn run(mut self, rx: Receiver<Request>) {
        let mut last_retry = Instant::now();
        let mut last_missing = Instant::now();
        let mut last_glob = Instant::now();
        loop {
            self.beat.beat();
            let wait = self.next_wake([
                (!self.missing.is_empty()).then_some((last_missing, MISSING_EVERY)),
                (!self.settings.patterns.is_empty()).then_some((last_glob, GLOB_EVERY)),
                self.has_unwatched().then_some((last_retry, RETRY_EVERY)),
            ]);
            let got = match wait {
                Some(wait) => rx.recv_timeout(wait),
                None => {
                    // Nothing to check: asleep until asked (a stop is a request).
                    self.beat.park();
                    rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                }
            };
            self.beat.beat();
            let first = match got {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            let mut trees = BTreeSet::new();
            for request in first.into_iter().chain(rx.try_iter().take(BATCH)) {
                match request {
                    Request::Tree(dir) => {
                        trees.insert(dir);
                    }
                    other => {
                        // Keep the order: trees asked for before a Ready
                        // are done before it is answered.
                        if !self.trees(std::mem::take(&mut trees)) || !self.apply(other) {
                            return;
                        }
                    }
                }
            }
            if !self.trees(trees) || self.stop.load(Ordering::Relaxed) {
                return;
            }
            if !self.missing.is_empty() && last_missing.elapsed() >= MISSING_EVERY {
                last_missing = Instant::now();
                if !self.check_missing() {
                    return;
                }
            }
            if !self.settings.patterns.is_empty() && last_glob.elapsed() >= GLOB_EVERY {
                last_glob = Instant::now();
                if !self.check_patterns() {
                    return;
                }
            }
            let limit = read_watch_limit();
            let limit_changed = limit != self.watch_limit;
            if limit_changed {
                tracing::info!(from = ?self.watch_limit, to = ?limit, "the inotify watch limit changed; trying unwatched directories again");
                self.watch_limit = limit;
                self.limit_warned = false;
            }
            if (limit_changed || last_retry.elapsed() >= RETRY_EVERY) && self.has_unwatched() {
                last_retry = Instant::now();
                if !self.retry_all() {
                    return;
                }
            }
            if !self.publish() {
                return;
            }
        }
    }

    /// How long to sleep: until the first of the checks that have work is
    /// due (each as when it last ran and how often it runs); None when
    /// none has: nothing to check, nothing wakes.
    fn next_wake<const N: usize>(
        &self,
        checks: [Option<(Instant, Duration)>; N],
    ) -> Option<Duration> {
        checks
            .into_iter()
            .flatten()
            .map(|(last, every)| every.saturating_sub(last.elapsed()))
            .min()
            .map(|d| d.max(Duration::from_millis(10)))
    }

    /// Applies one request other than a tree; false when it is time to go.
    fn apply(&mut self, request: Request) -> bool {
        match request {
            Request::Root(root) => self.root(root),
            Request::Tree(dir) => return self.trees(BTreeSet::from([dir])),
            Request::AllRoots => {
                let roots = self.settings.roots.iter().cloned().collect();
                return self.trees(roots);
            }
            Request::Unblocked(dir) => {
                if !self.under(&dir).is_empty() {
                    return self.retry(&dir);
                }
            }
            Request::Retry => return self.retry_all(),
            Request::Ready(tx) => {
                self.report();
                let published = self.publish();
                let _ = tx.send(());
                return published;
            }
            Request::Stop => return false,
        }
        !self.stop.load(Ordering::Relaxed)
    }

    /// The unwatched directories at or under `dir` (a path sorts just
    /// before everything under it).
    fn under(&self, dir: &Path) -> Vec<PathBuf> {
        self.unwatched
            .range(dir.to_path_buf()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(dir))
            .cloned()
            .collect()
    }

    fn has_unwatched(&self) -> bool {
        !self.unwatched.is_empty() || self.unwatched_overflow
    }

    /// Watches each tree (skipping those inside another) and has the daemon
    /// walk it; false when the daemon is gone.
    fn trees(&mut self, trees: BTreeSet<PathBuf>) -> bool {
        let mut last: Option<PathBuf> = None;
        for dir in trees {
            // Sorted, so a tree's subdirectories follow it.
            if last.as_ref().is_some_and(|l| dir.starts_with(l)) {
                continue;
            }
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            if !self.settings.reached_directly(&dir) {
                tracing::warn!(dir = %dir.display(), "not watched: a symlink now stands in its path below the root (follow_symlinks is off)");
                continue;
            }
            self.watch_tree(&dir);
            if !deliver(
                &self.out,
                WatchEvent::Rescan(dir.clone()),
                &self.stop,
                &self.beat,
            ) {
                return false;
            }
            last = Some(dir);
        }
        self.report();
        true
    }

    fn root(&mut self, root: PathBuf) {
        match root_state(&root) {
            Ok(()) => self.watch_tree(&root),
            Err(why) => {
                tracing::warn!(root = %root.display(), "watch root {why}; it is watched as soon as it can be");
                self.missing.push(root);
            }
        }
    }

    /// Tries `dir`'s unwatched directories again, and walks it if any
    /// became watchable.
    fn retry(&mut self, dir: &Path) -> bool {
        let before = self.unwatched.len();
        let stale = self.under(dir);
        for p in &stale {
            self.unwatched.remove(p);
        }
        let mut tops: BTreeSet<PathBuf> = BTreeSet::new();
        for p in stale {
            if !tops.iter().any(|t| p.starts_with(t)) {
                tops.insert(p);
            }
        }
        let mut gained = Vec::new();
        for top in tops {
            self.watch_tree(&top);
            if !self.unwatched.contains_key(&top) {
                gained.push(top);
            }
        }
        if !gained.is_empty() {
            tracing::info!(
                directories = before.saturating_sub(self.unwatched.len()),
                "directories that could not be watched are watched now; walking them for what was missed"
            );
        }
        for dir in gained {
            if !deliver(&self.out, WatchEvent::Rescan(dir), &self.stop, &self.beat) {
                return false;
            }
        }
        self.report();
        true
    }

    fn retry_all(&mut self) -> bool {
        if std::mem::take(&mut self.unwatched_overflow) {
            // Too many to have been kept: go over the roots again.
            let roots = self.settings.roots.clone();
            return self.trees(roots.into_iter().collect());
        }
        let tops: Vec<PathBuf> = self.settings.roots.clone();
        tops.iter().all(|r| self.retry(r))
    }

    /// Watches `dir` and every wanted directory under it.
    fn watch_tree(&mut self, dir: &Path) {
        let walker = walkdir::WalkDir::new(dir)
            .follow_links(self.settings.follow_symlinks)
            .into_iter();
        let settings = self.settings.clone();
        for entry in
            walker.filter_entry(|e| !e.file_type().is_dir() || settings.wanted(e.path(), true))
        {
            self.beat.beat();
            if self.stop.load(Ordering::Relaxed) {
                return;
            }
            match entry {
                Ok(e) if e.file_type().is_dir() => {
                    let res = self
                        .notify
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .watch(e.path(), RecursiveMode::NonRecursive);
                    match res {
                        Ok(()) => {
                            self.unwatched.remove(e.path());
                            self.watch_added();
                        }
                        Err(err) => self.unwatchable(e.path(), classify(&err)),
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    let Some(path) = err.path().map(Path::to_path_buf) else {
                        continue;
                    };
                    let cause = match err.io_error().map(std::io::Error::kind) {
                        Some(std::io::ErrorKind::PermissionDenied) => Some(Cause::Permission),
                        Some(std::io::ErrorKind::NotFound) => None,
                        _ => Some(Cause::Error),
                    };
                    // A directory that could not be listed may hold more
                    // directories: it is tried again like an unwatched one.
                    if let Some(cause) = cause
                        && path.is_dir()
                    {
                        self.unwatchable(&path, Some(cause));
                    } else if let Some(cause) = cause {
                        tracing::warn!(path = %path.display(), "cannot watch: {err} ({cause:?})");
                    }
                }
            }
        }
    }

    fn unwatchable(&mut self, path: &Path, cause: Option<Cause>) {
        // Gone since it was listed: nothing to watch.
        let Some(cause) = cause else { return };
        if self.unwatched.len() >= MAX_UNWATCHED && !self.unwatched.contains_key(path) {
            self.unwatched_overflow = true;
            return;
        }
        self.unwatched.insert(path.to_path_buf(), cause);
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

    /// One ERROR line per cause whose count grew, naming the first few
    /// directories and the fix.
    fn report(&mut self) {
        let counts = self.by_cause();
        for (cause, (n, first)) in &counts {
            if self.logged.get(cause).is_some_and(|&was| was >= *n) {
                continue;
            }
            let names: Vec<String> = first.iter().map(|p| p.display().to_string()).collect();
            tracing::error!(
                directories = n,
                first = %names.join(", "),
                "directories not watched, so changes there are missed: {}; they are tried again every {}s",
                cause.fix(),
                RETRY_EVERY.as_secs()
            );
        }
        self.logged = counts.iter().map(|(c, (n, _))| (*c, *n)).collect();
    }

    fn by_cause(&self) -> BTreeMap<Cause, (usize, Vec<PathBuf>)> {
        let mut counts: BTreeMap<Cause, (usize, Vec<PathBuf>)> = BTreeMap::new();
        for (path, cause) in &self.unwatched {
            let entry = counts.entry(*cause).or_default();
            entry.0 += 1;
            if entry.1.len() < NAMED {
                entry.1.push(path.clone());
            }
        }
        counts
    }

    fn publish(&mut self) -> bool {
        let health = WatchHealth {
            watches: self.watches,
            unwatched: self.by_cause(),
            missing_roots: self
                .missing
                .iter()
                .map(|r| (r.clone(), root_state(r).err().unwrap_or_default()))
                .collect(),
        };
        let summary = health.summary();
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
        if summary == self.published {
            return true;
        }
        self.published = summary;
        // Never waits: a full channel means a busy keeper, which checks
        // health every second anyway (and at start nobody reads it yet).
        !matches!(
            self.out.try_send(WatchEvent::HealthChanged),
            Err(crossbeam_channel::TrySendError::Disconnected(_))
        )
    }

    /// Watches, and has the daemon walk, directories that match a globbed
    /// root and are not watched yet; false when the daemon is gone.
    fn check_patterns(&mut self) -> bool {
        for pattern in self.settings.patterns.clone() {
            for root in roots::new_matches(&pattern, &mut self.known) {
                tracing::info!(root = %root.display(), pattern = %pattern.display(), "a new directory matches a watch root; watching it");
                self.settings.roots.push(root.clone());
                self.watch_tree(&root);
                if !deliver(&self.out, WatchEvent::Rescan(root), &self.stop, &self.beat) {
                    return false;
                }
            }
        }
        self.report();
        true
    }

    /// Picks up roots that have appeared (or became enterable) since
    /// start; false when the daemon is gone.
    fn check_missing(&mut self) -> bool {
        let (found, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.missing)
            .into_iter()
            .partition(|r| root_state(r).is_ok());
        self.missing = still;
        for root in found {
            tracing::info!(root = %root.display(), "watch root can be watched now; watching it");
            self.watch_tree(&root);
            if !deliver(&self.out, WatchEvent::Rescan(root), &self.stop, &self.beat) {
                return false;
            }
        }
        true
    }
}

/// Whether a root can be watched now; if not, why, in words.
fn root_state(root: &Path) -> Result<(), String> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => match std::fs::read_dir(root) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(
                "cannot be read: permission denied; give dlpd's user read and search permission".into(),
            ),
            Err(e) => Err(format!("cannot be read: {e}")),
        },
        Ok(_) => Err("is not a directory".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err("does not exist yet".into()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(
            "cannot be entered: permission denied on it or a parent; give dlpd's user search permission".into(),
        ),
        Err(e) => Err(format!("cannot be checked: {e}")),
    }
}

fn classify(e: &notify::Error) -> Option<Cause> {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(Cause::Limit),
        notify::ErrorKind::PathNotFound => None,
        notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => None,
        notify::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::PermissionDenied => {
            Some(Cause::Permission)
        }
        _ => Some(Cause::Error),
    }
}

/// The inotify watch limit (`fs.inotify.max_user_watches`), where there is one.
pub fn read_watch_limit() -> Option<usize> {
    std::fs::read_to_string(WATCH_LIMIT)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// True when `used` watches are 90% or more of `limit`.
pub fn near_limit(used: usize, limit: usize) -> bool {
    used * 10 >= limit * 9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_limit_warning_comes_at_ninety_percent() {
        assert!(!near_limit(8, 10));
        assert!(near_limit(9, 10));
        assert!(!near_limit(172_000, 192_536));
        assert!(near_limit(173_283, 192_536));
    }

    #[test]
    fn a_root_that_cannot_be_entered_is_not_called_missing() {
        assert_eq!(
            root_state(Path::new("/nonexistent/dlpd-test")).unwrap_err(),
            "does not exist yet"
        );
        let f = tempfile::NamedTempFile::new().unwrap();
        assert_eq!(root_state(f.path()).unwrap_err(), "is not a directory");
    }
}
