//! SIGHUP: a new, already validated config replaces the snapshot every
//! thread reads. Roots and filters, detectors and thresholds, rules,
//! allowlists, queue limits and remediation rules apply at once; the keys
//! in [`RESTART`] keep their running values until dlpd restarts, and are
//! named in the log when they change.

use std::sync::Arc;

use super::keeper::Keeper;
use super::snapshot::Snapshot;
use super::watch_settings;
use crate::config::Config;
use crate::watch;

/// A key (or table) whose change needs a restart: how to tell it changed,
/// and how to keep its running value in a new config.
struct RestartKey {
    name: &'static str,
    changed: fn(&Config, &Config) -> bool,
    keep: fn(&Config, &mut Config),
}

macro_rules! restart_key {
    ($name:literal, $($field:ident).+) => {
        RestartKey {
            name: $name,
            changed: |a, b| a.$($field).+ != b.$($field).+,
            keep: |old, new| new.$($field).+ = old.$($field).+.clone(),
        }
    };
}

/// Every key a reload does not apply. docs/configuration.md lists the same
/// names, and a test keeps the two equal.
static RESTART: &[RestartKey] = &[
    restart_key!("[output]", output),
    restart_key!("scanner.engine", scanner.engine),
    restart_key!("[nightfall]", nightfall),
    restart_key!("[webhook]", webhook),
    restart_key!("queue.workers", queue.workers),
    restart_key!("log.format", log.format),
    restart_key!("log.file", log.file),
    restart_key!("[api]", api),
    restart_key!("[alerts]", alerts),
    restart_key!("[metrics]", metrics),
    restart_key!("[baselines]", baselines),
    restart_key!("[dashboard]", dashboard),
    restart_key!("remediation.quarantine_dir", remediation.quarantine_dir),
    restart_key!("remediation.stub", remediation.stub),
    restart_key!("[fleet]", fleet),
    restart_key!("[export]", export),
];

/// How long a reload waits for the new watches before walking anyway (a
/// tree of a million directories takes a while; its events are taken
/// all along).
const READY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// The names of the keys a reload does not apply, in the order above.
pub fn restart_keys() -> Vec<&'static str> {
    RESTART.iter().map(|k| k.name).collect()
}

/// The restart-only keys that differ between `old` and `new`.
fn needing_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    RESTART
        .iter()
        .filter(|k| (k.changed)(old, new))
        .map(|k| k.name)
        .collect()
}

impl Keeper {
    /// Applies a reloaded config. A new watcher replaces the old one when
    /// roots or filters change, and every root is walked so nothing the
    /// old watcher had not yet settled is lost; the walk skips files
    /// unchanged since their last scan.
    pub(super) fn reload(&mut self, new: Config) {
        let old = self.snapshot.load_full();
        let restart = needing_restart(&old.config, &new);
        let local = old.local.is_some();
        // Restart-only keys keep their running values: the snapshot holds
        // what is in force, so later reloads compare against that.
        let mut fresh = new;
        keep_running_values(&old.config, &mut fresh);
        self.remediator.set_rules(fresh.remediation.rules.clone());
        let watch_changed = old.config.watch != fresh.watch;
        let summary = fresh.summary();
        self.snapshot.store(Arc::new(Snapshot::new(fresh, local)));

        // The sync clients' folders may have moved too.
        self.exposure = super::monitor::find_exposure(&self.snapshot.load().config);
        if watch_changed {
            self.rewatch();
        } else if let Some(w) = &self.watcher {
            // A SIGHUP is also the way to say "try the unwatched
            // directories again now".
            w.retry();
        }
        // And the files that could not be read.
        self.recheck_unreadable(true);
        self.reopen_events_file();
        if !restart.is_empty() {
            tracing::warn!(
                "reload: {} changed; these keep their running values until dlpd restarts",
                restart.join(", ")
            );
        }
        tracing::info!("config reloaded: {summary}");
    }

    /// Replaces the watcher with one for the current roots (and removable
    /// media, when watched), then walks every root: nothing the old
    /// watcher had not yet settled is lost, and the walk skips files
    /// unchanged since their last scan.
    pub(super) fn rewatch(&mut self) {
        let snapshot = self.snapshot.load();
        let extra = super::monitor::extra_roots(&snapshot.config, &self.exposure);
        let settings = Arc::new(watch_settings(&snapshot.config, &extra));
        // The old watcher goes first: two would report every change twice.
        self.watcher = None;
        match watch::spawn((*settings).clone(), self.watch_tx.clone(), &self.liveness) {
            Ok(w) => {
                // The walks start once the watches are in place: a file
                // written after a walk passed its directory, and before
                // the watch on it existed, would be missed for good.
                let started = std::time::Instant::now();
                while !w.wait_ready(std::time::Duration::from_millis(100)) {
                    self.beat.beat();
                    if started.elapsed() >= READY_WAIT {
                        tracing::warn!(
                            "the watches are still being added after {}s; walking the roots meanwhile",
                            READY_WAIT.as_secs()
                        );
                        break;
                    }
                }
                self.watcher = Some(w);
            }
            Err(e) => tracing::error!(
                "cannot start the watcher: {e}; no roots are watched until the next reload or restart"
            ),
        }
        for root in settings.roots.iter().filter(|r| r.is_dir()) {
            self.progress.walks_pending += 1;
            let _ = self.walk_tx.send(super::walk::Walk {
                dir: root.clone(),
                settings: settings.clone(),
                baseline: true,
            });
        }
        self.settings = settings;
    }
}

/// Copies the restart-only keys' running values into `new`.
fn keep_running_values(old: &Config, new: &mut Config) {
    for key in RESTART {
        (key.keep)(old, new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_restart_key_is_kept_at_its_running_value() {
        let old = Config::default();
        let mut new = Config::parse(
            "[output]\nstate_dir = \"/elsewhere\"\n[scanner]\nengine = \"nightfall\"\n\
             [nightfall]\nconcurrency = 9\n[webhook]\nmax_body_bytes = 7\n[queue]\nworkers = 9\n\
             [log]\nformat = \"json\"\nfile = \"/tmp/l\"\n[api]\nenabled = true\n\
             [alerts]\nrequests_per_second = 9\n[metrics]\nlisten = \"\"\n[baselines]\ninterval_s = 9\n[dashboard]\nsession_hours = 9\n\
             [remediation]\nquarantine_dir = \"/q\"\nstub = false\n\
             [fleet]\nhost_id = \"h\"\n[export]\nkeep = 9\n",
            "t",
        )
        .unwrap();
        assert_eq!(needing_restart(&old, &new), restart_keys());
        keep_running_values(&old, &mut new);
        assert!(needing_restart(&old, &new).is_empty());
    }
}
