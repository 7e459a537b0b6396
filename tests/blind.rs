//! The daemon never goes blind: the real `dlpd run` under the conditions
//! that used to stop it watching while it looked healthy (a flood of
//! events during watch setup, a file that never settles, a store that
//! refuses writes, a scan that ends the process, the watch limit, modes
//! that change) and the commands that used to break it.

mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::daemon::{DEADLINE, Daemon};
use support::{SAMPLE_PCI, wait_for};

/// Writes a file every few milliseconds somewhere under `dirs` until dropped.
struct Writer {
    on: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Writer {
    fn start(dirs: Vec<std::path::PathBuf>) -> Writer {
        let on = Arc::new(AtomicBool::new(true));
        let flag = on.clone();
        let thread = std::thread::spawn(move || {
            let mut i = 0u64;
            while flag.load(Ordering::Relaxed) {
                let dir = &dirs[i as usize % dirs.len()];
                let _ =
                    std::fs::write(dir.join(format!("w{}.txt", i % 500)), format!("line {i}\n"));
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            i
        });
        Writer {
            on,
            thread: Some(thread),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.on.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn make_tree(top: &Path, wide: usize, deep: usize) {
    for i in 0..wide {
        for j in 0..deep {
            std::fs::create_dir_all(top.join(format!("d{i}/e{j}"))).unwrap();
        }
    }
}

#[test]
fn start_up_over_6000_directories_under_a_write_burst_is_not_a_deadlock() {
    let mut d = Daemon::new("");
    make_tree(&d.root().join("big"), 60, 100);
    let dirs = (0..60)
        .map(|i| d.root().join(format!("big/d{i}/e7")))
        .collect();
    let writer = Writer::start(dirs);
    d.start();
    let canary = d.root().join("big/d59/e99/canary.csv");
    std::fs::write(&canary, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&canary), (1, 10));
    drop(writer);
    assert!(d.signal(libc::SIGTERM).success(), "{}", d.log());
}

#[test]
fn a_tree_of_10000_directories_moved_in_during_a_write_burst_is_watched() {
    let mut d = Daemon::new("");
    d.start();
    let outside = d.dir.path().join("outside");
    make_tree(&outside, 100, 100);
    std::fs::write(outside.join("d42/e42/inside.csv"), SAMPLE_PCI).unwrap();
    let writer = Writer::start(vec![d.root()]);
    std::fs::rename(&outside, d.root().join("moved")).unwrap();
    // Found by the walk of the moved-in tree.
    assert_eq!(
        d.wait_recorded(&d.root().join("moved/d42/e42/inside.csv")),
        (1, 10)
    );
    // And the tree is watched: a file written deep in it later is seen.
    let canary = d.root().join("moved/d99/e99/canary.csv");
    std::fs::write(&canary, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&canary), (1, 10));
    drop(writer);
    let status = support::dlpd(&d.config, &["status"]).stdout();
    assert!(status.contains("health:     ok"), "{status}");
}

#[test]
fn a_file_appended_every_50ms_is_scanned_while_it_is_still_growing() {
    let mut d = Daemon::new("");
    // Daemon::new writes [watch] itself; max_wait_ms goes under it.
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        text.replace(
            "debounce_ms = 300\n",
            "debounce_ms = 300\nmax_wait_ms = 1000\n",
        ),
    )
    .unwrap();
    d.start();
    let log = d.root().join("app.log");
    let mut f = std::fs::File::create(&log).unwrap();
    let mut recorded_while_growing = false;
    for i in 0..600 {
        writeln!(f, "{i} payment 4916-6734-7572-5015 accepted").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        if d.file(&log).is_some() {
            recorded_while_growing = true;
            break;
        }
    }
    assert!(
        recorded_while_growing,
        "not scanned within 30 s of appends:\n{}",
        d.log()
    );
    drop(f);
    // Once it stops growing it is scanned again with everything in it.
    let size = std::fs::metadata(&log).unwrap().len() as i64;
    assert!(
        wait_for(DEADLINE, || d.count(&format!(
            "SELECT count(*) FROM files WHERE path LIKE '%app.log' AND size = {size}"
        )) == 1),
        "{}",
        d.log()
    );
}

#[test]
fn a_root_inside_the_state_directory_or_a_pseudo_filesystem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dlpd.toml");
    for (toml, says) in [
        (
            format!(
                "[output]\nstate_dir = \"{0}\"\n[watch]\npaths = [\"{0}/watched\"]\n",
                dir.path().display()
            ),
            "output.state_dir",
        ),
        ("[watch]\npaths = [\"/proc\"]\n".to_string(), "/proc"),
    ] {
        std::fs::write(&config, toml).unwrap();
        for cmd in [&["check-config"][..], &["run"][..]] {
            let run = support::dlpd(&config, cmd);
            assert_eq!(run.code(), 2, "{cmd:?}: {}", run.stderr());
            assert!(run.stderr().contains(says), "{}", run.stderr());
        }
    }
}

/// A small tmpfs for the state directory, where the machine allows it.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_under_the_store_pauses_and_recovers_with_nothing_lost_or_doubled() {
    let mut d = Daemon::new("");
    let state = d.dir.path().join("state");
    let Some(_fs) = Tmpfs::mount(&state, "4m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let text = std::fs::read_to_string(&d.config).unwrap();
    let text = text.replace(
        &format!("state_dir = \"{}\"", d.root().join(".dlpd").display()),
        &format!("state_dir = \"{}\"", state.display()),
    );
    std::fs::write(&d.config, text).unwrap();
    d.start();
    let first = d.root().join("first.csv");
    std::fs::write(&first, SAMPLE_PCI).unwrap();
    let db = state.join("dlpd.sqlite");
    let recorded = |p: &Path| -> Option<i64> {
        let conn = rusqlite::Connection::open(&db).ok()?;
        conn.busy_timeout(Duration::from_secs(5)).ok()?;
        conn.query_row(
            "SELECT scans FROM files WHERE path = ?1",
            [p.to_str().unwrap().as_bytes()],
            |r| r.get(0),
        )
        .ok()
    };
    assert!(
        wait_for(DEADLINE, || recorded(&first).is_some()),
        "{}",
        d.log()
    );
    // Fill the disk.
    let filler = state.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![b'x'; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    let n = 40;
    for i in 0..n {
        std::fs::write(d.root().join(format!("full{i:02}.csv")), SAMPLE_PCI).unwrap();
    }
    assert!(
        wait_for(DEADLINE, || d.log().contains("the store refused a write")),
        "{}",
        d.log()
    );
    assert!(
        d.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the daemon exited:\n{}",
        d.log()
    );
    // Space comes back: everything is recorded, once, and in the CSV once.
    std::fs::remove_file(&filler).unwrap();
    let all =
        |d: &Daemon| (0..n).all(|i| recorded(&d.root().join(format!("full{i:02}.csv"))) == Some(1));
    assert!(wait_for(Duration::from_secs(90), || all(&d)), "{}", d.log());
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("the store takes writes again")),
        "{}",
        d.log()
    );
    let csv = || std::fs::read_to_string(state.join("results.csv")).unwrap_or_default();
    assert!(
        wait_for(DEADLINE, || csv().matches(",CREDIT_CARD_NUMBER,").count()
            == (n + 1) * 10),
        "{} rows in the CSV",
        csv().matches(",CREDIT_CARD_NUMBER,").count()
    );
    assert!(d.signal(libc::SIGTERM).success(), "{}", d.log());
}

