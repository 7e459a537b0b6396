//! The persistent, bounded work queue, in the same SQLite file as the
//! findings so that finishing a job and storing its result are one
//! transaction (see [`Store::record_finishing`]).
//!
//! A job is a path. Queuing a path that is already queued does nothing;
//! queuing one that a worker is scanning marks it to run again afterwards,
//! so the last change is never lost.
//! Failed jobs come back after an exponential backoff with jitter, until
//! `max_attempts`; then the file is recorded as failed with the reason.
//! An attempt is counted when the job is claimed, before the scan starts,
//! so a file whose scan kills the process is given up after `max_attempts`
//! starts instead of looping; a clean stop gives back the attempts of the
//! jobs it interrupted. Jobs a crash left running are queued again at start.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::params;

use super::{Store, StoreError, unix_ms};
use crate::finding::{FileReport, Outcome};

/// A queue row's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobId(pub i64);

/// A claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub path: PathBuf,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The file's last successful scan, if any.
    pub last: Option<LastScan>,
    /// The SHA-256 of the stub dlpd left at this path when it quarantined
    /// the file: that stub is not news.
    pub stub: Option<String>,
}

/// What `dlpd status` shows of the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Jobs waiting, including those backing off.
    pub queued: u64,
    /// Jobs a worker holds, or whose Nightfall result is awaited.
    pub running: u64,
    /// Of the running jobs, those uploaded and awaiting their result.
    pub awaiting: u64,
}

/// What [`Store::recover_running`] did with the jobs a crash left running.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Queued again.
    pub requeued: u64,
    /// Given up: their scans ended the process `max_attempts` times.
    pub given_up: Vec<PathBuf>,
}

/// Why a job a crash left running was retried or given up.
const UNFINISHED: &str = "the scan did not finish (the process ended during it)";

/// First retry delay; doubles each attempt up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    crate::backoff::jittered(BASE_BACKOFF, MAX_BACKOFF, attempts)
}

/// What the store knew of a file at its last scan; a job carries it so the
/// worker can skip a file that has not changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastScan {
    pub size: u64,
    pub mtime_ns: Option<i64>,
    pub sha256: Option<String>,
}

/// What a claimed job's row returns: the job, with what the store knows
/// of its file now (see [`job_from_row`]).
pub(super) const JOB_COLUMNS: &str = "id, path, attempts,
    (SELECT size FROM files f WHERE f.path = jobs.path AND f.status = 'scanned'),
    (SELECT mtime_ns FROM files f WHERE f.path = jobs.path AND f.status = 'scanned'),
    (SELECT sha256 FROM files f WHERE f.path = jobs.path AND f.status = 'scanned'),
    (SELECT stub_sha256 FROM quarantine q WHERE q.path = jobs.path AND q.state = 'quarantined'
       ORDER BY q.id DESC LIMIT 1)";

/// The SHA-256 of the stub dlpd left at path `?1`, if it holds one.
pub(super) const STUB: &str = "SELECT stub_sha256 FROM quarantine
    WHERE path = ?1 AND state = 'quarantined' ORDER BY id DESC LIMIT 1";

/// A job from a row of [`JOB_COLUMNS`]; its attempts are those made before
/// the one just counted.
pub(super) fn job_from_row(r: &rusqlite::Row) -> rusqlite::Result<Job> {
    let size: Option<i64> = r.get(3)?;
    Ok(Job {
        id: JobId(r.get(0)?),
        path: PathBuf::from(std::ffi::OsString::from_vec(r.get(1)?)),
        attempts: r.get::<_, u32>(2)?.saturating_sub(1),
        last: size.map(|size| LastScan {
            size: size as u64,
            mtime_ns: r.get(4).ok().flatten(),
            sha256: r.get(5).ok().flatten(),
        }),
        stub: r.get(6)?,
    })
}

/// A path to queue, and whether a baseline walk found it (see
/// [`super::Changed::baseline`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub path: PathBuf,
    pub baseline: bool,
}

impl Store {
    /// Queues `path` unless it is already queued. Returns `Ok(false)` when
    /// the queue holds `capacity` jobs: the caller waits and tries again
    /// (backpressure), it does not drop the path.
    pub fn enqueue(&mut self, path: &Path, capacity: u64) -> Result<bool, StoreError> {
        let event = Queued {
            path: path.to_path_buf(),
            baseline: false,
        };
        Ok(self.enqueue_many(&[event], capacity)? == 1)
    }

