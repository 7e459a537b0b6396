//! The dashboard on the real daemon: in a real headless Chromium (log in,
//! every page, counts against the store, quarantine and restore from the
//! page, a live update, a request without the CSRF token refused), and
//! over plain HTTP (who may ask, the headers every answer carries). No raw
//! finding value may reach the HTML or the JSON.

mod support;

use std::path::Path;
use std::time::Duration;

use support::daemon::{DEADLINE, Daemon};
use support::webdriver::{self, Browser};
use support::{SAMPLE_PCI, http, wait_for};

const TOKEN: &str = "dashboard-token-8c1f2e";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// A daemon with the dashboard on, two files with findings recorded.
fn daemon() -> Daemon {
    // Short intervals, so a burst is an anomaly the baselines page shows.
    let mut d = Daemon::new(
        "[webhook]\nlisten = \"127.0.0.1:0\"\n[dashboard]\nenabled = true\n\
         [baselines]\ninterval_s = 5\nwarmup_intervals = 0\nmin_count = 3\n",
    );
    d.env = vec![("DLPD_API_TOKEN".into(), TOKEN.into())];
    // No metrics listener: the dashboard alone must get the keeper's answers.
    let config = std::fs::read_to_string(&d.config).unwrap();
    let without_metrics = config.replace(
        "[metrics]\nlisten = \"127.0.0.1:0\"",
        "[metrics]\nlisten = \"\"",
    );
    assert_ne!(config, without_metrics);
    std::fs::write(&d.config, without_metrics).unwrap();
    std::fs::write(d.root().join("cards.csv"), SAMPLE_PCI).unwrap();
    std::fs::write(
        d.root().join("aws.env"),
        format!("aws_secret_access_key = \"{AWS_SECRET}\"\n"),
    )
    .unwrap();
    d.start();
    d.wait_recorded(&d.root().join("cards.csv"));
    d.wait_recorded(&d.root().join("aws.env"));
    d
}

/// Every raw value in the files: each card as written and as digits.
fn raw_values() -> Vec<String> {
    let mut out = vec![AWS_SECRET.to_string()];
    for line in SAMPLE_PCI.lines().skip(1) {
        let card = line.rsplit(',').next().unwrap().trim();
        out.push(card.to_string());
        out.push(card.replace('-', ""));
    }
    out
}

fn assert_no_raw_value(what: &str, text: &str) {
    for raw in raw_values() {
        assert!(
            !text.contains(&raw),
            "{what} shows the raw value {raw}:\n{text}"
        );
    }
}

/// Where a test's screenshots go: its temp dir, and `DLPD_SCREENSHOTS`
/// when set (that is how docs/img is made).
fn shot(b: &Browser, d: &Daemon, name: &str) {
    let to = d.root().parent().unwrap().join(format!("{name}.png"));
    b.screenshot(&to);
    assert!(std::fs::metadata(&to).unwrap().len() > 1000);
    if let Some(dir) = std::env::var_os("DLPD_SCREENSHOTS") {
        std::fs::copy(&to, Path::new(&dir).join(format!("{name}.png"))).unwrap();
    }
}

fn field(b: &Browser, name: &str) -> String {
    b.wait(&format!("[data-field='{name}']")).text()
}

