//! The fleet database's schema, as ordered migrations that
//! `dlpd fleet migrate` runs under an advisory lock; `dlpd_schema`
//! records how many have run.
//!
//! Every row has a natural key made on its endpoint, so a row shipped
//! twice is one row (`ON CONFLICT DO NOTHING`). The tables that grow with
//! the fleet (files, findings, health) are partitioned by month of the
//! endpoint's time; each has a default partition, so a row from a clock far
//! off is kept, not refused. A month's partition is made ahead of time by
//! `dlpd fleet migrate` and by `dlpd fleet serve` once a day; dropping an old
//! month is how a fleet keeps a year.

use std::time::SystemTime;

use tokio_postgres::Client;

use super::{Database, FleetError};

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE hosts (
        host_id     text PRIMARY KEY,
        host_name   text NOT NULL,
        version     text NOT NULL,
        first_seen  timestamptz NOT NULL DEFAULT now(),
        last_seen   timestamptz NOT NULL DEFAULT now(),
        status      text NOT NULL DEFAULT 'unknown',   -- ok, degraded
        health      jsonb,                              -- the last health event's dlpd.health
        -- Rows this host has added (copies dropped by their keys are not
        -- counted), kept by each batch's transaction: a fleet's counts
        -- without scanning a year of findings.
        files       bigint NOT NULL DEFAULT 0,
        findings    bigint NOT NULL DEFAULT 0,
        anomalies   bigint NOT NULL DEFAULT 0,
        actions     bigint NOT NULL DEFAULT 0
    );

    -- One row per scan of a file with findings, not fully scanned, or
    -- cleaned of the findings it had.
    CREATE TABLE files (
        id             uuid NOT NULL,
        at             timestamptz NOT NULL,            -- when the endpoint scanned it
        received_at    timestamptz NOT NULL DEFAULT now(),
        host_id        text NOT NULL,
        path           text NOT NULL,
        sha256         text,
        size           bigint NOT NULL,
        status         text NOT NULL,                   -- scanned, skipped, failed
        error          text,
        findings       integer NOT NULL,
        detectors      jsonb NOT NULL,                  -- {"CREDIT_CARD_NUMBER": 10}
        top_confidence text,
        exposure       text NOT NULL,
        PRIMARY KEY (id, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX files_host_at ON files (host_id, at DESC);
    CREATE INDEX files_at ON files (at DESC) WHERE findings > 0;
    CREATE TABLE files_default PARTITION OF files DEFAULT;

    CREATE TABLE findings (
        id          uuid NOT NULL,
        at          timestamptz NOT NULL,               -- its file's scan
        received_at timestamptz NOT NULL DEFAULT now(),
        host_id     text NOT NULL,
        path        text NOT NULL,
        sha256      text,
        member      text,                               -- inside an archive
        detector    text NOT NULL,
        kind        text NOT NULL,                      -- the secret's family, or the detector
        confidence  text NOT NULL,
        finding     text NOT NULL,                      -- masked
        value_hash  text,                               -- keyed by the fleet key; NULL without one
        byte_start  bigint NOT NULL,
        byte_end    bigint NOT NULL,
        line        bigint NOT NULL,
        exposure    text NOT NULL,
        PRIMARY KEY (id, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX findings_host_at ON findings (host_id, at);
    CREATE INDEX findings_detector_at ON findings (detector, at);
    CREATE INDEX findings_value_hash ON findings (value_hash) WHERE value_hash IS NOT NULL;
    CREATE TABLE findings_default PARTITION OF findings DEFAULT;

    CREATE TABLE anomalies (
        host_id    text NOT NULL,
        subject    text NOT NULL,                       -- root:…, uid:…, exposure:…
        interval   bigint NOT NULL,
        at         timestamptz NOT NULL,                -- the interval's start
        interval_s bigint NOT NULL,
        count      bigint NOT NULL,
        mean       double precision NOT NULL,
        band       double precision NOT NULL,
        PRIMARY KEY (host_id, subject, interval)
    );
    CREATE INDEX anomalies_at ON anomalies (at DESC);

    CREATE TABLE actions (
        id       uuid PRIMARY KEY,
        at       timestamptz NOT NULL,
        host_id  text NOT NULL,
        action   text NOT NULL,                         -- quarantine, restore
        state    text NOT NULL,                         -- quarantined, restored, failed
        path     text NOT NULL,
        sha256   text NOT NULL,
        error    text
    );
    CREATE INDEX actions_host_at ON actions (host_id, at);

    CREATE TABLE health (
        id      uuid NOT NULL,
        at      timestamptz NOT NULL,
        host_id text NOT NULL,
        status  text NOT NULL,
        body    jsonb NOT NULL,
        PRIMARY KEY (id, at)
    ) PARTITION BY RANGE (at);
    CREATE INDEX health_host_at ON health (host_id, at DESC);
    CREATE TABLE health_default PARTITION OF health DEFAULT;
"#];

/// The schema version this dlpd writes.
pub const VERSION: i32 = MIGRATIONS.len() as i32;

/// The tables partitioned by month.
const PARTITIONED: [&str; 3] = ["files", "findings", "health"];

/// Months made ahead by a migrate, and kept ahead by `fleet serve`.
const MONTHS_AHEAD: i64 = 3;

/// Runs the migrations not yet run, in one transaction under an advisory
/// lock, then makes the coming months' partitions. Returns the versions
/// before and after.
pub async fn migrate(db: &Database, client: &mut Client) -> Result<(i32, i32), FleetError> {
    let sql = db.sql();
    let tx = client.transaction().await.map_err(&sql)?;
    // Two migrates at once: the second waits, then finds nothing to do.
    tx.execute("SELECT pg_advisory_xact_lock(7046469001)", &[])
        .await
        .map_err(&sql)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS dlpd_schema (version integer NOT NULL)")
        .await
        .map_err(&sql)?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM dlpd_schema", &[])
        .await
        .map_err(&sql)?
        .map(|r| r.get(0));
    let from = found.unwrap_or(0);
    if from > VERSION {
        return Err(FleetError::Schema {
            target: db.target.clone(),
            found: from,
            needed: VERSION,
        });
    }
    for m in &MIGRATIONS[from as usize..] {
        tx.batch_execute(m).await.map_err(&sql)?;
    }
    match found {
        Some(_) => tx.execute("UPDATE dlpd_schema SET version = $1", &[&VERSION]),
        None => tx.execute("INSERT INTO dlpd_schema (version) VALUES ($1)", &[&VERSION]),
    }
    .await
    .map_err(&sql)?;
    tx.commit().await.map_err(&sql)?;
    ensure_partitions(db, client, SystemTime::now()).await?;
    Ok((from, VERSION))
}

/// Fails unless the database has this dlpd's schema (or a newer one,
/// which only adds).
pub async fn check(db: &Database, client: &Client) -> Result<(), FleetError> {
    let found: i32 = match client
        .query_opt("SELECT version FROM dlpd_schema", &[])
        .await
    {
        Ok(row) => row.map_or(0, |r| r.get(0)),
        // No table yet: never migrated.
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => 0,
        Err(e) => return Err(db.sql()(e)),
    };
    if found < VERSION {
        return Err(FleetError::Schema {
            target: db.target.clone(),
            found,
            needed: VERSION,
        });
    }
    Ok(())
}

/// Makes the monthly partitions from last month to [`MONTHS_AHEAD`]
/// ahead. A month whose rows already sit in the default partition (a
/// partition made late) is left there, and logged.
pub async fn ensure_partitions(
    db: &Database,
    client: &Client,
    now: SystemTime,
) -> Result<(), FleetError> {
    let (year, month) = year_month(now);
    for step in -1..=MONTHS_AHEAD {
        let (y, m) = add_months(year, month, step);
        let (ny, nm) = add_months(year, month, step + 1);
        for table in PARTITIONED {
            let sql = format!(
                "CREATE TABLE IF NOT EXISTS {table}_{y:04}_{m:02} PARTITION OF {table}
                 FOR VALUES FROM ('{y:04}-{m:02}-01 00:00:00+00') TO ('{ny:04}-{nm:02}-01 00:00:00+00')"
            );
            if let Err(e) = client.batch_execute(&sql).await {
                // Rows of that month already in the default partition.
                if e.code() == Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION) {
                    tracing::warn!(
                        "fleet: {table} rows of {y:04}-{m:02} sit in {table}_default; that month stays there"
                    );
                    continue;
                }
                // Another process made it at the same moment.
                if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_TABLE)
                    || e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
                {
                    continue;
                }
                return Err(db.sql()(e));
            }
        }
    }
    Ok(())
}

/// The UTC year and month of `t`.
fn year_month(t: SystemTime) -> (i64, i64) {
    let days = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 86_400) as i64;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

fn add_months(year: i64, month: i64, n: i64) -> (i64, i64) {
    let total = year * 12 + (month - 1) + n;
    (total.div_euclid(12), total.rem_euclid(12) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn months_are_utc_calendar_months() {
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(year_month(at(0)), (1970, 1));
        // 2026-12-03T09:00:00Z and 2024-02-29T23:59:59Z.
        assert_eq!(year_month(at(1_796_288_400)), (2026, 12));
        assert_eq!(year_month(at(1_709_251_199)), (2024, 2));
        assert_eq!(add_months(2026, 12, 1), (2027, 1));
        assert_eq!(add_months(2026, 1, -1), (2025, 12));
    }
}
