//! Filesystem habits every part of dlpd shares: private files and
//! directories, and error messages that say what to do.

use std::fs::{self, DirBuilder, File, FileType, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file dlpd creates.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory dlpd creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` (and missing parents) as 0700. An existing directory is
/// left as it is, with a warning when others can read it.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "state directory is readable by other users; chmod 700 it"
                );
            }
            Ok(())
        }
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Err(_) => DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir),
    }
}

/// Opens `path` for reading and writing, creating it as 0600 if missing.
pub fn open_private_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
}

/// Writes `data` to `path` atomically as a 0600 file: a temp file beside it,
/// fsync, rename. A crash leaves the old file or the new one, never half.
pub fn write_private_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// A 0600 file written in full or not at all: the bytes go to a temp file
/// beside `path`, which [`AtomicFile::commit`] syncs and renames into
/// place; dropped uncommitted (an error, an interrupted run), the temp file
/// is removed and `path` is untouched.
pub struct AtomicFile {
    file: io::BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    done: bool,
}

impl AtomicFile {
    /// Creates the temp file (never an existing one: `O_EXCL`).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)?;
        Ok(AtomicFile {
            file: io::BufWriter::new(file),
            tmp,
            path: path.to_path_buf(),
            done: false,
        })
    }

    /// Syncs the bytes and gives the file its name.
    pub fn commit(mut self) -> io::Result<()> {
        use std::io::Write;
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        fs::rename(&self.tmp, &self.path)?;
        self.done = true;
        Ok(())
    }
}

impl io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Opens `path` to read without following a symlink anywhere below
/// `root`: not the file itself, not a directory on the way. On Linux 5.6
/// and later this is one `openat2` call (`RESOLVE_BENEATH` and
/// `RESOLVE_NO_SYMLINKS`) from a descriptor of the root, so a directory
/// swapped for a symlink between a check and the open cannot redirect it.
/// Elsewhere, or where `openat2` is not allowed, only the last component
/// is protected (`O_NOFOLLOW`). A symlink met on the way is `ELOOP` (or
/// `EXDEV` for a way out of the root): see [`is_symlink_refusal`]. The
/// open never blocks, so a FIFO swapped in cannot hang the reader.
pub fn open_no_symlinks(root: Option<&Path>, path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    if let Some(rel) = root.and_then(|r| Some((r, path.strip_prefix(r).ok()?))) {
        match openat2_beneath(rel.0, rel.1) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => {}
            other => return other,
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = root;
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Whether an open failed because it met a symlink it may not follow.
pub fn is_symlink_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV))
}

#[cfg(target_os = "linux")]
fn openat2_beneath(root: &Path, rel: &Path) -> io::Result<File> {
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_PATH)
        .open(root)?;
    let rel = std::ffi::CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: open_how is plain integers; all zero is its "nothing set".
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags =
        (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the pointers are valid for the call, and the size is the
    // struct's; a non-negative result is a new descriptor we now own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            rel.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: see above.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

/// A short name for a non-regular file type.
/// Whether `path` is on a file system this process sees read-only (a
/// read-only mount, or systemd's `ProtectHome=read-only`).
pub fn on_read_only_fs(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c is a valid NUL-terminated path; st is written by statvfs.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        libc::statvfs(c.as_ptr(), &mut st) == 0 && st.f_flag & libc::ST_RDONLY != 0
    }
}

pub fn file_kind(ft: &FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "regular file"
    }
}

/// Why a file could not be read for lack of permission. The store finds
/// such files by this text, to try them again once they can be read.
pub const PERMISSION_DENIED: &str =
    "permission denied: run dlpd as a user that can read it, or exclude it";

/// An I/O error as a person should read it: what happened and what to do.
pub fn describe_io_error(e: &io::Error) -> String {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::NotFound, _) => {
            "vanished before it could be scanned (no such file or directory)".into()
        }
        (io::ErrorKind::PermissionDenied, _) => PERMISSION_DENIED.into(),
        (_, Some(libc::ELOOP)) => "symlink loop (too many levels of symbolic links)".into(),
        _ => e.to_string(),
    }
}

/// A file's modification time in nanoseconds since the epoch, as the store
/// records it.
pub fn mtime_ns(meta: &fs::Metadata) -> i64 {
    use std::os::unix::fs::MetadataExt;
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// The hex SHA-256 of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The hex SHA-256 of a file's content, read in 64 KiB pieces.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    sha256_reader(File::open(path)?)
}

/// The hex SHA-256 of an opened file's content from its start (the file
/// may be a duplicate of a descriptor already read from).
pub fn sha256_opened(file: &File) -> io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut again = file.try_clone()?;
    again.seek(SeekFrom::Start(0))?;
    sha256_reader(again)
}

/// The hex SHA-256 of what `reader` yields, read in 64 KiB pieces.
pub fn sha256_reader(mut file: impl io::Read) -> io::Result<String> {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => ctx.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex(ctx.finish().as_ref()))
}

/// A SHA-256 digest from its hex form; `None` if it is not one.
pub fn digest_from_hex(s: &str) -> Option<[u8; 32]> {
    let s = s.as_bytes();
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Lowercase hex, for digests. By table: formatting each byte through
/// `write!` was a tenth of a daemon worker's time on small files.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_lowercase_hex_and_read_back() {
        // FIPS 180-2's "abc" vector.
        let hex = super::sha256_hex(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let digest = super::digest_from_hex(&hex).unwrap();
        assert_eq!(super::hex(&digest), hex);
    }
}
