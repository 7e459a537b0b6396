//! The walk's side of the queue. A file a walk lists needs no queue row
//! until a worker takes it: if the daemon stops first, the next start's
//! walk lists it again, so the walk itself is the durable list (with
//! `watch.scan_existing` off nothing is walked at start, and the keeper
//! queues what rescans find instead). Its store lookup runs on the
//! walker's thread through a read-only connection of its own ([`Lookup`]),
//! and a changed file becomes a job, already running, only when a worker
//! is free to take it ([`Store::start_walked`]). The row is still written
//! before the scan starts, so a file whose scan kills the process is
//! counted and given up like any other job (see `queue`).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use super::queue::{JobId, LastScan, STUB};
use super::{Job, Store, StoreError, unix_ms};

/// The size and mtime this path was recorded at, whatever the outcome,
/// unless it was seen gone since (a file back where it was is looked at
/// again).
const RECORDED: &str = "SELECT size, mtime_ns FROM files WHERE path = ?1 AND gone_at IS NULL";
/// The sizes and mtimes of pending Nightfall uploads of this path.
const UPLOADING: &str = "SELECT u.size, u.mtime_ns FROM uploads u JOIN jobs j ON j.id = u.job_id
    WHERE j.path = ?1";

/// A file's size and mtime (nanoseconds), as the walker saw them.
pub type Stat = (u64, Option<i64>);

/// A walked file that changed since its last scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub path: PathBuf,
    /// Its size and mtime when walked, if they were looked at: only a file
    /// the store has a record of needs them (see [`Lookup::changed`]).
    pub stat: Option<Stat>,
    /// Found by a baseline walk (at start, after a reload, on a medium
    /// just mounted): there before, so not behaviour (`store::activity`).
    pub baseline: bool,
}

/// A read-only view of the store for the walker's thread, so that asking
/// about each of a tree's files does not wait on, or hold up, the keeper.
pub struct Lookup {
    conn: Connection,
    db_path: PathBuf,
}

impl Lookup {
    /// Opens a second, query-only connection to `store`'s file.
    pub fn open(store: &Store) -> Result<Lookup, StoreError> {
        let db_path = store.db_path.clone();
        let open_err = |source| StoreError::Open {
            path: db_path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(open_err)?;
        super::stable_plans(&conn).map_err(open_err)?;
        Ok(Lookup { conn, db_path })
    }

    /// Gives back the page cache a walk filled: the daemon at rest needs
    /// none of it.
    pub fn release_memory(&self) {
        let _ = self.conn.execute_batch("PRAGMA shrink_memory");
    }

    /// Of `files`, those that are not what the store last recorded for
    /// their path, nor what a pending Nightfall upload holds. `stat` is
    /// asked only for a file the store knows of (a path lookup per file
    /// was a third of a first walk); a file it finds gone is left out.
    /// One read transaction for them all: a lock and unlock per file was a
    /// third of the walk.
    pub fn changed(
        &self,
        files: &[PathBuf],
        stat: impl Fn(&Path) -> Option<Stat>,
    ) -> Result<Vec<Changed>, StoreError> {
        let err = |source| StoreError::Sql {
            path: self.db_path.clone(),
            source,
        };
        let tx = self.conn.unchecked_transaction().map_err(err)?;
        // Uploads are pending only with Nightfall: most walks skip asking.
        let uploading: bool = self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM uploads)")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .map_err(err)?;
        let mut out = Vec::new();
        for path in files {
            let known = self.known(path, uploading).map_err(err)?;
            let stat = match known.is_empty() {
                true => None,
                false => match stat(path) {
                    Some(now) if known.contains(&now) => continue,
                    Some(now) => Some(now),
                    None => continue,
                },
            };
            out.push(Changed {
                path: path.clone(),
                stat,
                baseline: false,
            });
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    /// The sizes and mtimes the store holds for `path`: recorded, and
    /// being uploaded (asked only while uploads are pending).
    fn known(&self, path: &Path, uploading: bool) -> rusqlite::Result<Vec<Stat>> {
        let bytes = path.as_os_str().as_bytes();
        let row = |r: &rusqlite::Row| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?));
        let mut known: Vec<Stat> = self
            .conn
            .prepare_cached(RECORDED)?
            .query_row([bytes], row)
            .optional()?
            .into_iter()
            .collect();
        if uploading {
            let mut stmt = self.conn.prepare_cached(UPLOADING)?;
            for s in stmt.query_map([bytes], row)? {
                known.push(s?);
            }
        }
        Ok(known)
    }
}

