//! The fleet sink with 100 simulated endpoints against one PostgreSQL.
//!
//! Run with `cargo bench --bench fleet` (needs Debian's `postgresql`
//! package; the bench makes and starts its own cluster). Each endpoint is
//! the real thing but the watcher: its own SQLite store recording reports
//! through `Store::record` with events on, and the real shipper
//! (`fleet::ship::ship`) on one shared tokio runtime, as in the daemon.
//!
//! Two phases:
//! 1. **Backlog**: each endpoint's outbox holds `BACKLOG` files' events
//!    (11 each: a file record and 10 findings) from while the database was
//!    away; then every shipper starts at once. Sustained rows/s is rows
//!    arrived over the time to drain all of them.
//! 2. **Steady**: each endpoint records one file with 10 findings every
//!    `STEADY_EVERY`, for `STEADY_FOR`; the delay from a finding's scan to
//!    its fleet row is `received_at - at` in the database: p50, p95, max.
//!
//! As the peer, the same rows are loaded by one `COPY` (psql's `\copy`
//! from a CSV), the fastest path into PostgreSQL, and the ratio printed.

#[path = "../tests/support/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use dlpd::config::{FleetConfig, OutputConfig, ScannerConfig};
use dlpd::engine::LocalEngine;
use dlpd::finding::{FileReport, Outcome};
use dlpd::store::{EventSettings, Store};

const ENDPOINTS: usize = 100;
const BACKLOG: usize = 200;
const STEADY_EVERY: Duration = Duration::from_secs(1);
const STEADY_FOR: Duration = Duration::from_secs(30);
const SAMPLE: &str = include_str!("../tests/data/sample-pci.csv");

struct Endpoint {
    store: Store,
    db_path: PathBuf,
    wake: tokio::sync::watch::Sender<()>,
    _dir: tempfile::TempDir,
}

fn endpoint(i: usize) -> Endpoint {
    let dir = tempfile::tempdir().unwrap();
    let cfg = OutputConfig {
        state_dir: dir.path().to_path_buf(),
        ..OutputConfig::default()
    };
    let mut store = Store::open(&cfg).unwrap();
    let (wake, _) = tokio::sync::watch::channel(());
    let settings = EventSettings {
        source: dlpd::events::Source {
            host_id: format!("sim-{i:03}"),
            host_name: format!("sim-{i:03}"),
            fleet_key: None,
        },
        cap: 10_000_000,
        wake: wake.clone(),
    };
    store
        .set_events(Some(settings), &[dlpd::fleet::CONSUMER])
        .unwrap();
    Endpoint {
        db_path: cfg.db_path(),
        store,
        wake,
        _dir: dir,
    }
}

/// `n` reports of the sample's 10 cards, named by endpoint and sequence.
fn reports(engine: &LocalEngine, host: usize, from: usize, n: usize) -> Vec<FileReport> {
    let findings = engine.scan_bytes(SAMPLE.as_bytes());
    assert_eq!(findings.len(), 10);
    (from..from + n)
        .map(|k| {
            let mut r = FileReport::new(
                &PathBuf::from(format!("/home/u/Downloads/export-{host:03}-{k:06}.csv")),
                "local",
                Outcome::Scanned {
                    findings: findings.clone(),
                },
            );
            r.size = SAMPLE.len() as u64;
            r.sha256 = Some(format!("{host:032x}{k:032x}"));
            r
        })
        .collect()
}

