//! Hostile files, as an attacker with write access to a watched folder
//! would make them, against the real `dlpd run` binary.

mod support;

use std::path::Path;

use support::daemon::{DEADLINE, Daemon};
use support::{SAMPLE_PCI, wait_for};

/// Queues `path` as if it had settled as a regular file just before an
/// attacker swapped it: the race, made certain. The daemon is stopped
/// while the job is written, and finds it at its next start.
fn queue_behind_the_daemons_back(d: &mut Daemon, path: &Path) {
    d.start();
    assert!(d.signal(libc::SIGTERM).success());
    let conn = rusqlite::Connection::open(d.db()).unwrap();
    conn.execute(
        "INSERT INTO jobs (path, enqueued_at) VALUES (?1, 0)",
        [path.to_str().unwrap().as_bytes()],
    )
    .unwrap();
}

/// Starts the daemon and waits until it has handled every queued job.
fn start_and_drain(d: &mut Daemon) {
    d.start();
    assert!(
        wait_for(DEADLINE, || d.count("SELECT count(*) FROM jobs") == 0),
        "{}",
        d.log()
    );
}

#[test]
fn a_queued_file_swapped_for_a_symlink_is_not_read() {
    let mut d = Daemon::new("");
    let secret = d.dir.path().join("root-only.csv");
    std::fs::write(&secret, SAMPLE_PCI).unwrap();
    let link = d.root().join("report.csv");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    queue_behind_the_daemons_back(&mut d, &link);
    start_and_drain(&mut d);
    assert_eq!(d.file(&link), Some((1, 0)), "{}", d.log());
    let status: String = d.query("SELECT error FROM files WHERE path LIKE '%report.csv'");
    assert!(status.contains("symlink"), "{status}");
    assert!(
        !std::fs::read_to_string(d.csv())
            .unwrap_or_default()
            .contains("report.csv")
    );
}

#[test]
fn a_directory_swapped_for_a_symlink_on_the_way_is_not_followed() {
    let mut d = Daemon::new("");
    let outside = d.dir.path().join("elsewhere");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("cards.csv"), SAMPLE_PCI).unwrap();
    std::os::unix::fs::symlink(&outside, d.root().join("sub")).unwrap();
    let via = d.root().join("sub/cards.csv");
    queue_behind_the_daemons_back(&mut d, &via);
    start_and_drain(&mut d);
    let findings = d.count("SELECT count(*) FROM findings");
    assert_eq!(findings, 0, "{}", d.log());
}

#[test]
fn slow_and_silent_clients_cannot_hide_health_or_hold_a_slot_for_ever() {
    use std::io::{Read, Write};
    let port = support::nightfall::free_port();
    let mut d = Daemon::new(&format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\n[api]\nenabled = true\n"
    ));
    d.env = vec![("DLPD_API_TOKEN".into(), "hostile-test-token".into())];
    d.start();
    assert!(wait_for(DEADLINE, || support::http(
        port,
        "GET /ping HTTP/1.1\r\n",
        b""
    )
    .0 == 200));
    // 80 authenticated requests whose chunked bodies stall after 5 bytes,
    // and 20 connections that send nothing at all: more than the cap.
    let mut stalled = Vec::new();
    for _ in 0..80 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let _ = s.write_all(
            b"POST /v3/scan HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hostile-test-token\r\n\
              Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"pay",
        );
        stalled.push(s);
    }
    let silent: Vec<_> = (0..20)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // Health is still answered, at once, while every slot is taken.
    let (status, body) = support::http(port, "GET /healthz HTTP/1.1\r\n", b"");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    // A stalled body is cut off with 408 once its deadline passes.
    let mut first = stalled.swap_remove(0);
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = first.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // And the slots come back: a real request is served again.
    assert!(wait_for(DEADLINE, || {
        support::http(port, "GET /ping HTTP/1.1\r\n", b"").0 == 200
    }));
    drop((stalled, silent));
}
