//! `dlpd run`: the long-running process. Watches the roots, queues settled
//! files in the persistent queue, scans them on `workers` threads and
//! stores the results, until told to stop.
//!
//! One thread, the keeper ([`keeper`]), owns the store's connection for
//! the queue, the files and the findings. Everything else talks to it over
//! channels: the watcher and the walker ([`walk`]) feed it paths (bounded
//! channels, so a full queue makes them wait), workers ([`worker`]) hand
//! back results, and the network side ([`network`]) sends uploads,
//! Nightfall results and health checks. The keeper drains whatever has
//! arrived and applies it in batches: one transaction to queue, one to
//! store results and finish their jobs, one CSV append. That is what makes
//! thousands of files a second possible with SQLite underneath. The alert
//! sender keeps a connection of its own, to the alert outbox only.
//!
//! Every thread reads the config through one shared snapshot
//! ([`snapshot`]), which a reload ([`reload`]) swaps whole.

mod health;
mod keeper;
mod messages;
mod metrics;
mod monitor;
mod network;
mod outbound;
mod reload;
mod snapshot;
mod walk;
mod worker;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, bounded, never, unbounded};
use tokio::runtime::Handle;

use self::keeper::{BATCH, Keeper, Progress};
pub use self::reload::restart_keys;
use self::snapshot::Snapshot;
use self::walk::{Seen, Walk, walker};
use self::worker::{Done, Scanner};
use crate::config::Config;
use crate::liveness::Liveness;
use crate::nightfall::{self, Message, Results};
use crate::pathmatch::PathFilter;
use crate::readiness::Watchdog;
use crate::remediation::Remediator;
use crate::shutdown::Shutdown;
use crate::store::{Job, Store, StoreError};
use crate::watch::{self, WatchSettings};

/// How long in-flight scans may take to finish after a stop is asked for.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long the network tasks (connections, fetches, the alert sender)
/// may take to finish after the scans have.
const NETWORK_GRACE: Duration = Duration::from_secs(3);

/// Jobs handed out per worker: enough that results come back, and are
/// recorded, a few hundred to a transaction while a backlog is worked
/// through, and that workers never wait on the keeper's commits (128 left
/// the machine a quarter idle during a first scan). Each one handed out
/// counts an attempt should the process die; scans that could kill it
/// (PDFs) run in a child.
const JOBS_PER_WORKER: usize = 512;
/// Most jobs handed out at once, whatever the workers: running jobs count
/// toward `queue.capacity`, and a first scan's must leave room for events.
const MAX_SLOTS: usize = 1024;
/// With Nightfall a worker's time goes to the network, not the store; and
/// a job handed out counts as an attempt should the process die, so few.
const UPLOADS_PER_WORKER: usize = 2;

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
    #[error(transparent)]
    Fleet(#[from] crate::fleet::FleetError),
    #[error("cannot listen on webhook.listen = {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start a thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error(
        "remediation rules quarantine files, but this process sees {roots} read-only, so none could be moved out; {}",
        crate::remediation::READ_ONLY_FIX
    )]
    ReadOnlyRoots { roots: String },
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

/// Runs until `control` says stop (or is closed). `ready` is called once
/// the watches (and, for Nightfall, the webhook listener) are in place.
/// Network tasks run on `runtime`, and are drained before this returns.
pub fn run(
    config: &Config,
    control: Receiver<Control>,
    ready: impl FnOnce(),
    runtime: &Handle,
) -> Result<(), DaemonError> {
    let shutdown = Shutdown::new();
    let result = serve(config, &control, ready, runtime, &shutdown);
    if !shutdown.stop_and_wait(runtime, NETWORK_GRACE) {
        tracing::warn!("network tasks still running after the grace period; cut off");
    }
    result
}

