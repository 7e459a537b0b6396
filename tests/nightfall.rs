//! The Nightfall engine end to end: the real `dlpd run` against the fake
//! Nightfall service in tests/support/nightfall.rs, with its webhook
//! listener on loopback, faults injected on the service side and forged
//! requests sent to the listener.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::daemon::{DEADLINE, Daemon};
use support::nightfall::{FakeNightfall, Options};
use support::{SAMPLE_PCI, http, wait_for};

/// A daemon on the Nightfall engine pointed at `fake`, with `extra` TOML
/// lines in its `[nightfall]` section and `tail` after it.
fn daemon(fake: &FakeNightfall, opts: &Options, extra: &str, tail: &str) -> (Daemon, u16) {
    support::nightfall::daemon(fake, opts, "", extra, tail)
}

/// A file with one of each detector's findings.
const MIXED: &str = "name,ssn\nJane Roe,ssn 536-22-1234\n\
    aws_access_key_id = AKIAZ7VQ4NMDKP3XWR2T\n\
    card: 4539 1488 0343 6467\n";

/// The findings rows of a store, minus what differs by store (ids, the
/// per-install value HMAC key, the engine).
fn rows(db: &Path, path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT x.detector, x.confidence, coalesce(x.kind, ''), x.finding, x.redacted_finding,
               x.before_context, x.after_context, x.byte_start, x.byte_end, x.line_start, x.line_end, f.sha256
             FROM findings x JOIN files f ON f.id = x.file_id WHERE f.path = ?1 ORDER BY x.byte_start",
        )
        .unwrap();
    stmt.query_map([path.to_str().unwrap().as_bytes()], |r| {
        let mut cols = Vec::new();
        for i in 0..12 {
            let v: rusqlite::types::Value = r.get(i)?;
            cols.push(format!("{v:?}"));
        }
        Ok(cols.join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// How many times the store recorded each path, and the total files.
fn scans(d: &Daemon) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare("SELECT path, scans FROM files ORDER BY path")
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            String::from_utf8_lossy(&r.get::<_, Vec<u8>>(0)?).into_owned(),
            r.get(1)?,
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn files_dropped_in_a_root_get_the_same_rows_as_the_local_engine() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    // The first findings fetch fails and is retried.
    fake.faults(|f| f.fail_next_findings = 1);
    // At debug level, still no value, key, secret or findings URL in the log.
    let (mut d, _) = daemon(&fake, &opts, "", "[log]\nlevel = \"debug\"\n");
    d.start();
    let pci = d.root().join("export.csv");
    let mixed = d.root().join("notes/mixed.txt");
    let clean = d.root().join("clean.txt");
    std::fs::create_dir_all(mixed.parent().unwrap()).unwrap();
    std::fs::write(&pci, SAMPLE_PCI).unwrap();
    std::fs::write(&mixed, MIXED).unwrap();
    std::fs::write(&clean, "nothing to see here\n").unwrap();
    assert_eq!(d.wait_recorded(&pci), (1, 10));
    assert_eq!(d.wait_recorded(&mixed), (1, 3));
    assert_eq!(d.wait_recorded(&clean), (1, 0));
    let status: String = d.query("SELECT status FROM files WHERE path LIKE '%clean.txt'");
    assert_eq!(status, "scanned");

    // The local engine on the same files, into a store of its own.
    let local = support::Env::new();
    let run = local.run(&[
        "scan",
        "--store",
        "--format",
        "jsonl",
        d.root().to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let local_db = local.state_dir().join("dlpd.sqlite");
    for path in [&pci, &mixed] {
        let remote = rows(&d.db(), path);
        assert!(!remote.is_empty());
        assert_eq!(remote, rows(&local_db, path), "{}", path.display());
    }
    let first: (i64, i64, String, String) = {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        conn.query_row(
            "SELECT x.byte_start, x.byte_end, f.engine, f.upload_id FROM findings x JOIN files f ON f.id = x.file_id
             WHERE f.path LIKE '%export.csv' ORDER BY x.byte_start LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    };
    assert_eq!((first.0, first.1, first.2.as_str()), (36, 55, "nightfall"));
    let stats = fake.stats();
    assert!(stats.scans.contains_key(&first.3), "{stats:?}");
    // The CSV carries the same rows, masked, with the upload id.
    assert!(wait_for(DEADLINE, || {
        std::fs::read_to_string(d.csv()).is_ok_and(|c| c.matches(&first.3).count() == 10)
    }));
    let csv = std::fs::read_to_string(d.csv()).unwrap();
    assert!(csv.contains("****-****-****-7862"), "{csv}");
    assert!(!csv.contains("5433-9502-3725-7862"), "{csv}");
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
    assert!(stats.challenges >= 1, "{stats:?}");
    assert!(stats.deliveries.iter().all(|&s| s == 200), "{stats:?}");
    let log = d.log();
    assert!(
        !log.contains("5433-9502"),
        "a value leaked into the log:\n{log}"
    );
    assert!(!log.contains(&opts.api_key) && !log.contains(&opts.signing_secret));
    assert!(!log.contains("/findings/"), "a findings URL leaked:\n{log}");
    assert!(log.contains("DEBUG"), "{log}");
    assert_eq!(stats.findings_fetched, 2);
    assert!(d.signal(libc::SIGTERM).success());
}

/// A sample-like file that differs from every other by its first line.
fn numbered_sample(i: usize) -> String {
    format!("file {i}\n{SAMPLE_PCI}")
}

/// Waits until every path is recorded, then checks each was stored once
/// with its 10 findings and the service scanned each content once.
fn assert_each_scanned_once(d: &Daemon, fake: &FakeNightfall, paths: &[PathBuf]) {
    let long = DEADLINE * 4;
    assert!(
        wait_for(long, || paths.iter().all(|p| d.file(p).is_some())),
        "not all recorded: {:?}\n{}",
        scans(d),
        d.log()
    );
    for p in paths {
        assert_eq!(d.file(p), Some((1, 10)), "{}", p.display());
    }
    let stats = fake.stats();
    assert!(
        stats.scans_by_content.values().all(|&n| n == 1),
        "{:?}",
        stats.scans_by_content
    );
    assert_eq!(stats.scans_by_content.len(), paths.len());
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
}

#[test]
fn with_30pct_500s_and_20pct_429s_every_file_is_scanned_exactly_once() {
    let opts = Options {
        chunk_size: 128,
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| {
        f.p500 = 0.3;
        f.p429 = 0.2;
        // Every result is delivered twice: storing must be idempotent.
        f.duplicate_results = true;
    });
    let (mut d, _) = daemon(&fake, &opts, "", "[queue]\nmax_attempts = 50\n");
    d.start();
    let paths: Vec<PathBuf> = (0..20)
        .map(|i| {
            let p = d.root().join(format!("f{i:02}.csv"));
            std::fs::write(&p, numbered_sample(i)).unwrap();
            p
        })
        .collect();
    assert_each_scanned_once(&d, &fake, &paths);
    // The second delivery of the last result may still be on its way.
    assert!(wait_for(DEADLINE, || fake.stats().deliveries.len() == 40));
    let stats = fake.stats();
    assert!(
        stats.deliveries.iter().all(|&s| s == 200),
        "{:?}",
        stats.deliveries
    );
    // Faults really happened: far more requests than the 4 per file (each
    // file is 3 chunks here) a clean run needs.
    let total: u64 = stats.requests.values().sum();
    assert!(total > 20 * 6 * 3 / 2, "{:?}", stats.requests);
    // The CSV holds each finding once.
    assert!(wait_for(DEADLINE, || std::fs::read_to_string(d.csv())
        .is_ok_and(|c| c.matches("CREDIT_CARD_NUMBER").count() == 200)));
}

#[test]
fn retry_after_on_a_429_is_honoured() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| {
        f.p429 = 0.3;
        f.retry_after = Some(1);
    });
    // One upload at a time, so every request after a 429 is a retry the
    // client chose to send.
    let (mut d, _) = daemon(
        &fake,
        &opts,
        "concurrency = 1",
        "[queue]\nmax_attempts = 50\n",
    );
    d.start();
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = d.root().join(format!("r{i}.csv"));
            std::fs::write(&p, numbered_sample(i)).unwrap();
            p
        })
        .collect();
    assert_each_scanned_once(&d, &fake, &paths);
}

#[test]
fn a_hanging_server_and_dropped_connections_lead_to_timeouts_then_retries() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| {
        f.hang_next = 2;
        f.drop_next = 2;
    });
    let (mut d, _) = daemon(&fake, &opts, "request_timeout_s = 1", "");
    d.start();
    let file = d.root().join("slow.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    let stats = fake.stats();
    // Two hung and two dropped before the init went through.
    assert_eq!(stats.requests["upload"], 5, "{:?}", stats.requests);
    assert!(stats.violations.is_empty(), "{:?}", stats.violations);
}

