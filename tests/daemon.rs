//! `dlpd run` as a user runs it: the real binary on temp dirs with real
//! inotify and a real SQLite store, inspected from outside while it runs.

mod support;

use std::time::Duration;

use support::daemon::{DEADLINE, Daemon};
use support::{SAMPLE_PCI, wait_for};

#[test]
fn a_new_file_lands_in_sqlite_and_the_csv() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("export.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    assert!(wait_for(DEADLINE, || {
        std::fs::read_to_string(d.csv())
            .is_ok_and(|c| c.matches(file.to_str().unwrap()).count() == 10)
    }));
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("findings=CREDIT_CARD_NUMBER=10")),
        "{}",
        d.log()
    );
    let log = d.log();
    assert!(
        !log.contains("5433-9502"),
        "a value leaked into the log:\n{log}"
    );
    assert!(d.signal(libc::SIGTERM).success());
    assert!(d.log().contains("dlpd stopped"));
}

#[test]
fn a_file_written_in_100_appends_over_2s_is_scanned_once_with_its_final_content() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("growing.csv");
    let mut f = std::fs::File::create(&file).unwrap();
    for i in 0..100 {
        use std::io::Write;
        writeln!(f, "row {i},5433-9502-3725-7862").unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(f);
    assert_eq!(d.wait_recorded(&file), (1, 100));
    // Everything written before has been handled: still one scan.
    d.settle();
    assert_eq!(d.file(&file), Some((1, 100)));
    let stored: String = d.query("SELECT sha256 FROM files WHERE path LIKE '%growing.csv'");
    assert_eq!(stored, dlpd::fsutil::sha256_file(&file).unwrap());
}

#[test]
fn excluded_paths_and_dlpds_own_files_are_never_scanned() {
    let mut d = Daemon::new("");
    d.start();
    std::fs::create_dir_all(d.root().join("repo/.git")).unwrap();
    std::fs::write(d.root().join("repo/.git/secrets"), SAMPLE_PCI).unwrap();
    std::fs::write(d.root().join("partial.crdownload"), SAMPLE_PCI).unwrap();
    let marker = d.root().join("zz-marker.csv");
    std::fs::write(&marker, SAMPLE_PCI).unwrap();
    d.wait_recorded(&marker);
    // A second file after the CSV was written: the CSV and the database
    // changed in between and must not have been queued.
    let marker2 = d.root().join("zz-marker2.csv");
    std::fs::write(&marker2, SAMPLE_PCI).unwrap();
    d.wait_recorded(&marker2);
    d.settle();
    let paths: i64 = d.query("SELECT count(*) FROM files WHERE path NOT LIKE '%zz-settle%'");
    assert_eq!(paths, 2, "only the two markers: {}", d.log());
}

#[test]
fn a_new_subdirectory_created_then_filled_is_scanned() {
    let mut d = Daemon::new("");
    d.start();
    let sub = d.root().join("a/b/c");
    std::fs::create_dir_all(&sub).unwrap();
    let file = sub.join("cards.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
}

#[test]
fn files_renamed_or_moved_into_a_root_are_scanned() {
    let mut d = Daemon::new("");
    d.start();
    let outside = d.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("full/deep")).unwrap();
    std::fs::write(outside.join("one.csv"), SAMPLE_PCI).unwrap();
    std::fs::write(outside.join("full/deep/two.csv"), SAMPLE_PCI).unwrap();
    std::fs::rename(outside.join("one.csv"), d.root().join("one.csv")).unwrap();
    std::fs::rename(outside.join("full"), d.root().join("full")).unwrap();
    assert_eq!(d.wait_recorded(&d.root().join("one.csv")), (1, 10));
    assert_eq!(
        d.wait_recorded(&d.root().join("full/deep/two.csv")),
        (1, 10)
    );
    // Renamed within the root: the new name is scanned.
    std::fs::rename(d.root().join("one.csv"), d.root().join("renamed.csv")).unwrap();
    assert_eq!(d.wait_recorded(&d.root().join("renamed.csv")), (1, 10));
}

