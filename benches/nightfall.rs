//! The Nightfall engine end to end: the real `dlpd run` binary against the
//! fake Nightfall service of the test suite (tests/support/nightfall.rs).
//!
//! Run with `cargo bench --bench nightfall`. It prints:
//! - upload: one 2 GiB file sent in 10 MiB chunks, its throughput, and the
//!   daemon's peak RSS while it uploads (the budget is 64 MB);
//! - concurrency: 200 small files with 20 ms of service latency per call,
//!   files/s at `concurrency = 4` and at `concurrency = 1`, and the ratio;
//! - rate limit: 20 files against a service that allows 5 requests/s,
//!   achieved files/s against the bound that limit sets (4 calls a file).

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::daemon::Daemon;
use support::nightfall::{FakeNightfall, Options};
use support::{SAMPLE_PCI, wait_for};

/// A Nightfall-engine daemon on `fake` that takes files up to 4 GiB, with
/// `extra` in `[nightfall]`.
fn daemon(fake: &FakeNightfall, opts: &Options, extra: &str, tail: &str) -> Daemon {
    let scanner = "max_file_bytes = 4294967296";
    support::nightfall::daemon(fake, opts, scanner, extra, tail).0
}

fn files_recorded(d: &Daemon) -> i64 {
    d.count("SELECT count(*) FROM files")
}

/// A field of /proc/PID/status, in KiB.
fn status_kib(d: &Daemon, field: &str) -> u64 {
    let pid = d.child.as_ref().unwrap().id();
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn upload_2gib() {
    let opts = Options {
        chunk_size: 10 * 1024 * 1024,
        keep_content: false,
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    let mut d = daemon(&fake, &opts, "requests_per_second = 1000", "");
    let size: u64 = 2 << 30;
    let big = d.root().join("big.bin");
    {
        // Text-like content, written once: the daemon reads every byte.
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let line = b"id,name,notes,lorem ipsum dolor sit amet consectetur adipiscing elit\n";
        let mut left = size;
        while left > 0 {
            let n = left.min(line.len() as u64) as usize;
            f.write_all(&line[..n]).unwrap();
            left -= n as u64;
        }
    }
    let t0 = Instant::now();
    d.start();
    let mut peak = 0;
    let done = wait_for(Duration::from_secs(600), || {
        peak = peak.max(status_kib(&d, "VmRSS:"));
        files_recorded(&d) == 1
    });
    let secs = t0.elapsed().as_secs_f64();
    let hwm = status_kib(&d, "VmHWM:");
    assert!(done, "the 2 GiB file was not recorded:\n{}", d.log());
    let chunks = fake.stats().requests.get("chunk").copied().unwrap_or(0);
    println!(
        "upload      2 GiB in {chunks} chunks: {secs:.1} s, {:.0} MB/s; daemon peak RSS {:.1} MiB (VmHWM), budget 64 MB",
        size as f64 / secs / 1e6,
        hwm.max(peak) as f64 / 1024.0
    );
    let _ = std::fs::remove_file(big);
}

fn small_files(d: &Daemon, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = d.root().join(format!("f{i:04}.csv"));
            std::fs::write(&p, format!("file {i}\n{SAMPLE_PCI}")).unwrap();
            p
        })
        .collect()
}

/// Files/s from start until `n` files are recorded.
fn run_files(d: &mut Daemon, n: usize) -> f64 {
    let t0 = Instant::now();
    d.start();
    assert!(
        wait_for(Duration::from_secs(600), || files_recorded(d) == n as i64),
        "not all recorded:\n{}",
        d.log()
    );
    n as f64 / t0.elapsed().as_secs_f64()
}

fn concurrency() {
    let n = 200;
    let mut rates = Vec::new();
    for c in [4, 1] {
        let opts = Options::default();
        let fake = FakeNightfall::start(opts.clone());
        fake.faults(|f| f.delay = Duration::from_millis(20));
        let mut d = daemon(
            &fake,
            &opts,
            &format!("requests_per_second = 1000\nconcurrency = {c}"),
            "",
        );
        small_files(&d, n);
        let rate = run_files(&mut d, n);
        println!("concurrency {c}: {n} files, 20 ms per call: {rate:.1} files/s");
        rates.push(rate);
    }
    println!("concurrency 4 / 1: {:.2}x", rates[0] / rates[1]);
}

fn rate_limit() {
    let n = 20;
    let opts = Options {
        rate_limit: Some(5),
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    let mut d = daemon(&fake, &opts, "requests_per_second = 5\nconcurrency = 4", "");
    small_files(&d, n);
    let rate = run_files(&mut d, n);
    let stats = fake.stats();
    let calls: u64 = stats.requests.values().sum();
    // The bound: 5 calls a second over the calls a file needs.
    let bound = 5.0 / ((calls - stats.rate_limited) as f64 / n as f64);
    println!(
        "rate limit  server allows 5 req/s; {n} files, {calls} calls, {} refused with 429: {rate:.2} files/s of a {bound:.2} files/s bound ({:.0}%)",
        stats.rate_limited,
        rate / bound * 100.0
    );
}

fn main() {
    // `cargo bench` passes --bench; a filter argument picks one part.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let parts: [(&str, fn()); 3] = [
        ("upload", upload_2gib),
        ("concurrency", concurrency),
        ("rate", rate_limit),
    ];
    for (name, part) in parts {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            part();
        }
    }
}
