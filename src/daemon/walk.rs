//! The walker: lists the files under a root (at start, on a rescan, after a
//! reload) and asks the store, on its own read-only connection, which
//! changed since their last scan; the keeper gets only those.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender};

use crate::fsutil::mtime_ns;
use crate::store::{Changed, Lookup, Stat};
use crate::walk::{Walked, walk};
use crate::watch::WatchSettings;

/// What the walker reports.
pub(super) enum Seen {
    /// A file new or changed since its last recorded scan.
    File(Changed),
    /// One walk (a root at start, or a rescan) is complete.
    Walked(PathBuf),
}

/// A directory to walk, with the filters in force when it was asked for.
pub(super) struct Walk {
    pub dir: PathBuf,
    pub settings: Arc<WatchSettings>,
    /// A baseline walk (at start, after a reload, a medium mounted) finds
    /// what was there before: not behaviour. A rescan (a directory moved
    /// in, events the kernel dropped) finds what the watcher could not
    /// report one by one: behaviour, counted by the baselines.
    pub baseline: bool,
}

/// A walked file's size and mtime, if it is still there (and not a link).
fn stat(path: &Path) -> Option<Stat> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.len(), Some(mtime_ns(&meta))))
}

/// Files looked up in the store together.
const LOOKUP_BATCH: usize = 256;

/// Walks each directory it is sent and reports its changed files. When
/// the store cannot say whether a file changed, the file is reported: a
/// scan too many costs less than one missed.
pub(super) fn walker(
    dirs: &Receiver<Walk>,
    seen: &Sender<Seen>,
    walked: &AtomicU64,
    lookup: &Lookup,
) {
    for Walk {
        dir,
        settings,
        baseline,
    } in dirs
    {
        if !settings.reached_directly(&dir) {
            tracing::warn!(dir = %dir.display(), "not walked: a symlink now stands in its path below the root (follow_symlinks is off)");
            if seen.send(Seen::Walked(dir)).is_err() {
                return;
            }
            continue;
        }
        let mut lookup_failed = false;
        let mut report = |files: Vec<PathBuf>| {
            let changed = lookup.changed(&files, stat).unwrap_or_else(|err| {
                if !std::mem::replace(&mut lookup_failed, true) {
                    tracing::warn!(dir = %dir.display(), "cannot tell which files changed since their last scan; scanning them: {err}");
                }
                let changed = |path| Changed {
                    path,
                    stat: None,
                    baseline,
                };
                files.into_iter().map(changed).collect()
            });
            for mut file in changed {
                file.baseline = baseline;
                if seen.send(Seen::File(file)).is_err() {
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        };
        let mut batch = Vec::with_capacity(LOOKUP_BATCH);
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
            walked.fetch_add(1, Ordering::Relaxed);
            batch.push(e.into_path());
            match batch.len() < LOOKUP_BATCH {
                true => ControlFlow::Continue(()),
                false => report(std::mem::take(&mut batch)),
            }
        });
        let done = match done {
            ControlFlow::Continue(()) => report(batch),
            stopped => stopped,
        };
        lookup.release_memory();
        if done.is_break() || seen.send(Seen::Walked(dir)).is_err() {
            return;
        }
    }
}
