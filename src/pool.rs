//! The scanning threads, for `dlpd scan` and the daemon: a fixed number of
//! workers sharing one bounded job queue (crossbeam's multi-consumer
//! channel, so no lock is held while a worker waits) and sending each
//! result back on one channel.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::liveness::Liveness;

/// Starts `threads` workers named `name-N` that run `work` on each job
/// until `jobs` closes or nobody takes results any more. The threads are
/// detached: a stop never waits on a scan that does not end. With
/// `liveness`, each worker is marked busy while it holds a job, so one
/// that never finishes shows as stuck.
pub fn spawn<J, R>(
    threads: usize,
    name: &str,
    jobs: Receiver<J>,
    results: Sender<R>,
    liveness: Option<&Liveness>,
    work: impl Fn(J) -> R + Send + Sync + 'static,
) -> std::io::Result<()>
where
    J: Send + 'static,
    R: Send + 'static,
{
    let work = Arc::new(work);
    for i in 0..threads {
        let (jobs, results, work) = (jobs.clone(), results.clone(), work.clone());
        let thread = format!("{name}-{i}");
        let beat = liveness.map(|l| l.working(thread.clone()));
        std::thread::Builder::new().name(thread).spawn(move || {
            for job in jobs {
                if let Some(b) = &beat {
                    b.busy();
                }
                let result = work(job);
                if let Some(b) = &beat {
                    b.idle();
                }
                if results.send(result).is_err() {
                    return;
                }
            }
        })?;
    }
    Ok(())
}
