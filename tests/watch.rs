//! The watcher on real inotify in temp dirs: debounce, excludes, new
//! directories, renames, dlpd's own files, deletes, late roots, files that
//! never settle, and trees large enough to flood the event queue.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use dlpd::liveness::Liveness;
use dlpd::pathmatch::{PathFilter, PathPattern};
use dlpd::watch::{WatchEvent, WatchSettings, Watcher, spawn};

const DEBOUNCE: Duration = Duration::from_millis(200);

fn settings(root: &Path) -> WatchSettings {
    WatchSettings {
        roots: vec![root.to_path_buf()],
        patterns: vec![],
        include: PathFilter::default(),
        exclude: PathFilter::new(&[
            PathPattern::parse(".git").unwrap(),
            PathPattern::parse("*.tmp").unwrap(),
        ]),
        ignore: vec![root.join("state")],
        debounce: DEBOUNCE,
        max_wait: Duration::from_secs(10),
        follow_symlinks: false,
    }
}

/// Starts a watcher and waits until its watches are in place.
fn start(s: WatchSettings) -> (Watcher, Receiver<WatchEvent>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let w = spawn(s, tx, &Liveness::new()).unwrap();
    assert!(
        w.wait_ready(Duration::from_secs(60)),
        "watches not in place within 60 s"
    );
    (w, rx)
}

/// Whether `path` was reported: settled itself, or inside a directory the
/// daemon is asked to walk (one that appeared before its watch was in place).
fn covered(events: &[WatchEvent], path: &Path) -> bool {
    events.iter().any(|e| match e {
        WatchEvent::Settled(p) => p == path,
        WatchEvent::Rescan(dir) => path.starts_with(dir),
        WatchEvent::Removed(_) | WatchEvent::HealthChanged | WatchEvent::MountsChanged => false,
    })
}

/// Collects events until `deadline` passes, or until `done` holds.
fn collect(
    rx: &Receiver<WatchEvent>,
    within: Duration,
    done: impl Fn(&[WatchEvent]) -> bool,
) -> Vec<WatchEvent> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while !done(&got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) => got.push(e),
            Err(_) => break,
        }
    }
    got
}

fn settled(events: &[WatchEvent]) -> Vec<PathBuf> {
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Settled(p) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn file_written_in_pieces_is_reported_once_after_it_settles() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, rx) = start(settings(dir.path()));
    let path = dir.path().join("export.csv");
    let mut f = std::fs::File::create(&path).unwrap();
    for i in 0..100 {
        writeln!(f, "row {i}, 5433-9502-3725-7862").unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    // Wait well past one debounce after the last write for any repeat.
    let events = collect(&rx, DEBOUNCE * 6, |_| false);
    assert_eq!(settled(&events), vec![path.clone()]);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
}

#[test]
fn excluded_and_own_files_are_never_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    let (_w, rx) = start(settings(dir.path()));
    std::fs::write(dir.path().join(".git/config"), "x").unwrap();
    std::fs::write(dir.path().join("download.tmp"), "x").unwrap();
    std::fs::write(dir.path().join("state/results.csv"), "x").unwrap();
    let marker = dir.path().join("marker.txt");
    std::fs::write(&marker, "x").unwrap();
    let events = collect(&rx, Duration::from_secs(5), |e| {
        settled(e).contains(&marker)
    });
    assert_eq!(settled(&events), vec![marker]);
}

#[test]
fn a_new_subdirectory_is_watched_and_its_files_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, rx) = start(settings(dir.path()));
    let sub = dir.path().join("a/b");
    std::fs::create_dir_all(&sub).unwrap();
    // Created right away, possibly before the watch on it exists.
    let early = sub.join("early.txt");
    std::fs::write(&early, "x").unwrap();
    std::thread::sleep(DEBOUNCE);
    let late = sub.join("late.txt");
    std::fs::write(&late, "y").unwrap();
    let events = collect(&rx, Duration::from_secs(10), |e| {
        covered(e, &early) && covered(e, &late)
    });
    assert!(
        covered(&events, &early) && covered(&events, &late),
        "{events:?}"
    );
}

