//! Mount changes as the kernel reports them. On Linux,
//! `/proc/self/mountinfo` polls readable with `POLLPRI` when the mount
//! table changes, so the thread sleeps until a medium comes or goes: no
//! timer, nothing at rest. Elsewhere nothing is watched.

use crossbeam_channel::Sender;

use super::WatchEvent;

/// Starts the thread that sends [`WatchEvent::MountsChanged`] on each
/// change of the mount table. It ends when the receiver is gone.
#[cfg(target_os = "linux")]
pub fn spawn(tx: Sender<WatchEvent>) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::fd::AsRawFd;

    let mut file = std::fs::File::open("/proc/self/mountinfo")?;
    std::thread::Builder::new()
        .name("mounts".into())
        .spawn(move || {
            let mut table = Vec::new();
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
                if n > 0 && tx.send(WatchEvent::MountsChanged).is_err() {
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
