//! The endpoint's side: the outbox's events, in batches, into the fleet
//! database, each batch in one transaction, then the outbox cursor moved.
//! A crash between the two sends the batch again, and the database drops
//! the copies by their keys (`ON CONFLICT DO NOTHING`), so every row
//! arrives exactly once. While the database is down the events wait in
//! the outbox, and connecting is retried with backoff.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use super::{CONSUMER, Database, schema};
use crate::shutdown::Shutdown;
use crate::store::EventLog;

/// First and longest wait between tries while the database is down.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));

/// How long an idle connection is kept.
const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// A table's columns: name, the SQL that turns its text into the
/// column's type (`$` is the text), and where the event holds it.
type Spec = &'static [(&'static str, &'static str, &'static str)];

const FINDINGS: Spec = &[
    ("id", "$::uuid", "/event/id"),
    ("at", "$::timestamptz", "/@timestamp"),
    ("host_id", "$", "/host/id"),
    ("path", "$", "/file/path"),
    ("sha256", "$", "/file/hash/sha256"),
    ("member", "$", "/dlpd/member"),
    ("detector", "$", "/rule/name"),
    ("kind", "$", "/rule/id"),
    ("confidence", "$", "/dlpd/confidence"),
    ("finding", "$", "/dlpd/finding"),
    ("value_hash", "$", "/dlpd/value_hash"),
    ("byte_start", "$::bigint", "/dlpd/byte_start"),
    ("byte_end", "$::bigint", "/dlpd/byte_end"),
    ("line", "$::bigint", "/dlpd/line"),
    ("exposure", "$", "/dlpd/exposure"),
];

const FILES: Spec = &[
    ("id", "$::uuid", "/event/id"),
    ("at", "$::timestamptz", "/@timestamp"),
    ("host_id", "$", "/host/id"),
    ("path", "$", "/file/path"),
    ("sha256", "$", "/file/hash/sha256"),
    ("size", "$::bigint", "/file/size"),
    ("status", "$", "/dlpd/status"),
    ("error", "$", "/dlpd/error"),
    ("findings", "$::integer", "/dlpd/findings"),
    ("detectors", "$::jsonb", "/dlpd/detectors"),
    ("top_confidence", "$", "/dlpd/top_confidence"),
    ("exposure", "$", "/dlpd/exposure"),
];

const ANOMALIES: Spec = &[
    ("host_id", "$", "/host/id"),
    ("subject", "$", "/dlpd/anomaly/subject"),
    ("interval", "$::bigint", "/dlpd/anomaly/interval"),
    ("at", "$::timestamptz", "/@timestamp"),
    ("interval_s", "$::bigint", "/dlpd/anomaly/interval_s"),
    ("count", "$::bigint", "/dlpd/anomaly/count"),
    ("mean", "$::float8", "/dlpd/anomaly/mean"),
    ("band", "$::float8", "/dlpd/anomaly/band"),
];

const ACTIONS: Spec = &[
    ("id", "$::uuid", "/event/id"),
    ("at", "$::timestamptz", "/@timestamp"),
    ("host_id", "$", "/host/id"),
    ("action", "$", "/event/action"),
    ("state", "$", "/dlpd/quarantine/state"),
    ("path", "$", "/file/path"),
    ("sha256", "$", "/file/hash/sha256"),
    ("error", "$", "/dlpd/quarantine/error"),
];

const HEALTH: Spec = &[
    ("id", "$::uuid", "/event/id"),
    ("at", "$::timestamptz", "/@timestamp"),
    ("host_id", "$", "/host/id"),
    ("status", "$", "/dlpd/health/status"),
    ("body", "$::jsonb", "/dlpd/health"),
];

/// Each event dataset's table.
const TABLES: [(&str, &str, Spec); 5] = [
    ("dlpd.finding", "findings", FINDINGS),
    ("dlpd.file", "files", FILES),
    ("dlpd.anomaly", "anomalies", ANOMALIES),
    ("dlpd.action", "actions", ACTIONS),
    ("dlpd.health", "health", HEALTH),
];

/// The statement inserting a batch of `spec` rows, one text array per
/// column.
fn insert_sql(table: &str, spec: Spec) -> String {
    let cols: Vec<&str> = spec.iter().map(|c| c.0).collect();
    let arrays: Vec<String> = (1..=spec.len()).map(|i| format!("${i}::text[]")).collect();
    let names: Vec<String> = (1..=spec.len()).map(|i| format!("c{i}")).collect();
    let casts: Vec<String> = spec
        .iter()
        .enumerate()
        .map(|(i, c)| c.1.replace('$', &format!("c{}", i + 1)))
        .collect();
    format!(
        "INSERT INTO {table} ({}) SELECT {} FROM unnest({}) AS t({}) ON CONFLICT DO NOTHING",
        cols.join(", "),
        casts.join(", "),
        arrays.join(", "),
        names.join(", ")
    )
}