impl Store {
    /// Makes the first `n` of `files` jobs, running from now on (their
    /// first attempt counted), in one transaction, and returns them with
    /// how many of `files` were used, each with what the store knows of its
    /// file now. A path recorded as it was walked since the walker looked
    /// (a queued job of it finished meanwhile) needs no job; one that has
    /// a job is left to it, marked to run again if it is running (it may
    /// have opened the file before this change).
    pub fn start_walked(
        &mut self,
        files: &[Changed],
        n: usize,
    ) -> Result<(Vec<Job>, usize), StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let used = n.min(files.len());
        let tx = self.conn.transaction().map_err(err)?;
        let mut jobs = Vec::with_capacity(used);
        {
            // Its file's row read once, for whether it was recorded as
            // walked, whether it was gone, and its last scan (where three
            // statements made five lookups). Not `RETURNING`: SQLite
            // buffers its rows in a table made and dropped per statement.
            let mut known = tx
                .prepare_cached(
                    "SELECT size, mtime_ns, sha256, status = 'scanned', gone_at IS NOT NULL
                     FROM files WHERE path = ?1",
                )
                .map_err(err)?;
            let mut present = tx.prepare_cached(super::PRESENT).map_err(err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO jobs (path, enqueued_at, running, attempts, walked)
                     VALUES (?1, ?2, 1, 1, ?3) ON CONFLICT (path) DO NOTHING",
                )
                .map_err(err)?;
            let mut rerun = tx
                .prepare_cached("UPDATE jobs SET rerun = 1 WHERE path = ?1 AND running = 1")
                .map_err(err)?;
            let mut stub = tx.prepare_cached(STUB).map_err(err)?;
            let now = unix_ms(SystemTime::now());
            for f in &files[..used] {
                let bytes = f.path.as_os_str().as_bytes();
                let row = known
                    .query_row([bytes], |r| {
                        let size: i64 = r.get(0)?;
                        let last = LastScan {
                            size: size as u64,
                            mtime_ns: r.get(1)?,
                            sha256: r.get(2)?,
                        };
                        Ok((last, r.get::<_, bool>(3)?, r.get::<_, bool>(4)?))
                    })
                    .optional()
                    .map_err(err)?;
                if row.as_ref().is_some_and(|(_, _, gone)| *gone) {
                    present.execute([bytes]).map_err(err)?;
                }
                if row
                    .as_ref()
                    .is_some_and(|(last, ..)| Some((last.size, last.mtime_ns)) == f.stat)
                {
                    continue;
                }
                if insert
                    .execute(params![bytes, now, f.baseline])
                    .map_err(err)?
                    == 0
                {
                    rerun.execute([bytes]).map_err(err)?;
                    continue;
                }
                jobs.push(Job {
                    id: JobId(tx.last_insert_rowid()),
                    path: f.path.clone(),
                    attempts: 0,
                    last: row.and_then(|(last, scanned, _)| scanned.then_some(last)),
                    // (A file quarantined without a stub has a NULL one.)
                    stub: stub
                        .query_row([bytes], |r| r.get::<_, Option<String>>(0))
                        .optional()
                        .map_err(err)?
                        .flatten(),
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok((jobs, used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{FileReport, Outcome};
    use crate::store::queue::tests::store;

    /// A walked file the walker looked at: 5 bytes, mtime 7.
    fn changed(path: &str) -> Changed {
        Changed {
            path: path.into(),
            stat: Some((5, Some(7))),
            baseline: false,
        }
    }

    #[test]
    fn a_recorded_file_is_current_until_its_size_or_mtime_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let lookup = Lookup::open(&s).unwrap();
        let p = Path::new("/a");
        let changed = |size| {
            let stat = |_: &Path| Some((size, Some(7)));
            lookup.changed(&[p.into()], stat).unwrap()
        };
        // Nothing recorded: changed, and not looked at.
        let unlooked = Changed {
            stat: None,
            ..self::changed("/a")
        };
        assert_eq!(changed(5), [unlooked]);
        let mut report = FileReport::new(p, "local", Outcome::Scanned { findings: vec![] });
        report.size = 5;
        report.mtime_ns = Some(7);
        report.sha256 = Some("ab".into());
        s.record(&[report]).unwrap();
        assert_eq!(changed(5), []);
        assert_eq!(changed(6)[0].stat, Some((6, Some(7))));
        // Gone since the walker listed it: left out.
        assert_eq!(lookup.changed(&[p.into()], |_| None).unwrap(), []);
        // The job started now carries what the store knows now.
        let (jobs, _) = s.start_walked(&changed(6), 1).unwrap();
        assert_eq!(jobs[0].last.as_ref().unwrap().sha256.as_deref(), Some("ab"));
    }

    #[test]
    fn a_walked_file_where_one_was_quarantined_starts_with_its_stub_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.conn
            .execute_batch(
                "INSERT INTO quarantine (path, state, size, mode, uid, gid, mtime_ns, sha256, stub_sha256, detectors, at)
                   VALUES (x'2f61', 'quarantined', 1, 384, 0, 0, 0, 'aa', NULL, 'API_KEY', 0),
                          (x'2f62', 'quarantined', 1, 384, 0, 0, 0, 'bb', 'cd', 'API_KEY', 0);",
            )
            .unwrap();
        let (jobs, used) = s.start_walked(&[changed("/a"), changed("/b")], 2).unwrap();
        assert_eq!(used, 2);
        let stubs: Vec<_> = jobs.iter().map(|j| j.stub.as_deref()).collect();
        assert_eq!(stubs, [None, Some("cd")]);
    }

    #[test]
    fn walked_files_start_running_and_leave_paths_with_jobs_to_those_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/queued"), 10).unwrap();
        let files = [
            changed("/a"),
            changed("/queued"),
            changed("/b"),
            changed("/c"),
        ];
        let (jobs, used) = s.start_walked(&files, 3).unwrap();
        assert_eq!(used, 3);
        let paths: Vec<_> = jobs.iter().map(|j| j.path.to_str().unwrap()).collect();
        assert_eq!(paths, ["/a", "/b"]);
        let counts = s.queue_counts().unwrap();
        assert_eq!((counts.queued, counts.running), (1, 2));
        // The attempt is counted before the scan: a crash during it is one.
        drop(s);
        let mut s = store(dir.path());
        let recovered = s.recover_running(1, "local").unwrap();
        assert_eq!(recovered.given_up.len(), 2);
    }

    #[test]
    fn a_file_recorded_since_the_walk_looked_is_not_started_again() {
        // Its queued job finished between the walker's lookup and now: a
        // second scan would append its CSV rows twice.
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        let mut report = FileReport::new(
            Path::new("/a"),
            "local",
            Outcome::Scanned { findings: vec![] },
        );
        report.size = 5;
        report.mtime_ns = Some(7);
        s.record(&[report]).unwrap();
        let mut grown = changed("/a");
        grown.stat = Some((6, Some(7)));
        let (jobs, used) = s.start_walked(&[changed("/a"), changed("/b")], 2).unwrap();
        assert_eq!((jobs.len(), used), (1, 2));
        assert_eq!(jobs[0].path, Path::new("/b"));
        let (jobs, _) = s.start_walked(&[grown], 1).unwrap();
        assert_eq!(jobs.len(), 1, "a file changed again is started");
    }

    #[test]
    fn a_walked_change_to_a_file_being_scanned_runs_it_again_after() {
        // The worker may have opened the file before this change.
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        let job = s.claim(SystemTime::now()).unwrap().unwrap();
        let (jobs, _) = s.start_walked(&[changed("/a")], 1).unwrap();
        assert!(jobs.is_empty());
        let report = FileReport::new(&job.path, "local", Outcome::Scanned { findings: vec![] });
        s.record_finishing(&[report], &[job.id]).unwrap();
        assert_eq!(s.queue_counts().unwrap().queued, 1);
    }

    #[test]
    fn lookups_keep_their_prepared_statements() {
        // Without stable plans SQLite prepared the upload lookup again on
        // most runs (its plan keyed on the size bound), which was most of
        // the walker's time.
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        // (Uploads are looked up only while one is pending.)
        s.conn
            .execute_batch(
                "INSERT INTO jobs (id, path, enqueued_at, running) VALUES (1, x'2f75', 0, 1);
                 INSERT INTO uploads (upload_id, job_id, size, sha256, submitted_at)
                   VALUES ('u', 1, 1, 'ab', 0);",
            )
            .unwrap();
        let lookup = Lookup::open(&s).unwrap();
        for i in 0..50 {
            lookup
                .changed(&[format!("/p{i}").into()], |_| Some((i, Some(1))))
                .unwrap();
        }
        for sql in [RECORDED, UPLOADING] {
            let st = lookup.conn.prepare_cached(sql).unwrap();
            assert_eq!(st.get_status(rusqlite::StatementStatus::Run), 50);
            assert_eq!(st.get_status(rusqlite::StatementStatus::RePrepare), 0);
        }
        // The file being uploaded as it is is not walked into a second scan.
        let walked = |size| {
            lookup
                .changed(&["/u".into()], |_| Some((size, None)))
                .unwrap()
        };
        assert_eq!(walked(1), []);
        assert_eq!(walked(2).len(), 1);
    }
}
