//! The keeper's side of the behaviour baselines ([`crate::activity`]):
//! which subjects a batch's files count toward, and closing intervals when
//! they end. The keeper wakes for an interval's end only while one with
//! events is open; at rest nothing is armed.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::keeper::Keeper;
use crate::activity::Params;
use crate::config::Config;
use crate::exposure::Exposures;
use crate::finding::FileReport;
use crate::store::{Events, StoreError};

/// What the keeper holds for the baselines.
pub(super) struct Monitor {
    pub params: Params,
    /// When the first open interval ends, if one is open.
    pub due: Option<SystemTime>,
}

impl Monitor {
    /// The baselines as configured, with the store's first open interval
    /// (one a crash or a stop left open is closed at once).
    pub fn start(
        store: &mut crate::store::Store,
        config: &Config,
    ) -> Result<Option<Monitor>, StoreError> {
        if !config.baselines.enabled {
            return Ok(None);
        }
        let params = Params::from_config(&config.baselines);
        match store.baselines_interval(params.interval_s)? {
            Some(was) if was != params.interval_s => tracing::warn!(
                "baselines.interval_s changed from {was} to {}: the baselines start again (the anomalies recorded stay)",
                params.interval_s
            ),
            _ => {}
        }
        let due = store.first_open_interval()?.map(|i| params.end_of(i));
        Ok(Some(Monitor { params, due }))
    }
}

/// The subjects a file's event counts toward: the watch root it is under
/// (the configured entry, globs and all), its owner, and its exposure.
pub(super) struct Subjects {
    /// Configured roots with the directory each starts from, longest first.
    roots: Vec<(String, PathBuf)>,
}

impl Subjects {
    pub fn new(roots: &[PathBuf]) -> Subjects {
        let mut roots: Vec<(String, PathBuf)> = roots
            .iter()
            .map(|r| {
                (
                    r.to_string_lossy().into_owned(),
                    crate::watch::roots::literal_prefix(r),
                )
            })
            .collect();
        roots.sort_by_key(|(_, dir)| std::cmp::Reverse(dir.as_os_str().len()));
        Subjects { roots }
    }

    /// `root:<root>`, `uid:<n>` and `exposure:<class>` for `report`.
    pub fn of(&self, report: &FileReport, exposure: &str) -> Vec<String> {
        let mut out = Vec::with_capacity(3);
        if let Some((name, _)) = self
            .roots
            .iter()
            .find(|(_, dir)| report.path.starts_with(dir))
        {
            out.push(format!("root:{name}"));
        }
        if let Some(uid) = report.owner.or_else(|| owner(&report.path)) {
            out.push(format!("uid:{uid}"));
        }
        out.push(format!("exposure:{exposure}"));
        out
    }
}

/// The owner of a file whose report does not say (a Nightfall result).
fn owner(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}

/// Where files sit, from the sync clients' files, `[exposure]` and the
/// mount table.
pub(super) fn find_exposure(config: &Config) -> Exposures {
    Exposures::find(
        &crate::exposure::homes(&config.watch.paths),
        &config.exposure.cloud_sync,
        &crate::exposure::mountinfo(),
    )
}

/// Roots beyond the configured ones: removable media, when watched.
pub(super) fn extra_roots(config: &Config, exposure: &Exposures) -> Vec<PathBuf> {
    match config.watch.removable {
        true => exposure.removable().to_vec(),
        false => Vec::new(),
    }
}

impl Keeper {
    /// The mount table changed: removable media may have come or gone.
    /// Only the table is read again (the sync folders are looked for on a
    /// reload); media are watched (and walked) while mounted when
    /// `watch.removable` is on.
    pub(super) fn mounts_changed(&mut self) {
        crate::watch::mounts::taken();
        let before = self.exposure.removable().to_vec();
        if !self.exposure.set_mounts(&crate::exposure::mountinfo()) {
            return;
        }
        let watched = self.snapshot.load().config.watch.removable;
        let after = self.exposure.removable();
        for m in after.iter().filter(|m| !before.contains(m)) {
            tracing::info!(mount = %m.display(), watched, "removable medium mounted");
        }
        for m in before.iter().filter(|m| !after.contains(m)) {
            tracing::info!(mount = %m.display(), "removable medium unmounted");
        }
        if watched {
            self.rewatch();
        }
    }

    /// The subjects each report with findings counts toward, in the
    /// current interval (the store leaves out files a walk found).
    pub(super) fn events(&self, reports: &[FileReport]) -> Events {
        let Some(m) = &self.monitor else {
            return Events::default();
        };
        let config = &self.snapshot.load().config;
        let subjects = Subjects::new(&config.watch.paths);
        let exposure = &self.exposure;
        Events {
            interval: m.params.interval(SystemTime::now()),
            subjects: reports
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.findings().is_empty())
                .map(|(i, r)| (i, subjects.of(r, exposure.of(&r.path).as_str())))
                .collect(),
        }
    }

    /// After events were recorded: their interval is due to close.
    pub(super) fn counted(&mut self, events: &Events) {
        if let Some(m) = &mut self.monitor
            && !events.subjects.is_empty()
        {
            let end = m.params.end_of(events.interval);
            m.due = Some(m.due.map_or(end, |d| d.min(end)));
        }
    }

    /// How long until an open interval ends.
    pub(super) fn interval_due(&self) -> Option<Duration> {
        let due = self.monitor.as_ref()?.due?;
        Some(due.duration_since(SystemTime::now()).unwrap_or_default())
    }

    /// Closes the intervals that have ended; anomalies are logged, and
    /// their alerts queued in the same transaction.
    pub(super) fn close_intervals(&mut self) -> Result<(), StoreError> {
        let Some(m) = &self.monitor else {
            return Ok(());
        };
        if m.due.is_none_or(|d| SystemTime::now() < d) {
            return Ok(());
        }
        let params = m.params;
        let current = params.interval(SystemTime::now());
        let remediator = &self.remediator;
        let found = self
            .store
            .close_intervals(&params, current, |a| remediator.anomaly_alerts(a))?;
        for a in &found {
            tracing::warn!(
                subject = %a.subject,
                count = a.count,
                interval_s = a.interval_s,
                usual = format!("{:.1}", a.mean),
                band = format!("{:.1}", a.band),
                "unusual activity: {} files with findings in {} s, where {:.1} is usual",
                a.count,
                a.interval_s,
                a.mean
            );
        }
        self.counters.anomalies(found.len() as u64);
        let next = self.store.first_open_interval()?;
        if let Some(m) = &mut self.monitor {
            m.due = next.map(|i| params.end_of(i));
        }
        Ok(())
    }
}
