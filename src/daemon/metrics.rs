//! The daemon's counters, kept by the keeper (one thread: no atomics), and
//! their rendering in the Prometheus text format for `GET /metrics` on
//! `[metrics] listen`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use crate::finding::{FileReport, Outcome};
use crate::listener::Connections;
use crate::nightfall::Health;

/// Upper bounds of the lag histogram's buckets, in seconds.
const LAG_BUCKETS: [f64; 10] = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// The listeners that are up, by name, and how their connections fared.
#[derive(Debug, Default)]
pub(super) struct Listeners(Vec<(&'static str, Arc<Connections>)>);

impl Listeners {
    /// A new listener's counts.
    pub fn add(&mut self, name: &'static str) -> Arc<Connections> {
        let c = Arc::new(Connections::default());
        self.0.push((name, c.clone()));
        c
    }
}

/// What happened since the daemon started.
#[derive(Debug, Default)]
pub(super) struct Counters {
    listeners: Listeners,
    /// Files recorded, by outcome.
    files: BTreeMap<&'static str, u64>,
    /// Findings recorded, by detector.
    findings: BTreeMap<String, u64>,
    /// Files with findings, by seconds from their last write to their
    /// findings being recorded: one count per bucket (cumulative when
    /// rendered), then the sum and the count.
    lag: [u64; LAG_BUCKETS.len()],
    lag_sum: f64,
    lag_count: u64,
    /// Writes the store refused.
    pub store_errors: u64,
    /// Intervals raised as anomalies.
    anomalies: u64,
}

impl Counters {
    pub fn new(listeners: Listeners) -> Counters {
        Counters {
            listeners,
            ..Counters::default()
        }
    }

    /// The finding lag's mean, and the upper bound of the bucket holding
    /// its 95th percentile (infinite past the last), in seconds.
    pub fn lag(&self) -> Option<(f64, f64)> {
        if self.lag_count == 0 {
            return None;
        }
        let want = (self.lag_count as f64 * 0.95).ceil() as u64;
        let mut seen = 0;
        let p95 = LAG_BUCKETS
            .iter()
            .zip(self.lag)
            .find(|(_, n)| {
                seen += n;
                seen >= want
            })
            .map_or(f64::INFINITY, |(bound, _)| *bound);
        Some((self.lag_sum / self.lag_count as f64, p95))
    }

    /// Counts anomalies just raised.
    pub fn anomalies(&mut self, n: u64) {
        self.anomalies += n;
    }

    /// Counts reports just recorded.
    pub fn recorded(&mut self, reports: &[FileReport]) {
        let now = SystemTime::now();
        for r in reports {
            let outcome = match &r.outcome {
                Outcome::Scanned { .. } => "scanned",
                Outcome::Skipped(_) => "skipped",
                Outcome::Failed(_) => "failed",
            };
            *self.files.entry(outcome).or_default() += 1;
            if r.findings().is_empty() {
                continue;
            }
            for f in r.findings() {
                // A name is allocated once, not once per finding.
                match self.findings.get_mut(f.detector.as_str()) {
                    Some(n) => *n += 1,
                    None => {
                        self.findings.insert(f.detector.as_str().to_string(), 1);
                    }
                }
            }
            let written = r.mtime_ns.map(|ns| {
                SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64)
            });
            if let Some(lag) = written.and_then(|w| now.duration_since(w).ok()) {
                let secs = lag.as_secs_f64();
                if let Some(i) = LAG_BUCKETS.iter().position(|&b| secs <= b) {
                    self.lag[i] += 1;
                }
                self.lag_sum += secs;
                self.lag_count += 1;
            }
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, health: &Health, unwatched: usize) -> String {
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut o,
            "dlpd_build_info",
            "gauge",
            "The running dlpd's version.",
        );
        let _ = writeln!(
            o,
            "dlpd_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        head(
            &mut o,
            "dlpd_healthy",
            "gauge",
            "1 when nothing is wrong (see /healthz for what is).",
        );
        let _ = writeln!(o, "dlpd_healthy {}", u8::from(health.problems.is_empty()));
        head(
            &mut o,
            "dlpd_queue_jobs",
            "gauge",
            "Jobs in the queue, by state.",
        );
        let q = health.queue;
        for (state, n) in [
            ("queued", q.queued),
            ("running", q.running),
            ("awaiting_results", q.awaiting),
        ] {
            let _ = writeln!(o, "dlpd_queue_jobs{{state=\"{state}\"}} {n}");
        }
        if let Some((pending, dropped)) = health.events {
            head(
                &mut o,
                "dlpd_events_pending",
                "gauge",
                "Events waiting in the outbox for the fleet database or the events file.",
            );
            let _ = writeln!(o, "dlpd_events_pending {pending}");
            head(
                &mut o,
                "dlpd_events_dropped_total",
                "counter",
                "Events dropped because the outbox was full (fleet.outbox_max_events).",
            );
            let _ = writeln!(o, "dlpd_events_dropped_total {dropped}");
        }
        head(
            &mut o,
            "dlpd_files_total",
            "counter",
            "Files recorded since start, by outcome.",
        );
        for outcome in ["scanned", "skipped", "failed"] {
            let n = self.files.get(outcome).copied().unwrap_or(0);
            let _ = writeln!(o, "dlpd_files_total{{outcome=\"{outcome}\"}} {n}");
        }
        head(
            &mut o,
            "dlpd_findings_total",
            "counter",
            "Findings recorded since start, by detector.",
        );
        for (detector, n) in &self.findings {
            let _ = writeln!(
                o,
                "dlpd_findings_total{{detector=\"{}\"}} {n}",
                label(detector)
            );
        }
        head(
            &mut o,
            "dlpd_finding_lag_seconds",
            "histogram",
            "Seconds from a file's last write to its findings being recorded.",
        );
        let mut cumulative = 0;
        for (bound, n) in LAG_BUCKETS.iter().zip(self.lag) {
            cumulative += n;
            let _ = writeln!(
                o,
                "dlpd_finding_lag_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            o,
            "dlpd_finding_lag_seconds_bucket{{le=\"+Inf\"}} {}",
            self.lag_count
        );
        let _ = writeln!(o, "dlpd_finding_lag_seconds_sum {}", self.lag_sum);
        let _ = writeln!(o, "dlpd_finding_lag_seconds_count {}", self.lag_count);
        head(
            &mut o,
            "dlpd_unwatched_directories",
            "gauge",
            "Directories under the roots that are not watched.",
        );
        let _ = writeln!(o, "dlpd_unwatched_directories {unwatched}");
        head(
            &mut o,
            "dlpd_store_errors_total",
            "counter",
            "Store writes refused since start.",
        );
        let _ = writeln!(o, "dlpd_store_errors_total {}", self.store_errors);
        head(
            &mut o,
            "dlpd_anomalies_total",
            "counter",
            "Intervals whose sensitive-file events were far above their subject's baseline.",
        );
        let _ = writeln!(o, "dlpd_anomalies_total {}", self.anomalies);
        head(
            &mut o,
            "dlpd_listener_connections",
            "gauge",
            "Connections open now, by listener.",
        );
        for (name, c) in &self.listeners.0 {
            let open = c.open.load(Ordering::Relaxed);
            let _ = writeln!(o, "dlpd_listener_connections{{listener=\"{name}\"}} {open}");
        }
        head(
            &mut o,
            "dlpd_listener_connections_total",
            "counter",
            "Connections since start, by listener and how they were taken: a slot, a spare (health only), or refused when all were busy.",
        );
        for (name, c) in &self.listeners.0 {
            for (taken, n) in [
                ("slot", &c.slot),
                ("spare", &c.spare),
                ("refused", &c.refused),
            ] {
                let n = n.load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "dlpd_listener_connections_total{{listener=\"{name}\",taken=\"{taken}\"}} {n}"
                );
            }
        }
        o
    }
}

/// A label value as the text format quotes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
