//! Walking a directory tree for files to scan, the same way for `dlpd scan`
//! and the daemon's baseline: symlinks followed only when asked (loops
//! reported, not followed), directories entered only when the caller
//! wants them, and every error reported with its path.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::fsutil::describe_io_error;

/// What a walk finds.
pub enum Walked {
    /// Anything but a directory (or a symlink not followed): a regular
    /// file, or a FIFO, socket or device, which the engine refuses by name.
    File(walkdir::DirEntry),
    /// A directory or file that could not be read.
    Failed { path: PathBuf, message: String },
}

/// Why a directory reached through a symlink was not entered: it leads
/// back to `ancestor`.
pub fn loop_message(ancestor: &Path) -> String {
    format!(
        "symlink loop: leads back to {}; not followed",
        ancestor.display()
    )
}

/// Walks `root`, entering the directories `wanted(path, true)` accepts and
/// handing `visit` the files `wanted(path, false)` accepts, until `visit`
/// breaks. Returns `Break` if it did.
pub fn walk(
    root: &Path,
    follow: bool,
    wanted: impl Fn(&Path, bool) -> bool,
    mut visit: impl FnMut(Walked) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let entries = walkdir::WalkDir::new(root)
        .follow_links(follow)
        .into_iter()
        .filter_entry(|e| !e.file_type().is_dir() || wanted(e.path(), true));
    for entry in entries {
        let found = match entry {
            Ok(e) if e.file_type().is_dir() => continue,
            Ok(e) if e.file_type().is_symlink() => {
                tracing::debug!(path = %e.path().display(), "not following symlink (follow_symlinks is off)");
                continue;
            }
            Ok(e) if !wanted(e.path(), false) => continue,
            Ok(e) => Walked::File(e),
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                let message = match (e.loop_ancestor(), e.io_error()) {
                    (Some(ancestor), _) => loop_message(ancestor),
                    (None, Some(io)) => describe_io_error(io),
                    (None, None) => e.to_string(),
                };
                Walked::Failed { path, message }
            }
        };
        visit(found)?;
    }
    ControlFlow::Continue(())
}
