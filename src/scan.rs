//! One-shot scans of files and directory trees, in parallel across cores.
//!
//! A walker thread feeds paths to a pool of workers; every result, including
//! walk errors, comes back to the caller's thread in one stream, so output
//! and storage stay single-threaded and ordered per file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use crate::engine::{Engine, ScanOptions};
use crate::finding::{FileReport, Outcome};
use crate::fsutil::describe_io_error;

/// How to walk and scan.
#[derive(Debug, Clone, Copy)]
pub struct WalkOptions {
    /// Follow symlinks inside directories (loops are detected and reported).
    pub follow_symlinks: bool,
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
}

impl Summary {
    fn add(&mut self, r: &FileReport) {
        match &r.outcome {
            Outcome::Scanned { findings } => {
                self.scanned += 1;
                self.findings += findings.len() as u64;
                self.bytes += r.size;
            }
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }
}

/// A report for something that could not even be opened.
pub fn failed_report(path: &Path, engine: &'static str, message: String) -> FileReport {
    FileReport::new(path, engine, Outcome::Failed(message))
}

/// Scans `roots` (files or directories, recursively) and hands each report
/// to `on_report` on the calling thread. `on_report` returns false to stop
/// early (a closed pipe, a failed store).
pub fn scan_paths<E: Engine>(
    engine: &E,
    roots: &[PathBuf],
    opts: WalkOptions,
    mut on_report: impl FnMut(FileReport) -> bool,
) -> Summary {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = mpsc::sync_channel::<PathBuf>(threads * 64);
    let job_rx = Mutex::new(job_rx);
    let (res_tx, res_rx) = mpsc::sync_channel::<FileReport>(threads * 64);
    let mut summary = Summary::default();
    std::thread::scope(|s| {
        let walker_res = res_tx.clone();
        let stop = &stop;
        s.spawn(move || {
            walk(
                roots,
                opts.follow_symlinks,
                engine.name(),
                stop,
                &job_tx,
                &walker_res,
            )
        });
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || {
                loop {
                    let next = job_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(path)) = next else { break };
                    if stop.load(Ordering::Relaxed) {
                        continue;
                    }
                    if res_tx.send(engine.scan_path(&path, opts.scan)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);
        for report in res_rx {
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
fn walk(
    roots: &[PathBuf],
    follow: bool,
    engine: &'static str,
    stop: &AtomicBool,
    jobs: &mpsc::SyncSender<PathBuf>,
    results: &mpsc::SyncSender<FileReport>,
) {
    for root in roots {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match std::fs::metadata(root) {
            Err(e) => {
                let _ = results.send(failed_report(root, engine, describe_io_error(&e)));
                continue;
            }
            Ok(meta) if !meta.is_dir() => {
                let _ = jobs.send(root.clone());
                continue;
            }
            Ok(_) => {}
        }
        for entry in walkdir::WalkDir::new(root).follow_links(follow) {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            match entry {
                Ok(e) if e.file_type().is_dir() => {}
                Ok(e) if e.file_type().is_symlink() => {
                    tracing::debug!(path = %e.path().display(), "not following symlink (use --follow-symlinks)");
                }
                Ok(e) => {
                    if jobs.send(e.into_path()).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_path_buf();
                    let message = match (e.loop_ancestor(), e.io_error()) {
                        (Some(ancestor), _) => {
                            format!(
                                "symlink loop: leads back to {}; not followed",
                                ancestor.display()
                            )
                        }
                        (None, Some(io)) => describe_io_error(io),
                        (None, None) => e.to_string(),
                    };
                    let _ = results.send(failed_report(&path, engine, message));
                }
            }
        }
    }
}
