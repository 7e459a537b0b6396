//! The event outbox: events (see [`crate::events`]) wait here for the
//! fleet database and the events file, written in the transaction that
//! records what they tell, so a crash loses none.
//!
//! Each consumer (`fleet`, `export`) keeps a cursor: the id of the last
//! event it has taken for good. It reads past its cursor, delivers, then
//! moves the cursor; a crash between the two delivers again (the fleet
//! database drops the copy by its key; a log pipeline sees the same
//! `event.id`). Events every consumer has passed are deleted. Ids come
//! from AUTOINCREMENT, so they never go back, even once the table empties.
//!
//! The outbox is bounded: past `cap` events waiting for the slowest
//! consumer, new ones are dropped and counted (`events.dropped` in meta),
//! which health, `dlpd status`, the metrics and the fleet's own health
//! rows show.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Store, StoreError};
use crate::events::{Event, Source};

/// Meta key counting the events dropped because the outbox was full.
const DROPPED: &str = "events.dropped";

/// What the store needs to write events: whom they are about, and the
/// outbox's bound.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub source: Source,
    pub cap: u64,
    /// Told after a commit that stored events, to wake the consumers.
    pub wake: tokio::sync::watch::Sender<()>,
}

/// Resolves when events were stored since the last call; never, once
/// the store that tells (the sender) is gone, so a consumer waits for its
/// stop instead of spinning.
pub async fn woken(wake: &mut tokio::sync::watch::Receiver<()>) {
    if wake.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Store {
    /// Turns events on (`Some`) for `consumers`, or off. Cursors of
    /// consumers no longer configured go, so they hold nothing back; a new
    /// consumer starts at the newest event.
    pub fn set_events(
        &mut self,
        settings: Option<EventSettings>,
        consumers: &[&str],
    ) -> Result<(), StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(err)?;
        let newest = newest(&tx).map_err(err)?;
        for c in consumers {
            tx.execute(
                "INSERT OR IGNORE INTO event_cursors (consumer, last_id) VALUES (?1, ?2)",
                params![c, newest],
            )
            .map_err(err)?;
        }
        let mut listed = vec!["''".to_string()];
        listed.extend((1..=consumers.len()).map(|i| format!("?{i}")));
        let keep = format!(
            "DELETE FROM event_cursors WHERE consumer NOT IN ({})",
            listed.join(", ")
        );
        tx.execute(&keep, rusqlite::params_from_iter(consumers))
            .map_err(err)?;
        prune(&tx).map_err(err)?;
        tx.commit().map_err(err)?;
        self.events = settings.filter(|_| !consumers.is_empty());
        Ok(())
    }

    /// Whom events are about, while they are on.
    pub fn event_source(&self) -> Option<&Source> {
        self.events.as_ref().map(|e| &e.source)
    }

    /// Stores health events, in a transaction of their own. They pass a
    /// full outbox (a few a day), so the fleet still hears of the drops.
    pub fn record_events(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let err = self.sql_err();
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(&err)?;
        if self.events.is_some() {
            append(&tx, events).map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        self.events_written();
        Ok(())
    }

    /// Wakes the consumers: call after a commit that stored events.
    pub(super) fn events_written(&self) {
        if let Some(e) = &self.events {
            e.wake.send_replace(());
        }
    }

    /// Events waiting for the slowest consumer, and those dropped.
    pub fn events_backlog(&self) -> Result<(u64, u64), StoreError> {
        backlog(&self.conn).map_err(self.sql_err())
    }
}

/// Stores `events` in `tx` as far as the outbox has room; the rest are
/// dropped and counted. Does nothing while events are off.
pub(super) fn insert(
    tx: &Transaction<'_>,
    settings: Option<&EventSettings>,
    events: &[Event],
) -> rusqlite::Result<()> {
    let Some(settings) = settings else {
        return Ok(());
    };
    if events.is_empty() {
        return Ok(());
    }
    let (waiting, _) = backlog(tx)?;
    let room = settings
        .cap
        .saturating_sub(waiting)
        .min(events.len() as u64) as usize;
    let (kept, dropped) = events.split_at(room);
    if !dropped.is_empty() {
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = value + ?2",
            params![DROPPED, dropped.len() as i64],
        )?;
    }
    append(tx, kept)
}

/// Stores `events` whatever the bound.
fn append(tx: &Transaction<'_>, events: &[Event]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached("INSERT INTO events (at, body) VALUES (?1, ?2)")?;
    for e in events {
        stmt.execute(params![e.at, e.body])?;
    }
    Ok(())
}

/// The newest event id ever given (0 before the first).
fn newest(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
        [],
        |r| r.get(0),
    )
}

fn backlog(conn: &Connection) -> rusqlite::Result<(u64, u64)> {
    let oldest: Option<i64> = conn
        .query_row("SELECT min(last_id) FROM event_cursors", [], |r| r.get(0))
        .optional()?
        .flatten();
    let waiting = match oldest {
        Some(cursor) => (newest(conn)? - cursor).max(0) as u64,
        None => 0,
    };
    let dropped: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE key = ?1", [DROPPED], |r| {
            r.get(0)
        })
        .optional()?;
    Ok((waiting, dropped.unwrap_or(0).max(0) as u64))
}