#[test]
fn existing_files_are_scanned_at_start_and_a_restart_over_an_unchanged_tree_scans_nothing() {
    let mut d = Daemon::new("");
    for i in 0..20 {
        std::fs::write(d.root().join(format!("f{i}.csv")), SAMPLE_PCI).unwrap();
    }
    d.start();
    assert!(wait_for(DEADLINE, || d.log().contains("walk complete")));
    // The root's own count: its 20 files.
    assert!(d.log().contains("changed=20"), "{}", d.log());
    assert!(wait_for(DEADLINE, || d.count("SELECT count(*) FROM files") == 20));
    assert!(d.signal(libc::SIGTERM).success());
    d.start();
    assert!(
        wait_for(DEADLINE, || d.log().matches("walk complete").count() == 2),
        "{}",
        d.log()
    );
    d.settle();
    let rescanned: i64 = d.query("SELECT count(*) FROM files WHERE scans > 1");
    assert_eq!(rescanned, 0, "{}", d.log());
    let last = d
        .log()
        .lines()
        .rfind(|l| l.contains("walk complete"))
        .unwrap()
        .to_string();
    assert!(last.contains("changed=0"), "{last}");
}

#[test]
fn kill_9_with_a_busy_queue_then_restart_loses_and_duplicates_nothing() {
    let mut d = Daemon::new("[queue]\nworkers = 1\n");
    d.start();
    let n = 2000;
    for i in 0..n {
        let body = if i % 50 == 0 {
            SAMPLE_PCI.to_string()
        } else {
            format!("plain file {i}\n")
        };
        std::fs::write(d.root().join(format!("f{i:04}.txt")), body).unwrap();
    }
    // Kill it mid-way: some results stored, some jobs still queued.
    assert!(wait_for(DEADLINE, || {
        d.count("SELECT count(*) FROM files") > 0 && d.query::<i64>("SELECT count(*) FROM jobs") > 0
    }));
    d.signal(libc::SIGKILL);
    d.start();
    assert!(
        wait_for(Duration::from_secs(90), || {
            d.query::<i64>("SELECT count(*) FROM files") == n
                && d.query::<i64>("SELECT count(*) FROM jobs") == 0
        }),
        "files {} jobs {}\n{}",
        d.query::<i64>("SELECT count(*) FROM files"),
        d.query::<i64>("SELECT count(*) FROM jobs"),
        d.log()
    );
    let twice: i64 = d.query("SELECT count(*) FROM files WHERE scans <> 1");
    assert_eq!(twice, 0);
    let findings: i64 = d.query("SELECT count(*) FROM findings");
    assert_eq!(findings, (n / 50) * 10);
    let csv = std::fs::read_to_string(d.csv()).unwrap();
    assert_eq!(csv.matches(",CREDIT_CARD_NUMBER,").count() as i64, findings);
    assert_eq!(csv.matches("scanned_at,path").count(), 1);
}

#[test]
fn kill_9_during_the_baseline_scan_then_restart_records_each_file_once() {
    // Files found by the walk at start go to workers without waiting in
    // the queue; the walk is their durable list.
    let mut d = Daemon::new("[queue]\nworkers = 1\n");
    let n = 5000;
    for i in 0..n {
        let sub = d.root().join(format!("d{}", i % 10));
        std::fs::create_dir_all(&sub).unwrap();
        let body = if i % 100 == 0 {
            SAMPLE_PCI.to_string()
        } else {
            format!("plain file {i}\n")
        };
        std::fs::write(sub.join(format!("f{i:04}.txt")), body).unwrap();
    }
    d.start();
    assert!(wait_for(DEADLINE, || {
        let stored = d.count("SELECT count(*) FROM files");
        stored > 0 && stored < n
    }));
    d.signal(libc::SIGKILL);
    d.start();
    assert!(
        wait_for(Duration::from_secs(90), || {
            d.count("SELECT count(*) FROM files") == n
                && d.query::<i64>("SELECT count(*) FROM jobs") == 0
        }),
        "files {}\n{}",
        d.count("SELECT count(*) FROM files"),
        d.log()
    );
    let twice: i64 = d.query("SELECT count(*) FROM files WHERE scans <> 1");
    assert_eq!(twice, 0);
    let findings: i64 = d.query("SELECT count(*) FROM findings");
    assert_eq!(findings, (n / 100) * 10);
    d.settle();
    let csv = std::fs::read_to_string(d.csv()).unwrap();
    assert_eq!(csv.matches(",CREDIT_CARD_NUMBER,").count() as i64, findings);
    assert_eq!(csv.matches("scanned_at,path").count(), 1);
}

