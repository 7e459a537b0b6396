//! The findings store: SQLite at `state_dir/dlpd.sqlite`, and the CSV log
//! beside it, holding the same rows.
//!
//! SQLite is the source of truth. A rescan replaces a file's findings in one
//! transaction. The CSV is appended from SQLite with an exactly-once
//! protocol: rows are marked pending in the same transaction that stores
//! them, and the CSV's committed length is recorded after each fsynced
//! append. After a crash, bytes past the committed length (a half-written
//! row) are cut off and the pending rows are written again.

mod activity;
mod csv;
mod key;
mod query;
mod queue;
mod recorder;
mod remediation;
mod schema;
mod uploads;
mod views;
mod walked;

pub use activity::{Baseline, Events, Interval};
pub use query::{FailedFile, FindingQuery, StoreStatus, ToQuarantine};
pub use queue::{Job, JobId, LastScan, QueueCounts, Queued, Recovered};
pub use recorder::Recorder;
pub use remediation::{AlertOutbox, DueAlert, NewAlert, QuarantineRecord, QuarantineState};
pub use uploads::{PendingUpload, Upload};
pub use views::{
    AlertRow, Count, Day, DetectorCount, FileDetail, FileFilter, FileRow, FilesPage, IntervalRow,
    Sort, SubjectView, Summary, Views,
};
pub use walked::{Changed, Lookup};

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::hmac;
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::{OutputConfig, Redact};
use crate::finding::{FileReport, Outcome};
use crate::fsutil::hex;
use crate::fsutil::{ensure_private_dir, open_private_rw};

/// Why the store failed; every variant names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "store {path} has schema version {found}, newer than this dlpd knows ({known}); upgrade dlpd"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error(
        "no store at {path} yet: the daemon has not run with this config (start it with `dlpd run`){hint}"
    )]
    Missing { path: PathBuf, hint: String },
    #[error(
        "store {path} has schema version {found}, older than this dlpd's ({known}); start the daemon (`dlpd run`) once to upgrade it"
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("store {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot write CSV {path}: {source}")]
    Csv {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read or create the value-hash key {path}: {source}")]
    Key {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Most bytes of CSV rows held in memory for the next flush.
const CSV_ROWS_HELD: usize = 32 << 20;

/// An open store.
pub struct Store {
    conn: Connection,
    db_path: PathBuf,
    csv_path: PathBuf,
    hmac_key: hmac::Key,
    redact: Redact,
    /// CSV rows of files recorded since the last flush, made from the
    /// reports in memory, so the flush need not read them back from SQLite.
    /// Keyed by file id, with the `scans` count they were stored under: a
    /// row recorded again since (by this process or another) no longer
    /// matches, and is read from SQLite as before.
    csv_rows: std::collections::HashMap<i64, (i64, Vec<u8>)>,
}

/// Switches to WAL. That takes an exclusive lock SQLite does not wait for
/// (waiting could deadlock), and a second process creating the same new
/// store holds it briefly: so busy is retried here, for a while.
fn use_wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            done => return done,
        }
    }
}

/// Query plans that do not depend on the values bound to them. Otherwise
/// SQLite prepares a statement again when a bound value its plan took
/// into account changes (the bundled build weighs small integers, such as
/// a size of 0 or 1, in its estimates): the walker's lookups, run once
/// per file, were parsed and planned again on most runs.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(drop)
}

/// A file is there (a walk found it, the watcher saw it arrive): it is
/// back on the dashboard's lists if it was seen gone. Only the watcher
/// seeing it go marks it gone again (`Store::mark_gone`); a scan's result
/// does not clear the mark, since the file may have gone while it ran.
const PRESENT: &str = "UPDATE files SET gone_at = NULL WHERE path = ?1 AND gone_at IS NOT NULL";

/// Sums up a file's findings on its row (schema v11), for the dashboard.
const SUMMARIZE: &str = "UPDATE files SET
      findings = (SELECT count(*) FROM findings WHERE file_id = ?1),
      top_confidence = (SELECT max(CASE confidence WHEN 'VERY_LIKELY' THEN 5 WHEN 'LIKELY' THEN 4
          WHEN 'POSSIBLE' THEN 3 WHEN 'UNLIKELY' THEN 2 ELSE 1 END) FROM findings WHERE file_id = ?1),
      detectors = (SELECT ',' || group_concat(name || ':' || n, ',') || ','
          FROM (SELECT replace(replace(replace(detector, '%', '%25'), ',', '%2C'), ':', '%3A') AS name, count(*) AS n
                FROM findings WHERE file_id = ?1 GROUP BY detector))
    WHERE id = ?1";

