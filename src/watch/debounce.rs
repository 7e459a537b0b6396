//! The debouncer: applies raw events, and reports each file once it has
//! been quiet for `debounce` with its size and mtime no longer moving, or
//! once it has been changing for `max_wait`. Directories that appear go to
//! the setup thread; it never waits for them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{RecvTimeoutError, Sender};
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};
use notify::{Event, EventKind};

use super::intake::{Events, Overflow};
use super::setup::Request;
use super::{WatchEvent, WatchSettings, deliver};
use crate::liveness::Beat;

/// The longest sleep while files are pending: a heartbeat for
/// [`crate::liveness`].
const LOOP_WAKE: Duration = Duration::from_secs(5);

/// What a path looked like at its last event.
struct Pending {
    /// The first change not yet reported: `max_wait` counts from here.
    first_event: Instant,
    last_event: Instant,
    seen: (u64, SystemTime),
}

pub(super) struct Debouncer {
    settings: WatchSettings,
    pending: HashMap<PathBuf, Pending>,
    out: Sender<WatchEvent>,
    setup: Sender<Request>,
    stop: Arc<AtomicBool>,
    beat: Beat,
    /// Set when the daemon stopped listening: time to go.
    closed: bool,
}

impl Debouncer {
    pub fn new(
        settings: WatchSettings,
        out: Sender<WatchEvent>,
        setup: Sender<Request>,
        stop: Arc<AtomicBool>,
        beat: Beat,
    ) -> Debouncer {
        Debouncer {
            settings,
            pending: HashMap::new(),
            out,
            setup,
            stop,
            beat,
            closed: false,
        }
    }

    pub fn run(mut self, events: Events) {
        while !self.closed && !self.stop.load(Ordering::Relaxed) {
            self.beat.beat();
            // Asleep until the next file is due; with none, until an event
            // comes (a stop closes the channel): nothing wakes at rest.
            let got = match self.next_due() {
                Some(wait) => events.rx.recv_timeout(wait),
                None => {
                    self.beat.park();
                    events.rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
                }
            };
            self.beat.beat();
            match got {
                Ok(Ok(event)) => self.handle(event),
                Ok(Err(e)) => tracing::warn!(paths = ?e.paths, "watch error: {e}"),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            // Drain what else is there before settling, a batch at a time.
            for event in events.rx.try_iter().take(1024) {
                match event {
                    Ok(event) => self.handle(event),
                    Err(e) => tracing::warn!(paths = ?e.paths, "watch error: {e}"),
                }
            }
            if let Some(overflow) = events.take_overflow() {
                self.rescan(overflow);
            }
            self.settle();
        }
    }

    fn send(&mut self, e: WatchEvent) {
        if !deliver(&self.out, e, &self.stop, &self.beat) {
            self.closed = true;
        }
    }

    /// Directories whose events were coalesced: watched again (a new
    /// subdirectory among them gets its watch) and walked by the daemon.
    fn rescan(&mut self, overflow: Overflow) {
        if overflow.all {
            // The setup thread knows the roots globs have added since.
            let _ = self.setup.send(Request::AllRoots);
            return;
        }
        for dir in overflow.dirs {
            let _ = self.setup.send(Request::Tree(dir));
        }
    }

    /// Applies one raw event.
    pub(super) fn handle(&mut self, event: Event) {
        if event.need_rescan() {
            tracing::warn!(
                "filesystem events were lost (kernel queue overflow); rescanning every root"
            );
            self.rescan(Overflow {
                all: true,
                ..Overflow::default()
            });
            return;
        }
        match event.kind {
            // Not asked for (see `spawn`); were they reported, they would
            // be reads, dlpd's own among them, and must not cause scans.
            EventKind::Access(AccessKind::Open(_))
            | EventKind::Access(AccessKind::Close(AccessMode::Read)) => {}
            EventKind::Create(CreateKind::Folder) => {
                for p in &event.paths {
                    self.directory(p);
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
            // A chmod or chown may make an unreadable file or directory
            // readable: look again.
            EventKind::Modify(ModifyKind::Metadata(_)) => {
                for p in &event.paths {
                    if p.is_dir() {
                        let _ = self.setup.send(Request::Unblocked(p.clone()));
                    } else {
                        self.touch(p);
                    }
                }
            }
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
            self.directory(path);
        } else {
            self.touch(path);
        }
    }

    /// A directory appeared: the setup thread watches it, then asks the
    /// daemon to walk it for files created before its watch was in place.
    fn directory(&mut self, path: &Path) {
        if self.settings.wanted(path, true) {
            let _ = self.setup.send(Request::Tree(path.to_path_buf()));
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
        let now = Instant::now();
        self.pending
            .entry(path.to_path_buf())
            .and_modify(|p| {
                p.last_event = now;
                p.seen = seen;
            })
            .or_insert(Pending {
                first_event: now,
                last_event: now,
                seen,
            });
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

    /// How long until the earliest pending path may be due (at least a
    /// millisecond, at most [`LOOP_WAKE`]); None with none pending.
    fn next_due(&self) -> Option<Duration> {
        let (debounce, max_wait) = (self.settings.debounce, self.settings.max_wait);
        let due = self
            .pending
            .values()
            .map(|p| (p.last_event + debounce).min(p.first_event + max_wait))
            .min()?;
        Some(
            due.saturating_duration_since(Instant::now())
                .clamp(Duration::from_millis(1), LOOP_WAKE),
        )
    }

    /// Reports the paths that have been quiet and stable for `debounce`,
    /// and those that have been changing for `max_wait`.
    fn settle(&mut self) {
        let now = Instant::now();
        let (debounce, max_wait) = (self.settings.debounce, self.settings.max_wait);
        let due: Vec<PathBuf> = self
            .pending
            .iter()
            .filter(|(_, p)| {
                now.duration_since(p.last_event) >= debounce
                    || now.duration_since(p.first_event) >= max_wait
            })
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
            let quiet = now.duration_since(p.last_event) >= debounce;
            if quiet && current == p.seen {
                self.pending.remove(&path);
                self.send(WatchEvent::Settled(path));
            } else if now.duration_since(p.first_event) >= max_wait {
                // Still changing after max_wait: scan what it holds now,
                // and again once it settles.
                p.first_event = now;
                p.seen = current;
                self.send(WatchEvent::Settled(path));
            } else {
                // Still changing without events (or mtime granularity): wait again.
                p.seen = current;
                p.last_event = now;
            }
        }
    }
}
