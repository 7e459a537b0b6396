//! A local text-scan API, compatible with Nightfall's `POST /v3/scan` (see
//! ../shared/nightfall-api.md §4), so an application, or any Nightfall SDK
//! pointed at dlpd, can check a message and redact it before sending it.
//!
//! Requests carry `Authorization: Bearer <token>` (compared in constant
//! time). The payload is scanned with the inline rules (src/rules.rs):
//! the local engine's detectors, REGEX and WORD_LIST detectors, context
//! and exclusion rules; each item's
//! findings come back with exact byte and codepoint ranges, and
//! `redactedPayload` holds the item with its findings masked, substituted
//! or replaced by their detector's name. Every error is Nightfall's JSON
//! error body. Nothing from a payload is logged.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use ring::hmac;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::ScannerConfig;
use crate::engine::LocalEngine;
use crate::finding::{Confidence, DetectorId};
use crate::http::{BodyError, api_error as error, json as json_reply, read_body};
use crate::rules::{self, BuiltinMatch, Reader, Region, Rule, RuleDetector, RuleSpec, Source};
use crate::secret::Secret;

/// Nightfall's limits: total payload bytes, and items.
pub const MAX_PAYLOAD_BYTES: usize = 500_000;
pub const MAX_ITEMS: usize = 50_000;
/// Largest request body read (payload plus policy and JSON escaping).
const MAX_BODY: u64 = 2 * MAX_PAYLOAD_BYTES as u64;
/// Inline rules per request, as Nightfall allows.
const MAX_RULES: usize = 10;
/// Largest `contextBytes`.
const MAX_CONTEXT: u32 = 4096;
/// Compiled engines kept for repeated policies.
const ENGINE_CACHE: usize = 32;

/// Compiled engines by (detectors, lowest confidence, context bytes).
type EngineCache = HashMap<(Vec<DetectorId>, Confidence, u32), Arc<LocalEngine>>;

/// A refused request: Nightfall's error body and its HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    pub message: &'static str,
    pub description: String,
}

impl Refusal {
    fn response(&self) -> Response<Full<Bytes>> {
        error(self.status, self.code, self.message, &self.description)
    }
}

/// The API's state: its token and a cache of engines by policy.
pub struct TextScan {
    key: hmac::Key,
    token_tag: hmac::Tag,
    engines: Mutex<EngineCache>,
}

impl TextScan {
    /// An API that accepts `token`.
    pub fn new(token: &Secret) -> TextScan {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .unwrap_or_else(|_| hmac::Key::new(hmac::HMAC_SHA256, b"dlpd-api"));
        let token_tag = hmac::sign(&key, token.expose().as_bytes());
        TextScan {
            key,
            token_tag,
            engines: Mutex::new(HashMap::new()),
        }
    }

