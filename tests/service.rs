//! `dlpd run` as a service manager runs it: SIGHUP reloads, SIGTERM during
//! a busy queue, sd_notify readiness and watchdog over the test's own
//! NOTIFY_SOCKET, `--daemonize` with a pidfile, and a log file reopened on
//! SIGHUP.

mod support;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::daemon::{DEADLINE, Daemon};
use support::{SAMPLE_PCI, wait_for};

/// Rewrites the daemon's config with `edit`.
fn edit_config(d: &Daemon, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, edit(text)).unwrap();
}

fn hup(d: &Daemon) {
    let pid = d.child.as_ref().unwrap().id() as i32;
    unsafe { libc::kill(pid, libc::SIGHUP) };
}

#[test]
fn sighup_with_a_new_root_starts_watching_it_and_keeps_the_queue() {
    let mut d = Daemon::new("");
    d.start();
    let second = d.dir.path().join("second");
    std::fs::create_dir_all(&second).unwrap();
    // Already there before the reload: picked up by the reload's walk.
    let before = second.join("before.csv");
    std::fs::write(&before, SAMPLE_PCI).unwrap();
    let root = d.root();
    edit_config(&d, |t| {
        t.replace(
            &format!("paths = [\"{}\"]", root.display()),
            &format!("paths = [\"{}\", \"{}\"]", root.display(), second.display()),
        )
    });
    hup(&d);
    assert!(
        wait_for(DEADLINE, || d.log().contains("config reloaded")),
        "{}",
        d.log()
    );
    assert_eq!(d.wait_recorded(&before), (1, 10));
    let after = second.join("after.csv");
    std::fs::write(&after, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&after), (1, 10));
    // The old root is still watched, and nothing was scanned twice.
    let old = d.root().join("old.csv");
    std::fs::write(&old, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&old), (1, 10));
    assert_eq!(d.file(&before), Some((1, 10)));
}

#[test]
fn sighup_with_a_broken_config_keeps_running_on_the_old_one() {
    let mut d = Daemon::new("");
    d.start();
    let good = std::fs::read_to_string(&d.config).unwrap();
    edit_config(&d, |t| format!("{t}[scanner]\nmin_confidnce = \"LOW\"\n"));
    hup(&d);
    assert!(
        wait_for(DEADLINE, || d.log().contains("reload refused")),
        "{}",
        d.log()
    );
    assert!(d.log().contains("scanner.min_confidnce"), "{}", d.log());
    // Still running, still scanning with the old config.
    let file = d.root().join("still.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&file), (1, 10));
    // A good config afterwards applies: a detector list without cards.
    std::fs::write(
        &d.config,
        format!("{good}[scanner]\ndetectors = [\"US_SOCIAL_SECURITY_NUMBER\"]\n"),
    )
    .unwrap();
    hup(&d);
    assert!(wait_for(DEADLINE, || d.log().contains("config reloaded")));
    let cards = d.root().join("cards-now-ignored.csv");
    std::fs::write(&cards, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&cards), (1, 0));
    assert!(d.signal(libc::SIGTERM).success());
}

#[test]
fn sigterm_during_a_busy_queue_exits_within_the_grace_period_and_a_restart_finishes() {
    // Big files with few findings keep the worker busy scanning while the
    // queue holds the rest.
    let mut d = Daemon::new("[queue]\nworkers = 1\n");
    let filler = "order 1234 shipped to warehouse 7 on 2026-01-02, total 99.50\n";
    let big = format!("{}{SAMPLE_PCI}", filler.repeat(80_000));
    let paths: Vec<PathBuf> = (0..30)
        .map(|i| {
            let p = d.root().join(format!("b{i:02}.csv"));
            std::fs::write(&p, &big).unwrap();
            p
        })
        .collect();
    d.start();
    assert!(wait_for(DEADLINE, || d.count("SELECT count(*) FROM files") >= 1));
    let t0 = Instant::now();
    let status = d.signal(libc::SIGTERM);
    let took = t0.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took < dlpd::daemon::GRACE + Duration::from_secs(3),
        "{took:?}"
    );
    let done = d.count("SELECT count(*) FROM files");
    assert!(done < 30, "the queue was not busy: {done}");
    d.start();
    assert!(
        wait_for(DEADLINE * 4, || paths.iter().all(|p| d.file(p).is_some())),
        "{}",
        d.log()
    );
    for p in &paths {
        assert_eq!(d.file(p), Some((1, 10)), "{}", p.display());
    }
}

/// The test's own NOTIFY_SOCKET.
struct Notify {
    sock: UnixDatagram,
    path: PathBuf,
    got: Vec<String>,
}

impl Notify {
    fn new(dir: &Path) -> Notify {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notify {
            sock,
            path,
            got: Vec::new(),
        }
    }

