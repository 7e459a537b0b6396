//! The daemon end to end, as the real `dlpd run` binary.
//!
//! Run with `cargo bench --bench daemon`. It prints:
//! - burst: 10,000 small files (3% sensitive) created in a watched root, and
//!   the time until every one is recorded in SQLite (files/s end to end),
//!   with the daemon's peak RSS during the burst;
//! - latency: while a writer creates 1,000 clean files a second, a file
//!   with a card number is dropped in every 100 ms or so; the time from
//!   its write until its row is in SQLite, less `debounce_ms`, as p50, p95
//!   and p99;
//! - idle: the daemon watching a tree of 100,000 files after its baseline
//!   scan, its RSS, CPU use and thread wake-ups over 60 s, and how long a
//!   restart over the unchanged tree takes to confirm there is nothing to
//!   scan.
//!
//! With `DLPD_BASELINE_BIN=/path/to/an/older/dlpd`, each part runs again
//! with that binary, and the ratios are printed: the way to compare two
//! builds in one run on one machine.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SAMPLE: &str = include_str!("../tests/data/sample-pci.csv");

struct Run {
    child: Child,
    db: PathBuf,
    log: PathBuf,
}

impl Run {
    fn start(bin: &Path, dir: &Path, scan_existing: bool) -> Run {
        Run::start_with(bin, dir, &format!("scan_existing = {scan_existing}\n"))
    }

    /// Starts with `watch` added to the `[watch]` section.
    fn start_with(bin: &Path, dir: &Path, watch: &str) -> Run {
        let run = Run::spawn(bin, dir, watch);
        run.wait(Duration::from_secs(30), || run.db.exists());
        // Let the watches settle in before the clock starts.
        std::thread::sleep(Duration::from_millis(500));
        run
    }

    /// Starts the daemon and returns at once: for timing from the start.
    fn spawn(bin: &Path, dir: &Path, watch: &str) -> Run {
        let config = dir.join("dlpd.toml");
        std::fs::write(
            &config,
            format!(
                "[output]\nstate_dir = \"{}\"\n[watch]\npaths = [\"{}\"]\n{watch}",
                dir.join("state").display(),
                dir.join("root").display()
            ),
        )
        .unwrap();
        let log = dir.join("daemon.log");
        let child = Command::new(bin)
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Run {
            child,
            db: dir.join("state/dlpd.sqlite"),
            log,
        }
    }

    fn count(&self, sql: &str) -> i64 {
        let Ok(conn) = rusqlite::Connection::open(&self.db) else {
            return -1;
        };
        let _ = conn.busy_timeout(Duration::from_secs(5));
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
    }

    fn wait(&self, limit: Duration, cond: impl FnMut() -> bool) -> bool {
        self.wait_every(limit, Duration::from_millis(20), cond)
    }