/// POSTs `body` to /ingest with optional signature headers.
fn ingest(port: u16, body: &str, ts: Option<&str>, sig: Option<&str>) -> u16 {
    let mut head = format!(
        "POST /ingest HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(ts) = ts {
        head.push_str(&format!("X-Nightfall-Timestamp: {ts}\r\n"));
    }
    if let Some(sig) = sig {
        head.push_str(&format!("X-Nightfall-Signature: {sig}\r\n"));
    }
    http(port, &head, body.as_bytes()).0
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn forged_stale_future_and_unsigned_results_get_401_and_change_nothing() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| f.hold_results = true);
    let (mut d, port) = daemon(&fake, &opts, "", "max_body_bytes = 1024\n");
    d.start();
    let file = d.root().join("held.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert!(wait_for(DEADLINE, || fake.held().len() == 1), "{}", d.log());
    let real = fake.held().remove(0);
    let note: serde_json::Value = serde_json::from_str(&real).unwrap();
    let upload = note["uploadID"].as_str().unwrap();
    assert!(wait_for(DEADLINE, || d
        .count("SELECT count(*) FROM uploads")
        == 1));

    // A result that would mark the file clean if it were believed.
    let clean = format!(
        r#"{{"findingsURL":"","validUntil":"2099-01-01T00:00:00Z","uploadID":"{upload}","findingsPresent":false,"requestMetadata":"","errors":[]}}"#
    );
    let secret = dlpd::secret::Secret::new(opts.signing_secret.clone());
    let sign = |ts: u64, body: &str| {
        let ts = ts.to_string();
        let sig = dlpd::nightfall::signature::sign(&secret, &ts, body.as_bytes());
        (ts, sig)
    };
    let now = unix_now();
    let forger = dlpd::secret::Secret::new("not-the-secret");
    let forged = dlpd::nightfall::signature::sign(&forger, &now.to_string(), clean.as_bytes());
    let (stale_ts, stale_sig) = sign(now - 400, &clean);
    let (future_ts, future_sig) = sign(now + 120, &clean);
    let (ts, sig_of_other) = sign(now, &real);
    for (what, ts, sig) in [
        ("unsigned", None, None),
        ("no signature", Some(now.to_string()), None),
        ("forged", Some(now.to_string()), Some(forged)),
        ("stale", Some(stale_ts), Some(stale_sig)),
        ("future-dated", Some(future_ts), Some(future_sig)),
        ("signature of another body", Some(ts), Some(sig_of_other)),
    ] {
        assert_eq!(
            ingest(port, &clean, ts.as_deref(), sig.as_deref()),
            401,
            "{what}"
        );
    }
    assert_eq!(d.file(&file), None, "a refused result was stored");
    assert_eq!(d.count("SELECT count(*) FROM uploads"), 1);

    // Size and shape. Unsigned, only a challenge is read: anything larger
    // is refused as unsigned. Signed (a fresh timestamp), a body over the
    // cap is refused by its size, declared or sent.
    let signed = format!("X-Nightfall-Timestamp: {now}\r\nX-Nightfall-Signature: 00\r\n");
    let big = format!("POST /ingest HTTP/1.1\r\nContent-Length: {}\r\n", 1 << 20);
    assert_eq!(http(port, &big, b"").0, 401);
    assert_eq!(http(port, &format!("{big}{signed}"), b"").0, 413);
    let chunk = "x".repeat(1500);
    let chunked = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let head = "POST /ingest HTTP/1.1\r\nTransfer-Encoding: chunked\r\n";
    assert_eq!(http(port, head, chunked.as_bytes()).0, 401);
    let head = format!("{head}{signed}");
    assert_eq!(http(port, &head, chunked.as_bytes()).0, 413);
    assert_eq!(ingest(port, "{\"uploadID\": ", None, None), 400);
    let (ts, sig) = sign(now, "[1,2]");
    assert_eq!(ingest(port, "[1,2]", Some(&ts), Some(&sig)), 400);

    // The challenge, /ping and /healthz.
    let body = r#"{"challenge":"z78woE1uDFu7tPrPvEBV"}"#;
    let head = format!(
        "POST /ingest HTTP/1.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    assert_eq!(
        http(port, &head, body.as_bytes()),
        (200, "z78woE1uDFu7tPrPvEBV".to_string())
    );
    assert_eq!(
        http(port, "GET /ping HTTP/1.1\r\n", b""),
        (200, "ok".into())
    );
    let (status, health) = http(port, "GET /healthz HTTP/1.1\r\n", b"");
    assert_eq!(status, 200);
    let health: serde_json::Value = serde_json::from_str(&health).unwrap();
    assert_eq!(health["queue"]["awaiting_results"], 1, "{health}");

    // A signed result for an upload nobody awaits: acknowledged, ignored.
    let stray = clean.replace(upload, "00000000-0000-4000-a000-000000000000");
    let (ts, sig) = sign(now, &stray);
    assert_eq!(ingest(port, &stray, Some(&ts), Some(&sig)), 200);
    assert_eq!(d.count("SELECT count(*) FROM files"), 0);

    // The real result, then the same result again.
    fake.release_held();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    let (ts, sig) = sign(unix_now(), &real);
    assert_eq!(ingest(port, &real, Some(&ts), Some(&sig)), 200);
    // The repeat has been handled once the keeper says it ignored it (the
    // fake holds results, so a marker file cannot serve as a barrier here).
    assert!(
        wait_for(DEADLINE, || d.log().matches("no job awaits").count() == 2),
        "{}",
        d.log()
    );
    assert_eq!(d.file(&file), Some((1, 10)));
    assert!(wait_for(DEADLINE, || d
        .log()
        .contains("refused a notification")));
}

