//! What the store keeps for remediation: the outbox of alerts waiting for
//! their sink, and the record of every quarantined file through each step
//! of its move.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, StoreError, unix_ms};

/// An alert to queue; dropped if its sink already has its dedupe key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    pub sink: &'static str,
    pub dedupe_key: String,
    /// The JSON body to send; never holds a raw value.
    pub body: String,
    /// The file it is about (none for an anomaly), for the dashboard.
    pub path: Option<std::path::PathBuf>,
}

/// An alert due for delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueAlert {
    pub id: i64,
    pub sink: String,
    pub body: String,
    pub attempts: u32,
}

/// Where a quarantined file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuarantineState {
    /// Being moved; a crash here is finished at the next start.
    Moving,
    Quarantined,
    Restored,
    /// The move could not be done; the file stayed where it was.
    Failed,
}

impl QuarantineState {
    fn as_str(self) -> &'static str {
        match self {
            QuarantineState::Moving => "moving",
            QuarantineState::Quarantined => "quarantined",
            QuarantineState::Restored => "restored",
            QuarantineState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> QuarantineState {
        match s {
            "moving" => QuarantineState::Moving,
            "quarantined" => QuarantineState::Quarantined,
            "restored" => QuarantineState::Restored,
            _ => QuarantineState::Failed,
        }
    }
}

/// One quarantined file, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantineRecord {
    pub id: i64,
    /// Where the file was, and goes back to on restore.
    pub path: PathBuf,
    pub state: QuarantineState,
    pub size: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime_ns: i64,
    pub sha256: String,
    /// The stub left at `path`, if any, so dlpd does not scan it as news.
    pub stub_sha256: Option<String>,
    /// e.g. "CREDIT_CARD_NUMBER=10"
    pub detectors: String,
    pub at: SystemTime,
    pub error: Option<String>,
}

/// Inserts a quarantine record as `moving`; returns its id.
pub(super) fn insert_quarantine(
    tx: &rusqlite::Transaction<'_>,
    rec: &QuarantineRecord,
) -> rusqlite::Result<i64> {
    tx.query_row(
        "INSERT INTO quarantine (path, state, size, mode, uid, gid, mtime_ns, sha256, detectors, at)
         VALUES (?1, 'moving', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        params![
            rec.path.as_os_str().as_bytes(),
            rec.size as i64,
            rec.mode,
            rec.uid,
            rec.gid,
            rec.mtime_ns,
            rec.sha256,
            rec.detectors,
            unix_ms(SystemTime::now()),
        ],
        |r| r.get(0),
    )
}

const QUARANTINE_COLUMNS: &str =
    "id, path, state, size, mode, uid, gid, mtime_ns, sha256, stub_sha256, detectors, at, error";

fn quarantine_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QuarantineRecord> {
    Ok(QuarantineRecord {
        id: r.get(0)?,
        path: PathBuf::from(std::ffi::OsString::from_vec(r.get(1)?)),
        state: QuarantineState::parse(&r.get::<_, String>(2)?),
        size: r.get::<_, i64>(3)? as u64,
        mode: r.get(4)?,
        uid: r.get(5)?,
        gid: r.get(6)?,
        mtime_ns: r.get(7)?,
        sha256: r.get(8)?,
        stub_sha256: r.get(9)?,
        detectors: r.get(10)?,
        at: SystemTime::UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(11)?.max(0) as u64),
        error: r.get(12)?,
    })
}

