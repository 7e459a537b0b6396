//! The keeper: the one thread that owns the store. It selects on what
//! arrives (settled files from the watcher, files from the walker, results
//! from the workers, messages from the network side), applies each batch in
//! a few transactions, and hands due jobs to idle workers. The decisions
//! about Nightfall results are made in `crate::nightfall::results`; the
//! keeper only carries them out.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, never, select};

use super::Control;
use super::GRACE;
use super::snapshot::Shared;
use super::walk::{Seen, Walk};
use super::worker::Done;
use crate::finding::{FileReport, Outcome};
use crate::nightfall::{Decision, Message, RegisterError, Results};
use crate::readiness::Watchdog;
use crate::remediation::{Remediator, summary};
use crate::store::{Job, JobId, Store, StoreError};
use crate::watch::{WatchEvent, WatchSettings, Watcher};

/// Most messages taken from the intake channels per batch.
pub(super) const BATCH: usize = 1024;
/// How often baseline progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Counts for the baseline's progress lines.
#[derive(Default)]
pub(super) struct Progress {
    /// Walks not yet complete.
    pub walks_pending: usize,
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
    pub deferred: VecDeque<PathBuf>,
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
}

/// What arrived since the last batch.
#[derive(Default)]
struct Batch {
    done: Vec<Done>,
    msgs: Vec<Message>,
    watch: Vec<WatchEvent>,
    seen: Vec<Seen>,
}

