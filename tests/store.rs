//! The findings store on real SQLite files: atomic replacement on rescan and
//! the CSV's exactly-once recovery after a crash.

mod support;

use std::path::Path;

use dlpd::config::{OutputConfig, Redact, ScannerConfig};
use dlpd::engine::{Engine, LocalEngine, ScanOptions};
use dlpd::store::{FindingQuery, Store};
use support::SAMPLE_PCI;

fn output(dir: &Path) -> OutputConfig {
    OutputConfig {
        state_dir: dir.join("state"),
        csv: "results.csv".into(),
        redact: Redact::Mask,
    }
}

/// A temp dir holding the sample file, and a store that has recorded one
/// scan of it.
struct Scanned {
    /// Kept so the temp tree lives as long as the fixture.
    _dir: tempfile::TempDir,
    cfg: OutputConfig,
    file: std::path::PathBuf,
    engine: LocalEngine,
}

impl Scanned {
    fn new() -> (Scanned, Store) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = output(dir.path());
        let file = dir.path().join("s.csv");
        std::fs::write(&file, SAMPLE_PCI).unwrap();
        let s = Scanned {
            _dir: dir,
            cfg,
            file,
            engine: LocalEngine::new(&ScannerConfig::default()),
        };
        let mut store = Store::open(&s.cfg).unwrap();
        s.rescan(&mut store);
        (s, store)
    }

    fn rescan(&self, store: &mut Store) {
        store
            .record(&[self.engine.scan_path(
                &self.file,
                ScanOptions {
                    hash: true,
                    prior: None,
                },
            )])
            .unwrap();
    }
}

fn csv_rows(cfg: &OutputConfig) -> usize {
    std::fs::read_to_string(cfg.csv_path())
        .unwrap()
        .matches(",CREDIT_CARD_NUMBER,")
        .count()
}

#[test]
fn rescan_replaces_a_files_findings() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = output(dir.path());
    let file = dir.path().join("s.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    let engine = LocalEngine::new(&ScannerConfig::default());
    let mut store = Store::open(&cfg).unwrap();
    store
        .record(&[engine.scan_path(
            &file,
            ScanOptions {
                hash: true,
                prior: None,
            },
        )])
        .unwrap();
    assert_eq!(store.findings(&FindingQuery::default()).unwrap().len(), 10);
    // The file loses all but its first three lines.
    let short: String = SAMPLE_PCI
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, short).unwrap();
    store
        .record(&[engine.scan_path(
            &file,
            ScanOptions {
                hash: true,
                prior: None,
            },
        )])
        .unwrap();
    assert_eq!(store.findings(&FindingQuery::default()).unwrap().len(), 2);
}

#[test]
fn same_value_in_two_files_has_the_same_keyed_hash_and_is_not_stored_raw() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = output(dir.path());
    let store = Store::open(&cfg).unwrap();
    let a = store.value_hmac("5433-9502-3725-7862");
    assert_eq!(a, store.value_hmac("5433-9502-3725-7862"));
    assert_ne!(a, store.value_hmac("5433-9502-3725-7863"));
    // A second install keys its hashes differently.
    let other = Store::open(&output(&dir.path().join("other"))).unwrap();
    assert_ne!(a, other.value_hmac("5433-9502-3725-7862"));
    drop(store);
    let db = std::fs::read(cfg.db_path()).unwrap();
    assert!(!db.windows(19).any(|w| w == b"5433-9502-3725-7862"));
}

#[test]
fn a_half_written_csv_row_is_cut_and_pending_rows_are_written_again() {
    let (s, store) = Scanned::new();
    drop(store);
    let cfg = &s.cfg;
    let good = std::fs::read(cfg.csv_path()).unwrap();
    assert_eq!(csv_rows(cfg), 10);

    // Simulate a crash after the findings were committed but mid-way
    // through the CSV append: the file is marked pending again and the CSV
    // ends in half a row.
    let conn = rusqlite::Connection::open(cfg.db_path()).unwrap();
    conn.execute("UPDATE files SET csv_pending = 1", [])
        .unwrap();
    drop(conn);
    let mut torn = good.clone();
    torn.extend_from_slice(b"2026-01-01T00:00:00Z,/x,CREDIT_CARD_NUMBER,LIK");
    std::fs::write(cfg.csv_path(), &torn).unwrap();

    let _store = Store::open(cfg).unwrap();
    let healed = std::fs::read(cfg.csv_path()).unwrap();
    assert!(healed.starts_with(&good));
    assert!(!String::from_utf8_lossy(&healed).contains(",LIK2"));
    assert!(healed.ends_with(b"\r\n"));
    assert_eq!(csv_rows(cfg), 20);
    let text = String::from_utf8_lossy(&healed);
    assert_eq!(text.matches("scanned_at,path").count(), 1);
}

#[test]
fn csv_rows_made_in_memory_are_the_rows_read_back_from_sqlite() {
    let (s, store) = Scanned::new();
    drop(store);
    let first = std::fs::read(s.cfg.csv_path()).unwrap();
    // Pending again, as after a crash: the next open writes the same rows,
    // read back from SQLite this time.
    let conn = rusqlite::Connection::open(s.cfg.db_path()).unwrap();
    conn.execute("UPDATE files SET csv_pending = 1", [])
        .unwrap();
    drop(conn);
    drop(Store::open(&s.cfg).unwrap());
    let both = std::fs::read(s.cfg.csv_path()).unwrap();
    let header = first.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert_eq!(&both[first.len()..], &first[header..]);
}

