//! `dlpd run`: the long-running process. Watches the roots, queues settled
//! files in the persistent queue, scans them on `workers` threads and
//! stores the results, until told to stop.
//!
//! One thread (the "keeper", running [`run`]) owns the store. Everything
//! else talks to it over channels: the watcher and the baseline walker feed
//! it paths (bounded channels, so a full queue makes them wait), workers
//! hand back results. The keeper drains whatever has arrived and applies it
//! in batches: one transaction to queue, one to store results and finish
//! their jobs, one CSV append. That is what makes thousands of files a
//! second possible with SQLite underneath.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded, never, select, unbounded};

use crate::config::{Config, EngineKind};
use crate::engine::{Engine, FileReport, LocalEngine, Outcome, ScanOptions};
use crate::fsutil::{mtime_ns, sha256_file};
use crate::store::{Job, Store, StoreError};
use crate::watch::{self, WatchEvent, WatchSettings};

/// How long in-flight scans may take to finish after a stop is asked for.
pub const GRACE: Duration = Duration::from_secs(10);
/// Most messages taken from the intake channels per batch.
const BATCH: usize = 1024;
/// How often baseline progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot start the watcher: {0}")]
    Watch(#[from] notify::Error),
    #[error(
        "[scanner] engine = \"nightfall\" is not available in this version; set engine = \"local\""
    )]
    Engine,
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A file the walker saw, with what it looked like.
enum Seen {
    File {
        path: PathBuf,
        size: u64,
        mtime_ns: Option<i64>,
    },
    /// One walk (a root at start, or a rescan) is complete.
    Walked(PathBuf),
}

/// What a worker made of a job.
enum Done {
    /// Store the report (if any) and finish the job. No report: the file
    /// vanished, or is unchanged since its last scan.
    Finished(Job, Option<FileReport>),
    /// Try again later, or give up after `max_attempts`.
    Failed(Job, String),
}

/// Runs until `stop` receives (or is closed). `ready` is called once the
/// watches are in place.
pub fn run(config: &Config, stop: Receiver<()>, ready: impl FnOnce()) -> Result<(), DaemonError> {
    if config.scanner.engine != EngineKind::Local {
        return Err(DaemonError::Engine);
    }
    let engine = Arc::new(LocalEngine::new(&config.scanner));
    let mut store = Store::open(&config.output)?;
    let recovered = store.recover_running()?;
    store.set_meta("daemon.pid", Some(&std::process::id().to_string()))?;
    store.set_meta(
        "daemon.started",
        Some(&unix_secs(SystemTime::now()).to_string()),
    )?;

    let settings = watch_settings(config);
    let (watch_tx, watch_rx) = bounded(BATCH);
    let watcher = watch::spawn(settings.clone(), watch_tx)?;

    let (walk_tx, walk_rx) = unbounded::<PathBuf>();
    let (seen_tx, seen_rx) = bounded::<Seen>(BATCH);
    let walked = Arc::new(AtomicU64::new(0));
    {
        let settings = settings.clone();
        let walked = walked.clone();
        std::thread::Builder::new()
            .name("dlpd-walk".into())
            .spawn(move || walker(&settings, &walk_rx, &seen_tx, &walked))?;
    }
    // The baseline: roots that exist now (a late root is walked when it appears).
    let baseline: Vec<PathBuf> = match config.watch.scan_existing {
        true => settings
            .roots
            .iter()
            .filter(|r| r.is_dir())
            .cloned()
            .collect(),
        false => Vec::new(),
    };
    for root in &baseline {
        let _ = walk_tx.send(root.clone());
    }

    let workers = config.queue.workers as usize;
    let (job_tx, job_rx) = bounded::<Job>(workers * 2);
    let (done_tx, done_rx) = unbounded::<Done>();
    for i in 0..workers {
        let (engine, job_rx, done_tx) = (engine.clone(), job_rx.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("dlpd-scan-{i}"))
            .spawn(move || {
                for job in job_rx {
                    if done_tx.send(work(engine.as_ref(), job)).is_err() {
                        return;
                    }
                }
            })?;
    }
    drop(done_tx);

    tracing::info!(
        roots = ?settings.roots,
        workers,
        engine = engine.name(),
        recovered,
        state = %config.output.state_dir.display(),
        "dlpd started"
    );
    ready();

    let mut keeper = Keeper {
        store,
        capacity: config.queue.capacity,
        max_attempts: config.queue.max_attempts,
        engine: engine.name(),
        deferred: VecDeque::new(),
        in_flight: 0,
        slots: workers * 2,
        walks_pending: baseline.len(),
        queued: 0,
        stored: 0,
        watch_rx,
        seen_rx,
        done_rx,
        walk_tx,
        job_tx: Some(job_tx),
        walked,
    };
    let result = keeper.serve(&stop);
    // Stop taking work: the watcher goes, workers finish what they hold.
    drop(watcher);
    keeper.job_tx = None;
    let settled = result.and_then(|()| keeper.drain());
    let left = keeper.store.queue_counts().map(|c| c.total()).unwrap_or(0);
    let _ = keeper.store.set_meta("daemon.pid", None);
    tracing::info!(queued = left, "dlpd stopped");
    Ok(settled?)
}