/// Sets fs.inotify.max_queued_events for the life of the guard.
struct QueuedEvents(String);

impl QueuedEvents {
    const PATH: &str = "/proc/sys/fs/inotify/max_queued_events";
    fn set(n: u32) -> Option<QueuedEvents> {
        let old = std::fs::read_to_string(Self::PATH).ok()?;
        std::fs::write(Self::PATH, n.to_string()).ok()?;
        Some(QueuedEvents(old))
    }
}

impl Drop for QueuedEvents {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, self.0.trim());
    }
}

#[test]
fn no_file_is_missed_after_an_inotify_queue_overflow() {
    let mut d = Daemon::new("[queue]\nworkers = 1\n");
    // The queue size is fixed when the daemon's inotify instance starts.
    let Some(guard) = QueuedEvents::set(4) else {
        eprintln!(
            "cannot set max_queued_events here; the overflow path is unit-tested in src/watch.rs"
        );
        return;
    };
    d.start();
    drop(guard);
    let n = 300;
    for i in 0..n {
        std::fs::write(d.root().join(format!("o{i:03}.txt")), format!("file {i}\n")).unwrap();
    }
    assert!(
        wait_for(Duration::from_secs(60), || d
            .count("SELECT count(*) FROM files")
            == n),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || d.log().contains("queue overflow")),
        "{}",
        d.log()
    );
}

#[test]
fn status_shows_the_queue_counts_and_the_running_daemon() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("s.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    d.wait_recorded(&file);
    let text = support::dlpd(&d.config, &["status"]).stdout();
    assert!(text.contains("daemon:     running (pid"), "{text}");
    assert!(
        text.contains("queue:      0 queued (0 retrying), 0 in flight"),
        "{text}"
    );
    assert!(
        text.contains("files:      1 scanned, 0 skipped, 0 failed; 10 findings"),
        "{text}"
    );
    assert!(text.contains("last error: none"), "{text}");
    let json = support::dlpd(&d.config, &["status", "--json"]);
    assert_eq!(json.code(), 0, "{}", json.stderr());
    let v: serde_json::Value = serde_json::from_str(&json.stdout()).unwrap();
    assert_eq!(v["running"], true);
    assert_eq!(v["pid"], d.pid());
    assert_eq!(
        (v["scanned"].clone(), v["findings"].clone()),
        (1.into(), 10.into())
    );
    d.signal(libc::SIGTERM);
    let after = support::dlpd(&d.config, &["status"]);
    assert!(after.stdout().contains("daemon:     not running"));
    assert_eq!(after.code(), 3);
}

