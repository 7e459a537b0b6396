//! What keeps the daemon from going blind unnoticed: a store that refuses
//! writes (backoff, counted, noted), threads that stop making progress
//! (the watchdog and `dlpd status`), and files given up for lack of
//! permission, which are tried again until they can be read.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use super::keeper::Keeper;
use crate::store::StoreError;
use crate::watch::WatchEvent;

/// Longest wait between attempts on a failing store.
const TROUBLE_MAX_WAIT: Duration = Duration::from_secs(30);
/// How often health is checked and noted.
pub(super) const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// How often files that could not be read are tried again. A chmod is
/// seen at once (an attribute event); this catches what sends no event on
/// the file: an ACL or group change, a restart after the fix, a lost event.
const RECHECK_EVERY: Duration = Duration::from_secs(30);
/// Most unreadable files looked at per round; the next round goes on
/// from where this one stopped.
const RECHECK_BATCH: usize = 1000;

/// A store that refuses writes: since when, how often, and when to try again.
pub(super) struct Trouble {
    pub failures: u32,
    pub retry_at: Instant,
    pub last: String,
}

/// Where the recheck of unreadable files stands.
#[derive(Default)]
pub(super) struct Recheck {
    /// When it last ran; `None` before the first time (due at once:
    /// files given up before a restart may be readable now).
    pub at: Option<Instant>,
    /// The last row looked at; 0 to start from the first.
    pub after: i64,
}

impl Keeper {
    /// A store write failed: log and count it, and try again later.
    pub(super) fn store_failed(&mut self, e: StoreError) {
        let t = self.trouble.get_or_insert(Trouble {
            failures: 0,
            retry_at: Instant::now(),
            last: String::new(),
        });
        t.failures += 1;
        self.counters.store_errors += 1;
        let wait =
            crate::backoff::jittered(Duration::from_millis(250), TROUBLE_MAX_WAIT, t.failures - 1);
        t.retry_at = Instant::now() + wait;
        t.last = e.to_string();
        tracing::error!(
            failures = t.failures,
            retry_in_ms = wait.as_millis() as u64,
            "the store refused a write: {e}; intake is paused and nothing is lost; trying again"
        );
    }

    pub(super) fn store_recovered(&mut self) {
        if let Some(t) = self.trouble.take() {
            tracing::warn!(
                failures = t.failures,
                "the store takes writes again; resuming (last failure: {})",
                t.last
            );
            let note = format!(
                "{} the store refused writes {} times, then recovered; last: {}",
                crate::report::rfc3339(SystemTime::now()),
                t.failures,
                t.last
            );
            self.note("daemon.last_error", &note);
        }
    }

    /// What is wrong now: stuck threads, a failing store.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.liveness.problem().into_iter().collect();
        if let Some(t) = &self.trouble {
            problems.push(format!(
                "the store refuses writes ({} failures): {}",
                t.failures, t.last
            ));
        }
        problems
    }

    /// Records a note for `dlpd status`. A note is not the work itself: if
    /// the store cannot take it, that is logged and counted, never fatal.
    pub fn note(&mut self, key: &str, value: &str) {
        if let Err(e) = self.store.set_meta(key, Some(value)) {
            self.notes_lost += 1;
            tracing::warn!(
                key,
                lost = self.notes_lost,
                "cannot record a status note: {e}"
            );
        }
    }

    /// Has the next [`Keeper::check_health`] run whenever it was last run.
    pub(super) fn health_due(&mut self) {
        self.health_noted.1 = Instant::now()
            .checked_sub(HEALTH_EVERY)
            .unwrap_or(self.health_noted.1);
    }

    /// Pings the watchdog only while nothing is stuck, and notes health
    /// changes (stuck threads, unwatched directories) for `dlpd status`.
    pub(super) fn check_health(&mut self) {
        // A due ping is not held back by the once-a-second gate.
        let ping_due = self.watchdog.until_next() == Some(Duration::ZERO);
        if self.health_noted.1.elapsed() < HEALTH_EVERY && !ping_due {
            return;
        }
        let problems = self.liveness.problem();
        if problems.is_none() {
            self.watchdog.tick();
        }
        let unwatched = self.watcher.as_ref().and_then(|w| w.health().summary());
        let health = [problems.clone(), unwatched]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        if health != self.health_noted.0 {
            // The watcher logs its own causes once each; the keeper logs
            // when threads stop making progress, and when they recover.
            let was_stuck = self.health_noted.0.starts_with("stuck:");
            match &problems {
                Some(p) if !was_stuck => tracing::error!("daemon health: {p}"),
                None if was_stuck => {
                    tracing::info!("daemon health: every thread makes progress again")
                }
                _ => {}
            }
            let value = (!health.is_empty()).then_some(health.as_str());
            if self.store.set_meta("daemon.health", value).is_ok() {
                self.health_noted.0 = health.clone();
            }
        }
        self.note_health_event(&health);
        self.health_noted.1 = Instant::now();
    }

    /// Queues the files given up for lack of permission that can now be
    /// opened. Runs every [`RECHECK_EVERY`], at start and after a reload
    /// (`due` true).
    pub(super) fn recheck_unreadable(&mut self, due: bool) {
        let due = due
            || self
                .unreadable
                .at
                .is_none_or(|t| t.elapsed() >= RECHECK_EVERY);
        if self.trouble.is_some() || !due {
            return;
        }
        self.unreadable.at = Some(Instant::now());
        let rows = match self
            .store
            .unreadable_files(self.unreadable.after, RECHECK_BATCH)
        {
            Ok(rows) => rows,
            Err(e) => return self.store_failed(e),
        };
        self.unreadable.after = match rows.len() {
            n if n == RECHECK_BATCH => rows[n - 1].0,
            _ => 0,
        };
        let readable: Vec<PathBuf> = rows
            .into_iter()
            .map(|(_, path)| path)
            .filter(|path| crate::engine::open_regular(path).is_ok())
            .collect();
        if !readable.is_empty() {
            tracing::info!(
                files = readable.len(),
                "files that could not be read can be now; queued"
            );
        }
        self.backlog
            .watch
            .extend(readable.into_iter().map(WatchEvent::Settled));
    }
}
