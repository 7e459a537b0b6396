//! One-shot scans of files and directory trees, in parallel across cores.
//!
//! Worker threads walk and scan together; every result, including walk
//! errors, comes back to the caller's thread in one stream, so output and
//! storage stay single-threaded and ordered per file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Sender, bounded};

use crate::engine::{Engine, ScanOptions};
use crate::finding::{FileReport, Outcome};
use crate::fsutil::describe_io_error;

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
/// to `on_report` on the calling thread (to take, or to read and leave).
/// `on_report` returns false to stop early (a closed pipe, a failed store).
///
/// The workers walk and scan at once (ignore's parallel walker: every
/// directory entry is a piece of work the idle threads steal), so no file
/// passes through a shared queue; each worker hands its reports over in
/// batches, and gets them back to free (see [`Batch`]).
pub fn scan_paths<E: Engine + 'static>(
    engine: Arc<E>,
    roots: &[PathBuf],
    opts: WalkOptions<'_>,
    mut on_report: impl FnMut(&mut FileReport) -> bool,
) -> Summary {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let mut summary = Summary::default();
    let Some((first, rest)) = roots.split_first() else {
        return summary;
    };
    let stop = AtomicBool::new(false);
    let (tx, rx) = bounded::<Batch>(threads * 4);
    let mut walk = ignore::WalkBuilder::new(first);
    for root in rest {
        walk.add(root);
    }
    let exclude = Arc::new(opts.exclude.clone());
    walk.standard_filters(false)
        .follow_links(opts.follow_symlinks)
        .threads(threads)
        .filter_entry(move |e| {
            // Roots are scanned whatever the excludes say.
            e.depth() == 0 || !exclude.is_match(e.path(), e.file_type().is_some_and(|t| t.is_dir()))
        });
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || {
            let mut workers = Workers {
                engine,
                opts: opts.scan,
                follow: opts.follow_symlinks,
                tx,
                stop,
            };
            walk.build_parallel().visit(&mut workers);
        });
        for mut batch in rx.iter() {
            for report in &mut batch.reports {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                summary.add(report);
                if !on_report(report) {
                    stop.store(true, Ordering::Relaxed);
                }
            }
            // (A worker that is done takes none back: they are freed here.)
            let _ = batch.back.send(batch.reports);
        }
    });
    summary
}

/// How many reports a worker gathers before handing them over, and how
/// many bytes of scanned files: a few large files must not wait for the
/// whole scan, or the caller's thread (output, store) works only at the end.
const BATCH: usize = 32;
const BATCH_BYTES: u64 = 1 << 20;

/// A worker's reports, and the way back to it. Reports are freed by the
/// worker that made them: freed on the caller's thread, each took the lock
/// of the worker's malloc arena (glibc), and the two threads took turns
/// sleeping on it (9,500 context switches over 98,000 small files).
struct Batch {
    reports: Vec<FileReport>,
    back: Sender<Vec<FileReport>>,
}

/// Makes one [`Worker`] per walking thread.
struct Workers<'s, E> {
    engine: Arc<E>,
    opts: ScanOptions,
    follow: bool,
    tx: Sender<Batch>,
    stop: &'s AtomicBool,
}

impl<'s, E: Engine + 'static> ignore::ParallelVisitorBuilder<'s> for Workers<'s, E> {
    fn build(&mut self) -> Box<dyn ignore::ParallelVisitor + 's> {
        Box::new(Worker {
            engine: self.engine.clone(),
            opts: self.opts,
            follow: self.follow,
            tx: self.tx.clone(),
            done: crossbeam_channel::unbounded(),
            stop: self.stop,
            batch: Vec::with_capacity(BATCH),
            bytes: 0,
        })
    }
}

/// One walking thread: scans the files it is handed, reports walk errors,
/// and sends its reports in batches (the rest when it is done).
struct Worker<'s, E> {
    engine: Arc<E>,
    opts: ScanOptions,
    follow: bool,
    tx: Sender<Batch>,
    /// Reports the caller is done with, to be freed here. (At most the
    /// batches in flight: they are freed at every hand-over.)
    done: (
        Sender<Vec<FileReport>>,
        crossbeam_channel::Receiver<Vec<FileReport>>,
    ),
    stop: &'s AtomicBool,
    batch: Vec<FileReport>,
    /// Bytes of the files in `batch`.
    bytes: u64,
}

