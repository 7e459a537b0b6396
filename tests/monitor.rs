//! The monitor on the real daemon: behaviour baselines raising an anomaly
//! through the alert sinks, and exposure deciding what a rule does.

mod support;

use support::daemon::{DEADLINE, Daemon};
use support::sink::Sink;
use support::{SAMPLE_PCI, wait_for};

/// The anomalies the SIEM got.
fn anomaly_events(sink: &Sink) -> Vec<serde_json::Value> {
    sink.received()
        .iter()
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|v| v["event"] == "activity_anomaly")
        .collect()
}

#[test]
fn a_burst_of_sensitive_files_is_an_anomaly_but_the_files_found_at_start_are_not() {
    let sink = Sink::start_on(0);
    let mut d = Daemon::new(&format!(
        "[alerts]\nsiem_url = \"http://127.0.0.1:{}/collector\"\nrequests_per_second = 50\n\
         [baselines]\ninterval_s = 5\nwarmup_intervals = 0\nmin_count = 5\n",
        sink.port
    ));
    // Files already there are found by the first walk: not behaviour.
    for i in 0..20 {
        std::fs::write(d.root().join(format!("old{i}.csv")), SAMPLE_PCI).unwrap();
    }
    // A folder to be moved in later, beside the root.
    let folder = d.root().parent().unwrap().join("export");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..6 {
        std::fs::write(folder.join(format!("e{i}.csv")), SAMPLE_PCI).unwrap();
    }
    d.start();
    assert!(
        wait_for(DEADLINE, || d.count("SELECT count(*) FROM files") == 20),
        "{}",
        d.log()
    );
    let uid = unsafe { libc::geteuid() };
    let subject = format!("uid:{uid}");
    let counted =
        format!("SELECT coalesce(sum(count), 0) FROM activity WHERE subject = '{subject}'");
    assert_eq!(d.count(&counted), 0);

    // Then thirty in a burst.
    for i in 0..30 {
        std::fs::write(d.root().join(format!("new{i}.csv")), SAMPLE_PCI).unwrap();
    }
    assert!(
        wait_for(DEADLINE, || d.count(&counted) == 30),
        "{}",
        d.log()
    );
    let anomalies = format!("SELECT count(*) FROM anomalies WHERE subject = '{subject}'");
    assert!(
        wait_for(DEADLINE, || d.count(&anomalies) >= 1),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || anomaly_events(&sink)
            .iter()
            .any(|e| e["subject"] == subject.as_str())),
        "{}",
        d.log()
    );
    let root_subject = format!("root:{}", d.root().display());
    assert!(
        d.count(&format!(
            "SELECT count(*) FROM anomalies WHERE subject = '{root_subject}'"
        )) >= 1
    );
    assert!(d.count("SELECT count(*) FROM anomalies WHERE subject = 'exposure:local'") >= 1);

    // A folder moved in whole is walked by a rescan, and its files are
    // behaviour all the same.
    std::fs::rename(&folder, d.root().join("export")).unwrap();
    assert!(
        wait_for(DEADLINE, || d.count(&counted) == 36),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || d.log().contains("unusual activity")),
        "{}",
        d.log()
    );
    let e = anomaly_events(&sink)
        .into_iter()
        .find(|e| e["subject"] == subject.as_str())
        .unwrap();
    assert!(e["count"].as_u64().unwrap() >= 5, "{e}");
    assert!(
        e["band"].as_f64().unwrap() < e["count"].as_f64().unwrap(),
        "{e}"
    );

    // A restart keeps the baselines and raises nothing again.
    d.settle();
    let raised = d.count("SELECT count(*) FROM anomalies");
    let intervals: i64 = d.query(&format!(
        "SELECT intervals FROM baselines WHERE subject = '{subject}'"
    ));
    d.signal(libc::SIGTERM);
    d.start();
    d.settle();
    assert_eq!(d.count("SELECT count(*) FROM anomalies"), raised);
    let after: i64 = d.query(&format!(
        "SELECT intervals FROM baselines WHERE subject = '{subject}'"
    ));
    assert!(after >= intervals, "{after} < {intervals}");
    let (_, metrics) = support::http(d.metrics_port(), "GET /metrics HTTP/1.1\r\n", b"");
    assert!(metrics.contains("dlpd_anomalies_total"), "{metrics}");
}