#[test]
fn a_store_that_cannot_be_opened_is_fatal_and_says_why_in_the_log_file() {
    let d = Daemon::new("");
    let log = d.dir.path().join("dlpd.log");
    let state = d.root().join(".dlpd");
    // A file where the state directory should be.
    std::fs::write(&state, "not a directory").unwrap();
    let mut text = std::fs::read_to_string(&d.config).unwrap();
    text.push_str(&format!("[log]\nfile = \"{}\"\n", log.display()));
    std::fs::write(&d.config, text).unwrap();
    let run = support::dlpd(&d.config, &["run"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("dlpd stopped") && logged.contains(".dlpd"),
        "{logged}"
    );
}

#[test]
fn a_scan_that_ends_the_process_is_given_up_after_max_attempts() {
    let mut d = Daemon::new(
        "[queue]\nmax_attempts = 3\nworkers = 1\n[scanner]\nmax_file_bytes = 2000000000\n",
    );
    // Large enough that its scan is under way when the process is killed.
    let poison = d.dir.path().join("poison.txt");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&poison).unwrap());
        let line = "nothing to see here, just words and numbers 12 34 56\n".repeat(1000);
        for _ in 0..4000 {
            f.write_all(line.as_bytes()).unwrap();
        }
    }
    d.start();
    std::fs::rename(&poison, d.root().join("poison.txt")).unwrap();
    let poison = d.root().join("poison.txt");
    let running = |d: &Daemon| {
        d.count(&format!(
            "SELECT count(*) FROM jobs WHERE running = 1 AND path = x'{}'",
            hex(poison.to_str().unwrap())
        )) == 1
    };
    for attempt in 1..=3 {
        assert!(
            wait_for(Duration::from_secs(60), || running(&d)),
            "attempt {attempt}:\n{}",
            d.log()
        );
        d.signal(libc::SIGKILL);
        d.start();
    }
    let error = || -> String {
        d.count("SELECT count(*) FROM files");
        rusqlite::Connection::open(d.db())
            .unwrap()
            .query_row(
                "SELECT status || ': ' || error FROM files WHERE path = ?1",
                [poison.to_str().unwrap().as_bytes()],
                |r| r.get(0),
            )
            .unwrap_or_default()
    };
    assert!(wait_for(DEADLINE, || !error().is_empty()), "{}", d.log());
    assert_eq!(
        error(),
        "failed: gave up after 3 attempts: the scan did not finish (the process ended during it)"
    );
    // The daemon carries on with other files, and no later start queues
    // the poison file again while it is unchanged.
    let next = d.root().join("next.csv");
    std::fs::write(&next, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&next), (1, 10));
    assert!(d.signal(libc::SIGTERM).success(), "{}", d.log());
    let walks = d.log().matches("walk complete").count();
    d.start();
    assert!(
        wait_for(DEADLINE, || d.log().matches("walk complete").count()
            > walks),
        "{}",
        d.log()
    );
    assert_eq!(d.count("SELECT count(*) FROM jobs"), 0, "{}", d.log());
    assert_eq!(
        d.count("SELECT count(*) FROM files WHERE status = 'failed'"),
        1
    );
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_file_name_cannot_forge_a_log_line() {
    let mut d = Daemon::new("");
    d.start();
    let name = "x\n2026-12-01T00:00:00.000000Z  WARN forged: all clear.csv";
    let file = d.root().join(name);
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    d.wait_recorded(&file);
    assert!(
        wait_for(DEADLINE, || d.log().contains("sensitive data found")),
        "{}",
        d.log()
    );
    let log = d.log();
    assert!(
        !log.lines().any(|l| l.starts_with("2026-12-01T00:00:00")),
        "a forged line:\n{log}"
    );
    assert!(log.contains("x\\n2026-12-01"), "{log}");
}

