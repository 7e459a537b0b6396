//! One-shot scans of files and directory trees, in parallel across cores.
//!
//! A walker thread ([`crate::walk`]) feeds paths to the worker pool
//! ([`crate::pool`]); every result, including walk errors, comes back to the
//! caller's thread in one stream, so output and storage stay
//! single-threaded and ordered per file.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Sender, bounded};

use crate::engine::{Engine, ScanOptions};
use crate::finding::{FileReport, Outcome};
use crate::fsutil::describe_io_error;
use crate::pool;
use crate::walk::{Walked, walk};

/// How to walk and scan.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions<'a> {
    /// Follow symlinks inside directories (loops are detected and reported).
    pub follow_symlinks: bool,
    /// Files and directories matching these are neither walked nor scanned.
    pub exclude: &'a crate::pathmatch::PathFilter,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Passed to the engine for every file.
    pub scan: ScanOptions,
}

/// Totals for a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read to the end.
    pub scanned: u64,
    /// Files deliberately not read (binary, empty, too large, not regular).
    pub skipped: u64,
    /// Files and directories that could not be read.
    pub failed: u64,
    /// Findings at or above `min_confidence`.
    pub findings: u64,
    /// Bytes in the files scanned.
    pub bytes: u64,
    /// Files skipped for a limit or damage, or scanned only in part (an
    /// archive member over a limit): content went unseen.
    pub unseen: u64,
}

impl Summary {
    /// Counts one report.
    pub fn add(&mut self, r: &FileReport) {
        match &r.outcome {
            Outcome::Scanned { findings } => {
                self.scanned += 1;
                self.findings += findings.len() as u64;
                self.bytes += r.size;
                self.unseen += u64::from(!r.partial.is_empty());
            }
            Outcome::Skipped(why) => {
                self.skipped += 1;
                self.unseen += u64::from(why.is_limit());
            }
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    /// Adds another scan's totals.
    pub fn merge(&mut self, o: Summary) {
        self.scanned += o.scanned;
        self.skipped += o.skipped;
        self.failed += o.failed;
        self.findings += o.findings;
        self.bytes += o.bytes;
        self.unseen += o.unseen;
    }
}

/// A report for something that could not even be opened.
pub fn failed_report(path: &Path, engine: &'static str, message: String) -> FileReport {
    FileReport::new(path, engine, Outcome::Failed(message))
}

/// Scans `roots` (files or directories, recursively) and hands each report
/// to `on_report` on the calling thread. `on_report` returns false to stop
/// early (a closed pipe, a failed store).
pub fn scan_paths<E: Engine + 'static>(
    engine: Arc<E>,
    roots: &[PathBuf],
    opts: WalkOptions<'_>,
    mut on_report: impl FnMut(FileReport) -> bool,
) -> Summary {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let stop = Arc::new(AtomicBool::new(false));
    let name = engine.name();
    let (job_tx, job_rx) = bounded::<PathBuf>(threads * 64);
    let (res_tx, res_rx) = bounded::<Option<FileReport>>(threads * 64);
    let mut summary = Summary::default();
    let worker_stop = stop.clone();
    let work = move |path: PathBuf| {
        (!worker_stop.load(Ordering::Relaxed)).then(|| engine.scan_path(&path, opts.scan))
    };
    if let Err(e) = pool::spawn(threads, "dlpd-scan", job_rx, res_tx.clone(), None, work) {
        let _ = on_report(failed_report(
            Path::new("."),
            name,
            format!("cannot start the scanning threads: {e}"),
        ));
        summary.failed += 1;
        return summary;
    }
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || walk_roots(roots, &opts, name, stop, &job_tx, &res_tx));
        for report in res_rx.iter().flatten() {
            if stop.load(Ordering::Relaxed) {
                continue;
            }
            summary.add(&report);
            if !on_report(report) {
                stop.store(true, Ordering::Relaxed);
            }
        }
    });
    summary
}

/// Walks every root, sending files to the workers and walk errors straight
/// to the results.
fn walk_roots(
    roots: &[PathBuf],
    opts: &WalkOptions<'_>,
    engine: &'static str,
    stop: &AtomicBool,
    jobs: &Sender<PathBuf>,
    results: &Sender<Option<FileReport>>,
) {
    for root in roots {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match std::fs::metadata(root) {
            Err(e) => {
                let _ = results.send(Some(failed_report(root, engine, describe_io_error(&e))));
                continue;
            }
            Ok(meta) if !meta.is_dir() => {
                let _ = jobs.send(root.clone());
                continue;
            }
            Ok(_) => {}
        }
        let walked = walk(
            root,
            opts.follow_symlinks,
            |path, dir| !opts.exclude.is_match(path, dir),
            |found| {
                if stop.load(Ordering::Relaxed) {
                    return ControlFlow::Break(());
                }
                let sent = match found {
                    Walked::File(e) => jobs.send(e.into_path()).is_ok(),
                    Walked::Failed { path, message } => results
                        .send(Some(failed_report(&path, engine, message)))
                        .is_ok(),
                };
                if sent {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                }
            },
        );
        if walked.is_break() {
            return;
        }
    }
}