#[test]
fn a_browser_logs_in_sees_the_stores_counts_and_quarantines_and_restores_a_file() {
    if !webdriver::available() {
        return;
    }
    let d = daemon();
    let base = format!("http://127.0.0.1:{}", d.listener_port());
    let b = Browser::start();

    // Not logged in: the login form.
    b.goto(&format!("{base}/"));
    assert!(b.url().ends_with("/login"), "{}", b.url());
    shot(&b, &d, "login");
    b.wait("input[name=token]").type_text("not-the-token");
    b.wait("form.login button").click();
    assert!(wait_for(DEADLINE, || b
        .source()
        .contains("That is not the token")));
    b.wait("input[name=token]").type_text(TOKEN);
    b.wait("form.login button").click();

    // The overview's counts are the store's.
    let with_findings = d.count("SELECT count(*) FROM files WHERE findings > 0");
    let findings = d.count("SELECT count(*) FROM findings");
    assert_eq!((with_findings, findings), (2, 11));
    assert!(
        wait_for(DEADLINE, || field(&b, "files_with_findings") == "2"),
        "{}",
        b.source()
    );
    assert_eq!(field(&b, "findings"), findings.to_string());
    assert_eq!(
        field(&b, "scanned"),
        d.count("SELECT count(*) FROM files").to_string()
    );
    let page = b.source();
    assert!(
        page.contains("CREDIT_CARD_NUMBER") && page.contains("<svg"),
        "{page}"
    );
    assert_no_raw_value("the overview", &page);
    shot(&b, &d, "overview");

    // Sensitive files: one row per file with findings; a filter narrows.
    b.goto(&format!("{base}/files"));
    let rows = || b.run("return document.querySelectorAll('#rows tr').length");
    assert!(wait_for(DEADLINE, || rows() == 2), "{}", b.source());
    assert_eq!(field(&b, "total"), "2");
    shot(&b, &d, "files");
    b.goto(&format!("{base}/files?detector=CREDIT_CARD_NUMBER"));
    assert!(wait_for(DEADLINE, || rows() == 1));
    assert!(b.source().contains("cards.csv"));

    // Live: a new file shows up without a reload.
    b.goto(&format!("{base}/"));
    assert!(wait_for(DEADLINE, || field(&b, "files_with_findings") == "2"));
    b.run("window.notReloaded = true; return 0");
    std::fs::write(d.root().join("more.csv"), SAMPLE_PCI.replace("Name", "Who")).unwrap();
    assert!(
        wait_for(DEADLINE, || field(&b, "files_with_findings") == "3"),
        "{}",
        b.source()
    );
    assert_eq!(b.run("return window.notReloaded === true"), true);

    // One file: masked findings, then quarantine and restore from the page.
    let cards = d.root().join("cards.csv");
    let id = d.query::<i64>(&format!(
        "SELECT id FROM files WHERE path = CAST('{}' AS BLOB)",
        cards.display()
    ));
    b.goto(&format!("{base}/files/{id}"));
    // The page is in once its button is (a loaded machine may answer the
    // source before the navigation has committed).
    b.wait("#quarantine");
    let page = b.source();
    assert!(page.contains("****-****-****-7862"), "{page}");
    assert_no_raw_value("the file page", &page);
    shot(&b, &d, "file");
    b.wait("#quarantine").click();
    // The page comes back saying what was done, with a restore button.
    let restore = b.wait("#restore");
    assert!(
        b.wait("p.said").text().starts_with("quarantined"),
        "{}",
        b.source()
    );
    let state = || d.query::<String>("SELECT state FROM quarantine ORDER BY id DESC LIMIT 1");
    assert_eq!(state(), "quarantined");
    assert!(
        !std::fs::read_to_string(&cards)
            .unwrap_or_default()
            .contains("5433-9502")
    );
    // A restore hands the data back: the token is asked for again.
    restore.click();
    assert!(
        wait_for(DEADLINE, || b.source().contains("typed again")),
        "{}",
        b.source()
    );
    assert_eq!(state(), "quarantined");
    b.goto(&format!("{base}/files/{id}"));
    b.wait("input[name=token]").type_text(TOKEN);
    b.wait("#restore").click();
    assert!(wait_for(DEADLINE, || state() == "restored"), "{}", d.log());
    // Back where it was, it is listed again.
    let listed = "SELECT count(*) FROM files WHERE findings > 0 AND gone_at IS NULL";
    assert!(wait_for(DEADLINE, || d.count(listed) == 3), "{}", d.log());
    assert_eq!(std::fs::read_to_string(&cards).unwrap(), SAMPLE_PCI);
    assert!(b.wait("#quarantine").text().contains("Quarantine"));

    // A request from the page without the CSRF token is refused.
    let status = b.run(&format!(
        "var x = new XMLHttpRequest(); x.open('POST', '/files/{id}/quarantine', false); x.send(''); return x.status"
    ));
    assert_eq!(status, 403);
    assert_eq!(state(), "restored");

    // Alerts and baselines.
    b.goto(&format!("{base}/alerts"));
    b.wait("table");
    shot(&b, &d, "alerts");
    // A burst (split across two intervals at worst, 4 and 4) is an
    // anomaly, marked on the baselines page.
    for i in 0..8 {
        std::fs::write(
            d.root().join(format!("burst{i}.csv")),
            SAMPLE_PCI.replace("Name", &format!("N{i}")),
        )
        .unwrap();
    }
    assert!(
        wait_for(DEADLINE, || d.count("SELECT count(*) FROM anomalies") >= 1),
        "{}",
        d.log()
    );
    b.goto(&format!("{base}/baselines"));
    b.wait("svg.chart rect.anomaly");
    assert!(b.source().contains("uid:"), "{}", b.source());
    shot(&b, &d, "baselines");

    // Logged out, the pages are closed again.
    b.goto(&format!("{base}/"));
    b.wait("form.logout button").click();
    assert!(wait_for(DEADLINE, || b.url().ends_with("/login")));
    b.goto(&format!("{base}/files"));
    assert!(b.url().ends_with("/login"));
}

/// A request to the dashboard: status, headers and body.
fn request(port: u16, head: &str, body: &str) -> (u16, String, String) {
    request_to(port, &format!("127.0.0.1:{port}"), head, body)
}

/// The same, naming `host` in the `Host` header.
fn request_to(port: u16, host: &str, head: &str, body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{head}Host: {host}\r\nContent-Length: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let (headers, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = headers
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, headers.to_ascii_lowercase(), body.to_string())
}

