//! Capped exponential backoff with jitter, shared by the work queue (a
//! file's next attempt) and the Nightfall client (a request's next try).

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// The delay before try `tries + 1`: `base` doubled per try, capped at
/// `max`, then drawn from its upper half so the retries of a burst spread out.
pub fn jittered(base: Duration, max: Duration, tries: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << tries.min(16)).min(max);
    let mut b = [0u8; 4];
    let r = SystemRandom::new()
        .fill(&mut b)
        .map_or(0, |_| u32::from_le_bytes(b));
    let half = exp / 2;
    half + half.mul_f64(r as f64 / u32::MAX as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_with_jitter_and_is_capped() {
        let (base, max) = (Duration::from_millis(500), Duration::from_secs(300));
        for tries in 0..20 {
            let exp = base.saturating_mul(1 << tries.min(16)).min(max);
            let b = jittered(base, max, tries);
            assert!(b >= exp / 2 && b <= exp, "{tries}: {b:?}");
        }
    }
}
