//! The JSON Nightfall sends and receives (see ../shared/nightfall-api.md),
//! and the translation of its findings into dlpd's own [`Finding`], so a
//! Nightfall result is stored exactly like a local one.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::{NightfallConfig, ScannerConfig};
use crate::engine::local::known_kind;
use crate::finding::json::JsonFinding;
use crate::finding::{Detector, DetectorId, Finding, Sensitive};
use crate::mask;

/// `POST /v3/upload` and `/finish` responses.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileUpload {
    pub id: String,
    pub file_size_bytes: u64,
    pub chunk_size: u64,
    #[serde(default)]
    pub mime_type: Option<String>,
}

/// Nightfall's error body: `{"code":40015,"message":…,"description":…}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiError {
    pub code: i64,
    pub message: String,
    pub description: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {}: {}", self.code, self.message)?;
        if !self.description.is_empty() {
            write!(f, " ({})", self.description)?;
        }
        Ok(())
    }
}

/// The signed result notification posted to the webhook.
#[derive(Debug, Clone, Deserialize)]
pub struct Notification {
    #[serde(rename = "findingsURL", default)]
    pub findings_url: String,
    #[serde(rename = "validUntil", default)]
    pub valid_until: String,
    #[serde(rename = "uploadID")]
    pub upload_id: String,
    #[serde(rename = "findingsPresent")]
    pub findings_present: bool,
    #[serde(rename = "requestMetadata", default)]
    pub request_metadata: String,
    #[serde(default)]
    pub errors: Vec<Value>,
}

/// The document at `findingsURL`.
#[derive(Debug, Clone, Deserialize)]
pub struct FindingsDoc {
    #[serde(default)]
    pub findings: Vec<JsonFinding>,
}

/// The `/scan` request body: the saved policy if one is configured, else
/// one inline rule built from `[scanner]`, whose display names are
/// dlpd's detector ids so results come back under the same names, then
/// the custom `[[scanner.rules]]` as written.
pub fn scan_request(scanner: &ScannerConfig, nf: &NightfallConfig, metadata: &str) -> Value {
    if !nf.policy_uuid.is_empty() {
        return json!({"policyUUID": nf.policy_uuid, "requestMetadata": metadata});
    }
    let detectors: Vec<Value> = scanner
        .detectors
        .iter()
        .map(|d| {
            json!({
                "detectorType": "NIGHTFALL_DETECTOR",
                "nightfallDetector": d.as_str(),
                "displayName": d.as_str(),
                "minNumFindings": 1,
                "minConfidence": scanner.min_confidence.as_str(),
            })
        })
        .collect();
    let mut rules = vec![json!({"name": "dlpd", "logicalOp": "ANY", "detectors": detectors})];
    for spec in scanner.rules.specs() {
        let mut rule = serde_json::to_value(spec).unwrap_or(Value::Null);
        // Built-in findings come back under their ids, custom ones under
        // their display names.
        for d in rule["detectors"].as_array_mut().into_iter().flatten() {
            if let Some(id) = d.get("nightfallDetector").cloned() {
                d["displayName"] = id;
            }
        }
        rules.push(rule);
    }
    json!({
        "policy": {
            "detectionRules": rules,
            "alertConfig": {"url": {"address": nf.webhook_url}},
        },
        "requestMetadata": metadata,
    })
}

/// Turns Nightfall's findings into dlpd's, values and contexts masked the
/// way the local engine masks them (every finding inside a context is
/// masked too). A name that is no built-in detector's is a custom rule's
/// detector; the caller keeps those its rules know, and applies
/// `min_confidence`, with the config in force when the result is stored.
pub fn into_findings(doc: &FindingsDoc) -> Vec<Finding> {
    let spans: Vec<Range<u64>> = doc
        .findings
        .iter()
        .map(|f| f.location.byte_range.start..f.location.byte_range.end)
        .collect();
    let mut out = Vec::new();
    for f in &doc.findings {
        let detector = detector_id(&f.detector.name).map_or_else(
            || Detector::Custom(f.detector.name.as_str().into()),
            Detector::Builtin,
        );
        let range = f.location.byte_range;
        let before = f.before_context.as_deref().unwrap_or("");
        let after = f.after_context.as_deref().unwrap_or("");
        let lines = f.location.line_range.unwrap_or_default();
        out.push(Finding {
            detector,
            confidence: f.confidence,
            kind: f
                .finding_metadata
                .as_ref()
                .and_then(|m| m.kind())
                .and_then(known_kind),
            value: Sensitive {
                raw: f.finding.clone(),
                masked: mask::mask_value(&f.finding),
            },
            before: context(
                before,
                range.start.saturating_sub(before.len() as u64),
                &spans,
            ),
            after: context(after, range.end, &spans),
            byte_start: range.start,
            byte_end: range.end,
            line_start: lines.start,
            line_end: lines.end,
            member: f.path.clone().filter(|p| !p.is_empty()),
            table: match (f.location.row_range, f.location.column_range) {
                (Some(r), Some(c)) => Some(crate::finding::TablePos {
                    row_start: r.start,
                    row_end: r.end,
                    column_start: c.start,
                    column_end: c.end,
                }),
                _ => None,
            },
        });
    }
    out.sort_by(|a, b| (a.byte_start, &a.detector).cmp(&(b.byte_start, &b.detector)));
    out
}