impl Keeper {
    /// Runs until `control` says stop. A store error ends it: the caller
    /// stops the daemon with the work still queued.
    pub fn serve(&mut self, control: &Receiver<Control>) -> Result<(), StoreError> {
        let mut last_progress = Instant::now();
        loop {
            self.watchdog.tick();
            self.dispatch()?;
            // A full queue stops intake: the watcher and walker wait.
            let accepting = self.deferred.is_empty();
            let (w, s) = if accepting {
                (self.watch_rx.clone(), self.seen_rx.clone())
            } else {
                (never(), never())
            };
            let timeout = self.next_wakeup()?;
            let mut batch = Batch::default();
            let m = self.msg_rx.clone();
            select! {
                recv(control) -> c => match c {
                    Ok(Control::Reload(config)) => self.reload(*config),
                    Ok(Control::Stop) | Err(_) => return Ok(()),
                },
                recv(m) -> msg => if let Ok(msg) = msg { batch.msgs.push(msg) },
                recv(self.done_rx) -> d => if let Ok(d) = d { batch.done.push(d) },
                recv(w) -> e => if let Ok(e) = e { batch.watch.push(e) },
                recv(s) -> x => if let Ok(x) = x { batch.seen.push(x) },
                default(timeout) => {}
            }
            batch.done.extend(self.done_rx.try_iter());
            batch.msgs.extend(self.msg_rx.try_iter());
            if accepting {
                batch.watch.extend(self.watch_rx.try_iter().take(BATCH));
                batch.seen.extend(self.seen_rx.try_iter().take(BATCH));
            }
            self.apply(batch)?;
            self.resubmit_overdue()?;
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

    /// How long to wait for messages: until the next backed-off job is due.
    fn next_wakeup(&self) -> Result<Duration, StoreError> {
        let idle = Duration::from_secs(1);
        Ok(match self.store.next_due()? {
            Some(due) => due
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .min(idle),
            None => idle,
        })
    }

    /// Hands due jobs to idle workers.
    fn dispatch(&mut self) -> Result<(), StoreError> {
        let free = self.slots.saturating_sub(self.in_flight);
        let Some(job_tx) = self.job_tx.as_ref().filter(|_| free > 0) else {
            return Ok(());
        };
        for job in self.store.claim_batch(free, SystemTime::now())? {
            // The channel holds `slots` jobs, so this never blocks.
            if job_tx.send(job).is_ok() {
                self.in_flight += 1;
            }
        }
        Ok(())
    }

    fn apply(&mut self, batch: Batch) -> Result<(), StoreError> {
        let capacity = self.snapshot.load().config.queue.capacity;
        let mut wanted: Vec<PathBuf> = self.deferred.drain(..).collect();
        for event in batch.watch {
            match event {
                WatchEvent::Settled(p) => wanted.push(p),
                WatchEvent::Removed(p) => {
                    wanted.retain(|w| *w != p);
                    self.store.cancel(&p)?;
                }
                WatchEvent::Rescan(dir) => {
                    let _ = self.walk_tx.send((dir, self.settings.clone()));
                }
            }
        }
        let mut walked = Vec::new();
        for seen in batch.seen {
            match seen {
                // Unchanged since its last recorded scan: nothing to do.
                Seen::File {
                    path,
                    size,
                    mtime_ns,
                } => {
                    if !self.store.is_current(&path, size, mtime_ns)? {
                        wanted.push(path);
                    }
                }
                Seen::Walked(root) => walked.push(root),
            }
        }
        if !wanted.is_empty() {
            let taken = self.store.enqueue_many(&wanted, capacity)?;
            self.progress.queued += taken as u64;
            self.deferred.extend(wanted.drain(taken..));
        }
        for root in walked {
            self.progress.walks_pending = self.progress.walks_pending.saturating_sub(1);
            tracing::info!(root = %root.display(), queued = self.progress.queued, "walk complete");
        }
        let mut reports = Vec::new();
        let mut finished = Vec::new();
        for done in batch.done {
            self.in_flight -= 1;
            match done {
                Done::Finished(job, report) => {
                    finished.push(job.id);
                    reports.extend(report);
                }
                Done::Failed(job, error) => {
                    self.fail(&job, &error.to_string(), error.is_permanent())?
                }
                Done::Submitted => {}
                Done::Changed(job) => {
                    tracing::debug!(path = %job.path.display(), "changed while uploading; queued again");
                    self.store.requeue(&job)?;
                }
            }
        }
        if !finished.is_empty() {
            self.finish(&reports, &finished)?;
        }
        for msg in batch.msgs {
            self.handle(msg)?;
        }
        Ok(())
    }

    /// Stores reports, finishes their jobs, and logs what was found.
    /// Remedies are planned first and stored with the findings; files are
    /// moved into quarantine only once that is committed.
    fn finish(&mut self, reports: &[FileReport], jobs: &[JobId]) -> Result<(), StoreError> {
        let mut plan = self.remediator.plan(&self.store, reports)?;
        self.store
            .record_remedied(reports, jobs, &plan.alerts, &mut plan.quarantines)?;
        self.progress.stored += reports.len() as u64;
        for r in reports {
            log_report(r);
        }
        self.remediator
            .carry_out(&mut self.store, &plan.quarantines)
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

    /// Handles one message from the network side.
    fn handle(&mut self, msg: Message) -> Result<(), StoreError> {
        match msg {
            Message::Register { job, upload, reply } => {
                let result = self.store.register_upload(job, &upload);
                let answer = result.as_ref().map(|_| ());
                let _ = reply.send(answer.map_err(|e| RegisterError(e.to_string())));
                result?;
            }
            Message::Health { reply } => {
                let _ = reply.send(self.store.queue_counts()?);
            }
            Message::Notified { note, reply } => {
                // Only the Nightfall engine has a webhook to send these.
                let Some(results) = self.results.as_mut() else {
                    let _ = reply.send(crate::nightfall::Verdict::Unknown);
                    return Ok(());
                };
                let pending = self.store.pending_upload(&note.upload_id)?;
                let (verdict, decision) = results.notified(pending, note);
                let _ = reply.send(verdict);
                if let Some(decision) = decision {
                    self.decide(decision)?;
                }
            }
            Message::Fetched { upload_id, result } => {
                let Some(results) = self.results.as_mut() else {
                    return Ok(());
                };
                let pending = self.store.pending_upload(&upload_id)?;
                let policy = &self.snapshot.load().policy;
                if let Some(decision) = results.fetched(&upload_id, pending, result, policy) {
                    self.decide(decision)?;
                }
            }
        }
        Ok(())
    }

    /// Carries out a decision about a Nightfall result.
    fn decide(&mut self, decision: Decision) -> Result<(), StoreError> {
        match decision {
            Decision::Finish(job, report) => self.finish(&[report], &[job]),
            Decision::Retry(job, why) => self.fail(&job, &why, false),
        }
    }

    /// Submits again every file whose result is later than
    /// `nightfall.result_timeout_s` (checked once a second).
    fn resubmit_overdue(&mut self) -> Result<(), StoreError> {
        let Some(results) = &self.results else {
            return Ok(());
        };
        if self.overdue_checked.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.overdue_checked = Instant::now();
        let timeout = Duration::from_secs(self.snapshot.load().config.nightfall.result_timeout_s);
        let late = self.store.overdue_uploads(SystemTime::now() - timeout)?;
        for decision in results.overdue(late, timeout) {
            self.decide(decision)?;
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
            let mut batch = Batch::default();
            // Uploads in flight may still need to register with the store.
            select! {
                recv(self.done_rx) -> d => match d {
                    Ok(d) => batch.done.push(d),
                    Err(_) => break 'drain,
                },
                recv(self.msg_rx) -> m => if let Ok(m) = m { batch.msgs.push(m) },
                default(deadline.saturating_duration_since(Instant::now())) => break 'drain,
            }
            self.apply(batch)?;
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
            tracing::info!(path = %r.path.display(), findings = %summary(findings), "sensitive data found");
        }
        Outcome::Skipped(reason) => tracing::debug!(path = %r.path.display(), "skipped: {reason}"),
        _ => {}
    }
}
