//! Is every thread of the daemon still making progress? A daemon that
//! looks up but has a stuck watcher is blind, so each long-lived thread
//! holds a [`Beat`] and advances it as it goes round its loop (or marks
//! itself busy around one piece of work); [`Liveness::stuck`] names the
//! threads that stopped. The keeper pings the systemd watchdog and answers
//! `/healthz` only while nothing is stuck.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a looping thread may go without a beat.
pub const LOOP_LIMIT: Duration = Duration::from_secs(30);
/// How long one piece of work (one file's scan or upload) may take.
pub const WORK_LIMIT: Duration = Duration::from_secs(300);

/// A looping thread's mark while it waits for work: see [`Beat::park`].
const PARKED: u64 = u64::MAX;

/// Every registered thread's heartbeat.
#[derive(Clone, Default)]
pub struct Liveness {
    beats: Arc<Mutex<Vec<Arc<Heart>>>>,
    epoch: Arc<EpochCell>,
}

struct EpochCell(Instant);

impl Default for EpochCell {
    fn default() -> Self {
        EpochCell(Instant::now())
    }
}

struct Heart {
    name: String,
    /// Looping threads: milliseconds since the epoch at the last beat.
    /// Working threads: when the current piece of work began, or 0 idle.
    at: AtomicU64,
    limit: Duration,
    looping: bool,
}

/// One thread's heartbeat. Dropping it unregisters the thread: a thread
/// that ended on purpose is not stuck.
pub struct Beat {
    heart: Arc<Heart>,
    epoch: Arc<EpochCell>,
    beats: Arc<Mutex<Vec<Arc<Heart>>>>,
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness::default()
    }

    /// A thread that goes round a loop and calls [`Beat::beat`] each time.
    pub fn looping(&self, name: impl Into<String>) -> Beat {
        self.register(name.into(), true, LOOP_LIMIT)
    }

    /// A thread that waits for work and brackets each piece with
    /// [`Beat::busy`] and [`Beat::idle`]; waiting is never stuck.
    pub fn working(&self, name: impl Into<String>) -> Beat {
        self.register(name.into(), false, WORK_LIMIT)
    }

    fn register(&self, name: String, looping: bool, limit: Duration) -> Beat {
        let heart = Arc::new(Heart {
            name,
            at: AtomicU64::new(0),
            limit,
            looping,
        });
        let beat = Beat {
            heart: heart.clone(),
            epoch: self.epoch.clone(),
            beats: self.beats.clone(),
        };
        if looping {
            beat.beat();
        }
        self.beats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(heart);
        beat
    }

    /// The threads that have not made progress within their limit, with
    /// how long they have been silent (or busy).
    pub fn stuck(&self) -> Vec<(String, Duration)> {
        let now = self.epoch.0.elapsed().as_millis() as u64;
        let beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats
            .iter()
            .filter_map(|h| {
                let at = h.at.load(Ordering::Relaxed);
                if (!h.looping && at == 0) || at == PARKED {
                    return None;
                }
                let quiet = Duration::from_millis(now.saturating_sub(at));
                (quiet > h.limit).then(|| (h.name.clone(), quiet))
            })
            .collect()
    }

    /// One line naming the stuck threads, or `None` when all is well.
    pub fn problem(&self) -> Option<String> {
        let stuck = self.stuck();
        if stuck.is_empty() {
            return None;
        }
        let names: Vec<String> = stuck
            .iter()
            .map(|(n, d)| format!("{n} (no progress for {}s)", d.as_secs()))
            .collect();
        Some(format!("stuck: {}", names.join(", ")))
    }
}

impl Beat {
    /// A looping thread went round once more.
    pub fn beat(&self) {
        self.heart.at.store(self.now(), Ordering::Relaxed);
    }

    /// A looping thread waits for work that may not come for a long time
    /// (nothing happens on the disk): it is not stuck while it waits, and
    /// need not wake to say so. Its next [`Beat::beat`] ends the wait.
    pub fn park(&self) {
        self.heart.at.store(PARKED, Ordering::Relaxed);
    }

    /// A working thread started a piece of work.
    pub fn busy(&self) {
        self.heart.at.store(self.now().max(1), Ordering::Relaxed);
    }

    /// A working thread finished its piece of work.
    pub fn idle(&self) {
        self.heart.at.store(0, Ordering::Relaxed);
    }

    fn now(&self) -> u64 {
        self.epoch.0.elapsed().as_millis() as u64
    }
}

impl Drop for Beat {
    fn drop(&mut self) {
        self.beats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|h| !Arc::ptr_eq(h, &self.heart));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_silent_past_its_limit_is_stuck_and_an_idle_worker_is_not() {
        let live = Liveness::new();
        let lp = live.register("loop".into(), true, Duration::from_millis(20));
        let worker = live.register("worker".into(), false, Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(live.stuck().len(), 1, "the idle worker is not stuck");
        lp.park();
        assert!(
            live.stuck().is_empty(),
            "a parked loop is waiting, not stuck"
        );
        lp.beat();
        assert!(live.problem().is_none());
        worker.busy();
        std::thread::sleep(Duration::from_millis(40));
        lp.beat();
        let problem = live.problem().unwrap();
        assert!(problem.contains("worker"), "{problem}");
        worker.idle();
        drop(lp);
        std::thread::sleep(Duration::from_millis(40));
        assert!(live.problem().is_none(), "a thread that ended is not stuck");
    }
}
