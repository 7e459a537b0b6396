//! `dlpd status`: what the daemon is doing, read from its store, as text
//! or JSON. Exit 0 when the daemon runs and 3 when it does not, as
//! `systemctl status` does, so scripts need not parse the output.

use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use crate::config::Config;
use crate::store::{QuarantineState, Store, StoreError};

/// Exit code: no daemon runs with this config.
pub const EXIT_NOT_RUNNING: u8 = 3;

/// What `status --json` prints; the text form shows the same.
#[derive(Debug, Default, Serialize)]
struct Status {
    running: bool,
    pid: Option<i32>,
    uptime_secs: Option<u64>,
    /// Stuck threads, unwatched directories: written by the running daemon.
    health: Option<String>,
    queued: u64,
    retrying: u64,
    in_flight: u64,
    awaiting_nightfall: u64,
    scanned: u64,
    skipped: u64,
    failed: u64,
    findings: u64,
    quarantined: usize,
    /// Files a quarantine rule could not move (`dlpd quarantine list` says why).
    quarantine_failed: usize,
    alerts_waiting: u64,
    /// Events waiting for the fleet database or the events file, and
    /// those a full outbox dropped.
    events_waiting: u64,
    events_dropped: u64,
    last_error: Option<String>,
    store: String,
    /// False before the daemon's first run: nothing else is known.
    store_exists: bool,
}

/// Prints the status; never creates a store.
pub fn status(config: &Config, json: bool) -> anyhow::Result<u8> {
    let s = read(config)?;
    let mut out = io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &s)?;
        writeln!(out)?;
    } else {
        text(&mut out, &s)?;
    }
    out.flush()?;
    if !s.running
        && let Some(hint) = crate::store::system_store_hint(std::path::Path::new(&s.store))
    {
        eprintln!("dlpd: not running with this config{hint}");
    }
    Ok(if s.running {
        super::EXIT_CLEAN
    } else {
        EXIT_NOT_RUNNING
    })
}

fn read(config: &Config) -> anyhow::Result<Status> {
    let store = match Store::open_existing(&config.output) {
        Err(StoreError::Missing { path, .. }) => {
            return Ok(Status {
                store: path.display().to_string(),
                ..Status::default()
            });
        }
        other => other?,
    };
    let st = store.status()?;
    let alive = store.daemon_pid()?;
    let uptime_secs = match alive {
        Some(_) => {
            let started: u64 = store
                .meta("daemon.started")?
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            Some(now.saturating_sub(started))
        }
        None => None,
    };
    let (events_waiting, events_dropped) = store.events_backlog()?;
    Ok(Status {
        running: alive.is_some(),
        pid: alive,
        uptime_secs,
        health: match alive {
            Some(_) => Some(store.meta("daemon.health")?.unwrap_or_else(|| "ok".into())),
            None => None,
        },
        queued: st.queue.queued,
        retrying: st.retrying,
        in_flight: st.queue.running,
        awaiting_nightfall: st.queue.awaiting,
        scanned: st.scanned,
        skipped: st.skipped,
        failed: st.failed,
        findings: st.findings,
        quarantined: store
            .quarantine_list(Some(QuarantineState::Quarantined))?
            .len(),
        quarantine_failed: store.quarantine_list(Some(QuarantineState::Failed))?.len(),
        alerts_waiting: store.alerts_pending()?,
        events_waiting,
        events_dropped,
        last_error: store.meta("daemon.last_error")?,
        store: store.db_path().display().to_string(),
        store_exists: true,
    })
}

fn text(out: &mut impl Write, s: &Status) -> io::Result<()> {
    if !s.store_exists {
        return writeln!(out, "daemon:     not running (no store yet at {})", s.store);
    }
    match (s.pid, s.uptime_secs) {
        (Some(pid), Some(up)) => writeln!(
            out,
            "daemon:     running (pid {pid}), up {}",
            humantime::format_duration(std::time::Duration::from_secs(up))
        )?,
        _ => writeln!(out, "daemon:     not running")?,
    }
    if let Some(health) = &s.health {
        writeln!(out, "health:     {health}")?;
    }
    writeln!(
        out,
        "queue:      {} queued ({} retrying), {} in flight ({} awaiting Nightfall results)",
        s.queued, s.retrying, s.in_flight, s.awaiting_nightfall
    )?;
    writeln!(
        out,
        "files:      {} scanned, {} skipped, {} failed; {} findings",
        s.scanned, s.skipped, s.failed, s.findings
    )?;
    let failed = match s.quarantine_failed {
        0 => String::new(),
        n => format!(", {n} could not be moved (dlpd quarantine list says why)"),
    };
    writeln!(
        out,
        "remedies:   {} quarantined{failed}, {} alerts waiting for their sink",
        s.quarantined, s.alerts_waiting
    )?;
    if s.events_waiting > 0 || s.events_dropped > 0 {
        writeln!(
            out,
            "events:     {} waiting for the fleet database or the events file, {} dropped by a full outbox",
            s.events_waiting, s.events_dropped
        )?;
    }
    writeln!(
        out,
        "last error: {}",
        s.last_error.as_deref().unwrap_or("none")
    )?;
    writeln!(out, "store:      {}", s.store)
}
