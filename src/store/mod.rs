//! The findings store: SQLite at `state_dir/dlpd.sqlite`, and the CSV log
//! beside it, holding the same rows.
//!
//! SQLite is the source of truth. A rescan replaces a file's findings in one
//! transaction. The CSV is appended from SQLite with an exactly-once
//! protocol: rows are marked pending in the same transaction that stores
//! them, and the CSV's committed length is recorded after each fsynced
//! append. After a crash, bytes past the committed length (a half-written
//! row) are cut off and the pending rows are written again.

mod queue;
mod remediation;
mod schema;
mod uploads;

pub use queue::{Job, JobId, LastScan, QueueCounts};
pub use remediation::{AlertOutbox, DueAlert, NewAlert, QuarantineRecord, QuarantineState};
pub use uploads::{PendingUpload, Upload};

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::{OutputConfig, Redact};
use crate::finding::{Confidence, Detector, FileReport, Outcome};
use crate::fsutil::hex;
use crate::fsutil::{ensure_private_dir, open_private_rw, write_private_atomic};
use crate::report::{CSV_HEADER, FindingRecord, csv_row};

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

/// What `dlpd status` reads from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStatus {
    pub queue: QueueCounts,
    /// Queued jobs that have failed at least once and wait to retry.
    pub retrying: u64,
    pub scanned: u64,
    pub skipped: u64,
    pub failed: u64,
    pub findings: u64,
}

/// A file dlpd gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFile {
    pub path: PathBuf,
    pub error: String,
    pub at: SystemTime,
}

/// Which stored findings to list.
#[derive(Debug, Clone, Default)]
pub struct FindingQuery {
    /// A file, or a directory whose files to include.
    pub path: Option<PathBuf>,
    /// Only files scanned at or after this time.
    pub since: Option<SystemTime>,
}

/// An open store.
pub struct Store {
    conn: Connection,
    db_path: PathBuf,
    csv_path: PathBuf,
    hmac_key: hmac::Key,
    redact: Redact,
}