    fn wait_every(&self, limit: Duration, every: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(every);
        }
        false
    }

    fn logged(&self, what: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|l| l.contains(what))
    }

    /// A field of /proc/PID/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let s =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let after = s.rsplit_once(')').map_or("", |(_, a)| a);
        let f: Vec<&str> = after.split_whitespace().collect();
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    }

    /// Context switches of every thread so far: how often it woke.
    fn wakeups(&self) -> u64 {
        let tasks = format!("/proc/{}/task", self.child.id());
        let Ok(entries) = std::fs::read_dir(tasks) else {
            return 0;
        };
        entries
            .flatten()
            .map(|t| std::fs::read_to_string(t.path().join("status")).unwrap_or_default())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// Returns files/s end to end.
fn burst(who: &str, bin: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let run = Run::start(bin, dir.path(), true);
    let n = 10_000;
    let start = Instant::now();
    for i in 0..n {
        let body = if i % 33 == 0 {
            SAMPLE.to_string()
        } else {
            format!("invoice {i}: shipped on 2024-05-01, total 1234.50\n")
        };
        std::fs::write(dir.path().join(format!("root/f{i:05}.txt")), body).unwrap();
    }
    let created = start.elapsed().as_secs_f64();
    let ok = run.wait(Duration::from_secs(300), || {
        run.count("SELECT count(*) FROM files") == n
    });
    let secs = start.elapsed().as_secs_f64();
    let findings = run.count("SELECT count(*) FROM findings");
    println!(
        "{who} burst: {n} files created in {created:.2} s, all recorded after {secs:.2} s: {:.0} files/s end to end{} ({findings} findings)",
        n as f64 / secs,
        if ok { "" } else { " (TIMED OUT)" }
    );
    println!(
        "{who} burst: daemon peak RSS {:.1} MiB",
        run.status_kib("VmHWM:") as f64 / 1024.0
    );
    run.stop();
    n as f64 / secs
}

/// Event to finding under a steady background load; returns p95 in ms.
fn latency(who: &str, bin: &Path) -> f64 {
    const DEBOUNCE_MS: u64 = 100;
    const RATE: u64 = 1_000;
    const PROBES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root/load")).unwrap();
    let run = Run::start_with(bin, dir.path(), &format!("debounce_ms = {DEBOUNCE_MS}\n"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, root) = (stop.clone(), dir.path().join("root/load"));
        std::thread::spawn(move || {
            // 10 files every 10 ms, on a schedule that catches up if late.
            let start = Instant::now();
            let mut written = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let due = start.elapsed().as_millis() as u64 * RATE / 1000;
                while written < due {
                    let body = format!("invoice {written}: shipped on 2024-05-01, total 1234.50\n");
                    std::fs::write(root.join(format!("l{written:07}.txt")), body).unwrap();
                    written += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            (written, start.elapsed())
        })
    };
    // Let the load reach a steady state before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let conn = rusqlite::Connection::open(&run.db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare("SELECT count(*) FROM files WHERE path = ?1")
        .unwrap();
    let mut took = Vec::with_capacity(PROBES);
    let mut lost = 0;
    for i in 0..PROBES {
        let probe = dir.path().join(format!("root/probe{i:03}.csv"));
        let key = probe.to_str().unwrap().as_bytes().to_vec();
        let start = Instant::now();
        std::fs::write(&probe, SAMPLE).unwrap();
        let seen = run.wait_every(Duration::from_secs(10), Duration::from_millis(2), || {
            stmt.query_row([&key], |r| r.get::<_, i64>(0)).unwrap_or(0) == 1
        });
        if seen {
            took.push(
                start
                    .elapsed()
                    .saturating_sub(Duration::from_millis(DEBOUNCE_MS)),
            );
        } else {
            lost += 1;
        }
        std::thread::sleep(Duration::from_millis(20 + (i as u64 * 7) % 30));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (written, over) = writer.join().unwrap();
    took.sort();
    if took.is_empty() {
        println!("{who} latency: no probe was recorded within 10 s");
        run.stop();
        return f64::NAN;
    }
    let pct = |p: f64| took[((took.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    println!(
        "{who} latency: event to finding less debounce_ms ({DEBOUNCE_MS} ms), {} probes under {:.0} files/s of load: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms{}",
        took.len(),
        written as f64 / over.as_secs_f64(),
        pct(0.50),
        pct(0.95),
        pct(0.99),
        if lost > 0 {
            format!(" ({lost} probes not recorded within 10 s)")
        } else {
            String::new()
        }
    );
    println!(
        "{who} latency: daemon peak RSS {:.1} MiB",
        run.status_kib("VmHWM:") as f64 / 1024.0
    );
    run.stop();
    pct(0.95)
}

fn idle(who: &str, bin: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let (dirs, per) = (100, 1000);
    for d in 0..dirs {
        let sub = dir.path().join(format!("root/d{d:03}"));
        std::fs::create_dir_all(&sub).unwrap();
        for f in 0..per {
            std::fs::write(sub.join(format!("f{f:04}.txt")), format!("note {d}/{f}\n")).unwrap();
        }
    }
    let total = (dirs * per) as i64;
    // The same tree through `dlpd scan`, with and without the store: the
    // daemon's first scan does the store's work too.
    let one_off = |store: bool| {
        let state = tempfile::tempdir().unwrap();
        let config = state.path().join("dlpd.toml");
        std::fs::write(
            &config,
            format!("[output]\nstate_dir = \"{}\"\n", state.path().display()),
        )
        .unwrap();
        let start = Instant::now();
        let mut cmd = Command::new(bin);
        cmd.args([
            "--config",
            config.to_str().unwrap(),
            "scan",
            "-q",
            "--format",
            "jsonl",
        ]);
        if store {
            cmd.arg("--store");
        }
        cmd.arg(dir.path().join("root"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        start.elapsed().as_secs_f64()
    };
    let (scan, scan_store) = (one_off(false), one_off(true));
    // Timed from the start, as `dlpd scan` is, and polled by the largest
    // row id (a first scan deletes none): counting 100,000 rows every
    // 20 ms took CPU from the daemon being measured.
    let start = Instant::now();
    let run = Run::spawn(bin, dir.path(), "scan_existing = true\n");
    run.wait(Duration::from_secs(600), || {
        run.count("SELECT coalesce(max(id), 0) FROM files") >= total
    });
    let first = start.elapsed().as_secs_f64();
    assert_eq!(run.count("SELECT count(*) FROM files"), total);
    println!(
        "{who} idle: baseline scan of {total} files took {first:.1} s; dlpd scan of the same tree {scan:.2} s ({:.1}x), with --store {scan_store:.2} s ({:.1}x; target 2x at most)",
        first / scan,
        first / scan_store
    );
    std::thread::sleep(Duration::from_secs(2));
    let (ticks, woke) = (run.cpu_ticks(), run.wakeups());
    let window = Duration::from_secs(60);
    std::thread::sleep(window);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (run.cpu_ticks() - ticks) as f64 / hz / window.as_secs_f64() * 100.0;
    let per_sec = (run.wakeups() - woke) as f64 / window.as_secs_f64();
    println!(
        "{who} idle: watching {total} files: RSS {:.1} MiB, CPU {cpu:.3}% and {per_sec:.1} thread wake-ups/s over {} s (targets: 0.05%, none periodic)",
        run.status_kib("VmRSS:") as f64 / 1024.0,
        window.as_secs()
    );
    run.stop();
    std::fs::remove_file(dir.path().join("daemon.log")).unwrap();
    let start = Instant::now();
    let run = Run::start(bin, dir.path(), true);
    run.wait(Duration::from_secs(120), || run.logged("walk complete"));
    let walked = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rescans = run.count("SELECT count(*) FROM files WHERE scans > 1");
    run.stop();
    println!(
        "{who} idle: restart over the unchanged tree: walked in {walked:.1} s, {rescans} files rescanned"
    );
}

fn main() {
    println!(
        "dlpd daemon benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let ours = Path::new(env!("CARGO_BIN_EXE_dlpd"));
    let baseline = std::env::var_os("DLPD_BASELINE_BIN").map(PathBuf::from);
    let rate = burst("dlpd", ours);
    if let Some(old) = &baseline {
        let old_rate = burst("baseline", old);
        println!(
            "burst: dlpd / baseline = {:.2}x the files/s",
            rate / old_rate
        );
    }
    let p95 = latency("dlpd", ours);
    if let Some(old) = &baseline {
        let old_p95 = latency("baseline", old);
        println!("latency: baseline p95 / dlpd p95 = {:.2}x", old_p95 / p95);
    }
    idle("dlpd", ours);
    if let Some(old) = &baseline {
        idle("baseline", old);
    }
}
