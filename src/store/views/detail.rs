//! One file, the alerts and the baselines, as the dashboard shows them.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use std::time::{Duration, UNIX_EPOCH};

use super::{FILE_COLUMNS, FileRow, Views, file_row, text_path, time};
use crate::store::StoreError;

/// Intervals shown per subject.
const RECENT_INTERVALS: i64 = 96;

/// One file: what the file page shows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FileDetail {
    #[serde(flatten)]
    pub file: FileRow,
    pub size: u64,
    pub sha256: Option<String>,
    pub status: String,
    pub error: Option<String>,
    pub scans: u64,
    pub engine: String,
    pub items: Vec<FindingRow>,
    pub alerts: Vec<AlertRow>,
    pub quarantines: Vec<QuarantineRow>,
}

/// A finding, masked.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FindingRow {
    pub detector: String,
    pub kind: Option<String>,
    pub confidence: String,
    /// Always the masked value.
    pub masked: String,
    pub line: u64,
    pub byte_start: u64,
    pub byte_end: u64,
    pub member: Option<String>,
}

/// An alert and how its delivery went.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AlertRow {
    pub id: i64,
    pub sink: String,
    pub path: Option<String>,
    pub created_at: String,
    /// `delivered`, `given up`, `retrying` or `pending`.
    pub state: String,
    pub attempts: u64,
    pub last_error: Option<String>,
    /// What the sink made of it (a Jira issue key).
    pub receipt: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QuarantineRow {
    pub id: i64,
    pub state: String,
    pub at: String,
    pub restored_at: Option<String>,
    pub error: Option<String>,
}

/// A subject's baseline with its recent intervals.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SubjectView {
    pub subject: String,
    pub mean: f64,
    pub band: Option<f64>,
    pub intervals: u64,
    /// Closed intervals, oldest first.
    pub recent: Vec<IntervalRow>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IntervalRow {
    pub start: String,
    pub count: u64,
    pub mean: Option<f64>,
    pub band: Option<f64>,
    pub anomaly: bool,
}