#[test]
fn kill_9_with_uploads_in_flight_then_restart_loses_and_doubles_nothing() {
    let opts = Options {
        chunk_size: 64,
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| f.delay = Duration::from_millis(150));
    let (mut d, _) = daemon(&fake, &opts, "", "");
    d.start();
    let paths: Vec<PathBuf> = (0..8)
        .map(|i| {
            let p = d.root().join(format!("k{i}.csv"));
            std::fs::write(&p, numbered_sample(i)).unwrap();
            p
        })
        .collect();
    assert!(wait_for(DEADLINE, || fake
        .stats()
        .requests
        .get("chunk")
        .is_some_and(|&n| n >= 6)));
    d.signal(libc::SIGKILL);
    fake.faults(|f| f.delay = Duration::ZERO);
    d.start();
    // Each file's content may have been uploaded twice (once cut short),
    // but each is stored exactly once.
    assert!(
        wait_for(DEADLINE * 2, || paths.iter().all(|p| d.file(p).is_some())),
        "{}",
        d.log()
    );
    for p in &paths {
        assert_eq!(d.file(p), Some((1, 10)), "{}", p.display());
    }
    assert!(wait_for(DEADLINE, || std::fs::read_to_string(d.csv())
        .is_ok_and(|c| c.matches("CREDIT_CARD_NUMBER").count() == 80)));
    assert!(wait_for(DEADLINE, || d.count("SELECT count(*) FROM jobs") == 0));
    for p in &paths {
        assert_eq!(d.file(p), Some((1, 10)), "{}", p.display());
    }
}

