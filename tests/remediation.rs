//! Remediation: quarantine (moves, stubs, restore, crash recovery) and
//! alerts (dedupe, 429 Retry-After, a sink that is down for a while), with
//! the real daemon, real files and real HTTP sinks on loopback.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use dlpd::quarantine::Quarantine;
use dlpd::store::QuarantineState;
use support::daemon::{DEADLINE, Daemon};
use support::nightfall::free_port;
use support::quarantine::{mode, open_store, planned};
use support::sink::Sink;
use support::{SAMPLE_PCI, wait_for};

#[test]
fn quarantine_moves_the_file_leaves_a_stub_and_restore_brings_it_back() {
    let mut d = Daemon::new(
        "[remediation]\nrules = [{ detector = \"CREDIT_CARD_NUMBER\", min_confidence = \"LIKELY\", action = \"quarantine\" }]\n",
    );
    d.start();
    let file = d.root().join("export.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let quarantined = "SELECT count(*) FROM quarantine WHERE state = 'quarantined'";
    assert!(
        wait_for(DEADLINE, || d.count(quarantined) == 1),
        "{}",
        d.log()
    );
    let stub = std::fs::read_to_string(&file).unwrap();
    assert!(stub.contains("moved to quarantine by dlpd"), "{stub}");
    assert!(stub.contains("CREDIT_CARD_NUMBER=10") && stub.contains("dlpd quarantine restore 1"));
    let qdir = d.root().join(".dlpd/quarantine");
    let stored = qdir.join("1.quarantined");
    assert_eq!(std::fs::read_to_string(&stored).unwrap(), SAMPLE_PCI);
    assert_eq!(
        (mode(&qdir), mode(&stored), mode(&file)),
        (0o700, 0o600, 0o600)
    );
    // The stub is not news: the findings stay those of the original.
    assert!(wait_for(DEADLINE, || d.count("SELECT count(*) FROM jobs") == 0));
    assert_eq!(d.file(&file), Some((1, 10)));

    let list = support::dlpd(&d.config, &["quarantine", "list"]);
    assert_eq!(list.code(), 0, "{}", list.stderr());
    let out = list.stdout();
    assert!(
        out.contains("quarantined") && out.contains(file.to_str().unwrap()),
        "{out}"
    );
    let status = support::dlpd(&d.config, &["status"]);
    assert!(
        status.stdout().contains("remedies:   1 quarantined"),
        "{}",
        status.stdout()
    );

    let restore = support::dlpd(&d.config, &["quarantine", "restore", "1"]);
    assert_eq!(restore.code(), 0, "{}", restore.stderr());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SAMPLE_PCI);
    assert_eq!(mode(&file), 0o640);
    assert!(!stored.exists());
    // Restored by hand: not quarantined again.
    d.settle();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SAMPLE_PCI);
    assert_eq!(d.count(quarantined), 0);
    let again = support::dlpd(&d.config, &["quarantine", "restore", "1"]);
    assert_eq!(again.code(), 2);
    assert!(
        again.stderr().contains("not quarantined"),
        "{}",
        again.stderr()
    );
}

