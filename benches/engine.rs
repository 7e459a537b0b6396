//! Throughput and memory of the local engine, with ripgrep as the reference.
//!
//! Run with `cargo bench --bench engine`. It generates a corpus in a temp
//! directory (text, CSV, JSON and logs, a few percent of lines sensitive),
//! then prints, in one run:
//! - engine MB/s on one core and on all cores, on the mixed corpus;
//! - engine MB/s on one core on text with no findings;
//! - files/s on many small files;
//! - ripgrep (`rg`, Debian's ripgrep) with an equivalent regex set on the
//!   same files (one pattern per secret family, from dlpd's own table, and
//!   the cards, SSNs and assignments), one thread and all threads, and the
//!   ratio;
//! - all detectors' speed as a share of the default's;
//! - the `dlpd scan` binary as users run it (store on, results to a file)
//!   against ripgrep, and with a 200-rule gitleaks-format pack against
//!   Kingfisher (`pip install kingfisher-bin`) running the same pack;
//! - peak memory after streaming 64 MiB and 1 GiB through the engine;
//! - the `dlpd scan` binary against `rg -z` on three trees, one thread and
//!   all: the mixed corpus, real files (`/usr/share/doc`, `/usr/include`,
//!   Python's library) and 100,000 small files (`engine_trees`).
//!
//! `DLPD_BENCH_MB` sets the size of each corpus (default 256);
//! `DLPD_BENCH_DIR` keeps the corpus in that directory instead of a temp one.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dlpd::config::ScannerConfig;
use dlpd::engine::{LocalEngine, ScanOptions};
use dlpd::scan::{WalkOptions, scan_paths};

mod engine_peers;
mod engine_trees;

/// A small, fast, deterministic PRNG: the corpus is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| (b'0' + self.below(10) as u8) as char)
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..n)
            .map(|_| A[self.below(A.len() as u64) as usize] as char)
            .collect()
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "had",
    "they",
    "you",
    "were",
    "their",
    "one",
    "all",
    "we",
    "can",
    "her",
    "has",
    "there",
    "been",
    "if",
    "more",
    "when",
    "will",
    "would",
    "who",
    "so",
    "no",
    "quarterly",
    "report",
    "customer",
    "shipment",
    "invoice",
    "meeting",
    "project",
    "schedule",
    "budget",
    "review",
    "engineering",
    "department",
    "analysis",
    "production",
    "warehouse",
    "inventory",
    "regional",
    "performance",
    "account",
    "manager",
    "Monday",
    "Tuesday",
    "March",
    "London",
    "Berlin",
];

fn luhn_card(rng: &mut Rng) -> String {
    let prefix = rng.pick(&["4", "51", "55", "37", "6011"]);
    let len = if prefix == "37" { 15 } else { 16 };
    let mut body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    let digits: Vec<u32> = body.bytes().map(|b| (b - b'0') as u32).collect();
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    body.push((b'0' + ((10 - sum % 10) % 10) as u8) as char);
    if len == 16 {
        format!(
            "{}-{}-{}-{}",
            &body[..4],
            &body[4..8],
            &body[8..12],
            &body[12..]
        )
    } else {
        body
    }
}

fn secret(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => luhn_card(rng),
        1 => format!(
            "{:03}-{:02}-{:04}",
            100 + rng.below(500),
            1 + rng.below(98),
            1 + rng.below(9998)
        ),
        2 => format!("github_pat_{}_{}", rng.alnum(22), rng.alnum(59)),
        _ => format!(
            "AKIA{}7",
            rng.alnum(15)
                .to_uppercase()
                .replace(['0', '1', '8', '9'], "Q")
        ),
    }
}

/// A sentence of words with a number or a date now and then; never two
/// numbers in a row, so it holds no SSN-shaped `123 45 6789`.
fn sentence(rng: &mut Rng, out: &mut String) {
    let n = 6 + rng.below(14);
    let mut last_was_number = false;
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        let roll = if last_was_number { 2 } else { rng.below(40) };
        match roll {
            0 => out.push_str(&rng.below(3000).to_string()),
            1 => out.push_str(&format!(
                "{}-{:02}-{:02}",
                2000 + rng.below(26),
                1 + rng.below(12),
                1 + rng.below(28)
            )),
            _ => out.push_str(rng.pick(WORDS)),
        }
        last_was_number = roll < 2;
    }
    out.push_str(".\n");
}

