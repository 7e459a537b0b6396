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

mod worker;

use std::collections::{HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded, never, select, unbounded};

use self::worker::{Done, Remote, Scanner};
use crate::config::{Config, EngineKind};
use crate::engine::allow::Allowlist;
use crate::engine::{LocalEngine, Policy};
use crate::finding::{FileReport, Outcome};
use crate::fsutil::mtime_ns;
use crate::nightfall::{self, Message, Verdict};
use crate::readiness::Watchdog;
use crate::remediation::{Remediator, summary};
use crate::store::{Job, JobId, PendingUpload, Store, StoreError};
use crate::watch::{self, WatchEvent, WatchSettings, Watcher};

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
    #[error(transparent)]
    Nightfall(#[from] nightfall::SetupError),
    #[error(transparent)]
    Secret(#[from] crate::secret::SecretError),
    #[error("cannot listen on webhook.listen = {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
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

/// What the process asks of a running daemon.
#[derive(Debug)]
pub enum Control {
    /// Stop taking work, finish what is in flight within [`GRACE`], keep
    /// the rest queued.
    Stop,
    /// Apply a new, already validated config: roots and filters, detectors
    /// and thresholds, queue limits. Keys that need a restart are named in
    /// the log and keep their running values.
    Reload(Box<Config>),
}

/// The engine the workers scan with, swapped whole on reload.
type SharedScanner = Arc<RwLock<Arc<Scanner>>>;

/// Runs until `control` says stop (or is closed). `ready` is called once
/// the watches (and, for Nightfall, the webhook listener) are in place.
pub fn run(
    config: &Config,
    control: Receiver<Control>,
    ready: impl FnOnce(),
) -> Result<(), DaemonError> {
    let (msg_tx, msg_rx) = unbounded::<Message>();
    // The network side (listener, Nightfall client, alerts) gets a runtime
    // of its own, only when something needs it.
    let network = start_network(config, msg_tx)?;
    // Without a network side nothing sends; a closed channel would always
    // be ready in the keeper's select.
    let msg_rx = if network.is_some() { msg_rx } else { never() };
    let (scanner, workers) = match network.as_ref().and_then(|n| n.remote.clone()) {
        Some(remote) => (
            Scanner::Nightfall(remote),
            config.nightfall.concurrency as usize,
        ),
        None => (
            Scanner::Local(Box::new(LocalEngine::new(&config.scanner))),
            config.queue.workers as usize,
        ),
    };
    let name = scanner.name();
    let scanner: SharedScanner = Arc::new(RwLock::new(Arc::new(scanner)));
    let mut store = Store::open(&config.output)?;
    let recovered = store.recover_running()?;
    let sinks = crate::alerts::Sinks::load(&config.alerts)?;
    let remediator = Remediator::new(config, sinks.names());
    let finished = remediator.quarantine.recover(&mut store)?;
    if finished > 0 {
        tracing::warn!(finished, "finished quarantines a crash interrupted");
    }
    if !sinks.names().is_empty() {
        crate::alerts::spawn_sender(
            &config.output.db_path(),
            sinks.clone(),
            config.alerts.requests_per_second,
        )?;
    } else if remediator.notifies() {
        tracing::warn!(
            "[remediation] rules notify, but no [alerts] sink is set: findings are only recorded"
        );
    }
    store.set_meta("daemon.pid", Some(&std::process::id().to_string()))?;
    store.set_meta(
        "daemon.started",
        Some(&unix_secs(SystemTime::now()).to_string()),
    )?;

    let settings = Arc::new(watch_settings(config));
    let (watch_tx, watch_rx) = bounded(BATCH);
    let watcher = watch::spawn((*settings).clone(), watch_tx.clone())?;

    let (walk_tx, walk_rx) = unbounded::<Walk>();
    let (seen_tx, seen_rx) = bounded::<Seen>(BATCH);
    let walked = Arc::new(AtomicU64::new(0));
    {
        let walked = walked.clone();
        std::thread::Builder::new()
            .name("dlpd-walk".into())
            .spawn(move || walker(&walk_rx, &seen_tx, &walked))?;
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
        let _ = walk_tx.send((root.clone(), settings.clone()));
    }

    let (job_tx, job_rx) = bounded::<Job>(workers * 2);
    let (done_tx, done_rx) = unbounded::<Done>();
    for i in 0..workers {
        let (scanner, job_rx, done_tx) = (scanner.clone(), job_rx.clone(), done_tx.clone());
        std::thread::Builder::new()
            .name(format!("dlpd-scan-{i}"))
            .spawn(move || {
                for job in job_rx {
                    let current = scanner.read().unwrap_or_else(|e| e.into_inner()).clone();
                    if done_tx.send(current.work(job)).is_err() {
                        return;
                    }
                }
            })?;
    }
    drop(done_tx);

    tracing::info!(
        roots = ?settings.roots,
        workers,
        engine = name,
        recovered,
        state = %config.output.state_dir.display(),
        "dlpd started"
    );
    ready();

    let mut keeper = Keeper {
        store,
        capacity: config.queue.capacity,
        max_attempts: config.queue.max_attempts,
        engine: name,
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
        msg_rx,
        fetching: HashSet::new(),
        result_timeout: (config.scanner.engine == EngineKind::Nightfall)
            .then(|| Duration::from_secs(config.nightfall.result_timeout_s)),
        overdue_checked: Instant::now(),
        remediator,
        config: config.clone(),
        settings,
        watcher: Some(watcher),
        watch_tx,
        scanner,
        watchdog: Watchdog::from_env(),
    };
    let result = keeper.serve(&control);
    // Stop taking work: the watcher goes, workers finish what they hold.
    keeper.watcher = None;
    keeper.job_tx = None;
    let settled = result.and_then(|()| keeper.drain());
    let left = keeper.store.queue_counts().map(|c| c.total()).unwrap_or(0);
    let _ = keeper.store.set_meta("daemon.pid", None);
    if let Some(net) = network {
        net.runtime.shutdown_timeout(Duration::from_secs(1));
    }
    tracing::info!(queued = left, "dlpd stopped");
    Ok(settled?)
}

/// The daemon's network side, running on its own runtime.
struct Network {
    runtime: tokio::runtime::Runtime,
    /// The Nightfall engine, when it is the engine.
    remote: Option<Remote>,
}

/// Starts what needs the network: the Nightfall client and the listener
/// (for Nightfall's results and, with `[api] enabled`, the text-scan API).
/// Returns `None` when nothing does.
fn start_network(config: &Config, keeper: Sender<Message>) -> Result<Option<Network>, DaemonError> {
    let nightfall_on = config.scanner.engine == EngineKind::Nightfall;
    if !nightfall_on && !config.api.enabled {
        return Ok(None);
    }
    let api = match config.api.enabled {
        true => Some(crate::textscan::TextScan::new(&crate::secret::load(
            "text-scan API token",
            &config.api.token_env,
            config.api.token_file.as_deref(),
            "api.token_file",
        )?)),
        false => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dlpd-net")
        .enable_all()
        .build()?;
    let (ingest, remote) = match nightfall_on {
        true => {
            let secrets = nightfall::Secrets::load(config)?;
            let client = Arc::new(
                nightfall::Client::new(&config.scanner, &config.nightfall, secrets.api_key)
                    .map_err(nightfall::SetupError::from)?,
            );
            let hook = nightfall::webhook::Webhook::new(
                secrets.signing_secret,
                config.webhook.max_body_bytes,
                keeper.clone(),
                client.clone(),
            );
            let remote = Remote {
                client,
                allow: Arc::new(RwLock::new(Allowlist::new(&config.scanner))),
                runtime: runtime.handle().clone(),
                keeper: keeper.clone(),
            };
            (Some(hook), Some(remote))
        }
        false => (None, None),
    };
    let addr = config.webhook.listen;
    let socket = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|source| DaemonError::Listen { addr, source })?;
    let bound = socket.local_addr().unwrap_or(addr);
    if !bound.ip().is_loopback() {
        tracing::warn!(listen = %bound, "the listener is not on loopback; make sure only your proxy can reach it");
    }
    let routes: Vec<&str> = [
        ingest.as_ref().map(|_| "POST /ingest"),
        api.as_ref().map(|_| "POST /v3/scan"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let listener = Arc::new(crate::listener::Listener {
        ingest,
        api,
        keeper,
    });
    runtime.spawn(listener.serve(socket));
    tracing::info!(listen = %bound, routes = %routes.join(", "), "listening");
    Ok(Some(Network { runtime, remote }))
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
            absolute(&config.remediation.quarantine_dir(&config.output)),
        ],
        debounce: Duration::from_millis(config.watch.debounce_ms),
        follow_symlinks: config.watch.follow_symlinks,
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
    /// Directories for the walker, with the filters to walk them with.
    walk_tx: Sender<Walk>,
    /// Jobs for the workers; `None` once stopping.
    job_tx: Option<Sender<Job>>,
    /// Files the walker has seen, for progress logs.
    walked: Arc<AtomicU64>,
    /// Uploads, results and health checks from the Nightfall side.
    msg_rx: Receiver<Message>,
    /// Uploads whose findings are being fetched: a repeated notification
    /// must not fetch them twice.
    fetching: HashSet<String>,
    /// Nightfall only: resubmit a file whose result is this late.
    result_timeout: Option<Duration>,
    overdue_checked: Instant,
    /// Alerts and quarantine for files with findings.
    remediator: Remediator,
    /// The config in force (reloads replace it).
    config: Config,
    /// The watcher's filters, also used for walks.
    settings: Arc<WatchSettings>,
    /// `None` once stopping.
    watcher: Option<Watcher>,
    /// Kept to start a new watcher on reload.
    watch_tx: Sender<WatchEvent>,
    scanner: SharedScanner,
    watchdog: Watchdog,
}

impl Keeper {
    fn serve(&mut self, control: &Receiver<Control>) -> Result<(), StoreError> {
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
                Done::Failed {
                    job,
                    error,
                    permanent,
                } => self.fail(&job, &error, permanent)?,
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
        self.stored += reports.len() as u64;
        for r in reports {
            log_report(r);
        }
        self.remediator
            .carry_out(&mut self.store, &plan.quarantines)
    }

    /// Records a failed attempt; a permanent failure gives up at once.
    fn fail(&mut self, job: &Job, error: &str, permanent: bool) -> Result<(), StoreError> {
        let max = if permanent { 1 } else { self.max_attempts };
        let gave_up = self.store.fail(job, error, max, self.engine)?;
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
        Ok(())
    }

    /// Handles one message from the Nightfall side.
    fn handle(&mut self, msg: Message) -> Result<(), StoreError> {
        match msg {
            Message::Register { job, upload, reply } => {
                let result = self.store.register_upload(job, &upload);
                let _ = reply.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                result?;
            }
            Message::Health { reply } => {
                let _ = reply.send(self.store.queue_counts()?);
            }
            Message::Notified { note, reply } => {
                let Some(pending) = self.store.pending_upload(&note.upload_id)? else {
                    let _ = reply.send(Verdict::Unknown);
                    return Ok(());
                };
                if self.fetching.contains(&note.upload_id) {
                    let _ = reply.send(Verdict::Duplicate);
                    return Ok(());
                }
                let verdict = if !note.errors.is_empty() {
                    let errors = serde_json::to_string(&note.errors).unwrap_or_default();
                    self.fail(
                        &pending.job,
                        &format!("Nightfall could not scan the file: {errors}"),
                        false,
                    )?;
                    Verdict::Settled
                } else if !note.findings_present {
                    self.finish(&[result_report(&pending, Vec::new())], &[pending.job.id])?;
                    Verdict::Settled
                } else if note.findings_url.is_empty() {
                    self.fail(
                        &pending.job,
                        "Nightfall reported findings but sent no findingsURL",
                        false,
                    )?;
                    Verdict::Settled
                } else {
                    self.fetching.insert(note.upload_id);
                    Verdict::Fetch
                };
                let _ = reply.send(verdict);
            }
            Message::Fetched { upload_id, result } => {
                self.fetching.remove(&upload_id);
                // Gone: resubmitted after a timeout, or the file was
                // deleted; this late result is not the one awaited.
                let Some(pending) = self.store.pending_upload(&upload_id)? else {
                    tracing::debug!(upload = %upload_id, "findings for an upload no job awaits; dropped");
                    return Ok(());
                };
                match result {
                    Ok(findings) => {
                        // The same threshold and allowlists as a local scan.
                        let count = findings.len();
                        let findings = Policy::new(&self.config.scanner).keep(findings);
                        if findings.len() < count {
                            tracing::debug!(upload = %upload_id, dropped = count - findings.len(), "findings under the confidence threshold, of detectors no longer configured, or allowlisted, left out");
                        }
                        self.finish(&[result_report(&pending, findings)], &[pending.job.id])?;
                    }
                    Err(e) => self.fail(&pending.job, &e, false)?,
                }
            }
        }
        Ok(())
    }

    /// Applies a reloaded config. A new watcher replaces the old one when
    /// roots or filters change, and every root is walked so nothing the
    /// old watcher had not yet settled is lost; the walk skips files
    /// unchanged since their last scan.
    fn reload(&mut self, new: Config) {
        let old = std::mem::replace(&mut self.config, new);
        let new = &self.config;
        let mut restart = Vec::new();
        if old.output != new.output {
            restart.push("[output]");
        }
        if old.scanner.engine != new.scanner.engine {
            restart.push("scanner.engine");
        }
        if old.nightfall != new.nightfall {
            restart.push("[nightfall]");
        }
        if old.webhook != new.webhook {
            restart.push("[webhook]");
        }
        if old.queue.workers != new.queue.workers {
            restart.push("queue.workers");
        }
        if old.log.format != new.log.format || old.log.file != new.log.file {
            restart.push("log.format/log.file");
        }
        if old.api != new.api {
            restart.push("[api]");
        }
        if old.alerts != new.alerts {
            restart.push("[alerts]");
        }
        if old.remediation.quarantine_dir != new.remediation.quarantine_dir
            || old.remediation.stub != new.remediation.stub
        {
            restart.push("remediation.quarantine_dir/stub");
        }
        self.remediator.set_rules(new.remediation.rules.clone());
        self.capacity = new.queue.capacity;
        self.max_attempts = new.queue.max_attempts;

        if old.scanner != new.scanner {
            let current = self
                .scanner
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            match current.as_ref() {
                Scanner::Local(_) => {
                    let fresh = Arc::new(Scanner::Local(Box::new(LocalEngine::new(&new.scanner))));
                    *self.scanner.write().unwrap_or_else(|e| e.into_inner()) = fresh;
                }
                Scanner::Nightfall(remote) => {
                    remote.client.set_scanner(&new.scanner);
                    *remote.allow.write().unwrap_or_else(|e| e.into_inner()) =
                        Allowlist::new(&new.scanner);
                }
            }
        }

        if old.watch != new.watch {
            let settings = Arc::new(watch_settings(new));
            // The old watcher goes first: two would report every change twice.
            self.watcher = None;
            match watch::spawn((*settings).clone(), self.watch_tx.clone()) {
                Ok(w) => self.watcher = Some(w),
                Err(e) => tracing::error!(
                    "reload: cannot start the watcher: {e}; no roots are watched until the next reload or restart"
                ),
            }
            for root in settings.roots.iter().filter(|r| r.is_dir()) {
                self.walks_pending += 1;
                let _ = self.walk_tx.send((root.clone(), settings.clone()));
            }
            self.settings = settings;
        }
        if !restart.is_empty() {
            tracing::warn!(
                "reload: {} changed; these keep their running values until dlpd restarts",
                restart.join(", ")
            );
        }
        tracing::info!("config reloaded: {}", self.config.summary());
    }

    /// Submits again every file whose result is later than
    /// `result_timeout_s` (checked once a second).
    fn resubmit_overdue(&mut self) -> Result<(), StoreError> {
        let Some(timeout) = self.result_timeout else {
            return Ok(());
        };
        if self.overdue_checked.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.overdue_checked = Instant::now();
        for pending in self.store.overdue_uploads(SystemTime::now() - timeout)? {
            if self.fetching.contains(&pending.upload.id) {
                continue;
            }
            let error = format!(
                "no result from Nightfall for upload {} within nightfall.result_timeout_s ({} s); submitting it again",
                pending.upload.id,
                timeout.as_secs()
            );
            self.fail(&pending.job, &error, false)?;
        }
        Ok(())
    }

    /// After a stop: waits up to [`GRACE`] for in-flight scans and stores
    /// them; whatever is still running stays queued for the next start.
    fn drain(&mut self) -> Result<(), StoreError> {
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
        Ok(())
    }
}

/// The report of a Nightfall result, for exactly the content uploaded.
fn result_report(pending: &PendingUpload, findings: Vec<crate::finding::Finding>) -> FileReport {
    let mut report = FileReport::new(
        &pending.job.path,
        "nightfall",
        Outcome::Scanned { findings },
    );
    report.size = pending.upload.size;
    report.mtime_ns = pending.upload.mtime_ns;
    report.sha256 = Some(pending.upload.sha256.clone());
    report.upload_id = Some(pending.upload.id.clone());
    report
}

#[derive(Default)]
struct Batch {
    done: Vec<Done>,
    msgs: Vec<Message>,
    watch: Vec<WatchEvent>,
    seen: Vec<Seen>,
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

/// A directory to walk, with the filters in force when it was asked for.
type Walk = (PathBuf, Arc<WatchSettings>);

/// Walks each directory it is sent and reports its wanted files.
fn walker(dirs: &Receiver<Walk>, seen: &Sender<Seen>, walked: &AtomicU64) {
    for (dir, settings) in dirs {
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
