//! What the commands read back: findings, status counts, failed files.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::params;

use super::{QueueCounts, Store, StoreError, unix_ms, unknown};
use crate::finding::{Confidence, Detector};
use crate::report::FindingRecord;

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

/// A file with findings, as a quarantine by hand needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToQuarantine {
    pub path: PathBuf,
    /// The content scanned.
    pub sha256: Option<String>,
    pub size: u64,
    /// `CREDIT_CARD_NUMBER=10 API_KEY=1`.
    pub summary: String,
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

impl Store {
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

    pub(super) fn records_where(
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

    /// What quarantining file row `id` by hand needs, if it is a file
    /// with findings still there.
    pub fn file_to_quarantine(&self, id: i64) -> Result<Option<ToQuarantine>, StoreError> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row(
                "SELECT path, sha256, size, coalesce(detectors, '') FROM files
                 WHERE id = ?1 AND findings > 0 AND gone_at IS NULL",
                [id],
                |r| {
                    let sums: String = r.get(3)?;
                    Ok(ToQuarantine {
                        path: PathBuf::from(std::ffi::OsString::from_vec(r.get(0)?)),
                        sha256: r.get(1)?,
                        size: r.get::<_, i64>(2)?.max(0) as u64,
                        summary: super::views::detector_sums(&sums)
                            .iter()
                            .map(|(d, n)| format!("{d}={n}"))
                            .collect::<Vec<_>>()
                            .join(" "),
                    })
                },
            )
            .optional()
            .map_err(self.sql_err())
    }

    /// Marks `path`, and every file under it, as gone (the watcher saw it
    /// deleted or moved away): off the dashboard's lists until it is
    /// recorded again. Its findings stay.
    pub fn mark_gone(&mut self, path: &Path) -> Result<(), StoreError> {
        let exact = path.as_os_str().as_bytes();
        let mut under = exact.to_vec();
        under.push(b'/');
        // Paths under the directory sort between `dir/` and `dir0`.
        let mut past = exact.to_vec();
        past.push(b'0');
        self.conn
            .execute(
                "UPDATE files SET gone_at = ?4 WHERE gone_at IS NULL
                   AND (path = ?1 OR (path >= ?2 AND path < ?3))",
                params![exact, under, past, unix_ms(SystemTime::now())],
            )
            .map_err(self.sql_err())?;
        Ok(())
    }

    /// Up to `limit` files given up on for lack of permission, after row
    /// `after` in row order: the ones to try again once they can be read.
    pub fn unreadable_files(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, PathBuf)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, path FROM files WHERE status = 'failed' AND id > ?1 \
                 AND instr(error, ?2) > 0 ORDER BY id LIMIT ?3",
            )
            .map_err(self.sql_err())?;
        let rows = stmt
            .query_map(
                rusqlite::params![after, crate::fsutil::PERMISSION_DENIED, limit as i64],
                |r| {
                    Ok((
                        r.get(0)?,
                        PathBuf::from(std::ffi::OsString::from_vec(r.get(1)?)),
                    ))
                },
            )
            .map_err(self.sql_err())?;
        rows.collect::<Result<_, _>>().map_err(self.sql_err())
    }
}
