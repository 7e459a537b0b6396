//! Quarantine: a file with findings moved out of the way, into a 0700
//! directory, with a short stub left in its place.
//!
//! Every step is recorded first, so a crash at any point is finished at the
//! next start ([`Quarantine::recover`]) and never loses the file:
//! 1. the record (state `moving`) is stored with the findings;
//! 2. the file is renamed into the quarantine directory, or, across
//!    filesystems, copied to a temporary name, fsynced, renamed into
//!    place, and only then unlinked from where it was;
//! 3. the stub is linked in (never over a file someone put there since);
//! 4. the record becomes `quarantined`.
//!
//! [`Quarantine::restore`] puts the file back with its mode and times.
//!
//! The paths are the users': every step goes through directory
//! descriptors ([`crate::dirfd`]) opened below a watch root without
//! following symlinks; the file is hashed, checked (one link only) and
//! re-moded through its own descriptor; a move is a link plus an unlink,
//! checked to have moved the very file that was hashed; nothing replaces
//! a name that exists. A swapped file or directory makes the step fail,
//! never redirects it.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::dirfd::{Dir, identity_of};
use crate::fsutil::{FILE_MODE, describe_io_error, ensure_private_dir, sha256_opened};
use crate::store::{QuarantineRecord, QuarantineState, Store, StoreError};

/// A quarantine or restore asked for by hand (the dashboard); the keeper
/// carries it out, as it does those rules decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Quarantine the file of this `files` row, if it still holds what
    /// was scanned, and, when given, the content the asker saw (its
    /// SHA-256, as bytes of hex).
    Quarantine {
        file_id: i64,
        seen: Option<[u8; 64]>,
    },
    /// Put back the file of this quarantine record.
    Restore { id: i64 },
}

impl std::fmt::Display for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Act::Quarantine { file_id, .. } => write!(f, "quarantine of file {file_id}"),
            Act::Restore { id } => write!(f, "restore of quarantine record {id}"),
        }
    }
}

/// Why a quarantine step failed.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    #[error("{path}: changed since it was scanned; the new content is scanned again instead")]
    Changed { path: PathBuf },
    #[error("{what} {path}: {reason}")]
    Io {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no quarantined file has id {0}; see `dlpd quarantine list`")]
    NotFound(i64),
    #[error("quarantine id {id} is {state:?}, not quarantined")]
    NotQuarantined { id: i64, state: QuarantineState },
    #[error("{0} exists and is not dlpd's stub; move it away, then restore again")]
    Occupied(PathBuf),
    #[error(
        "{path}: has {links} hard links; quarantine would leave it readable through the others, so it is left where it is"
    )]
    Linked { path: PathBuf, links: u64 },
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> QuarantineError + 'a {
    move |e| QuarantineError::Io {
        what,
        path: path.to_path_buf(),
        reason: describe_move_error(&e),
    }
}

/// Why a file could not be moved, as a person should read it: moving
/// needs write permission on the directories, which reading does not.
fn describe_move_error(e: &io::Error) -> String {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::PermissionDenied, _) => {
            "permission denied: moving a file out needs write permission on its directory; \
             run dlpd as a user that can write there, or quarantine nothing there"
                .into()
        }
        (_, Some(libc::EROFS)) => "the file system is read-only to dlpd (under the shipped \
             systemd unit, ProtectHome=read-only makes /home so: see docs/remediation.md)"
            .into(),
        _ => describe_io_error(e),
    }
}

/// The quarantine directory and how files leave their place.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
    stub: bool,
    /// The watch roots: directories are opened from these down without
    /// following symlinks. A globbed root counts from its literal prefix
    /// (`/home` for `/home/*/Downloads`): what the glob matched is not
    /// trusted further than any directory under a root.
    roots: Vec<PathBuf>,
}

impl Quarantine {
    pub fn new(dir: PathBuf, stub: bool, roots: Vec<PathBuf>) -> Quarantine {
        let absolute = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        Quarantine {
            dir: absolute(dir),
            stub,
            roots: roots
                .iter()
                .map(|r| absolute(crate::watch::roots::literal_prefix(r)))
                .collect(),
        }
    }

