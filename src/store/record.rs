//! Recording a batch of scan results: each file's row and findings
//! replaced, the queue jobs they finish removed, and their alerts,
//! quarantines, baseline counts and events written, in one transaction.

use std::os::unix::ffi::OsStrExt;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::activity::{self, Events};
use super::queue::JobId;
use super::remediation::{self, NewAlert, QuarantineRecord};
use super::{CSV_ROWS_HELD, Store, StoreError, csv, events, unix_ms};
use crate::config::Redact;
use crate::finding::{FileReport, Outcome};

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
        let mut new_events = Vec::new();
        // Immediate: it writes, and a read first must not lose the race to
        // another connection's write (SQLITE_BUSY_SNAPSHOT, which no wait cures).
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            // An update or an insert, not one upsert `RETURNING` the row:
            // SQLite buffers returned rows in a table made and dropped for
            // every statement, a tenth of the keeper's time.
            let mut current = tx
                .prepare_cached("SELECT id, scans, findings FROM files WHERE path = ?1")
                .map_err(err)?;
            let mut update = tx
                .prepare_cached(
                    "UPDATE files SET scans = scans + 1, size = ?2, mtime_ns = ?3, sha256 = ?4, scanned_at = ?5,
                       engine = ?6, status = ?7, error = ?8, upload_id = ?9, csv_pending = csv_pending OR ?10, exposure = ?12,
                       findings = 0, top_confidence = NULL, detectors = NULL,
                       csv_after = CASE WHEN ?11 IS NULL THEN -1 WHEN csv_pending THEN csv_after ELSE ?11 END
                     WHERE id = ?1",
                )
                .map_err(err)?;
            let mut insert_file = tx
                .prepare_cached(
                    "INSERT INTO files (path, size, mtime_ns, sha256, scanned_at, engine, status, error, upload_id, csv_pending, exposure)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?12)",
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
                let path = report.path.as_os_str().as_bytes();
                let known: Option<(i64, i64, i64)> = current
                    .query_row([path], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
                    .map_err(err)?;
                // A file with findings, one a limit or damage kept from
                // being read (not a binary or an empty one), or one that
                // held findings and holds none now, is news to the fleet.
                if let Some(source) = self.events.as_ref().map(|e| &e.source) {
                    let unseen = match &report.outcome {
                        Outcome::Skipped(reason) => reason.is_limit(),
                        Outcome::Failed(_) => true,
                        Outcome::Scanned { .. } => !report.partial.is_empty(),
                    };
                    let had = known.map_or(0, |(_, _, findings)| findings);
                    // (A file that only grew keeps its earlier findings: its
                    // record tells only of new ones.)
                    let cleaned = had > 0 && report.grown_from.is_none();
                    if !report.findings().is_empty() || unseen || cleaned {
                        new_events.push(source.file(report, status, error.as_deref()));
                        new_events
                            .extend(report.findings().iter().map(|f| source.finding(report, f)));
                    }
                }
                // Both statements take the same values, the first the row's
                // id (an update) or the path (an insert).
                let id = known.map(|(id, ..)| id);
                let key: &dyn rusqlite::ToSql = match &id {
                    Some(id) => id,
                    None => &path,
                };
                let args = params![
                    key,
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
                ];
                let (id, scans) = match known {
                    Some((id, scans, _)) => {
                        update.execute(args).map_err(err)?;
                        (id, scans + 1)
                    }
                    None => {
                        insert_file.execute(args).map_err(err)?;
                        (tx.last_insert_rowid(), 1)
                    }
                };
                // A file that only grew keeps its earlier findings (and its
                // CSV rows are read back, the earlier ones perhaps among them).
                if report.grown_from.is_none() {
                    // (A new row has none: its file's findings went with it.)
                    if known.is_some() {
                        clear.execute([id]).map_err(err)?;
                    }
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
            events::insert(&tx, self.events.as_ref(), &new_events).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        if !new_events.is_empty() {
            self.events_written();
        }
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
}
