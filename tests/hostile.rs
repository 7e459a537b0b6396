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
fn a_queued_file_swapped_for_a_symlink_is_not_uploaded_to_nightfall() {
    let opts = support::nightfall::Options::default();
    let fake = support::nightfall::FakeNightfall::start(opts.clone());
    let (mut d, _) = support::nightfall::daemon(&fake, &opts, "", "", "");
    let secret = d.dir.path().join("root-only.csv");
    std::fs::write(&secret, SAMPLE_PCI).unwrap();
    let link = d.root().join("report.csv");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    queue_behind_the_daemons_back(&mut d, &link);
    start_and_drain(&mut d);
    let status: String = d.query("SELECT error FROM files WHERE path LIKE '%report.csv'");
    assert!(status.contains("symlink"), "{status}");
    let stats = fake.stats();
    assert_eq!(stats.requests.get("upload"), None, "{:?}", stats.requests);
    assert!(stats.scans_by_content.is_empty());
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

mod quarantine_moves {
    use std::os::unix::fs::PermissionsExt;

    use dlpd::quarantine::Quarantine;
    use dlpd::store::QuarantineState;

    use super::SAMPLE_PCI;
    use super::support::quarantine::{mode, open_store, planned};

    /// A root with a victim file outside it: the same content, mode 0644,
    /// the kind of file an attacker would like dlpd to chmod or overwrite.
    fn setup() -> (
        tempfile::TempDir,
        std::path::PathBuf,
        std::path::PathBuf,
        Quarantine,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let victim = dir.path().join("victim.csv");
        std::fs::write(&victim, SAMPLE_PCI).unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let q = Quarantine::new(dir.path().join("q"), true, vec![root.clone()]);
        (dir, root, victim, q)
    }

    #[test]
    fn a_file_swapped_for_a_symlink_before_the_move_is_not_followed() {
        let (dir, root, victim, q) = setup();
        let file = root.join("x.csv");
        std::fs::write(&file, SAMPLE_PCI).unwrap();
        let (mut store, id) = planned(dir.path(), &file, &q);
        // Between the hash check and the move, the path becomes a link.
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        drop(store);
        store = open_store(dir.path());
        q.recover(&mut store).unwrap();
        let rec = store.quarantine_get(id).unwrap().unwrap();
        assert_eq!(rec.state, QuarantineState::Failed, "{rec:?}");
        assert_eq!(mode(&victim), 0o644, "the victim was chmod-ed");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), SAMPLE_PCI);
        assert!(std::fs::symlink_metadata(&file).unwrap().is_symlink());
    }

    #[test]
    fn a_file_with_another_hard_link_is_refused_and_its_other_link_untouched() {
        let (dir, root, victim, q) = setup();
        let file = root.join("linked.csv");
        std::fs::hard_link(&victim, &file).unwrap();
        let (mut store, id) = planned(dir.path(), &file, &q);
        let rec = store.quarantine_get(id).unwrap().unwrap();
        let err = q.carry_out(&mut store, &rec).unwrap_err().to_string();
        assert!(err.contains("2 hard links"), "{err}");
        assert_eq!(mode(&victim), 0o644, "the other link was chmod-ed");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), SAMPLE_PCI);
        assert!(!q.stored_path(id).exists());
    }

    #[test]
    fn restore_through_a_directory_swapped_for_a_symlink_is_refused() {
        let (dir, root, _victim, q) = setup();
        std::fs::create_dir(root.join("sub")).unwrap();
        let file = root.join("sub/a.csv");
        std::fs::write(&file, SAMPLE_PCI).unwrap();
        let (mut store, id) = planned(dir.path(), &file, &q);
        let rec = store.quarantine_get(id).unwrap().unwrap();
        q.carry_out(&mut store, &rec).unwrap();
        // The directory is replaced by a link to somewhere else.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::rename(root.join("sub"), root.join("sub.old")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.join("sub")).unwrap();
        let err = q.restore(&mut store, id).unwrap_err().to_string();
        assert!(err.contains("symlink"), "{err}");
        assert!(
            !elsewhere.join("a.csv").exists(),
            "restored through the link"
        );
        assert!(q.stored_path(id).exists(), "the quarantined copy is kept");
    }
}

/// A one-page PDF whose content stream is `inflated` spaces and a card
/// number, deflated: a few hundred KB on disk.
fn pdf_bomb(inflated: usize) -> Vec<u8> {
    pdf_bomb_with(inflated, " /Filter /FlateDecode")
}

/// [`pdf_bomb`], the stream's dictionary ending in `filter`.
fn pdf_bomb_with(inflated: usize, filter: &str) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let chunk = vec![b' '; 1 << 20];
    for _ in 0..inflated >> 20 {
        z.write_all(&chunk).unwrap();
    }
    z.write_all(b"BT /F1 12 Tf 72 720 Td (4916-6734-7572-5015) Tj ET")
        .unwrap();
    let stream = z.finish().unwrap();
    support::pdf::one_page(stream, filter)
}

#[test]
fn a_pdf_slower_to_read_than_its_time_budget_is_skipped_saying_so() {
    let env = support::Env::new();
    // A card, then 1 MB of operators that draw nothing: read in a few ms.
    let mut content = b"BT /F1 12 Tf 72 720 Td (4916-6734-7572-5015) Tj ET ".to_vec();
    content.extend(b"1 0 0 1 0 0 cm ".repeat(70_000));
    let one = env.write("one.pdf", support::pdf::drawn_repeatedly(&content, 1));
    let run = env.run(&["scan", one.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    // The page draws it 4,000 times, 30 KB on disk: 4 GB of operators,
    // tens of seconds of CPU, against a budget of two seconds for a file
    // this size (eight in a debug build).
    let slow = env.write("slow.pdf", support::pdf::drawn_repeatedly(&content, 4000));
    let budget = if cfg!(debug_assertions) { 8 } else { 2 };
    let run = env.run(&["scan", slow.to_str().unwrap()]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 3, "{stderr}");
    let reason = format!("took more than {budget} s of CPU, its time budget");
    assert!(stderr.contains(&reason), "{stderr}");
}

#[test]
fn a_pdf_that_inflates_past_the_parsers_memory_limit_is_skipped_not_fatal() {
    let env = support::Env::new();
    let small = env.write("small.pdf", pdf_bomb(1 << 20));
    let bomb = env.write("bomb.pdf", pdf_bomb(512 << 20));
    // The same content, small: parsed and found (the child works).
    let run = env.run(&["scan", small.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    // Inflating to 512 MiB: the child runs out of its address space; dlpd
    // itself, held to 768 MiB (before: it inflated the stream itself, and
    // aborted), carries on and says why.
    let run = env.run_in(768 << 20, &["scan", bomb.to_str().unwrap()]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 3, "{stderr}");
    assert!(stderr.contains("memory"), "{stderr}");
    // The same through a filter array with decode parameters, which went
    // to lopdf's inflating, read short when memory ran out, and was taken
    // for clean.
    let bomb = env.write(
        "params.pdf",
        pdf_bomb_with(512 << 20, " /Filter [/FlateDecode] /DecodeParms << >>"),
    );
    let run = env.run_in(768 << 20, &["scan", bomb.to_str().unwrap()]);
    let stderr = run.stderr();
    assert_eq!(run.code(), 3, "{stderr}");
    assert!(stderr.contains("memory"), "{stderr}");
}