impl Store {
    /// Gives the page cache back: a daemon at rest does not need it (the
    /// freed heap goes back with `heap::resting`).
    pub fn release_memory(&self) {
        // The bulk-sized cache is for a first scan: what follows (files
        // trickling in) does well with SQLite's default 2 MiB.
        let _ = self
            .conn
            .execute_batch("PRAGMA cache_size = -2048; PRAGMA shrink_memory");
    }
}

/// When `db_path` is not the system service's store but that one exists:
/// the command that reads it, for people who ran `dlpd status` as root.
pub fn system_store_hint(db_path: &Path) -> Option<String> {
    let system = Path::new(crate::config::SYSTEM_STATE_DIR).join("dlpd.sqlite");
    (db_path != system && system.exists()).then(|| {
        format!(
            "; the system service's store is {}: run `sudo dlpd --config /etc/dlpd/dlpd.toml` with the same command",
            system.display()
        )
    })
}

impl Store {
    /// Opens an existing store to read it (`status`, `findings`, `quarantine
    /// list`): nothing is created, migrated or appended, so a command run
    /// beside a starting daemon cannot race it.
    pub fn open_existing(cfg: &OutputConfig) -> Result<Store, StoreError> {
        let db_path = cfg.db_path();
        let open_err = |source| StoreError::Open {
            path: db_path.clone(),
            source,
        };
        if !db_path.exists() {
            let hint = system_store_hint(&db_path).unwrap_or_default();
            return Err(StoreError::Missing {
                path: db_path,
                hint,
            });
        }
        let conn = Connection::open_with_flags(
            &db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        stable_plans(&conn).map_err(open_err)?;
        let known = schema::MIGRATIONS.len() as i64;
        let found: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(open_err)?;
        if found > known {
            return Err(StoreError::TooNew {
                path: db_path,
                found,
                known,
            });
        }
        if found < known {
            return Err(StoreError::TooOld {
                path: db_path,
                found,
                known,
            });
        }
        // Only keyed hashes need the key; a reader that finds none gets a
        // throwaway one rather than creating the install's key.
        let key = match std::fs::read(cfg.state_dir.join("hmac.key")) {
            Ok(b) if b.len() == 32 => b,
            _ => vec![0u8; 32],
        };
        Ok(Store {
            conn,
            hmac_key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            db_path,
            csv_path: cfg.csv_path(),
            redact: cfg.redact,
            csv_rows: Default::default(),
        })
    }

    /// Opens (creating if needed) the store described by `[output]`, brings
    /// its schema up to date, and finishes any CSV append a crash cut short.
    pub fn open(cfg: &OutputConfig) -> Result<Store, StoreError> {
        let dir = &cfg.state_dir;
        ensure_private_dir(dir).map_err(|source| StoreError::StateDir {
            path: dir.clone(),
            source,
        })?;
        let db_path = cfg.db_path();
        let open_err = |source| StoreError::Open {
            path: db_path.clone(),
            source,
        };
        // Create the file 0600 first: SQLite gives its -wal and -shm files
        // the database file's mode.
        open_private_rw(&db_path).map_err(|e| {
            open_err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(e.to_string()),
            ))
        })?;
        let conn = Connection::open(&db_path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        stable_plans(&conn).map_err(open_err)?;
        use_wal(&conn).map_err(open_err)?;
        // WAL with NORMAL: a commit survives a killed process (it is in the
        // OS's cache) without an fsync per commit; a power cut may lose the
        // last commits, and the baseline scan at the next start re-queues
        // any file whose scan was lost. The CSV append is fsynced itself.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        // 32 MiB of page cache instead of 2 while recording in bulk (a
        // baseline scan, `dlpd scan --store`); the daemon goes back to 2 MiB
        // once it is first quiet ([`Store::release_memory`]).
        conn.pragma_update(None, "cache_size", -32768)
            .map_err(open_err)?;
        let mut store = Store {
            conn,
            hmac_key: key::load_or_create_key(&dir.join("hmac.key"))?,
            db_path,
            csv_path: cfg.csv_path(),
            redact: cfg.redact,
            csv_rows: Default::default(),
        };
        store.migrate()?;
        store.flush_csv()?;
        Ok(store)
    }

