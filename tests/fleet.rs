//! The fleet: real daemons shipping their events to a real PostgreSQL
//! server (`support::postgres`) and to the events file. Every row arrives
//! exactly once through an outage of the database and a SIGKILL mid-batch;
//! the database and the file hold masked values only.

mod support;

use std::path::Path;
use std::time::Duration;

use support::daemon::{DEADLINE, Daemon};
use support::postgres::Postgres;
use support::{SAMPLE_PCI, wait_for};

/// The first card of the sample, which no fleet row may hold.
const RAW_CARD: &str = "4916-6734-7572-5015";

/// A daemon shipping to `pg` as `host_id`, with `extra` TOML after.
fn daemon(pg: &Postgres, host_id: &str, extra: &str) -> Daemon {
    let mut d = Daemon::new("");
    let url = pg.url_file(d.dir.path());
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        format!(
            "{text}[fleet]\npostgres_url_file = \"{}\"\nhost_id = \"{host_id}\"\nhealth_interval_s = 1\n{extra}",
            url.display()
        ),
    )
    .unwrap();
    d.env = vec![];
    d
}

fn migrate(d: &Daemon) {
    let run = support::dlpd(&d.config, &["fleet", "migrate"]);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
}

fn fleet_findings(pg: &Postgres, host: &str) -> i64 {
    pg.count(&format!(
        "SELECT count(*) FROM findings WHERE host_id = '{host}'"
    ))
}

fn local_findings(d: &Daemon) -> i64 {
    d.count("SELECT count(*) FROM findings")
}

/// Waits until the fleet holds exactly the daemon's findings.
fn wait_shipped(pg: &Postgres, d: &Daemon, host: &str) {
    let ok = wait_for(DEADLINE, || {
        let local = local_findings(d);
        local > 0 && fleet_findings(pg, host) == local
    });
    assert!(
        ok,
        "{host}: fleet has {} findings, the store {}:\n{}",
        fleet_findings(pg, host),
        local_findings(d),
        d.log()
    );
}

fn drop_cards(d: &Daemon, name: &str) -> std::path::PathBuf {
    let p = d.root().join(name);
    std::fs::write(&p, SAMPLE_PCI).unwrap();
    p
}