    /// Waits for a datagram containing `what`.
    fn expect(&mut self, what: &str) -> bool {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if self.got.iter().any(|m| m.contains(what)) {
                return true;
            }
            if let Ok(n) = self.sock.recv(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
        false
    }
}

#[test]
fn ready_watchdog_reloading_and_stopping_arrive_over_sd_notify() {
    let mut d = Daemon::new("");
    let mut notify = Notify::new(d.dir.path());
    d.env = vec![
        (
            "NOTIFY_SOCKET".into(),
            notify.path.to_str().unwrap().to_string(),
        ),
        ("WATCHDOG_USEC".into(), "1000000".into()),
    ];
    d.start();
    assert!(notify.expect("READY=1"), "{:?}", notify.got);
    // Pinged at half the interval.
    notify.got.clear();
    assert!(notify.expect("WATCHDOG=1"), "{:?}", notify.got);
    hup(&d);
    assert!(notify.expect("RELOADING=1"), "{:?}", notify.got);
    notify.got.retain(|m| !m.contains("READY=1"));
    assert!(notify.expect("READY=1"), "{:?}", notify.got);
    assert!(d.signal(libc::SIGTERM).success());
    assert!(notify.expect("STOPPING=1"), "{:?}", notify.got);
}

#[test]
fn daemonize_writes_a_locked_pidfile_and_logs_to_its_file() {
    let d = Daemon::new("");
    let log = d.dir.path().join("dlpd.log");
    let pidfile = d.dir.path().join("dlpd.pid");
    // Without log.file, --daemonize would lose its logs: refused.
    let out = support::cmd(&d.config)
        .args(["run", "--daemonize"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[log] file"));

    edit_config(&d, |t| format!("{t}[log]\nfile = \"{}\"\n", log.display()));
    let out = support::cmd(&d.config)
        .args(["run", "--daemonize", "--pidfile", pidfile.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(wait_for(DEADLINE, || std::fs::read_to_string(&pidfile)
        .is_ok_and(|p| p.trim().parse::<i32>().is_ok())));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_for(DEADLINE, || log_text().contains("dlpd started")));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&pidfile), mode(&log)), (0o600, 0o600));

    // It works, detached.
    let file = d.root().join("detached.csv");
    std::fs::write(&file, SAMPLE_PCI).unwrap();
    assert!(wait_for(DEADLINE, || d.file(&file) == Some((1, 10))));

    // A second one on the same pidfile is refused, before it detaches.
    let out = support::cmd(&d.config)
        .args(["run", "--daemonize", "--pidfile", pidfile.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!("another dlpd (pid {pid})")),
        "{out:?}"
    );

    // logrotate: the file is moved away, SIGHUP reopens a new one.
    let rotated = d.dir.path().join("dlpd.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    assert!(wait_for(DEADLINE, || log_text().contains("config reloaded")));
    assert!(
        !std::fs::read_to_string(&rotated)
            .unwrap()
            .contains("config reloaded")
    );

    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert!(wait_for(DEADLINE, || !pidfile.exists()));
    assert!(wait_for(DEADLINE, || log_text().contains("dlpd stopped")));
}

/// `paths = ["<tmp>/home/*/Downloads"]`, as the packaged system config
/// has it, with the state directory outside the homes.
fn globbed(d: &Daemon) -> PathBuf {
    let home = d.dir.path().join("home");
    let root = d.root();
    edit_config(d, |t| {
        t.replace(
            &format!("paths = [\"{}\"]", root.display()),
            &format!("paths = [\"{}/*/Downloads\"]", home.display()),
        )
    });
    home
}

#[test]
fn globbed_roots_watch_every_users_folder_and_follow_new_ones_but_no_symlink() {
    let mut d = Daemon::new("");
    let home = globbed(&d);
    std::fs::create_dir_all(home.join("alice/Downloads")).unwrap();
    std::fs::create_dir_all(home.join("bob")).unwrap();
    // eve's Downloads points at a folder that is not hers to name.
    let elsewhere = d.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(home.join("eve")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, home.join("eve/Downloads")).unwrap();
    std::fs::write(elsewhere.join("cards.csv"), SAMPLE_PCI).unwrap();
    d.start();

    let a = home.join("alice/Downloads/cards.csv");
    std::fs::write(&a, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&a).1, 10);
    // bob's Downloads appears later; then a new user with a file in it.
    std::fs::create_dir(home.join("bob/Downloads")).unwrap();
    let b = home.join("bob/Downloads/cards.csv");
    std::fs::write(&b, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&b).1, 10);
    std::fs::create_dir_all(home.join("carol/Downloads")).unwrap();
    let c = home.join("carol/Downloads/cards.csv");
    std::fs::write(&c, SAMPLE_PCI).unwrap();
    assert_eq!(d.wait_recorded(&c).1, 10);
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("a new directory matches a watch root")),
        "{}",
        d.log()
    );
    // Matched at the same passes as carol's, eve's symlink never was.
    let mut dlpd = support::cmd(&d.config);
    dlpd.args(["findings", "--format", "jsonl"]);
    let paths: Vec<String> = support::fed(dlpd, b"")
        .jsonl()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths.len(), 30);
    assert!(!paths.iter().any(|p| p.contains("eve")), "{paths:?}");
    assert_eq!(
        d.count("SELECT count(*) FROM files WHERE path LIKE '%eve%'"),
        0
    );
    assert_eq!(
        d.count("SELECT count(*) FROM files WHERE path LIKE '%elsewhere%'"),
        0
    );

    // alice moves her watched Downloads away and puts a symlink in its
    // place; inotify still names the moved folder's events by the old
    // path, which now leads elsewhere. Nothing there is watched or walked.
    std::fs::create_dir_all(elsewhere.join("sub")).unwrap();
    std::fs::write(elsewhere.join("sub/secret.csv"), SAMPLE_PCI).unwrap();
    std::fs::rename(home.join("alice/Downloads"), home.join("alice/moved")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, home.join("alice/Downloads")).unwrap();
    std::fs::create_dir(home.join("alice/moved/sub")).unwrap();
    std::fs::write(home.join("alice/moved/sub/new.csv"), SAMPLE_PCI).unwrap();
    let marker = home.join("bob/Downloads/zz-marker.csv");
    std::fs::write(&marker, SAMPLE_PCI).unwrap();
    d.wait_recorded(&marker);
    assert!(
        wait_for(DEADLINE, || d.count("SELECT count(*) FROM jobs") == 0),
        "{}",
        d.log()
    );
    assert_eq!(
        d.count("SELECT count(*) FROM files WHERE path LIKE '%secret.csv'"),
        0,
        "{}",
        d.log()
    );
}

