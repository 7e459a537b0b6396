//! The worker side of the daemon: what one thread does with one job, for
//! either engine. Workers never touch the store; they hand back a [`Done`]
//! (and, for Nightfall, ask the keeper to record an upload before its scan
//! is requested).

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use crossbeam_channel::{Sender, bounded};

use super::snapshot::{Shared, Snapshot};
use crate::engine::{LocalEngine, Prior, ScanOptions};
use crate::finding::{FileReport, Outcome, SkipReason};
use crate::fsutil::{
    describe_io_error, is_symlink_refusal, mtime_ns, open_no_symlinks, sha256_opened,
};
use crate::nightfall::{self, Message, NightfallError, RegisterError, Uploaded};
use crate::store::Job;

/// What a worker made of a job.
pub(super) enum Done {
    /// Store the report (if any) and finish the job. No report: the file
    /// vanished, or is unchanged since its last scan.
    Finished(Job, Option<FileReport>),
    /// Try again later (or give up after `max_attempts`); at once if
    /// `permanent`.
    Failed(Job, JobError),
    /// Uploaded to Nightfall and its scan requested: the job waits for the
    /// result on the webhook.
    Submitted,
    /// The file changed while it was uploaded: queue it again.
    Changed(Job),
}

/// Why a job failed, as a worker hands it back.
#[derive(Debug, thiserror::Error)]
pub(super) enum JobError {
    /// The engine could not read the file; its words say why.
    #[error("{0}")]
    Read(String),
    #[error(transparent)]
    Nightfall(NightfallError),
    #[error(transparent)]
    Register(RegisterError),
    #[error("dlpd is stopping")]
    Stopping,
    #[error("no engine to scan with (dlpd's own error; please report it)")]
    NoEngine,
}

impl JobError {
    /// Whether trying the same file again cannot succeed.
    pub fn is_permanent(&self) -> bool {
        match self {
            JobError::Nightfall(e) => e.is_permanent(),
            JobError::NoEngine => true,
            _ => false,
        }
    }
}

/// What a worker thread scans with: the current snapshot's local engine,
/// or Nightfall.
#[derive(Clone)]
pub(super) struct Scanner {
    pub snapshot: Shared,
    /// Set when Nightfall is the engine.
    pub remote: Option<Remote>,
}

/// The Nightfall client, the runtime it runs on, and the way to the keeper.
#[derive(Clone)]
pub(super) struct Remote {
    pub client: Arc<nightfall::Client>,
    pub runtime: tokio::runtime::Handle,
    pub keeper: Sender<Message>,
}

impl Scanner {
    /// The engine's name, recorded with every result.
    pub fn name(&self) -> &'static str {
        match self.remote {
            None => "local",
            Some(_) => "nightfall",
        }
    }

    /// Scans (or submits) one job's file, under one snapshot of the config.
    pub fn work(&self, job: Job) -> Done {
        let snapshot = self.snapshot.load();
        if self.remote.is_none() && snapshot.local.is_none() {
            return Done::Failed(job, JobError::NoEngine);
        }
        let file = match open_job(&job, &snapshot) {
            Ok(file) => file,
            Err(Unopened::Gone) => return Done::Finished(job, None),
            Err(Unopened::Symlink) => {
                tracing::warn!(path = %job.path.display(), "not read: a symlink is on its way, and watch.follow_symlinks is off");
                let skipped = Outcome::Skipped(SkipReason::NotRegular("symlink"));
                let report = FileReport::new(&job.path, self.name(), skipped);
                return Done::Finished(job, Some(report));
            }
            Err(Unopened::Failed(why)) => return Done::Failed(job, JobError::Read(why)),
        };
        let meta = file.metadata().ok();
        if is_known(&job, meta.as_ref(), || sha256_opened(&file).ok()) {
            return Done::Finished(job, None);
        }
        match (&self.remote, &snapshot.local) {
            (Some(remote), _) => remote.submit(job, file, &snapshot),
            (None, Some(engine)) => scan_local(job, file, meta, engine),
            (None, None) => Done::Failed(job, JobError::NoEngine),
        }
    }
}

/// Why a job's file was not opened.
enum Unopened {
    /// It is gone: nothing to scan.
    Gone,
    /// A symlink is on its way, and `watch.follow_symlinks` is off.
    Symlink,
    /// Anything else, in words for the log.
    Failed(String),
}