/// Nightfall reports `detector.name`, which is the display name dlpd sent
/// (the detector id); the tutorials' display names are accepted too.
fn detector_id(name: &str) -> Option<DetectorId> {
    DetectorId::parse(name).or_else(|| {
        DetectorId::ALL
            .into_iter()
            .find(|d| d.display_name().eq_ignore_ascii_case(name))
    })
}

/// A context starting at byte `at` of the file, with the parts of every
/// finding inside it masked.
fn context(text: &str, at: u64, spans: &[Range<u64>]) -> Sensitive {
    let end = at + text.len() as u64;
    let inside: Vec<Range<usize>> = spans
        .iter()
        .filter(|s| s.start < end && s.end > at)
        .map(|s| (s.start.max(at) - at) as usize..(s.end.min(end) - at) as usize)
        .collect();
    Sensitive {
        raw: text.to_string(),
        masked: String::from_utf8_lossy(&mask::mask_spans(text.as_bytes(), &inside)).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inline_rule_names_detectors_by_their_ids() {
        let nf = NightfallConfig {
            webhook_url: "https://h/ingest".into(),
            ..Default::default()
        };
        let body = scan_request(&ScannerConfig::default(), &nf, "{\"job\":1}");
        let rule = &body["policy"]["detectionRules"][0];
        assert_eq!(
            rule["detectors"][1]["displayName"],
            "US_SOCIAL_SECURITY_NUMBER"
        );
        assert_eq!(rule["detectors"][0]["minConfidence"], "LIKELY");
        assert_eq!(
            body["policy"]["alertConfig"]["url"]["address"],
            "https://h/ingest"
        );
        let nf = NightfallConfig {
            policy_uuid: "p-1".into(),
            ..nf
        };
        let body = scan_request(&ScannerConfig::default(), &nf, "m");
        assert_eq!(body, json!({"policyUUID": "p-1", "requestMetadata": "m"}));
    }

    #[test]
    fn findings_are_filtered_and_neighbours_in_contexts_masked() {
        let doc: FindingsDoc = serde_json::from_value(json!({"findings": [
            {"detector": {"name": "CREDIT_CARD_NUMBER", "id": "x"}, "finding": "4111-1111-1111-1111",
             "confidence": "VERY_LIKELY", "location": {"byteRange": {"start": 10, "end": 29}, "lineRange": {"start": 2, "end": 2}},
             "beforeContext": "card: ", "afterContext": " and 123-45-6789"},
            {"detector": {"name": "US Social Security Number"}, "finding": "123-45-6789",
             "confidence": "POSSIBLE", "location": {"byteRange": {"start": 34, "end": 45}}},
            {"detector": {"name": "PERSON_NAME"}, "finding": "Jane", "confidence": "LIKELY",
             "location": {"byteRange": {"start": 0, "end": 3}}}
        ]}))
        .unwrap();
        let found = into_findings(&doc);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].detector, Detector::Custom("PERSON_NAME".into()));
        assert_eq!(found[2].detector, DetectorId::UsSocialSecurityNumber);
        let f = &found[1];
        assert_eq!(f.detector, DetectorId::CreditCardNumber);
        assert_eq!(f.value.masked, "****-****-****-1111");
        assert_eq!(f.after.masked, " and ***-**-****");
        assert_eq!(f.after.raw, " and 123-45-6789");
        assert_eq!((f.line_start, f.byte_start, f.byte_end), (2, 10, 29));
    }
}
