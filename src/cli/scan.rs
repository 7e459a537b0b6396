//! `dlpd scan`: files, trees or stdin once, the findings printed, in the
//! shape CI jobs and people expect of a secret scanner. Nothing goes into
//! the daemon's store unless `--store` asks for it.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;

use super::{
    EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, EXIT_NO_SUCH_PATH, EXIT_UNSEEN, default_format,
    is_broken_pipe,
};
use crate::config::{Config, EngineKind, LogLevel};
use crate::engine::{LocalEngine, ScanOptions};
use crate::finding::{Confidence, DetectorId, FileReport, Outcome, SkipReason, wire_name};
use crate::fsutil::AtomicFile;
use crate::pathmatch::{PathFilter, PathPattern};
use crate::report::baseline::Baseline;
use crate::report::{FindingRecord, FindingWriter, Format};
use crate::scan::{self, Summary, WalkOptions};
use crate::store::{Recorder, Store};

/// `dlpd scan`
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files or directories (scanned recursively); `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format (default: table on a terminal, else jsonl).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the findings to FILE (0600, complete or not at all) instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Report only findings at this confidence or above (default: scanner.min_confidence).
    #[arg(long, value_name = "LEVEL", value_parser = parse_confidence)]
    pub min_confidence: Option<Confidence>,
    /// Run only these detectors, comma-separated (default: scanner.detectors).
    #[arg(long, value_name = "A,B", value_delimiter = ',', value_parser = parse_detector)]
    pub detectors: Vec<DetectorId>,
    /// Skip paths matching this glob (repeatable), besides watch.exclude; relative ones (`*.log`, `vendor/**`) match at any depth; `re:` takes a regex.
    #[arg(long, value_name = "GLOB", value_parser = parse_pattern)]
    pub exclude: Vec<PathPattern>,
    /// Leave out findings a previous report (jsonl or sarif) already holds;
    /// only new ones are printed and set the exit status.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Print values and contexts unmasked (never in SARIF).
    #[arg(long)]
    pub show_values: bool,
    /// Also record the results in the store (SQLite and CSV), with absolute paths.
    #[arg(long)]
    pub store: bool,
    /// Do not record the results (the default; kept for older scripts).
    #[arg(long, hide = true, conflicts_with = "store")]
    pub no_store: bool,
    /// Follow symlinks inside directories.
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Worker threads (default: one per core).
    #[arg(short = 'j', long, default_value_t = 0)]
    pub threads: usize,
    /// Errors only: no warnings, progress or summary.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Name every skipped file (-v), and more (-vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The log target of the summary, shown unless `-q`.
pub const SUMMARY: &str = "dlpd::summary";

impl ScanArgs {
    /// The log level for this scan (`RUST_LOG` still overrides it):
    /// warnings, then skipped files with -v, then everything with -vv.
    pub fn log_level(&self) -> LogLevel {
        match (self.quiet, self.verbose) {
            (true, _) => LogLevel::Error,
            (false, 0) => LogLevel::Warn,
            (false, 1) => LogLevel::Debug,
            (false, _) => LogLevel::Trace,
        }
    }
}

fn parse_confidence(s: &str) -> Result<Confidence, String> {
    Confidence::parse(&wire_name(s)).ok_or_else(|| {
        format!("`{s}` is not a confidence; use very_unlikely, unlikely, possible, likely or very_likely")
    })
}

fn parse_detector(s: &str) -> Result<DetectorId, String> {
    DetectorId::parse(&wire_name(s)).ok_or_else(|| {
        let names: Vec<&str> = DetectorId::ALL.iter().map(|d| d.as_str()).collect();
        format!(
            "`{s}` is not a detector; the detectors are {}",
            names.join(", ")
        )
    })
}

fn parse_pattern(s: &str) -> Result<PathPattern, String> {
    PathPattern::parse(s)
}

/// Where findings go: stdout, or a file written whole at the end.
enum Sink {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    File(AtomicFile),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(w) => w.write(buf),
            Sink::File(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File(w) => w.flush(),
        }
    }
}

pub fn scan(config: &Config, args: ScanArgs) -> anyhow::Result<u8> {
    if config.scanner.engine == EngineKind::Nightfall {
        tracing::info!("dlpd scan uses the local engine; the Nightfall engine runs in `dlpd run`");
    }
    let mut scanner = config.scanner.clone();
    if let Some(min) = args.min_confidence {
        scanner.min_confidence = min;
    }
    if !args.detectors.is_empty() {
        scanner.detectors = args.detectors.clone();
    }
    let exclude = PathFilter::new(config.watch.exclude.iter().chain(&args.exclude));
    let mut baseline = args.baseline.as_deref().map(Baseline::load).transpose()?;
    let engine = std::sync::Arc::new(LocalEngine::new(&scanner));
    let mut store = match args.store {
        false => None,
        true => Some(
            Recorder::spawn(Store::open(&config.output)?)
                .context("cannot start the store's thread")?,
        ),
    };
    let (sink, format) = match &args.output {
        Some(path) => (
            Sink::File(
                AtomicFile::create(path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            ),
            args.format.unwrap_or(Format::Jsonl),
        ),
        None => (
            Sink::Stdout(io::BufWriter::new(io::stdout().lock())),
            args.format.unwrap_or_else(default_format),
        ),
    };
    let mut out = FindingWriter::new(sink, format);
    let progress_roots: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .cloned()
        .collect();
    let progress = Progress::new(!args.quiet, &progress_roots, args.follow_symlinks, &exclude);
    let mut failure: Option<anyhow::Error> = None;
    let opts = WalkOptions {
        follow_symlinks: args.follow_symlinks,
        threads: args.threads,
        exclude: &exclude,
        scan: ScanOptions {
            hash: store.is_some(),
            prior: None,
        },
    };
    let started = Instant::now();
    let mut skipped = std::collections::BTreeMap::<&'static str, u64>::new();
    let mut handle = |report: &mut FileReport, record: bool| {
        progress.tick(report);
        match &report.outcome {
            Outcome::Skipped(reason) => {
                *skipped.entry(reason.kind()).or_default() += 1;
                if reason.is_limit() {
                    tracing::warn!(path = %report.path.display(), "skipped: {reason}")
                } else {
                    tracing::debug!(path = %report.path.display(), "skipped: {reason}")
                }
            }
            Outcome::Failed(msg) => {
                tracing::warn!(path = %report.path.display(), "cannot scan: {msg}")
            }
            Outcome::Scanned { .. } if !report.partial.is_empty() => {
                tracing::warn!(path = %report.path.display(), "partly scanned: {}", report.partial.join("; "))
            }
            Outcome::Scanned { .. } => {}
        }
        for f in report.findings() {
            let record = FindingRecord::new(report, f, args.show_values);
            if baseline.as_mut().is_some_and(|b| b.take(&record)) {
                continue;
            }
            if let Err(e) = out.write(&record) {
                if !is_broken_pipe(&e) {
                    failure = Some(anyhow::Error::new(e).context("cannot write results"));
                }
                return false;
            }
        }
        // False when the store failed: its error comes from `finish`.
        !record || store.as_mut().is_none_or(|s| s.push(take_report(report)))
    };
    // `-` is stdin, scanned first (and never recorded: it has no path). A
    // path that does not exist is named at the end, with its own exit code.
    let mut roots = Vec::new();
    let (mut stdin, mut missing) = (false, Vec::new());
    let cwd = std::env::current_dir().unwrap_or_default();
    for p in &args.paths {
        if p.as_os_str() == "-" {
            stdin = true;
        } else if std::fs::symlink_metadata(p).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
            missing.push(p);
        } else if args.store {
            // The store's rows name files wherever the command ran from.
            roots.push(cwd.join(p));
        } else {
            roots.push(p.clone());
        }
    }
    let mut summary = Summary::default();
    let mut going = true;
    if stdin {
        let mut report = engine.scan_stream_as(Path::new("-"), io::stdin().lock(), opts.scan);
        summary.add(&report);
        going = handle(&mut report, false);
    }
    if going {
        summary.merge(scan::scan_paths(engine, &roots, opts, |r| handle(r, true)));
    }
    progress.finish();
    let known = baseline.map_or(0, |b| b.matched);
    summary.findings -= known;
    if let Some(store) = store {
        store.finish()?;
    }
    let sink = match out.finish() {
        Ok(sink) => Some(sink),
        Err(e) if is_broken_pipe(&e) => None,
        Err(e) => return Err(anyhow::Error::new(e).context("cannot write results")),
    };
    if let Some(e) = failure {
        return Err(e);
    }
    if let (Some(Sink::File(f)), Some(path)) = (sink, &args.output) {
        f.commit()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    tracing::info!(
        target: SUMMARY,
        scanned = summary.scanned,
        skipped = summary.skipped,
        failed = summary.failed,
        findings = summary.findings,
        unseen = summary.unseen,
        bytes = summary.bytes,
        secs = (secs * 1000.0).round() / 1000.0,
        known,
        "{}",
        summary_line(&summary, &skipped, known, secs)
    );
    for p in &missing {
        eprintln!("dlpd: {}: no such file or directory", p.display());
    }
    Ok(if !missing.is_empty() {
        EXIT_NO_SUCH_PATH
    } else if summary.failed > 0 && summary.scanned + summary.skipped == 0 {
        EXIT_ERROR
    } else if summary.findings > 0 {
        EXIT_FINDINGS
    } else if summary.unseen > 0 {
        EXIT_UNSEEN
    } else {
        EXIT_CLEAN
    })
}

/// `12 findings in 1,532 files (56.7 MB) in 0.42 s; 12 skipped (9 binary, 3 empty); 1 failed`
fn summary_line(
    s: &Summary,
    skipped: &std::collections::BTreeMap<&str, u64>,
    known: u64,
    secs: f64,
) -> String {
    let mut line = format!(
        "{} finding{} in {} file{} ({:.1} MB) in {secs:.2} s",
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        s.scanned,
        if s.scanned == 1 { "" } else { "s" },
        s.bytes as f64 / 1e6,
    );
    if known > 0 {
        line.push_str(&format!("; {known} already in the baseline, not shown"));
    }
    if s.skipped > 0 {
        let kinds: Vec<String> = skipped.iter().map(|(k, n)| format!("{n} {k}")).collect();
        line.push_str(&format!(
            "; {} skipped ({}; -v names them)",
            s.skipped,
            kinds.join(", ")
        ));
    }
    if s.failed > 0 {
        line.push_str(&format!("; {} could not be read", s.failed));
    }
    if s.unseen > 0 {
        line.push_str(&format!("; {} not seen in full", s.unseen));
    }
    line
}

/// A progress line on stderr, only on a terminal, and only once a scan has
/// taken more than a moment: files and findings so far with the rate, then,
/// once a second walk has counted the files, a bar with the total and the
/// time left.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    found: std::cell::Cell<usize>,
    bytes: std::cell::Cell<u64>,
    /// The counting walk, and how to stop it when the scan ends first.
    counting: Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl Progress {
    /// How long a scan runs before the line appears; `DLPD_PROGRESS_AFTER_MS`
    /// changes it (the tests use 0).
    fn delay() -> Duration {
        let ms = std::env::var("DLPD_PROGRESS_AFTER_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(700);
        Duration::from_millis(ms)
    }

    fn new(show: bool, roots: &[PathBuf], follow: bool, exclude: &PathFilter) -> Progress {
        let bar = (show && io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(style("{spinner} {pos} files, {msg} [{elapsed}]"));
            bar
        });
        let counting = bar.as_ref().map(|bar| {
            let (bar, stop) = (bar.clone(), Arc::new(AtomicBool::new(false)));
            let (roots, exclude, halt) = (roots.to_vec(), exclude.clone(), stop.clone());
            let counter = std::thread::spawn(move || {
                let Some(total) = count_files(&roots, follow, &exclude, &halt) else {
                    return;
                };
                bar.set_length(total);
                bar.set_style(style("{bar:20} {pos}/{len} files, {msg}, {eta} left"));
            });
            (stop, counter)
        });
        Progress {
            bar,
            started: Instant::now(),
            found: Default::default(),
            bytes: Default::default(),
            counting,
        }
    }

    fn tick(&self, report: &FileReport) {
        let Some(bar) = &self.bar else { return };
        if bar.is_hidden() && self.started.elapsed() >= Self::delay() {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.found.set(self.found.get() + report.findings().len());
        self.bytes.set(self.bytes.get() + report.size);
        bar.inc(1);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        bar.set_message(format!(
            "{:.0}/s, {:.1} MB/s, {} findings",
            bar.position() as f64 / secs,
            self.bytes.get() as f64 / 1e6 / secs,
            self.found.get(),
        ));
    }

    fn finish(self) {
        if let Some((stop, counter)) = self.counting {
            stop.store(true, Ordering::Relaxed);
            let _ = counter.join();
        }
        if let Some(bar) = &self.bar {
            // The last state drawn once whatever the refresh rate, then cleared.
            bar.finish();
            bar.finish_and_clear();
        }
        let _ = io::stderr().flush();
    }
}

fn style(template: &str) -> indicatif::ProgressStyle {
    indicatif::ProgressStyle::with_template(template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
}

/// The files a scan of `roots` will visit (what it walks, and what it
/// cannot read), or None when stopped first.
fn count_files(
    roots: &[PathBuf],
    follow: bool,
    exclude: &PathFilter,
    stop: &AtomicBool,
) -> Option<u64> {
    let mut n = 0u64;
    for root in roots {
        if !root.is_dir() {
            n += 1;
            continue;
        }
        let walked = crate::walk::walk(
            root,
            follow,
            |p, dir| !exclude.is_match(p, dir),
            |_| {
                n += 1;
                match stop.load(Ordering::Relaxed) {
                    true => std::ops::ControlFlow::Break(()),
                    false => std::ops::ControlFlow::Continue(()),
                }
            },
        );
        if walked.is_break() {
            return None;
        }
    }
    Some(n)
}

/// The report, for the store to keep, and an empty one in its place.
fn take_report(report: &mut FileReport) -> FileReport {
    let empty = FileReport::new(
        Path::new(""),
        report.engine,
        Outcome::Skipped(SkipReason::Empty),
    );
    std::mem::replace(report, empty)
}
