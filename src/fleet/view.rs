//! What `dlpd fleet serve` shows, read from the fleet database: the
//! machines, recent file records with findings across them, values seen
//! on several machines, and anomalies. Counts come from the hosts' own
//! counters (kept by each batch's transaction), so the overview never
//! scans a year of findings; the two aggregates over the last month
//! (findings by detector, shared values) are kept for a minute; lists
//! read the newest rows through the time indexes, a page at a time; and
//! no statement runs longer than 15 s.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Mutex;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{Database, FleetError};

/// Rows per page of a list.
pub const PAGE: i64 = 50;
/// Days of findings the per-detector counts and shared values look at.
pub const RECENT_DAYS: i32 = 30;

/// How long the aggregates over recent findings are kept: a page polls
/// every 5 s, and they read a month of rows.
const CACHED_FOR: Duration = Duration::from_secs(60);

/// The fleet database, through one connection made again when it drops.
pub struct FleetView {
    db: Database,
    client: Mutex<Option<Client>>,
    by_detector: Cache<Vec<(String, i64)>>,
    shared: Cache<Vec<SharedValue>>,
}

type Cache<T> = std::sync::Mutex<Option<(Instant, T)>>;

/// `slot`'s value while fresh, else `make`'s, kept.
async fn cached<T: Clone>(
    slot: &Cache<T>,
    make: impl std::future::Future<Output = Result<T, FleetError>>,
) -> Result<T, FleetError> {
    if let Some((at, v)) = &*slot.lock().unwrap_or_else(|e| e.into_inner())
        && at.elapsed() < CACHED_FOR
    {
        return Ok(v.clone());
    }
    let v = make.await?;
    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), v.clone()));
    Ok(v)
}

#[derive(Debug, Serialize)]
pub struct FleetOverview {
    pub machines: i64,
    /// Seen in the last hour, and those whose last health was not ok.
    pub machines_seen_hour: i64,
    pub machines_degraded: i64,
    pub files: i64,
    pub findings: i64,
    pub anomalies: i64,
    pub actions: i64,
    /// Findings per detector in the last [`RECENT_DAYS`] days.
    pub by_detector: Vec<(String, i64)>,
    pub recent_anomalies: Vec<AnomalyRow>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub host_id: String,
    pub host_name: String,
    pub version: String,
    pub first_seen: String,
    pub last_seen: String,
    pub status: String,
    pub problems: Vec<String>,
    pub events_pending: i64,
    pub events_dropped: i64,
    pub files: i64,
    pub findings: i64,
    pub anomalies: i64,
    pub actions: i64,
}