fn serve(
    config: &Config,
    control: &Receiver<Control>,
    ready: impl FnOnce(),
    runtime: &Handle,
    shutdown: &Shutdown,
) -> Result<(), DaemonError> {
    let exposure = monitor::find_exposure(config);
    for (place, class, from) in exposure.places() {
        tracing::info!(place = %place.display(), exposure = %class, from, "exposure");
    }
    let settings = Arc::new(watch_settings(
        config,
        &monitor::extra_roots(config, &exposure),
    ));
    // Refused when quarantine could never work: a configured root read-only,
    // or every folder a glob matched (ProtectHome). One user's read-only
    // folder among others is only a warning: it must not stop the rest.
    let blocked = crate::remediation::read_only_roots(config, &settings.roots);
    let plain: Vec<PathBuf> = config
        .watch
        .paths
        .iter()
        .filter(|p| !watch::roots::is_glob(p))
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let matched: Vec<&PathBuf> = settings
        .roots
        .iter()
        .filter(|r| !plain.contains(r))
        .collect();
    let (globbed, configured): (Vec<&PathBuf>, Vec<&PathBuf>) =
        blocked.iter().partition(|r| matched.contains(r));
    if configured.is_empty() && !globbed.is_empty() && globbed.len() < matched.len() {
        for r in &globbed {
            tracing::warn!(root = %r.display(), "read-only to dlpd: a quarantine rule cannot move files out of it");
        }
    } else if !blocked.is_empty() {
        let names: Vec<String> = blocked.iter().map(|r| r.display().to_string()).collect();
        return Err(DaemonError::ReadOnlyRoots {
            roots: names.join(", "),
        });
    }
    let (msg_tx, msg_rx) = unbounded::<Message>();
    let mut listeners = metrics::Listeners::default();
    let remote =
        network::start_listener(config, msg_tx.clone(), runtime, shutdown, &mut listeners)?;
    let metrics = network::start_metrics(config, msg_tx.clone(), runtime, shutdown, &mut listeners);
    // Nothing sends without a listener; a closed channel would always be
    // ready in the keeper's select.
    let msg_rx = if config.uses_listener() || metrics {
        msg_rx
    } else {
        never()
    };
    drop(msg_tx);
    let nightfall_on = remote.is_some();
    let workers = match nightfall_on {
        true => config.nightfall.concurrency as usize,
        false => config.queue.workers as usize,
    };
    let snapshot = Snapshot::new(config.clone(), !nightfall_on).shared();
    let scanner = Scanner {
        snapshot: snapshot.clone(),
        remote,
    };
    let name = scanner.name();
    let mut store = Store::open(&config.output)?;
    // Events on before recovery: a scan given up or a quarantine finished
    // now is news to the fleet too.
    let outbound = outbound::start(config, &mut store, runtime, shutdown)?;
    let recovered = store.recover_running(config.queue.max_attempts, name)?;
    for path in &recovered.given_up {
        tracing::error!(
            path = %path.display(),
            attempts = config.queue.max_attempts,
            "giving up: the scan did not finish (the process ended during it)"
        );
    }
    let recovered = recovered.requeued;
    let sinks = crate::alerts::Sinks::load(&config.alerts)?;
    let remediator = Remediator::new(config, sinks.names());
    let finished = remediator.quarantine.recover(&mut store)?;
    if finished > 0 {
        tracing::warn!(finished, "finished quarantines a crash interrupted");
    }
    if !sinks.names().is_empty() {
        network::start_alerts(config, sinks, runtime, shutdown);
    } else if remediator.notifies() {
        tracing::warn!(
            "[remediation] rules notify, but no [alerts] sink is set: findings are only recorded"
        );
    }
    let monitor = monitor::Monitor::start(&mut store, config)?;
    store.set_meta("daemon.pid", Some(&std::process::id().to_string()))?;
    store.set_meta(
        "daemon.started",
        Some(&unix_secs(SystemTime::now()).to_string()),
    )?;

    let liveness = Liveness::new();
    let (watch_tx, watch_rx) = bounded(BATCH);
    let watcher = watch::spawn((*settings).clone(), watch_tx.clone(), &liveness)?;
    // Removable media come and go; they are exposure, and roots when watched.
    if let Err(e) = watch::mounts::spawn(watch_tx.clone()) {
        tracing::warn!(
            "cannot follow the mount table: {e}; media mounted from now on are seen as local"
        );
    }

    let (walk_tx, walk_rx) = unbounded::<Walk>();
    let (seen_tx, seen_rx) = bounded::<Seen>(BATCH);
    let walked = Arc::new(AtomicU64::new(0));
    {
        let walked = walked.clone();
        let lookup = crate::store::Lookup::open(&store)?;
        std::thread::Builder::new()
            .name("dlpd-walk".into())
            .spawn(move || walker(&walk_rx, &seen_tx, &walked, &lookup))?;
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
        let _ = walk_tx.send(Walk {
            dir: root.clone(),
            settings: settings.clone(),
            baseline: true,
        });
    }

    // The keeper hands out at most `slots` jobs, so its sends never block.
    let slots = match nightfall_on {
        true => workers * UPLOADS_PER_WORKER,
        false => (workers * JOBS_PER_WORKER).min(MAX_SLOTS.max(workers)),
    };
    let (job_tx, job_rx) = bounded::<Job>(slots);
    let (done_tx, done_rx) = unbounded::<Done>();
    let work = {
        let scanner = scanner.clone();
        move |job| scanner.work(job)
    };
    crate::pool::spawn(workers, "dlpd-scan", job_rx, done_tx, Some(&liveness), work)?;
    // Events are drained while the watches go in; a stop is heard too.
    let (stopped, early_reload) = wait_for_watches(&watcher, control);

    tracing::info!(
        roots = ?settings.roots,
        globs = ?settings.patterns,
        workers,
        engine = name,
        recovered,
        state = %config.output.state_dir.display(),
        "dlpd started"
    );
    for root in crate::config::roots_in_service_home(config) {
        tracing::warn!(root = %root.display(), "this watch root is inside the service account's home, where `~` leads a system service: no person's files are there; name the folders by their full paths, e.g. /home/*/Downloads");
    }
    if !stopped {
        ready();
    }

    let mut keeper = Keeper {
        store,
        snapshot,
        engine: name,
        deferred: VecDeque::new(),
        changed: VecDeque::new(),
        in_flight: 0,
        slots,
        progress: Progress {
            walks_pending: baseline.len(),
            walked,
            ..Progress::default()
        },
        watch_rx,
        seen_rx,
        done_rx,
        walk_tx,
        job_tx: Some(job_tx),
        msg_rx,
        results: nightfall_on.then(Results::default),
        overdue_checked: Instant::now(),
        remediator,
        settings,
        watcher: Some(watcher),
        watch_tx,
        watchdog: Watchdog::from_env(),
        notes_lost: 0,
        beat: liveness.looping("keeper"),
        liveness,
        backlog: Default::default(),
        trouble: None,
        counters: metrics::Counters::new(listeners),
        unreadable: Default::default(),
        csv_behind: None,
        health_noted: (String::new(), Instant::now()),
        recorded_at: None,
        monitor,
        exposure,
        outbound,
    };
    if let Some(config) = early_reload {
        keeper.reload(*config);
    }
    let result = match stopped {
        true => Ok(()),
        false => keeper.serve(control),
    };
    // Stop taking work: the watcher goes, workers finish what they hold.
    keeper.watcher = None;
    keeper.job_tx = None;
    let settled = result.and_then(|()| keeper.drain());
    // Scans cut off by the stop were interrupted, not failed.
    let _ = keeper.store.release_interrupted();
    let left = keeper.store.queue_counts().map(|c| c.total()).unwrap_or(0);
    let _ = keeper.store.set_meta("daemon.pid", None);
    tracing::info!(
        queued = left,
        notes_lost = keeper.notes_lost,
        "dlpd stopped"
    );
    Ok(settled?)
}