/// Deletes the events every consumer has passed.
fn prune(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM events WHERE id <= coalesce((SELECT min(last_id) FROM event_cursors),
                                                  (SELECT max(id) FROM events))",
        [],
    )
}

/// One consumer's connection to the outbox.
pub struct EventLog {
    conn: Connection,
    db_path: PathBuf,
    consumer: &'static str,
}

impl EventLog {
    /// Opens the store the keeper has already created, migrated and
    /// registered `consumer` in.
    pub fn open(db_path: &Path, consumer: &'static str) -> Result<EventLog, StoreError> {
        Ok(EventLog {
            conn: super::side_connection(db_path)?,
            db_path: db_path.to_path_buf(),
            consumer,
        })
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.db_path.clone(),
            source,
        }
    }

    /// Up to `n` events past this consumer's cursor, oldest first, with
    /// their ids. Empty when the consumer is not registered.
    pub fn next(&self, n: usize) -> Result<Vec<(i64, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, body FROM events
                 WHERE id > (SELECT last_id FROM event_cursors WHERE consumer = ?1)
                 ORDER BY id LIMIT ?2",
            )
            .map_err(self.sql_err())?;
        stmt.query_map(params![self.consumer, n as i64], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql_err())
    }

    /// Marks every event up to `id` taken, and deletes what no consumer
    /// still needs.
    pub fn taken(&self, id: i64) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(self.sql_err())?;
        tx.execute(
            "UPDATE event_cursors SET last_id = max(last_id, ?2) WHERE consumer = ?1",
            params![self.consumer, id],
        )
        .map_err(self.sql_err())?;
        prune(&tx).map_err(self.sql_err())?;
        tx.commit().map_err(self.sql_err())
    }

    /// Events waiting for the slowest consumer, and those dropped.
    pub fn backlog(&self) -> Result<(u64, u64), StoreError> {
        backlog(&self.conn).map_err(self.sql_err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OutputConfig;
    use crate::finding::{FileReport, Outcome};

    fn store(dir: &Path, cap: u64, consumers: &[&str]) -> Store {
        let cfg = OutputConfig {
            state_dir: dir.to_path_buf(),
            ..OutputConfig::default()
        };
        let mut store = Store::open(&cfg).unwrap();
        let settings = EventSettings {
            source: Source {
                host_id: "h".into(),
                host_name: "h".into(),
                fleet_key: None,
            },
            cap,
            wake: tokio::sync::watch::channel(()).0,
        };
        store.set_events(Some(settings), consumers).unwrap();
        store
    }

    /// A report with one finding: two events (the file and the finding).
    fn report(name: &str) -> FileReport {
        let engine = crate::engine::LocalEngine::new(&crate::config::ScannerConfig::default());
        let findings = engine.scan_bytes(b"card 4916-6734-7572-5015\n");
        assert_eq!(findings.len(), 1);
        FileReport::new(Path::new(name), "local", Outcome::Scanned { findings })
    }

    #[test]
    fn each_consumer_takes_every_event_once_and_taken_events_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 100, &["fleet", "export"]);
        s.record(&[report("/a")]).unwrap();
        let fleet = EventLog::open(s.db_path(), "fleet").unwrap();
        let export = EventLog::open(s.db_path(), "export").unwrap();
        let got = fleet.next(10).unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|(_, b)| !b.contains("4916-6734-7572-5015")));
        fleet.taken(got[1].0).unwrap();
        assert!(fleet.next(10).unwrap().is_empty());
        // The export has not taken them: they stay for it.
        assert_eq!(export.next(10).unwrap(), got);
        assert_eq!(s.events_backlog().unwrap(), (2, 0));
        export.taken(got[1].0).unwrap();
        assert_eq!(s.events_backlog().unwrap(), (0, 0));
        let left: i64 = s
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        // Ids go on past an empty table, so no cursor skips a new event.
        s.record(&[report("/b")]).unwrap();
        let next = fleet.next(10).unwrap();
        assert_eq!(next.len(), 2);
        assert!(next[0].0 > got[1].0);
    }

    #[test]
    fn a_full_outbox_drops_new_events_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path(), 3, &["fleet"]);
        s.record(&[report("/a")]).unwrap();
        s.record(&[report("/b")]).unwrap();
        // Room for one of /b's two.
        assert_eq!(s.events_backlog().unwrap(), (3, 1));
        // A consumer dropped from the config holds nothing back.
        let log = EventLog::open(s.db_path(), "fleet").unwrap();
        assert_eq!(log.next(10).unwrap().len(), 3);
        s.set_events(None, &[]).unwrap();
        assert!(log.next(10).unwrap().is_empty());
        assert_eq!(s.events_backlog().unwrap().0, 0);
    }
}