/// The watcher's view of the config, with dlpd's own files ignored.
pub fn watch_settings(config: &Config) -> WatchSettings {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    WatchSettings {
        roots: config.watch.paths.iter().map(|p| absolute(p)).collect(),
        include: config.watch.include.iter().map(|p| p.0.clone()).collect(),
        exclude: config.watch.exclude.iter().map(|p| p.0.clone()).collect(),
        ignore: vec![
            absolute(&config.output.state_dir),
            absolute(&config.output.csv_path()),
        ],
        debounce: Duration::from_millis(config.watch.debounce_ms),
        follow_symlinks: config.watch.follow_symlinks,
    }
}

/// Scans one job's file.
fn work(engine: &LocalEngine, job: Job) -> Done {
    let meta = match std::fs::metadata(&job.path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Done::Finished(job, None),
        // Any other error: the scan below fails and says why.
        other => other.ok(),
    };
    if let (Some(last), Some(meta)) = (&job.last, &meta) {
        let same_stat = last.size == meta.len() && last.mtime_ns == Some(mtime_ns(meta));
        if same_stat && last.sha256.is_some() && sha256_file(&job.path).ok() == last.sha256 {
            return Done::Finished(job, None);
        }
    }
    let report = engine.scan_path(&job.path, ScanOptions { hash: true });
    match &report.outcome {
        Outcome::Failed(_) if !job.path.exists() => Done::Finished(job, None),
        Outcome::Failed(msg) => Done::Failed(job, msg.clone()),
        _ => Done::Finished(job, Some(report)),
    }
}

/// The keeper's state between batches.
struct Keeper {
    store: Store,
    capacity: u64,
    max_attempts: u32,
    engine: &'static str,
    /// Paths waiting for room in the queue (at most one batch).
    deferred: VecDeque<PathBuf>,
    /// Jobs handed to workers and not yet back.
    in_flight: usize,
    /// Most jobs handed out at once.
    slots: usize,
    /// Baseline walks not yet complete (for progress logs).
    walks_pending: usize,
    queued: u64,
    stored: u64,
    /// Settled, removed and rescan events from the watcher.
    watch_rx: Receiver<WatchEvent>,
    /// Files the walker saw.
    seen_rx: Receiver<Seen>,
    /// Results from the workers.
    done_rx: Receiver<Done>,
    /// Directories for the walker.
    walk_tx: Sender<PathBuf>,
    /// Jobs for the workers; `None` once stopping.
    job_tx: Option<Sender<Job>>,
    /// Files the walker has seen, for progress logs.
    walked: Arc<AtomicU64>,
}

