//! Behaviour baselines: for each subject (a watch root, a file owner, an
//! exposure class) an exponentially weighted moving average and variance
//! of sensitive-file events per interval. An interval whose count is far
//! above its subject's average (above `mean + k·σ`, and at least
//! `min_count`) is an anomaly: fifty card exports copied into a synced
//! folder in a minute, where a few a day is the habit.
//!
//! An event is a file with findings that the watcher reported (created or
//! changed while dlpd ran); files a walk found (the first scan, a rescan
//! after a restart) are not behaviour and are not counted. Counts are kept
//! in the store with the findings, and intervals are closed when they end,
//! so a restart loses neither (see `store::activity`). Time is passed in,
//! never read here: tests drive weeks through it in milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::BaselinesConfig;

/// How counts are judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub interval_s: u64,
    pub alpha: f64,
    pub k: f64,
    pub warmup: u64,
    pub min_count: u64,
}

impl Params {
    pub fn from_config(c: &BaselinesConfig) -> Params {
        Params {
            interval_s: c.interval_s,
            alpha: c.alpha,
            k: c.k,
            warmup: c.warmup_intervals,
            min_count: c.min_count,
        }
    }

    /// The interval `t` falls in: whole intervals since the epoch.
    pub fn interval(&self, t: SystemTime) -> i64 {
        let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        (secs / self.interval_s) as i64
    }

    /// When interval `i` ends.
    pub fn end_of(&self, i: i64) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs((i.max(0) as u64 + 1) * self.interval_s)
    }
}

/// A subject's moving average and variance of events per interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ewma {
    pub mean: f64,
    pub var: f64,
    /// Intervals taken in, the quiet ones included.
    pub intervals: u64,
}

/// Quiet intervals folded in one by one, at most: after this many, even
/// the slowest sensible average has forgotten what came before.
const MAX_QUIET: u64 = 20_000;

impl Ewma {
    /// The upper edge of the usual: `mean + k·σ`.
    pub fn band(&self, k: f64) -> f64 {
        self.mean + k * self.var.max(0.0).sqrt()
    }

    /// Takes one interval's count. Returns the band it was judged against
    /// when it is an anomaly: past the warm-up, at least `min_count`, and
    /// above the band of what came before it.
    pub fn observe(&mut self, count: u64, p: &Params) -> Option<f64> {
        let band = self.band(p.k);
        let x = count as f64;
        let anomalous = self.intervals >= p.warmup && count >= p.min_count && x > band;
        let diff = x - self.mean;
        let step = p.alpha * diff;
        self.mean += step;
        self.var = (1.0 - p.alpha) * (self.var + diff * step);
        self.intervals += 1;
        anomalous.then_some(band)
    }

    /// Takes `n` intervals with no events.
    pub fn quiet(&mut self, n: u64, p: &Params) {
        for _ in 0..n.min(MAX_QUIET) {
            self.observe(0, p);
        }
        self.intervals += n.saturating_sub(MAX_QUIET);
    }
}

/// An interval far above its subject's baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    pub subject: String,
    /// The interval's index (see [`Params::interval`]) and length.
    pub interval: i64,
    pub interval_s: u64,
    pub count: u64,
    /// The baseline it was judged against.
    pub mean: f64,
    pub band: f64,
}

impl Anomaly {
    /// When the interval started.
    pub fn start(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_secs(self.interval.max(0) as u64 * self.interval_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped defaults.
    fn defaults() -> Params {
        Params::from_config(&BaselinesConfig::default())
    }

    /// A small deterministic PRNG.
    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// Three weeks of one subject at the shipped defaults (the first is
    /// the warm-up): weekdays busy from 9:00 to 18:00, busier some days
    /// than others, quiet nights and weekends. A `user` saves up to three
    /// sensitive files per interval; a `busy` shared folder takes 10 to 60
    /// (an export job). Returns the anomalous intervals, with `burst` files
    /// added at interval `at`.
    fn weeks(p: &Params, busy: bool, burst: Option<(u64, u64)>) -> Vec<u64> {
        let per_day = 86_400 / p.interval_s;
        let mut rng = Rng(0x5eed);
        let mut e = Ewma::default();
        let mut found = Vec::new();
        for i in 0..21 * per_day {
            let day = i / per_day;
            let hour = (i % per_day) * 24 / per_day;
            let work = day % 7 < 5 && (9..=17).contains(&hour);
            let (lo, hi) = [(10, 40), (20, 60), (15, 50)][(day % 3) as usize];
            let mut count = match (busy, work) {
                (false, true) => rng.below(4),
                (false, false) => u64::from(rng.below(40) == 0),
                (true, true) => lo + rng.below(hi - lo + 1),
                (true, false) => rng.below(3),
            };
            if let Some((at, n)) = burst
                && i == at
            {
                count += n;
            }
            if e.observe(count, p).is_some() {
                found.push(i);
            }
        }
        found
    }

    #[test]
    fn weeks_of_ordinary_work_raise_nothing_and_a_burst_is_raised() {
        let p = defaults();
        let per_day = 86_400 / p.interval_s;
        // The third Thursday at 15:00, and the third Monday at 9:00 after
        // a quiet weekend.
        let thursday = 17 * per_day + per_day * 15 / 24;
        let monday = 14 * per_day + per_day * 9 / 24;
        for (busy, extra) in [(false, 50), (true, 150)] {
            assert_eq!(weeks(&p, busy, None), Vec::<u64>::new(), "busy: {busy}");
            for at in [thursday, monday] {
                assert_eq!(weeks(&p, busy, Some((at, extra))), vec![at], "busy: {busy}");
            }
        }
    }

    #[test]
    fn nothing_is_raised_during_the_warm_up_or_below_the_minimum() {
        let p = Params {
            warmup: 3,
            min_count: 5,
            ..defaults()
        };
        let mut e = Ewma::default();
        for _ in 0..3 {
            assert_eq!(e.observe(100, &p), None);
        }
        let mut quiet = Ewma::default();
        quiet.quiet(10, &p);
        assert_eq!(quiet.observe(4, &p), None);
        assert!(quiet.observe(5, &p).is_some());
    }

    #[test]
    fn quiet_intervals_fade_the_average() {
        let p = defaults();
        let mut e = Ewma::default();
        for _ in 0..100 {
            e.observe(10, &p);
        }
        let before = e.mean;
        e.quiet(1000, &p);
        assert!(e.mean < before / 2.0, "{} -> {}", before, e.mean);
        assert_eq!(e.intervals, 1100);
        // Years of silence cost no more than MAX_QUIET steps.
        e.quiet(u64::MAX / 2, &p);
        assert!(e.mean < 1e-3);
    }

    #[test]
    fn intervals_are_whole_periods_since_the_epoch() {
        let p = Params {
            interval_s: 60,
            ..defaults()
        };
        let t = UNIX_EPOCH + std::time::Duration::from_secs(3_600 + 59);
        assert_eq!(p.interval(t), 60);
        assert_eq!(
            p.end_of(60),
            UNIX_EPOCH + std::time::Duration::from_secs(3_660)
        );
    }
}
