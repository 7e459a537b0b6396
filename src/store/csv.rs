//! The CSV log's exactly-once append: rows are marked pending in the
//! transaction that stores them; each append is fsynced and its committed
//! length recorded, so a crash leaves at most a cut row, which the next
//! flush cuts off before writing the pending rows again.

use std::io::{Seek, SeekFrom, Write};

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};
use crate::finding::FileReport;
use crate::fsutil::{ensure_private_dir, open_private_rw};
use crate::report::{CSV_HEADER, FindingRecord, csv_row};

/// The CSV rows of a report's findings, as the flush would read them back
/// from SQLite: in the order of member, then byte offset.
pub(super) fn rows_of(report: &FileReport, show_values: bool) -> Vec<u8> {
    let mut findings: Vec<_> = report.findings().iter().collect();
    findings.sort_by(|a, b| (&a.member, a.byte_start).cmp(&(&b.member, b.byte_start)));
    let mut out = Vec::new();
    for f in findings {
        csv_row(
            &mut out,
            &FindingRecord::new(report, f, show_values).csv_cells(),
        );
    }
    out
}

impl Store {
    /// Appends the rows of every file marked pending to the CSV, exactly once.
    pub fn flush_csv(&mut self) -> Result<(), StoreError> {
        let pending: Vec<(i64, i64)> = {
            let mut stmt = self
                .conn
                .prepare_cached(
                    "SELECT id, scans FROM files WHERE csv_pending = 1 ORDER BY scanned_at, id",
                )
                .map_err(self.sql_err())?;
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
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
            self.csv_rows.clear();
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
        for &(id, scans) in &pending {
            match self.csv_rows.get(&id) {
                Some((at, rows)) if *at == scans => buf.extend_from_slice(rows),
                // A file that only grew: the rows past where it was last written.
                _ => {
                    for rec in
                        self.records_where("f.id = ?1 AND x.byte_end > f.csv_after", &[&id])?
                    {
                        csv_row(&mut buf, &rec.csv_cells());
                    }
                }
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
            for (id, _) in &pending {
                done.execute([id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        self.csv_rows.clear();
        Ok(())
    }
}
