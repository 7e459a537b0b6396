//! The real `dlpd` binary, driven as a user drives it: `scan`, `findings`
//! and `check-config`, with real files, real SQLite and real permissions.

mod support;

use std::os::unix::fs::{PermissionsExt, symlink};

use support::{Env, SAMPLE_PCI, sample_with_digits_changed};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn scan_sample_prints_ten_masked_findings_and_exits_1() {
    let env = Env::new();
    let file = env.write("sample-pci.csv", SAMPLE_PCI);
    let run = env.run(&["scan", "--format", "jsonl", file.to_str().unwrap()]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let lines = run.jsonl();
    assert_eq!(lines.len(), 10);
    let first = &lines[0];
    assert_eq!(first["path"], file.to_str().unwrap());
    assert_eq!(first["detector"]["id"], "CREDIT_CARD_NUMBER");
    assert_eq!(first["detector"]["name"], "Credit Card Number");
    assert_eq!(first["finding"], "****-****-****-7862");
    assert_eq!(first["redactedFinding"], "****-****-****-7862");
    assert_eq!(first["location"]["byteRange"]["start"], 36);
    assert_eq!(first["location"]["byteRange"]["end"], 55);
    assert_eq!(first["location"]["lineRange"]["start"], 2);
    assert!(
        first["afterContext"]
            .as_str()
            .unwrap()
            .contains("****-******-*****")
    );
    for l in &lines {
        let conf = l["confidence"].as_str().unwrap();
        assert!(conf == "LIKELY" || conf == "VERY_LIKELY", "{conf}");
    }
    // No raw number anywhere in the output.
    assert!(!run.stdout().contains("5433-9502"));
}

#[test]
fn show_values_prints_raw_values_and_contexts() {
    let env = Env::new();
    let file = env.write("s.csv", SAMPLE_PCI);
    let run = env.run(&[
        "scan",
        "--no-store",
        "--show-values",
        "--format",
        "jsonl",
        file.to_str().unwrap(),
    ]);
    let lines = run.jsonl();
    assert_eq!(lines[0]["finding"], "5433-9502-3725-7862");
    assert_eq!(lines[0]["redactedFinding"], "****-****-****-7862");
    assert!(
        lines[0]["afterContext"]
            .as_str()
            .unwrap()
            .contains("3457-389808-83234")
    );
}

#[test]
fn changed_digits_scan_clean_with_exit_0() {
    let env = Env::new();
    let file = env.write("changed.csv", sample_with_digits_changed());
    let run = env.run(&["scan", "--format", "jsonl", file.to_str().unwrap()]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.stdout(), "");
}

#[test]
fn csv_and_table_formats() {
    let env = Env::new();
    let file = env.write("s.csv", SAMPLE_PCI);
    let csv = env
        .run(&[
            "scan",
            "--no-store",
            "--format",
            "csv",
            file.to_str().unwrap(),
        ])
        .stdout();
    let mut lines = csv.split("\r\n");
    assert_eq!(
        lines.next().unwrap(),
        "scanned_at,path,detector,confidence,finding,before_context,after_context,byte_start,byte_end,line,engine,upload_id,sha256"
    );
    assert!(csv.contains(",36,55,2,local,,"), "{csv}");
    // Contexts span lines of the sample; each finding is still one line,
    // in the store's CSV too.
    assert_eq!(csv.lines().count(), 11, "{csv}");
    assert!(csv.contains("\\n"), "{csv}");
    env.run(&["scan", "--store", file.to_str().unwrap()]);
    let stored = std::fs::read_to_string(env.state_dir().join("results.csv")).unwrap();
    assert_eq!(stored.lines().count(), 11, "{stored}");
    let table = env
        .run(&[
            "scan",
            "--no-store",
            "--format",
            "table",
            file.to_str().unwrap(),
        ])
        .stdout();
    assert!(table.starts_with("PATH:LINE"));
    assert!(table.contains(&format!("{}:2 ", file.display())));
    assert_eq!(table.lines().count(), 11);
}

#[test]
fn directories_are_scanned_recursively() {
    let env = Env::new();
    env.write("tree/a/cards.csv", SAMPLE_PCI);
    env.write(
        "tree/b/c/.env",
        "GITHUB_TOKEN=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\n",
    );
    env.write("tree/b/notes.txt", "nothing here\n");
    let run = env.run(&[
        "scan",
        "--no-store",
        "--format",
        "jsonl",
        env.path("tree").to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1);
    let lines = run.jsonl();
    assert_eq!(lines.len(), 11);
    let key = lines
        .iter()
        .find(|l| l["detector"]["id"] == "API_KEY")
        .unwrap();
    assert_eq!(
        key["findingMetadata"]["apiKeyMetadata"]["kind"],
        "github_pat"
    );
    assert_eq!(key["location"]["byteRange"]["start"], 13);
}

#[test]
fn bad_inputs_get_clear_messages_and_the_scan_carries_on() {
    let env = Env::new();
    let good = env.write("in/good.csv", SAMPLE_PCI);
    let empty = env.write("in/empty.txt", "");
    let latin1 = env.write("in/latin1.txt", b"caf\xe9 card 5433-9502-3725-7862\n");
    let binary = env.write("in/blob.bin", b"\x00\x01\x02\x03 5433-9502-3725-7862");
    let sparse = env.path("in/sparse.img");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(10 << 30)
        .unwrap();
    let fifo = env.path("in/fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let self_loop = env.path("loop");
    symlink(&self_loop, &self_loop).unwrap();
    let gone = env.path("in/vanished.txt");

    let run = env.run(&[
        "scan",
        "-v",
        "--format",
        "jsonl",
        env.path("in").to_str().unwrap(),
        self_loop.to_str().unwrap(),
        gone.to_str().unwrap(),
    ]);
    let err = run.stderr();
    // Findings, but a path given does not exist: that decides the code.
    assert_eq!(run.code(), 4, "{err}");
    let paths: Vec<String> = run
        .jsonl()
        .iter()
        .map(|l| l["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        paths
            .iter()
            .filter(|p| **p == good.to_str().unwrap())
            .count(),
        10
    );
    assert_eq!(
        paths
            .iter()
            .filter(|p| **p == latin1.to_str().unwrap())
            .count(),
        1
    );
    for (path, message) in [
        (&empty, "empty file"),
        (&binary, "binary file"),
        (&sparse, "over scanner.max_file_bytes"),
        (&fifo, "not a regular file (fifo)"),
        (&self_loop, "symlink loop"),
        (&gone, "no such file or directory"),
        (&latin1, "not valid UTF-8: scanned as bytes"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(path.to_str().unwrap()) && l.contains(message));
        assert!(
            line.is_some(),
            "no `{message}` for {}:\n{err}",
            path.display()
        );
    }
}

#[test]
fn a_symlink_loop_inside_a_tree_is_reported_not_followed_forever() {
    let env = Env::new();
    env.write("t/d/cards.csv", SAMPLE_PCI);
    symlink(env.path("t"), env.path("t/d/up")).unwrap();
    let run = env.run(&[
        "scan",
        "--no-store",
        "--follow-symlinks",
        "--format",
        "jsonl",
        env.path("t").to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert_eq!(run.jsonl().len(), 10);
    assert!(run.stderr().contains("symlink loop"), "{}", run.stderr());
}

#[test]
fn unreadable_directory_is_reported_and_skipped() {
    let env = Env::new();
    env.write("t/open/cards.csv", SAMPLE_PCI);
    env.write("t/locked/secret.csv", SAMPLE_PCI);
    std::fs::set_permissions(env.path("t/locked"), std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut cmd;
    if unsafe { libc::geteuid() } == 0 {
        // Root reads everything; drop to nobody, with a copy of the binary
        // it can execute and a tree it can traverse.
        for p in [env.dir.path(), &env.path("t"), &env.path("t/open")] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(
            env.path("t/open/cards.csv"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).unwrap();
        let bin = env.path("dlpd");
        std::fs::copy(support::bin(), &bin).unwrap();
        cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
    } else {
        cmd = std::process::Command::new(support::bin());
    }
    let out = cmd
        .arg("--config")
        .arg(&env.config)
        .args(["scan", "--no-store", "--format", "jsonl"])
        .arg(env.path("t"))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let run = support::Run(out);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert_eq!(run.jsonl().len(), 10);
    let err = run.stderr();
    assert!(
        err.lines()
            .any(|l| l.contains("t/locked") && l.contains("permission denied")),
        "{err}"
    );
}

#[test]
fn exit_2_when_nothing_could_be_scanned_and_4_for_a_path_that_does_not_exist() {
    let env = Env::new();
    // A dangling symlink: given, but nothing behind it can be read.
    let dangling = env.path("dangling");
    symlink(env.path("nowhere"), &dangling).unwrap();
    let run = env.run(&["scan", "--no-store", dangling.to_str().unwrap()]);
    assert_eq!(run.code(), 2, "{}", run.stderr());

    let (a, b) = (env.path("missing-a"), env.path("missing-b"));
    let run = env.run(&[
        "scan",
        "--no-store",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 4, "{}", run.stderr());
    for p in [&a, &b] {
        let said = format!("dlpd: {}: no such file or directory", p.display());
        assert!(run.stderr().contains(&said), "{}", run.stderr());
    }
    // With a good path beside it: the good one is scanned and printed, and
    // the missing one still decides the exit code.
    let sample = env.write("s.csv", SAMPLE_PCI);
    let clean = env.write("clean.txt", "hello\n");
    for (good, found) in [(&clean, 0), (&sample, 10)] {
        let run = env.run(&[
            "scan",
            "--no-store",
            "--format",
            "jsonl",
            good.to_str().unwrap(),
            a.to_str().unwrap(),
        ]);
        assert_eq!(run.code(), 4, "{}", run.stderr());
        assert_eq!(run.jsonl().len(), found);
    }
}

#[test]
fn dash_scans_stdin_and_keeps_it_out_of_the_store() {
    let env = Env::new();
    let mut scan = support::cmd(&env.config);
    scan.args(["scan", "--format", "jsonl", "-"]);
    let run = support::fed(scan, SAMPLE_PCI.as_bytes());
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let lines = run.jsonl();
    assert_eq!(lines.len(), 10);
    assert_eq!(lines[0]["path"], "-");
    assert_eq!(lines[0]["location"]["byteRange"]["start"], 36);
    assert!(!run.stdout().contains("5433-9502"));
    let stored = env.run(&["findings", "--format", "jsonl"]);
    assert!(stored.jsonl().is_empty(), "{}", stored.stdout());
}

#[test]
fn store_is_private_and_csv_header_is_written_once() {
    let env = Env::new();
    let file = env.write("s.csv", SAMPLE_PCI);
    for _ in 0..2 {
        assert_eq!(
            env.run(&[
                "scan",
                "--store",
                "--format",
                "jsonl",
                file.to_str().unwrap()
            ])
            .code(),
            1
        );
    }
    let state = env.state_dir();
    assert_eq!(mode(&state), 0o700);
    for f in ["dlpd.sqlite", "results.csv", "hmac.key"] {
        assert_eq!(mode(&state.join(f)), 0o600, "{f}");
    }
    let csv = std::fs::read_to_string(state.join("results.csv")).unwrap();
    assert_eq!(csv.matches("scanned_at,path,detector").count(), 1);
    // Two scans append twenty rows; contexts span lines, so count row starts.
    assert_eq!(csv.matches(",CREDIT_CARD_NUMBER,").count(), 20);
    assert!(!csv.contains("5433-9502"));
    // The store replaced the first scan's findings with the second's.
    let listed = env.run(&["findings", "--format", "jsonl"]);
    assert_eq!(listed.code(), 1);
    let rows = listed.jsonl();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[0]["finding"], "****-****-****-7862");
    assert_eq!(rows[0]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn findings_filter_by_path_and_time() {
    let env = Env::new();
    env.write("a/one.csv", SAMPLE_PCI);
    env.write(
        "b/two.txt",
        "token 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\n",
    );
    env.run(&[
        "scan",
        "--store",
        "--format",
        "jsonl",
        env.path("a").to_str().unwrap(),
        env.path("b").to_str().unwrap(),
    ]);
    let only_b = env
        .run(&[
            "findings",
            "--format",
            "jsonl",
            "--path",
            env.path("b").to_str().unwrap(),
        ])
        .jsonl();
    assert_eq!(only_b.len(), 1);
    assert_eq!(only_b[0]["detector"]["id"], "API_KEY");
    let recent = env
        .run(&["findings", "--format", "jsonl", "--since", "1h"])
        .jsonl();
    assert_eq!(recent.len(), 11);
    let future = env.run(&[
        "findings",
        "--format",
        "jsonl",
        "--since",
        "2999-01-01T00:00:00Z",
    ]);
    assert_eq!((future.code(), future.stdout()), (0, String::new()));
    let bad = env.run(&["findings", "--since", "yesterday-ish"]);
    assert_eq!(bad.code(), 2);
    assert!(
        bad.stderr().contains("neither an RFC 3339 time"),
        "{}",
        bad.stderr()
    );
}

#[test]
fn redact_none_stores_raw_values() {
    let env = Env::with_config("redact = \"none\"\n");
    let file = env.write("s.csv", SAMPLE_PCI);
    env.run(&[
        "scan",
        "--store",
        "--format",
        "jsonl",
        file.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(env.state_dir().join("results.csv")).unwrap();
    assert!(csv.contains("5433-9502-3725-7862"));
}

#[test]
fn check_config_prints_the_effective_config() {
    let env = Env::new();
    let run = env.run(&["check-config"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let out = run.stdout();
    assert!(out.contains(&format!("from {}", env.config.display())));
    assert!(out.contains("min_confidence = \"LIKELY\""));
    assert!(out.contains(&format!("state_dir = \"{}\"", env.state_dir().display())));
}

#[test]
fn check_config_rejects_unknown_keys_with_file_line_and_key() {
    let env = Env::with_config("\n[scanner]\nmin_confidnce = \"LIKELY\"\n");
    let run = env.run(&["check-config"]);
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    assert!(
        err.contains(&format!(
            "{}:5:1: key `scanner.min_confidnce`: unknown field",
            env.config.display()
        )),
        "{err}"
    );
    assert!(err.contains("did you mean `min_confidence`?"), "{err}");
    // And every other command refuses to run on it.
    assert_eq!(env.run(&["scan", "/dev/null"]).code(), 2);
}

#[test]
fn check_config_suggests_values_and_takes_them_as_people_write_them() {
    let env = Env::with_config(
        "[scanner]
engine = \"nightfal\"\n",
    );
    let err = env.run(&["check-config"]).stderr();
    assert!(err.contains("did you mean `nightfall`?"), "{err}");
    // Any case for confidences and detectors; localhost for loopback.
    let env = Env::with_config(
        "[scanner]\nmin_confidence = \"very-likely\"\ndetectors = [\"api_key\", \"Credit_Card_Number\"]\n\
         [webhook]\nlisten = \"localhost:8123\"\n",
    );
    let run = env.run(&["check-config"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let shown = run.stdout();
    assert!(
        shown.contains("min_confidence = \"VERY_LIKELY\""),
        "{shown}"
    );
    assert!(shown.contains("\"API_KEY\""), "{shown}");
    assert!(shown.contains("listen = \"127.0.0.1:8123\""), "{shown}");
    let env = Env::with_config("[webhook]\nlisten = \"localhost\"\n");
    let err = env.run(&["check-config"]).stderr();
    assert!(err.contains("write IP:PORT"), "{err}");
    let env = Env::with_config("[scanner]\nmin_confidence = \"likly\"\n");
    let err = env.run(&["check-config"]).stderr();
    assert!(err.contains("did you mean `LIKELY`?"), "{err}");
}

#[test]
fn shipped_config_passes_check_config() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/etc/dlpd.toml");
    let run = support::Run(
        std::process::Command::new(support::bin())
            .args(["--config", shipped, "check-config"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[test]
fn json_logs_are_one_object_per_line_and_never_hold_a_value() {
    let env = Env::with_config("[log]\nformat = \"json\"\n");
    let file = env.write("s.csv", SAMPLE_PCI);
    let run = env.run(&["scan", "--format", "jsonl", file.to_str().unwrap()]);
    let lines: Vec<serde_json::Value> = run
        .stderr()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // The summary is a line of its own, flat, in ECS names, with its
    // numbers as numbers.
    let summary = lines
        .iter()
        .find(|l| l["findings"] == 10)
        .unwrap_or_else(|| panic!("{lines:?}"));
    let said = summary["message"].as_str().unwrap();
    assert!(said.starts_with("10 findings in 1 file ("), "{said}");
    assert_eq!(summary["scanned"], 1);
    assert!(summary["secs"].is_f64(), "{summary}");
    assert_eq!(summary["log.level"], "info");
    assert_eq!(summary["service.name"], "dlpd");
    assert_eq!(summary["service.version"], env!("CARGO_PKG_VERSION"));
    assert!(summary["@timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(!summary["host.name"].as_str().unwrap().is_empty());
    assert!(!run.stderr().contains("5433-9502"));
}

#[test]
fn no_command_panics_when_its_reader_has_gone() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let env = Env::new();
    let file = env.write("s.csv", SAMPLE_PCI);
    let file = file.to_str().unwrap();
    // A store, so that `findings`, `status` and `quarantine list` print.
    assert_eq!(
        env.run(&["scan", "--store", "--format", "jsonl", file])
            .code(),
        1
    );
    let commands: &[&[&str]] = &[
        &["check-config"],
        &["status"],
        &["status", "--json"],
        &["findings", "--format", "jsonl"],
        &["findings", "--format", "table"],
        &["findings", "--failed"],
        &["quarantine", "list"],
        &["scan", "--no-store", "--format", "jsonl", file],
        &["scan", "--no-store", "--format", "csv", file],
        &["hash-value"],
        &["--help"],
        &["--version"],
        &["scan", "--help"],
    ];
    for args in commands {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: both descriptors were just made by pipe(2) and are owned here.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        drop(read);
        let mut child = support::cmd(&env.config)
            .args(*args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(b"a value\n");
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn status_without_a_daemon_exits_3_and_creates_no_store() {
    let env = Env::new();
    let run = env.run(&["status", "--json"]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(v["running"], false);
    assert_eq!(v["store_exists"], false);
    let text = env.run(&["status"]);
    assert_eq!(text.code(), 3);
    assert!(text.stdout().contains("not running (no store yet at"));
    assert!(!env.state_dir().join("dlpd.sqlite").exists());
    // With a store but no daemon: still 3, with the counts.
    let file = env.write("s.csv", SAMPLE_PCI);
    env.run(&[
        "scan",
        "--store",
        "--format",
        "jsonl",
        file.to_str().unwrap(),
    ]);
    let run = env.run(&["status", "--json"]);
    assert_eq!(run.code(), 3);
    let v: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        (v["running"].clone(), v["findings"].clone()),
        (false.into(), 10.into())
    );
}

#[test]
fn scan_flags_for_ci_choose_detectors_confidence_paths_and_output() {
    let env = Env::new();
    env.write("t/cards.csv", SAMPLE_PCI);
    env.write("t/skip/more.csv", SAMPLE_PCI);
    env.write("t/app.log", SAMPLE_PCI);
    env.write("t/empty.txt", "");
    env.write("t/ssn.txt", "ssn 536-22-1234\n");
    let tree = env.path("t");
    let tree = tree.to_str().unwrap();
    let count = |args: &[&str]| {
        let mut all = vec!["scan", "--format", "jsonl"];
        all.extend_from_slice(args);
        all.push(tree);
        let run = env.run(&all);
        (run.jsonl().len(), run)
    };
    assert_eq!(count(&[]).0, 31);
    // Globs: a bare name at any depth, a path glob; both skip whole trees.
    assert_eq!(count(&["--exclude", "*.log", "--exclude", "**/skip"]).0, 11);
    assert_eq!(count(&["--exclude", "skip/**"]).0, 21);
    assert_eq!(count(&["--exclude", "t/skip/*.csv"]).0, 21);
    assert_eq!(count(&["--detectors", "us_social_security_number"]).0, 1);
    // The sample's cards are LIKELY or VERY_LIKELY; only some are the latter.
    let (very, _) = count(&["--min-confidence", "very_likely"]);
    assert!(very < 31, "{very}");
    let (bad, run) = count(&["--min-confidence", "sure"]);
    assert_eq!((bad, run.code()), (0, 2));
    assert!(run.stderr().contains("very_likely"), "{}", run.stderr());
    let (_, run) = count(&["--detectors", "CARDS"]);
    assert!(
        run.stderr().contains("CREDIT_CARD_NUMBER"),
        "{}",
        run.stderr()
    );

    // By default: no line per skipped file, one summary line; -v names
    // them; -q says nothing.
    let (_, run) = count(&[]);
    assert!(!run.stderr().contains("empty.txt"), "{}", run.stderr());
    let summary: Vec<&str> = run
        .0
        .stderr
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    assert!(summary[0].contains("31 findings in 4 files"), "{summary:?}");
    assert!(summary[0].contains("1 skipped (1 empty"), "{summary:?}");
    assert!(count(&["-v"]).1.stderr().contains("empty.txt"));
    assert_eq!(count(&["-q"]).1.stderr(), "");

    // --output: the whole report or nothing, 0600; stdout stays empty.
    let out = env.path("report.jsonl");
    let (printed, run) = count(&["--output", out.to_str().unwrap()]);
    assert_eq!((printed, run.code()), (0, 1));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 31);
    assert_eq!(mode(&out), 0o600);
    let names: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        !names.iter().any(|n| n.to_string_lossy().ends_with(".tmp")),
        "{names:?}"
    );
}

#[test]
fn scan_skips_watch_exclude_in_the_one_path_syntax_and_reads_old_regexes_with_a_warning() {
    // The defaults: .git trees and partial downloads are not scanned.
    let env = Env::new();
    env.write("t/cards.csv", SAMPLE_PCI);
    env.write("t/repo/.git/objects/x", SAMPLE_PCI);
    env.write("t/film.crdownload", SAMPLE_PCI);
    let tree = env.path("t");
    let run = env.run(&["scan", "--format", "jsonl", tree.to_str().unwrap()]);
    assert_eq!(run.jsonl().len(), 10, "{}", run.stdout());

    let env = Env::with_config("[watch]\nexclude = [\"*.log\", 're:/skip/', '\\.bak$']\n");
    env.write("t/cards.csv", SAMPLE_PCI);
    env.write("t/app.log", SAMPLE_PCI);
    env.write("t/skip/x.csv", SAMPLE_PCI);
    env.write("t/old.bak", SAMPLE_PCI);
    let tree = env.path("t");
    let tree = tree.to_str().unwrap();
    let run = env.run(&["scan", "--format", "jsonl", tree]);
    let paths: Vec<String> = run
        .jsonl()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 10, "{paths:?}");
    assert!(paths.iter().all(|p| p.ends_with("cards.csv")), "{paths:?}");
    assert!(
        run.stderr().contains(
            "watch.exclude: `\\.bak$` is read as a regex, the old syntax; write it `re:\\.bak$`"
        ),
        "{}",
        run.stderr()
    );
    // --exclude adds to them, `re:` included.
    let run = env.run(&[
        "scan",
        "--format",
        "jsonl",
        "--exclude",
        "re:cards\\.csv$",
        tree,
    ]);
    assert_eq!((run.jsonl().len(), run.code()), (0, 0), "{}", run.stderr());
    // An absolute pattern holds for a tree named by a relative path.
    let mut relative = support::cmd(&env.config);
    relative.current_dir(env.dir.path()).args([
        "scan",
        "--format",
        "jsonl",
        "--exclude",
        &format!("{tree}/cards.csv"),
        "t",
    ]);
    let run = support::fed(relative, b"");
    assert_eq!((run.jsonl().len(), run.code()), (0, 0), "{}", run.stdout());
    // doctor lists the old syntax among its checks; check-config shows it rewritten.
    let doctor = env.run(&["doctor"]);
    assert!(
        doctor
            .stdout()
            .contains("is read as a regex, the old syntax"),
        "{}",
        doctor.stdout()
    );
    let shown = env.run(&["check-config"]).stdout();
    assert!(shown.contains("'re:\\.bak$'"), "{shown}");
}

#[test]
fn on_a_terminal_the_progress_bar_shows_the_total_once_counted_and_the_rates() {
    let env = Env::new();
    for i in 0..300 {
        env.write(&format!("t/f{i}.csv"), SAMPLE_PCI);
    }
    let out = env.path("out.jsonl");
    // script(1) gives dlpd a terminal for stderr, as a person's shell does.
    let line = format!(
        "'{}' --config '{}' scan -o '{}' '{}'",
        support::bin().display(),
        env.config.display(),
        out.display(),
        env.path("t").display()
    );
    let run = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("DLPD_PROGRESS_AFTER_MS", "0")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&run.stdout);
    assert!(shown.contains("300/300 files, "), "{shown}");
    assert!(shown.contains(" MB/s, 3000 findings"), "{shown}");
    assert!(shown.contains("3000 findings in 300 files"), "{shown}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3000);
}

#[test]
fn a_one_off_scan_stays_out_of_the_store_unless_asked_and_then_stores_absolute_paths() {
    let env = Env::new();
    env.write("t/cards.csv", SAMPLE_PCI);
    let scan = |args: &[&str]| {
        support::cmd(&env.config)
            .current_dir(env.dir.path())
            .args(["scan", "--format", "jsonl"])
            .args(args)
            .arg("t/cards.csv")
            .output()
            .unwrap()
    };
    assert_eq!(scan(&[]).status.code(), Some(1));
    assert!(!env.state_dir().join("dlpd.sqlite").exists());
    assert_eq!(scan(&["--store"]).status.code(), Some(1));
    let stored = env.run(&["findings", "--format", "jsonl"]).jsonl();
    assert_eq!(stored.len(), 10);
    let expected = env.dir.path().join("t/cards.csv");
    assert_eq!(stored[0]["path"], expected.to_str().unwrap());
}

#[test]
fn the_quickstart_examples_are_found() {
    let env = Env::new();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples");
    let run = env.run(&["scan", "--format", "jsonl", examples]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let mut found: Vec<String> = run
        .jsonl()
        .iter()
        .map(|l| l["detector"]["id"].as_str().unwrap().to_string())
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "API_KEY",
            "API_KEY",
            "CREDIT_CARD_NUMBER",
            "CREDIT_CARD_NUMBER",
            "CREDIT_CARD_NUMBER",
            "US_SOCIAL_SECURITY_NUMBER",
            "US_SOCIAL_SECURITY_NUMBER"
        ]
    );
    let with_db = env.run(&[
        "scan",
        "--format",
        "jsonl",
        "--detectors",
        "database_connection_string",
        examples,
    ]);
    assert_eq!(with_db.jsonl().len(), 1, "{}", with_db.stderr());
}

#[test]
fn the_findings_table_lines_up_whatever_the_path_lengths() {
    let env = Env::new();
    let short = env.write("a.csv", SAMPLE_PCI);
    let long = env.write(
        "a/much/longer/directory/name/than/forty/characters/b.csv",
        SAMPLE_PCI,
    );
    for f in [&short, &long] {
        env.run(&["scan", "--store", f.to_str().unwrap()]);
    }
    let run = env.run(&["findings", "--format", "table"]);
    assert_eq!(run.code(), 1);
    let table = run.stdout();
    let columns: std::collections::BTreeSet<usize> = table
        .lines()
        .map(|l| {
            l.find("CREDIT_CARD_NUMBER")
                .or_else(|| l.find("DETECTOR"))
                .unwrap()
        })
        .collect();
    assert_eq!(columns.len(), 1, "{table}");
    assert_eq!(table.lines().count(), 21);
}

/// `dlpd <args>` as a user that file modes bind (root without its
/// override capabilities, when the tests run as root).
fn as_user(env: &Env, args: &[&str]) -> support::Run {
    let mut c = if unsafe { libc::geteuid() } == 0 {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--bounding-set=-dac_override,-dac_read_search", "--"])
            .arg(support::bin());
        c
    } else {
        std::process::Command::new(support::bin())
    };
    c.arg("--config").arg(&env.config).args(args);
    c.env_remove("RUST_LOG").env_remove("DLPD_CONFIG");
    support::Run(c.output().unwrap())
}

#[test]
fn doctor_and_check_config_catch_what_run_would_refuse_each_with_its_fix() {
    let base = Env::new();
    let file_root = base.write("a-file", "x");
    let unreadable = base.path("locked");
    std::fs::create_dir(&unreadable).unwrap();
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let token = base.write("token", "s3cr3t-token-value");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let cases: Vec<(String, &str)> = vec![
        ("[api]\nenabled = true\n".into(), "DLPD_API_TOKEN"),
        (
            format!(
                "[api]\nenabled = true\ntoken_file = \"{}\"\n",
                token.display()
            ),
            "chmod 600",
        ),
        (
            format!("[watch]\npaths = [\"{}\"]\n", file_root.display()),
            "is not a directory",
        ),
        (
            format!("[watch]\npaths = [\"{}\"]\n", unreadable.display()),
            "permission denied",
        ),
        (
            format!(
                "[watch]\npaths = [\"{}\"]\n[[remediation.rules]]\naction = \"quarantine\"\n",
                unreadable.display()
            ),
            "cannot be moved",
        ),
    ];
    for (extra, said) in &cases {
        let env = Env::with_config(extra);
        for cmd in ["doctor", "check-config"] {
            let run = as_user(&env, &[cmd]);
            let text = run.stdout() + &run.stderr();
            assert_eq!(run.code(), 2, "{cmd} with {extra}: {text}");
            assert!(
                text.contains(said) && text.contains("FAIL"),
                "{cmd} with {extra}: {text}"
            );
        }
    }
    // A listener address that is taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let env = Env::with_config(&format!(
        "[api]\nenabled = true\n[webhook]\nlisten = \"{}\"\n",
        taken.local_addr().unwrap()
    ));
    let run = support::cmd(&env.config)
        .arg("doctor")
        .env("DLPD_API_TOKEN", "t0ken-for-the-test")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(2), "{text}");
    assert!(
        text.contains("cannot listen") && text.contains("API token: readable"),
        "{text}"
    );
    // And a config with nothing wrong passes, listing what it checked.
    let fine = Env::with_config(&format!(
        "[watch]\npaths = [\"{}\"]\n",
        base.dir.path().display()
    ));
    let run = fine.run(&["doctor"]);
    assert_eq!(run.code(), 0, "{}", run.stdout());
    assert!(run.stdout().contains("readable") && run.stdout().contains("0 problem(s)"));
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o700)).unwrap();
}
