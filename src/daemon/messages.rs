//! The keeper's side of the network: messages from the listeners (health
//! and metrics requests, Nightfall's uploads and results) and the check
//! for Nightfall results that are overdue.

use std::time::{Duration, Instant, SystemTime};

use super::keeper::Keeper;
use crate::nightfall::{Health, Message, RegisterError};
use crate::quarantine::Act;
use crate::store::StoreError;

impl Keeper {
    /// Handles one message from the network side. On a store failure a
    /// message that can be tried again (its sender has not been answered)
    /// goes back to the front of the backlog.
    pub(super) fn handle(&mut self, msg: Message) -> Result<(), StoreError> {
        // A Nightfall result needs its pending upload first: if the store
        // cannot say, the message goes back, unanswered, to be tried again.
        let upload = match &msg {
            Message::Notified { note, .. } => Some(note.upload_id.as_str()),
            Message::Fetched { upload_id, .. } => Some(upload_id.as_str()),
            _ => None,
        };
        let looked_up = match upload.filter(|_| self.results.is_some()) {
            Some(id) => match self.store.pending_upload(id) {
                Ok(pending) => Some(pending),
                Err(e) => {
                    self.backlog.msgs.push_front(msg);
                    return Err(e);
                }
            },
            None => None,
        };
        match msg {
            Message::Register { job, upload, reply } => {
                // The worker fails the job on an error, and it is retried.
                let result = self.store.register_upload(job, &upload);
                let answer = result.as_ref().map(|_| ());
                let _ = reply.send(answer.map_err(|e| RegisterError(e.to_string())));
                result?;
            }
            Message::Health { metrics, reply } => {
                let queue = self.store.queue_counts();
                let mut problems = self.problems();
                if let Err(e) = &queue {
                    problems.push(format!("the store cannot be read: {e}"));
                }
                let watch = self.watcher.as_ref().map(|w| w.health());
                let mut health = Health {
                    queue: queue.unwrap_or_default(),
                    problems,
                    unwatched: watch.as_ref().and_then(|w| w.summary()),
                    metrics: String::new(),
                    roots: self.settings.roots.clone(),
                    lag: self.counters.lag(),
                    events: match self.outbound {
                        Some(_) => self.store.events_backlog().ok(),
                        None => None,
                    },
                };
                if metrics {
                    let unwatched = watch.map_or(0, |w| w.unwatched.values().map(|(n, _)| n).sum());
                    health.metrics = self.counters.render(&health, unwatched);
                }
                let _ = reply.send(health);
            }
            Message::Notified { note, reply } => {
                // Only the Nightfall engine has a webhook to send these.
                let (Some(results), Some(pending)) = (self.results.as_mut(), looked_up) else {
                    let _ = reply.send(crate::nightfall::Verdict::Unknown);
                    return Ok(());
                };
                let (verdict, decision) = results.notified(pending, note);
                let _ = reply.send(verdict);
                self.backlog.decisions.extend(decision);
            }
            Message::Act { act, reply } => {
                let _ = reply.send(self.act(act));
            }
            Message::Fetched { upload_id, result } => {
                let (Some(results), Some(pending)) = (self.results.as_mut(), looked_up) else {
                    return Ok(());
                };
                let policy = &self.snapshot.load().policy;
                let decision = results.fetched(&upload_id, pending, result, policy);
                self.backlog.decisions.extend(decision);
            }
        }
        Ok(())
    }

    /// A quarantine or restore asked for by hand: what was done, or why
    /// not; logged either way.
    fn act(&mut self, act: Act) -> Result<String, String> {
        let done = self.carry_out(act);
        match &done {
            Ok(what) => tracing::info!("dashboard: {what}"),
            Err(e) => tracing::warn!("dashboard: {act} not done: {e}"),
        }
        done
    }

    fn carry_out(&mut self, act: Act) -> Result<String, String> {
        let q = &self.remediator.quarantine;
        match act {
            Act::Quarantine { file_id, seen } => {
                let file = self
                    .store
                    .file_to_quarantine(file_id)
                    .map_err(|e| e.to_string())?
                    .ok_or(format!("no file with findings has id {file_id}"))?;
                let path =
                    crate::logging::escape_controls(&file.path.to_string_lossy()).into_owned();
                let sha = file
                    .sha256
                    .ok_or(format!("{path}: its content was not hashed"))?;
                if seen.is_some_and(|s| s[..] != *sha.as_bytes()) {
                    return Err(format!(
                        "{path}: scanned again since the page was shown; look at it again"
                    ));
                }
                let rec = q
                    .prepare(&file.path, file.size, &sha, file.summary)
                    .map_err(|e| e.to_string())?;
                let mut rec = [rec];
                self.store
                    .record_remedied(&[], &[], &[], &mut rec, &Default::default())
                    .map_err(|e| e.to_string())?;
                // Recorded as moving: a crash now is finished at the next start.
                q.carry_out(&mut self.store, &rec[0])
                    .map(|()| format!("quarantined {path} (id {})", rec[0].id))
                    .map_err(|e| e.to_string())
            }
            Act::Restore { id } => q
                .restore(&mut self.store, id)
                .map(|p| {
                    format!(
                        "restored {}",
                        crate::logging::escape_controls(&p.to_string_lossy())
                    )
                })
                .map_err(|e| e.to_string()),
        }
    }

    /// Submits again every file whose result is later than
    /// `nightfall.result_timeout_s` (checked once a second).
    pub(super) fn resubmit_overdue(&mut self) -> Result<(), StoreError> {
        let Some(results) = &self.results else {
            return Ok(());
        };
        if self.overdue_checked.elapsed() < Duration::from_secs(1) {
            return Ok(());
        }
        self.overdue_checked = Instant::now();
        let timeout = Duration::from_secs(self.snapshot.load().config.nightfall.result_timeout_s);
        let late = self.store.overdue_uploads(SystemTime::now() - timeout)?;
        let decisions = results.overdue(late, timeout);
        self.backlog.decisions.extend(decisions);
        Ok(())
    }
}