#[test]
fn commands_beside_a_starting_daemon_neither_break_it_nor_create_the_store() {
    let env = support::Env::new();
    // A read-only command on no store says so, and creates nothing.
    let list = env.run(&["quarantine", "list"]);
    assert_eq!(list.code(), 2, "{}", list.stderr());
    assert!(list.stderr().contains("no store at"), "{}", list.stderr());
    assert!(!env.state_dir().join("dlpd.sqlite").exists());
    let status = env.run(&["status"]);
    assert_eq!(status.code(), 3, "{}", status.stderr());
    assert!(
        status.stdout().contains("not running"),
        "{}",
        status.stdout()
    );
    // Eight processes creating the same new store at once all succeed.
    let file = env.write("s.csv", SAMPLE_PCI);
    let children: Vec<_> = (0..8)
        .map(|_| {
            support::cmd(&env.config)
                .args(["scan", "--store"])
                .arg(&file)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("already exists"), "{err}");
    }
}

/// Runs the daemon in a user namespace of its own whose inotify watch
/// limit is `limit`, where the machine allows user namespaces.
fn in_watch_limited_namespace(d: &mut Daemon, limit: u32) -> bool {
    let probe = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c"])
        .arg("echo 5 > /proc/sys/user/max_inotify_watches")
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        return false;
    }
    d.wrapper = vec![
        "unshare".into(),
        "--user".into(),
        "--map-root-user".into(),
        "sh".into(),
        "-c".into(),
        format!("echo {limit} > /proc/sys/user/max_inotify_watches && exec \"$@\""),
        "dlpd".into(),
    ];
    true
}

