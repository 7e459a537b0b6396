//! The keeper's side of the event outbox ([`crate::store::EventLog`]):
//! starting its consumers (the fleet database, the events file), writing
//! health events, and reopening the events file on reload.

use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::watch;

use super::DaemonError;
use super::keeper::Keeper;
use crate::config::Config;
use crate::events::HealthSnapshot;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// What the keeper holds while events are on.
pub(super) struct Outbound {
    /// Changed on reload: the events file is reopened.
    reopen: watch::Sender<()>,
    /// With a fleet: how often a health row is sent, and when the last was.
    health_every: Option<Duration>,
    health_at: Instant,
    /// The last health sent: a change is sent at once.
    last: Option<HealthSnapshot>,
}

/// Turns events on for the configured consumers and starts them; `None`
/// when there are none (and the outbox is emptied).
pub(super) fn start(
    config: &Config,
    store: &mut Store,
    runtime: &Handle,
    shutdown: &Shutdown,
) -> Result<Option<Outbound>, DaemonError> {
    let fleet = config.fleet.enabled();
    let export = config.export.events.clone();
    let Some((settings, consumers)) = crate::fleet::event_settings(config)? else {
        store.set_events(None, &[])?;
        return Ok(None);
    };
    let db = fleet
        .then(|| crate::fleet::Database::load(&config.fleet))
        .transpose()?;
    let wake = settings.wake.clone();
    tracing::info!(
        host_id = %settings.source.host_id,
        fleet = db.as_ref().map(|d| d.target.as_str()),
        events_file = export.as_ref().map(|p| p.display().to_string()),
        "events on"
    );
    store.set_events(Some(settings), &consumers)?;
    let db_path = config.output.db_path();
    if let Some(db) = db {
        let ship = crate::fleet::ship::ship(
            db_path.clone(),
            db,
            config.fleet.batch_events,
            wake.subscribe(),
            shutdown.clone(),
        );
        shutdown.spawn(runtime, ship);
    }
    let (reopen, _) = watch::channel(());
    if let Some(path) = export {
        let write = crate::export::write(
            db_path,
            config.export.clone(),
            path,
            wake.subscribe(),
            reopen.subscribe(),
            shutdown.clone(),
        );
        shutdown.spawn(runtime, write);
    }
    Ok(Some(Outbound {
        reopen,
        health_every: fleet.then(|| Duration::from_secs(config.fleet.health_interval_s)),
        // The first health row goes at once.
        health_at: Instant::now() - Duration::from_secs(config.fleet.health_interval_s),
        last: None,
    }))
}

impl Keeper {
    /// How long until the next health row is due.
    pub(super) fn health_event_due(&self) -> Option<Duration> {
        let o = self.outbound.as_ref()?;
        let every = o.health_every?;
        Some(every.saturating_sub(o.health_at.elapsed()))
    }

    /// How long the keeper may sleep before a health row is written: until
    /// it is due, and not before the health check's own gate opens (else
    /// a due row would wake the keeper at once, again and again).
    pub(super) fn health_event_wait(&self) -> Option<Duration> {
        let due = self.health_event_due()?;
        let gate = super::health::HEALTH_EVERY.saturating_sub(self.health_noted.1.elapsed());
        Some(due.max(gate))
    }

    /// Writes a health event when one is due, or when health changed
    /// (`health` is the keeper's summary of what is wrong; empty when
    /// nothing is).
    pub(super) fn note_health_event(&mut self, health: &str) {
        let due = self.health_event_due() == Some(Duration::ZERO);
        let Some(o) = &self.outbound else { return };
        let problems: Vec<String> = match health {
            "" => Vec::new(),
            h => h.split("; ").map(str::to_string).collect(),
        };
        let status = if problems.is_empty() {
            "ok"
        } else {
            "degraded"
        };
        let changed = o
            .last
            .as_ref()
            .is_some_and(|l| l.status != status || l.problems != problems);
        if !due && !changed && o.last.is_some() {
            return;
        }
        let Some(source) = self.store.event_source().cloned() else {
            return;
        };
        let (pending, dropped) = self.store.events_backlog().unwrap_or((0, 0));
        let before = o.last.as_ref().map_or(0, |l| l.events_dropped);
        if dropped > before {
            tracing::error!(
                dropped = dropped - before,
                pending,
                "the event outbox is full (fleet.outbox_max_events): new events are dropped, not shipped; is the fleet database or the events file failing?"
            );
        }
        let snapshot = HealthSnapshot {
            status: status.into(),
            problems,
            queued: self.store.queue_counts().map_or(0, |c| c.total()),
            stored: self.progress.stored,
            events_pending: pending,
            events_dropped: dropped,
            version: env!("CARGO_PKG_VERSION"),
        };
        if let Err(e) = self
            .store
            .record_events(&[source.health(&snapshot, changed)])
        {
            tracing::warn!("cannot store a health event: {e}");
        }
        // Not tried again before the next interval, even when the store
        // could not take it: a store that refuses writes has its own alarms.
        if let Some(o) = &mut self.outbound {
            o.health_at = Instant::now();
            o.last = Some(snapshot);
        }
    }

    /// After a reload: the events file is opened again by its name.
    pub(super) fn reopen_events_file(&self) {
        if let Some(o) = &self.outbound {
            o.reopen.send_replace(());
        }
    }
}
