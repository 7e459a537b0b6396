//! The keeper: the one thread that owns the store. It selects on what
//! arrives (settled files from the watcher, files from the walker, results
//! from the workers, messages from the network side), applies each batch in
//! a few transactions, and hands due jobs to idle workers. The decisions
//! about Nightfall results are made in `crate::nightfall::results`; the
//! keeper only carries them out.
//!
//! A store that refuses a write (a full disk, a read-only or failing
//! filesystem) is not fatal: what arrived stays in the keeper's backlog,
//! each piece removed only once the store took it; intake and dispatch
//! pause; the keeper tries again with backoff, logs and counts each
//! failure, reports it on `/healthz`, and resumes by itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, never, select};

use super::Control;
use super::GRACE;
use super::health::{Recheck, Trouble};
use super::snapshot::Shared;
use super::walk::{Seen, Walk};
use super::worker::Done;
use crate::finding::{FileReport, Outcome};
use crate::liveness::{Beat, Liveness};
use crate::nightfall::{Decision, Message, Results};
use crate::readiness::Watchdog;
use crate::remediation::{Remediator, summary};
use crate::store::{Changed, Job, JobId, Queued, Store, StoreError};
use crate::watch::{WatchEvent, WatchSettings, Watcher};

/// Most messages taken from the intake channels per batch.
pub(super) const BATCH: usize = 1024;
/// The longest a result waits for others to be recorded with it.
const GATHER: Duration = Duration::from_millis(5);
/// How long rows may wait for the CSV while more results are coming: each
/// append is synced, and a sync per batch was a third of a burst's time.
/// (The rows wait in SQLite, marked pending; a crash loses none.)
const CSV_EVERY: Duration = Duration::from_millis(250);
/// How often baseline progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);
/// How long after its last record the keeper gives memory back.
const QUIET: Duration = Duration::from_secs(2);
/// The longest the keeper sleeps with nothing due: how often the other
/// threads' liveness is checked at rest (within their own limit).
const IDLE_WAKE: Duration = Duration::from_secs(20);

/// Counts for the baseline's progress lines.
#[derive(Default)]
pub(super) struct Progress {
    /// Walks not yet complete.
    pub walks_pending: usize,
    /// Files the walk in progress found new or changed (one walker thread
    /// walks one tree at a time, so its files arrive together).
    pub walk_changed: u64,
    pub queued: u64,
    pub stored: u64,
    /// Files the walker has seen.
    pub walked: Arc<AtomicU64>,
}

/// The keeper's state between batches.
pub(super) struct Keeper {
    pub store: Store,
    pub snapshot: Shared,
    pub engine: &'static str,
    /// Paths waiting for room in the queue (at most one batch).
    pub deferred: VecDeque<Queued>,
    /// Changed files a walk found, waiting for a free worker (at most one
    /// batch): they take no queue room until then (see `store::walked`).
    pub changed: VecDeque<Changed>,
    /// Jobs handed to workers and not yet back.
    pub in_flight: usize,
    /// Most jobs handed out at once.
    pub slots: usize,
    pub progress: Progress,
    /// Settled, removed and rescan events from the watcher.
    pub watch_rx: Receiver<WatchEvent>,
    /// Files the walker saw.
    pub seen_rx: Receiver<Seen>,
    /// Results from the workers.
    pub done_rx: Receiver<Done>,
    /// Directories for the walker, with the filters to walk them with.
    pub walk_tx: Sender<Walk>,
    /// Jobs for the workers; `None` once stopping.
    pub job_tx: Option<Sender<Job>>,
    /// Uploads, results and health checks from the network side.
    pub msg_rx: Receiver<Message>,
    /// The Nightfall result protocol's state, with Nightfall.
    pub results: Option<Results>,
    pub overdue_checked: Instant,
    /// Alerts and quarantine for files with findings.
    pub remediator: Remediator,
    /// The watcher's filters, also used for walks.
    pub settings: Arc<WatchSettings>,
    /// `None` once stopping.
    pub watcher: Option<Watcher>,
    /// Kept to start a new watcher on reload.
    pub watch_tx: Sender<WatchEvent>,
    pub watchdog: Watchdog,
    /// Notes (`daemon.last_error`) the store could not take.
    pub notes_lost: u64,
    /// Every thread's heartbeat; the keeper's own is `beat`.
    pub liveness: Liveness,
    pub beat: Beat,
    /// What arrived and is not yet applied; kept across store failures.
    pub backlog: Batch,
    /// Set while the store refuses writes.
    pub trouble: Option<Trouble>,
    /// What `GET /metrics` counts.
    pub counters: super::metrics::Counters,
    /// Files given up for lack of permission: when last tried again.
    pub unreadable: Recheck,
    /// Since when rows stored in SQLite wait to be appended to the CSV.
    pub csv_behind: Option<Instant>,
    /// The health last written for `dlpd status`, and when it was checked.
    pub health_noted: (String, Instant),
    /// When results were last recorded, until the memory is given back.
    pub recorded_at: Option<Instant>,
    /// Behaviour baselines, when on.
    pub monitor: Option<super::monitor::Monitor>,
    /// Which places are cloud-sync folders or removable media.
    pub exposure: crate::exposure::Exposures,
    /// The event outbox's consumers, when on.
    pub outbound: Option<super::outbound::Outbound>,
}