impl Store {
    /// Moves a quarantine record to `state`.
    pub fn quarantine_set(
        &mut self,
        id: i64,
        state: QuarantineState,
        stub_sha256: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let restored = (state == QuarantineState::Restored).then(|| unix_ms(SystemTime::now()));
        let err = self.sql_err();
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .map_err(&err)?;
        let row: Option<(Vec<u8>, String)> = tx
            .query_row(
                "UPDATE quarantine SET state = ?2, stub_sha256 = coalesce(?3, stub_sha256), error = ?4,
                   restored_at = coalesce(?5, restored_at) WHERE id = ?1 RETURNING path, sha256",
                params![id, state.as_str(), stub_sha256, error, restored],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(&err)?;
        if let (Some(source), Some((path, sha256)), false) =
            (self.event_source(), row, state == QuarantineState::Moving)
        {
            let event = source.action(&crate::events::Action {
                quarantine_id: id,
                restore: state == QuarantineState::Restored,
                state: state.as_str(),
                path: &String::from_utf8_lossy(&path),
                sha256: &sha256,
                error,
            });
            super::events::insert(&tx, self.events.as_ref(), &[event]).map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        self.events_written();
        Ok(())
    }

    /// One quarantine record.
    pub fn quarantine_get(&self, id: i64) -> Result<Option<QuarantineRecord>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE id = ?1"),
                [id],
                quarantine_row,
            )
            .optional()
            .map_err(self.sql_err())
    }

    /// Every quarantine record, oldest first; `state` filters.
    pub fn quarantine_list(
        &self,
        state: Option<QuarantineState>,
    ) -> Result<Vec<QuarantineRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE ?1 IS NULL OR state = ?1 ORDER BY id"
            ))
            .map_err(self.sql_err())?;
        stmt.query_map([state.map(QuarantineState::as_str)], quarantine_row)
            .and_then(|rows| rows.collect())
            .map_err(self.sql_err())
    }

    /// Whether this content at this path was quarantined and then put back
    /// by hand: it is not quarantined again.
    pub fn was_restored(&self, path: &Path, sha256: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM quarantine WHERE path = ?1 AND sha256 = ?2 AND state = 'restored')",
                params![path.as_os_str().as_bytes(), sha256],
                |r| r.get(0),
            )
            .map_err(self.sql_err())
    }

    /// Alerts not yet delivered (and not given up on).
    pub fn alerts_pending(&self) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM alerts WHERE delivered_at IS NULL AND gave_up = 0",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.sql_err())
    }
}

/// The alert sender's own connection to the store: it only reads due
/// alerts and marks their delivery, beside the keeper's connection (WAL
/// lets both work at once).
pub struct AlertOutbox {
    conn: Connection,
    db_path: PathBuf,
}

impl AlertOutbox {
    pub(super) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(super) fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Opens the store the keeper has already created and migrated.
    pub fn open(db_path: &Path) -> Result<AlertOutbox, StoreError> {
        Ok(AlertOutbox {
            conn: super::side_connection(db_path)?,
            db_path: db_path.to_path_buf(),
        })
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.db_path.clone(),
            source,
        }
    }

    /// Up to `n` alerts due now, oldest first.
    pub fn due(&self, n: usize) -> Result<Vec<DueAlert>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, sink, body, attempts FROM alerts
                 WHERE delivered_at IS NULL AND gave_up = 0 AND not_before <= ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(self.sql_err())?;
        stmt.query_map(params![unix_ms(SystemTime::now()), n as i64], |r| {
            Ok(DueAlert {
                id: r.get(0)?,
                sink: r.get(1)?,
                body: r.get(2)?,
                attempts: r.get(3)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql_err())
    }

    /// Delivered; `receipt` is what the sink made of it (a Jira issue key).
    pub fn delivered(&self, id: i64, receipt: Option<&str>) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET delivered_at = ?2, attempts = attempts + 1, receipt = ?3 WHERE id = ?1",
                params![id, unix_ms(SystemTime::now()), receipt],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// Not due before `until`, whatever happens to this process meanwhile:
    /// written before a request whose effect cannot be undone.
    pub fn hold(&self, id: i64, until: SystemTime, why: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET not_before = ?2, last_error = ?3 WHERE id = ?1",
                params![id, unix_ms(until), why],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// Tries again at `due`.
    pub fn retry(&self, id: i64, due: SystemTime, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET attempts = attempts + 1, not_before = ?2, last_error = ?3 WHERE id = ?1",
                params![id, unix_ms(due), error],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// The sink refused it for good (a 4xx other than 429).
    pub fn give_up(&self, id: i64, error: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE alerts SET attempts = attempts + 1, gave_up = 1, last_error = ?2 WHERE id = ?1",
                params![id, error],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }
}