#[test]
fn moves_work_across_filesystems_and_a_crash_mid_move_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let qdir = dir.path().join("q");
    std::fs::create_dir(&qdir).unwrap();
    let q = Quarantine::new(qdir.clone(), true, vec![dir.path().to_path_buf()]);

    // A real second filesystem, where the machine has one (/dev/shm): the
    // file is copied into quarantine, then removed; and copied back.
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && std::fs::metadata(shm).unwrap().dev() != std::fs::metadata(dir.path()).unwrap().dev()
    {
        let other = tempfile::tempdir_in(shm).unwrap();
        let q = Quarantine::new(
            qdir.clone(),
            true,
            vec![dir.path().to_path_buf(), other.path().to_path_buf()],
        );
        let src = other.path().join("b.csv");
        std::fs::write(&src, SAMPLE_PCI).unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o640)).unwrap();
        let (mut store, id) = planned(dir.path(), &src, &q);
        let rec = store.quarantine_get(id).unwrap().unwrap();
        q.carry_out(&mut store, &rec).unwrap();
        assert_eq!(
            std::fs::read_to_string(q.stored_path(id)).unwrap(),
            SAMPLE_PCI
        );
        assert_eq!(mode(&q.stored_path(id)), 0o600);
        assert!(
            std::fs::read_to_string(&src)
                .unwrap()
                .contains("moved to quarantine")
        );
        assert_eq!(q.restore(&mut store, id).unwrap(), src);
        assert_eq!(std::fs::read_to_string(&src).unwrap(), SAMPLE_PCI);
        assert_eq!(mode(&src), 0o640);
        assert!(!q.stored_path(id).exists());
    }

    // Crash after the copy into quarantine, before the unlink.
    let file = dir.path().join("c.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    let (store, id) = planned(dir.path(), &file, &q);
    std::fs::copy(&file, q.stored_path(id)).unwrap();
    drop(store);
    let mut store = open_store(dir.path());
    assert_eq!(q.recover(&mut store).unwrap(), 1);
    assert_eq!(
        std::fs::read_to_string(q.stored_path(id)).unwrap(),
        SAMPLE_PCI
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("moved to quarantine")
    );
    assert_eq!(
        store.quarantine_get(id).unwrap().unwrap().state,
        QuarantineState::Quarantined
    );
    drop(store);

    // Crash halfway through a cross-filesystem copy: a partial temp file.
    let file = dir.path().join("d.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    let (store, id) = planned(dir.path(), &file, &q);
    let mut tmp = q.stored_path(id).into_os_string();
    tmp.push(".dlpd-tmp");
    std::fs::write(&tmp, &SAMPLE_PCI[..100]).unwrap();
    drop(store);
    let mut store = open_store(dir.path());
    assert_eq!(q.recover(&mut store).unwrap(), 1);
    assert_eq!(
        std::fs::read_to_string(q.stored_path(id)).unwrap(),
        SAMPLE_PCI
    );
    assert!(!Path::new(&tmp).exists());
    // And back.
    assert_eq!(q.restore(&mut store, id).unwrap(), file);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SAMPLE_PCI);

    // A file that changed since its scan is not moved.
    let e = dir.path().join("e.csv");
    std::fs::write(&e, SAMPLE_PCI).unwrap();
    assert!(
        q.prepare(&e, SAMPLE_PCI.len() as u64, "00", String::new())
            .is_err()
    );
    // Nor is one whose size changed, whatever its hash.
    let sha = dlpd::fsutil::sha256_file(&e).unwrap();
    assert!(q.prepare(&e, 1, &sha, String::new()).is_err());
    assert!(
        q.prepare(&e, SAMPLE_PCI.len() as u64, &sha, String::new())
            .is_ok()
    );
    assert!(e.exists());
}

