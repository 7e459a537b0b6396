//! Exposure: whether a file sits where it leaves the machine's control.
//! `cloud-sync` folders are uploaded by a sync client (Dropbox, Google
//! Drive, OneDrive, iCloud Drive, Box, Nextcloud), `removable` media can
//! walk out of the building, and everything else is `local`.
//!
//! Sync folders are found from each client's own files in the home
//! folders dlpd watches (where the client keeps its folder's path), and
//! from `[exposure] cloud_sync`; removable media are the mounts under
//! `/media`, `/run/media`, `/mnt` and `/Volumes` (on Linux, read from
//! `/proc/self/mountinfo`). What is found is logged at start.

use std::path::{Path, PathBuf};

pub use crate::finding::Exposure;

/// Where removable media are mounted. Anything mounted below these counts,
/// `/mnt` included: a network share mounted there is treated as a medium.
pub const REMOVABLE_PARENTS: [&str; 4] = ["/media", "/run/media", "/mnt", "/Volumes"];
/// A client's config file read, at most.
const MAX_CONFIG: u64 = 256 * 1024;
/// Home folders looked into, at most (a root of `/home` on a server).
const MAX_HOMES: usize = 1000;
/// Sync folders taken from one home's client files, and in all: a user's
/// files cannot make the list (walked for every file) grow without end.
const MAX_PER_HOME: usize = 16;
const MAX_PLACES: usize = 4096;

/// The places that are not `local`, longest path first within each class.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposures {
    /// Sync folders, with where each was learnt.
    sync: Vec<(PathBuf, &'static str)>,
    /// Removable mounts.
    removable: Vec<PathBuf>,
}

impl Exposures {
    /// Finds the sync folders in `homes`, adds `configured` ones, and the
    /// removable mounts in `mountinfo` (its text; empty where there is none).
    pub fn find(homes: &[PathBuf], configured: &[PathBuf], mountinfo: &str) -> Exposures {
        let mut sync = Vec::new();
        for home in homes.iter().take(MAX_HOMES) {
            let found = sync_folders(home);
            let inside = found.into_iter().filter(|(p, _)| within(p, home));
            sync.extend(inside.take(MAX_PER_HOME));
        }
        sync.truncate(MAX_PLACES);
        for dir in configured {
            sync.push((dir.clone(), "exposure.cloud_sync"));
        }
        sync.sort_by_key(|(p, _)| std::cmp::Reverse(p.as_os_str().len()));
        sync.dedup_by(|a, b| a.0 == b.0);
        let mut e = Exposures {
            sync,
            removable: Vec::new(),
        };
        e.set_mounts(mountinfo);
        e
    }

    /// Takes the removable mounts from a new read of the mount table (the
    /// sync folders stay: they are looked for again on a reload). Returns
    /// whether they changed.
    pub fn set_mounts(&mut self, mountinfo: &str) -> bool {
        let mut mounts = removable_mounts(mountinfo);
        mounts.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
        mounts.truncate(MAX_PLACES);
        let changed = mounts != self.removable;
        self.removable = mounts;
        changed
    }

    /// The exposure of `path`: removable when on a medium (even in a
    /// folder someone calls synced), else that of the deepest sync folder
    /// holding it.
    pub fn of(&self, path: &Path) -> Exposure {
        if self.removable.iter().any(|m| path.starts_with(m)) {
            Exposure::Removable
        } else if self.sync.iter().any(|(p, _)| path.starts_with(p)) {
            Exposure::CloudSync
        } else {
            Exposure::Local
        }
    }

    /// The removable mounts found.
    pub fn removable(&self) -> &[PathBuf] {
        &self.removable
    }

    /// Every place with its class and where it was learnt, for the log.
    pub fn places(&self) -> impl Iterator<Item = (&Path, Exposure, &'static str)> {
        let sync = self
            .sync
            .iter()
            .map(|(p, w)| (p.as_path(), Exposure::CloudSync, *w));
        let media = self
            .removable
            .iter()
            .map(|p| (p.as_path(), Exposure::Removable, "mount"));
        sync.chain(media)
    }
}

/// Whether `path` is `home` or below it, with no `..` to climb out: a
/// user's client file may only name that user's own folders.
fn within(path: &Path, home: &Path) -> bool {
    use std::path::Component;
    path.starts_with(home) && !path.components().any(|c| c == Component::ParentDir)
}

