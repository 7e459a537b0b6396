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

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::fsutil::{FILE_MODE, describe_io_error, ensure_private_dir, sha256_file};
use crate::store::{QuarantineRecord, QuarantineState, Store, StoreError};

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
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> QuarantineError + 'a {
    move |e| QuarantineError::Io {
        what,
        path: path.to_path_buf(),
        reason: describe_io_error(&e),
    }
}

/// The quarantine directory and how files leave their place.
#[derive(Debug, Clone)]
pub struct Quarantine {
    dir: PathBuf,
    stub: bool,
}

impl Quarantine {
    pub fn new(dir: PathBuf, stub: bool) -> Quarantine {
        Quarantine { dir, stub }
    }

    /// Where quarantine record `id` keeps its file.
    pub fn stored_path(&self, id: i64) -> PathBuf {
        self.dir.join(format!("{id}.quarantined"))
    }

    /// The record for quarantining `path`, whose scanned content had
    /// `sha256`; fails if the file is not that content any more.
    pub fn prepare(
        &self,
        path: &Path,
        sha256: &str,
        detectors: String,
    ) -> Result<QuarantineRecord, QuarantineError> {
        let meta = fs::symlink_metadata(path).map_err(io_err("cannot stat", path))?;
        if !meta.is_file() || sha256_file(path).ok().as_deref() != Some(sha256) {
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

    fn move_in(&self, rec: &QuarantineRecord) -> Result<Option<String>, QuarantineError> {
        ensure_private_dir(&self.dir)
            .map_err(io_err("cannot create quarantine directory", &self.dir))?;
        let stored = self.stored_path(rec.id);
        let _ = fs::remove_file(tmp_path(&stored));
        let here = sha256_file(&rec.path).ok();
        if !stored.exists() {
            if here.as_deref() != Some(rec.sha256.as_str()) {
                return Err(QuarantineError::Changed {
                    path: rec.path.clone(),
                });
            }
            move_file(&rec.path, &stored, true).map_err(io_err("cannot move", &rec.path))?;
            // A rename keeps the file's mode; in quarantine only dlpd reads it
            // (restore puts the recorded mode back).
            fs::set_permissions(&stored, fs::Permissions::from_mode(FILE_MODE))
                .map_err(io_err("cannot set the mode of", &stored))?;
        } else if here.as_deref() == Some(rec.sha256.as_str()) {
            // Copied into quarantine before a crash; the unlink is left.
            fs::remove_file(&rec.path).map_err(io_err("cannot remove", &rec.path))?;
            sync_parent(&rec.path);
        }
        if !self.stub || rec.path.exists() {
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
        let tmp = tmp_path(&rec.path);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(io_err("cannot write stub", &tmp))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err("cannot write stub", &tmp))?;
        // A hard link never replaces a file someone put there meanwhile.
        let linked = fs::hard_link(&tmp, &rec.path);
        let _ = fs::remove_file(&tmp);
        sync_parent(&rec.path);
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
        if fs::symlink_metadata(path).is_ok() {
            let is_stub = rec.stub_sha256.is_some() && sha256_file(path).ok() == rec.stub_sha256;
            if !is_stub {
                return Err(QuarantineError::Occupied(path.clone()));
            }
            fs::remove_file(path).map_err(io_err("cannot remove the stub", path))?;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
        }
        let stored = self.stored_path(id);
        move_file(&stored, path, true).map_err(io_err("cannot move back", &stored))?;
        let file = File::open(path).map_err(io_err("cannot open", path))?;
        // Only root may give a file away; others keep it as their own.
        // SAFETY: fchown on an owned, open descriptor.
        unsafe {
            libc::fchown(std::os::fd::AsRawFd::as_raw_fd(&file), rec.uid, rec.gid);
        }
        fs::set_permissions(path, fs::Permissions::from_mode(rec.mode))
            .map_err(io_err("cannot set the mode of", path))?;
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_nanos(rec.mtime_ns.max(0) as u64);
        let _ = file.set_times(fs::FileTimes::new().set_modified(mtime));
        store.quarantine_set(id, QuarantineState::Restored, None, None)?;
        Ok(path.clone())
    }
}

/// Moves `src` to `dst` durably: a rename when both are on one filesystem
/// (and `allow_rename`), else copy to a temporary name, fsync, rename into
/// place, fsync the directory, and only then unlink `src`. At every moment
/// at least one whole copy exists.
pub fn move_file(src: &Path, dst: &Path, allow_rename: bool) -> io::Result<()> {
    if allow_rename {
        match fs::rename(src, dst) {
            Ok(()) => {
                sync_parent(dst);
                sync_parent(src);
                return Ok(());
            }
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {}
            Err(e) => return Err(e),
        }
    }
    let tmp = tmp_path(dst);
    let _ = fs::remove_file(&tmp);
    {
        let mut from = File::open(src)?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        io::copy(&mut from, &mut to)?;
        to.sync_all()?;
    }
    fs::rename(&tmp, dst)?;
    sync_parent(dst);
    fs::remove_file(src)?;
    sync_parent(src);
    Ok(())
}

fn tmp_path(p: &Path) -> PathBuf {
    let mut name = p.file_name().unwrap_or_default().to_os_string();
    name.push(".dlpd-tmp");
    p.with_file_name(name)
}

/// Makes a rename or unlink in `p`'s directory durable.
fn sync_parent(p: &Path) {
    if let Some(dir) = p.parent()
        && let Ok(d) = File::open(dir)
    {
        let _ = d.sync_all();
    }
}
