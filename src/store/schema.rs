//! The SQLite schema, as an ordered list of migrations. `PRAGMA
//! user_version` records how many have run; those still to run run in one
//! write-locked transaction, so a crash mid-migration leaves the previous
//! version and a second process waits instead of racing.

/// Migration `i` takes the schema from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // v1: scanned files, their findings, and small key/value state.
    r#"
    CREATE TABLE files (
        id          INTEGER PRIMARY KEY,
        path        BLOB NOT NULL UNIQUE,   -- the OS path bytes, lossless
        size        INTEGER NOT NULL,
        mtime_ns    INTEGER,
        sha256      TEXT,
        scanned_at  INTEGER NOT NULL,       -- unix milliseconds
        engine      TEXT NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('scanned', 'skipped', 'failed')),
        error       TEXT,
        upload_id   TEXT,
        csv_pending INTEGER NOT NULL DEFAULT 0  -- rows not yet in the CSV
    );
    CREATE INDEX files_scanned_at ON files (scanned_at);
    CREATE INDEX files_csv_pending ON files (csv_pending) WHERE csv_pending = 1;

    CREATE TABLE findings (
        id               INTEGER PRIMARY KEY,
        file_id          INTEGER NOT NULL REFERENCES files (id) ON DELETE CASCADE,
        detector         TEXT NOT NULL,
        confidence       TEXT NOT NULL,
        kind             TEXT,
        finding          TEXT NOT NULL,     -- masked unless output.redact = "none"
        redacted_finding TEXT NOT NULL,     -- always masked
        value_hmac       TEXT NOT NULL,     -- HMAC-SHA256 of the raw value, keyed per install
        before_context   TEXT NOT NULL,
        after_context    TEXT NOT NULL,
        byte_start       INTEGER NOT NULL,
        byte_end         INTEGER NOT NULL,
        line_start       INTEGER NOT NULL,
        line_end         INTEGER NOT NULL
    );
    CREATE INDEX findings_file ON findings (file_id);
    CREATE INDEX findings_value ON findings (value_hmac);

    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value
    );
    "#,
    // v2: the daemon's persistent work queue. A path is queued at most
    // once; a job is deleted in the transaction that stores its result.
    r#"
    CREATE TABLE jobs (
        id          INTEGER PRIMARY KEY,
        path        BLOB NOT NULL UNIQUE,
        enqueued_at INTEGER NOT NULL,       -- unix milliseconds
        attempts    INTEGER NOT NULL DEFAULT 0,
        not_before  INTEGER NOT NULL DEFAULT 0,  -- backoff: unix milliseconds
        running     INTEGER NOT NULL DEFAULT 0,
        rerun       INTEGER NOT NULL DEFAULT 0,  -- changed while running: go again
        last_error  TEXT
    );
    CREATE INDEX jobs_ready ON jobs (running, not_before, id);

    -- How many times each file's result was stored: a file scanned twice
    -- for one change is a bug the tests look for.
    ALTER TABLE files ADD COLUMN scans INTEGER NOT NULL DEFAULT 1;
    "#,
    // v3: the Nightfall engine's uploads awaiting their result. A row is
    // written before the scan is requested, so a result can always be tied
    // to its job, path and content; it goes with the job.
    r#"
    CREATE TABLE uploads (
        upload_id    TEXT PRIMARY KEY,
        job_id       INTEGER NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER,
        sha256       TEXT NOT NULL,
        submitted_at INTEGER NOT NULL       -- unix milliseconds
    );
    CREATE INDEX uploads_submitted ON uploads (submitted_at);
    "#,
    // v4: remediation. Alerts wait here until their sink takes them (one
    // per sink and dedupe key); quarantined files are tracked through
    // every step of their move, so a crash mid-move can be finished.
    r#"
    CREATE TABLE alerts (
        id          INTEGER PRIMARY KEY,
        sink        TEXT NOT NULL,
        dedupe_key  TEXT NOT NULL,
        body        TEXT NOT NULL,          -- the JSON to send; no raw values
        created_at  INTEGER NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        not_before  INTEGER NOT NULL DEFAULT 0,
        last_error  TEXT,
        delivered_at INTEGER,
        gave_up     INTEGER NOT NULL DEFAULT 0,
        UNIQUE (sink, dedupe_key)
    );
    CREATE INDEX alerts_due ON alerts (not_before) WHERE delivered_at IS NULL AND gave_up = 0;

    CREATE TABLE quarantine (
        id          INTEGER PRIMARY KEY,
        path        BLOB NOT NULL,          -- where the file was
        state       TEXT NOT NULL CHECK (state IN ('moving', 'quarantined', 'restored', 'failed')),
        size        INTEGER NOT NULL,
        mode        INTEGER NOT NULL,
        uid         INTEGER NOT NULL,
        gid         INTEGER NOT NULL,
        mtime_ns    INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        stub_sha256 TEXT,
        detectors   TEXT NOT NULL,
        at          INTEGER NOT NULL,       -- unix milliseconds
        restored_at INTEGER,
        error       TEXT
    );
    CREATE INDEX quarantine_path ON quarantine (path);
    "#,
    // v5: findings inside archives name their member.
    r#"
    ALTER TABLE findings ADD COLUMN member TEXT;
    "#,
    // v6: rows and columns of findings in CSV and TSV files.
    r#"
    ALTER TABLE findings ADD COLUMN row_start INTEGER;
    ALTER TABLE findings ADD COLUMN row_end INTEGER;
    ALTER TABLE findings ADD COLUMN column_start INTEGER;
    ALTER TABLE findings ADD COLUMN column_end INTEGER;
    "#,
    // v7: a file that only grew appends only its new findings to the CSV:
    // those ending past this offset (-1: all of them).
    r#"
    ALTER TABLE files ADD COLUMN csv_after INTEGER NOT NULL DEFAULT -1;
    "#,
    // v8: no query looks findings up by value, and the index on the keyed
    // hash, whose keys arrive in random order, was half of what storing a
    // finding cost. A query that needs it will bring it back.
    r#"
    DROP INDEX IF EXISTS findings_value;
    "#,
    // v9: only waiting jobs are looked up by when they are due, so only
    // they are indexed for it: a file a walk hands straight to a worker
    // is inserted running and deleted with its result, and no longer pays
    // for an index entry it never used.
    r#"
    DROP INDEX jobs_ready;
    CREATE INDEX jobs_ready ON jobs (not_before, id) WHERE running = 0;
    "#,
    // v10: what a sink made of a delivered alert (a Jira issue key); and
    // where each file with findings sits; behaviour baselines: events per
    // subject and interval, each subject's moving average, the anomalies. Jobs say whether a walk found their
    // file (not an event) or the watcher did.
    r#"
    ALTER TABLE alerts ADD COLUMN receipt TEXT;
    ALTER TABLE jobs ADD COLUMN walked INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN exposure TEXT;     -- cloud-sync, removable, local
    CREATE TABLE activity (
        subject     TEXT NOT NULL,          -- root:<root>, uid:<n>, exposure:<class>
        interval    INTEGER NOT NULL,       -- whole intervals since the epoch
        count       INTEGER NOT NULL,
        closed      INTEGER NOT NULL DEFAULT 0,
        mean        REAL,                   -- the baseline it was judged against
        band        REAL,
        anomaly     INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (subject, interval)
    ) WITHOUT ROWID;
    CREATE INDEX activity_open ON activity (interval) WHERE closed = 0;
    CREATE TABLE baselines (
        subject       TEXT PRIMARY KEY,
        mean          REAL NOT NULL,
        var           REAL NOT NULL,
        intervals     INTEGER NOT NULL,
        last_interval INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE anomalies (
        id          INTEGER PRIMARY KEY,
        subject     TEXT NOT NULL,
        interval    INTEGER NOT NULL,
        interval_s  INTEGER NOT NULL,
        count       INTEGER NOT NULL,
        mean        REAL NOT NULL,
        band        REAL NOT NULL,
        at          INTEGER NOT NULL,
        UNIQUE (subject, interval)
    );
    "#,
    // v11: what the dashboard lists files by, kept on each file's row so
    // a page of 100,000 files never reads the findings table: how many
    // findings, the highest confidence (1 VERY_UNLIKELY to 5 VERY_LIKELY),
    // and each detector with its count (",CREDIT_CARD_NUMBER:10,API_KEY:1,",
    // `%`, `,` and `:` in a name percent-escaped). Files the watcher saw go
    // (deleted, moved away) say when, and leave the dashboard's lists; their
    // findings stay. Alerts name the file they are about.
    r#"
    ALTER TABLE files ADD COLUMN findings INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE files ADD COLUMN top_confidence INTEGER;
    ALTER TABLE files ADD COLUMN detectors TEXT;
    ALTER TABLE files ADD COLUMN gone_at INTEGER;
    UPDATE files SET
      findings = (SELECT count(*) FROM findings WHERE file_id = files.id),
      top_confidence = (SELECT max(CASE confidence WHEN 'VERY_LIKELY' THEN 5 WHEN 'LIKELY' THEN 4
          WHEN 'POSSIBLE' THEN 3 WHEN 'UNLIKELY' THEN 2 ELSE 1 END) FROM findings WHERE file_id = files.id),
      detectors = (SELECT ',' || group_concat(name || ':' || n, ',') || ','
          FROM (SELECT replace(replace(replace(detector, '%', '%25'), ',', '%2C'), ':', '%3A') AS name, count(*) AS n
                FROM findings WHERE file_id = files.id GROUP BY detector))
    WHERE id IN (SELECT file_id FROM findings);
    CREATE INDEX files_sensitive ON files (scanned_at) WHERE findings > 0 AND gone_at IS NULL;
    CREATE INDEX files_sensitive_path ON files (path) WHERE findings > 0 AND gone_at IS NULL;
    ALTER TABLE alerts ADD COLUMN path BLOB;   -- the file an alert is about
    CREATE INDEX alerts_path ON alerts (path) WHERE path IS NOT NULL;
    "#,
    // v12: the event outbox for the fleet database and the events file
    // (store/events.rs): events in the order they happened, and how far
    // each consumer has taken them.
    r#"
    CREATE TABLE events (
        id    INTEGER PRIMARY KEY AUTOINCREMENT,
        at    INTEGER NOT NULL,                -- unix milliseconds
        body  TEXT NOT NULL                    -- the event's JSON; no raw values
    );
    CREATE TABLE event_cursors (
        consumer TEXT PRIMARY KEY,             -- fleet, export
        last_id  INTEGER NOT NULL
    );
    "#,
    // v13: the same files table with its status check written as
    // comparisons: SQLite evaluates `IN` over three or more constants
    // through a b-tree it builds and drops on every insert and update,
    // a sixth of the keeper's time in a first scan. Rebuilt the way
    // SQLite's documentation gives (foreign keys are on only after
    // migrating, so dropping the old table takes no findings with it).
    r#"
    CREATE TABLE files_v13 (
        id             INTEGER PRIMARY KEY,
        path           BLOB NOT NULL UNIQUE,
        size           INTEGER NOT NULL,
        mtime_ns       INTEGER,
        sha256         TEXT,
        scanned_at     INTEGER NOT NULL,
        engine         TEXT NOT NULL,
        status         TEXT NOT NULL
                       CHECK (status = 'scanned' OR status = 'skipped' OR status = 'failed'),
        error          TEXT,
        upload_id      TEXT,
        csv_pending    INTEGER NOT NULL DEFAULT 0,
        scans          INTEGER NOT NULL DEFAULT 1,
        csv_after      INTEGER NOT NULL DEFAULT -1,
        exposure       TEXT,
        findings       INTEGER NOT NULL DEFAULT 0,
        top_confidence INTEGER,
        detectors      TEXT,
        gone_at        INTEGER
    );
    INSERT INTO files_v13 (id, path, size, mtime_ns, sha256, scanned_at, engine, status, error,
        upload_id, csv_pending, scans, csv_after, exposure, findings, top_confidence, detectors, gone_at)
      SELECT id, path, size, mtime_ns, sha256, scanned_at, engine, status, error,
        upload_id, csv_pending, scans, csv_after, exposure, findings, top_confidence, detectors, gone_at
      FROM files;
    DROP TABLE files;
    ALTER TABLE files_v13 RENAME TO files;
    CREATE INDEX files_scanned_at ON files (scanned_at);
    CREATE INDEX files_csv_pending ON files (csv_pending) WHERE csv_pending = 1;
    CREATE INDEX files_sensitive ON files (scanned_at) WHERE findings > 0 AND gone_at IS NULL;
    CREATE INDEX files_sensitive_path ON files (path) WHERE findings > 0 AND gone_at IS NULL;
    "#,
];
