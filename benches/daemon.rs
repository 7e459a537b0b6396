//! The daemon end to end, as the real `dlpd run` binary.
//!
//! Run with `cargo bench --bench daemon`. It prints:
//! - burst: 10,000 small files (3% sensitive) created in a watched root, and
//!   the time until every one is recorded in SQLite (files/s end to end),
//!   with the daemon's peak RSS during the burst;
//! - idle: the daemon watching a tree of 100,000 files after its baseline
//!   scan, its RSS and CPU use over 10 s, and how long a restart over the
//!   unchanged tree takes to confirm there is nothing to scan.

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
    fn start(dir: &Path, scan_existing: bool) -> Run {
        let config = dir.join("dlpd.toml");
        std::fs::write(
            &config,
            format!(
                "[output]\nstate_dir = \"{}\"\n[watch]\npaths = [\"{}\"]\nscan_existing = {scan_existing}\n",
                dir.join("state").display(),
                dir.join("root").display()
            ),
        )
        .unwrap();
        let log = dir.join("daemon.log");
        let child = Command::new(env!("CARGO_BIN_EXE_dlpd"))
            .args(["--config", config.to_str().unwrap(), "run"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let run = Run {
            child,
            db: dir.join("state/dlpd.sqlite"),
            log,
        };
        run.wait(Duration::from_secs(30), || run.db.exists());
        // Let the watches settle in before the clock starts.
        std::thread::sleep(Duration::from_millis(500));
        run
    }

    fn count(&self, sql: &str) -> i64 {
        let Ok(conn) = rusqlite::Connection::open(&self.db) else {
            return -1;
        };
        let _ = conn.busy_timeout(Duration::from_secs(5));
        conn.query_row(sql, [], |r| r.get(0)).unwrap_or(-1)
    }

    fn wait(&self, limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if cond() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
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

    fn stop(mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn burst() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("root")).unwrap();
    let run = Run::start(dir.path(), true);
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
        "burst: {n} files created in {created:.2} s, all recorded after {secs:.2} s: {:.0} files/s end to end{} ({findings} findings)",
        n as f64 / secs,
        if ok { "" } else { " (TIMED OUT)" }
    );
    println!(
        "burst: daemon peak RSS {:.1} MiB",
        run.status_kib("VmHWM:") as f64 / 1024.0
    );
    run.stop();
}

fn idle() {
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
    let start = Instant::now();
    let run = Run::start(dir.path(), true);
    run.wait(Duration::from_secs(600), || {
        run.count("SELECT count(*) FROM files") == total
    });
    println!(
        "idle: baseline scan of {total} files took {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(2));
    let ticks = run.cpu_ticks();
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (run.cpu_ticks() - ticks) as f64 / hz / window.as_secs_f64() * 100.0;
    println!(
        "idle: watching {total} files: RSS {:.1} MiB, CPU {cpu:.2}% over {} s",
        run.status_kib("VmRSS:") as f64 / 1024.0,
        window.as_secs()
    );
    run.stop();
    std::fs::remove_file(dir.path().join("daemon.log")).unwrap();
    let start = Instant::now();
    let run = Run::start(dir.path(), true);
    run.wait(Duration::from_secs(120), || run.logged("walk complete"));
    let walked = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(1));
    let rescans = run.count("SELECT count(*) FROM files WHERE scans > 1");
    run.stop();
    println!(
        "idle: restart over the unchanged tree: walked in {walked:.1} s, {rescans} files rescanned"
    );
}

fn main() {
    println!(
        "dlpd daemon benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    burst();
    idle();
}