    fn sql_err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.db_path.clone(),
            source,
        }
    }

    /// Brings the schema up to date. The version is read inside an
    /// immediate (write-locked) transaction, so a second process opening a
    /// new store at the same moment waits, then finds the work done.
    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = schema::MIGRATIONS.len() as i64;
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let found: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.db_path.clone(),
                found,
                known,
            });
        }
        for sql in schema::MIGRATIONS.iter().skip(found as usize) {
            tx.execute_batch(sql).map_err(err)?;
        }
        tx.pragma_update(None, "user_version", known).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// The keyed hash of a raw value: finds repeats of a value across files
    /// without storing the value.
    pub fn value_hmac(&self, raw: &str) -> String {
        hex(hmac::sign(&self.hmac_key, raw.as_bytes()).as_ref())
    }

    /// Records a batch of reports: each file's row and findings replaced in
    /// one transaction, then the CSV appended.
    pub fn record(&mut self, reports: &[FileReport]) -> Result<(), StoreError> {
        self.record_finishing(reports, &[])
    }

    /// Records `reports` and removes the queue jobs `done` in the same
    /// transaction: a job disappears exactly when its result is stored, so
    /// a crash at any moment loses no job and stores no result twice.
    pub fn record_finishing(
        &mut self,
        reports: &[FileReport],
        done: &[JobId],
    ) -> Result<(), StoreError> {
        self.record_remedied(reports, done, &[], &mut [], &Events::default())?;
        self.flush_csv()
    }

    /// [`Store::record_finishing`], with the remedies for those findings in
    /// the same transaction: `alerts` are queued (a repeated one is dropped
    /// by its dedupe key), `quarantines` recorded as `moving`, their ids
    /// filled in, and `events` counted toward the baselines. A crash after the commit loses neither; one before it
    /// leaves the jobs queued, to be decided again. The CSV is not
    /// appended here: call [`Store::flush_csv`] (a failure there loses
    /// nothing; the rows stay pending).
    pub fn record_remedied(
        &mut self,
        reports: &[FileReport],
        done: &[JobId],
        alerts: &[NewAlert],
        quarantines: &mut [QuarantineRecord],
        events: &Events,
    ) -> Result<(), StoreError> {
        if reports.is_empty() && done.is_empty() && alerts.is_empty() && quarantines.is_empty() {
            return Ok(());
        }
        let show = self.redact == Redact::None;
        let hmacs: Vec<Vec<String>> = reports
            .iter()
            .map(|r| {
                r.findings()
                    .iter()
                    .map(|f| self.value_hmac(&f.value.raw))
                    .collect()
            })
            .collect();
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let mut csv_rows = Vec::new();
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO files (path, size, mtime_ns, sha256, scanned_at, engine, status, error, upload_id, csv_pending, exposure)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12)
                     ON CONFLICT (path) DO UPDATE SET scans = scans + 1, size = ?2, mtime_ns = ?3, sha256 = ?4, scanned_at = ?5,
                       engine = ?6, status = ?7, error = ?8, upload_id = ?9, csv_pending = csv_pending OR ?10, exposure = ?12,
                       findings = 0, top_confidence = NULL, detectors = NULL,
                       csv_after = CASE WHEN ?11 IS NULL THEN -1 WHEN csv_pending THEN csv_after ELSE ?11 END
                     RETURNING id, scans",
                )
                .map_err(err)?;
            let mut clear = tx
                .prepare_cached("DELETE FROM findings WHERE file_id = ?1")
                .map_err(err)?;
            let mut sums = tx.prepare_cached(SUMMARIZE).map_err(err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO findings (file_id, detector, confidence, kind, finding, redacted_finding, value_hmac,
                       before_context, after_context, byte_start, byte_end, line_start, line_end, member,
                       row_start, row_end, column_start, column_end)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                )
                .map_err(err)?;
            for (report, hmacs) in reports.iter().zip(&hmacs) {
                let (status, error) = match &report.outcome {
                    // What went unseen stays with the file's row.
                    Outcome::Scanned { .. } if !report.partial.is_empty() => (
                        "scanned",
                        Some(format!("partly scanned: {}", report.partial.join("; "))),
                    ),
                    Outcome::Scanned { .. } => ("scanned", None),
                    Outcome::Skipped(reason) => ("skipped", Some(reason.to_string())),
                    Outcome::Failed(msg) => ("failed", Some(msg.clone())),
                };
                let (id, scans): (i64, i64) = upsert
                    .query_row(
                        params![
                            report.path.as_os_str().as_bytes(),
                            report.size as i64,
                            report.mtime_ns,
                            report.sha256,
                            unix_ms(report.scanned_at),
                            report.engine,
                            status,
                            error,
                            report.upload_id,
                            !report.findings().is_empty(),
                            report.grown_from.map(|n| n as i64),
                            report.exposure.map(crate::finding::Exposure::as_str),
                        ],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(err)?;
                // A file that only grew keeps its earlier findings (and its
                // CSV rows are read back, the earlier ones perhaps among them).
                if report.grown_from.is_none() {
                    clear.execute([id]).map_err(err)?;
                    if !report.findings().is_empty() {
                        csv_rows.push((id, scans, csv::rows_of(report, show)));
                    }
                }
                for (f, mac) in report.findings().iter().zip(hmacs) {
                    insert
                        .execute(params![
                            id,
                            f.detector.as_str(),
                            f.confidence.as_str(),
                            f.kind,
                            f.value.shown(show),
                            f.value.masked,
                            mac,
                            f.before.shown(show),
                            f.after.shown(show),
                            f.byte_start as i64,
                            f.byte_end as i64,
                            f.line_start as i64,
                            f.line_end as i64,
                            f.member,
                            f.table.map(|t| t.row_start as i64),
                            f.table.map(|t| t.row_end as i64),
                            f.table.map(|t| t.column_start as i64),
                            f.table.map(|t| t.column_end as i64),
                        ])
                        .map_err(err)?;
                }
                if !report.findings().is_empty() || report.grown_from.is_some() {
                    sums.execute([id]).map_err(err)?;
                }
            }
            // Before the jobs go: they say which files a walk found.
            activity::count(&tx, reports, events).map_err(err)?;
            // A file that changed while it was being scanned stays queued.
            let mut finish = tx
                .prepare_cached("DELETE FROM jobs WHERE id = ?1 AND rerun = 0")
                .map_err(err)?;
            let mut again = tx
                .prepare_cached(
                    "UPDATE jobs SET running = 0, rerun = 0, attempts = 0, not_before = 0, last_error = NULL
                     WHERE id = ?1",
                )
                .map_err(err)?;
            let mut settled = tx
                .prepare_cached("DELETE FROM uploads WHERE job_id = ?1")
                .map_err(err)?;
            // A deleted job takes its upload with it (ON DELETE CASCADE).
            for job in done {
                if finish.execute([job.0]).map_err(err)? == 0 {
                    settled.execute([job.0]).map_err(err)?;
                    again.execute([job.0]).map_err(err)?;
                }
            }
            let mut alert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (sink, dedupe_key, body, created_at, path) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let now = unix_ms(SystemTime::now());
            for a in alerts {
                let path = a.path.as_ref().map(|p| p.as_os_str().as_bytes());
                alert
                    .execute(params![a.sink, a.dedupe_key, a.body, now, path])
                    .map_err(err)?;
            }
            for q in quarantines.iter_mut() {
                q.id = remediation::insert_quarantine(&tx, q).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.csv_rows.extend(
            csv_rows
                .into_iter()
                .map(|(id, scans, rows)| (id, (scans, rows))),
        );
        // While the CSV cannot be written (a full disk), rows pile up here:
        // past a bound they are dropped, and read back from SQLite instead.
        if self.csv_rows.values().map(|(_, r)| r.len()).sum::<usize>() > CSV_ROWS_HELD {
            self.csv_rows.clear();
        }
        Ok(())
    }

    /// Sets a small piece of daemon state (`daemon.pid`, `daemon.last_error`).
    pub fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), StoreError> {
        let done = match value {
            Some(v) => self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                params![key, v],
            ),
            None => self.conn.execute("DELETE FROM meta WHERE key = ?1", [key]),
        };
        done.map(drop).map_err(self.sql_err())
    }

    /// Reads what [`Store::set_meta`] wrote.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(self.sql_err())
    }

    /// The pid of the daemon that wrote this store, if that process still
    /// exists (`kill(pid, 0)` only asks; EPERM means another user's).
    pub fn daemon_pid(&self) -> Result<Option<i32>, StoreError> {
        let pid: Option<i32> = self.meta("daemon.pid")?.and_then(|p| p.parse().ok());
        Ok(pid.filter(|&p| {
            // SAFETY: signal 0 sends nothing.
            let found = unsafe { libc::kill(p, 0) } == 0;
            found || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
        }))
    }

    /// The path of the SQLite file, for messages.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }
}

/// A stored name this dlpd does not know (written by a newer one): an
/// error, never a silent relabelling.
fn unknown(column: usize, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        column,
        rusqlite::types::Type::Text,
        format!("unknown name {value:?}; upgrade dlpd").into(),
    )
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
