//! A local text-scan API, compatible with Nightfall's `POST /v3/scan` (see
//! ../shared/nightfall-api.md §4), so an application, or any Nightfall SDK
//! pointed at dlpd, can check a message and redact it before sending it.
//!
//! Requests carry `Authorization: Bearer <token>` (compared in constant
//! time). The payload is scanned with the inline rules (src/rules/):
//! the local engine's detectors, REGEX and WORD_LIST detectors, context
//! and exclusion rules; each item's
//! findings come back with exact byte and codepoint ranges, and
//! `redactedPayload` holds the item with its findings masked, substituted
//! or replaced by their detector's name. Every error is Nightfall's JSON
//! error body. Nothing from a payload is logged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::Semaphore;

mod redact;
mod render;

use self::redact::{Redaction, RedactionSpec};
use self::render::{detect, render};
use crate::config::ScannerConfig;
use crate::engine::LocalEngine;
use crate::finding::json::JsonFinding;
use crate::finding::{Confidence, DetectorId};
use crate::http::{BodyError, Checked, Token, api_error as error, json as json_reply, read_body};
use crate::rules::{self, Reader, Rule, RuleSpec, Source};
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
/// Most findings one request may produce: past it the request is refused
/// (422) rather than answered with megabytes.
pub const MAX_FINDINGS: usize = 10_000;
/// How long one request may scan.
const SCAN_DEADLINE: Duration = Duration::from_secs(10);
/// Requests scanned at once, each on a blocking thread of its own; more
/// are refused at once (429), never queued behind a slow one.
const MAX_SCANS: usize = 2;

/// What bounds one request's work: a deadline, a findings cap, and a flag
/// set when the client is gone. Checked between items and between rules.
pub(super) struct Bounds {
    deadline: Instant,
    cancelled: Arc<AtomicBool>,
    found: usize,
}

impl Bounds {
    /// Whether the work may go on.
    fn check(&self) -> Result<(), Refusal> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(unprocessable("the client went away"));
        }
        if Instant::now() > self.deadline {
            return Err(unprocessable(&format!(
                "the scan took longer than {} s; send fewer or smaller items, or fewer rules",
                SCAN_DEADLINE.as_secs()
            )));
        }
        Ok(())
    }

    /// Counts `n` more findings against [`MAX_FINDINGS`].
    fn count(&mut self, n: usize) -> Result<(), Refusal> {
        self.found += n;
        if self.found > MAX_FINDINGS {
            return Err(unprocessable(&format!(
                "more than {MAX_FINDINGS} findings; send smaller payloads or narrower rules"
            )));
        }
        self.check()
    }
}

/// Sets its flag when dropped: the handler's future is dropped when the
/// client goes away, and the blocking scan then stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

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

/// The answer: each item's findings, and each item redacted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResponse {
    pub findings: Vec<Vec<JsonFinding>>,
    pub redacted_payload: Vec<String>,
}

/// The API's state: its token and a cache of engines by policy.
pub struct TextScan {
    token: Token,
    engines: Mutex<EngineCache>,
    scans: Arc<Semaphore>,
}

impl TextScan {
    /// An API that accepts `token`.
    pub fn new(token: &Secret) -> TextScan {
        TextScan {
            token: Token::new(token),
            engines: Mutex::new(HashMap::new()),
            scans: Arc::new(Semaphore::new(MAX_SCANS)),
        }
    }

    /// `POST /v3/scan`.
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let presented = Token::bearer(&req).unwrap_or_default();
        match self.token.check(&presented, "text-scan API").await {
            Checked::Right => {}
            Checked::Wrong => {
                return error(
                    StatusCode::UNAUTHORIZED,
                    40100,
                    "Unauthorized",
                    "send Authorization: Bearer <token>, the token of [api] token_env or token_file",
                );
            }
            Checked::Busy => {
                return error(
                    StatusCode::TOO_MANY_REQUESTS,
                    42900,
                    "Too Many Requests",
                    "too many token checks at once; try again shortly",
                );
            }
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
            Err(BodyError::Slow) => {
                return error(
                    StatusCode::REQUEST_TIMEOUT,
                    40800,
                    "Request Timeout",
                    crate::http::SLOW_BODY,
                );
            }
        };
        let Ok(permit) = self.scans.clone().try_acquire_owned() else {
            return error(
                StatusCode::TOO_MANY_REQUESTS,
                42900,
                "Too Many Requests",
                &format!("dlpd is already scanning {MAX_SCANS} requests; retry shortly"),
            );
        };
        let cancelled = Arc::new(AtomicBool::new(false));
        let _cancel = CancelOnDrop(cancelled.clone());
        let this = self.clone();
        let scanned = tokio::task::spawn_blocking(move || {
            // Held until the scan really ends, even if the client left.
            let _permit = permit;
            let mut bounds = Bounds {
                deadline: Instant::now() + SCAN_DEADLINE,
                cancelled,
                found: 0,
            };
            this.scan(&body, &mut bounds)
        })
        .await;
        match scanned {
            Ok(Ok(answer)) => json_reply(StatusCode::OK, &answer),
            Ok(Err(refusal)) => refusal.response(),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                50000,
                "Internal Server Error",
                &format!("the scan did not finish: {e}"),
            ),
        }
    }

    /// Scans a request body within `bounds`; errors are ready responses.
    fn scan(&self, body: &[u8], bounds: &mut Bounds) -> Result<ScanResponse, Refusal> {
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
            bounds.check()?;
            let found = detect(item, &rules, bounds)?;
            let (items, text) = render(item, &found, default_redaction.as_ref(), context as usize);
            findings.push(items);
            redacted.push(text);
        }
        Ok(ScanResponse {
            findings,
            redacted_payload: redacted,
        })
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