/// A JSON value as the text PostgreSQL casts: strings as they are, the
/// rest as JSON; null and missing as NULL. PostgreSQL's text and jsonb
/// cannot hold NUL (a masked value from a binary file may), so it becomes
/// U+FFFD rather than costing the row.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.replace('\0', "\u{FFFD}")),
        other => Some(other.to_string().replace("\\u0000", "\\ufffd")),
    }
}

/// A batch sorted into its tables' columns.
#[derive(Default)]
struct Batch {
    columns: [Vec<Vec<Option<String>>>; 5],
    /// This host, from the batch's events: id, name, version.
    host: Option<(String, String, String)>,
    /// The newest health: status and body.
    health: Option<(String, String)>,
}

impl Batch {
    fn add(&mut self, event: &Value) {
        let dataset = event.pointer("/event/dataset").and_then(Value::as_str);
        let Some(t) = TABLES.iter().position(|(d, _, _)| Some(*d) == dataset) else {
            return;
        };
        let spec = TABLES[t].2;
        let columns = &mut self.columns[t];
        if columns.is_empty() {
            columns.resize(spec.len(), Vec::new());
        }
        for (col, (_, _, pointer)) in columns.iter_mut().zip(spec) {
            col.push(text(event.pointer(pointer)));
        }
        if self.host.is_none() {
            let s = |p| text(event.pointer(p)).unwrap_or_default();
            self.host = Some((s("/host/id"), s("/host/name"), s("/agent/version")));
        }
        if TABLES[t].0 == "dlpd.health" {
            let status = text(event.pointer("/dlpd/health/status")).unwrap_or_default();
            let body = text(event.pointer("/dlpd/health")).unwrap_or_default();
            self.health = Some((status, body));
        }
    }

    /// Writes the batch in one transaction, with the host's row and its
    /// counts of rows added.
    async fn write(&self, client: &mut Client) -> Result<(), tokio_postgres::Error> {
        let tx = client.transaction().await?;
        let mut added = [0i64; 5];
        for (((_, table, spec), columns), added) in TABLES.iter().zip(&self.columns).zip(&mut added)
        {
            if columns.is_empty() {
                continue;
            }
            let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = columns
                .iter()
                .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
                .collect();
            *added = tx.execute(&insert_sql(table, spec), &params).await? as i64;
        }
        if let Some((id, name, version)) = &self.host {
            let (status, health) = match &self.health {
                Some((s, h)) => (Some(s.as_str()), Some(h.as_str())),
                None => (None, None),
            };
            let [findings, files, anomalies, actions, _] = added;
            tx.execute(
                "INSERT INTO hosts (host_id, host_name, version, status, health, findings, files, anomalies, actions)
                 VALUES ($1, $2, $3, coalesce($4, 'unknown'), $5::text::jsonb, $6, $7, $8, $9)
                 ON CONFLICT (host_id) DO UPDATE SET host_name = $2, version = $3, last_seen = now(),
                   status = coalesce($4, hosts.status), health = coalesce($5::text::jsonb, hosts.health),
                   findings = hosts.findings + $6, files = hosts.files + $7,
                   anomalies = hosts.anomalies + $8, actions = hosts.actions + $9",
                &[id, name, version, &status, &health, &findings, &files, &anomalies, &actions],
            )
            .await?;
        }
        tx.commit().await
    }
}

/// Whether an error is the rows' (the server refused them: a constraint,
/// a value, a row too large for an index), not the connection's or the
/// server's state: sending them again would fail again.
fn refused(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| {
        // Connection, transaction rollback (serialization, deadlock),
        // resources, operator intervention (shutdown), system errors.
        let transient = ["08", "40", "53", "55", "57", "58", "XX"];
        *db.code() != SqlState::UNIQUE_VIOLATION
            && !transient.iter().any(|c| db.code().code().starts_with(c))
    })
}