/// Waits until the watches on the roots are in place (a large tree takes
/// a while), unless told to stop first. Returns whether a stop came, and
/// a reload that came meanwhile, to apply once running.
fn wait_for_watches(
    watcher: &watch::Watcher,
    control: &Receiver<Control>,
) -> (bool, Option<Box<Config>>) {
    let mut reload = None;
    let started = Instant::now();
    let mut told = false;
    while !watcher.wait_ready(Duration::from_millis(100)) {
        match control.try_recv() {
            Ok(Control::Stop) | Err(crossbeam_channel::TryRecvError::Disconnected) => {
                return (true, reload);
            }
            Ok(Control::Reload(config)) => reload = Some(config),
            Err(crossbeam_channel::TryRecvError::Empty) => {}
        }
        if !told && started.elapsed() >= Duration::from_secs(5) {
            told = true;
            tracing::info!("adding watches to a large tree; events are already being taken");
        }
    }
    (false, reload)
}

/// The watcher's view of the config, with dlpd's own files ignored.
pub fn watch_settings(config: &Config, extra: &[PathBuf]) -> WatchSettings {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (patterns, plain): (Vec<&PathBuf>, Vec<&PathBuf>) = config
        .watch
        .paths
        .iter()
        .partition(|p| watch::roots::is_glob(p));
    let mut roots: Vec<PathBuf> = plain.into_iter().map(|p| absolute(p)).collect();
    let mut known: std::collections::BTreeSet<PathBuf> = roots.iter().cloned().collect();
    for pattern in &patterns {
        roots.extend(watch::roots::new_matches(pattern, &mut known));
    }
    roots.extend(extra.iter().filter(|r| known.insert((*r).clone())).cloned());
    WatchSettings {
        roots,
        patterns: patterns.into_iter().cloned().collect(),
        include: PathFilter::new(&config.watch.include),
        exclude: PathFilter::new(&config.watch.exclude),
        ignore: [
            absolute(&config.output.state_dir),
            absolute(&config.output.csv_path()),
            absolute(&config.remediation.quarantine_dir(&config.output)),
        ]
        .into_iter()
        .chain(crate::config::PSEUDO_FILESYSTEMS.map(PathBuf::from))
        .collect(),
        debounce: Duration::from_millis(config.watch.debounce_ms),
        max_wait: Duration::from_millis(config.watch.max_wait_ms),
        follow_symlinks: config.watch.follow_symlinks,
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