#[test]
fn alerts_are_deduped_kept_while_the_sink_is_down_and_masked() {
    let port = free_port();
    let mut d = Daemon::new(&format!(
        "[remediation]\nrules = [{{ action = \"notify\" }}]\n\
         [alerts]\nsiem_url = \"http://127.0.0.1:{port}/collector\"\nrequests_per_second = 50\n"
    ));
    d.env = vec![("DLPD_SIEM_TOKEN".into(), "siem-token-1".into())];
    d.start();
    let a = d.root().join("a.csv");
    std::fs::write(&a, SAMPLE_PCI).unwrap();
    // Nothing listens yet: the alert is retried and stays queued.
    assert!(
        wait_for(DEADLINE, || d
            .count("SELECT coalesce(max(attempts), 0) FROM alerts")
            >= 2),
        "{}",
        d.log()
    );
    assert_eq!(
        d.count("SELECT count(*) FROM alerts WHERE delivered_at IS NULL"),
        1
    );
    let sink = Sink::start_on(port);
    assert!(
        wait_for(DEADLINE, || sink.received().len() == 1),
        "{}",
        d.log()
    );
    let got = &sink.received()[0];
    assert_eq!(got.path, "/collector");
    assert!(
        got.headers
            .contains(&("authorization".into(), "Bearer siem-token-1".into()))
    );
    let body: serde_json::Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["detector"], "CREDIT_CARD_NUMBER");
    assert_eq!(body["count"], 10);
    assert_eq!(body["action"], "notify");
    assert_eq!(
        body["findings"][0]["redactedFinding"],
        "****-****-****-7862"
    );
    assert!(!got.body.contains("5433-9502-3725-7862"), "{}", got.body);

    // The same content again (a new mtime, so it is scanned again): no new alert.
    std::fs::write(&a, SAMPLE_PCI).unwrap();
    assert!(wait_for(DEADLINE, || d
        .file(&a)
        .is_some_and(|(scans, _)| scans == 2)));
    let b = d.root().join("b.csv");
    std::fs::write(&b, support::SAMPLE_PCI.replace("Name", "Who")).unwrap();
    assert!(wait_for(DEADLINE, || sink.received().len() == 2));
    d.settle();
    let paths: Vec<String> = sink
        .received()
        .iter()
        .map(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(paths, [a.to_str().unwrap(), b.to_str().unwrap()]);
}

#[test]
fn a_slack_429_with_retry_after_is_honoured() {
    let sink = Sink::start_on(0);
    sink.answer(429, Some(1));
    let mut d = Daemon::new(
        "[remediation]\nrules = [{ detector = \"CREDIT_CARD_NUMBER\", action = \"notify\" }]\n",
    );
    d.env = vec![(
        "DLPD_SLACK_WEBHOOK_URL".into(),
        format!("http://127.0.0.1:{}/services/T000/B000/secret", sink.port),
    )];
    d.start();
    std::fs::write(d.root().join("pay.csv"), SAMPLE_PCI).unwrap();
    assert!(
        wait_for(DEADLINE, || sink.received().len() == 2),
        "{}",
        d.log()
    );
    let got = sink.received();
    assert!(
        got[1].at - got[0].at >= Duration::from_millis(950),
        "{:?}",
        got[1].at - got[0].at
    );
    let body: serde_json::Value = serde_json::from_str(&got[1].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(
        text.contains("10 Credit Card Number findings") && text.contains("pay.csv"),
        "{text}"
    );
    assert!(!got[1].body.contains("5433"));
    // The webhook URL is a secret: never in the log.
    assert!(!d.log().contains("/services/T000"), "{}", d.log());
    d.settle();
    assert_eq!(sink.received().len(), 2);
}

#[test]
fn a_file_dlpd_may_read_but_not_move_says_why_it_stays() {
    let mut d = Daemon::new(
        "[remediation]\nrules = [{ detector = \"CREDIT_CARD_NUMBER\", action = \"quarantine\" }]\n",
    );
    d.obey_file_modes();
    let locked = d.root().join("locked");
    std::fs::create_dir(&locked).unwrap();
    let file = locked.join("export.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    d.start();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    assert!(
        wait_for(DEADLINE, || d.log().contains("the file stays")
            || d.log().contains("cannot quarantine")),
        "{}",
        d.log()
    );
    let log = d.log();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        log.contains("needs write permission on its directory"),
        "{log}"
    );
    assert!(!log.contains("a user that can read it"), "{log}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), SAMPLE_PCI);
    // Counted where an administrator looks, with the reason one step away.
    let failed = || {
        let status = support::dlpd(&d.config, &["status", "--json"]).stdout();
        serde_json::from_str::<serde_json::Value>(&status).unwrap()["quarantine_failed"] == 1
    };
    assert!(wait_for(DEADLINE, failed), "{}", d.log());
    let text = support::dlpd(&d.config, &["status"]).stdout();
    assert!(text.contains("1 could not be moved"), "{text}");
    let list = support::dlpd(&d.config, &["quarantine", "list"]).stdout();
    assert!(list.contains("failed"), "{list}");
}