    /// Queues `paths` in order, in one transaction, until the queue holds
    /// `capacity` jobs; returns how many were taken (the rest wait). A path
    /// already queued counts as taken; one a worker is scanning is marked to
    /// run again. A job is behaviour (not `walked`) once any event queued it.
    pub fn enqueue_many(&mut self, paths: &[Queued], capacity: u64) -> Result<usize, StoreError> {
        let mut total = self.queue_counts()?.total();
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut taken = 0;
        {
            let mut rerun = tx
                .prepare_cached(
                    "UPDATE jobs SET rerun = running, walked = walked AND ?2 WHERE path = ?1",
                )
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO jobs (path, enqueued_at, walked) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            let mut present = tx.prepare_cached(super::PRESENT).map_err(err)?;
            let now = unix_ms(SystemTime::now());
            for q in paths {
                let bytes = q.path.as_os_str().as_bytes();
                present.execute([bytes]).map_err(err)?;
                if rerun.execute(params![bytes, q.baseline]).map_err(err)? == 0 {
                    if total >= capacity {
                        break;
                    }
                    insert
                        .execute(params![bytes, now, q.baseline])
                        .map_err(err)?;
                    total += 1;
                }
                taken += 1;
            }
        }
        tx.commit().map_err(err)?;
        Ok(taken)
    }

    /// Claims the oldest job that is due, marking it running.
    pub fn claim(&mut self, now: SystemTime) -> Result<Option<Job>, StoreError> {
        Ok(self.claim_batch(1, now)?.pop())
    }

    /// Claims up to `n` due jobs, oldest first, in one statement, each with
    /// what the store knew of its file at the last scan.
    pub fn claim_batch(&mut self, n: usize, now: SystemTime) -> Result<Vec<Job>, StoreError> {
        // Most calls find nothing due (a walk's files are not queued): a
        // read says so without a write transaction and its RETURNING table.
        if self.next_due()?.is_none_or(|due| due > now) {
            return Ok(Vec::new());
        }
        let err = self.sql_err();
        let sql = format!(
            "UPDATE jobs SET running = 1, attempts = attempts + 1 WHERE id IN (
               SELECT id FROM jobs WHERE running = 0 AND not_before <= ?1 ORDER BY not_before, id LIMIT ?2)
             RETURNING {JOB_COLUMNS}"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&err)?;
        let mut jobs: Vec<Job> = stmt
            .query_map(params![unix_ms(now), n as i64], job_from_row)
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(&err)?;
        jobs.sort_by_key(|j| j.id.0);
        Ok(jobs)
    }