impl Store {
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
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // WAL with NORMAL: a commit survives a killed process (it is in the
        // OS's cache) without an fsync per commit; a power cut may lose the
        // last commits, and the baseline scan at the next start re-queues
        // any file whose scan was lost. The CSV append is fsynced itself.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let mut store = Store {
            conn,
            hmac_key: load_or_create_key(&dir.join("hmac.key"))?,
            db_path,
            csv_path: cfg.csv_path(),
            redact: cfg.redact,
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

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = schema::MIGRATIONS.len() as i64;
        let found: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.sql_err())?;
        if found > known {
            return Err(StoreError::TooNew {
                path: self.db_path.clone(),
                found,
                known,
            });
        }
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(found as usize) {
            let path = self.db_path.clone();
            let err = |source| StoreError::Sql {
                path: path.clone(),
                source,
            };
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)
                .map_err(err)?;
            tx.commit().map_err(err)?;
        }
        Ok(())
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
        self.record_remedied(reports, done, &[], &mut [])
    }

    /// [`Store::record_finishing`], with the remedies for those findings in
    /// the same transaction: `alerts` are queued (a repeated one is dropped
    /// by its dedupe key) and `quarantines` recorded as `moving`, their ids
    /// filled in. A crash after the commit loses neither; one before it
    /// leaves the jobs queued, to be decided again.
    pub fn record_remedied(
        &mut self,
        reports: &[FileReport],
        done: &[JobId],
        alerts: &[NewAlert],
        quarantines: &mut [QuarantineRecord],
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
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO files (path, size, mtime_ns, sha256, scanned_at, engine, status, error, upload_id, csv_pending)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (path) DO UPDATE SET scans = scans + 1, size = ?2, mtime_ns = ?3, sha256 = ?4, scanned_at = ?5,
                       engine = ?6, status = ?7, error = ?8, upload_id = ?9, csv_pending = csv_pending OR ?10
                     RETURNING id",
                )
                .map_err(err)?;
            let mut clear = tx
                .prepare_cached("DELETE FROM findings WHERE file_id = ?1")
                .map_err(err)?;
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
                    Outcome::Scanned { .. } => ("scanned", None),
                    Outcome::Skipped(reason) => ("skipped", Some(reason.to_string())),
                    Outcome::Failed(msg) => ("failed", Some(msg.clone())),
                };
                let id: i64 = upsert
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
                        ],
                        |r| r.get(0),
                    )
                    .map_err(err)?;
                clear.execute([id]).map_err(err)?;
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
            }
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
            for job in done {
                settled.execute([job.0]).map_err(err)?;
                finish.execute([job.0]).map_err(err)?;
                again.execute([job.0]).map_err(err)?;
            }
            let mut alert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO alerts (sink, dedupe_key, body, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            let now = unix_ms(SystemTime::now());
            for a in alerts {
                alert
                    .execute(params![a.sink, a.dedupe_key, a.body, now])
                    .map_err(err)?;
            }
            for q in quarantines.iter_mut() {
                q.id = remediation::insert_quarantine(&tx, q).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.flush_csv()
    }

    /// Appends the rows of every file marked pending to the CSV, exactly once.
    pub fn flush_csv(&mut self) -> Result<(), StoreError> {
        let pending: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id FROM files WHERE csv_pending = 1 ORDER BY scanned_at, id",
                )
                .map_err(self.sql_err())?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect::<Result<_, _>>())
                .map_err(self.sql_err())?
        };
        let csv_key = format!("csv_len:{}", self.csv_path.display());
        let committed: Option<i64> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [&csv_key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sql_err())?;
        if pending.is_empty() && committed.is_some() {
            return Ok(());
        }
        let csv_err = |source| StoreError::Csv {
            path: self.csv_path.clone(),
            source,
        };
        if let Some(parent) = self.csv_path.parent() {
            ensure_private_dir(parent).map_err(csv_err)?;
        }
        let mut file = open_private_rw(&self.csv_path).map_err(csv_err)?;
        let actual = file.metadata().map_err(csv_err)?.len();
        // First sight of this CSV: whatever it holds is someone's, keep it.
        let committed = committed.map_or(actual, |c| c as u64);
        let start = if actual > committed {
            tracing::warn!(
                csv = %self.csv_path.display(),
                bytes = actual - committed,
                "removing a partly written CSV append left by a crash; its rows are written again"
            );
            file.set_len(committed).map_err(csv_err)?;
            committed
        } else {
            // Equal, or shorter because someone rotated or truncated it.
            actual
        };
        let mut buf = Vec::new();
        if start == 0 && !pending.is_empty() {
            csv_row(&mut buf, &CSV_HEADER);
        }
        for &id in &pending {
            for rec in self.records_where("f.id = ?1", &[&id])? {
                csv_row(&mut buf, &rec.csv_cells());
            }
        }
        file.seek(SeekFrom::Start(start)).map_err(csv_err)?;
        file.write_all(&buf).map_err(csv_err)?;
        file.sync_data().map_err(csv_err)?;
        let end = start + buf.len() as u64;
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![csv_key, end as i64],
        )
        .map_err(err)?;
        {
            let mut done = tx
                .prepare_cached("UPDATE files SET csv_pending = 0 WHERE id = ?1")
                .map_err(err)?;
            for id in &pending {
                done.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Lists stored findings, oldest scan first.
    pub fn findings(&self, q: &FindingQuery) -> Result<Vec<FindingRecord>, StoreError> {
        let exact = q.path.as_ref().map(|p| p.as_os_str().as_bytes().to_vec());
        let under = exact.as_ref().map(|p| {
            let mut d = p.clone();
            if !d.ends_with(b"/") {
                d.push(b'/');
            }
            d
        });
        let since = q.since.map(unix_ms);
        self.records_where(
            "(?1 IS NULL OR f.path = ?1 OR substr(f.path, 1, length(?2)) = ?2) AND (?3 IS NULL OR f.scanned_at >= ?3)",
            &[&exact, &under, &since],
        )
    }

    fn records_where(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<FindingRecord>, StoreError> {
        let sql = format!(
            "SELECT f.path, f.scanned_at, f.engine, f.upload_id, f.sha256, x.detector, x.confidence, x.kind,
                    x.finding, x.redacted_finding, x.before_context, x.after_context,
                    x.byte_start, x.byte_end, x.line_start, x.line_end, x.member,
                    x.row_start, x.row_end, x.column_start, x.column_end
             FROM findings x JOIN files f ON f.id = x.file_id
             WHERE {filter}
             ORDER BY f.scanned_at, f.path, x.member, x.byte_start"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.sql_err())?;
        let rows = stmt
            .query_map(args, |r| {
                let path: Vec<u8> = r.get(0)?;
                let detector: String = r.get(5)?;
                let confidence: String = r.get(6)?;
                Ok(FindingRecord {
                    path: PathBuf::from(std::ffi::OsString::from_vec(path))
                        .to_string_lossy()
                        .into_owned(),
                    scanned_at: UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(1)? as u64),
                    engine: r.get(2)?,
                    upload_id: r.get(3)?,
                    sha256: r.get(4)?,
                    detector: Detector::parse(&detector),
                    confidence: Confidence::parse(&confidence)
                        .ok_or_else(|| unknown(6, &confidence))?,
                    kind: r.get(7)?,
                    finding: r.get(8)?,
                    redacted: r.get(9)?,
                    before: r.get(10)?,
                    after: r.get(11)?,
                    byte_start: r.get::<_, i64>(12)? as u64,
                    byte_end: r.get::<_, i64>(13)? as u64,
                    line_start: r.get::<_, i64>(14)? as u64,
                    line_end: r.get::<_, i64>(15)? as u64,
                    member: r.get(16)?,
                    table: match (r.get::<_, Option<i64>>(17)?, r.get::<_, Option<i64>>(19)?) {
                        (Some(rs), Some(cs)) => Some(crate::finding::TablePos {
                            row_start: rs as u64,
                            row_end: r.get::<_, Option<i64>>(18)?.unwrap_or(rs) as u64,
                            column_start: cs as u64,
                            column_end: r.get::<_, Option<i64>>(20)?.unwrap_or(cs) as u64,
                        }),
                        _ => None,
                    },
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(self.sql_err())?;
        Ok(rows)
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

    /// Counts for `dlpd status`.
    pub fn status(&self) -> Result<StoreStatus, StoreError> {
        let (scanned, skipped, failed) = self
            .conn
            .query_row(
                "SELECT coalesce(sum(status = 'scanned'), 0), coalesce(sum(status = 'skipped'), 0),
                        coalesce(sum(status = 'failed'), 0) FROM files",
                [],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .map_err(self.sql_err())?;
        let findings: i64 = self
            .conn
            .query_row("SELECT count(*) FROM findings", [], |r| r.get(0))
            .map_err(self.sql_err())?;
        let retrying: i64 = self
            .conn
            .query_row("SELECT count(*) FROM jobs WHERE attempts > 0", [], |r| {
                r.get(0)
            })
            .map_err(self.sql_err())?;
        Ok(StoreStatus {
            queue: self.queue_counts()?,
            retrying: retrying as u64,
            scanned: scanned as u64,
            skipped: skipped as u64,
            failed: failed as u64,
            findings: findings as u64,
        })
    }

    /// Files recorded as failed, newest first, with their reasons.
    pub fn failed_files(&self) -> Result<Vec<FailedFile>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT path, error, scanned_at FROM files WHERE status = 'failed' ORDER BY scanned_at DESC, id")
            .map_err(self.sql_err())?;
        stmt.query_map([], |r| {
            Ok(FailedFile {
                path: PathBuf::from(std::ffi::OsString::from_vec(r.get(0)?)),
                error: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                at: UNIX_EPOCH + Duration::from_millis(r.get::<_, i64>(2)? as u64),
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(self.sql_err())
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

/// The per-install HMAC key: 32 random bytes in a 0600 file.
fn load_or_create_key(path: &Path) -> Result<hmac::Key, StoreError> {
    let err = |source| StoreError::Key {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) if b.len() == 32 => b,
        Ok(_) => {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not 32 bytes; delete it to make a new key (stored value hashes will no longer match)",
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut b = vec![0u8; 32];
            SystemRandom::new()
                .fill(&mut b)
                .map_err(|_| err(std::io::Error::other("no system randomness")))?;
            write_private_atomic(path, &b).map_err(err)?;
            b
        }
        Err(e) => return Err(err(e)),
    };
    Ok(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
}