    /// `POST /v3/scan`.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let presented = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        // HMAC both sides: the comparison takes the same time whatever the
        // token's length or first wrong byte.
        if hmac::verify(&self.key, presented.as_bytes(), self.token_tag.as_ref()).is_err() {
            return error(
                StatusCode::UNAUTHORIZED,
                40100,
                "Unauthorized",
                "send Authorization: Bearer <token>, the token of [api] token_env or token_file",
            );
        }
        let body = match read_body(req, MAX_BODY).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => return too_large_refusal().response(),
            Err(BodyError::Incomplete) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    40000,
                    "Invalid Request",
                    "incomplete body",
                );
            }
        };
        match self.scan(&body) {
            Ok(v) => json_reply(StatusCode::OK, &v),
            Err(refusal) => refusal.response(),
        }
    }

    /// Scans a request body; errors are ready responses.
    pub fn scan(&self, body: &[u8]) -> Result<Value, Refusal> {
        let req: ScanRequest = serde_json::from_slice(body).map_err(|e| Refusal {
            status: StatusCode::BAD_REQUEST,
            code: 40000,
            message: "Invalid Request",
            description: format!("malformed JSON: {e}"),
        })?;
        let payload = req.payload.unwrap_or_default();
        if payload.len() > MAX_ITEMS {
            return Err(unprocessable(&format!(
                "payload has {} items; the limit is {MAX_ITEMS}",
                payload.len()
            )));
        }
        if payload.iter().map(String::len).sum::<usize>() > MAX_PAYLOAD_BYTES {
            return Err(too_large_refusal());
        }
        if req.policy_uuids.is_some_and(|u| !u.is_empty()) {
            return Err(unprocessable(
                "dlpd has no saved policies; send the policy inline with detectionRules",
            ));
        }
        let policy = req.policy.unwrap_or_default();
        if policy.detection_rule_uuids.is_some_and(|u| !u.is_empty()) {
            return Err(unprocessable(
                "dlpd has no saved detection rules; send detectionRules inline",
            ));
        }
        let rules = policy.detection_rules.unwrap_or_default();
        if rules.is_empty() {
            return Err(Refusal {
                status: StatusCode::BAD_REQUEST,
                code: 40015,
                message: "Invalid Request",
                description: "detectionRuleUUIDs and detectionRules can't both be empty".into(),
            });
        }
        if rules.len() > MAX_RULES {
            return Err(unprocessable(&format!(
                "{} detection rules; the limit is {MAX_RULES}",
                rules.len()
            )));
        }
        let context = policy.context_bytes.unwrap_or(0);
        if context > MAX_CONTEXT {
            return Err(unprocessable(&format!(
                "contextBytes {context} is over {MAX_CONTEXT}"
            )));
        }
        let default_redaction = policy
            .default_redaction_config
            .map(|r| r.compile("policy.defaultRedactionConfig"))
            .transpose()
            .map_err(|e| unprocessable(&e))?;
        let rules: Vec<CompiledRule> = rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| self.compile_rule(i, &r, context))
            .collect::<Result<_, String>>()
            .map_err(|e| unprocessable(&e))?;

        let mut findings = Vec::with_capacity(payload.len());
        let mut redacted = Vec::with_capacity(payload.len());
        for item in &payload {
            let found = detect(item, &rules);
            let (items, text) = render(item, &found, default_redaction.as_ref(), context as usize);
            findings.push(Value::Array(items));
            redacted.push(Value::String(text));
        }
        Ok(json!({"findings": findings, "redactedPayload": redacted}))
    }

    fn compile_rule(
        &self,
        index: usize,
        spec: &RuleSpec,
        context: u32,
    ) -> Result<CompiledRule, String> {
        let rule = rules::compile(spec, index, Reader::Api).map_err(|e| e.to_string())?;
        let mut redactions = Vec::with_capacity(rule.detectors.len());
        let mut builtin = Vec::new();
        for (j, d) in rule.detectors.iter().enumerate() {
            let at = format!("{}, detector {}", rule.name, j + 1);
            let redaction = match &d.redaction {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    RedactionSpec::deserialize(v)
                        .map_err(|e| format!("{at}: redactionConfig: {e}"))?
                        .compile(&at)?,
                ),
            };
            redactions.push(redaction);
            if let Source::Builtin(id) = d.source {
                // A context rule may raise a match below minConfidence.
                let lowest = if d.context.is_empty() {
                    d.min_confidence
                } else {
                    Confidence::VeryUnlikely
                };
                builtin.push((id, lowest));
            }
        }
        let engine = if builtin.is_empty() {
            None
        } else {
            Some(self.engine(&builtin, context))
        };
        Ok(CompiledRule {
            rule,
            redactions,
            engine,
        })
    }

    /// A local engine for these detectors, from the cache when it can be.
    fn engine(&self, wanted: &[(DetectorId, Confidence)], context: u32) -> Arc<LocalEngine> {
        let mut ids: Vec<DetectorId> = wanted.iter().map(|(d, _)| *d).collect();
        ids.sort();
        ids.dedup();
        let min = wanted
            .iter()
            .map(|(_, c)| *c)
            .min()
            .unwrap_or(Confidence::Possible);
        let key = (ids.clone(), min, context);
        let mut cache = self.engines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = cache.get(&key) {
            return e.clone();
        }
        if cache.len() >= ENGINE_CACHE {
            cache.clear();
        }
        let cfg = ScannerConfig {
            detectors: ids,
            min_confidence: min,
            context_bytes: context,
            ..ScannerConfig::default()
        };
        let engine = Arc::new(LocalEngine::new(&cfg));
        cache.insert(key, engine.clone());
        engine
    }
}

