//! Uploads to Nightfall that await their result, tied to their queue job.
//!
//! A job whose file is uploaded stays `running` while its result is out:
//! the row here says which upload it waits for and what content was sent.
//! The row is written before the scan is requested and removed in the
//! transaction that stores the result (or fails the job), so a result is
//! stored at most once and an upload is never orphaned by a crash.

use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::{Job, JobId, Store, StoreError, unix_ms};

/// What was uploaded for a job: enough to store its result as a report of
/// that exact content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Nightfall's id for the upload.
    pub id: String,
    pub size: u64,
    pub mtime_ns: Option<i64>,
    /// Hex SHA-256 of the bytes uploaded.
    pub sha256: String,
}

/// An upload awaiting its result, with its job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    pub upload: Upload,
    pub job: Job,
}

impl Store {
    /// Records that `job` awaits the result of `upload`.
    pub fn register_upload(&mut self, job: JobId, upload: &Upload) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO uploads (upload_id, job_id, size, mtime_ns, sha256, submitted_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    upload.id,
                    job.0,
                    upload.size as i64,
                    upload.mtime_ns,
                    upload.sha256,
                    unix_ms(SystemTime::now())
                ],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// The upload with Nightfall id `id`, if a job still awaits it.
    pub fn pending_upload(&self, id: &str) -> Result<Option<PendingUpload>, StoreError> {
        self.conn
            .prepare_cached(&format!("{PENDING} WHERE u.upload_id = ?1"))
            .and_then(|mut s| s.query_row([id], pending_row).optional())
            .map_err(self.sql_err())
    }

    /// Uploads submitted before `before` whose result never came.
    pub fn overdue_uploads(&self, before: SystemTime) -> Result<Vec<PendingUpload>, StoreError> {
        self.conn
            .prepare_cached(&format!("{PENDING} WHERE u.submitted_at < ?1"))
            .and_then(|mut s| {
                s.query_map([unix_ms(before)], pending_row)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(self.sql_err())
    }
}

/// The columns [`pending_row`] reads, uploads with their jobs.
const PENDING: &str = "SELECT u.upload_id, u.size, u.mtime_ns, u.sha256, j.id, j.path, j.attempts
     FROM uploads u JOIN jobs j ON j.id = u.job_id";

fn pending_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PendingUpload> {
    Ok(PendingUpload {
        upload: Upload {
            id: r.get(0)?,
            size: r.get::<_, i64>(1)? as u64,
            mtime_ns: r.get(2)?,
            sha256: r.get(3)?,
        },
        job: Job {
            id: JobId(r.get(4)?),
            path: PathBuf::from(std::ffi::OsString::from_vec(r.get(5)?)),
            attempts: r.get(6)?,
            last: None,
            stub: None,
        },
    })
}