#[test]
fn files_renamed_or_moved_in_are_reported() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_w, rx) = start(settings(dir.path()));
    let src = outside.path().join("doc.txt");
    std::fs::write(&src, "x").unwrap();
    let moved = dir.path().join("doc.txt");
    std::fs::rename(&src, &moved).unwrap();
    // A directory moved in already full.
    let full = outside.path().join("full");
    std::fs::create_dir_all(full.join("deep")).unwrap();
    std::fs::write(full.join("deep/inner.txt"), "z").unwrap();
    std::fs::rename(&full, dir.path().join("full")).unwrap();
    let inner = dir.path().join("full/deep/inner.txt");
    let events = collect(&rx, Duration::from_secs(10), |e| {
        settled(e).contains(&moved) && covered(e, &inner)
    });
    assert!(settled(&events).contains(&moved), "{events:?}");
    assert!(covered(&events, &inner), "{events:?}");
    // The moved-in directory is watched: a file written there later settles.
    let later = dir.path().join("full/deep/later.txt");
    std::fs::write(&later, "w").unwrap();
    let events = collect(&rx, Duration::from_secs(10), |e| {
        settled(e).contains(&later)
    });
    assert!(settled(&events).contains(&later), "{events:?}");
}

#[test]
fn a_file_deleted_before_it_settles_is_removed_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (_w, rx) = start(settings(dir.path()));
    let path = dir.path().join("brief.txt");
    std::fs::write(&path, "x").unwrap();
    std::fs::remove_file(&path).unwrap();
    let events = collect(&rx, DEBOUNCE * 5, |_| false);
    assert!(
        events.contains(&WatchEvent::Removed(path.clone())),
        "{events:?}"
    );
    assert!(settled(&events).is_empty(), "{events:?}");
}

#[test]
fn a_root_that_appears_later_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Downloads");
    let (_w, rx) = start(settings(&root));
    std::fs::create_dir(&root).unwrap();
    let events = collect(&rx, Duration::from_secs(5), |e| {
        e.contains(&WatchEvent::Rescan(root.clone()))
    });
    assert!(
        events.contains(&WatchEvent::Rescan(root.clone())),
        "{events:?}"
    );
    let file = root.join("new.txt");
    std::fs::write(&file, "x").unwrap();
    let events = collect(&rx, Duration::from_secs(5), |e| settled(e).contains(&file));
    assert_eq!(settled(&events), vec![file]);
}

#[test]
fn a_file_moved_between_roots_is_removed_from_one_and_settles_in_the_other() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut s = settings(a.path());
    s.roots.push(b.path().to_path_buf());
    let (_w, rx) = start(s);
    let from = a.path().join("report.csv");
    std::fs::write(&from, "x").unwrap();
    let events = collect(&rx, Duration::from_secs(5), |e| settled(e).contains(&from));
    assert_eq!(settled(&events), vec![from.clone()]);
    let to = b.path().join("report.csv");
    std::fs::rename(&from, &to).unwrap();
    let events = collect(&rx, Duration::from_secs(5), |e| settled(e).contains(&to));
    assert!(events.contains(&WatchEvent::Removed(from)), "{events:?}");
    assert_eq!(settled(&events), vec![to]);
}

#[test]
fn a_file_that_never_settles_is_reported_while_it_is_still_growing() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_wait = Duration::from_millis(1000);
    let (_w, rx) = start(s);
    let path = dir.path().join("app.log");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::File::create(&path).unwrap();
            // Appends every 50 ms, well inside the debounce, for up to 30 s.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                writeln!(f, "GET /index.html 200").unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            Instant::now() < deadline
        })
    };
    let events = collect(&rx, Duration::from_secs(25), |e| settled(e).contains(&path));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let still_writing = writer.join().unwrap();
    assert!(
        settled(&events).contains(&path),
        "never reported: {events:?}"
    );
    assert!(still_writing, "reported only after the writes stopped");
    // And once it stops, it settles (again) with its final content.
    let events = collect(&rx, Duration::from_secs(10), |e| settled(e).contains(&path));
    assert!(settled(&events).contains(&path), "{events:?}");
}

/// Walking a tree opens every directory, and each open is an event on its
/// parent's watch: with thousands of directories the event queue filled
/// while the only thread draining it waited on notify, and start-up hung.
#[test]
fn a_root_with_thousands_of_directories_starts_and_sees_new_files() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..60 {
        for j in 0..100 {
            std::fs::create_dir_all(dir.path().join(format!("n{i}/m{j}"))).unwrap();
        }
    }
    let root = dir.path().to_path_buf();
    // Writes during setup too.
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (root, writing) = (root.clone(), writing.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while writing.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::write(
                    root.join(format!("n{}/m{}/w.txt", i % 60, i % 100)),
                    i.to_string(),
                )
                .unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let w = spawn(settings(&root), tx, &Liveness::new()).unwrap();
    let ready = w.wait_ready(Duration::from_secs(60));
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        ready,
        "the watches on 6,000 directories were not in place within 60 s"
    );
    let canary = root.join("n59/m99/canary.txt");
    std::fs::write(&canary, "4916-6734-7572-5015").unwrap();
    let events = collect(&rx, Duration::from_secs(30), |e| {
        settled(e).contains(&canary)
    });
    assert!(settled(&events).contains(&canary), "canary not seen");
}