impl<E> Worker<'_, E> {
    fn flush(&mut self) -> bool {
        if self.batch.is_empty() {
            return true;
        }
        self.bytes = 0;
        self.done.1.try_iter().for_each(drop);
        let reports = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        self.send(reports)
    }

    fn send(&self, reports: Vec<FileReport>) -> bool {
        let back = self.done.0.clone();
        self.tx.send(Batch { reports, back }).is_ok()
    }
}

impl<E: Engine + 'static> ignore::ParallelVisitor for Worker<'_, E> {
    fn visit(&mut self, entry: Result<ignore::DirEntry, ignore::Error>) -> ignore::WalkState {
        if self.stop.load(Ordering::Relaxed) {
            return ignore::WalkState::Quit;
        }
        let name = self.engine.name();
        let report = match entry {
            Ok(e) => match e.file_type() {
                Some(t) if t.is_dir() => return ignore::WalkState::Continue,
                Some(t) if t.is_symlink() => {
                    tracing::debug!(path = %e.path().display(), "not following symlink (follow_symlinks is off)");
                    return ignore::WalkState::Continue;
                }
                Some(t) if t.is_file() && e.depth() > 0 => {
                    self.engine.scan_listed(e.path(), self.follow, self.opts)
                }
                // FIFOs, sockets and devices, which the engine refuses by
                // name without opening them; roots given as files.
                _ => self.engine.scan_path(e.path(), self.opts),
            },
            Err(err) => {
                let (path, message) = walk_error(&err);
                failed_report(path.as_deref().unwrap_or(Path::new(".")), name, message)
            }
        };
        self.bytes += report.size;
        self.batch.push(report);
        if (self.batch.len() >= BATCH || self.bytes >= BATCH_BYTES) && !self.flush() {
            self.stop.store(true, Ordering::Relaxed);
            return ignore::WalkState::Quit;
        }
        ignore::WalkState::Continue
    }
}

impl<E> Drop for Worker<'_, E> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            let reports = std::mem::take(&mut self.batch);
            let _ = self.send(reports);
        }
    }
}

/// The path and the reason of a walk error, in the words `dlpd scan` uses.
fn walk_error(err: &ignore::Error) -> (Option<PathBuf>, String) {
    match err {
        ignore::Error::WithPath { path, err } => (Some(path.clone()), walk_error(err).1),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error(err)
        }
        ignore::Error::Loop { ancestor, child } => {
            (Some(child.clone()), crate::walk::loop_message(ancestor))
        }
        ignore::Error::Io(io) => (None, describe_io_error(io)),
        other => (None, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::mpsc;
    use std::time::Duration;

    /// An engine that reports every file as 1 MiB scanned, and holds the
    /// second file's scan until the caller has the first file's report.
    struct Gate {
        scans: Mutex<u32>,
        first_seen: Mutex<mpsc::Receiver<()>>,
    }

    impl Engine for Gate {
        fn name(&self) -> &'static str {
            "gate"
        }
        fn scan_path(&self, path: &Path, _: ScanOptions) -> FileReport {
            let n = {
                let mut s = self.scans.lock().unwrap();
                *s += 1;
                *s
            };
            if n == 2 {
                // Before batching by bytes, the first report waited for
                // the whole walk, and this gate always timed out.
                let waited = self
                    .first_seen
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(20));
                assert!(
                    waited.is_ok(),
                    "the first report was not handed over before the second scan"
                );
            }
            let mut r = FileReport::new(
                path,
                "gate",
                Outcome::Scanned {
                    findings: Vec::new(),
                },
            );
            r.size = BATCH_BYTES;
            r
        }
    }

    #[test]
    fn a_large_file_reaches_the_caller_before_the_walk_ends() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a", "b", "c"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let (seen, first_seen) = mpsc::channel();
        let engine = Arc::new(Gate {
            scans: Mutex::new(0),
            first_seen: Mutex::new(first_seen),
        });
        let exclude = crate::pathmatch::PathFilter::default();
        let opts = WalkOptions {
            follow_symlinks: false,
            exclude: &exclude,
            threads: 1,
            scan: ScanOptions::default(),
        };
        let mut reports = 0;
        let summary = scan_paths(engine, &[dir.path().to_path_buf()], opts, |_| {
            reports += 1;
            let _ = seen.send(());
            true
        });
        assert_eq!((reports, summary.scanned), (3, 3));
    }
}
