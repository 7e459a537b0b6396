//! The events file (`[export] events`): each event from the outbox as one
//! NDJSON line, for Vector, Fluent Bit, Filebeat or Wazuh to ship.
//!
//! Lines are appended and synced before the outbox cursor moves, so a
//! crash can repeat lines (each carries its `event.id`) but never lose
//! one. A write that fails (a full disk) is cut back to the last whole
//! line and tried again later. The file is rotated at `max_bytes`
//! (`events.ndjson.1` is the newest old one) and reopened when the daemon
//! reloads (SIGHUP), so logrotate may move it away.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::ExportConfig;
use crate::shutdown::Shutdown;
use crate::store::EventLog;

/// The consumer's name in the outbox.
pub const CONSUMER: &str = "export";
/// Events per append.
const BATCH: usize = 512;
/// How long a failed append waits before the next try.
const RETRY: Duration = Duration::from_secs(5);

/// The open events file.
struct Output {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<(File, u64)>,
}

impl Output {
    fn open(&mut self) -> std::io::Result<&mut (File, u64)> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::fsutil::ensure_private_dir(dir)?;
            }
            let file = OpenOptions::new()
                .read(true)
                .append(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&self.path)?;
            let len = whole_lines(&file)?;
            self.file = Some((file, len));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    /// Moves `events.ndjson` to `.1`, `.1` to `.2`, …, dropping the oldest.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let numbered = |n: u32| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        if self.keep == 0 {
            return std::fs::remove_file(&self.path);
        }
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            match std::fs::rename(numbered(n), numbered(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(&self.path, numbered(1))
    }

    /// Appends `lines` whole and synced, or not at all.
    fn append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        let (file, len) = self.open()?;
        let written = file.write_all(lines).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // No half line stays for a reader to choke on.
            let _ = file.set_len(*len);
            self.file = None;
            return Err(e);
        }
        *len += lines.len() as u64;
        Ok(())
    }

    /// Appends one line per body, rotating first whenever the next line
    /// would take the file past `max_bytes` (a file holds at least one).
    fn write(&mut self, bodies: &[(i64, String)]) -> std::io::Result<()> {
        let mut chunk = Vec::new();
        let mut len = self.open()?.1;
        for (_, body) in bodies {
            let line = body.len() as u64 + 1;
            if len > 0 && len + line > self.max_bytes {
                self.append(&chunk)?;
                chunk.clear();
                self.rotate()?;
                len = 0;
            }
            chunk.extend_from_slice(body.as_bytes());
            chunk.push(b'\n');
            len += line;
        }
        self.append(&chunk)
    }
}

/// Cuts a line left half-written (a crash or power cut mid-append) back
/// to the last newline, so the next line does not glue onto it; returns
/// the length then.
fn whole_lines(file: &File) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.read_exact_at(chunk, start)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let whole = start + i as u64 + 1;
            if whole < len {
                tracing::warn!(
                    cut = len - whole,
                    "events file: a half-written line was cut off"
                );
                file.set_len(whole)?;
            }
            return Ok(whole);
        }
        end = start;
    }
    if len > 0 {
        tracing::warn!(cut = len, "events file: a half-written line was cut off");
        file.set_len(0)?;
    }
    Ok(0)
}

/// Writes the outbox's events to the file until a stop is asked for.
/// Runs on a multi-thread runtime (its writes step off the async worker).
/// `wake` changes when events are stored; `reopen` when the daemon reloads.
pub async fn write(
    db_path: PathBuf,
    cfg: ExportConfig,
    path: PathBuf,
    mut wake: watch::Receiver<()>,
    mut reopen: watch::Receiver<()>,
    shutdown: Shutdown,
) {
    let log = match EventLog::open(&db_path, CONSUMER) {
        Ok(log) => log,
        Err(e) => return tracing::error!("events file: {e}; events stay queued"),
    };
    let mut out = Output {
        path,
        max_bytes: cfg.max_bytes,
        keep: cfg.keep,
        file: None,
    };
    let mut failing = false;
    while !shutdown.is_requested() {
        if reopen.has_changed().unwrap_or(false) {
            reopen.mark_unchanged();
            out.file = None;
        }
        // SQLite and fsync block: not on an async worker.
        let wait = match tokio::task::block_in_place(|| pass(&log, &mut out)) {
            Ok(0) => None,
            Ok(_) => {
                if failing {
                    tracing::info!(path = %out.path.display(), "events file written again");
                    failing = false;
                }
                continue;
            }
            Err(e) => {
                if !failing {
                    tracing::error!(path = %out.path.display(), "cannot write the events file: {e}; events stay queued and are tried again every {} s", RETRY.as_secs());
                    failing = true;
                }
                Some(RETRY)
            }
        };
        tokio::select! {
            () = crate::store::woken(&mut wake), if wait.is_none() => {}
            () = crate::store::woken(&mut reopen) => { out.file = None; }
            () = tokio::time::sleep(wait.unwrap_or(Duration::MAX)), if wait.is_some() => {}
            () = shutdown.requested() => return,
        }
    }
}

/// Appends the next batch; returns how many events it held.
fn pass(log: &EventLog, out: &mut Output) -> Result<usize, String> {
    let batch = log.next(BATCH).map_err(|e| e.to_string())?;
    let Some(&(last, _)) = batch.last() else {
        return Ok(0);
    };
    out.write(&batch)
        .map_err(|e| crate::fsutil::describe_io_error(&e))?;
    log.taken(last).map_err(|e| e.to_string())?;
    Ok(batch.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_line_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.ndjson");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":").unwrap();
        let mut out = Output {
            path: path.clone(),
            max_bytes: 1 << 20,
            keep: 1,
            file: None,
        };
        out.write(&[(1, "{\"c\":3}".to_string())]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"c\":3}\n");
        // No newline at all: all of it was half a line.
        std::fs::write(&path, b"{\"x\"").unwrap();
        out.file = None;
        out.write(&[(2, "{}".to_string())]).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
    }

    #[test]
    fn rotation_keeps_each_file_under_the_bound_and_the_newest_old_one_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.ndjson");
        let mut out = Output {
            path: path.clone(),
            max_bytes: 20,
            keep: 2,
            file: None,
        };
        let lines: Vec<(i64, String)> = (0..5).map(|i| (i, format!("line-{i:04}"))).collect();
        out.write(&lines).unwrap();
        // 10 bytes a line, 2 a file: 4 and 5 here, 2 and 3 in .1, 0 and 1 in .2.
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "line-0004\n");
        let one = std::fs::read_to_string(dir.path().join("e.ndjson.1")).unwrap();
        assert_eq!(one, "line-0002\nline-0003\n");
        assert!(!dir.path().join("e.ndjson.3").exists());
    }
}
