//! Where notify's reader thread hands over raw events. It must never wait
//! (the thread that adds watches waits on that reader), so the channel is
//! tried, not sent to: when it is full, the event's directory goes into a
//! small set instead, and the debouncer rescans those directories. Past
//! [`MAX_DIRS`] directories the set gives way to "rescan every root".
//! Either way the loss is counted and logged, never silent.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use notify::Event;

/// Raw events buffered between notify's reader and the debouncer.
const RAW_EVENTS: usize = 4096;
/// Directories remembered for a rescan before it becomes "every root".
const MAX_DIRS: usize = 1024;

/// Directories whose events could not be delivered.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Overflow {
    /// Rescan these directories.
    pub dirs: HashSet<PathBuf>,
    /// Rescan every root.
    pub all: bool,
    /// Events that were coalesced.
    pub events: u64,
}

/// notify's side of the hand-over.
pub struct Intake {
    tx: Sender<notify::Result<Event>>,
    shared: Arc<Shared>,
}

/// The debouncer's side.
pub struct Events {
    pub rx: Receiver<notify::Result<Event>>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    overflowed: AtomicBool,
    overflow: Mutex<Overflow>,
    total: AtomicU64,
}

impl Intake {
    pub fn new() -> (Intake, Events) {
        let (tx, rx) = crossbeam_channel::bounded(RAW_EVENTS);
        let shared = Arc::new(Shared::default());
        (
            Intake {
                tx,
                shared: shared.clone(),
            },
            Events { rx, shared },
        )
    }

    /// Hands over one event without ever blocking.
    pub fn push(&self, event: notify::Result<Event>) {
        let event = match self.tx.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => return,
            Err(TrySendError::Full(event)) => event,
        };
        let mut o = self
            .shared
            .overflow
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        o.events += 1;
        match &event {
            Ok(e) if !e.paths.is_empty() && !o.all => {
                for p in &e.paths {
                    // The directory holding the change; watching it again
                    // also picks up a subdirectory created unseen.
                    o.dirs.insert(p.parent().unwrap_or(p).to_path_buf());
                }
                if o.dirs.len() > MAX_DIRS {
                    o.dirs.clear();
                    o.all = true;
                }
            }
            Ok(e) if !e.paths.is_empty() => {}
            // No path (a kernel queue overflow), or an error: everything.
            _ => {
                o.dirs.clear();
                o.all = true;
            }
        }
        self.shared.overflowed.store(true, Ordering::Release);
        drop(o);
        // The debouncer may have drained the channel and gone to sleep
        // since the send failed: wake it (an event of no kind, which it
        // ignores) so it takes the overflow. Still full: it is awake.
        let _ = self.tx.try_send(Ok(Event::new(notify::EventKind::Other)));
    }
}

impl Events {
    /// What was coalesced since the last call, if anything.
    pub fn take_overflow(&self) -> Option<Overflow> {
        if !self.shared.overflowed.swap(false, Ordering::Acquire) {
            return None;
        }
        let o = std::mem::take(
            &mut *self
                .shared
                .overflow
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let total = self.shared.total.fetch_add(o.events, Ordering::Relaxed) + o.events;
        tracing::warn!(
            events = o.events,
            total,
            directories = o.dirs.len(),
            all_roots = o.all,
            "the watcher fell behind; events were coalesced and their directories are rescanned"
        );
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::EventKind;
    use notify::event::{CreateKind, Flag};

    #[test]
    fn a_full_channel_never_blocks_and_remembers_the_directories() {
        let (intake, events) = Intake::new();
        let ev = |p: &str| {
            Ok(Event::new(EventKind::Create(CreateKind::File)).add_path(PathBuf::from(p)))
        };
        for i in 0..RAW_EVENTS {
            intake.push(ev(&format!("/r/a/{i}")));
        }
        assert_eq!(events.take_overflow(), None);
        intake.push(ev("/r/b/late"));
        intake.push(ev("/r/b/later"));
        let o = events.take_overflow().unwrap();
        assert_eq!(o.dirs, HashSet::from([PathBuf::from("/r/b")]));
        assert!(!o.all);
        assert_eq!(o.events, 2);
        // A kernel overflow (no path) means every root.
        intake.push(Ok(Event::new(EventKind::Other).set_flag(Flag::Rescan)));
        assert!(events.take_overflow().unwrap().all);
        // Too many directories: every root.
        for i in 0..=MAX_DIRS {
            intake.push(ev(&format!("/r/{i}/f")));
        }
        assert!(events.take_overflow().unwrap().all);
        assert_eq!(events.rx.len(), RAW_EVENTS);
    }
}
