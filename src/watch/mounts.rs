//! Mount changes as the kernel reports them. On Linux,
//! `/proc/self/mountinfo` polls readable with `POLLPRI` when the mount
//! table changes, so the thread sleeps until a medium comes or goes: no
//! timer, nothing at rest. Elsewhere nothing is watched.
//!
//! Changes are coalesced: while one [`WatchEvent::MountsChanged`] waits
//! to be handled, more changes send nothing, so a storm of mounts (a
//! container starting) costs the keeper one read of the table.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::Sender;

use super::WatchEvent;

/// A `MountsChanged` is sent and not yet taken.
static PENDING: AtomicBool = AtomicBool::new(false);

/// Called by the receiver of a `MountsChanged` before it reads the table:
/// a change after this sends a new one.
pub fn taken() {
    PENDING.store(false, Ordering::SeqCst);
}

/// Sends a `MountsChanged` unless one is waiting.
fn changed(tx: &Sender<WatchEvent>) -> bool {
    PENDING.swap(true, Ordering::SeqCst) || tx.send(WatchEvent::MountsChanged).is_ok()
}

/// Starts the thread that sends [`WatchEvent::MountsChanged`] on changes
/// of the mount table, and once when it starts: a medium mounted after
/// the caller read the table, and before this thread did, is not missed.
/// It ends when the receiver is gone.
#[cfg(target_os = "linux")]
pub fn spawn(tx: Sender<WatchEvent>) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::fd::AsRawFd;

    let mut file = std::fs::File::open("/proc/self/mountinfo")?;
    std::thread::Builder::new()
        .name("mounts".into())
        .spawn(move || {
            let mut table = Vec::new();
            let mut first = true;
            loop {
                // Reading the table through arms the next notification.
                table.clear();
                if file
                    .seek(SeekFrom::Start(0))
                    .and_then(|_| file.read_to_end(&mut table))
                    .is_err()
                {
                    return tracing::warn!(
                        "cannot read /proc/self/mountinfo; mounts are no longer followed"
                    );
                }
                if std::mem::take(&mut first) && !changed(&tx) {
                    return;
                }
                let mut pfd = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLPRI,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, for the duration of the call.
                let n = unsafe { libc::poll(&mut pfd, 1, -1) };
                if n < 0
                    && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
                {
                    return tracing::warn!(
                        "cannot poll /proc/self/mountinfo; mounts are no longer followed"
                    );
                }
                if n > 0 && !changed(&tx) {
                    return;
                }
            }
        })?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn spawn(_tx: Sender<WatchEvent>) -> std::io::Result<()> {
    Ok(())
}
