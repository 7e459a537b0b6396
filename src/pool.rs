//! The scanning threads, for `dlpd scan` and the daemon: a fixed number of
//! workers sharing one bounded job queue (crossbeam's multi-consumer
//! channel, so no lock is held while a worker waits) and sending each
//! result back on one channel.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

/// Starts `threads` workers named `name-N` that run `work` on each job
/// until `jobs` closes or nobody takes results any more. The threads are
/// detached: a stop never waits on a scan that does not end.
pub fn spawn<J, R>(
    threads: usize,
    name: &str,
    jobs: Receiver<J>,
    results: Sender<R>,
    work: impl Fn(J) -> R + Send + Sync + 'static,
) -> std::io::Result<()>
where
    J: Send + 'static,
    R: Send + 'static,
{
    let work = Arc::new(work);
    for i in 0..threads {
        let (jobs, results, work) = (jobs.clone(), results.clone(), work.clone());
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                for job in jobs {
                    if results.send(work(job)).is_err() {
                        return;
                    }
                }
            })?;
    }
    Ok(())
}