#[test]
fn a_result_sent_while_dlpd_is_down_is_covered_by_resubmission() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| f.hold_results = true);
    let (mut d, _) = daemon(&fake, &opts, "result_timeout_s = 2", "");
    d.start();
    let file = d.root().join("late.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert!(wait_for(DEADLINE, || fake.held().len() == 1));
    d.signal(libc::SIGKILL);
    // Nightfall posts while nobody listens, and never again.
    fake.release_held();
    assert_eq!(fake.stats().deliveries, vec![0]);
    fake.faults(|f| f.hold_results = false);
    d.start();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    let stats = fake.stats();
    assert_eq!(stats.scans.len(), 2, "resubmitted once: {stats:?}");
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("within nightfall.result_timeout_s")),
        "{}",
        d.log()
    );
}

#[test]
fn a_404_on_a_chunk_restarts_the_upload_from_the_beginning() {
    let opts = Options {
        chunk_size: 100,
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| f.forget_next_chunks = 1);
    let (mut d, _) = daemon(&fake, &opts, "", "");
    d.start();
    let file = d.root().join("again.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    let stats = fake.stats();
    assert_eq!(stats.requests["upload"], 2, "{:?}", stats.requests);
    // 363 bytes in 100-byte chunks: 4, plus the one refused.
    assert_eq!(stats.requests["chunk"], 5, "{:?}", stats.requests);
    assert!(d.log().contains("no longer knows upload"), "{}", d.log());
}

#[test]
fn an_unsupported_type_is_skipped_and_a_refusal_is_permanent_with_advice() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    let (mut d, _) = daemon(&fake, &opts, "", "");
    d.start();
    let midi = d.root().join("song.mid");
    std::fs::write(&midi, b"MThd\0\0\0\x06 card 5433-9502-3725-7862").unwrap();
    assert_eq!(d.wait_recorded(&midi), (1, 0));
    let (status, error): (String, String) = {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        conn.query_row(
            "SELECT status, error FROM files WHERE path LIKE '%song.mid'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(status, "skipped");
    assert!(error.contains("Unsupported MIME type"), "{error}");

    fake.faults(|f| {
        f.refuse_next_scan = Some((400, 40012, "Webhook URL validation failed".into()))
    });
    let file = d.root().join("refused.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 0));
    let error: String = d.query("SELECT error FROM files WHERE path LIKE '%refused.csv'");
    assert!(error.contains("code 40012"), "{error}");
    assert!(error.contains("gave up after 1 attempts"), "{error}");
    // (The daemon's stderr is copied by a thread: the line may follow the row.)
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("Nightfall could not reach nightfall.webhook_url")),
        "{}",
        d.log()
    );
    // Not retried: one init for each of the two files.
    assert_eq!(fake.stats().requests["upload"], 2);
}

#[test]
fn missing_or_exposed_secrets_and_a_busy_port_are_clear_errors() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    let (d, port) = daemon(&fake, &opts, "", "");
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let out = support::cmd(&d.config)
            .env_remove("NIGHTFALL_API_KEY")
            .env_remove("NIGHTFALL_SIGNING_SECRET")
            .envs(env.iter().copied())
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    for cmd in [&["check-config"][..], &["run"][..]] {
        let (code, err) = run(&[("NIGHTFALL_SIGNING_SECRET", "s")], cmd);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains("NIGHTFALL_API_KEY is not set") && err.contains("nightfall.api_key_file"),
            "{err}"
        );
    }
    // A key file others can read is refused, and its value never printed.
    let key = d.dir.path().join("key");
    std::fs::write(&key, "NF-from-file\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = std::fs::read_to_string(&d.config).unwrap().replace(
        "[nightfall]\n",
        &format!("[nightfall]\napi_key_file = \"{}\"\n", key.display()),
    );
    std::fs::write(&d.config, text).unwrap();
    let (code, err) = run(&[("NIGHTFALL_SIGNING_SECRET", "s")], &["check-config"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("chmod 600") && !err.contains("NF-from-file"),
        "{err}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, err) = run(&[("NIGHTFALL_SIGNING_SECRET", "s")], &["check-config"]);
    assert_eq!(code, Some(0), "{err}");
    // The webhook port is taken.
    let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, err) = run(&[("NIGHTFALL_SIGNING_SECRET", "s")], &["run"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "cannot listen on webhook.listen = 127.0.0.1:{port}"
        )),
        "{err}"
    );
}