/// Ships the outbox's events until a stop is asked for. Runs on a
/// multi-thread runtime (its SQLite calls step off the async worker). `wake` changes
/// when events are stored.
pub async fn ship(
    db_path: PathBuf,
    db: Database,
    batch: u32,
    mut wake: watch::Receiver<()>,
    shutdown: Shutdown,
) {
    let mut log = match EventLog::open(&db_path, CONSUMER) {
        Ok(log) => log,
        Err(e) => return tracing::error!("fleet: {e}; events stay queued"),
    };
    let mut client: Option<Client> = None;
    let mut failures = 0u32;
    // One at a time after the database refused a batch, to find the row.
    let mut single = false;
    while !shutdown.is_requested() {
        let wait = match pass(&db, &mut log, &mut client, if single { 1 } else { batch }).await {
            Ok(0) => None,
            Ok(n) => {
                if failures > 0 {
                    tracing::info!(target = %db.target, shipped = n, "fleet database reachable again");
                }
                failures = 0;
                single = false;
                continue;
            }
            Err(Failure::Refused(id, why)) if single => {
                tracing::error!(target = %db.target, id, "fleet database refused an event ({why}); it is skipped");
                if let Err(e) = tokio::task::block_in_place(|| log.taken(id)) {
                    tracing::warn!("fleet: {e}");
                }
                continue;
            }
            Err(Failure::Refused(_, _)) => {
                single = true;
                continue;
            }
            Err(Failure::Down(why)) => {
                client = None;
                let wait = crate::backoff::jittered(BACKOFF.0, BACKOFF.1, failures);
                if failures == 0 {
                    tracing::error!(target = %db.target, "fleet database unavailable ({why}); events wait in the outbox and are tried again with backoff");
                } else {
                    tracing::debug!(target = %db.target, attempts = failures + 1, "fleet database still unavailable ({why})");
                }
                failures += 1;
                Some(wait)
            }
        };
        // Idle, the connection is let go after a while: a fleet of
        // thousands must not hold a server connection per machine.
        let idle = wait.is_none() && client.is_some();
        tokio::select! {
            () = crate::store::woken(&mut wake), if wait.is_none() => {}
            () = tokio::time::sleep(wait.unwrap_or(IDLE_CLOSE)), if wait.is_some() || idle => {
                if idle {
                    client = None;
                }
            }
            () = shutdown.requested() => return,
        }
    }
}

enum Failure {
    /// The database refused the rows: the last event's id, and why.
    Refused(i64, String),
    /// Not reachable, or not ready.
    Down(String),
}

/// Ships the next batch of up to `n` events; returns how many. (`&mut`:
/// the connection is not `Sync`, and the future must be `Send`.)
async fn pass(
    db: &Database,
    log: &mut EventLog,
    client: &mut Option<Client>,
    n: u32,
) -> Result<usize, Failure> {
    // SQLite may wait on the keeper's write: not on an async worker.
    let events = tokio::task::block_in_place(|| log.next(n as usize))
        .map_err(|e| Failure::Down(e.to_string()))?;
    let Some(&(last, _)) = events.last() else {
        return Ok(0);
    };
    if client.as_ref().is_none_or(Client::is_closed) {
        let fresh = db
            .connect()
            .await
            .map_err(|e| Failure::Down(e.to_string()))?;
        schema::check(db, &fresh)
            .await
            .map_err(|e| Failure::Down(e.to_string()))?;
        *client = Some(fresh);
    }
    let mut batch = Batch::default();
    for (_, body) in &events {
        match serde_json::from_str::<Value>(body) {
            Ok(v) => batch.add(&v),
            Err(e) => tracing::error!("fleet: an event in the outbox is not JSON ({e}); skipped"),
        }
    }
    let c = client.as_mut().expect("connected above");
    match batch.write(c).await {
        Ok(()) => {}
        Err(e) if refused(&e) => return Err(Failure::Refused(last, db.sql()(e).to_string())),
        Err(e) => return Err(Failure::Down(db.sql()(e).to_string())),
    }
    tokio::task::block_in_place(|| log.taken(last)).map_err(|e| Failure::Down(e.to_string()))?;
    Ok(events.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_never_reaches_postgresql() {
        let v = serde_json::json!({"s": "a\u{0}b", "o": {"k": "c\u{0}"}});
        assert_eq!(text(v.pointer("/s")).unwrap(), "a\u{FFFD}b");
        assert!(!text(v.pointer("/o")).unwrap().contains("\\u0000"));
        assert_eq!(text(v.pointer("/missing")), None);
    }

    #[test]
    fn a_batch_inserts_every_column_from_text_and_ignores_copies() {
        let sql = insert_sql("anomalies", ANOMALIES);
        assert!(sql.starts_with("INSERT INTO anomalies (host_id, subject, interval, at,"));
        assert!(sql.contains("c3::bigint") && sql.contains("$8::text[]"));
        assert!(sql.ends_with("ON CONFLICT DO NOTHING"));
    }
}