#[derive(Debug, Serialize)]
pub struct FileRow {
    pub host_id: String,
    pub path: String,
    pub sha256: Option<String>,
    pub findings: i32,
    pub detectors: serde_json::Value,
    pub top_confidence: Option<String>,
    pub exposure: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SharedValue {
    /// The first 16 hex digits of the fleet hash: enough to tell apart.
    pub value: String,
    pub detector: String,
    /// One masked copy.
    pub finding: String,
    pub machines: i64,
    pub hosts: Vec<String>,
    pub files: i64,
    pub last_seen: String,
}

#[derive(Debug, Serialize)]
pub struct AnomalyRow {
    pub host_id: String,
    pub subject: String,
    pub at: String,
    pub interval_s: i64,
    pub count: i64,
    pub mean: f64,
    pub band: f64,
}

/// A filter on the files list.
#[derive(Debug, Default, Clone)]
pub struct FilesFilter {
    pub host: Option<String>,
    pub detector: Option<String>,
    pub page: i64,
}

#[derive(Debug, Serialize)]
pub struct FilesPage {
    pub files: Vec<FileRow>,
    pub page: i64,
    pub more: bool,
}

/// `timestamptz` as RFC 3339 text, by the database.
const TS: &str = r#"to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')"#;

fn number(text: Option<&str>) -> i64 {
    text.and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn ts(column: &str) -> String {
    TS.replace("{}", column)
}

impl FleetView {
    pub fn new(db: Database) -> FleetView {
        FleetView {
            db,
            client: Mutex::new(None),
            by_detector: Default::default(),
            shared: Default::default(),
        }
    }

    pub fn target(&self) -> &str {
        &self.db.target
    }

    /// Runs `sql`, connecting (again) first when needed.
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, FleetError> {
        let mut client = self.client.lock().await;
        if client.as_ref().is_none_or(Client::is_closed) {
            let fresh = self.db.connect().await?;
            super::schema::check(&self.db, &fresh).await?;
            // No page may hold the one connection for long.
            fresh
                .batch_execute("SET statement_timeout = '15s'")
                .await
                .map_err(self.db.sql())?;
            *client = Some(fresh);
        }
        let c = client.as_ref().expect("connected above");
        match c.query(sql, params).await {
            Ok(rows) => Ok(rows),
            Err(e) => {
                if c.is_closed() {
                    *client = None;
                }
                Err(self.db.sql()(e))
            }
        }
    }

    pub async fn overview(&self) -> Result<FleetOverview, FleetError> {
        let totals = self
            .query(
                "SELECT count(*), count(*) FILTER (WHERE last_seen > now() - interval '1 hour'),
                        count(*) FILTER (WHERE status <> 'ok'),
                        coalesce(sum(files), 0)::bigint, coalesce(sum(findings), 0)::bigint,
                        coalesce(sum(anomalies), 0)::bigint, coalesce(sum(actions), 0)::bigint
                 FROM hosts",
                &[],
            )
            .await?;
        let t = &totals[0];
        let by_detector = cached(&self.by_detector, async {
            Ok(self
                .query(
                    "SELECT detector, count(*) FROM findings
                     WHERE at > now() - make_interval(days => $1) GROUP BY detector ORDER BY 2 DESC, 1",
                    &[&RECENT_DAYS],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect())
        })
        .await?;
        Ok(FleetOverview {
            machines: t.get(0),
            machines_seen_hour: t.get(1),
            machines_degraded: t.get(2),
            files: t.get(3),
            findings: t.get(4),
            anomalies: t.get(5),
            actions: t.get(6),
            by_detector,
            recent_anomalies: self.anomalies(10).await?,
        })
    }

    pub async fn machines(&self) -> Result<Vec<Machine>, FleetError> {
        let sql = format!(
            "SELECT host_id, host_name, version, {}, {}, status,
                    coalesce(health->'problems', '[]'::jsonb)::text,
                    health->>'events_pending', health->>'events_dropped',
                    files, findings, anomalies, actions
             FROM hosts ORDER BY status <> 'ok' DESC, last_seen DESC, host_id LIMIT 5000",
            ts("first_seen"),
            ts("last_seen")
        );
        Ok(self
            .query(&sql, &[])
            .await?
            .iter()
            .map(|r| Machine {
                host_id: r.get(0),
                host_name: r.get(1),
                version: r.get(2),
                first_seen: r.get(3),
                last_seen: r.get(4),
                status: r.get(5),
                // What a machine wrote: parsed here, so a malformed value
                // costs its own cell, not the page.
                problems: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                events_pending: number(r.get(7)),
                events_dropped: number(r.get(8)),
                files: r.get(9),
                findings: r.get(10),
                anomalies: r.get(11),
                actions: r.get(12),
            })
            .collect())
    }

    /// File records with findings, newest first.
    pub async fn files(&self, f: &FilesFilter) -> Result<FilesPage, FleetError> {
        let sql = format!(
            "SELECT host_id, path, sha256, findings, detectors::text, top_confidence, exposure, {}
             FROM files
             WHERE findings > 0 AND ($1::text IS NULL OR host_id = $1) AND ($2::text IS NULL OR detectors ? $2)
             ORDER BY at DESC, id LIMIT $3 OFFSET $4",
            ts("at")
        );
        let page = f.page.max(0);
        let rows = self
            .query(&sql, &[&f.host, &f.detector, &(PAGE + 1), &(page * PAGE)])
            .await?;
        let more = rows.len() as i64 > PAGE;
        Ok(FilesPage {
            files: rows
                .iter()
                .take(PAGE as usize)
                .map(|r| FileRow {
                    host_id: r.get(0),
                    path: r.get(1),
                    sha256: r.get(2),
                    findings: r.get(3),
                    detectors: serde_json::from_str(r.get::<_, &str>(4)).unwrap_or_default(),
                    top_confidence: r.get(5),
                    exposure: r.get(6),
                    at: r.get(7),
                })
                .collect(),
            page,
            more,
        })
    }

    /// Values (by fleet hash) found on more than one machine in the last
    /// [`RECENT_DAYS`] days, most machines first.
    pub async fn shared_values(&self) -> Result<Vec<SharedValue>, FleetError> {
        cached(&self.shared, self.shared_values_now()).await
    }

    async fn shared_values_now(&self) -> Result<Vec<SharedValue>, FleetError> {
        let sql = format!(
            "SELECT value_hash, min(detector), min(finding), count(DISTINCT host_id),
                    (array_agg(DISTINCT host_id))[1:10], count(DISTINCT (host_id, path)), {}
             FROM findings
             WHERE value_hash IS NOT NULL AND at > now() - make_interval(days => $1)
             GROUP BY value_hash HAVING count(DISTINCT host_id) > 1
             ORDER BY 4 DESC, 1 LIMIT 200",
            ts("max(at)")
        );
        Ok(self
            .query(&sql, &[&RECENT_DAYS])
            .await?
            .iter()
            .map(|r| SharedValue {
                value: r.get::<_, String>(0).chars().take(16).collect(),
                detector: r.get(1),
                finding: r.get(2),
                machines: r.get(3),
                hosts: r.get(4),
                files: r.get(5),
                last_seen: r.get(6),
            })
            .collect())
    }

    /// The newest `n` anomalies across the fleet.
    pub async fn anomalies(&self, n: i64) -> Result<Vec<AnomalyRow>, FleetError> {
        let sql = format!(
            "SELECT host_id, subject, {}, interval_s, count, mean, band
             FROM anomalies ORDER BY at DESC, host_id, subject LIMIT $1",
            ts("at")
        );
        Ok(self
            .query(&sql, &[&n])
            .await?
            .iter()
            .map(|r| AnomalyRow {
                host_id: r.get(0),
                subject: r.get(1),
                at: r.get(2),
                interval_s: r.get(3),
                count: r.get(4),
                mean: r.get(5),
                band: r.get(6),
            })
            .collect())
    }
}