/// A finding in one payload item, before rendering.
struct Found<'r> {
    range: Range<usize>,
    confidence: Confidence,
    detector: &'r RuleDetector,
    redaction: Option<&'r Redaction>,
    rules: Vec<&'r str>,
    kind: Option<&'static str>,
}

/// Runs every rule over one item; applies minNumFindings and logicalOp.
fn detect<'r>(item: &str, rules: &'r [CompiledRule]) -> Vec<Found<'r>> {
    let hay = item.as_bytes();
    let mut out: Vec<Found<'r>> = Vec::new();
    for compiled in rules {
        let rule = &compiled.rule;
        let builtin: Vec<BuiltinMatch> = compiled
            .engine
            .as_ref()
            .map(|e| e.scan_bytes(hay))
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
        for (d, hit) in rule.settle(hits) {
            let f = Found {
                range: hit.range,
                confidence: hit.confidence,
                detector: &rule.detectors[d],
                redaction: compiled.redactions[d].as_ref(),
                rules: vec![rule.name.as_str()],
                kind: hit.kind,
            };
            // The same span from the same detector under two rules is one finding.
            match out
                .iter_mut()
                .find(|o| o.range == f.range && o.detector.display == f.detector.display)
            {
                Some(o) => o.rules.push(rule.name.as_str()),
                None => out.push(f),
            }
        }
    }
    out.sort_by_key(|f| (f.range.start, std::cmp::Reverse(f.range.end)));
    out
}

