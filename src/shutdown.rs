//! Stopping the runtime's tasks in order, as tokio-rs/mini-redis does:
//! every task watches one signal, and whoever stops the daemon waits for
//! all of them to finish.

use std::future::Future;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The daemon's network tasks (listener, connections, fetches, the alert
/// sender): spawned through here, told to stop together, waited for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Runs `task` on `runtime`, counted among the tasks to wait for.
    pub fn spawn<F>(&self, runtime: &Handle, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn_on(task, runtime);
    }

    /// Resolves once a stop is asked for; tasks select on it.
    pub async fn requested(&self) {
        self.token.cancelled().await
    }

    /// Whether a stop has been asked for.
    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Asks every task to stop, then waits up to `grace` for them from a
    /// thread outside the runtime. Returns false if some were still
    /// running; they are cut off when the runtime goes.
    pub fn stop_and_wait(&self, runtime: &Handle, grace: Duration) -> bool {
        self.token.cancel();
        self.tracker.close();
        let tracker = &self.tracker;
        // The timer is made inside the runtime: it needs its clock.
        runtime
            .block_on(async { tokio::time::timeout(grace, tracker.wait()).await })
            .is_ok()
    }
}