/// One line of the given kind; `sensitive` plants a value in it.
fn line(rng: &mut Rng, kind: u64, sensitive: bool, out: &mut String) {
    let value = if sensitive { Some(secret(rng)) } else { None };
    match kind {
        0 => {
            sentence(rng, out);
            if let Some(v) = value {
                out.push_str(&format!("Please note {v} for the record.\n"));
            }
        }
        1 => out.push_str(&format!(
            "{},{} {},{}@example.com,{}.{:02},{}\n",
            10000 + rng.below(90000),
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.pick(WORDS),
            rng.below(5000),
            rng.below(100),
            value.unwrap_or_else(|| format!("2024-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)))
        )),
        2 => out.push_str(&format!(
            "{{\"id\": {}, \"user\": \"{}\", \"status\": \"{}\", \"note\": \"{}\"}}\n",
            rng.below(1_000_000),
            rng.pick(WORDS),
            rng.pick(&["active", "closed", "pending"]),
            value.unwrap_or_else(|| rng.pick(WORDS).to_string())
        )),
        _ => out.push_str(&format!(
            "2024-05-{:02}T{:02}:{:02}:{:02}.{:03}Z INFO request path=/api/v1/{} status={} ms={} {}\n",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            rng.pick(WORDS),
            rng.pick(&["200", "201", "404", "500"]),
            rng.below(900),
            value.map(|v| format!("detail={v}")).unwrap_or_default()
        )),
    }
}

/// Writes `total` bytes as files of `file_size`; `kinds` picks line kinds
/// and `sensitive_per_mille` how many lines carry a secret.
fn corpus(
    dir: &Path,
    total: usize,
    file_size: usize,
    kinds: &[u64],
    sensitive_per_mille: u64,
    seed: u64,
) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(seed);
    let mut written = 0;
    let mut i = 0;
    while written < total {
        let kind = kinds[i % kinds.len()];
        let mut text = String::with_capacity(file_size + 256);
        while text.len() < file_size {
            let sensitive = rng.below(1000) < sensitive_per_mille;
            line(&mut rng, kind, sensitive, &mut text);
        }
        let ext = ["txt", "csv", "json", "log"][kind as usize];
        std::fs::write(dir.join(format!("f{i:05}.{ext}")), &text).unwrap();
        written += text.len();
        i += 1;
    }
    written
}

fn engine() -> LocalEngine {
    LocalEngine::new(&ScannerConfig::default())
}

/// The engine with every detector on.
fn engine_all() -> LocalEngine {
    LocalEngine::new(&ScannerConfig {
        detectors: dlpd::engine::DetectorId::ALL.to_vec(),
        ..ScannerConfig::default()
    })
}

/// The default detectors plus one custom rule: a regex with a context
/// rule and an exclusion, as the README shows.
fn engine_with_rule() -> LocalEngine {
    let toml = include_str!("../tests/data/project-codes-rule.toml");
    LocalEngine::new(&dlpd::config::Config::parse(toml, "bench").unwrap().scanner)
}

/// Scans `dir` with `threads` workers; returns (seconds, findings).
fn run_engine(dir: &Path, threads: usize) -> (f64, u64) {
    run_with(&Arc::new(engine()), dir, threads)
}

fn run_with(e: &Arc<LocalEngine>, dir: &Path, threads: usize) -> (f64, u64) {
    let opts = WalkOptions {
        exclude: &dlpd::pathmatch::PathFilter::default(),
        follow_symlinks: false,
        threads,
        scan: ScanOptions {
            hash: false,
            prior: None,
        },
    };
    let start = Instant::now();
    let summary = scan_paths(e.clone(), &[dir.to_path_buf()], opts, |_| true);
    (start.elapsed().as_secs_f64(), summary.findings)
}

/// The best of `n` runs, against noise from the other core.
fn best(n: usize, mut f: impl FnMut() -> (f64, u64)) -> (f64, u64) {
    (0..n)
        .map(|_| f())
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
}

/// Endless prose, produced on the fly, for the memory measurement.
struct Prose {
    rng: Rng,
    pending: Vec<u8>,
    at: usize,
    left: u64,
}

impl Read for Prose {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        if self.at == self.pending.len() {
            let mut s = String::new();
            while s.len() < 64 * 1024 {
                sentence(&mut self.rng, &mut s);
            }
            self.pending = s.into_bytes();
            self.at = 0;
        }
        let n = buf
            .len()
            .min(self.pending.len() - self.at)
            .min(self.left as usize);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        self.left -= n as u64;
        Ok(n)
    }
}