impl Views {
    /// One file with its findings (masked), alerts and quarantine records.
    pub fn file(&self, id: i64) -> Result<Option<FileDetail>, StoreError> {
        let sql = format!(
            "SELECT {FILE_COLUMNS}, size, sha256, status, error, scans, engine, path FROM files WHERE id = ?1"
        );
        let row = self
            .conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_row([id], |r| {
                    let detail = FileDetail {
                        file: file_row(r)?,
                        size: r.get::<_, i64>(8)? as u64,
                        sha256: r.get(9)?,
                        status: r.get(10)?,
                        error: r.get(11)?,
                        scans: r.get::<_, i64>(12)? as u64,
                        engine: r.get(13)?,
                        items: Vec::new(),
                        alerts: Vec::new(),
                        quarantines: Vec::new(),
                    };
                    Ok((detail, r.get::<_, Vec<u8>>(14)?))
                })
                .optional()
            })
            .map_err(self.err())?;
        let Some((mut d, path)) = row else {
            return Ok(None);
        };
        d.items = self
            .conn
            .prepare_cached(
                "SELECT detector, kind, confidence, redacted_finding, line_start, byte_start, byte_end, member
                 FROM findings WHERE file_id = ?1 ORDER BY member, byte_start LIMIT 1000",
            )
            .and_then(|mut s| {
                s.query_map([id], |r| {
                    Ok(FindingRow {
                        detector: r.get(0)?,
                        kind: r.get(1)?,
                        confidence: r.get(2)?,
                        masked: r.get(3)?,
                        line: r.get::<_, i64>(4)? as u64,
                        byte_start: r.get::<_, i64>(5)? as u64,
                        byte_end: r.get::<_, i64>(6)? as u64,
                        member: r.get(7)?,
                    })
                })?
                .collect()
            })
            .map_err(self.err())?;
        d.alerts = self.alert_rows("WHERE path = ?1", Some(&path), 100)?;
        d.quarantines = self
            .conn
            .prepare_cached(
                "SELECT id, state, at, restored_at, error FROM quarantine WHERE path = ?1 ORDER BY id DESC LIMIT 100",
            )
            .and_then(|mut s| {
                s.query_map([&path], |r| {
                    Ok(QuarantineRow {
                        id: r.get(0)?,
                        state: r.get(1)?,
                        at: time(r.get(2)?),
                        restored_at: r.get::<_, Option<i64>>(3)?.map(time),
                        error: r.get(4)?,
                    })
                })?
                .collect()
            })
            .map_err(self.err())?;
        Ok(Some(d))
    }

    /// The newest alerts, at most `n`.
    pub fn alerts(&self, n: usize) -> Result<Vec<AlertRow>, StoreError> {
        self.alert_rows("", None, n)
    }

    /// Alerts matching `filter` (on `?1`, `arg`), newest first.
    fn alert_rows(
        &self,
        filter: &str,
        arg: Option<&[u8]>,
        n: usize,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let sql = format!(
            "SELECT id, sink, path, created_at, delivered_at, gave_up, attempts, last_error, receipt
             FROM alerts {filter} ORDER BY id DESC LIMIT ?2"
        );
        self.conn
            .prepare_cached(&sql)
            .and_then(|mut s| {
                s.query_map(params![arg, n as i64], |r| {
                    let attempts = r.get::<_, i64>(6)? as u64;
                    let state = match (r.get::<_, Option<i64>>(4)?, r.get::<_, bool>(5)?) {
                        (Some(_), _) => "delivered",
                        (None, true) => "given up",
                        (None, false) if attempts > 0 => "retrying",
                        (None, false) => "pending",
                    };
                    Ok(AlertRow {
                        id: r.get(0)?,
                        sink: r.get(1)?,
                        path: r.get::<_, Option<Vec<u8>>>(2)?.map(text_path),
                        created_at: time(r.get(3)?),
                        state: state.into(),
                        attempts,
                        last_error: r.get(7)?,
                        receipt: r.get(8)?,
                    })
                })?
                .collect()
            })
            .map_err(self.err())
    }

    /// The anomalies recorded, newest first, at most `n`.
    pub fn anomalies(&self, n: usize) -> Result<Vec<crate::activity::Anomaly>, StoreError> {
        crate::store::activity::anomalies(&self.conn, n).map_err(self.err())
    }

    /// Every subject's baseline with its last intervals.
    pub fn baselines(&self, k: f64, interval_s: u64) -> Result<Vec<SubjectView>, StoreError> {
        let mut out: Vec<SubjectView> = self
            .conn
            .prepare_cached("SELECT subject, mean, var, intervals FROM baselines ORDER BY subject")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    let ewma = crate::activity::Ewma {
                        mean: r.get(1)?,
                        var: r.get(2)?,
                        intervals: r.get::<_, i64>(3)? as u64,
                    };
                    Ok(SubjectView {
                        subject: r.get(0)?,
                        mean: ewma.mean,
                        band: Some(ewma.band(k)),
                        intervals: ewma.intervals,
                        recent: Vec::new(),
                    })
                })?
                .collect()
            })
            .map_err(self.err())?;
        for s in &mut out {
            let recent =
                crate::store::activity::recent(&self.conn, &s.subject, i64::MAX, RECENT_INTERVALS)
                    .map_err(self.err())?;
            s.recent = recent
                .into_iter()
                .map(|i| IntervalRow {
                    start: crate::report::rfc3339(
                        UNIX_EPOCH + Duration::from_secs(i.interval.max(0) as u64 * interval_s),
                    ),
                    count: i.count,
                    mean: i.mean,
                    band: i.band,
                    anomaly: i.anomaly,
                })
                .collect();
        }
        Ok(out)
    }
}