#[test]
fn a_rule_for_cloud_sync_files_alerts_only_for_the_synced_folder() {
    let sink = Sink::start_on(0);
    let mut d = Daemon::new(&format!(
        "[remediation]\nrules = [{{ exposure = \"cloud-sync\", action = \"notify\", sinks = [\"siem\"] }}]\n\
         [alerts]\nsiem_url = \"http://127.0.0.1:{}/collector\"\nrequests_per_second = 50\n",
        sink.port
    ));
    // The Dropbox client of the user whose home is the root says where
    // its folder is; a folder outside that home is not believed.
    let home = d.root();
    let synced = home.join("Dropbox");
    std::fs::create_dir_all(home.join(".dropbox")).unwrap();
    std::fs::create_dir_all(&synced).unwrap();
    std::fs::write(
        home.join(".dropbox/info.json"),
        format!(
            r#"{{"personal": {{"path": "{}"}}, "business": {{"path": "{}/../x"}}}}"#,
            synced.display(),
            home.display()
        ),
    )
    .unwrap();
    d.env = vec![("HOME".into(), home.display().to_string())];
    d.start();
    let local = d.root().join("local.csv");
    let shared = synced.join("shared.csv");
    std::fs::write(&local, SAMPLE_PCI).unwrap();
    std::fs::write(&shared, SAMPLE_PCI.replace("Name", "Who")).unwrap();
    d.wait_recorded(&local);
    d.wait_recorded(&shared);
    let exposure = |p: &std::path::Path| -> String {
        d.query(&format!(
            "SELECT exposure FROM files WHERE path = CAST('{}' AS BLOB)",
            p.display()
        ))
    };
    assert_eq!(exposure(&shared), "cloud-sync");
    assert_eq!(exposure(&local), "local");
    assert!(
        wait_for(DEADLINE, || !sink.received().is_empty()),
        "{}",
        d.log()
    );
    d.settle();
    let got: Vec<serde_json::Value> = sink
        .received()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["path"], shared.display().to_string());
    assert_eq!(got[0]["exposure"], "cloud-sync");
    assert!(
        wait_for(DEADLINE, || d.log().contains("exposure")),
        "{}",
        d.log()
    );
}

/// A tmpfs mounted under /mnt for the test's length.
struct Medium(std::path::PathBuf);

impl Medium {
    /// None where this process is not root; as root, mounting must work.
    fn mount() -> Option<Medium> {
        // SAFETY: a plain query.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        let dir = std::path::PathBuf::from(format!("/mnt/dlpd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=4m", "dlpd-test"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(mounted, "as root, mounting a tmpfs on {dir:?} failed");
        Some(Medium(dir))
    }

