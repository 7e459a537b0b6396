//! The watcher on real inotify in temp dirs: debounce, excludes, new
//! directories, renames, dlpd's own files, deletes and late roots.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use dlpd::watch::{WatchEvent, WatchSettings, Watcher, spawn};
use regex::Regex;

const DEBOUNCE: Duration = Duration::from_millis(200);

fn settings(root: &Path) -> WatchSettings {
    WatchSettings {
        roots: vec![root.to_path_buf()],
        include: vec![],
        exclude: vec![
            Regex::new(r"/\.git/").unwrap(),
            Regex::new(r"\.tmp$").unwrap(),
        ],
        ignore: vec![root.join("state")],
        debounce: DEBOUNCE,
        follow_symlinks: false,
    }
}

fn start(s: WatchSettings) -> (Watcher, Receiver<WatchEvent>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (spawn(s, tx).unwrap(), rx)
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
    let events = collect(&rx, Duration::from_secs(5), |e| {
        let s = settled(e);
        s.contains(&early) && s.contains(&late)
    });
    let s = settled(&events);
    assert!(s.contains(&early) && s.contains(&late), "{events:?}");
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
    let events = collect(&rx, Duration::from_secs(5), |e| {
        let s = settled(e);
        s.contains(&moved) && s.contains(&inner)
    });
    let s = settled(&events);
    assert!(s.contains(&moved) && s.contains(&inner), "{events:?}");
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