#[test]
fn a_file_that_changes_during_its_upload_is_abandoned_and_sent_again() {
    let opts = Options {
        chunk_size: 32,
        ..Options::default()
    };
    let fake = FakeNightfall::start(opts.clone());
    fake.faults(|f| f.delay = Duration::from_millis(100));
    let (mut d, _) = daemon(&fake, &opts, "", "");
    d.start();
    let file = d.root().join("moving.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert!(wait_for(DEADLINE, || fake
        .stats()
        .requests
        .get("chunk")
        .is_some_and(|&n| n >= 2)));
    let more = format!("{SAMPLE_PCI}Late Row,5433-9502-3725-7862\n");
    std::fs::write(&file, &more).unwrap();
    fake.faults(|f| f.delay = Duration::ZERO);
    assert!(
        wait_for(DEADLINE, || d.file(&file).is_some()),
        "{}",
        d.log()
    );
    assert_eq!(d.file(&file), Some((1, 11)));
    let sha: String = d.query("SELECT sha256 FROM files WHERE path LIKE '%moving.csv'");
    assert_eq!(sha, dlpd::fsutil::sha256_file(&file).unwrap());
    // Only the final content was scanned.
    let stats = fake.stats();
    assert_eq!(stats.scans.len(), 1, "{stats:?}");
    assert!(stats.requests["upload"] >= 2, "{:?}", stats.requests);
}

