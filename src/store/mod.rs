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
mod events;
mod key;
mod query;
mod queue;
mod record;
mod recorder;
mod remediation;
mod schema;
mod uploads;
mod views;
mod walked;

pub use activity::{Baseline, Events, Interval};
pub use events::{EventLog, EventSettings, woken};
pub use query::{FailedFile, FindingQuery, StoreStatus, ToQuarantine};
pub use queue::{Job, JobId, LastScan, QueueCounts, Queued, Recovered};
pub use recorder::Recorder;
pub use remediation::{AlertOutbox, DueAlert, NewAlert, QuarantineRecord, QuarantineState};
pub use uploads::{PendingUpload, Upload};
pub use views::{
    AlertRow, Count, Day, DetectorCount, FileDetail, FileFilter, FileRow, FilesPage, IntervalRow,
    Sort, SubjectView, Summary, Views,
};
pub use walked::{Changed, Lookup, Stat};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ring::hmac;
use rusqlite::{Connection, OptionalExtension, params};

use crate::config::{OutputConfig, Redact};
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
    /// Set while the fleet or the events file takes events.
    events: Option<EventSettings>,
}

/// A connection of a task's own beside the keeper's (the alert sender,
/// an event consumer), to a store the keeper has created and migrated.
fn side_connection(db_path: &Path) -> Result<Connection, StoreError> {
    let err = |source| StoreError::Open {
        path: db_path.to_path_buf(),
        source,
    };
    let conn = Connection::open(db_path).map_err(err)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
    stable_plans(&conn).map_err(err)?;
    Ok(conn)
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
            events: None,
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
            events: None,
        };
        // Off while migrating (the bundled SQLite starts with them on): a
        // migration that rebuilds a table drops the old one, which with
        // foreign keys on deletes its rows' children.
        let fk = |store: &Store, on: bool| {
            store
                .conn
                .pragma_update(None, "foreign_keys", on)
                .map_err(store.sql_err())
        };
        fk(&store, false)?;
        store.migrate()?;
        fk(&store, true)?;
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
