//! Events: what happened on this machine, one JSON object each, in
//! Elastic Common Schema names where one fits (`@timestamp`, `event.*`,
//! `host.id`, `file.path`, `file.hash.sha256`, `rule.name`), and the rest
//! under `dlpd.*`. They are written to the store's event outbox in the
//! transaction that records what they tell, and from there shipped to the
//! fleet database and the events file (see `docs/fleet.md`).
//!
//! Every event has an `event.id` made from its natural key, so a copy sent
//! twice (after a crash between shipping and marking it shipped) is the
//! same row to PostgreSQL and the same id to a log pipeline. No event holds
//! a raw value: findings carry their masked form, and a keyed hash only
//! when a fleet key is configured (the per-machine key never leaves).

use std::time::SystemTime;

use ring::hmac;
use serde_json::{Value, json};

use crate::activity::Anomaly;
use crate::finding::{Confidence, Exposure, FileReport, Finding};

/// ECS version the field names follow.
const ECS_VERSION: &str = "8.11.0";

/// Who the events are about: this machine, and the optional fleet key.
#[derive(Clone)]
pub struct Source {
    pub host_id: String,
    pub host_name: String,
    /// Keys the fleet's value hash, shared by the machines of one fleet so
    /// the same value found on two of them has the same hash.
    pub fleet_key: Option<hmac::Key>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("host_id", &self.host_id)
            .field("host_name", &self.host_name)
            .field("fleet_key", &self.fleet_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// One event, ready to store: its time (unix milliseconds) and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: i64,
    pub body: String,
}

/// RFC 3339 with milliseconds, as `@timestamp` wants.
fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A UUID-shaped id from the SHA-256 of a natural key's parts.
fn id_of(parts: &[&str]) -> String {
    let digest = crate::fsutil::sha256_hex(parts.join("\0").as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &digest[0..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

/// ECS `event.severity` for a confidence: 1 to 5.
fn severity(c: Confidence) -> u8 {
    match c {
        Confidence::VeryUnlikely => 1,
        Confidence::Unlikely => 2,
        Confidence::Possible => 3,
        Confidence::Likely => 4,
        Confidence::VeryLikely => 5,
    }
}

impl Source {
    fn envelope(&self, at: SystemTime, id: String, event: Value) -> Value {
        let mut event = event;
        event["id"] = id.into();
        event["module"] = "dlpd".into();
        json!({
            "@timestamp": timestamp(at),
            "ecs": {"version": ECS_VERSION},
            "event": event,
            "host": {"id": self.host_id, "name": self.host_name},
            "agent": {"type": "dlpd", "version": env!("CARGO_PKG_VERSION")},
        })
    }

    fn event(&self, at: SystemTime, id: String, event: Value, rest: Value) -> Event {
        let mut v = self.envelope(at, id, event);
        if let (Some(v), Value::Object(rest)) = (v.as_object_mut(), rest) {
            v.extend(rest);
        }
        Event {
            at: unix_ms(at),
            body: v.to_string(),
        }
    }

    /// The fleet's hash of a raw value, when there is a fleet key.
    fn value_hash(&self, raw: &str) -> Option<String> {
        let key = self.fleet_key.as_ref()?;
        Some(crate::fsutil::hex(hmac::sign(key, raw.as_bytes()).as_ref()))
    }

    /// A file's record: its scan's outcome and what it holds.
    pub fn file(&self, report: &FileReport, status: &str, error: Option<&str>) -> Event {
        let path = report.path.to_string_lossy();
        let at = report.scanned_at;
        let sha = report.sha256.as_deref().unwrap_or("");
        let mut detectors = serde_json::Map::new();
        let mut top: Option<Confidence> = None;
        for f in report.findings() {
            let n = detectors
                .entry(f.detector.as_str().to_string())
                .or_insert(0.into());
            *n = (n.as_u64().unwrap_or(0) + 1).into();
            top = top.max(Some(f.confidence));
        }
        let id = id_of(&["file", &self.host_id, &path, sha, &unix_ms(at).to_string()]);
        self.event(
            at,
            id,
            json!({"kind": "event", "category": ["file"], "type": ["info"],
                   "action": "file-scanned", "dataset": "dlpd.file",
                   "outcome": if status == "failed" { "failure" } else { "success" }}),
            json!({
                "file": file_fields(report, &path),
                "dlpd": {
                    "status": status,
                    "error": error,
                    "findings": report.findings().len(),
                    "detectors": detectors,
                    "top_confidence": top.map(Confidence::as_str),
                    "exposure": report.exposure.unwrap_or(Exposure::Local).as_str(),
                    "engine": report.engine,
                    "grown": report.grown_from.is_some(),
                },
            }),
        )
    }

    /// One finding, masked.
    pub fn finding(&self, report: &FileReport, f: &Finding) -> Event {
        let path = report.path.to_string_lossy();
        let at = report.scanned_at;
        let sha = report.sha256.as_deref().unwrap_or("");
        let id = id_of(&[
            "finding",
            &self.host_id,
            &path,
            sha,
            &unix_ms(at).to_string(),
            f.member.as_deref().unwrap_or(""),
            &f.byte_start.to_string(),
            &f.byte_end.to_string(),
            f.detector.as_str(),
        ]);
        self.event(
            at,
            id,
            json!({"kind": "alert", "category": ["file"], "type": ["info"],
                   "action": "sensitive-data-found", "dataset": "dlpd.finding",
                   "severity": severity(f.confidence)}),
            json!({
                "file": file_fields(report, &path),
                "rule": {"name": f.detector.as_str(), "id": f.kind.unwrap_or(f.detector.as_str())},
                "dlpd": {
                    "confidence": f.confidence.as_str(),
                    "finding": f.value.masked,
                    "value_hash": self.value_hash(&f.value.raw),
                    "byte_start": f.byte_start,
                    "byte_end": f.byte_end,
                    "line": f.line_start,
                    "member": f.member,
                    "exposure": report.exposure.unwrap_or(Exposure::Local).as_str(),
                },
            }),
        )
    }

    /// An interval far above its subject's baseline.
    pub fn anomaly(&self, a: &Anomaly) -> Event {
        let id = id_of(&[
            "anomaly",
            &self.host_id,
            &a.subject,
            &a.interval.to_string(),
        ]);
        self.event(
            a.start(),
            id,
            json!({"kind": "alert", "category": ["file"], "type": ["info"],
                   "action": "activity-anomaly", "dataset": "dlpd.anomaly"}),
            json!({"dlpd": {"anomaly": {
                "subject": a.subject, "interval": a.interval, "interval_s": a.interval_s,
                "count": a.count, "mean": a.mean, "band": a.band,
            }}}),
        )
    }

    /// A quarantine or a restore reaching `state` (`quarantined`,
    /// `restored`, `failed`).
    pub fn action(&self, a: &Action<'_>) -> Event {
        let now = SystemTime::now();
        let action = if a.restore { "restore" } else { "quarantine" };
        let id = id_of(&[
            "action",
            &self.host_id,
            &a.quarantine_id.to_string(),
            a.state,
        ]);
        self.event(
            now,
            id,
            json!({"kind": "event", "category": ["file"],
                   "type": [if a.restore { "creation" } else { "deletion" }],
                   "action": action, "dataset": "dlpd.action",
                   "outcome": if a.state == "failed" { "failure" } else { "success" }}),
            json!({
                "file": {"path": a.path, "hash": {"sha256": a.sha256}},
                "dlpd": {"quarantine": {"id": a.quarantine_id, "state": a.state, "error": a.error}},
            }),
        )
    }

    /// The daemon's health: `changed` when it differs from the last one.
    pub fn health(&self, h: &HealthSnapshot, changed: bool) -> Event {
        let now = SystemTime::now();
        let id = id_of(&["health", &self.host_id, &unix_ms(now).to_string()]);
        self.event(
            now,
            id,
            json!({"kind": "state", "category": ["host"], "type": ["info"],
                   "action": if changed { "health-changed" } else { "health-snapshot" },
                   "dataset": "dlpd.health"}),
            json!({"dlpd": {"health": h}}),
        )
    }
}

fn file_fields(report: &FileReport, path: &str) -> Value {
    json!({
        "path": path,
        "name": report.path.file_name().map(|n| n.to_string_lossy()),
        "size": report.size,
        "hash": {"sha256": report.sha256},
    })
}

/// A quarantine step, as an event tells it.
#[derive(Debug)]
pub struct Action<'a> {
    pub quarantine_id: i64,
    pub restore: bool,
    pub state: &'a str,
    pub path: &'a str,
    pub sha256: &'a str,
    pub error: Option<&'a str>,
}

/// What a health event says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HealthSnapshot {
    /// "ok", or "degraded" with `problems`.
    pub status: String,
    pub problems: Vec<String>,
    /// Jobs in the queue.
    pub queued: u64,
    /// Files recorded since the daemon started.
    pub stored: u64,
    /// Events waiting to be shipped, and those dropped by a full outbox.
    pub events_pending: u64,
    pub events_dropped: u64,
    pub version: &'static str,
}
