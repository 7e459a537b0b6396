//! The client-side rate limit: requests start at least `1 / rate` apart,
//! so no one-second window ever holds more than `rate` of them, and a
//! steady stream gets close to the limit without touching it. A 429's
//! `Retry-After` holds every request back, not just the one refused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spaces requests evenly; shared by every upload in flight.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// At most `per_second` requests per second.
    pub fn new(per_second: u32) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Books the next free slot at or after `now` and returns it.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = (*next).max(now);
        *next = slot + self.interval;
        slot
    }

    /// Waits for the next free slot.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot.into()).await;
    }

    /// No request starts for `pause` (the server said so).
    pub fn hold_off(&self, pause: Duration) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next = (*next).max(Instant::now() + pause);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_evenly_spaced_and_never_more_than_the_rate_per_second() {
        let rl = RateLimiter::new(5);
        let t0 = Instant::now();
        // 20 callers arrive at once: they get slots 200 ms apart.
        let slots: Vec<Instant> = (0..20).map(|_| rl.reserve(t0)).collect();
        for w in slots.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_millis(200));
        }
        // Any half-open one-second window holds at most 5 slots.
        for (i, s) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .filter(|t| **t < *s + Duration::from_secs(1))
                .count();
            assert!(in_window <= 5, "{in_window}");
        }
        // An idle limiter does not bank credit for a burst later.
        let later = slots[19] + Duration::from_secs(10);
        assert_eq!(rl.reserve(later), later);
        assert_eq!(rl.reserve(later), later + Duration::from_millis(200));
    }

    #[test]
    fn hold_off_delays_every_later_slot() {
        let rl = RateLimiter::new(100);
        rl.hold_off(Duration::from_secs(2));
        let now = Instant::now();
        assert!(rl.reserve(now) >= now + Duration::from_millis(1900));
    }
}
