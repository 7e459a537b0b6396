//! The walker: lists the files under a root (at start, on a rescan, after a
//! reload) for the keeper, which queues those changed since their last scan.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::fsutil::mtime_ns;
use crate::walk::{Walked, walk};
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
        if !settings.reached_directly(&dir) {
            tracing::warn!(dir = %dir.display(), "not walked: a symlink now stands in its path below the root (follow_symlinks is off)");
            if seen.send(Seen::Walked(dir)).is_err() {
                return;
            }
            continue;
        }
        let wanted = |path: &Path, is_dir: bool| settings.wanted(path, is_dir);
        let done = walk(&dir, settings.follow_symlinks, wanted, |found| {
            let e = match found {
                Walked::File(e) if e.file_type().is_file() => e,
                Walked::File(_) => return ControlFlow::Continue(()),
                Walked::Failed { path, message } => {
                    tracing::warn!(path = %path.display(), "cannot walk: {message}");
                    return ControlFlow::Continue(());
                }
            };
            let Ok(meta) = e.metadata() else {
                return ControlFlow::Continue(());
            };
            walked.fetch_add(1, Ordering::Relaxed);
            let file = Seen::File {
                path: e.into_path(),
                size: meta.len(),
                mtime_ns: Some(mtime_ns(&meta)),
            };
            match seen.send(file) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }
        });
        if done.is_break() || seen.send(Seen::Walked(dir)).is_err() {
            return;
        }
    }
}
