//! One payload item's findings: the inline rules run over it (through the
//! rules' one evaluator), then each finding rendered in Nightfall's shape
//! with its redaction.

use std::ops::Range;

use super::redact::Redaction;
use super::{Bounds, CompiledRule, Refusal};
use crate::finding::Confidence;
use crate::finding::DetectorId;
use crate::finding::json::{
    ApiKeyMetadata, FindingMetadata, JsonDetector, JsonFinding, Location, Span,
};
use crate::rules::{BuiltinMatch, Region, RuleDetector, Source};

/// A finding in one payload item, before rendering.
pub(super) struct Found<'r> {
    range: Range<usize>,
    confidence: Confidence,
    detector: &'r RuleDetector,
    redaction: Option<&'r Redaction>,
    rules: Vec<&'r str>,
    kind: Option<&'static str>,
}

/// Runs every rule over one item; applies minNumFindings and logicalOp.
/// Stops with a refusal when `bounds` are crossed.
pub(super) fn detect<'r>(
    item: &str,
    rules: &'r [CompiledRule],
    bounds: &mut Bounds,
) -> Result<Vec<Found<'r>>, Refusal> {
    let hay = item.as_bytes();
    let mut out: Vec<Found<'r>> = Vec::new();
    // Where each (span, detector) already is in `out`.
    let mut seen: std::collections::HashMap<(usize, usize, &'r str), usize> =
        std::collections::HashMap::new();
    for compiled in rules {
        bounds.check()?;
        let rule = &compiled.rule;
        let builtin: Vec<BuiltinMatch> = compiled
            .engine
            .as_ref()
            // An item is text, NULs and all: never skipped as binary.
            .map(|e| e.scan_text_bytes(hay))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|f| {
                Some(BuiltinMatch {
                    id: f.detector.builtin()?,
                    range: f.byte_start as usize..f.byte_end as usize,
                    confidence: f.confidence,
                    kind: f.kind,
                })
            })
            .collect();
        // An item has no file name: File-scope detectors match nothing.
        let hits = rule
            .hits(hay, &Region::Content(0..hay.len()), &builtin)
            .into_iter()
            // A byte pattern may cut a character; such a match is no finding.
            .filter(|h| item.is_char_boundary(h.range.start) && item.is_char_boundary(h.range.end))
            .map(|h| (h.detector, h))
            .collect();
        let settled = rule.settle(hits);
        bounds.count(settled.len())?;
        for (d, hit) in settled {
            let f = Found {
                range: hit.range,
                confidence: hit.confidence,
                detector: &rule.detectors[d],
                redaction: compiled.redactions[d].as_ref(),
                rules: vec![rule.name.as_str()],
                kind: hit.kind,
            };
            // The same span from the same detector under two rules is one finding.
            let key = (f.range.start, f.range.end, f.detector.display.as_str());
            match seen.get(&key) {
                Some(&i) => out[i].rules.push(rule.name.as_str()),
                None => {
                    seen.insert(key, out.len());
                    out.push(f);
                }
            }
        }
    }
    out.sort_by_key(|f| (f.range.start, std::cmp::Reverse(f.range.end)));
    Ok(out)
}

/// Each finding in Nightfall's shape, and the redacted item ("" when
/// nothing in it was redacted).
pub(super) fn render(
    item: &str,
    found: &[Found<'_>],
    default: Option<&Redaction>,
    context: usize,
) -> (Vec<JsonFinding>, String) {
    let mut out = Vec::with_capacity(found.len());
    // Where each replacement went in the redacted text, by finding.
    let mut replaced: Vec<Option<Range<usize>>> = Vec::with_capacity(found.len());
    let mut redacted = String::with_capacity(item.len());
    let mut copied = 0; // bytes of `item` accounted for in `redacted`
    for f in found {
        let value = &item[f.range.clone()];
        let redaction = f.redaction.or(default);
        // Overlapping findings: only the first is redacted in the text.
        let overlaps = f.range.start < copied;
        let replacement = redaction.and_then(|r| r.apply(value, &f.detector.display));
        let mut at = None;
        if let (Some(rep), false) = (&replacement, overlaps) {
            redacted.push_str(&item[copied..f.range.start]);
            let start = redacted.len();
            redacted.push_str(rep);
            copied = f.range.end;
            at = Some(start..redacted.len());
        }
        replaced.push(at);
        let remove = redaction.is_some_and(|r| matches!(r, Redaction::Remove));
        // Like Nightfall, empty contexts are left out.
        let before = &item[floor_char(item, f.range.start.saturating_sub(context))..f.range.start];
        let after = &item[f.range.end..ceil_char(item, (f.range.end + context).min(item.len()))];
        let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
        out.push(JsonFinding {
            path: None,
            member: None,
            finding: if remove {
                String::new()
            } else {
                value.to_string()
            },
            detector: JsonDetector {
                name: f.detector.display.clone(),
                id: None,
                uuid: Some(detector_uuid(&f.detector.source, &f.detector.display)),
            },
            confidence: f.confidence,
            redacted_finding: replacement,
            before_context: text(before),
            after_context: text(after),
            location: location(item, f.range.clone()),
            redacted_location: None,
            matched_detection_rule_uuids: Some(Vec::new()),
            matched_detection_rules: Some(f.rules.iter().map(|r| r.to_string()).collect()),
            finding_metadata: f.kind.map(|kind| FindingMetadata {
                api_key_metadata: Some(ApiKeyMetadata {
                    status: Some("UNVERIFIED".into()),
                    kind: Some(kind.into()),
                    description: Some(String::new()),
                }),
            }),
            scanned_at: None,
            engine: None,
            upload_id: None,
            sha256: None,
        });
    }
    if replaced.iter().any(Option::is_some) {
        redacted.push_str(&item[copied..]);
    } else {
        // Nightfall's convention: "" for an item with nothing redacted.
        redacted.clear();
    }
    // Codepoints of the redacted text are counted once it is whole.
    for ((obj, f), at) in out.iter_mut().zip(found).zip(replaced) {
        obj.redacted_location = Some(match at {
            Some(at) => location(&redacted, at),
            None => location(item, f.range.clone()),
        });
    }
    (out, redacted)
}

/// The nearest char boundary at or after `i` (a context never starts mid-character).
fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The nearest char boundary at or before `i`.
fn ceil_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Nightfall's location in a text item: exact byte and codepoint ranges.
fn location(text: &str, range: Range<usize>) -> Location {
    let cp_start = text[..range.start].chars().count();
    let cp_end = cp_start + text[range.clone()].chars().count();
    Location {
        byte_range: Span::new(range.start, range.end),
        codepoint_range: Some(Span::new(cp_start, cp_end)),
        commit_hash: Some(String::new()),
        commit_author: Some(String::new()),
        ..Location::default()
    }
}

/// Built-in detectors carry Nightfall's UUIDs; inline ones a stable UUID
/// made from their name.
fn detector_uuid(source: &Source, display: &str) -> String {
    match source {
        Source::Builtin(DetectorId::CreditCardNumber) => {
            "74c1815e-c0c3-4df5-8b1e-6cf98864a454".into()
        }
        Source::Builtin(DetectorId::UsSocialSecurityNumber) => {
            "e30d9a87-f6c7-46b9-a8f4-16547901e069".into()
        }
        Source::Builtin(DetectorId::ApiKey) => "0e95732f-bc5c-448f-9d15-bd1417177360".into(),
        _ => {
            let h = crate::fsutil::sha256_hex(display.as_bytes());
            format!(
                "{}-{}-4{}-a{}-{}",
                &h[0..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..32]
            )
        }
    }
}
