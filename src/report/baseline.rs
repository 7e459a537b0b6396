//! `dlpd scan --baseline FILE`: findings a previous report already holds are
//! left out, so a CI job fails only on what is new.
//!
//! A finding is known by its fingerprint: a SHA-256 of its path, detector,
//! family and *masked* value, nothing a report does not already show. No
//! line number goes in, so edits above a known secret do not make it new. A
//! file holding the same masked value twice needs two entries in the
//! baseline; a third copy is new.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FindingRecord;
use crate::finding::json::JsonFinding;

/// The key of dlpd's fingerprint in SARIF `partialFingerprints`.
pub const FINGERPRINT_KEY: &str = "dlpdFinding/v1";

/// Past this a file is not a report dlpd wrote for one scan.
const MAX_BYTES: u64 = 256 << 20;

/// What a baseline needs of a SARIF log.
#[derive(Deserialize)]
struct SarifLog {
    runs: Vec<SarifRun>,
}

#[derive(Deserialize)]
struct SarifRun {
    #[serde(default)]
    results: Vec<SarifResult>,
}

#[derive(Deserialize)]
struct SarifResult {
    #[serde(default, rename = "partialFingerprints")]
    partial_fingerprints: Option<HashMap<String, String>>,
}

/// The fingerprint of one finding; `./` in front of a path does not count.
pub fn fingerprint(path: &str, detector: &str, kind: Option<&str>, redacted: &str) -> String {
    let mut buf = Vec::with_capacity(path.len() + detector.len() + redacted.len() + 32);
    for part in [
        path.trim_start_matches("./"),
        detector,
        kind.unwrap_or(""),
        redacted,
    ] {
        buf.extend_from_slice(part.as_bytes());
        buf.push(0);
    }
    crate::fsutil::sha256_hex(&buf)
}

/// Why a baseline cannot be used; the message names the file and the line.
#[derive(Debug, thiserror::Error)]
#[error("--baseline {}: {}{reason}", path.display(), line.map(|n| format!("line {n}: ")).unwrap_or_default())]
pub struct BaselineError {
    path: PathBuf,
    line: Option<usize>,
    reason: String,
}

/// The findings of a previous report, by fingerprint.
#[derive(Debug, Default)]
pub struct Baseline {
    known: HashMap<String, u32>,
    /// How many findings were left out because the baseline has them.
    pub matched: u64,
}

impl Baseline {
    /// Reads a report written by `dlpd scan --format jsonl` or `--format sarif`.
    pub fn load(path: &Path) -> Result<Baseline, BaselineError> {
        let fail = |line, reason: String| BaselineError {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| fail(None, e.to_string()))?;
        let mut text = String::new();
        file.take(MAX_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| fail(None, format!("cannot read it: {e}")))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(fail(
                None,
                format!("larger than {} MiB; is it a report?", MAX_BYTES >> 20),
            ));
        }
        let mut baseline = Baseline::default();
        // Only the fingerprints are read: the rest of a SARIF log is skipped,
        // not held in memory.
        if let Ok(log) = serde_json::from_str::<SarifLog>(&text) {
            let results = log.runs.into_iter().flat_map(|run| run.results);
            for (i, result) in results.enumerate() {
                let print = result
                    .partial_fingerprints
                    .and_then(|mut f| f.remove(FINGERPRINT_KEY))
                    .ok_or_else(|| {
                        fail(
                            None,
                            format!(
                                "SARIF result {} has no {FINGERPRINT_KEY} fingerprint; \
                                 a baseline must be a report dlpd scan wrote",
                                i + 1
                            ),
                        )
                    })?;
                baseline.add(print);
            }
            return Ok(baseline);
        }
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let f: JsonFinding = serde_json::from_str(line).map_err(|e| {
                fail(
                    Some(i + 1),
                    format!(
                        "not a finding dlpd wrote ({e}); a baseline is the output of \
                         dlpd scan --format jsonl or --format sarif"
                    ),
                )
            })?;
            let (Some(path), Some(redacted)) = (&f.path, &f.redacted_finding) else {
                return Err(fail(
                    Some(i + 1),
                    "the finding has no path or redactedFinding; \
                     a baseline is the output of dlpd scan"
                        .into(),
                ));
            };
            let detector = f.detector.id.as_deref().unwrap_or(&f.detector.name);
            let kind = f
                .finding_metadata
                .as_ref()
                .and_then(|m| m.api_key_metadata.as_ref())
                .and_then(|k| k.kind.as_deref());
            baseline.add(fingerprint(path, detector, kind, redacted));
        }
        Ok(baseline)
    }

    fn add(&mut self, print: String) {
        *self.known.entry(print).or_default() += 1;
    }

    /// Whether `r` is already known; each baseline entry excuses one finding.
    pub fn take(&mut self, r: &FindingRecord) -> bool {
        let print = fingerprint(&r.path, r.detector.as_str(), r.kind.as_deref(), &r.redacted);
        match self.known.get_mut(&print) {
            Some(n) if *n > 0 => {
                *n -= 1;
                self.matched += 1;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_a_leading_dot_slash_and_separate_their_parts() {
        let a = fingerprint("./x/y", "API_KEY", Some("k"), "****1234");
        assert_eq!(a, fingerprint("x/y", "API_KEY", Some("k"), "****1234"));
        assert_ne!(a, fingerprint("x/y", "API_KEY", None, "k****1234"));
        assert_ne!(a, fingerprint("x/y", "API_KEY", Some("k"), "****1235"));
    }
}