/// Builds each finding's JSON and the redacted item ("" when nothing in
/// it was redacted).
fn render(
    item: &str,
    found: &[Found<'_>],
    default: Option<&Redaction>,
    context: usize,
) -> (Vec<Value>, String) {
    let mut out = Vec::with_capacity(found.len());
    let mut redacted = String::with_capacity(item.len());
    let mut copied = 0; // bytes of `item` accounted for in `redacted`
    let mut changed = false;
    for f in found {
        let value = &item[f.range.clone()];
        let redaction = f.redaction.or(default);
        // Overlapping findings: only the first is redacted in the text.
        let overlaps = f.range.start < copied;
        let replacement = redaction.and_then(|r| r.apply(value, &f.detector.display));
        let mut redacted_location = None;
        if let (Some(rep), false) = (&replacement, overlaps) {
            redacted.push_str(&item[copied..f.range.start]);
            let start = redacted.len();
            redacted.push_str(rep);
            copied = f.range.end;
            changed = true;
            redacted_location = Some((start, redacted.len()));
        }
        let remove = redaction.is_some_and(|r| matches!(r, Redaction::Remove));
        let mut obj = json!({
            "finding": if remove { "" } else { value },
            "detector": {"name": f.detector.display, "uuid": detector_uuid(&f.detector.source, &f.detector.display)},
            "confidence": f.confidence.as_str(),
            "location": location(item, f.range.clone()),
            "matchedDetectionRuleUUIDs": [],
            "matchedDetectionRules": f.rules,
        });
        if let Some(rep) = &replacement {
            obj["redactedFinding"] = json!(rep);
        }
        // Like Nightfall, empty contexts are left out.
        let before = &item[floor_char(item, f.range.start.saturating_sub(context))..f.range.start];
        let after = &item[f.range.end..ceil_char(item, (f.range.end + context).min(item.len()))];
        if !before.is_empty() {
            obj["beforeContext"] = json!(before);
        }
        if !after.is_empty() {
            obj["afterContext"] = json!(after);
        }
        obj["redactedLocation"] = match redacted_location {
            // Codepoints of the redacted text are counted once it is whole.
            Some((s, e)) => json!({"byteRange": {"start": s, "end": e}, "pending": true}),
            None => location(item, f.range.clone()),
        };
        if let Some(kind) = f.kind {
            obj["findingMetadata"] = json!({"apiKeyMetadata": {"status": "UNVERIFIED", "kind": kind, "description": ""}});
        }
        out.push(obj);
    }
    if !changed {
        // Nightfall's convention: "" for an item with nothing redacted.
        for obj in &mut out {
            finish_location(obj, "");
        }
        return (out, String::new());
    }
    redacted.push_str(&item[copied..]);
    for obj in &mut out {
        finish_location(obj, &redacted);
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

/// Fills in the codepoint range of a redacted location, now that the
/// redacted text is complete.
fn finish_location(obj: &mut Value, redacted: &str) {
    let loc = &mut obj["redactedLocation"];
    if loc.get("pending").is_none() {
        return;
    }
    let s = loc["byteRange"]["start"].as_u64().unwrap_or(0) as usize;
    let e = loc["byteRange"]["end"].as_u64().unwrap_or(0) as usize;
    *loc = location(redacted, s..e);
}

/// Nightfall's location object: exact byte and codepoint ranges.
fn location(text: &str, range: Range<usize>) -> Value {
    let cp_start = text[..range.start].chars().count();
    let cp_end = cp_start + text[range.clone()].chars().count();
    json!({
        "byteRange": {"start": range.start, "end": range.end},
        "codepointRange": {"start": cp_start, "end": cp_end},
        "rowRange": null,
        "columnRange": null,
        "commitHash": "",
        "commitAuthor": "",
    })
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

fn unprocessable(description: &str) -> Refusal {
    Refusal {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: 42200,
        message: "Unprocessable request payload",
        description: description.to_string(),
    }
}

fn too_large_refusal() -> Refusal {
    Refusal {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: 41300,
        message: "Payload Too Large",
        description: format!(
            "the payload may hold at most {MAX_PAYLOAD_BYTES} bytes and {MAX_ITEMS} items"
        ),
    }
}

struct CompiledRule {
    rule: Rule,
    /// Each detector's redaction, in order.
    redactions: Vec<Option<Redaction>>,
    engine: Option<Arc<LocalEngine>>,
}

/// How a finding is redacted.
#[derive(Debug, Clone, PartialEq)]
enum Redaction {
    Mask {
        with: char,
        ignore: Vec<char>,
        keep: usize,
        left_to_right: bool,
    },
    Substitute(String),
    InfoType,
    Remove,
}

impl Redaction {
    /// The text that replaces `value`, if any.
    fn apply(&self, value: &str, display: &str) -> Option<String> {
        match self {
            Redaction::Remove => None,
            Redaction::Substitute(phrase) => Some(phrase.clone()),
            Redaction::InfoType => Some(format!("[{display}]")),
            Redaction::Mask {
                with,
                ignore,
                keep,
                left_to_right,
            } => {
                let chars: Vec<char> = value.chars().collect();
                let maskable = chars.iter().filter(|c| !ignore.contains(c)).count();
                let to_mask = maskable.saturating_sub(*keep);
                let mut masked = 0;
                let mut out: Vec<char> = chars.clone();
                let order: Box<dyn Iterator<Item = usize>> = if *left_to_right {
                    Box::new(0..chars.len())
                } else {
                    Box::new((0..chars.len()).rev())
                };
                for i in order {
                    if masked == to_mask {
                        break;
                    }
                    if !ignore.contains(&chars[i]) {
                        out[i] = *with;
                        masked += 1;
                    }
                }
                Some(out.into_iter().collect())
            }
        }
    }
}

// The request, as the SDKs send it: Go sends every key (nulls and ""),
// Python leaves empty ones out; unknown keys are ignored.

#[derive(Deserialize, Default)]
struct ScanRequest {
    #[serde(default)]
    payload: Option<Vec<String>>,
    #[serde(default)]
    policy: Option<PolicySpec>,
    #[serde(default, rename = "policyUUIDs")]
    policy_uuids: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct PolicySpec {
    #[serde(default)]
    detection_rules: Option<Vec<RuleSpec>>,
    #[serde(default, rename = "detectionRuleUUIDs")]
    detection_rule_uuids: Option<Vec<String>>,
    #[serde(default)]
    context_bytes: Option<u32>,
    #[serde(default)]
    default_redaction_config: Option<RedactionSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RedactionSpec {
    #[serde(default)]
    remove_finding: Option<bool>,
    #[serde(default)]
    mask_config: Option<MaskSpec>,
    #[serde(default)]
    info_type_substitution_config: Option<Value>,
    #[serde(default)]
    substitution_config: Option<SubstitutionSpec>,
    #[serde(default)]
    crypto_config: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MaskSpec {
    #[serde(default)]
    masking_char: Option<String>,
    #[serde(default)]
    chars_to_ignore: Option<Vec<String>>,
    #[serde(default)]
    num_chars_to_leave_unmasked: Option<u32>,
    #[serde(default)]
    mask_left_to_right: Option<bool>,
    #[serde(default)]
    mask_right_to_left: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SubstitutionSpec {
    #[serde(default)]
    substitution_phrase: Option<String>,
}

impl RedactionSpec {
    /// Exactly one mode must be set; `at` names the config in errors.
    fn compile(self, at: &str) -> Result<Redaction, String> {
        let present = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
        let mut modes = Vec::new();
        if self.remove_finding == Some(true) {
            modes.push(Redaction::Remove);
        }
        if let Some(m) = self.mask_config {
            let with = match m.masking_char.as_deref().unwrap_or("*") {
                "" => '*',
                s => {
                    let mut it = s.chars();
                    match (it.next(), it.next()) {
                        (Some(c), None) => c,
                        _ => return Err(format!("{at}: maskingChar {s:?} must be one character")),
                    }
                }
            };
            let ignore = m
                .chars_to_ignore
                .unwrap_or_default()
                .iter()
                .flat_map(|s| s.chars())
                .collect();
            // Go, Java and Node say maskLeftToRight; Python says
            // maskRightToLeft (and leaves it out when false). Masking runs
            // right to left by default, so the leading characters stay.
            let left_to_right =
                m.mask_left_to_right == Some(true) || m.mask_right_to_left == Some(false);
            modes.push(Redaction::Mask {
                with,
                ignore,
                keep: m.num_chars_to_leave_unmasked.unwrap_or(0) as usize,
                left_to_right,
            });
        }
        if present(&self.info_type_substitution_config) {
            modes.push(Redaction::InfoType);
        }
        if let Some(s) = self.substitution_config {
            modes.push(Redaction::Substitute(
                s.substitution_phrase.unwrap_or_else(|| "[REDACTED]".into()),
            ));
        }
        if present(&self.crypto_config) {
            return Err(format!("{at}: cryptoConfig is not supported by dlpd"));
        }
        match modes.len() {
            1 => Ok(modes.remove(0)),
            0 => Err(format!(
                "{at}: set one of removeFinding, maskConfig, infoTypeSubstitutionConfig, substitutionConfig"
            )),
            _ => Err(format!("{at}: set only one redaction mode")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_follows_the_observed_nightfall_behaviour() {
        let d = "CREDIT_CARD_NUMBER";
        let mask = |ltr| Redaction::Mask {
            with: '👀',
            ignore: vec!['-'],
            keep: 3,
            left_to_right: ltr,
        };
        // ../shared/nightfall-api.md §3: the leading characters stay.
        assert_eq!(
            mask(false).apply("4916-6734-7572-5015", d).unwrap(),
            "491👀-👀👀👀👀-👀👀👀👀-👀👀👀👀"
        );
        assert_eq!(
            mask(true).apply("4916-6734-7572-5015", d).unwrap(),
            "👀👀👀👀-👀👀👀👀-👀👀👀👀-👀015"
        );
        assert_eq!(
            Redaction::InfoType.apply("x", d).unwrap(),
            "[CREDIT_CARD_NUMBER]"
        );
        assert_eq!(Redaction::Remove.apply("x", d), None);
    }

    #[test]
    fn both_spellings_of_the_mask_direction_are_accepted() {
        let compile = |v: Value| {
            serde_json::from_value::<RedactionSpec>(v)
                .unwrap()
                .compile("t")
                .unwrap()
        };
        let ltr = |r: Redaction| {
            matches!(
                r,
                Redaction::Mask {
                    left_to_right: true,
                    ..
                }
            )
        };
        assert!(ltr(compile(
            json!({"maskConfig": {"maskLeftToRight": true}})
        )));
        assert!(!ltr(compile(
            json!({"maskConfig": {"maskRightToLeft": true}})
        )));
        assert!(ltr(compile(
            json!({"maskConfig": {"maskRightToLeft": false}})
        )));
        assert!(!ltr(compile(json!({"maskConfig": {}}))));
        let two = serde_json::from_value::<RedactionSpec>(
            json!({"removeFinding": true, "substitutionConfig": {}}),
        )
        .unwrap()
        .compile("t");
        assert!(two.is_err());
    }
}