    /// When the next queued job is due, if any is waiting.
    pub fn next_due(&self) -> Result<Option<SystemTime>, StoreError> {
        let ms: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(not_before) FROM jobs WHERE running = 0",
                [],
                |r| r.get(0),
            )
            .map_err(self.sql_err())?;
        Ok(ms.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)))
    }

    /// Records a failed attempt. Below `max_attempts` the job is queued
    /// again after [`backoff`]; at the limit it leaves the queue and the
    /// file is recorded as failed with `error`, in one transaction.
    /// Returns true when the job was given up.
    pub fn fail(
        &mut self,
        job: &Job,
        error: &str,
        max_attempts: u32,
        engine: &'static str,
    ) -> Result<bool, StoreError> {
        // The job may be gone already: its result arrived by another way.
        let live: bool = self
            .conn
            .query_row("SELECT count(*) FROM jobs WHERE id = ?1", [job.id.0], |r| {
                r.get(0)
            })
            .map_err(self.sql_err())?;
        if !live {
            return Ok(false);
        }
        let attempts = job.attempts + 1;
        if attempts >= max_attempts {
            let mut report = FileReport::new(
                &job.path,
                engine,
                Outcome::Failed(format!("gave up after {attempts} attempts: {error}")),
            );
            // Recorded as it is now, so that no walk queues it again (a
            // poison file would loop across restarts) until it changes.
            if let Ok(meta) = std::fs::symlink_metadata(&job.path) {
                report.size = meta.len();
                report.mtime_ns = Some(crate::fsutil::mtime_ns(&meta));
            }
            self.record_finishing(&[report], &[job.id])?;
            return Ok(true);
        }
        let due = SystemTime::now() + backoff(job.attempts);
        self.release(job.id, attempts, due, Some(error))?;
        Ok(false)
    }

    /// Puts a job back in the queue at once, without counting an attempt:
    /// its file changed while it was being uploaded.
    pub fn requeue(&mut self, job: &Job) -> Result<(), StoreError> {
        self.release(job.id, job.attempts, SystemTime::UNIX_EPOCH, None)
    }

    /// Makes a running job claimable again at `due`, dropping any upload it
    /// was waiting for.
    fn release(
        &mut self,
        id: JobId,
        attempts: u32,
        due: SystemTime,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let path = self.db_path.clone();
        let err = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        tx.execute("DELETE FROM uploads WHERE job_id = ?1", [id.0])
            .map_err(err)?;
        tx.execute(
            "UPDATE jobs SET running = 0, rerun = 0, attempts = ?2, not_before = ?3, last_error = ?4 WHERE id = ?1",
            params![id.0, attempts, unix_ms(due), error],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Drops a queued (not running) job: its file was deleted.
    pub fn cancel(&mut self, path: &Path) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute(
                "DELETE FROM jobs WHERE path = ?1 AND running = 0",
                [path.as_os_str().as_bytes()],
            )
            .map_err(self.sql_err())?;
        Ok(n > 0)
    }

    /// Puts jobs a crash left running back in the queue; returns how many.
    /// Their attempt stays counted: a job whose scan ended the process
    /// `max_attempts` times is given up and its file recorded as failed.
    /// Jobs waiting for a Nightfall result keep waiting: the result may
    /// still come, and `result_timeout_s` covers the case where it does not.
    pub fn recover_running(
        &mut self,
        max_attempts: u32,
        engine: &'static str,
    ) -> Result<Recovered, StoreError> {
        let crashed: Vec<(JobId, PathBuf, u32)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id, path, attempts FROM jobs
                     WHERE running = 1 AND id NOT IN (SELECT job_id FROM uploads)",
                )
                .map_err(self.sql_err())?;
            stmt.query_map([], |r| {
                Ok((
                    JobId(r.get(0)?),
                    PathBuf::from(std::ffi::OsString::from_vec(r.get(1)?)),
                    r.get(2)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<_, _>>())
            .map_err(self.sql_err())?
        };
        let mut recovered = Recovered::default();
        for (id, path, attempts) in crashed {
            let job = Job {
                id,
                path,
                attempts: attempts.saturating_sub(1),
                last: None,
                stub: None,
            };
            if self.fail(&job, UNFINISHED, max_attempts, engine)? {
                recovered.given_up.push(job.path);
            } else {
                recovered.requeued += 1;
            }
        }
        Ok(recovered)
    }

    /// After a clean stop: jobs still running were interrupted, not
    /// failed, so they go back with their attempt uncounted.
    pub fn release_interrupted(&mut self) -> Result<u64, StoreError> {
        let n = self
            .conn
            .execute(
                "UPDATE jobs SET running = 0, attempts = max(attempts - 1, 0)
                 WHERE running = 1 AND id NOT IN (SELECT job_id FROM uploads)",
                [],
            )
            .map_err(self.sql_err())?;
        Ok(n as u64)
    }

    /// Queue depth and jobs in flight.
    pub fn queue_counts(&self) -> Result<QueueCounts, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) - coalesce(sum(running), 0), coalesce(sum(running), 0),
                   (SELECT count(*) FROM uploads) FROM jobs",
                [],
                |r| {
                    Ok(QueueCounts {
                        queued: r.get::<_, i64>(0)? as u64,
                        running: r.get::<_, i64>(1)? as u64,
                        awaiting: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
            .map_err(self.sql_err())
    }
}

impl QueueCounts {
    /// Every job, waiting or running.
    pub fn total(&self) -> u64 {
        self.queued + self.running
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::config::{OutputConfig, Redact};

    /// A store in `dir`, for the store's unit tests.
    pub(in crate::store) fn store(dir: &Path) -> Store {
        Store::open(&OutputConfig {
            state_dir: dir.join("state"),
            csv: "r.csv".into(),
            redact: Redact::Mask,
        })
        .unwrap()
    }

    #[test]
    fn a_finished_job_takes_its_upload_with_it() {
        // Foreign keys are on once the store is open (off only while it
        // migrates): the upload row goes with its job.
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        let job = s.claim(SystemTime::now()).unwrap().unwrap();
        s.conn
            .execute(
                "INSERT INTO uploads (upload_id, job_id, size, sha256, submitted_at) VALUES ('u', ?1, 1, 'ab', 0)",
                [job.id.0],
            )
            .unwrap();
        let report = FileReport::new(
            Path::new("/a"),
            "local",
            Outcome::Scanned { findings: vec![] },
        );
        s.record_finishing(&[report], &[job.id]).unwrap();
        let uploads: i64 = s
            .conn
            .query_row("SELECT count(*) FROM uploads", [], |r| r.get(0))
            .unwrap();
        assert_eq!(uploads, 0);
    }

    #[test]
    fn a_path_is_queued_once_and_capacity_pushes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        assert!(s.enqueue(Path::new("/a"), 2).unwrap());
        assert!(s.enqueue(Path::new("/a"), 2).unwrap());
        assert!(s.enqueue(Path::new("/b"), 2).unwrap());
        assert!(!s.enqueue(Path::new("/c"), 2).unwrap());
        assert_eq!(
            s.queue_counts().unwrap(),
            QueueCounts {
                queued: 2,
                running: 0,
                awaiting: 0
            }
        );
    }

    #[test]
    fn claim_takes_oldest_first_and_finishing_removes_the_job_with_its_result() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        s.enqueue(Path::new("/b"), 10).unwrap();
        let job = s.claim(SystemTime::now()).unwrap().unwrap();
        assert_eq!(job.path, PathBuf::from("/a"));
        assert_eq!(
            s.queue_counts().unwrap(),
            QueueCounts {
                queued: 1,
                running: 1,
                awaiting: 0
            }
        );
        let report = FileReport::new(&job.path, "local", Outcome::Scanned { findings: vec![] });
        s.record_finishing(&[report], &[job.id]).unwrap();
        assert_eq!(
            s.queue_counts().unwrap(),
            QueueCounts {
                queued: 1,
                running: 0,
                awaiting: 0
            }
        );
    }

    #[test]
    fn a_path_queued_while_running_runs_again_after_it_finishes() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        let job = s.claim(SystemTime::now()).unwrap().unwrap();
        assert!(s.enqueue(Path::new("/a"), 10).unwrap());
        let report = FileReport::new(&job.path, "local", Outcome::Scanned { findings: vec![] });
        s.record_finishing(std::slice::from_ref(&report), &[job.id])
            .unwrap();
        let again = s.claim(SystemTime::now()).unwrap().unwrap();
        assert_eq!(again.path, PathBuf::from("/a"));
        s.record_finishing(&[report], &[again.id]).unwrap();
        assert_eq!(s.queue_counts().unwrap().total(), 0);
    }

    #[test]
    fn jobs_left_running_by_a_crash_are_queued_again() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = store(dir.path());
            s.enqueue(Path::new("/a"), 10).unwrap();
            s.claim(SystemTime::now()).unwrap().unwrap();
        }
        let mut s = store(dir.path());
        assert_eq!(s.recover_running(3, "local").unwrap().requeued, 1);
        let job = s.claim(SystemTime::now() + MAX_BACKOFF).unwrap().unwrap();
        assert_eq!(job.path, PathBuf::from("/a"));
        assert_eq!(job.attempts, 1, "the crashed attempt counts");
    }

    #[test]
    fn a_job_whose_scan_ends_the_process_is_given_up_after_max_attempts() {
        let dir = tempfile::tempdir().unwrap();
        for start in 1..=3 {
            let mut s = store(dir.path());
            let r = s.recover_running(3, "local").unwrap();
            if start == 1 {
                s.enqueue(Path::new("/poison"), 10).unwrap();
            }
            if start == 3 {
                // Third start: two crashed attempts, the third was claimed.
                assert!(r.given_up.is_empty());
            }
            // The scan "kills the process": the claimed job is never finished.
            s.claim(SystemTime::now() + MAX_BACKOFF).unwrap().unwrap();
        }
        let mut s = store(dir.path());
        let r = s.recover_running(3, "local").unwrap();
        assert_eq!(r.given_up, vec![PathBuf::from("/poison")]);
        assert_eq!(s.queue_counts().unwrap().total(), 0);
        let error: String = s
            .conn
            .query_row(
                "SELECT error FROM files WHERE path = ?1",
                [b"/poison".as_slice()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(error, format!("gave up after 3 attempts: {UNFINISHED}"));
    }

    #[test]
    fn a_clean_stop_gives_back_the_interrupted_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        s.claim(SystemTime::now()).unwrap().unwrap();
        assert_eq!(s.release_interrupted().unwrap(), 1);
        assert_eq!(s.claim(SystemTime::now()).unwrap().unwrap().attempts, 0);
    }

    #[test]
    fn failures_back_off_then_give_up_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        let job = s.claim(SystemTime::now()).unwrap().unwrap();
        assert!(!s.fail(&job, "disk on fire", 2, "local").unwrap());
        // Backing off: not due now, due later.
        assert_eq!(s.claim(SystemTime::now()).unwrap(), None);
        let later = SystemTime::now() + MAX_BACKOFF;
        let job = s.claim(later).unwrap().unwrap();
        assert_eq!(job.attempts, 1);
        assert!(s.fail(&job, "disk on fire", 2, "local").unwrap());
        assert_eq!(s.queue_counts().unwrap().total(), 0);
        let status: (String, String) = s
            .conn
            .query_row(
                "SELECT status, error FROM files WHERE path = ?1",
                [b"/a".as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(status.0, "failed");
        assert!(
            status.1.contains("gave up after 2 attempts: disk on fire"),
            "{}",
            status.1
        );
    }

    #[test]
    fn a_deleted_file_cancels_its_queued_job() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = store(dir.path());
        s.enqueue(Path::new("/a"), 10).unwrap();
        assert!(s.cancel(Path::new("/a")).unwrap());
        assert_eq!(s.claim(SystemTime::now()).unwrap(), None);
    }
}
