//! Telling the service manager how dlpd is doing (systemd's sd_notify
//! protocol): READY once the watches and the listener are up, RELOADING
//! around a SIGHUP, STOPPING on the way out, and WATCHDOG pings from the
//! keeper's loop, so a keeper that hangs gets the service restarted. All
//! of it does nothing when `NOTIFY_SOCKET` is unset (a terminal, launchd).

use std::time::{Duration, Instant};

use sd_notify::NotifyState;

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// The daemon is up.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload has begun; [`ready`] ends it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// The daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Pings the watchdog at half its interval, when systemd asked for one.
pub struct Watchdog {
    every: Option<Duration>,
    last: Instant,
}

impl Watchdog {
    /// Reads `WATCHDOG_USEC`; without it, [`Watchdog::tick`] does nothing.
    pub fn from_env() -> Watchdog {
        Watchdog {
            every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last: Instant::now(),
        }
    }

    /// How long until the next ping is due; None without a watchdog.
    pub fn until_next(&self) -> Option<Duration> {
        self.every.map(|e| e.saturating_sub(self.last.elapsed()))
    }

    /// Called from the keeper's loop, which wakes by [`Watchdog::until_next`].
    pub fn tick(&mut self) {
        if let Some(every) = self.every
            && self.last.elapsed() >= every
        {
            self.last = Instant::now();
            send(&[NotifyState::Watchdog]);
        }
    }
}