fn main() {
    let pg = postgres::Postgres::start();
    let url = pg.url();
    let fleet = FleetConfig {
        postgres_url: url.clone(),
        ..FleetConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = dlpd::fleet::Database::load(&fleet).unwrap();
        let mut client = db.connect().await.unwrap();
        dlpd::fleet::schema::migrate(&db, &mut client)
            .await
            .unwrap();
    });
    let engine = LocalEngine::new(&ScannerConfig::default());
    let mut endpoints: Vec<Endpoint> = (0..ENDPOINTS).map(endpoint).collect();

    // Phase 1: a backlog in every outbox, then every shipper at once.
    for (i, e) in endpoints.iter_mut().enumerate() {
        for chunk in 0..BACKLOG / 50 {
            e.store
                .record(&reports(&engine, i, chunk * 50, 50))
                .unwrap();
        }
    }
    let rows = (ENDPOINTS * BACKLOG * 11) as i64;
    let shutdown = dlpd::shutdown::Shutdown::new();
    let started = Instant::now();
    for e in &endpoints {
        let db = dlpd::fleet::Database::load(&fleet).unwrap();
        runtime.spawn(dlpd::fleet::ship::ship(
            e.db_path.clone(),
            db,
            fleet.batch_events,
            e.wake.subscribe(),
            shutdown.clone(),
        ));
        e.wake.send_replace(());
    }
    let count = |sql: &str| pg.count(sql);
    while count("SELECT (SELECT count(*) FROM findings) + (SELECT count(*) FROM files)") < rows {
        std::thread::sleep(Duration::from_millis(100));
    }
    let drain = started.elapsed().as_secs_f64();
    let shipped_rate = rows as f64 / drain;

    // The peer: the same rows by one COPY.
    let csv = std::env::temp_dir().join(format!("dlpd-fleet-bench-{}.csv", std::process::id()));
    pg.psql(
        postgres::USER,
        &format!(
            "COPY (SELECT * FROM findings) TO '{}' WITH (FORMAT csv)",
            csv.display()
        ),
    );
    pg.psql(
        postgres::USER,
        "CREATE TABLE copy_peer (LIKE findings INCLUDING DEFAULTS INCLUDING INDEXES)",
    );
    let t = Instant::now();
    pg.psql(
        postgres::USER,
        &format!("COPY copy_peer FROM '{}' WITH (FORMAT csv)", csv.display()),
    );
    let copy_rows = count("SELECT count(*) FROM copy_peer");
    let copy_rate = copy_rows as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&csv);

    // Phase 2: steady arrivals, delay from scan to fleet row.
    let steady_start = SystemTime::now();
    let t = Instant::now();
    let mut k = BACKLOG;
    while t.elapsed() < STEADY_FOR {
        let tick = Instant::now();
        for (i, e) in endpoints.iter_mut().enumerate() {
            e.store.record(&reports(&engine, i, k, 1)).unwrap();
        }
        k += 1;
        std::thread::sleep(STEADY_EVERY.saturating_sub(tick.elapsed()));
    }
    let expected = (ENDPOINTS * (k - BACKLOG) * 10) as i64;
    let since = steady_start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let recent = format!("findings WHERE at >= to_timestamp({since})");
    while count(&format!("SELECT count(*) FROM {recent}")) < expected {
        std::thread::sleep(Duration::from_millis(100));
    }
    let delays = pg.psql(
        postgres::USER,
        &format!(
            "SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - at)))::bigint || ' ' ||
                    round(1000 * percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - at)))::bigint || ' ' ||
                    round(1000 * max(extract(epoch FROM received_at - at)))::bigint FROM {recent}"
        ),
    );
    let d: Vec<&str> = delays.split(' ').collect();
    let bytes = pg.psql(
        postgres::USER,
        "SELECT pg_total_relation_size('findings_default') + coalesce((SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'findings'::regclass AND c.relname <> 'findings_default'), 0)",
    );
    let all_findings = count("SELECT count(*) FROM findings");
    let per_row = bytes.parse::<f64>().unwrap_or(0.0) / all_findings.max(1) as f64;

    println!("fleet: {ENDPOINTS} simulated endpoints, one PostgreSQL (fsync off), 2 tokio workers");
    println!(
        "backlog: {rows} rows ({BACKLOG} files x 11 events per endpoint) shipped in {drain:.1} s: {shipped_rate:.0} rows/s"
    );
    println!(
        "peer: one COPY of {copy_rows} rows: {copy_rate:.0} rows/s; the sink runs at {:.2}x COPY",
        shipped_rate / copy_rate
    );
    println!(
        "steady: {} findings/s for {} s: scan to fleet row p50 {} ms, p95 {} ms, max {} ms",
        ENDPOINTS * 10 / STEADY_EVERY.as_secs() as usize,
        STEADY_FOR.as_secs(),
        d.first().unwrap_or(&"?"),
        d.get(1).unwrap_or(&"?"),
        d.get(2).unwrap_or(&"?")
    );
    println!("storage: {per_row:.0} bytes per finding row in PostgreSQL (table and indexes)");
    std::process::exit(0);
}
