//! The walker: lists the files under a root (at start, on a rescan, after a
//! reload) for the keeper, which queues those changed since their last scan.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::fsutil::mtime_ns;
use crate::watch::WatchSettings;

/// A file the walker saw, with what it looked like.
pub(super) enum Seen {
    File {
        path: PathBuf,
        size: u64,
        mtime_ns: Option<i64>,
    },
    /// One walk (a root at start, or a rescan) is complete.
    Walked(PathBuf),
}

/// A directory to walk, with the filters in force when it was asked for.
pub(super) type Walk = (PathBuf, Arc<WatchSettings>);

/// Walks each directory it is sent and reports its wanted files.
pub(super) fn walker(dirs: &Receiver<Walk>, seen: &Sender<Seen>, walked: &AtomicU64) {
    for (dir, settings) in dirs {
        let entries = walkdir::WalkDir::new(&dir)
            .follow_links(settings.follow_symlinks)
            .into_iter()
            .filter_entry(|e| !e.file_type().is_dir() || settings.wanted(e.path(), true));
        for entry in entries {
            let e = match entry {
                Ok(e) if e.file_type().is_file() => e,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(path = ?err.path(), "cannot walk: {err}");
                    continue;
                }
            };
            if !settings.wanted(e.path(), false) {
                continue;
            }
            let Ok(meta) = e.metadata() else { continue };
            walked.fetch_add(1, Ordering::Relaxed);
            let file = Seen::File {
                path: e.into_path(),
                size: meta.len(),
                mtime_ns: Some(mtime_ns(&meta)),
            };
            if seen.send(file).is_err() {
                return;
            }
        }
        if seen.send(Seen::Walked(dir)).is_err() {
            return;
        }
    }
}