    /// Where quarantine record `id` keeps its file.
    pub fn stored_path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.quarantined"))
    }

    /// The record for quarantining `path`, whose scanned content had
    /// `size` bytes and `sha256`; fails if the file is not that content any
    /// more. The size is compared first: a file swapped for a huge one is
    /// refused without reading it.
    pub fn prepare(
        &self,
        path: &Path,
        size: u64,
        sha256: &str,
        detectors: String,
    ) -> Result<QuarantineRecord, QuarantineError> {
        let (home, name) = self.home(path, false)?;
        let file = home.open_file(name).map_err(io_err("cannot open", path))?;
        let meta = file.metadata().map_err(io_err("cannot stat", path))?;
        if !meta.is_file()
            || meta.len() != size
            || sha256_opened(&file).ok().as_deref() != Some(sha256)
        {
            return Err(QuarantineError::Changed {
                path: path.to_path_buf(),
            });
        }
        Ok(QuarantineRecord {
            id: 0,
            path: path.to_path_buf(),
            state: QuarantineState::Moving,
            size: meta.len(),
            mode: meta.permissions().mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            mtime_ns: crate::fsutil::mtime_ns(&meta),
            sha256: sha256.to_string(),
            stub_sha256: None,
            detectors,
            at: SystemTime::now(),
            error: None,
        })
    }

    /// Steps 2 to 4 for a record already stored as `moving`; also what
    /// recovery runs, so each step checks what is already done.
    pub fn carry_out(
        &self,
        store: &mut Store,
        rec: &QuarantineRecord,
    ) -> Result<(), QuarantineError> {
        match self.move_in(rec) {
            Ok(stub) => {
                store.quarantine_set(
                    rec.id,
                    QuarantineState::Quarantined,
                    stub.as_deref(),
                    None,
                )?;
                tracing::warn!(path = %rec.path.display(), id = rec.id, detectors = %rec.detectors, "quarantined");
                Ok(())
            }
            Err(e) => {
                store.quarantine_set(
                    rec.id,
                    QuarantineState::Failed,
                    None,
                    Some(&e.to_string()),
                )?;
                Err(e)
            }
        }
    }

    /// The directory holding `path`, opened from its watch root without
    /// following symlinks, and the file's name in it.
    fn home<'p>(&self, path: &'p Path, create: bool) -> Result<(Dir, &'p OsStr), QuarantineError> {
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(QuarantineError::Io {
                what: "cannot use",
                path: path.to_path_buf(),
                reason: "not a file path".into(),
            });
        };
        let dir = Dir::open(&self.roots, parent, create).map_err(|e| QuarantineError::Io {
            what: "cannot open the directory of",
            path: path.to_path_buf(),
            reason: match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) => {
                    "a directory on its way is a symlink (or was replaced by one); refused".into()
                }
                _ => describe_move_error(&e),
            },
        })?;
        Ok((dir, name))
    }

    /// dlpd's own quarantine directory.
    fn own_dir(&self) -> Result<Dir, QuarantineError> {
        ensure_private_dir(&self.dir)
            .map_err(io_err("cannot create quarantine directory", &self.dir))?;
        Dir::open(std::slice::from_ref(&self.dir), &self.dir, false)
            .map_err(io_err("cannot open quarantine directory", &self.dir))
    }

    fn move_in(&self, rec: &QuarantineRecord) -> Result<Option<String>, QuarantineError> {
        let qdir = self.own_dir()?;
        let stored = stored_name(rec.id);
        let tmp = tmp_name(&stored);
        let _ = qdir.unlink(&tmp);
        let (home, name) = self.home(&rec.path, false)?;
        let changed = || QuarantineError::Changed {
            path: rec.path.clone(),
        };
        // The file as it is now, opened once, never through a link.
        let file = match home.open_file(name) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(changed()),
            Err(e) => return Err(io_err("cannot open", &rec.path)(e)),
        };
        let same = |f: &File| sha256_opened(f).ok().as_deref() == Some(rec.sha256.as_str());
        let here = file.as_ref().filter(|f| same(f));
        if qdir
            .identity(&stored)
            .map_err(io_err("cannot stat", &self.dir))?
            .is_none()
        {
            let file = here.ok_or_else(changed)?;
            let meta = file.metadata().map_err(io_err("cannot stat", &rec.path))?;
            if !meta.is_file() {
                return Err(changed());
            }
            if meta.nlink() > 1 {
                return Err(QuarantineError::Linked {
                    path: rec.path.clone(),
                    links: meta.nlink(),
                });
            }
            let id = identity_of(file).map_err(io_err("cannot stat", &rec.path))?;
            match home.link(name, &qdir, &stored) {
                // Linked: but was it the file hashed, or one swapped in?
                Ok(()) if qdir.identity(&stored).ok().flatten() == Some(id) => {}
                Ok(()) => {
                    let _ = qdir.unlink(&stored);
                    return Err(changed());
                }
                // Another filesystem, or links refused: copy what was hashed.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EPERM)) => {
                    copy_into(file, &qdir, &tmp, &stored)
                        .map_err(io_err("cannot copy into quarantine", &rec.path))?;
                }
                Err(e) => return Err(io_err("cannot move", &rec.path)(e)),
            }
            // In quarantine only dlpd reads it; restore puts the mode back.
            file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err("cannot set the mode of", &rec.path))?;
            qdir.sync();
            unlink_if_same(&home, name, id).map_err(io_err("cannot remove", &rec.path))?;
        } else if let Some(file) = here {
            // Copied into quarantine before a crash; the unlink is left.
            let id = identity_of(file).map_err(io_err("cannot stat", &rec.path))?;
            unlink_if_same(&home, name, id).map_err(io_err("cannot remove", &rec.path))?;
        }
        if !self.stub || home.identity(name).ok().flatten().is_some() {
            return Ok(None);
        }
        let text = format!(
            "This file was moved to quarantine by dlpd at {} because it contains sensitive data ({}).\n\
             Quarantine id: {}. An administrator can put it back with: dlpd quarantine restore {}\n",
            crate::report::rfc3339(SystemTime::now()),
            rec.detectors,
            rec.id,
            rec.id
        );
        let tmp = tmp_name(name);
        let _ = home.unlink(&tmp);
        let mut f = home
            .create_file(&tmp, FILE_MODE)
            .map_err(io_err("cannot write stub", &rec.path))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("cannot write stub", &rec.path))?;
        // A link never replaces a file someone put there meanwhile.
        let linked = home.link(&tmp, &home, name);
        let _ = home.unlink(&tmp);
        home.sync();
        Ok(linked
            .ok()
            .map(|()| crate::fsutil::sha256_hex(text.as_bytes())))
    }

    /// Finishes every quarantine a crash interrupted; returns how many.
    pub fn recover(&self, store: &mut Store) -> Result<usize, StoreError> {
        let moving = store.quarantine_list(Some(QuarantineState::Moving))?;
        for rec in &moving {
            if let Err(e) = self.carry_out(store, rec) {
                tracing::error!(id = rec.id, "cannot finish an interrupted quarantine: {e}");
            }
        }
        Ok(moving.len())
    }

    /// Puts quarantined file `id` back where it was, with its mode, owner
    /// (when dlpd may set it) and modification time.
    pub fn restore(&self, store: &mut Store, id: i64) -> Result<PathBuf, QuarantineError> {
        let rec = store
            .quarantine_get(id)?
            .ok_or(QuarantineError::NotFound(id))?;
        if rec.state != QuarantineState::Quarantined {
            return Err(QuarantineError::NotQuarantined {
                id,
                state: rec.state,
            });
        }
        let path = &rec.path;
        let (home, name) = self.home(path, true)?;
        if home
            .identity(name)
            .map_err(io_err("cannot stat", path))?
            .is_some()
        {
            let stub = home.open_file(name).ok();
            let is_stub = rec.stub_sha256.is_some()
                && stub.and_then(|f| sha256_opened(&f).ok()) == rec.stub_sha256;
            if !is_stub {
                return Err(QuarantineError::Occupied(path.clone()));
            }
            home.unlink(name)
                .map_err(io_err("cannot remove the stub", path))?;
        }
        let qdir = self.own_dir()?;
        let stored = stored_name(id);
        let file = qdir
            .open_file(&stored)
            .map_err(io_err("cannot open", &self.stored_path(id)))?;
        // Owner, mode and time are set on the descriptor, in dlpd's own
        // directory, before the file is given its name back. Only root may
        // give a file away; others keep it as their own.
        // SAFETY: fchown on an owned, open descriptor.
        unsafe {
            libc::fchown(std::os::fd::AsRawFd::as_raw_fd(&file), rec.uid, rec.gid);
        }
        file.set_permissions(fs::Permissions::from_mode(rec.mode))
            .map_err(io_err("cannot set the mode of", path))?;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_nanos(rec.mtime_ns.max(0) as u64);
        let _ = file.set_times(fs::FileTimes::new().set_modified(mtime));
        let occupied = |e: io::Error| match e.kind() {
            io::ErrorKind::AlreadyExists => QuarantineError::Occupied(path.clone()),
            _ => io_err("cannot move back", path)(e),
        };
        match qdir.link(&stored, &home, name) {
            Ok(()) => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EPERM)) => {
                let tmp = tmp_name(name);
                let _ = home.unlink(&tmp);
                let mut to = home
                    .create_file(&tmp, FILE_MODE)
                    .map_err(io_err("cannot write", path))?;
                let copied = copy_to(&file, &mut to).and_then(|()| {
                    // SAFETY: as above.
                    unsafe { libc::fchown(std::os::fd::AsRawFd::as_raw_fd(&to), rec.uid, rec.gid) };
                    to.set_permissions(fs::Permissions::from_mode(rec.mode))?;
                    to.set_times(fs::FileTimes::new().set_modified(mtime))
                });
                let linked = copied.and_then(|()| home.link(&tmp, &home, name));
                let _ = home.unlink(&tmp);
                linked.map_err(occupied)?;
            }
            Err(e) => return Err(occupied(e)),
        }
        home.sync();
        qdir.unlink(&stored)
            .map_err(io_err("cannot remove", &self.stored_path(id)))?;
        qdir.sync();
        store.quarantine_set(id, QuarantineState::Restored, None, None)?;
        Ok(path.clone())
    }
}

