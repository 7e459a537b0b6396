//! What happens to a file with findings beyond recording them: the first
//! `[remediation]` rule that matches one of its findings picks `record`,
//! `notify` (alerts) or `quarantine` (alerts, and the file moved away).
//!
//! The keeper plans remedies for a batch of results, stores them in the
//! transaction that records the findings, then carries out the quarantines
//! (see [`crate::quarantine`] for why that order loses nothing).

use crate::alerts;
use crate::config::{Action, Config, RemediationRule};
use crate::finding::{Exposure, FileReport, Finding};
use crate::quarantine::{Quarantine, QuarantineError};
use crate::store::{NewAlert, QuarantineRecord, Store, StoreError};

/// The rules, the quarantine, and the sinks alerts go to.
pub struct Remediator {
    rules: Vec<RemediationRule>,
    pub quarantine: Quarantine,
    sinks: Vec<&'static str>,
    /// Whether Jira cases carry a priority, when Jira is a sink.
    jira: Option<bool>,
    host: String,
    /// `dashboard.url`, for links in anomaly alerts.
    dashboard: String,
}

/// The remedies for one batch of results.
#[derive(Debug, Default)]
pub struct Plan {
    pub alerts: Vec<NewAlert>,
    pub quarantines: Vec<QuarantineRecord>,
}

/// Watch roots (globs expanded) that quarantine rules could never move a
/// file out of, because this process sees them read-only: what the shipped
/// unit's `ProtectHome=read-only` does to home folders. Empty when no rule
/// quarantines.
pub fn read_only_roots(config: &Config, roots: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let quarantines = config
        .remediation
        .rules
        .iter()
        .any(|r| r.action == crate::config::Action::Quarantine);
    if !quarantines {
        return Vec::new();
    }
    roots
        .iter()
        .filter(|r| r.is_dir() && crate::fsutil::on_read_only_fs(r))
        .cloned()
        .collect()
}

/// What to do about [`read_only_roots`].
pub const READ_ONLY_FIX: &str = "under the shipped dlpd.service (ProtectHome=read-only), add the quarantine drop-in from docs/service.md;      or remove the quarantine rules";

impl Remediator {
    pub fn new(config: &Config, sinks: Vec<&'static str>) -> Remediator {
        let rem = &config.remediation;
        Remediator {
            rules: rem.rules.clone(),
            quarantine: Quarantine::new(
                rem.quarantine_dir(&config.output),
                rem.stub,
                config.watch.paths.clone(),
            ),
            jira: sinks
                .contains(&alerts::jira::SINK)
                .then_some(config.alerts.jira.set_priority),
            sinks,
            host: crate::logging::hostname(),
            dashboard: config.dashboard.url.clone(),
        }
    }

    /// Applies reloaded rules.
    pub fn set_rules(&mut self, rules: Vec<RemediationRule>) {
        self.rules = rules;
    }

    /// Whether any rule would do more than record; used to warn when
    /// alerts have nowhere to go.
    pub fn notifies(&self) -> bool {
        self.rules.iter().any(|r| r.action != Action::Record)
    }

    /// The first rule matching a file with these findings at this
    /// exposure (`local` when the file was not placed).
    pub fn rule(
        &self,
        findings: &[Finding],
        exposure: Option<Exposure>,
    ) -> Option<&RemediationRule> {
        let exposure = exposure.unwrap_or(Exposure::Local);
        self.rules.iter().find(|r| {
            r.exposure.is_none_or(|e| e == exposure)
                && findings.iter().any(|f| {
                    r.detector.as_ref().is_none_or(|d| f.detector == *d)
                        && r.min_confidence.is_none_or(|c| f.confidence >= c)
                })
        })
    }

    /// The action for a file with these findings at this exposure.
    pub fn action(&self, findings: &[Finding], exposure: Option<Exposure>) -> Action {
        self.rule(findings, exposure)
            .map_or(Action::Record, |r| r.action)
    }

    /// The alerts for an anomaly, to every sink.
    pub fn anomaly_alerts(&self, a: &crate::activity::Anomaly) -> Vec<NewAlert> {
        alerts::for_anomaly(a, &self.sinks, self.jira, &self.host, &self.dashboard)
    }

    /// The alerts and quarantines for `reports`.
    pub fn plan(&self, store: &Store, reports: &[FileReport]) -> Result<Plan, StoreError> {
        let mut plan = Plan::default();
        for report in reports.iter().filter(|r| !r.findings().is_empty()) {
            let Some(rule) = self.rule(report.findings(), report.exposure) else {
                continue;
            };
            let action = rule.action;
            if action == Action::Record {
                continue;
            }
            // A rule may send to some sinks only (tickets for cloud-sync).
            let sinks: Vec<&'static str> = self
                .sinks
                .iter()
                .copied()
                .filter(|s| {
                    rule.sinks
                        .as_ref()
                        .is_none_or(|want| want.iter().any(|w| w == s))
                })
                .collect();
            let jira = self.jira.filter(|_| sinks.contains(&alerts::jira::SINK));
            plan.alerts
                .extend(alerts::for_report(report, action, &sinks, jira, &self.host));
            if action != Action::Quarantine {
                continue;
            }
            let Some(sha) = report.sha256.as_deref() else {
                continue;
            };
            if store.was_restored(&report.path, sha)? {
                tracing::info!(path = %report.path.display(), "not quarantined again: this content was restored by hand");
                continue;
            }
            match self.quarantine.prepare(
                &report.path,
                report.size,
                sha,
                summary(report.findings()),
            ) {
                Ok(rec) => plan.quarantines.push(rec),
                Err(QuarantineError::Changed { path }) => {
                    tracing::info!(path = %path.display(), "not quarantined: changed since its scan; scanned again instead");
                }
                Err(e) => tracing::warn!(path = %report.path.display(), "cannot quarantine: {e}"),
            }
        }
        Ok(plan)
    }

    /// Moves the planned files into quarantine (their records are stored).
    pub fn carry_out(
        &self,
        store: &mut Store,
        quarantines: &[QuarantineRecord],
    ) -> Result<(), StoreError> {
        for rec in quarantines {
            match self.quarantine.carry_out(store, rec) {
                Ok(()) => {}
                Err(QuarantineError::Store(e)) => return Err(e),
                Err(e) => {
                    tracing::error!(path = %rec.path.display(), "quarantine failed, the file stays: {e}")
                }
            }
        }
        Ok(())
    }
}

/// "CREDIT_CARD_NUMBER=10 API_KEY=1", in the order first found.
pub fn summary(findings: &[Finding]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for f in findings {
        match counts.iter_mut().find(|(d, _)| *d == f.detector.as_str()) {
            Some((_, n)) => *n += 1,
            None => counts.push((f.detector.as_str(), 1)),
        }
    }
    counts
        .iter()
        .map(|(d, n)| format!("{d}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}