#[test]
fn an_unreadable_file_is_retried_then_recorded_as_failed_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let mut d = Daemon::new("[queue]\nmax_attempts = 2\n");
    d.obey_file_modes();
    d.start();
    let locked = d.root().join("locked.csv");
    std::fs::write(&locked, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    assert!(
        wait_for(DEADLINE, || d
            .count("SELECT count(*) FROM files WHERE status = 'failed'")
            == 1),
        "{}",
        d.log()
    );
    // The daemon's stderr reaches the log through a pipe and a thread, so
    // the line may arrive after the row: wait for it too.
    assert!(
        wait_for(DEADLINE, || {
            let log = d.log();
            log.contains("scan failed, will retry") && log.contains("giving up")
        }),
        "{}",
        d.log()
    );
    let failed = support::dlpd(&d.config, &["findings", "--failed", "--format", "jsonl"]);
    assert_eq!(failed.code(), 1);
    let row = &failed.jsonl()[0];
    assert_eq!(row["path"], locked.to_str().unwrap());
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("gave up after 2 attempts") && error.contains("permission denied"),
        "{error}"
    );
    let text = support::dlpd(&d.config, &["status"]).stdout();
    assert!(text.contains("0 scanned, 0 skipped, 1 failed"), "{text}");
    assert!(
        text.contains("last error: ") && text.contains("locked.csv: "),
        "{text}"
    );
}

#[test]
fn a_full_queue_makes_the_watcher_wait_and_nothing_is_dropped() {
    let mut d = Daemon::new("[queue]\ncapacity = 5\nworkers = 1\n");
    d.start();
    let n = 300;
    for i in 0..n {
        std::fs::write(d.root().join(format!("q{i:03}.txt")), format!("file {i}\n")).unwrap();
    }
    let mut most_queued = 0;
    assert!(
        wait_for(Duration::from_secs(60), || {
            most_queued = most_queued.max(d.count("SELECT count(*) FROM jobs"));
            d.count("SELECT count(*) FROM files") == n
        }),
        "{}",
        d.log()
    );
    assert!(most_queued <= 5, "the queue held {most_queued} jobs");
    let twice: i64 = d.query("SELECT count(*) FROM files WHERE scans <> 1");
    assert_eq!(twice, 0);
}

#[test]
fn a_file_closed_after_writing_nothing_is_not_rescanned() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("same.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    // Open for writing and close: inotify reports a close-write, so the
    // file settles and is queued, but size, mtime and sha256 are unchanged.
    drop(std::fs::OpenOptions::new().write(true).open(&file).unwrap());
    d.settle();
    assert_eq!(d.file(&file), Some((1, 10)));
    // A real change is scanned.
    std::fs::write(&file, format!("{SAMPLE_PCI}extra,4111 1111 1111 1111\n")).unwrap();
    assert!(wait_for(DEADLINE, || d
        .file(&file)
        .is_some_and(|f| f.0 == 2)));
}