#[test]
fn quarantine_rules_on_a_root_seen_read_only_refuse_to_start_naming_protecthome() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root for a private read-only mount, as ProtectHome makes");
        return;
    }
    let d = Daemon::new(
        "[remediation]\nrules = [{ detector = \"CREDIT_CARD_NUMBER\", action = \"quarantine\" }]\n",
    );
    let home = globbed(&d);
    std::fs::create_dir_all(home.join("alice/Downloads")).unwrap();
    // What ProtectHome=read-only does: the homes, read-only, in a mount
    // namespace of the service's own.
    let in_read_only_home = |args: &str| {
        std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount --bind {h} {h} && mount -o remount,bind,ro {h} && exec {bin} --config {c} {args}",
                h = home.display(),
                bin = support::bin().display(),
                c = d.config.display(),
            ))
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    let run = in_read_only_home("run");
    let err = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{err}");
    assert!(
        err.contains("quarantine files, but this process sees")
            && err.contains("alice/Downloads read-only")
            && err.contains("ProtectHome=read-only")
            && err.contains("docs/service.md"),
        "{err}"
    );
    let doctor = in_read_only_home("doctor");
    let out = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(2), "{out}");
    assert!(out.contains("is read-only to this process"), "{out}");
    // One user's folder read-only among writable ones (a mount of their
    // own): a warning, not a reason to leave everyone else unwatched.
    std::fs::create_dir_all(home.join("bob/Downloads")).unwrap();
    let mut one = Daemon::new("");
    one.wrapper = vec![
        "unshare".into(),
        "-m".into(),
        "--propagation".into(),
        "private".into(),
        "sh".into(),
        "-c".into(),
        format!(
            "mount --bind {a} {a} && mount -o remount,bind,ro {a} && exec \"$0\" \"$@\"",
            a = home.join("alice/Downloads").display()
        ),
    ];
    std::fs::copy(&d.config, &one.config).unwrap();
    one.start();
    assert!(
        wait_for(DEADLINE, || one.log().contains("read-only to dlpd")),
        "{}",
        one.log()
    );
    drop(one);
    // Writable homes: it starts.
    let mut d = d;
    d.start();
}

#[test]
fn tilde_roots_of_a_service_account_are_warned_about_by_doctor_and_run() {
    let mut d = Daemon::new("");
    // A service account's home, as useradd --system gives it.
    let svc = d.dir.path().join("var-lib-dlpd");
    std::fs::create_dir_all(svc.join("Downloads")).unwrap();
    let root = d.root();
    edit_config(&d, |t| {
        t.replace(
            &format!("paths = [\"{}\"]", root.display()),
            "paths = [\"~/Downloads\"]",
        )
    });
    let mut doctor = support::cmd(&d.config);
    doctor.env("HOME", &svc).arg("doctor");
    let run = support::fed(doctor, b"");
    assert!(
        run.stdout().contains(
            "inside this service account's home, which is where `~` leads a system service"
        ),
        "{}",
        run.stdout()
    );
    d.env.push(("HOME".into(), svc.display().to_string()));
    d.start();
    assert!(
        wait_for(DEADLINE, || d
            .log()
            .contains("this watch root is inside the service account's home")),
        "{}",
        d.log()
    );
}