/// What arrived and is not yet applied.
#[derive(Default)]
pub(super) struct Batch {
    done: VecDeque<Done>,
    pub(super) msgs: VecDeque<Message>,
    pub(super) watch: VecDeque<WatchEvent>,
    seen: VecDeque<Seen>,
    /// Nightfall decisions not yet carried out.
    pub(super) decisions: VecDeque<Decision>,
}

impl Keeper {
    /// Runs until `control` says stop. A store error does not end it (see
    /// the module header).
    pub fn serve(&mut self, control: &Receiver<Control>) -> Result<(), StoreError> {
        let mut last_progress = Instant::now();
        loop {
            self.beat.beat();
            self.check_health();
            if self.trouble.is_none()
                && let Err(e) = self.dispatch()
            {
                self.store_failed(e);
            }
            // A full queue, or a failing store, stops intake: the watcher
            // and walker wait. So do walked files no worker is free for.
            let accepting = self.deferred.is_empty() && self.trouble.is_none();
            let walking = accepting && self.changed.len() < BATCH;
            let w = if accepting {
                self.watch_rx.clone()
            } else {
                never()
            };
            let s = if walking {
                self.seen_rx.clone()
            } else {
                never()
            };
            self.release_when_quiet();
            let timeout = self.next_wakeup();
            let m = self.msg_rx.clone();
            let backlog = &mut self.backlog;
            select! {
                recv(control) -> c => match c {
                    Ok(Control::Reload(config)) => self.reload(*config),
                    Ok(Control::Stop) | Err(_) => return Ok(()),
                },
                recv(m) -> msg => if let Ok(msg) = msg { backlog.msgs.push_back(msg) },
                recv(self.done_rx) -> d => if let Ok(d) = d { backlog.done.push_back(d) },
                recv(w) -> e => if let Ok(e) = e { backlog.watch.push_back(e) },
                recv(s) -> x => if let Ok(x) = x { backlog.seen.push_back(x) },
                default(timeout) => {}
            }
            self.backlog.done.extend(self.done_rx.try_iter());
            self.gather_results();
            self.backlog.msgs.extend(self.msg_rx.try_iter());
            if accepting {
                self.backlog
                    .watch
                    .extend(self.watch_rx.try_iter().take(BATCH));
            }
            if walking {
                let room = BATCH - self.changed.len();
                self.backlog.seen.extend(self.seen_rx.try_iter().take(room));
            }
            if self
                .trouble
                .as_ref()
                .is_none_or(|t| Instant::now() >= t.retry_at)
            {
                match self.apply().and_then(|()| self.resubmit_overdue()) {
                    Ok(()) => self.store_recovered(),
                    Err(e) => self.store_failed(e),
                }
            }
            self.recheck_unreadable(false);
            if self.progress.walks_pending > 0 && last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                tracing::info!(
                    seen = self.progress.walked.load(Ordering::Relaxed),
                    queued = self.progress.queued,
                    scanned = self.progress.stored,
                    "baseline scan in progress"
                );
            }
        }
    }

    /// Group commit: while more results are on their way, waits up to
    /// [`GATHER`] for a quarter of the slots' worth, so that one transaction
    /// records many files. A lone result (a file saved while
    /// the daemon was otherwise idle) is recorded at once.
    fn gather_results(&mut self) {
        let want = (self.slots / 4).min(self.in_flight);
        if self.backlog.done.is_empty() || self.trouble.is_some() {
            return;
        }
        let deadline = Instant::now() + GATHER;
        while self.backlog.done.len() < want {
            match self.done_rx.recv_deadline(deadline) {
                Ok(d) => self.backlog.done.push_back(d),
                Err(_) => break,
            }
        }
    }

    /// How long until the CSV is due an append: at once when nothing more
    /// is in flight, else [`CSV_EVERY`] after the oldest waiting row.
    fn csv_due(&self) -> Option<Duration> {
        let since = self.csv_behind?;
        Some(match self.in_flight {
            0 => Duration::ZERO,
            _ => CSV_EVERY.saturating_sub(since.elapsed()),
        })
    }

    /// Once nothing is in flight or waiting, and nothing was recorded for
    /// [`QUIET`], the memory the work took goes back to the system.
    fn release_when_quiet(&mut self) {
        let Some(at) = self.recorded_at else { return };
        if self.at_rest() && at.elapsed() >= QUIET {
            self.store.release_memory();
            crate::heap::resting();
            self.recorded_at = None;
        }
    }

    /// Nothing in flight, waiting to be queued, or being walked.
    fn at_rest(&self) -> bool {
        self.in_flight == 0
            && self.deferred.is_empty()
            && self.changed.is_empty()
            && self.progress.walks_pending == 0
    }

    /// How long to wait for messages: until the next backed-off job is due,
    /// the next try on a failing store, or the watchdog's next ping; at rest
    /// [`IDLE_WAKE`] (once a second while Nightfall results are awaited).
    fn next_wakeup(&self) -> Duration {
        let idle = match self.results {
            Some(_) => Duration::from_secs(1),
            None => IDLE_WAKE,
        };
        // The watchdog's next ping; not sooner than 100 ms, for while a
        // stuck thread withholds pings (systemd then restarts dlpd).
        let idle = self
            .watchdog
            .until_next()
            .map_or(idle, |w| w.max(Duration::from_millis(100)).min(idle));
        // (Not while the store fails: the retry below says when.)
        let idle = match self.trouble {
            None => [
                self.csv_due(),
                self.interval_due(),
                self.health_event_wait(),
            ]
            .into_iter()
            .flatten()
            .fold(idle, Duration::min),
            Some(_) => idle,
        };
        // And when the memory the last work took is due back.
        let idle = match self.recorded_at {
            Some(at) if self.at_rest() => QUIET.saturating_sub(at.elapsed()).min(idle),
            _ => idle,
        };
        if let Some(t) = &self.trouble {
            return t
                .retry_at
                .saturating_duration_since(Instant::now())
                .min(idle);
        }
        // With every slot taken, a due job waits for a result, which wakes
        // the keeper anyway.
        if self.in_flight >= self.slots {
            return idle;
        }
        match self.store.next_due() {
            Ok(Some(due)) => due
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(idle),
            _ => idle,
        }
    }

    /// Hands due jobs to idle workers: queued ones first (new events and
    /// retries), then files a walk found changed.
    fn dispatch(&mut self) -> Result<(), StoreError> {
        let free = self.slots.saturating_sub(self.in_flight);
        if self.job_tx.is_none() || free == 0 {
            return Ok(());
        }
        // Claimed jobs are running from the commit on: they are handed
        // out whatever happens next.
        let claimed = self.store.claim_batch(free, SystemTime::now())?;
        let room = free - claimed.len();
        self.hand_out(claimed);
        // Walked files go out a quarter of the slots at a time (or all that
        // are left, or one with fewer than four slots): each start is a
        // commit, and the workers still hold the rest of their share.
        let least = (self.slots / 4).min(self.changed.len()).max(1);
        if !self.changed.is_empty() && room >= least {
            let (walked, used) = self
                .store
                .start_walked(self.changed.make_contiguous(), room)?;
            self.changed.drain(..used);
            self.progress.queued += walked.len() as u64;
            self.hand_out(walked);
        }
        Ok(())
    }

    fn hand_out(&mut self, jobs: Vec<Job>) {
        let Some(job_tx) = self.job_tx.as_ref() else {
            return;
        };
        for job in jobs {
            // The channel holds `slots` jobs, so this never blocks.
            if job_tx.send(job).is_ok() {
                self.in_flight += 1;
            }
        }
    }

    /// Applies the backlog in order; each piece leaves it only once the
    /// store took it, so a failure part-way loses nothing and repeats
    /// nothing.
    fn apply(&mut self) -> Result<(), StoreError> {
        let capacity = self.snapshot.load().config.queue.capacity;
        while let Some(event) = self.backlog.watch.pop_front() {
            match event {
                WatchEvent::Settled(path) => self.deferred.push_back(Queued {
                    path,
                    baseline: false,
                }),
                WatchEvent::HealthChanged => self.health_due(),
                WatchEvent::Removed(p) => {
                    self.deferred.retain(|q| q.path != p);
                    self.changed.retain(|c| c.path != p);
                    if let Err(e) = self.store.cancel(&p).and_then(|_| self.store.mark_gone(&p)) {
                        self.backlog.watch.push_front(WatchEvent::Removed(p));
                        return Err(e);
                    }
                }
                WatchEvent::Rescan(dir) => {
                    let _ = self.walk_tx.send(Walk {
                        dir,
                        settings: self.settings.clone(),
                        baseline: false,
                    });
                }
                WatchEvent::MountsChanged => self.mounts_changed(),
            }
        }
        while let Some(seen) = self.backlog.seen.pop_front() {
            match seen {
                // Without a walk at start, only the queue makes a file found
                // by a rescan or a reload survive a restart.
                Seen::File(changed) if !self.snapshot.load().config.watch.scan_existing => {
                    self.deferred.push_back(Queued {
                        path: changed.path,
                        baseline: changed.baseline,
                    });
                    self.progress.walk_changed += 1;
                }
                Seen::File(changed) => {
                    self.changed.push_back(changed);
                    self.progress.walk_changed += 1;
                }
                Seen::Walked(root) => {
                    let changed = std::mem::take(&mut self.progress.walk_changed);
                    if self.progress.walks_pending > 0 {
                        self.progress.walks_pending -= 1;
                        tracing::info!(
                            root = %root.display(),
                            changed,
                            queued_total = self.progress.queued,
                            "walk complete"
                        );
                    } else {
                        tracing::debug!(dir = %root.display(), changed, "rescan complete");
                    }
                }
            }
        }
        // Finished jobs first: the room they leave in the queue is taken
        // now, not at the next wake (which may be a while off at rest).
        self.apply_done()?;
        if !self.deferred.is_empty() {
            let taken = self
                .store
                .enqueue_many(self.deferred.make_contiguous(), capacity)?;
            self.progress.queued += taken as u64;
            self.deferred.drain(..taken);
        }
        while let Some(msg) = self.backlog.msgs.pop_front() {
            self.handle(msg)?;
        }
        while let Some(decision) = self.backlog.decisions.pop_front() {
            let result = match &decision {
                Decision::Finish(job, report) => self.finish(vec![report.clone()], &[*job]),
                Decision::Retry(job, why) => self.fail(job, why, false),
            };
            if let Err(e) = result {
                self.backlog.decisions.push_front(decision);
                return Err(e);
            }
        }
        if self.csv_due().is_some_and(|d| d.is_zero()) {
            self.store.flush_csv()?;
            self.csv_behind = None;
        }
        self.close_intervals()
    }

    /// Applies the workers' results: all finished scans in one
    /// transaction, then each failure or requeue.
    fn apply_done(&mut self) -> Result<(), StoreError> {
        let (finished, rest): (VecDeque<Done>, VecDeque<Done>) =
            std::mem::take(&mut self.backlog.done)
                .into_iter()
                .partition(|d| matches!(d, Done::Finished(..)));
        let mut reports: Vec<FileReport> = Vec::new();
        let mut jobs = Vec::new();
        for d in &finished {
            if let Done::Finished(job, report) = d {
                jobs.push(job.id);
                reports.extend(report.iter().cloned());
            }
        }
        if !jobs.is_empty()
            && let Err(e) = self.finish(reports, &jobs)
        {
            self.backlog.done = finished.into_iter().chain(rest).collect();
            return Err(e);
        }
        self.in_flight -= finished.len();
        self.backlog.done = rest;
        while let Some(done) = self.backlog.done.pop_front() {
            let result = match &done {
                Done::Failed(job, error) => {
                    self.fail(job, &error.to_string(), error.is_permanent())
                }
                Done::Changed(job) => {
                    tracing::debug!(path = %job.path.display(), "changed while uploading; queued again");
                    self.store.requeue(job)
                }
                Done::Submitted | Done::Finished(..) => Ok(()),
            };
            if let Err(e) = result {
                self.backlog.done.push_front(done);
                return Err(e);
            }
            self.in_flight -= 1;
        }
        Ok(())
    }

    /// Stores reports and finishes their jobs in one transaction, the
    /// point after which they are never applied again; then logs what was
    /// found and moves files into quarantine (remedies are planned first
    /// and stored with the findings). The CSV follows at the end of the
    /// batch.
    fn finish(&mut self, mut reports: Vec<FileReport>, jobs: &[JobId]) -> Result<(), StoreError> {
        for r in reports.iter_mut().filter(|r| !r.findings().is_empty()) {
            r.exposure = Some(self.exposure.of(&r.path));
        }
        let reports = &reports[..];
        let mut plan = self.remediator.plan(&self.store, reports)?;
        let events = self.events(reports);
        self.store
            .record_remedied(reports, jobs, &plan.alerts, &mut plan.quarantines, &events)?;
        self.counted(&events);
        self.csv_behind.get_or_insert_with(Instant::now);
        if self.recorded_at.replace(Instant::now()).is_none() {
            crate::heap::working();
        }
        self.progress.stored += reports.len() as u64;
        self.counters.recorded(reports);
        for r in reports {
            log_report(r);
        }
        // Recorded as moving: the next start finishes what this leaves.
        if let Err(e) = self
            .remediator
            .carry_out(&mut self.store, &plan.quarantines)
        {
            tracing::error!("quarantine not finished; it is completed at the next start: {e}");
        }
        Ok(())
    }

    /// Records a failed attempt; a permanent failure gives up at once.
    fn fail(&mut self, job: &Job, error: &str, permanent: bool) -> Result<(), StoreError> {
        let max = if permanent {
            1
        } else {
            self.snapshot.load().config.queue.max_attempts
        };
        let gave_up = self.store.fail(job, error, max, self.engine)?;
        let note = format!(
            "{} {}: {error}",
            crate::report::rfc3339(SystemTime::now()),
            job.path.display()
        );
        self.note("daemon.last_error", &note);
        if gave_up {
            tracing::error!(path = %job.path.display(), attempts = job.attempts + 1, "giving up: {error}");
        } else {
            tracing::warn!(path = %job.path.display(), attempt = job.attempts + 1, "scan failed, will retry: {error}");
        }
        Ok(())
    }

    /// After a stop: waits up to [`GRACE`] for in-flight scans and stores
    /// them; whatever is still running stays queued for the next start.
    /// Then stops taking messages, so a late one is refused at once.
    pub fn drain(&mut self) -> Result<(), StoreError> {
        let deadline = Instant::now() + GRACE;
        // Labelled: a bare `break` inside `select!` would only leave the macro.
        'drain: while self.in_flight > 0 {
            // Uploads in flight may still need to register with the store.
            let backlog = &mut self.backlog;
            select! {
                recv(self.done_rx) -> d => match d {
                    Ok(d) => backlog.done.push_back(d),
                    Err(_) => break 'drain,
                },
                recv(self.msg_rx) -> m => if let Ok(m) = m { backlog.msgs.push_back(m) },
                default(deadline.saturating_duration_since(Instant::now())) => break 'drain,
            }
            // Nothing new is watched or walked now: results only.
            self.backlog.watch.clear();
            self.backlog.seen.clear();
            self.apply()?;
        }
        // Rows recorded while scans were still running wait for the CSV.
        if self.csv_behind.take().is_some() {
            self.store.flush_csv()?;
        }
        self.msg_rx = never();
        Ok(())
    }
}

/// One log line per file with findings: its path and counts per detector,
/// never a value.
fn log_report(r: &FileReport) {
    match &r.outcome {
        Outcome::Scanned { findings } if !findings.is_empty() => {
            let highest = findings.iter().map(|f| f.confidence).max();
            tracing::info!(
                path = %r.path.display(),
                sha256 = r.sha256.as_deref(),
                confidence = highest.map(|c| c.as_str()),
                findings = %summary(findings),
                "sensitive data found"
            );
        }
        Outcome::Skipped(reason) => tracing::debug!(path = %r.path.display(), "skipped: {reason}"),
        _ => {}
    }
    if !r.partial.is_empty() {
        tracing::warn!(path = %r.path.display(), "partly scanned: {}", r.partial.join("; "));
    }
}