/// (byte_start, byte_end, line_start) of each finding stored for `path`.
fn ranges(d: &Daemon, path: &std::path::Path) -> Vec<(i64, i64, i64)> {
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT byte_start, byte_end, line_start FROM findings x JOIN files f ON f.id = x.file_id
             WHERE f.path = ?1 ORDER BY byte_start",
        )
        .unwrap();
    stmt.query_map([path.to_str().unwrap().as_bytes()], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[test]
fn a_log_that_only_grows_has_its_new_bytes_scanned_and_its_new_rows_written() {
    use std::io::Write;
    let mut d = Daemon::new("");
    d.start();
    let log = d.root().join("app.log");
    let mut body = String::new();
    for i in 0..4000 {
        body.push_str(&format!("2026-12-01T10:00:00Z INFO request {i} ok\n"));
        if i == 2000 {
            body.push_str("card on file 5433-9502-3725-7862\n");
        }
    }
    std::fs::write(&log, &body).unwrap();
    assert_eq!(d.wait_recorded(&log), (1, 1));
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    let expect = |body: &str, card: &str| {
        let start = body.rfind(card).unwrap();
        let line = body[..start].matches('\n').count() + 1;
        (start as i64, (start + card.len()) as i64, line as i64)
    };

    // A new card after the old end: found at its exact place.
    let added = "2026-12-01T10:00:01Z WARN refund to 3457-389808-83234\n";
    append(added);
    body.push_str(added);
    assert!(
        wait_for(DEADLINE, || d.file(&log) == Some((2, 2))),
        "{:?}\n{}",
        d.file(&log),
        d.log()
    );
    assert_eq!(ranges(&d, &log)[1], expect(&body, "3457-389808-83234"));

    // A card cut by the end of the file at one scan, completed by the next.
    append("split 5487-1115-");
    body.push_str("split 5487-1115-");
    assert!(wait_for(DEADLINE, || d.file(&log) == Some((3, 2))));
    append("9020-1188 end\n");
    body.push_str("9020-1188 end\n");
    assert!(
        wait_for(DEADLINE, || d.file(&log) == Some((4, 3))),
        "{:?}",
        d.file(&log)
    );
    assert_eq!(ranges(&d, &log)[2], expect(&body, "5487-1115-9020-1188"));
    let stored: String = d.query("SELECT sha256 FROM files WHERE path LIKE '%app.log'");
    assert_eq!(stored, dlpd::fsutil::sha256_file(&log).unwrap());
    // Each scan wrote only its new rows: three in all, not 1 + 2 + 2 + 3.
    assert!(wait_for(DEADLINE, || {
        std::fs::read_to_string(d.csv())
            .is_ok_and(|c| c.matches(log.to_str().unwrap()).count() == 3)
    }));

    // The old part rewritten (the first card gone), then grown: the whole
    // file is scanned again and its findings replaced.
    let mut edited = body.replace("5433-9502-3725-7862", "XXXX-XXXX-XXXX-XXXX");
    edited.push_str("tail line\n");
    std::fs::write(&log, &edited).unwrap();
    assert!(
        wait_for(DEADLINE, || d.file(&log) == Some((5, 2))),
        "{:?}",
        d.file(&log)
    );
    assert_eq!(
        ranges(&d, &log),
        [
            expect(&edited, "3457-389808-83234"),
            expect(&edited, "5487-1115-9020-1188")
        ]
    );
}

/// A daemon with `extra` config that has found the sample in "with
/// space.csv" and logged it.
fn logged_finding(extra: &str) -> (Daemon, std::path::PathBuf) {
    let mut d = Daemon::new(extra);
    d.start();
    let file = d.root().join("with space.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    d.wait_recorded(&file);
    assert!(wait_for(DEADLINE, || d
        .log()
        .contains("sensitive data found")));
    (d, file)
}

#[test]
fn finding_logs_are_flat_typed_json_for_collectors_and_quoted_text_for_people() {
    let (mut d, file) = logged_finding("[log]\nformat = \"json\"\n");
    let log = d.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let found = lines
        .iter()
        .find(|v| v["message"] == "sensitive data found")
        .unwrap();
    assert_eq!(found["file.path"], file.to_str().unwrap());
    assert_eq!(
        found["findings"],
        serde_json::json!({"CREDIT_CARD_NUMBER": 10})
    );
    assert!(
        ["LIKELY", "VERY_LIKELY"].contains(&found["confidence"].as_str().unwrap()),
        "{found}"
    );
    let sha = found["file.hash.sha256"].as_str().unwrap();
    assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(found["log.level"], "info");
    assert!(!log.contains("5433-9502"));
    d.signal(libc::SIGTERM);

    let (d, file) = logged_finding("");
    // One key=value pair per field, however many spaces a value holds.
    let quoted = format!("path=\"{}\"", file.display());
    assert!(d.log().contains(&quoted), "{}", d.log());
}

#[test]
fn metrics_are_served_always_on_their_own_port_as_prometheus_text() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("s.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    d.wait_recorded(&file);
    let port = d.metrics_port();
    let (status, body) = support::http(port, "GET /metrics HTTP/1.1\r\n", b"");
    assert_eq!(status, 200, "{body}");
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text");
    let value = |name: &str, label: Option<(&str, &str)>| {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{body}"))
    };
    assert_eq!(
        value(
            "dlpd_findings_total",
            Some(("detector", "CREDIT_CARD_NUMBER"))
        ),
        10.0
    );
    assert_eq!(value("dlpd_files_total", Some(("outcome", "scanned"))), 1.0);
    assert_eq!(value("dlpd_queue_jobs", Some(("state", "queued"))), 0.0);
    assert_eq!(value("dlpd_healthy", None), 1.0);
    assert_eq!(value("dlpd_store_errors_total", None), 0.0);
    assert!(body.contains("dlpd_finding_lag_seconds_count 1"), "{body}");
    // This scrape is the connection open now, and the first taken.
    assert_eq!(
        value("dlpd_listener_connections", Some(("listener", "metrics"))),
        1.0
    );
    let taken = |body: &str, how: &str| {
        let line =
            format!("dlpd_listener_connections_total{{listener=\"metrics\",taken=\"{how}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {line} in\n{body}"))
    };
    assert_eq!((taken(&body, "slot"), taken(&body, "refused")), (1, 0));
    let (status, health) = support::http(port, "GET /healthz HTTP/1.1\r\n", b"");
    assert_eq!(status, 200, "{health}");
    let (_, body) = support::http(port, "GET /metrics HTTP/1.1\r\n", b"");
    assert_eq!(taken(&body, "slot"), 3, "{body}");
    // Nothing else is served there.
    let (status, _) = support::http(port, "POST /v3/scan HTTP/1.1\r\nContent-Length: 0\r\n", b"");
    assert_eq!(status, 404);
}

/// Voluntary context switches of every thread of `pid` so far.
fn sleeps(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
        .map(|t| std::fs::read_to_string(t.path().join("status")).unwrap_or_default())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}

#[test]
fn at_rest_no_thread_wakes_on_a_timer() {
    let mut d = Daemon::new("");
    d.start();
    let file = d.root().join("s.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    d.wait_recorded(&file);
    d.settle();
    // Nothing is pending now: the debouncer and the watch setup sleep until
    // an event, the keeper until its liveness check (20 s), but for once to
    // give memory back 2 s after its last record. Before, they woke 10
    // times a second between them.
    let before = sleeps(d.pid());
    std::thread::sleep(Duration::from_secs(3));
    let woke = sleeps(d.pid()) - before;
    assert!(woke <= 4, "{woke} wake-ups in 3 s at rest");
    // And an event still wakes it.
    let again = d.root().join("t.csv");
    std::fs::write(&again, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&again), (1, 10));
}

#[test]
fn the_kernel_reports_no_reads_so_scanning_wakes_no_watcher() {
    // inotify's watch masks, as /proc shows them: each file dlpd opened to
    // scan came back as an open event while they held IN_OPEN (0x20).
    let mut d = Daemon::new("");
    std::fs::create_dir(d.root().join("sub")).unwrap();
    d.start();
    let file = d.root().join("sub/s.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    let pid = d.pid();
    let masks: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| {
            let fd = fd.ok()?;
            let target = std::fs::read_link(fd.path()).ok()?;
            (target.to_str()? == "anon_inode:inotify").then(|| fd.file_name())
        })
        .flat_map(|fd| {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", fd.to_str().unwrap()))
                    .unwrap();
            info.lines()
                .filter_map(|l| l.split(" mask:").nth(1)?.split(' ').next())
                .map(|m| u32::from_str_radix(m, 16).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        masks.len() >= 2,
        "the root and sub/ are watched: {masks:x?}"
    );
    const IN_CLOSE_WRITE: u32 = 0x08;
    const IN_CLOSE_NOWRITE: u32 = 0x10;
    const IN_OPEN: u32 = 0x20;
    for m in &masks {
        assert_eq!(m & (IN_OPEN | IN_CLOSE_NOWRITE), 0, "mask {m:x}");
        assert_ne!(m & IN_CLOSE_WRITE, 0, "mask {m:x}");
    }
}