#[test]
fn directories_over_the_watch_limit_are_named_shown_and_watched_once_it_is_raised() {
    let mut d = Daemon::new("");
    make_tree(&d.root().join("many"), 30, 10);
    if !in_watch_limited_namespace(&mut d, 100) {
        eprintln!("skipped: no user namespaces here");
        return;
    }
    d.start();
    let status = || support::dlpd(&d.config, &["status"]).stdout();
    assert!(
        wait_for(DEADLINE, || status().contains("directories not watched")),
        "{}",
        status()
    );
    assert!(status().contains("max_user_watches"), "{}", status());
    // The log line travels through a pipe and may trail the status.
    assert!(
        wait_for(DEADLINE, || d.log().contains("directories not watched")),
        "{}",
        d.log()
    );
    let log = d.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("directories not watched"))
        .collect();
    assert_eq!(lines.len(), 1, "one line per cause:\n{log}");
    assert!(
        lines[0].contains("/many/"),
        "names directories: {}",
        lines[0]
    );
    // Raise the limit in the daemon's namespace, and ask for a retry.
    let pid = d.child.as_ref().unwrap().id().to_string();
    let raised = std::process::Command::new("nsenter")
        .args(["--user", "--preserve-credentials", "-t", &pid, "sh", "-c"])
        .arg("echo 100000 > /proc/sys/user/max_inotify_watches")
        .status()
        .is_ok_and(|s| s.success());
    assert!(raised, "cannot raise the limit inside the namespace");
    unsafe { libc::kill(d.child.as_ref().unwrap().id() as i32, libc::SIGHUP) };
    assert!(
        wait_for(DEADLINE, || status().contains("health:     ok")),
        "{}",
        status()
    );
    let canary = d.root().join("many/d29/e9/canary.csv");
    std::fs::write(&canary, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&canary), (1, 10));
}

#[test]
fn an_unreadable_directory_and_file_are_scanned_once_their_modes_are_fixed() {
    let mut d = Daemon::new("[queue]\nmax_attempts = 1\n");
    d.obey_file_modes();
    let locked_dir = d.root().join("locked");
    std::fs::create_dir(&locked_dir).unwrap();
    let inside = locked_dir.join("inside.csv");
    std::fs::write(&inside, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let locked_file = d.root().join("locked.csv");
    std::fs::write(&locked_file, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&locked_file, std::fs::Permissions::from_mode(0o000)).unwrap();
    d.start();
    let status = || support::dlpd(&d.config, &["status"]).stdout();
    assert!(
        wait_for(DEADLINE, || status().contains("permission denied")),
        "{}",
        status()
    );
    assert!(
        wait_for(DEADLINE, || d
            .count("SELECT count(*) FROM files WHERE status = 'failed'")
            == 1),
        "{}",
        d.log()
    );
    std::fs::set_permissions(&locked_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&locked_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(d.wait_recorded(&inside), (1, 10));
    assert!(
        wait_for(DEADLINE, || d.count(&format!(
            "SELECT count(*) FROM files WHERE status = 'scanned' AND path = x'{}'",
            hex(locked_file.to_str().unwrap())
        )) == 1),
        "{}",
        d.log()
    );
    assert!(
        wait_for(DEADLINE, || status().contains("health:     ok")),
        "{}",
        status()
    );
}

#[test]
fn a_file_unreadable_before_a_restart_and_fixed_meanwhile_is_scanned_at_start() {
    let mut d = Daemon::new("[queue]\nmax_attempts = 1\n");
    d.obey_file_modes();
    let locked = d.root().join("locked.csv");
    std::fs::write(&locked, SAMPLE_PCI).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    d.start();
    assert!(
        wait_for(DEADLINE, || d
            .count("SELECT count(*) FROM files WHERE status = 'failed'")
            == 1),
        "{}",
        d.log()
    );
    assert!(d.signal(libc::SIGTERM).success());
    // Fixed while nothing watched: size and mtime are as recorded, so only
    // the recheck of unreadable files can find it.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o644)).unwrap();
    d.start();
    assert!(
        wait_for(DEADLINE, || d.file(&locked) == Some((2, 10))),
        "{:?}\n{}",
        d.file(&locked),
        d.log()
    );
}