impl Keeper {
    fn serve(&mut self, stop: &Receiver<()>) -> Result<(), StoreError> {
        let mut last_progress = Instant::now();
        loop {
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
            select! {
                recv(stop) -> _ => return Ok(()),
                recv(self.done_rx) -> d => if let Ok(d) = d { batch.done.push(d) },
                recv(w) -> e => if let Ok(e) = e { batch.watch.push(e) },
                recv(s) -> x => if let Ok(x) = x { batch.seen.push(x) },
                default(timeout) => {}
            }
            batch.done.extend(self.done_rx.try_iter());
            if accepting {
                batch.watch.extend(self.watch_rx.try_iter().take(BATCH));
                batch.seen.extend(self.seen_rx.try_iter().take(BATCH));
            }
            self.apply(batch)?;
            if self.walks_pending > 0 && last_progress.elapsed() >= PROGRESS_EVERY {
                last_progress = Instant::now();
                tracing::info!(
                    seen = self.walked.load(Ordering::Relaxed),
                    queued = self.queued,
                    scanned = self.stored,
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
        let mut wanted: Vec<PathBuf> = self.deferred.drain(..).collect();
        for event in batch.watch {
            match event {
                WatchEvent::Settled(p) => wanted.push(p),
                WatchEvent::Removed(p) => {
                    wanted.retain(|w| *w != p);
                    self.store.cancel(&p)?;
                }
                WatchEvent::Rescan(dir) => {
                    let _ = self.walk_tx.send(dir);
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
                    if self.store.last_seen(&path)? != Some((size, mtime_ns)) {
                        wanted.push(path);
                    }
                }
                Seen::Walked(root) => walked.push(root),
            }
        }
        if !wanted.is_empty() {
            let taken = self.store.enqueue_many(&wanted, self.capacity)?;
            self.queued += taken as u64;
            self.deferred.extend(wanted.drain(taken..));
        }
        for root in walked {
            self.walks_pending = self.walks_pending.saturating_sub(1);
            tracing::info!(root = %root.display(), queued = self.queued, "walk complete");
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
                    let gave_up = self
                        .store
                        .fail(&job, &error, self.max_attempts, self.engine)?;
                    let note = format!(
                        "{} {}: {error}",
                        crate::report::rfc3339(SystemTime::now()),
                        job.path.display()
                    );
                    self.store.set_meta("daemon.last_error", Some(&note))?;
                    if gave_up {
                        tracing::error!(path = %job.path.display(), attempts = job.attempts + 1, "giving up: {error}");
                    } else {
                        tracing::warn!(path = %job.path.display(), attempt = job.attempts + 1, "scan failed, will retry: {error}");
                    }
                }
            }
        }
        if !finished.is_empty() {
            self.store.record_finishing(&reports, &finished)?;
            self.stored += reports.len() as u64;
            for r in &reports {
                log_report(r);
            }
        }
        Ok(())
    }

    /// After a stop: waits up to [`GRACE`] for in-flight scans and stores
    /// them; whatever is still running stays queued for the next start.
    fn drain(&mut self) -> Result<(), StoreError> {
        let deadline = Instant::now() + GRACE;
        let mut batch = Batch::default();
        while self.in_flight > batch.done.len() {
            match self.done_rx.recv_deadline(deadline) {
                Ok(d) => batch.done.push(d),
                Err(_) => break,
            }
        }
        self.apply(batch)
    }
}

#[derive(Default)]
struct Batch {
    done: Vec<Done>,
    watch: Vec<WatchEvent>,
    seen: Vec<Seen>,
}

/// One log line per file with findings: its path and counts per detector,
/// never a value.
fn log_report(r: &FileReport) {
    match &r.outcome {
        Outcome::Scanned { findings } if !findings.is_empty() => {
            let mut counts: Vec<(&str, usize)> = Vec::new();
            for f in findings {
                match counts.iter_mut().find(|(d, _)| *d == f.detector.as_str()) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((f.detector.as_str(), 1)),
                }
            }
            let counts: Vec<String> = counts.iter().map(|(d, n)| format!("{d}={n}")).collect();
            tracing::info!(path = %r.path.display(), findings = %counts.join(" "), "sensitive data found");
        }
        Outcome::Skipped(reason) => tracing::debug!(path = %r.path.display(), "skipped: {reason}"),
        _ => {}
    }
}

/// Walks each directory it is sent and reports its wanted files.
fn walker(
    settings: &WatchSettings,
    dirs: &Receiver<PathBuf>,
    seen: &Sender<Seen>,
    walked: &AtomicU64,
) {
    for dir in dirs {
        let entries = walkdir::WalkDir::new(&dir)
            .follow_links(settings.follow_symlinks)
            .into_iter()
            .filter_entry(|e| !e.file_type().is_dir() || settings.wanted(e.path(), true));
        for entry in entries {
            let e = match entry {
                Ok(e) if e.file_type().is_file() => e,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(path = ?err.path(), "cannot walk: {err}");
                    continue;
                }
            };
            if !settings.wanted(e.path(), false) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            walked.fetch_add(1, Ordering::Relaxed);
            let file = Seen::File {
                path: e.into_path(),
                size: meta.len(),
                mtime_ns: Some(mtime_ns(&meta)),
            };
            if seen.send(file).is_err() {
                return;
            }
        }
        if seen.send(Seen::Walked(dir)).is_err() {
            return;
        }
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
