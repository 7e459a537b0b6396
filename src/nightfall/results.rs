//! The Nightfall result protocol, as decisions: what becomes of an upload
//! when its notification arrives, when its findings have been fetched, and
//! when its result is overdue.
//!
//! The functions here look at what the store knows of an upload (passed
//! in) and say what to do; the daemon's keeper, which owns the store,
//! carries the decisions out. So the protocol can be read, and tested, in
//! one place, and it never calls back into the keeper.

use std::collections::HashSet;
use std::time::Duration;

use super::wire::Notification;
use super::{NightfallError, Verdict};
use crate::engine::Policy;
use crate::finding::{FileReport, Finding, Outcome};
use crate::store::{Job, JobId, PendingUpload};

/// What the keeper should do about an upload.
#[derive(Debug)]
pub enum Decision {
    /// Store the report and finish the job.
    Finish(JobId, FileReport),
    /// Record a failed attempt: the queue retries it with backoff, and
    /// gives up after `queue.max_attempts`.
    Retry(Job, String),
}

/// Uploads whose findings are being fetched: a repeated notification must
/// not fetch them twice.
#[derive(Debug, Default)]
pub struct Results {
    fetching: HashSet<String>,
}

impl Results {
    /// A verified notification for the upload `pending` (`None`: no job
    /// awaits it). The verdict goes back to the webhook, which fetches the
    /// findings on [`Verdict::Fetch`].
    pub fn notified(
        &mut self,
        pending: Option<PendingUpload>,
        note: Notification,
    ) -> (Verdict, Option<Decision>) {
        let Some(pending) = pending else {
            return (Verdict::Unknown, None);
        };
        if self.fetching.contains(&note.upload_id) {
            return (Verdict::Duplicate, None);
        }
        let decision = if !note.errors.is_empty() {
            let errors = serde_json::to_string(&note.errors).unwrap_or_default();
            let why = format!("Nightfall could not scan the file: {errors}");
            Decision::Retry(pending.job, why)
        } else if !note.findings_present {
            Decision::Finish(pending.job.id, report(&pending, Vec::new()))
        } else if note.findings_url.is_empty() {
            let why = "Nightfall reported findings but sent no findingsURL".to_string();
            Decision::Retry(pending.job, why)
        } else {
            self.fetching.insert(note.upload_id);
            return (Verdict::Fetch, None);
        };
        (Verdict::Settled, Some(decision))
    }

    /// The findings of a notified upload arrived (or could not be
    /// fetched). `pending` is `None` when no job awaits it any more: it was
    /// resubmitted after a timeout, or the file was deleted.
    pub fn fetched(
        &mut self,
        upload_id: &str,
        pending: Option<PendingUpload>,
        result: Result<Vec<Finding>, NightfallError>,
        policy: &Policy,
    ) -> Option<Decision> {
        self.fetching.remove(upload_id);
        let Some(pending) = pending else {
            tracing::debug!(upload = %upload_id, "findings for an upload no job awaits; dropped");
            return None;
        };
        Some(match result {
            Ok(findings) => {
                // The same threshold and allowlists as a local scan.
                let count = findings.len();
                let findings = policy.keep(findings);
                if findings.len() < count {
                    tracing::debug!(upload = %upload_id, dropped = count - findings.len(), "findings under the confidence threshold, of detectors no longer configured, or allowlisted, left out");
                }
                Decision::Finish(pending.job.id, report(&pending, findings))
            }
            Err(e) => Decision::Retry(pending.job, e.to_string()),
        })
    }

    /// Uploads whose result is later than `timeout`: each is submitted
    /// again, except those whose findings are being fetched right now.
    pub fn overdue(&self, late: Vec<PendingUpload>, timeout: Duration) -> Vec<Decision> {
        late.into_iter()
            .filter(|p| !self.fetching.contains(&p.upload.id))
            .map(|p| {
                let why = format!(
                    "no result from Nightfall for upload {} within nightfall.result_timeout_s ({} s); submitting it again",
                    p.upload.id,
                    timeout.as_secs()
                );
                Decision::Retry(p.job, why)
            })
            .collect()
    }
}

/// The report of a Nightfall result, for exactly the content uploaded.
fn report(pending: &PendingUpload, findings: Vec<Finding>) -> FileReport {
    let mut report = FileReport::new(
        &pending.job.path,
        "nightfall",
        Outcome::Scanned { findings },
    );
    report.size = pending.upload.size;
    report.mtime_ns = pending.upload.mtime_ns;
    report.sha256 = Some(pending.upload.sha256.clone());
    report.upload_id = Some(pending.upload.id.clone());
    report
}
