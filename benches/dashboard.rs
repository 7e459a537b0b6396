//! The dashboard over a large store, served by the real `dlpd run`.
//!
//! Run with `cargo bench --bench dashboard`. It records 100,000 files
//! with findings, 1,000,000 findings in all, through the store's own
//! recording path (findings from the local engine, spread over 30 days,
//! three exposures), starts the daemon on that store with the dashboard
//! on, and times 100 requests of each kind over loopback: the sensitive
//! files page (HTML) and its JSON, a deep page, filtered and sorted
//! lists, one file, and the overview's JSON. It prints p50, p95 and p99 in
//! milliseconds, and beside each list the same query run in-process
//! through `store::Views` (SQLite alone, no HTTP or rendering) with the
//! ratio: what serving costs over the query.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use dlpd::config::{OutputConfig, ScannerConfig};
use dlpd::engine::LocalEngine;
use dlpd::finding::{Exposure, FileReport, Outcome};
use dlpd::store::{FileFilter, Sort, Store, Views};

const FILES: usize = 100_000;
const FINDINGS: usize = 1_000_000;
const REQUESTS: usize = 100;
const TOKEN: &str = "bench-token-5f2c";
const SAMPLE: &str = include_str!("../tests/data/sample-pci.csv");

/// Three kinds of file, ten findings each.
fn texts() -> Vec<String> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut secret = || {
        (0..40)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(seed >> 58) as usize] as char
            })
            .collect::<String>()
    };
    let keys: String = (0..10)
        .map(|_| format!("aws_secret_access_key = \"{}\"\n", secret()))
        .collect();
    let ssns: String = (0..10)
        .map(|i| format!("employee {i}: ssn 536-22-{:04}\n", 1000 + i * 37))
        .collect();
    vec![SAMPLE.to_string(), keys, ssns]
}