#[test]
fn two_daemons_ship_to_one_database_exactly_once_through_an_outage() {
    let pg = Postgres::start();
    let mut a = daemon(&pg, "alpha", "");
    let events = a.dir.path().join("log/events.ndjson");
    {
        let text = std::fs::read_to_string(&a.config).unwrap();
        std::fs::write(
            &a.config,
            format!("{text}[export]\nevents = \"{}\"\n", events.display()),
        )
        .unwrap();
    }
    let mut b = daemon(&pg, "beta", "");
    // One fleet key for both: the same card on both machines is one value.
    let key = pg_key();
    for d in [&a, &b] {
        let text = std::fs::read_to_string(&d.config).unwrap();
        let text = text.replacen(
            "[fleet]\n",
            &format!("[fleet]\nkey_file = \"{}\"\n", key.display()),
            1,
        );
        std::fs::write(&d.config, text).unwrap();
    }
    migrate(&a);
    // A second migrate finds nothing to do.
    let again = support::dlpd(&b.config, &["fleet", "migrate"]);
    assert!(again.stdout().contains("up to date"), "{}", again.stdout());
    a.start();
    b.start();
    drop_cards(&a, "a1.csv");
    drop_cards(&b, "b1.csv");
    wait_shipped(&pg, &a, "alpha");
    wait_shipped(&pg, &b, "beta");
    assert_eq!(fleet_findings(&pg, "alpha"), 10);

    // The database goes away; files keep arriving and wait in the outbox.
    pg.stop();
    for i in 2..5 {
        drop_cards(&a, &format!("a{i}.csv"));
        drop_cards(&b, &format!("b{i}.csv"));
    }
    for d in [&a, &b] {
        assert!(
            wait_for(DEADLINE, || local_findings(d) == 40),
            "{}",
            d.log()
        );
    }
    assert!(
        wait_for(DEADLINE, || a.log().contains("fleet database unavailable")),
        "{}",
        a.log()
    );
    pg.restart();
    wait_shipped(&pg, &a, "alpha");
    wait_shipped(&pg, &b, "beta");
    assert_eq!(fleet_findings(&pg, "alpha"), 40);
    assert_eq!(fleet_findings(&pg, "beta"), 40);
    // Each finding row names its file and content.
    assert_eq!(
        pg.count(
            "SELECT count(*) FROM findings WHERE path LIKE '%/a_.csv' AND sha256 ~ '^[0-9a-f]{64}$'"
        ),
        40
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT path) FROM files WHERE host_id = 'beta'"),
        4
    );
    // Both machines are known, with their health.
    assert!(
        wait_for(DEADLINE, || pg.count(
            "SELECT count(*) FROM hosts WHERE status = 'ok' AND health IS NOT NULL"
        ) == 2),
        "{}",
        pg.psql(support::postgres::USER, "SELECT * FROM hosts")
    );
    assert!(pg.count("SELECT count(*) FROM health WHERE host_id = 'alpha'") >= 1);
    // Masked values only: no row holds a raw card.
    let dump = pg.psql(
        support::postgres::USER,
        "SELECT string_agg(finding || value_hash, ' ') FROM findings",
    );
    assert!(
        !dump.contains(RAW_CARD) && !dump.contains("4916673475725015"),
        "{dump}"
    );
    // The fleet hash matches one card across both machines (10 values).
    assert_eq!(
        pg.count("SELECT count(DISTINCT value_hash) FROM findings"),
        10
    );

    fleet_view_counts_equal_the_database(&pg, &a);

    // The events file: one ECS line per event, 40 findings, no raw value.
    assert!(
        wait_for(DEADLINE, || read_events(&events)
            .iter()
            .filter(|e| e["event"]["dataset"] == "dlpd.finding")
            .count()
            == 40),
        "{}",
        a.log()
    );
    let lines = read_events(&events);
    let finding = lines
        .iter()
        .find(|e| e["event"]["dataset"] == "dlpd.finding")
        .unwrap();
    assert_eq!(finding["host"]["id"], "alpha");
    assert_eq!(finding["event"]["kind"], "alert");
    assert_eq!(finding["rule"]["name"], "CREDIT_CARD_NUMBER");
    assert!(finding["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        finding["file"]["hash"]["sha256"].as_str().unwrap().len(),
        64
    );
    assert!(finding["file"]["path"].as_str().unwrap().ends_with(".csv"));
    let raw = std::fs::read_to_string(&events).unwrap();
    assert!(!raw.contains(RAW_CARD) && !raw.contains("4916673475725015"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&events).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn pg_key() -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let path = dir.path().join("fleet-key");
    std::fs::write(&path, "a shared fleet key of more than 32 bytes\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// `dlpd fleet serve` on a free port, with the API token.
struct Serve {
    child: std::process::Child,
    port: u16,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const TOKEN: &str = "fleet-view-test-token";

fn fleet_serve(config: &Path) -> Serve {
    use std::io::BufRead;
    let mut child = support::cmd(config)
        .args(["fleet", "serve", "--listen", "127.0.0.1:0"])
        .env("DLPD_API_TOKEN", TOKEN)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    while let Ok(line) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        seen.push_str(&line);
        seen.push('\n');
        if let Some(at) = line.find("listen=127.0.0.1:") {
            let port: String = line[at + 17..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            return Serve {
                child,
                port: port.parse().unwrap(),
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("fleet serve did not start:\n{seen}");
}

fn get(port: u16, path: &str) -> (u16, String) {
    support::http(
        port,
        &format!("GET {path} HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"),
        b"",
    )
}

fn get_json(port: u16, path: &str) -> serde_json::Value {
    let (status, body) = get(port, path);
    assert_eq!(status, 200, "{path}: {body}");
    let at = body.find("\r\n\r\n").map_or(0, |i| i + 4);
    serde_json::from_str(&body[at..]).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn fleet_view_counts_equal_the_database(pg: &Postgres, d: &Daemon) {
    let serve = fleet_serve(&d.config);
    let port = serve.port;
    // Without the token: refused.
    let (status, _) = support::http(port, "GET /api/summary HTTP/1.1\r\n", b"");
    assert_eq!(status, 401);
    let summary = get_json(port, "/api/summary");
    assert_eq!(summary["machines"], 2);
    assert_eq!(
        summary["findings"].as_i64().unwrap(),
        pg.count("SELECT count(*) FROM findings")
    );
    assert_eq!(
        summary["files"].as_i64().unwrap(),
        pg.count("SELECT count(*) FROM files")
    );
    assert_eq!(summary["by_detector"][0][0], "CREDIT_CARD_NUMBER");
    assert_eq!(
        summary["by_detector"][0][1].as_i64().unwrap(),
        pg.count("SELECT count(*) FROM findings")
    );
    let machines = get_json(port, "/api/machines");
    for m in machines.as_array().unwrap() {
        let host = m["host_id"].as_str().unwrap();
        assert_eq!(
            m["findings"].as_i64().unwrap(),
            fleet_findings(pg, host),
            "{m}"
        );
        assert_eq!(m["status"], "ok", "{m}");
    }
    let files = get_json(port, "/api/files?host=beta");
    assert_eq!(
        files["files"].as_array().unwrap().len() as i64,
        pg.count("SELECT count(*) FROM files WHERE host_id = 'beta' AND findings > 0")
    );
    let values = get_json(port, "/api/values");
    assert_eq!(values.as_array().unwrap().len(), 10, "{values}");
    assert_eq!(values[0]["machines"], 2);
    // The pages: every one answers, none holds a raw card, and the fleet
    // view refuses actions.
    for page in [
        "/",
        "/machines",
        "/files",
        "/files?detector=CREDIT_CARD_NUMBER",
        "/values",
        "/anomalies",
    ] {
        let (status, body) = get(port, page);
        assert_eq!(status, 200, "{page}: {body}");
        assert!(
            body.contains("Machines")
                && !body.contains("4916673475725015")
                && !body.contains(RAW_CARD),
            "{page}"
        );
    }
    let (status, _) = get(port, "/files?page=-1");
    assert_eq!(status, 400);
    let (status, _) = support::http(
        port,
        &format!(
            "POST /quarantine/1 HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\n"
        ),
        b"",
    );
    assert_eq!(status, 404);
}

fn read_events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_daemon_killed_mid_batch_ships_every_row_once() {
    let pg = Postgres::start();
    // Small batches, so the kill lands between them.
    let mut d = daemon(&pg, "gamma", "batch_events = 20\n");
    migrate(&d);
    // 2,000 cards in one file: 2,000 finding rows.
    let cards: String = SAMPLE_PCI.lines().skip(1).collect::<Vec<_>>().join("\n") + "\n";
    let mut big = String::from("id,name,card\n");
    for _ in 0..200 {
        big.push_str(&cards);
    }
    d.start();
    std::fs::write(d.root().join("dump.csv"), &big).unwrap();
    let expected = 2000;
    assert!(
        wait_for(DEADLINE, || fleet_findings(&pg, "gamma") > 0),
        "{}",
        d.log()
    );
    d.signal(libc::SIGKILL);
    let shipped = fleet_findings(&pg, "gamma");
    assert_eq!(local_findings(&d), expected, "{}", d.log());
    assert!(
        shipped < expected,
        "every row went before the kill ({shipped}); the test proves nothing"
    );
    d.start();
    wait_shipped(&pg, &d, "gamma");
    assert!(
        wait_for(Duration::from_secs(5), || fleet_findings(&pg, "gamma")
            == expected),
        "{}",
        fleet_findings(&pg, "gamma")
    );
    assert_eq!(
        pg.count("SELECT count(DISTINCT (byte_start, path)) FROM findings"),
        expected
    );
    assert_eq!(
        pg.count("SELECT count(*) FROM files WHERE host_id = 'gamma'"),
        1
    );
}

#[test]
fn a_password_in_the_config_is_refused_with_the_fix() {
    let d = Daemon::new(
        "[fleet]\npostgres_url = \"postgres://dlpd:hunter2@db.example.com/dlpd?sslmode=require\"\n",
    );
    let run = support::dlpd(&d.config, &["check-config"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("fleet.postgres_url") && run.stderr().contains("postgres_url_file"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("hunter2"), "{}", run.stderr());
    let d = Daemon::new("[fleet]\npostgres_url = \"postgres://dlpd@db.example.com/dlpd\"\n");
    let run = support::dlpd(&d.config, &["check-config"]);
    assert!(run.stderr().contains("sslmode=require"), "{}", run.stderr());
    // Migrate without a fleet says what to set.
    let d = Daemon::new("");
    let run = support::dlpd(&d.config, &["fleet", "migrate"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("fleet.postgres_url"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_full_outbox_drops_new_events_counts_them_and_says_so() {
    // A database that never answers, and room for 15 events.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut d = Daemon::new(&format!(
        "[fleet]\npostgres_url = \"postgres://dlpd@127.0.0.1:{port}/dlpd\"\nhealth_interval_s = 1\noutbox_max_events = 15\n"
    ));
    d.start();
    // Each file is 11 events: its record and 10 findings.
    for i in 0..3 {
        drop_cards(&d, &format!("c{i}.csv"));
    }
    assert!(
        wait_for(DEADLINE, || local_findings(&d) == 30),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || d.log().contains("the event outbox is full")),
        "{}",
        d.log()
    );
    let status = support::dlpd(&d.config, &["status", "--json"]);
    let s: serde_json::Value = serde_json::from_str(&status.stdout()).unwrap();
    assert!(s["events_dropped"].as_u64().unwrap() >= 11, "{s}");
    // Health rows pass a full outbox, so the drops are heard.
    assert!(s["events_waiting"].as_u64().unwrap() >= 12, "{s}");
    let (_, metrics) = support::http(d.metrics_port(), "GET /metrics HTTP/1.1\r\n", b"");
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("dlpd_events_dropped_total "))
        .unwrap_or_else(|| panic!("{metrics}"))
        .parse()
        .unwrap();
    assert!(dropped >= 11, "{metrics}");
    let (_, health) = support::http(d.metrics_port(), "GET /healthz HTTP/1.1\r\n", b"");
    assert!(health.contains("\"dropped\""), "{health}");
}

#[test]
fn the_events_file_rotates_and_is_reopened_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let mut d = Daemon::new(&format!(
        "[export]\nevents = \"{}\"\nmax_bytes = 20000\nkeep = 20\n",
        events.display()
    ));
    d.start();
    for i in 0..6 {
        drop_cards(&d, &format!("r{i}.csv"));
    }
    let all = |dir: &Path| -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.file_name().to_string_lossy().starts_with("events.ndjson") {
                out.extend(read_events(&e.path()));
            }
        }
        out
    };
    let findings = |v: &[serde_json::Value]| {
        v.iter()
            .filter(|e| e["event"]["dataset"] == "dlpd.finding")
            .count()
    };
    assert!(
        wait_for(DEADLINE, || findings(&all(dir.path())) == 60),
        "{}",
        d.log()
    );
    // Rotated: every file under the bound, and the ids unique.
    let rotated = dir.path().join("events.ndjson.1");
    assert!(rotated.exists());
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        assert!(e.metadata().unwrap().len() <= 20000, "{:?}", e.path());
    }
    let ids: std::collections::HashSet<String> = all(dir.path())
        .iter()
        .map(|e| e["event"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), all(dir.path()).len());

    // logrotate moves the file away and sends SIGHUP: the next events go
    // to a new file of that name.
    let moved = dir.path().join("moved.ndjson");
    std::fs::rename(&events, &moved).unwrap();
    let before = read_events(&moved).len();
    unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
    assert!(
        wait_for(DEADLINE, || d.log().contains("config reloaded")),
        "{}",
        d.log()
    );
    drop_cards(&d, "after.csv");
    assert!(
        wait_for(DEADLINE, || findings(&read_events(&events)) == 10),
        "{}",
        d.log()
    );
    assert_eq!(read_events(&moved).len(), before);
}

#[test]
fn a_row_the_database_refuses_is_skipped_alone_and_a_long_path_ships() {
    let pg = Postgres::start();
    let mut d = daemon(&pg, "delta", "");
    migrate(&d);
    // The database refuses one file's findings; the rest must still go.
    pg.psql(
        support::postgres::USER,
        "ALTER TABLE findings ADD CONSTRAINT no_poison CHECK (path NOT LIKE '%poison%')",
    );
    d.start();
    drop_cards(&d, "poison.csv");
    drop_cards(&d, "fine.csv");
    // A path of 3,000 bytes: longer than a btree index row may be.
    let mut deep = d.root();
    for i in 0..12 {
        deep.push(format!("{i:02}{}", "x".repeat(240)));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("cards.csv"), SAMPLE_PCI).unwrap();
    let shipped = |like: &str| {
        pg.count(&format!(
            "SELECT count(*) FROM findings WHERE path LIKE '{like}'"
        ))
    };
    assert!(
        wait_for(DEADLINE, || shipped("%/fine.csv") == 10
            && shipped("%/cards.csv") == 10),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .matches("fleet database refused an event")
            .count()
            == 10),
        "{}",
        d.log()
    );
    assert_eq!(shipped("%poison%"), 0);
    // The poison file's own record went, and nothing waits any more.
    assert_eq!(
        pg.count("SELECT count(*) FROM files WHERE path LIKE '%poison%'"),
        1
    );
    assert!(
        wait_for(DEADLINE, || {
            let s = support::dlpd(&d.config, &["status", "--json"]);
            serde_json::from_str::<serde_json::Value>(&s.stdout()).unwrap()["events_waiting"] == 0
        }),
        "{}",
        d.log()
    );
}

#[test]
fn quarantine_and_restore_are_events_too() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.ndjson");
    let mut d = Daemon::new(&format!(
        "[remediation]\nrules = [{{ detector = \"CREDIT_CARD_NUMBER\", action = \"quarantine\" }}]\n\
         [export]\nevents = \"{}\"\n",
        events.display()
    ));
    d.start();
    let file = drop_cards(&d, "export.csv");
    let action = |state: &str| {
        read_events(&events).into_iter().find(|e| {
            e["event"]["dataset"] == "dlpd.action" && e["dlpd"]["quarantine"]["state"] == state
        })
    };
    assert!(
        wait_for(DEADLINE, || action("quarantined").is_some()),
        "{}",
        d.log()
    );
    let q = action("quarantined").unwrap();
    assert_eq!(q["event"]["action"], "quarantine");
    assert_eq!(q["file"]["path"], file.to_str().unwrap());
    assert_eq!(q["file"]["hash"]["sha256"].as_str().unwrap().len(), 64);
    // A restore by hand, from the command line, is one too.
    let restore = support::dlpd(&d.config, &["quarantine", "restore", "1"]);
    assert_eq!(restore.code(), 0, "{}", restore.stderr());
    assert!(
        wait_for(DEADLINE, || action("restored").is_some()),
        "{}",
        d.log()
    );
    assert_eq!(action("restored").unwrap()["event"]["action"], "restore");
}

#[test]
fn tls_is_used_and_the_server_checked_against_ca_file() {
    let pg = Postgres::start_tls();
    let mut d = Daemon::new("");
    let url = d.dir.path().join("fleet-url");
    std::fs::write(&url, format!("{}?sslmode=require", pg.url())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&url, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = std::fs::read_to_string(&d.config).unwrap();
    // First without the CA: the system's trust store does not know it.
    let fleet = format!(
        "[fleet]\npostgres_url_file = \"{}\"\nhost_id = \"epsilon\"\n",
        url.display()
    );
    std::fs::write(&d.config, format!("{text}{fleet}")).unwrap();
    let refused = support::dlpd(&d.config, &["fleet", "migrate"]);
    assert_eq!(refused.code(), 2, "{}", refused.stdout());
    assert!(
        refused.stderr().to_lowercase().contains("certificate"),
        "{}",
        refused.stderr()
    );
    assert!(!refused.stderr().contains(support::postgres::PASSWORD));
    // With it: migrated, shipped, and over TLS.
    std::fs::write(
        &d.config,
        format!("{text}{fleet}ca_file = \"{}\"\n", pg.cert().display()),
    )
    .unwrap();
    migrate(&d);
    d.start();
    drop_cards(&d, "tls.csv");
    assert!(
        wait_for(DEADLINE, || fleet_findings(&pg, "epsilon") == 10),
        "{}",
        d.log()
    );
    assert!(
        pg.count(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'dlpd'"
        ) >= 1
    );
}
