//! Recording a stream of reports on a thread of its own, in batches, so
//! that storing overlaps with scanning and printing instead of following
//! them (`dlpd scan` with the store on).

use std::thread::JoinHandle;

use crossbeam_channel::{Sender, bounded};

use super::{Store, StoreError};
use crate::finding::FileReport;

/// How many reports, or findings, go into one transaction: small enough
/// that storing keeps pace with scanning instead of all happening at the
/// end, large enough that commits are few.
const BATCH_REPORTS: usize = 512;
const BATCH_FINDINGS: usize = 4096;

/// A store being written by its own thread.
pub struct Recorder {
    batch: Vec<FileReport>,
    findings: usize,
    to_thread: Option<Sender<Vec<FileReport>>>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
}

impl Recorder {
    /// Starts the thread that records into `store`.
    pub fn spawn(mut store: Store) -> std::io::Result<Recorder> {
        // Two batches in flight: one being stored, one filling.
        let (tx, rx) = bounded::<Vec<FileReport>>(1);
        let thread = std::thread::Builder::new()
            .name("dlpd-store".into())
            .spawn(move || {
                for batch in rx {
                    store.record(&batch)?;
                }
                Ok(())
            })?;
        Ok(Recorder {
            batch: Vec::new(),
            findings: 0,
            to_thread: Some(tx),
            thread: Some(thread),
        })
    }

    /// Adds a report; false when the store has failed (see [`Recorder::finish`]).
    pub fn push(&mut self, report: FileReport) -> bool {
        self.findings += report.findings().len();
        self.batch.push(report);
        if self.batch.len() < BATCH_REPORTS && self.findings < BATCH_FINDINGS {
            return true;
        }
        self.findings = 0;
        let batch = std::mem::take(&mut self.batch);
        self.to_thread
            .as_ref()
            .is_some_and(|tx| tx.send(batch).is_ok())
    }

    /// Records what is left and waits for the thread: the store's first
    /// error, if it had one.
    pub fn finish(mut self) -> Result<(), StoreError> {
        let rest = std::mem::take(&mut self.batch);
        if let Some(tx) = self.to_thread.take() {
            let _ = tx.send(rest);
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(done)) => done,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Ok(()),
        }
    }
}