fn max_rss_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn dir_bytes(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len() as usize)
        .sum()
}

fn warm(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let _ = std::fs::read(e.unwrap().path());
    }
}

fn main() {
    // `cargo bench` passes --bench; any filter argument is ignored.
    let mb: usize = std::env::var("DLPD_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Memory first, before anything else grows the heap: peak RSS after
    // streaming 64 MiB and after 1 GiB must be the same.
    let mut peaks = vec![max_rss_mib()];
    let e = engine();
    for size in [64u64 << 20, 1 << 30] {
        let prose = Prose {
            rng: Rng(9),
            pending: Vec::new(),
            at: 0,
            left: size,
        };
        let verdict = e.scan_reader(prose, |_| {}).unwrap();
        drop(verdict);
        peaks.push(max_rss_mib());
    }
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf =
        std::env::var_os("DLPD_BENCH_DIR").map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    let (mixed, clean, small) = (root.join("mixed"), root.join("clean"), root.join("small"));
    eprint!("generating corpora ({mb} MB mixed, {mb} MB clean text, 20000 small files)... ");
    let _ = io::stderr().flush();
    corpus(&mixed, mb << 20, 4 << 20, &[0, 1, 2, 3], 30, 1);
    corpus(&clean, mb << 20, 4 << 20, &[0], 0, 2);
    corpus(&small, 20_000 * 1500, 1500, &[0, 1, 2, 3], 30, 3);
    eprintln!("done");
    let (mixed_bytes, clean_bytes) = (dir_bytes(&mixed), dir_bytes(&clean));
    for d in [&mixed, &clean, &small] {
        warm(d);
    }

    println!("dlpd local engine benchmark ({cores} cores)");
    println!(
        "peak RSS at start: {:.1} MiB; after streaming 64 MiB: {:.1} MiB; after 1 GiB: {:.1} MiB",
        peaks[0], peaks[1], peaks[2]
    );
    let (t1, f1) = best(3, || run_engine(&mixed, 1));
    let (tn, fnn) = best(3, || run_engine(&mixed, cores));
    let (tc, fc) = best(3, || run_engine(&clean, 1));
    println!(
        "mixed corpus, 1 core:        {:8.0} MB/s  ({} findings in {} MB)",
        mbps(mixed_bytes, t1),
        f1,
        mixed_bytes >> 20
    );
    println!(
        "mixed corpus, {cores} cores:       {:8.0} MB/s  ({} findings)",
        mbps(mixed_bytes, tn),
        fnn
    );
    println!(
        "text with no findings, 1 core:{:7.0} MB/s  ({} findings)",
        mbps(clean_bytes, tc),
        fc
    );
    let all = Arc::new(engine_all());
    let (ta, fa) = best(3, || run_with(&all, &mixed, 1));
    println!(
        "mixed corpus, 1 core, all {} detectors: {:5.0} MB/s  ({} findings; {:.2}x the default's time)",
        dlpd::engine::DetectorId::ALL.len(),
        mbps(mixed_bytes, ta),
        fa,
        ta / t1
    );
    let ruled = Arc::new(engine_with_rule());
    let (tr, fr) = best(3, || run_with(&ruled, &mixed, 1));
    println!(
        "mixed corpus, 1 core, defaults + the README's custom rule: {:5.0} MB/s  ({} findings; {:.2}x the default's time)",
        mbps(mixed_bytes, tr),
        fr,
        tr / t1
    );
    let e = engine();
    let opts = WalkOptions {
        exclude: &dlpd::pathmatch::PathFilter::default(),
        follow_symlinks: false,
        threads: cores,
        scan: ScanOptions {
            hash: false,
            prior: None,
        },
    };
    let start = Instant::now();
    let s = scan_paths(Arc::new(e), std::slice::from_ref(&small), opts, |_| true);
    let ts = start.elapsed().as_secs_f64();
    println!(
        "small files ({} x ~1.5 KB), {cores} cores: {:8.0} files/s",
        s.scanned,
        s.scanned as f64 / ts
    );

    match (
        best3_rg(&mixed, 1),
        best3_rg(&mixed, cores),
        best3_rg(&clean, 1),
    ) {
        (Some((r1, l1)), Some((rn, _)), Some((rc, _))) => {
            println!(
                "rg, mixed, 1 thread:         {:8.0} MB/s  ({l1} matching lines)",
                mbps(mixed_bytes, r1)
            );
            println!(
                "rg, mixed, {cores} threads:        {:8.0} MB/s",
                mbps(mixed_bytes, rn)
            );
            println!(
                "rg, no-findings text, 1 thread:{:6.0} MB/s",
                mbps(clean_bytes, rc)
            );
            println!("ratio dlpd/rg, mixed, 1 core: {:7.2}x", r1 / t1);
            println!("ratio dlpd/rg, mixed, {cores} cores: {:6.2}x", rn / tn);
            println!("ratio dlpd/rg, no findings:   {:7.2}x", rc / tc);
        }
        _ => println!(
            "rg not found: install Debian's ripgrep (apt-get install ripgrep) for the reference figures"
        ),
    }
    println!(
        "default vs all detectors, 1 core: all run at {:.2} of the default's speed",
        t1 / ta
    );
    peers(&root, &mixed, &clean, mixed_bytes, clean_bytes, cores);

    println!("dlpd scan (binary) against rg -z, the same patterns, best of 3:");
    let work = root.join("peers");
    engine_trees::compare(&work, "mixed corpus", &[mixed], cores);
    match engine_trees::real_roots() {
        real if real.is_empty() => println!("real files: none of the usual directories here"),
        real => {
            engine_trees::compare(&work, &format!("real files {real:?}"), &real, cores);
            engine_trees::pdf_speed(&work, &real);
        }
    }
    let many = root.join("many");
    eprint!("generating 100,000 small files... ");
    engine_trees::small_tree(&many);
    eprintln!("done");
    engine_trees::compare(&work, "100,000 files of 1-4 KB", &[many], cores);
}

/// The binary as users run it, against ripgrep and Kingfisher.
fn peers(
    root: &Path,
    mixed: &Path,
    clean: &Path,
    mixed_bytes: usize,
    clean_bytes: usize,
    cores: usize,
) {
    let work = root.join("peers");
    let plain = engine_peers::write_config(&work.join("plain"), None);
    let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(f64::MAX, f64::min);
    let stored = best(&|| engine_peers::run_dlpd(&plain, &[mixed], cores, false));
    let unstored = best(&|| engine_peers::run_dlpd(&plain, &[mixed], cores, true));
    let clean_stored = best(&|| engine_peers::run_dlpd(&plain, &[clean], 1, false));
    println!(
        "dlpd scan (binary, store on), mixed, {cores} threads: {:6.0} MB/s  (--no-store: {:.0} MB/s)",
        mbps(mixed_bytes, stored),
        mbps(mixed_bytes, unstored)
    );
    println!(
        "dlpd scan (binary, store on), no findings, 1 thread: {:6.0} MB/s",
        mbps(clean_bytes, clean_stored)
    );
    if let (Some((rn, _)), Some((rc, _))) = (best3_rg(mixed, cores), best3_rg(clean, 1)) {
        println!(
            "ratio dlpd scan/rg, mixed, {cores} threads: {:5.2}x   no findings, 1 thread: {:5.2}x",
            rn / stored,
            rc / clean_stored
        );
    }
    let pack = work.join("pack.toml");
    std::fs::write(&pack, engine_peers::synthetic_pack(200)).unwrap();
    let packed = engine_peers::write_config(&work.join("packed"), Some(&pack));
    let with_pack = best(&|| engine_peers::run_dlpd(&packed, &[mixed], cores, true));
    print!(
        "200-rule pack, mixed, {cores} threads: dlpd scan {:6.0} MB/s",
        mbps(mixed_bytes, with_pack)
    );
    match (0..3)
        .filter_map(|_| engine_peers::run_kingfisher(&pack, mixed, cores))
        .reduce(f64::min)
    {
        Some(k) => println!(
            ", kingfisher {:6.0} MB/s, ratio dlpd/kingfisher {:5.2}x",
            mbps(mixed_bytes, k),
            k / with_pack
        ),
        None => println!("; kingfisher not found: pip install kingfisher-bin for the reference"),
    }
}

fn best3_rg(dir: &Path, threads: usize) -> Option<(f64, u64)> {
    let runs: Vec<_> = (0..3)
        .filter_map(|_| engine_peers::run_rg(&[dir], threads, false))
        .collect();
    runs.into_iter().min_by(|a, b| a.0.total_cmp(&b.0))
}