/// Opens a job's file once, for every read either engine makes, without
/// following a symlink anywhere below its watch root (unless
/// `watch.follow_symlinks`): a file swapped for a link after it was queued
/// is refused, not read or uploaded.
fn open_job(job: &Job, snapshot: &Snapshot) -> Result<File, Unopened> {
    let follow = snapshot.config.watch.follow_symlinks;
    let opened = if follow {
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&job.path)
    } else {
        let root = snapshot
            .link_free
            .iter()
            .filter(|r| job.path.starts_with(r))
            .max_by_key(|r| r.as_os_str().len());
        open_no_symlinks(root.map(PathBuf::as_path), &job.path)
    };
    opened.map_err(|e| match e {
        e if e.kind() == std::io::ErrorKind::NotFound => Unopened::Gone,
        e if !follow && is_symlink_refusal(&e) => Unopened::Symlink,
        e => Unopened::Failed(format!("read failed: {}", describe_io_error(&e))),
    })
}

/// Scans with the local engine through the job's one descriptor.
fn scan_local(job: Job, file: File, meta: Option<std::fs::Metadata>, engine: &LocalEngine) -> Done {
    // A file that only grew has only its new bytes scanned.
    let prior = job.last.as_ref().and_then(|l| {
        let sha256 = crate::fsutil::digest_from_hex(l.sha256.as_deref()?)?;
        Some(Prior {
            size: l.size,
            sha256,
        })
    });
    let report = engine.scan_opened(&job.path, file, meta, ScanOptions { hash: true, prior });
    match &report.outcome {
        Outcome::Failed(msg) => Done::Failed(job, JobError::Read(msg.clone())),
        _ => Done::Finished(job, Some(report)),
    }
}

/// Whether the file is what dlpd already knows: unchanged since its last
/// scan (same size, mtime and SHA-256), or the stub dlpd left in place of
/// a quarantined file (its findings stay those of the file it replaced).
/// `sha256` is asked for only when needed.
fn is_known(
    job: &Job,
    meta: Option<&std::fs::Metadata>,
    sha256: impl Fn() -> Option<String>,
) -> bool {
    if let (Some(last), Some(meta)) = (&job.last, meta) {
        let same_stat = last.size == meta.len() && last.mtime_ns == Some(mtime_ns(meta));
        if same_stat && last.sha256.is_some() && sha256() == last.sha256 {
            return true;
        }
    }
    job.stub.is_some() && sha256() == job.stub
}

impl Remote {
    /// Uploads the file, records the upload, then requests the scan.
    fn submit(&self, job: Job, file: File, snapshot: &Snapshot) -> Done {
        let scanner = &snapshot.config.scanner;
        if snapshot.policy.skips_path(&job.path) {
            let report = FileReport::new(
                &job.path,
                "nightfall",
                Outcome::Skipped(SkipReason::Allowlisted),
            );
            return Done::Finished(job, Some(report));
        }
        let meta = file.metadata().ok();
        let upload = match self
            .runtime
            .block_on(self.client.upload(file, scanner.max_file_bytes))
        {
            Ok(Uploaded::Ready(upload)) => upload,
            Ok(Uploaded::Changed) => return Done::Changed(job),
            Ok(Uploaded::Skipped(reason)) => {
                let mut report = FileReport::new(&job.path, "nightfall", Outcome::Skipped(reason));
                if let Some(meta) = meta {
                    report.size = meta.len();
                    report.mtime_ns = Some(mtime_ns(&meta));
                }
                return Done::Finished(job, Some(report));
            }
            Err(e) => return failed(job, e),
        };
        let (tx, rx) = bounded(1);
        let registered = self
            .keeper
            .send(Message::Register {
                job: job.id,
                upload: upload.clone(),
                reply: tx,
            })
            .ok()
            .and_then(|()| rx.recv().ok());
        match registered {
            Some(Ok(())) => {}
            Some(Err(error)) => {
                return Done::Failed(job, JobError::Register(error));
            }
            None => {
                return Done::Failed(job, JobError::Stopping);
            }
        }
        let metadata = serde_json::json!({ "dlpd_job": job.id.0 }).to_string();
        match self
            .runtime
            .block_on(self.client.scan(&upload.id, &metadata, scanner))
        {
            Ok(()) => {
                tracing::debug!(path = %job.path.display(), upload = %upload.id, "uploaded; awaiting the result");
                Done::Submitted
            }
            Err(e) => failed(job, e),
        }
    }
}

fn failed(job: Job, e: NightfallError) -> Done {
    if let Some(advice) = e.advice() {
        tracing::error!(path = %job.path.display(), "{e}; {advice}");
    }
    Done::Failed(job, JobError::Nightfall(e))
}