fn build_store(state: &Path) {
    let cfg = OutputConfig {
        state_dir: state.to_path_buf(),
        ..OutputConfig::default()
    };
    let mut store = Store::open(&cfg).unwrap();
    let engine = LocalEngine::new(&ScannerConfig::default());
    let findings: Vec<_> = texts()
        .iter()
        .map(|t| engine.scan_bytes(t.as_bytes()))
        .collect();
    for (f, t) in findings.iter().zip(texts()) {
        assert!(!f.is_empty(), "no findings in {t}");
    }
    let per_file = FINDINGS / FILES;
    let now = SystemTime::now();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(2000);
    for i in 0..FILES {
        let mut f = findings[i % findings.len()].clone();
        f.truncate(per_file);
        while f.len() < per_file {
            f.push(f[0].clone());
        }
        let mut r = FileReport::new(
            &PathBuf::from(format!("/home/u{}/Downloads/export-{i:06}.csv", i % 50)),
            "local",
            Outcome::Scanned { findings: f },
        );
        r.size = 4096;
        r.sha256 = Some(format!("{i:064x}"));
        r.scanned_at = now - Duration::from_secs((i as u64 * 26) % (30 * 86_400));
        r.exposure = Some([Exposure::Local, Exposure::CloudSync, Exposure::Removable][i % 3]);
        batch.push(r);
        if batch.len() == 2000 {
            store.record(&batch).unwrap();
            batch.clear();
        }
    }
    store.record(&batch).unwrap();
    eprintln!(
        "store: {FILES} files, {FINDINGS} findings recorded in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path) -> (Daemon, u16) {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let config = dir.join("dlpd.toml");
    std::fs::write(
        &config,
        format!(
            "[output]\nstate_dir = \"{}\"\n[webhook]\nlisten = \"127.0.0.1:0\"\n[dashboard]\nenabled = true\n\
             [metrics]\nlisten = \"\"\n[watch]\npaths = [\"{}\"]\n",
            dir.join("state").display(),
            root.display()
        ),
    )
    .unwrap();
    let log = dir.join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_dlpd"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .env("DLPD_API_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let daemon = Daemon(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let port = text
            .lines()
            .filter(|l| l.contains(" listening "))
            .find_map(|l| l.split(' ').find_map(|w| w.strip_prefix("listen=")))
            .and_then(|a| a.rsplit(':').next()?.parse().ok());
        if let Some(port) = port {
            return (daemon, port);
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One GET with the bearer token; the status and body length.
fn get(port: u16, path: &str) -> (u16, usize) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let status = answer
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|c| std::str::from_utf8(c).ok()?.parse().ok())
        .unwrap_or(0);
    (status, answer.len())
}

/// p50, p95, p99 of `f`'s durations over [`REQUESTS`] runs, in ms.
fn percentiles(mut f: impl FnMut()) -> [f64; 3] {
    for _ in 0..5 {
        f();
    }
    let mut times: Vec<f64> = (0..REQUESTS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() as f64 * q).ceil() as usize).min(times.len()) - 1];
    [at(0.50), at(0.95), at(0.99)]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    build_store(&dir.path().join("state"));
    let (_daemon, port) = start(dir.path());
    let db = dir.path().join("state/dlpd.sqlite");
    let views = Views::open(&db).unwrap();

    let filter = |q: &str| {
        let mut f = FileFilter {
            page: 1,
            ..FileFilter::default()
        };
        for (k, v) in q.split('&').filter_map(|kv| kv.split_once('=')) {
            match k {
                "detector" => f.detector = Some(v.into()),
                "confidence" => f.confidence = dlpd::finding::Confidence::parse(v),
                "sort" => f.sort = Sort::parse(v).unwrap(),
                "page" => f.page = v.parse().unwrap(),
                "exposure" => f.exposure = Some(v.into()),
                _ => {}
            }
        }
        f
    };
    println!(
        "dashboard over {FILES} files with {FINDINGS} findings; {REQUESTS} requests each, over loopback"
    );
    println!(
        "{:<58} {:>8} {:>8} {:>8} {:>10} {:>7}",
        "request", "p50 ms", "p95 ms", "p99 ms", "SQL p95", "ratio"
    );
    let lists = [
        ("GET /files (the page, HTML)", "/files", ""),
        ("GET /api/files", "/api/files", ""),
        (
            "GET /api/files?page=1500",
            "/api/files?page=1500",
            "page=1500",
        ),
        (
            "GET /api/files?detector=US_SOCIAL_SECURITY_NUMBER&conf…",
            "/api/files?detector=US_SOCIAL_SECURITY_NUMBER&confidence=LIKELY",
            "detector=US_SOCIAL_SECURITY_NUMBER&confidence=LIKELY",
        ),
        (
            "GET /api/files?sort=findings",
            "/api/files?sort=findings",
            "sort=findings",
        ),
        (
            "GET /api/files?exposure=removable&sort=path",
            "/api/files?exposure=removable&sort=path",
            "exposure=removable&sort=path",
        ),
    ];
    for (name, path, query) in lists {
        let (status, bytes) = get(port, path);
        assert_eq!(status, 200, "{path}");
        assert!(bytes > 1000, "{path}: {bytes} bytes");
        let served = percentiles(|| {
            get(port, path);
        });
        let f = filter(query);
        let sql = percentiles(|| {
            let page = views.files(&f, SystemTime::now()).unwrap();
            assert!(!page.files.is_empty());
        });
        println!(
            "{name:<58} {:>8.1} {:>8.1} {:>8.1} {:>10.1} {:>6.1}x",
            served[0],
            served[1],
            served[2],
            sql[1],
            served[1] / sql[1]
        );
    }
    for (name, path) in [
        ("GET /files/50000 (one file, HTML)", "/files/50000"),
        ("GET /api/summary (the overview's JSON)", "/api/summary"),
        ("GET / (the overview, HTML)", "/"),
    ] {
        assert_eq!(get(port, path).0, 200, "{path}");
        let served = percentiles(|| {
            get(port, path);
        });
        println!(
            "{name:<58} {:>8.1} {:>8.1} {:>8.1}",
            served[0], served[1], served[2]
        );
    }
}
