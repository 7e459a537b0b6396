//! The scanning engines and what the config asks of their findings.
//!
//! [`local`] is dlpd's own offline engine; the Nightfall engine
//! (`crate::nightfall`) scans remotely and its results come back
//! asynchronously, so it does not implement [`Engine`]: it shares the
//! [`Policy`] instead, which decides which reported findings are kept.
//! The vocabulary both produce is in `crate::finding`, re-exported here.

pub mod allow;
pub(crate) mod extract;
pub mod local;
mod policy;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::fsutil::{describe_io_error, file_kind};

pub use crate::finding::{
    Confidence, Detector, DetectorId, FileReport, Finding, Outcome, Sensitive, SkipReason, TablePos,
};
pub use local::LocalEngine;
pub use policy::Policy;

/// Options that differ between callers of the same engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Compute the SHA-256 of the content in the same pass (the store needs it).
    pub hash: bool,
    /// The file as last scanned. A text file that has only grown since
    /// (its first `size` bytes still hash to `sha256`) has only its new
    /// bytes scanned: see [`FileReport::grown_from`].
    pub prior: Option<Prior>,
}

/// A file's size and SHA-256 at its last scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prior {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// What `dlpd scan`, the daemon's workers and the benches need from an
/// engine that scans a file where it lies.
pub trait Engine: Send + Sync {
    /// Short name recorded with every result ("local", "nightfall").
    fn name(&self) -> &'static str;
    /// Scans one file and says what became of it; never panics on bad input.
    fn scan_path(&self, path: &std::path::Path, opts: ScanOptions) -> FileReport;

    /// Scans a file a directory walk listed as regular: it may be opened
    /// without a look first (and without following a symlink swapped in
    /// since, unless `follow`), since what is opened is checked anyway.
    fn scan_listed(&self, path: &std::path::Path, follow: bool, opts: ScanOptions) -> FileReport {
        let _ = follow;
        self.scan_path(path, opts)
    }
}

/// Opens a file a walk listed as regular, for reading, without blocking
/// or taking a terminal; a symlink put in its place is refused unless
/// `follow`. The caller checks what was opened ([`regular_meta`]).
pub(crate) fn open_listed(path: &Path, follow: bool) -> Result<File, Outcome> {
    let nofollow = if follow { 0 } else { libc::O_NOFOLLOW };
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | nofollow)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => Outcome::Skipped(SkipReason::NotRegular("symlink")),
            _ => Outcome::Failed(describe_io_error(&e)),
        })
}

/// Opens `path` only if it is a regular file, without blocking on FIFOs or
/// touching devices.
pub(crate) fn open_regular(path: &Path) -> Result<(File, std::fs::Metadata), Outcome> {
    let fail = |e: io::Error| Outcome::Failed(describe_io_error(&e));
    let meta = std::fs::metadata(path).map_err(fail)?;
    if !meta.is_file() {
        return Err(Outcome::Skipped(SkipReason::NotRegular(file_kind(
            &meta.file_type(),
        ))));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(fail)?;
    // The path may have been swapped between the two looks.
    let meta = regular_meta(&file)?;
    Ok((file, meta))
}

/// The metadata of an opened file (`fstat`), if it is a regular file: what
/// is checked is what will be read.
pub(crate) fn regular_meta(file: &File) -> Result<std::fs::Metadata, Outcome> {
    let meta = file
        .metadata()
        .map_err(|e| Outcome::Failed(describe_io_error(&e)))?;
    regular(meta)
}

/// `meta` if it is a regular file's; else why it is skipped.
pub(crate) fn regular(meta: std::fs::Metadata) -> Result<std::fs::Metadata, Outcome> {
    if !meta.is_file() {
        return Err(Outcome::Skipped(SkipReason::NotRegular(file_kind(
            &meta.file_type(),
        ))));
    }
    Ok(meta)
}