    fn unmount(&self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

impl Drop for Medium {
    fn drop(&mut self) {
        self.unmount();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn removable_media_are_watched_while_mounted() {
    let sink = Sink::start_on(0);
    // (The test config ends in [watch], so `removable` lands there.)
    let mut d = Daemon::new(&format!(
        "removable = true\n\
         [remediation]\nrules = [{{ exposure = \"removable\", action = \"notify\" }}]\n\
         [alerts]\nsiem_url = \"http://127.0.0.1:{}/collector\"\nrequests_per_second = 50\n",
        sink.port
    ));
    d.start();
    let Some(medium) = Medium::mount() else {
        eprintln!("skipped: only root can mount the tmpfs standing in for a medium");
        return;
    };
    // A file already on the medium is found by its walk, one written
    // later by the watcher.
    let before = medium.0.join("before.csv");
    std::fs::write(&before, SAMPLE_PCI).unwrap();
    let mounted = format!("removable medium mounted mount={}", medium.0.display());
    assert!(
        wait_for(DEADLINE, || d.log().contains(&mounted)),
        "{}",
        d.log()
    );
    d.wait_recorded(&before);
    let after = medium.0.join("after.csv");
    std::fs::write(&after, SAMPLE_PCI.replace("Name", "Who")).unwrap();
    d.wait_recorded(&after);
    let removable = "SELECT count(*) FROM files WHERE exposure = 'removable'";
    assert_eq!(d.count(removable), 2);
    assert!(
        wait_for(DEADLINE, || sink.received().len() == 2),
        "{}",
        d.log()
    );
    for r in sink.received() {
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["exposure"], "removable", "{v}");
    }
    medium.unmount();
    let gone = format!("removable medium unmounted mount={}", medium.0.display());
    assert!(
        wait_for(DEADLINE, || d.log().contains(&gone)),
        "{}",
        d.log()
    );
}

#[test]
fn an_anomaly_reaches_slack_with_a_chart_of_the_subjects_activity() {
    use support::slack::{BOT_TOKEN, CHANNEL, FakeSlack};
    let slack = FakeSlack::start();
    // A bot and no webhook: files' alerts are messages, the anomaly's a
    // chart shared in the channel.
    let mut d = Daemon::new(&format!(
        "[remediation]\nrules = [{{ action = \"notify\" }}]\n\
         [alerts]\nrequests_per_second = 50\n\
         [alerts.slack_bot]\nchannel = \"{CHANNEL}\"\napi_url = \"{}\"\n\
         [baselines]\ninterval_s = 5\nwarmup_intervals = 0\nmin_count = 5\n\
         [dashboard]\nurl = \"https://dlp.example.org/\"\n",
        slack.api_url()
    ));
    d.env = vec![("DLPD_SLACK_BOT_TOKEN".into(), BOT_TOKEN.into())];
    d.start();
    for i in 0..12 {
        std::fs::write(d.root().join(format!("burst{i}.csv")), SAMPLE_PCI).unwrap();
    }
    assert!(
        wait_for(DEADLINE, || slack.shared().len() >= 3),
        "{}\n{:?}",
        d.log(),
        slack.requests()
    );
    let shared = slack.shared();
    let uid = unsafe { libc::geteuid() };
    let chart = shared
        .iter()
        .find(|s| s.comment.contains(&format!("uid:{uid}")))
        .unwrap();
    assert!(chart.bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(chart.bytes.len() > 500);
    assert!(
        chart.comment.contains("unusual activity"),
        "{}",
        chart.comment
    );
    assert!(
        chart
            .comment
            .contains("<https://dlp.example.org/baselines|activity chart>"),
        "{}",
        chart.comment
    );
    // The token went to the API only, never to the upload URL.
    for r in slack
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/upload/"))
    {
        assert!(r.headers.iter().all(|(k, _)| k != "authorization"), "{r:?}");
    }
    // The files' alerts came as messages, masked.
    assert!(
        wait_for(DEADLINE, || slack.messages().len() >= 12),
        "{}",
        d.log()
    );
    for m in slack.messages() {
        let text = m["text"].as_str().unwrap();
        assert!(!text.contains("5433-9502-3725-7862"), "{text}");
    }
    // Each delivery's receipt is what Slack made of it (Slack is told
    // before dlpd records the delivery: wait for both to agree).
    let receipts = || {
        d.count(
            "SELECT count(*) FROM alerts WHERE sink = 'slack' AND receipt LIKE 'F%' AND delivered_at IS NOT NULL",
        ) as usize
    };
    assert!(
        wait_for(DEADLINE, || receipts() >= 3
            && receipts() == slack.shared().len()),
        "{} receipts, {} charts",
        receipts(),
        slack.shared().len()
    );
    assert!(!d.log().contains(BOT_TOKEN));
}