/// The home folders behind `roots`: `/home/a/Downloads` gives `/home/a`,
/// `/home` every folder in it; and dlpd's own `$HOME`.
pub fn homes(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = crate::config::home_dir().into_iter().collect();
    for root in roots {
        let root = crate::watch::roots::literal_prefix(root);
        for parent in ["/home", "/Users"] {
            let parent = Path::new(parent);
            if root == parent {
                if let Ok(dir) = std::fs::read_dir(parent) {
                    out.extend(dir.filter_map(|e| e.ok()).map(|e| e.path()).take(MAX_HOMES));
                }
            } else if let Ok(rest) = root.strip_prefix(parent)
                && let Some(user) = rest.components().next()
            {
                out.push(parent.join(user));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The sync folders a home's clients name, with the client.
fn sync_folders(home: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    // Dropbox: ~/.dropbox/info.json, {"personal": {"path": …}, "business": …}.
    if let Some(text) = read_small(home, ".dropbox/info.json")
        && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(accounts) = info.as_object()
    {
        out.extend(
            accounts
                .values()
                .filter_map(|a| a["path"].as_str())
                .map(|p| (PathBuf::from(p), "Dropbox")),
        );
    }
    // OneDrive on Linux (the `onedrive` client): sync_dir in its config,
    // ~/OneDrive by default.
    let onedrive = home.join(".config/onedrive");
    if onedrive.is_dir() {
        let dir = read_small(home, ".config/onedrive/config")
            .and_then(|t| setting(&t, "sync_dir"))
            .unwrap_or_else(|| "~/OneDrive".into());
        out.push((expand_home(&dir, home), "OneDrive"));
    }
    // Nextcloud and ownCloud: localPath= lines in the client's config.
    for (file, client) in [
        (".config/Nextcloud/nextcloud.cfg", "Nextcloud"),
        (".config/ownCloud/owncloud.cfg", "ownCloud"),
    ] {
        if let Some(text) = read_small(home, file) {
            out.extend(
                text.lines()
                    .filter_map(|l| l.split_once("localPath=").map(|(_, p)| p.trim()))
                    .filter(|p| !p.is_empty())
                    .map(|p| (PathBuf::from(p.trim_end_matches('/')), client)),
            );
        }
    }
    // macOS: every File Provider sync root (Google Drive, OneDrive, Box,
    // Dropbox) is a folder in ~/Library/CloudStorage; and iCloud Drive.
    #[cfg(target_os = "macos")]
    {
        if let Ok(dir) = std::fs::read_dir(home.join("Library/CloudStorage")) {
            out.extend(
                dir.filter_map(|e| e.ok())
                    .take(MAX_PER_HOME)
                    .map(|e| (e.path(), "CloudStorage")),
            );
        }
        let icloud = home.join("Library/Mobile Documents/com~apple~CloudDocs");
        if icloud.is_dir() {
            out.push((icloud, "iCloud Drive"));
        }
    }
    // Google Drive for desktop and Box Drive where they keep a plain folder.
    for (name, client) in [("Google Drive", "Google Drive"), ("Box", "Box")] {
        let dir = home.join(name);
        if dir.is_dir() && !dir.is_symlink() {
            out.push((dir, client));
        }
    }
    out.retain(|(p, _)| p.is_absolute());
    out
}

/// `key = "value"` (or `key = value`) in a client's config.
fn setting(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

fn expand_home(p: &str, home: &Path) -> PathBuf {
    match p.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(p),
    }
}

/// A client's config file, if it is a regular file of sensible size
/// (a home folder is its user's to fill with anything).
fn read_small(home: &Path, rel: &str) -> Option<String> {
    use std::io::Read;
    // No symlink on the way: a user cannot point dlpd at another's file.
    let file = crate::fsutil::open_no_symlinks(Some(home), &home.join(rel)).ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > MAX_CONFIG {
        return None;
    }
    let mut text = String::new();
    file.take(MAX_CONFIG).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Mount points under [`REMOVABLE_PARENTS`] in `mountinfo`'s text.
pub fn removable_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| {
            REMOVABLE_PARENTS
                .iter()
                .any(|p| m.starts_with(p) && m.as_path() != Path::new(p))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This machine's mount table (empty where there is none).
pub fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_name_their_folders_and_the_deepest_place_wins() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join(".dropbox")).unwrap();
        std::fs::write(
            h.join(".dropbox/info.json"),
            format!(r#"{{"personal": {{"path": "{0}/Dropbox", "host": 1}}, "business": {{"path": "{0}/Dropbox (Acme)"}}}}"#, h.display()),
        )
        .unwrap();
        std::fs::create_dir_all(h.join(".config/onedrive")).unwrap();
        std::fs::write(
            h.join(".config/onedrive/config"),
            "# x\nsync_dir = \"~/Work/OneDrive\"\n",
        )
        .unwrap();
        std::fs::create_dir_all(h.join(".config/Nextcloud")).unwrap();
        std::fs::write(
            h.join(".config/Nextcloud/nextcloud.cfg"),
            format!(
                "[Accounts]\n0\\Folders\\1\\localPath={}/Nextcloud/\n",
                h.display()
            ),
        )
        .unwrap();
        let mountinfo = "36 35 98:0 / /mnt/usb\\040stick rw - vfat /dev/sdb1 rw\n\
                         37 35 98:0 / /media rw - tmpfs none rw\n\
                         38 35 98:0 / /home rw - ext4 /dev/sda2 rw\n";
        let e = Exposures::find(&[h.to_path_buf()], &[h.join("Sync")], mountinfo);
        for (p, want) in [
            ("Dropbox/a.csv", Exposure::CloudSync),
            ("Dropbox (Acme)/x/b.csv", Exposure::CloudSync),
            ("Work/OneDrive/c", Exposure::CloudSync),
            ("Nextcloud/d", Exposure::CloudSync),
            ("Sync/e", Exposure::CloudSync),
            ("Downloads/f", Exposure::Local),
            ("Dropboxx/g", Exposure::Local),
        ] {
            assert_eq!(e.of(&h.join(p)), want, "{p}");
        }
        assert_eq!(e.of(Path::new("/mnt/usb stick/x.csv")), Exposure::Removable);
        assert_eq!(e.removable(), [PathBuf::from("/mnt/usb stick")]);
        // /media itself is no medium.
        assert_eq!(e.of(Path::new("/media/x")), Exposure::Local);
    }

    #[test]
    fn a_hostile_client_file_is_not_read() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join(".dropbox")).unwrap();
        // A symlink to a file elsewhere, and an oversized file.
        std::os::unix::fs::symlink("/etc/passwd", h.join(".dropbox/info.json")).unwrap();
        assert!(sync_folders(h).is_empty());
        std::fs::remove_file(h.join(".dropbox/info.json")).unwrap();
        let big = format!(
            "{{\"personal\": {{\"path\": \"/x\"}}, \"pad\": \"{}\"}}",
            "a".repeat(300_000)
        );
        std::fs::write(h.join(".dropbox/info.json"), big).unwrap();
        assert!(sync_folders(h).is_empty());
    }

    #[test]
    fn a_users_client_files_claim_only_that_users_folders() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::create_dir_all(h.join(".config/Nextcloud")).unwrap();
        let mut cfg = format!(
            "0\\localPath={0}/../victim\n1\\localPath=/srv/other\n2\\localPath=/mnt/usb/x\n3\\localPath={0}/Cloud\n",
            h.display()
        );
        for i in 0..100 {
            cfg.push_str(&format!("{}\\localPath={}/many/{i}\n", i + 10, h.display()));
        }
        std::fs::write(h.join(".config/Nextcloud/nextcloud.cfg"), cfg).unwrap();
        let mountinfo = "36 35 98:0 / /mnt/usb rw - vfat /dev/sdb1 rw\n";
        // The administrator's own list may name anything.
        let e = Exposures::find(
            &[h.to_path_buf()],
            &[PathBuf::from("/mnt/usb/sync")],
            mountinfo,
        );
        assert_eq!(e.of(&h.join("Cloud/a")), Exposure::CloudSync);
        assert_eq!(e.of(&h.parent().unwrap().join("victim/a")), Exposure::Local);
        assert_eq!(e.of(Path::new("/srv/other/a")), Exposure::Local);
        // A medium stays removable whoever calls a folder on it synced.
        assert_eq!(e.of(Path::new("/mnt/usb/x/a")), Exposure::Removable);
        assert_eq!(e.of(Path::new("/mnt/usb/sync/a")), Exposure::Removable);
        let from_home = e.places().filter(|(_, _, w)| *w == "Nextcloud").count();
        assert_eq!(from_home, MAX_PER_HOME);
    }

    #[test]
    fn a_new_mount_table_changes_only_the_media() {
        let mut e = Exposures::find(&[], &[PathBuf::from("/data/sync")], "");
        assert!(!e.set_mounts(""));
        assert!(e.set_mounts("36 35 98:0 / /media/a/STICK rw - vfat /dev/sdb1 rw\n"));
        assert_eq!(e.of(Path::new("/media/a/STICK/f")), Exposure::Removable);
        assert_eq!(e.of(Path::new("/data/sync/f")), Exposure::CloudSync);
        assert!(e.set_mounts(""));
        assert_eq!(e.of(Path::new("/media/a/STICK/f")), Exposure::Local);
    }

    #[test]
    fn homes_come_from_roots() {
        let got = homes(&[
            PathBuf::from("/home/alice/Downloads"),
            PathBuf::from("/srv/share"),
        ]);
        assert!(got.contains(&PathBuf::from("/home/alice")), "{got:?}");
        assert!(!got.iter().any(|h| h.starts_with("/srv")), "{got:?}");
    }
}