#[test]
fn only_the_token_opens_it_and_every_answer_is_locked_down() {
    let d = daemon();
    let port = d.listener_port();
    let bearer = format!("Authorization: Bearer {TOKEN}\r\n");

    // Nothing without the token.
    let (status, _, _) = request(port, "GET /api/summary HTTP/1.1\r\n", "");
    assert_eq!(status, 401);
    let (status, headers, _) = request(port, "GET /files HTTP/1.1\r\n", "");
    assert_eq!(status, 303);
    assert!(headers.contains("location: /login"));
    let (status, _, _) = request(
        port,
        "GET /api/summary HTTP/1.1\r\nAuthorization: Bearer nope\r\n",
        "",
    );
    assert_eq!(status, 401);

    // The bearer token reads every JSON twin; none holds a raw value, and
    // every answer carries the policy headers.
    let mut first_id = 0;
    for path in [
        "/api/summary",
        "/api/files",
        "/api/alerts",
        "/api/baselines",
        "/api/files?sort=findings&confidence=LIKELY",
    ] {
        let (status, headers, body) =
            request(port, &format!("GET {path} HTTP/1.1\r\n{bearer}"), "");
        assert_eq!(status, 200, "{path}: {body}");
        assert!(
            headers.contains("content-security-policy: default-src 'none'; script-src 'self'"),
            "{headers}"
        );
        assert!(
            headers.contains("x-frame-options: deny")
                && headers.contains("cache-control: no-store")
        );
        assert_no_raw_value(path, &body);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        if path == "/api/files" {
            assert_eq!(v["total"], 2);
            first_id = v["files"][0]["id"].as_i64().unwrap();
        }
        if path == "/api/summary" {
            assert_eq!(v["files_with_findings"], 2);
            assert_eq!(v["findings"], d.count("SELECT count(*) FROM findings"));
        }
    }
    let (status, _, body) = request(
        port,
        &format!("GET /api/files/{first_id} HTTP/1.1\r\n{bearer}"),
        "",
    );
    assert_eq!(status, 200);
    assert_no_raw_value("a file's JSON", &body);
    let (status, _, body) = request(
        port,
        &format!("GET /api/files?confidence=HIGH HTTP/1.1\r\n{bearer}"),
        "",
    );
    assert_eq!(status, 400);
    assert!(body.contains("HIGH"), "{body}");

    // A login from another site is refused; one from here gets a cookie
    // only scripts cannot read and other sites do not send.
    let (status, _, _) = request(
        port,
        "POST /login HTTP/1.1\r\nOrigin: http://evil.example\r\n",
        &format!("token={TOKEN}"),
    );
    assert_eq!(status, 403);
    let (status, headers, _) = request(port, "POST /login HTTP/1.1\r\n", &format!("token={TOKEN}"));
    assert_eq!(status, 303);
    let cookie_line = headers
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap();
    assert!(
        cookie_line.contains("httponly") && cookie_line.contains("samesite=strict"),
        "{cookie_line}"
    );
    let cookie = cookie_line
        .trim_start_matches("set-cookie: ")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let (status, _, page) = request(
        port,
        &format!("GET /files/{first_id} HTTP/1.1\r\nCookie: {cookie}\r\n"),
        "",
    );
    assert_eq!(status, 200);
    assert_no_raw_value("a file page", &page);
    // An action with the cookie alone is refused; nothing moves.
    let (status, _, _) = request(
        port,
        &format!("POST /files/{first_id}/quarantine HTTP/1.1\r\nCookie: {cookie}\r\n"),
        "",
    );
    assert_eq!(status, 403);
    assert_eq!(d.count("SELECT count(*) FROM quarantine"), 0);

    // A page elsewhere whose name was pointed here (DNS rebinding) is
    // not answered.
    let (status, _, _) = request_to(
        port,
        "evil.example",
        &format!("GET /api/summary HTTP/1.1\r\n{bearer}"),
        "",
    );
    assert_eq!(status, 421);

    // Guessing the token: each wrong one waits a second, and past a few
    // at once the rest are turned away; the right one still gets in.
    let started = std::time::Instant::now();
    let guesses: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || match i % 2 {
                0 => request(port, "POST /login HTTP/1.1\r\n", "token=guess").0,
                _ => {
                    request(
                        port,
                        "GET /api/summary HTTP/1.1\r\nAuthorization: Bearer guess\r\n",
                        "",
                    )
                    .0
                }
            })
        })
        .collect();
    let mut statuses: Vec<u16> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    statuses.sort();
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(
        statuses.iter().all(|s| [401, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429) && statuses.contains(&401),
        "{statuses:?}"
    );
    let (status, _, _) = request(port, "POST /login HTTP/1.1\r\n", &format!("token={TOKEN}"));
    assert_eq!(status, 303);
    assert!(
        wait_for(DEADLINE, || d.log().contains("a wrong token")),
        "{}",
        d.log()
    );
    assert!(!d.log().contains(TOKEN));
    // A deleted file leaves the list; its findings stay in the store.
    std::fs::remove_file(d.root().join("aws.env")).unwrap();
    let total = || {
        let (_, _, body) = request(port, &format!("GET /api/files HTTP/1.1\r\n{bearer}"), "");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["total"].clone()
    };
    assert!(wait_for(DEADLINE, || total() == 1), "{}", d.log());
    assert_eq!(d.count("SELECT count(*) FROM findings"), 11);

    // The rest of the listener is as it was.
    assert_eq!(http(port, "GET /ping HTTP/1.1\r\n", b"").0, 200);
}