#[test]
fn custom_rules_are_sent_inline_and_their_findings_stored() {
    let opts = Options::default();
    let fake = FakeNightfall::start(opts.clone());
    let rules = "[[scanner.rules]]\nname = \"Project codes\"\n[[scanner.rules.detectors]]\n\
        detectorType = \"REGEX\"\ndisplayName = \"Project Code\"\nregex = { pattern = \"PRJ-[0-9]{6}\" }\n\
        exclusionRules = [{ matchType = \"FULL\", exclusionType = \"WORD_LIST\", wordList = { values = [\"PRJ-000000\"] } }]\n";
    let (mut d, _) = support::nightfall::daemon(&fake, &opts, rules, "", "");
    d.start();
    let file = d.root().join("plan.txt");
    std::fs::write(
        &file,
        "PRJ-123456 and PRJ-000000\ncard: 4539 1488 0343 6467\n",
    )
    .unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 2));
    let names: Vec<String> = {
        let conn = rusqlite::Connection::open(d.db()).unwrap();
        let mut stmt = conn
            .prepare("SELECT detector FROM findings ORDER BY byte_start")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(names, ["Project Code", "CREDIT_CARD_NUMBER"]);
    assert_eq!(fake.stats().rule_names, ["dlpd", "Project codes"]);
    assert!(fake.stats().violations.is_empty());
    assert!(d.signal(libc::SIGTERM).success());
}
