//! File operations through directory descriptors, for paths an
//! unprivileged user controls (quarantine and restore run as root on files
//! anyone may have written).
//!
//! A [`Dir`] is opened one component at a time with `O_NOFOLLOW` below a
//! trusted base (a watch root, which the administrator chose), so a
//! directory on the way that was swapped for a symlink is refused, not
//! followed. Every later step names a single component relative to that
//! descriptor, with `O_NOFOLLOW` or `AT_SYMLINK_NOFOLLOW`, and changes to
//! a file (mode, owner) are made on its open descriptor, never on a path.
//! Moves never replace a name that exists: a link to the new name, then an
//! unlink of the old.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// An open directory, reached without following a symlink.
#[derive(Debug)]
pub struct Dir(OwnedFd);

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

impl Dir {
    /// Opens directory `path`. The longest of `bases` that holds it is
    /// opened as configured; each component below it is opened with
    /// `O_NOFOLLOW`, so a symlink there is `ELOOP` (or `ENOTDIR`). With no
    /// base, every component from `/` is checked. With `create`, missing
    /// directories below the base are made (0700).
    pub fn open(bases: &[impl AsRef<Path>], path: &Path, create: bool) -> io::Result<Dir> {
        let base = bases
            .iter()
            .map(AsRef::as_ref)
            .filter(|b| path.starts_with(b))
            .max_by_key(|b| b.as_os_str().len())
            .unwrap_or(Path::new("/"));
        let rel = path.strip_prefix(base).unwrap_or(path);
        let mut dir = Dir::open_base(base)?;
        for part in rel.components() {
            match part {
                Component::Normal(name) => dir = dir.child(name, create)?,
                Component::CurDir | Component::RootDir => {}
                _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
            }
        }
        Ok(dir)
    }

    fn open_base(base: &Path) -> io::Result<Dir> {
        let c = cstr(base.as_os_str())?;
        // SAFETY: a valid C string; a non-negative result is ours to own.
        let fd = check(unsafe { libc::open(c.as_ptr(), DIR_FLAGS) })?;
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn child(&self, name: &OsStr, create: bool) -> io::Result<Dir> {
        let c = cstr(name)?;
        let open = || {
            // SAFETY: as above.
            check(unsafe {
                libc::openat(self.0.as_raw_fd(), c.as_ptr(), DIR_FLAGS | libc::O_NOFOLLOW)
            })
        };
        let fd = match open() {
            Err(e) if create && e.kind() == io::ErrorKind::NotFound => {
                // SAFETY: as above.
                match check(unsafe { libc::mkdirat(self.0.as_raw_fd(), c.as_ptr(), 0o700) }) {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                open()?
            }
            other => other?,
        };
        Ok(Dir(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Opens `name` here to read, not following a symlink, never blocking.
    pub fn open_file(&self, name: &OsStr) -> io::Result<File> {
        let c = cstr(name)?;
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: as above.
        let fd = check(unsafe { libc::openat(self.0.as_raw_fd(), c.as_ptr(), flags) })?;
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Creates `name` here, new (never an existing file or link), `mode`.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let c = cstr(name)?;
        let flags =
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: as above.
        let fd = check(unsafe {
            libc::openat(self.0.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint)
        })?;
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// (device, inode) of `name` here, without following a symlink; `None`
    /// if there is nothing.
    pub fn identity(&self, name: &OsStr) -> io::Result<Option<(u64, u64)>> {
        let c = cstr(name)?;
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above; `st` is written by the call.
        let ret = unsafe {
            libc::fstatat(
                self.0.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match check(ret) {
            Ok(_) => Ok(Some((st.st_dev as u64, st.st_ino as u64))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Gives `name` here the name `to_name` in `to` as well (a hard link),
    /// failing with `AlreadyExists` rather than replace anything there.
    pub fn link(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        let (a, b) = (cstr(name)?, cstr(to_name)?);
        // SAFETY: as above; flags 0: a symlink is linked, not followed.
        check(unsafe {
            libc::linkat(
                self.0.as_raw_fd(),
                a.as_ptr(),
                to.0.as_raw_fd(),
                b.as_ptr(),
                0,
            )
        })
        .map(drop)
    }

    /// Renames `name` here to `to_name` in `to`, replacing what is there.
    /// Only for names in dlpd's own directories.
    pub fn rename(&self, name: &OsStr, to: &Dir, to_name: &OsStr) -> io::Result<()> {
        let (a, b) = (cstr(name)?, cstr(to_name)?);
        // SAFETY: as above.
        check(unsafe {
            libc::renameat(self.0.as_raw_fd(), a.as_ptr(), to.0.as_raw_fd(), b.as_ptr())
        })
        .map(drop)
    }

    /// Removes `name` here (a file or a link, never what a link points to).
    pub fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let c = cstr(name)?;
        // SAFETY: as above.
        check(unsafe { libc::unlinkat(self.0.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
    }

    /// Makes the directory's entries durable.
    pub fn sync(&self) {
        // SAFETY: fsync on a descriptor we own.
        unsafe { libc::fsync(self.0.as_raw_fd()) };
    }
}

/// (device, inode) of an open file.
pub fn identity_of(file: &File) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    Ok((m.dev(), m.ino()))
}