#[test]
fn a_file_recorded_again_by_another_process_before_the_flush_gets_that_ones_rows() {
    let (s, mut a) = Scanned::new();
    let mut b = Store::open(&s.cfg).unwrap();
    let scan = || {
        s.engine.scan_path(
            &s.file,
            ScanOptions {
                hash: true,
                prior: None,
            },
        )
    };
    a.record_remedied(&[scan()], &[], &[], &mut [], &Default::default())
        .unwrap();
    // Another process records the file, shortened to two cards, before
    // the first appends its rows.
    let short: String = SAMPLE_PCI
        .lines()
        .take(3)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&s.file, short).unwrap();
    b.record_remedied(&[scan()], &[], &[], &mut [], &Default::default())
        .unwrap();
    a.flush_csv().unwrap();
    b.flush_csv().unwrap();
    // The ten rows of the first scan, then the two the store holds now.
    assert_eq!(csv_rows(&s.cfg), 12);
}

#[test]
fn a_rotated_csv_gets_a_fresh_header() {
    let (s, mut store) = Scanned::new();
    std::fs::remove_file(s.cfg.csv_path()).unwrap();
    s.rescan(&mut store);
    let csv = std::fs::read_to_string(s.cfg.csv_path()).unwrap();
    assert!(csv.starts_with("scanned_at,path,detector"));
    assert_eq!(csv_rows(&s.cfg), 10);
}

#[test]
fn a_store_from_a_newer_dlpd_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = output(dir.path());
    drop(Store::open(&cfg).unwrap());
    let conn = rusqlite::Connection::open(cfg.db_path()).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = Store::open(&cfg)
        .err()
        .expect("newer schema must be refused")
        .to_string();
    assert!(
        err.contains("schema version 99") && err.contains("upgrade dlpd"),
        "{err}"
    );
}

#[test]
fn a_version_1_store_is_migrated_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = output(dir.path());
    drop(Store::open(&cfg).unwrap());
    // Wind the schema back to version 1, as the first release wrote it.
    let conn = rusqlite::Connection::open(cfg.db_path()).unwrap();
    conn.execute_batch(
        "DROP TABLE alerts; DROP TABLE quarantine; DROP TABLE uploads; DROP TABLE jobs;\n         DROP TABLE activity; DROP TABLE baselines; DROP TABLE anomalies; DROP TABLE events; DROP TABLE event_cursors; ALTER TABLE files DROP COLUMN exposure;\n         ALTER TABLE files DROP COLUMN scans; ALTER TABLE files DROP COLUMN csv_after; ALTER TABLE findings DROP COLUMN member;\n         ALTER TABLE findings DROP COLUMN row_start; ALTER TABLE findings DROP COLUMN row_end;\n         ALTER TABLE findings DROP COLUMN column_start; ALTER TABLE findings DROP COLUMN column_end;\n         CREATE INDEX findings_value ON findings (value_hmac); DROP INDEX files_sensitive; DROP INDEX files_sensitive_path;\n         ALTER TABLE files DROP COLUMN gone_at;\n         ALTER TABLE files DROP COLUMN findings; ALTER TABLE files DROP COLUMN top_confidence;\n         ALTER TABLE files DROP COLUMN detectors; PRAGMA user_version = 1;\n         INSERT INTO files (id, path, size, scanned_at, engine, status) VALUES (7, x'2f61', 1, 0, 'local', 'scanned');\n         INSERT INTO findings (file_id, detector, confidence, finding, redacted_finding, value_hmac, before_context,\n           after_context, byte_start, byte_end, line_start, line_end)\n         VALUES (7, 'API_KEY', 'LIKELY', 'x', 'x', 'h', '', '', 0, 1, 1, 1), (7, 'API_KEY', 'POSSIBLE', 'x', 'x', 'h', '', '', 0, 1, 1, 1);",
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&cfg).unwrap();
    assert!(store.enqueue(Path::new("/x"), 10).unwrap());
    let conn = rusqlite::Connection::open(cfg.db_path()).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, 13);
    // v13: the files table was rebuilt; its findings stayed with it, and
    // its status check no longer builds a b-tree per insert.
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM findings WHERE file_id = 7", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(kept, 2);
    let ephemeral: i64 = conn
        .prepare("EXPLAIN INSERT INTO files (path, size, scanned_at, engine, status) VALUES (x'2f62', 1, 0, 'local', 'scanned')")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(1))
        .unwrap()
        .filter(|op| op.as_ref().unwrap() == "OpenEphemeral")
        .count() as i64;
    assert_eq!(ephemeral, 0);
    let refused = conn.execute(
        "INSERT INTO files (path, size, scanned_at, engine, status) VALUES (x'2f63', 1, 0, 'local', 'lost')",
        [],
    );
    assert!(refused.is_err(), "{refused:?}");
    // v11: a file's findings are summed up on its row.
    let sums: (i64, i64, String) = conn
        .query_row(
            "SELECT findings, top_confidence, detectors FROM files WHERE id = 7",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(sums, (2, 4, ",API_KEY:2,".to_string()));
    // v9: only waiting jobs are indexed by when they are due.
    let ready: String = conn
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'jobs_ready'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ready.ends_with("WHERE running = 0"), "{ready}");
    let value_index: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'findings_value'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(value_index, 0);
}