/// The name of quarantine record `id`'s file in the quarantine directory.
fn stored_name(id: i64) -> OsString {
    format!("{id}.quarantined").into()
}

/// A temporary name beside `name`.
fn tmp_name(name: &OsStr) -> OsString {
    let mut tmp = name.to_os_string();
    tmp.push(".dlpd-tmp");
    tmp
}

/// Copies an open file into `dir` as `name`, durably: a new temp file,
/// fsync, then a rename into place (both names are dlpd's own).
fn copy_into(from: &File, dir: &Dir, tmp: &OsStr, name: &OsStr) -> io::Result<()> {
    let mut to = dir.create_file(tmp, FILE_MODE)?;
    copy_to(from, &mut to)?;
    dir.rename(tmp, dir, name)?;
    dir.sync();
    Ok(())
}

/// Copies all of `from` (from its start) into `to`, and syncs `to`.
fn copy_to(from: &File, to: &mut File) -> io::Result<()> {
    let mut from = from.try_clone()?;
    from.seek(io::SeekFrom::Start(0))?;
    io::copy(&mut from, to)?;
    to.sync_all()
}

/// Removes `name` from `dir` only if it is still the file `id` (what was
/// put in quarantine); anything put there since is left alone.
fn unlink_if_same(dir: &Dir, name: &OsStr, id: (u64, u64)) -> io::Result<()> {
    if dir.identity(name)? == Some(id) {
        dir.unlink(name)?;
        dir.sync();
    }
    Ok(())
}
