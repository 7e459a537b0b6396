//! A fake Nightfall service speaking the real file-scan protocol (see
//! ../shared/nightfall-api.md): upload, chunk, finish and scan with the
//! service's checks, the webhook challenge, signed result notifications,
//! and an unauthenticated findings URL. Findings come from dlpd's own local
//! engine run on the uploaded bytes, so a Nightfall run can be compared row
//! for row with a local one.
//!
//! Faults are injected through [`Faults`]: 500s and 429s at random (with or
//! without `Retry-After`), a server-side rate limit, hanging or slow
//! responses, dropped connections, forgotten uploads, held, lost and
//! duplicated notifications. [`Stats`] records what the client did,
//! including every protocol violation the service noticed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use dlpd::config::ScannerConfig;
use dlpd::engine::{Detector, DetectorId, LocalEngine};
use dlpd::rules::{RuleSet, RuleSpec};
use dlpd::secret::Secret;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

type Reply = Result<Response<Full<Bytes>>, std::io::Error>;

/// How the fake is set up.
#[derive(Debug, Clone)]
pub struct Options {
    pub api_key: String,
    pub signing_secret: String,
    /// `chunkSize` handed out at upload init.
    pub chunk_size: u64,
    /// Bytes of context around findings.
    pub context_bytes: u32,
    /// Server-side limit on API requests per second (bursts of the same
    /// size), answered with 429 and `Retry-After: 1` beyond it.
    pub rate_limit: Option<u32>,
    /// Keep uploaded bytes and scan them; off for very large uploads,
    /// which then report no findings.
    pub keep_content: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            api_key: "NF-fake-api-key".into(),
            signing_secret: "nf-test-signing-secret".into(),
            chunk_size: 64 * 1024,
            context_bytes: 40,
            rate_limit: None,
            keep_content: true,
        }
    }
}

/// Faults to inject; change them at any time through [`FakeNightfall::faults`].
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of API requests answered 500.
    pub p500: f64,
    /// Share of API requests answered 429.
    pub p429: f64,
    /// `Retry-After` seconds on injected 429s (none: no header).
    pub retry_after: Option<u64>,
    /// The next N API requests are never answered.
    pub hang_next: u32,
    /// Every API response waits this long first.
    pub delay: Duration,
    /// The next N API requests have their connection dropped unanswered.
    pub drop_next: u32,
    /// The next N chunk uploads get 404: the service forgot the upload.
    pub forget_next_chunks: u32,
    /// The next scan request is refused with (HTTP status, code, message).
    pub refuse_next_scan: Option<(u16, i64, String)>,
    /// Notifications wait until [`FakeNightfall::release_held`].
    pub hold_results: bool,
    /// The next N notifications are never sent.
    pub lose_next_results: u32,
    /// Every notification is sent twice.
    pub duplicate_results: bool,
    /// The next N findings fetches get 500.
    pub fail_next_findings: u32,
}

/// What the fake saw.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// API requests per route ("upload", "chunk", "finish", "scan").
    pub requests: HashMap<&'static str, u64>,
    /// Scans started per upload id.
    pub scans: HashMap<String, u32>,
    /// Scans started per SHA-256 of the content.
    pub scans_by_content: HashMap<String, u32>,
    /// Status the webhook answered for each notification sent.
    pub deliveries: Vec<u16>,
    /// Challenges sent.
    pub challenges: u32,
    /// Protocol violations by the client.
    pub violations: Vec<String>,
    /// When each API request arrived.
    pub api_times: Vec<Instant>,
    /// 429s sent by the server-side rate limit.
    pub rate_limited: u64,
    /// Findings documents served.
    pub findings_fetched: u64,
    /// The inline rules' names in the last scan request.
    pub rule_names: Vec<String>,
}

struct Upload {
    size: u64,
    received: HashSet<u64>,
    head: Vec<u8>,
    content: Vec<u8>,
    finished: bool,
    mime: String,
}

struct Inner {
    faults: Faults,
    stats: Stats,
    uploads: HashMap<String, Upload>,
    findings: HashMap<String, Value>,
    held: Vec<(String, Vec<u8>)>,
    challenged: HashSet<String>,
    rng: u64,
    bucket: (f64, Instant),
    /// Until when the last `Retry-After` asked the client to wait.
    quiet_until: Option<Instant>,
}

struct State {
    opts: Options,
    base: String,
    inner: Mutex<Inner>,
    http: reqwest::Client,
}

/// The running fake; stops when dropped.
pub struct FakeNightfall {
    /// `http://127.0.0.1:<port>`: the `api_url` to configure.
    pub url: String,
    state: Arc<State>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl FakeNightfall {
    pub fn start(opts: Options) -> FakeNightfall {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64
            | 1;
        let state = Arc::new(State {
            opts,
            base: url.clone(),
            inner: Mutex::new(Inner {
                faults: Faults::default(),
                stats: Stats::default(),
                uploads: HashMap::new(),
                findings: HashMap::new(),
                held: Vec::new(),
                challenged: HashSet::new(),
                rng: seed,
                bucket: (0.0, Instant::now()),
                quiet_until: None,
            }),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        });
        if let Some(rate) = state.opts.rate_limit {
            state.inner.lock().unwrap().bucket.0 = rate as f64;
        }
        let s = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let s = s.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let s = s.clone();
                        async move { s.route(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FakeNightfall {
            url,
            state,
            runtime: Some(runtime),
        }
    }

    /// Changes the injected faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.state.inner.lock().unwrap().faults);
    }

    /// A copy of what the fake has seen so far.
    pub fn stats(&self) -> Stats {
        self.state.inner.lock().unwrap().stats.clone()
    }

    /// The bodies of notifications being held.
    pub fn held(&self) -> Vec<String> {
        let inner = self.state.inner.lock().unwrap();
        inner
            .held
            .iter()
            .map(|(_, body)| String::from_utf8_lossy(body).into_owned())
            .collect()
    }

    /// Sends every held notification now.
    pub fn release_held(&self) {
        let held = std::mem::take(&mut self.state.inner.lock().unwrap().held);
        let state = self.state.clone();
        self.runtime.as_ref().unwrap().block_on(async move {
            for (url, body) in held {
                state.deliver(&url, body).await;
            }
        });
    }

    /// The signed headers and body Nightfall would send for `body` now.
    pub fn sign(&self, body: &str) -> (String, String) {
        let ts = unix_now().to_string();
        let sig = dlpd::nightfall::signature::sign(
            &Secret::new(self.state.opts.signing_secret.clone()),
            &ts,
            body.as_bytes(),
        );
        (ts, sig)
    }
}

impl Drop for FakeNightfall {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl State {
    async fn route(self: Arc<Self>, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_string();
        if req.method() == Method::GET && path.starts_with("/findings/") {
            return Ok(self.findings(&req, &path));
        }
        if !path.starts_with("/v3/") {
            return Ok(error(StatusCode::NOT_FOUND, 40400, "Not Found", ""));
        }
        let route = match (
            req.method().clone(),
            path.split('/').collect::<Vec<_>>().as_slice(),
        ) {
            (Method::POST, ["", "v3", "upload"]) => "upload",
            (Method::PATCH, ["", "v3", "upload", _]) => "chunk",
            (Method::POST, ["", "v3", "upload", _, "finish"]) => "finish",
            (Method::POST, ["", "v3", "upload", _, "scan"]) => "scan",
            _ => return Ok(error(StatusCode::NOT_FOUND, 40400, "Not Found", "")),
        };
        let auth = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let offset = req
            .headers()
            .get("x-upload-offset")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Faults and limits, decided before the request is processed.
        let (delay, fault) = {
            let mut inner = self.inner.lock().unwrap();
            let now = Instant::now();
            inner.stats.api_times.push(now);
            // 50 ms of slack for scheduling.
            if let Some(until) = inner.quiet_until.take()
                && now + Duration::from_millis(50) < until
            {
                let early = (until - now).as_millis();
                inner.stats.violations.push(format!(
                    "{route} arrived {early} ms before Retry-After expired"
                ));
            }
            *inner.stats.requests.entry(route).or_default() += 1;
            let f = inner.faults.clone();
            let fault = if f.hang_next > 0 {
                inner.faults.hang_next -= 1;
                Some("hang")
            } else if f.drop_next > 0 {
                inner.faults.drop_next -= 1;
                Some("drop")
            } else if !self.take_token(&mut inner) {
                inner.stats.rate_limited += 1;
                Some("limit")
            } else {
                let r = inner.random();
                if r < f.p500 {
                    Some("500")
                } else if r < f.p500 + f.p429 {
                    Some("429")
                } else {
                    None
                }
            };
            (f.delay, fault)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        match fault {
            Some("hang") => std::future::pending::<()>().await,
            Some("drop") => {
                return Err(std::io::Error::other(
                    "connection dropped by fault injection",
                ));
            }
            Some("limit") => {
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    42900,
                    "Too Many Requests",
                    "",
                );
                r.headers_mut().insert("retry-after", "1".parse().unwrap());
                self.inner.lock().unwrap().quiet_until =
                    Some(Instant::now() + Duration::from_secs(1));
                return Ok(r);
            }
            Some("500") => {
                return Ok(error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    50000,
                    "Internal Server Error",
                    "injected",
                ));
            }
            Some("429") => {
                let mut r = error(
                    StatusCode::TOO_MANY_REQUESTS,
                    42900,
                    "Too Many Requests",
                    "",
                );
                let mut inner = self.inner.lock().unwrap();
                if let Some(s) = inner.faults.retry_after {
                    r.headers_mut()
                        .insert("retry-after", s.to_string().parse().unwrap());
                    inner.quiet_until = Some(Instant::now() + Duration::from_secs(s));
                }
                return Ok(r);
            }
            _ => {}
        }
        if auth.as_deref() != Some(&format!("Bearer {}", self.opts.api_key)) {
            return Ok(error(
                StatusCode::UNAUTHORIZED,
                40100,
                "Unauthorized",
                "bad API key",
            ));
        }
        let body = req
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        let id = path.split('/').nth(3).unwrap_or("").to_string();
        Ok(match route {
            "upload" => self.init(&body),
            "chunk" => self.chunk(&id, offset.as_deref(), body),
            "finish" => self.finish(&id),
            _ => self.clone().scan(&id, &body).await,
        })
    }

    /// Token bucket: `rate` per second, bursts of `rate`.
    fn take_token(&self, inner: &mut Inner) -> bool {
        let Some(rate) = self.opts.rate_limit else {
            return true;
        };
        let (tokens, at) = inner.bucket;
        let now = Instant::now();
        let tokens = (tokens + now.duration_since(at).as_secs_f64() * rate as f64).min(rate as f64);
        if tokens >= 1.0 {
            inner.bucket = (tokens - 1.0, now);
            true
        } else {
            inner.bucket = (tokens, now);
            false
        }
    }

    fn init(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let Some(size) = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["fileSizeBytes"].as_u64())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                40000,
                "Invalid Request",
                "fileSizeBytes is required",
            );
        };
        let mut inner = self.inner.lock().unwrap();
        let id = inner.uuid();
        inner.uploads.insert(
            id.clone(),
            Upload {
                size,
                received: HashSet::new(),
                head: Vec::new(),
                content: Vec::new(),
                finished: false,
                mime: String::new(),
            },
        );
        json_reply(
            StatusCode::OK,
            json!({"id": id, "fileSizeBytes": size, "chunkSize": self.opts.chunk_size, "mimeType": ""}),
        )
    }

    fn chunk(&self, id: &str, offset: Option<&str>, body: Bytes) -> Response<Full<Bytes>> {
        let chunk = self.opts.chunk_size;
        let mut inner = self.inner.lock().unwrap();
        if inner.faults.forget_next_chunks > 0 {
            inner.faults.forget_next_chunks -= 1;
            inner.uploads.remove(id);
        }
        let keep = self.opts.keep_content;
        let mut violation = None;
        let reply = match inner.uploads.get_mut(id) {
            None => error(StatusCode::NOT_FOUND, 40400, "Invalid File ID", ""),
            Some(up) => match offset.and_then(|o| o.parse::<u64>().ok()) {
                None => {
                    violation = Some(format!("chunk without a valid X-Upload-Offset: {offset:?}"));
                    error(
                        StatusCode::BAD_REQUEST,
                        40000,
                        "Invalid Request",
                        "X-Upload-Offset",
                    )
                }
                Some(off) => {
                    let expect = chunk.min(up.size.saturating_sub(off));
                    if off % chunk != 0 || off >= up.size || body.len() as u64 != expect {
                        violation = Some(format!(
                            "chunk at {off} of {} bytes (size {}, chunk {chunk})",
                            body.len(),
                            up.size
                        ));
                        error(
                            StatusCode::BAD_REQUEST,
                            40000,
                            "Invalid Request",
                            "bad chunk",
                        )
                    } else {
                        if off == 0 {
                            up.head = body[..body.len().min(16)].to_vec();
                        }
                        if keep {
                            if up.content.len() < up.size as usize {
                                up.content.resize(up.size as usize, 0);
                            }
                            up.content[off as usize..(off + expect) as usize]
                                .copy_from_slice(&body);
                        }
                        up.received.insert(off);
                        let mut r = Response::new(Full::new(Bytes::new()));
                        *r.status_mut() = StatusCode::NO_CONTENT;
                        r
                    }
                }
            },
        };
        if let Some(v) = violation {
            inner.stats.violations.push(v);
        }
        reply
    }

    fn finish(&self, id: &str) -> Response<Full<Bytes>> {
        let chunk = self.opts.chunk_size;
        let mut inner = self.inner.lock().unwrap();
        let Some(up) = inner.uploads.get_mut(id) else {
            return error(StatusCode::NOT_FOUND, 40400, "Invalid File ID", "");
        };
        let chunks = up.size.div_ceil(chunk);
        if (0..chunks).any(|i| !up.received.contains(&(i * chunk))) {
            return error(
                StatusCode::CONFLICT,
                40900,
                "File Upload in Incorrect State",
                "missing chunks",
            );
        }
        let mime = sniff(&up.head);
        if [
            "audio/midi",
            "audio/wav",
            "video/mp4",
            "application/photoshop",
        ]
        .contains(&mime)
        {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                42200,
                "Unsupported MIME type",
                &format!("files of type {mime} cannot be scanned"),
            );
        }
        up.finished = true;
        up.mime = mime.to_string();
        json_reply(
            StatusCode::OK,
            json!({"id": id, "fileSizeBytes": up.size, "chunkSize": chunk, "mimeType": mime}),
        )
    }

    async fn scan(self: Arc<Self>, id: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let Ok(req) = serde_json::from_slice::<Value>(body) else {
            return error(
                StatusCode::BAD_REQUEST,
                40000,
                "Invalid Request",
                "malformed JSON",
            );
        };
        let policy = &req["policy"];
        let webhook = policy["alertConfig"]["url"]["address"]
            .as_str()
            .filter(|s| !s.is_empty())
            .or_else(|| policy["webhookURL"].as_str().filter(|s| !s.is_empty()))
            .map(str::to_string);
        let Some(webhook) = webhook else {
            return error(
                StatusCode::BAD_REQUEST,
                40015,
                "Invalid Request",
                "no webhook",
            );
        };
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some((status, code, msg)) = inner.faults.refuse_next_scan.take() {
                return error(
                    StatusCode::from_u16(status).unwrap(),
                    code,
                    &msg,
                    "injected",
                );
            }
            match inner.uploads.get(id) {
                None => return error(StatusCode::NOT_FOUND, 40400, "Invalid File ID", ""),
                Some(up) if !up.finished => {
                    return error(
                        StatusCode::CONFLICT,
                        40900,
                        "File Upload in Incorrect State",
                        "not finished",
                    );
                }
                Some(_) => {}
            }
        }
        // The challenge, once per webhook URL.
        let known = self.inner.lock().unwrap().challenged.contains(&webhook);
        if !known {
            let challenge = self.inner.lock().unwrap().uuid().replace('-', "");
            self.inner.lock().unwrap().stats.challenges += 1;
            let answer = self
                .http
                .post(&webhook)
                .header("content-type", "application/json")
                .body(json!({ "challenge": challenge }).to_string())
                .send()
                .await;
            let echoed = match answer {
                Err(_) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        40012,
                        "Webhook URL validation failed",
                        "",
                    );
                }
                Ok(r) => r.status() == 200 && r.text().await.unwrap_or_default() == challenge,
            };
            match echoed {
                false => {
                    return error(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        42201,
                        "Webhook returned incorrect challenge response",
                        "",
                    );
                }
                true => {
                    self.inner
                        .lock()
                        .unwrap()
                        .challenged
                        .insert(webhook.clone());
                }
            }
        }
        let content = {
            let mut inner = self.inner.lock().unwrap();
            *inner.stats.scans.entry(id.to_string()).or_default() += 1;
            let up = inner.uploads.get(id).unwrap();
            let content = if self.opts.keep_content {
                up.content.clone()
            } else {
                Vec::new()
            };
            let sha = dlpd::fsutil::sha256_hex(&content);
            *inner.stats.scans_by_content.entry(sha).or_default() += 1;
            inner.stats.rule_names = req["policy"]["detectionRules"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["name"].as_str().unwrap_or("").to_string())
                .collect();
            content
        };
        let findings = self.detect(&req, &content);
        let metadata = req["requestMetadata"].as_str().unwrap_or("").to_string();
        let reply = json_reply(
            StatusCode::OK,
            json!({"id": id, "message": "scan initiated"}),
        );
        let (id, state) = (id.to_string(), self.clone());
        tokio::spawn(async move { state.notify(id, webhook, metadata, findings).await });
        reply
    }

    /// Runs dlpd's local engine with the request's inline rule.
    fn detect(&self, req: &Value, content: &[u8]) -> Vec<Value> {
        let mut cfg = ScannerConfig {
            context_bytes: self.opts.context_bytes,
            max_file_bytes: u64::MAX,
            ..ScannerConfig::default()
        };
        // Every inline rule runs as a rule, with its own thresholds;
        // findings carry their detector's display name, as Nightfall's do.
        let specs: Vec<RuleSpec> =
            serde_json::from_value(req["policy"]["detectionRules"].clone()).unwrap_or_default();
        if specs.is_empty() {
            return Vec::new();
        }
        let mut names: HashMap<DetectorId, String> = HashMap::new();
        for d in specs.iter().filter_map(|r| r.detectors.as_ref()).flatten() {
            if let (Some(id), Some(display)) = (
                d.nightfall_detector.as_deref().and_then(DetectorId::parse),
                d.display_name.as_ref().filter(|n| !n.is_empty()),
            ) {
                names.insert(id, display.clone());
            }
        }
        cfg.detectors.clear();
        cfg.rules = RuleSet::new(specs).expect("the inline rules compile");
        LocalEngine::new(&cfg)
            .scan_bytes(content)
            .into_iter()
            .map(|f| {
                let name = f
                    .detector
                    .builtin()
                    .and_then(|id| names.get(&id).cloned())
                    .unwrap_or_else(|| f.detector.as_str().into());
                let mut obj = json!({
                    "path": "",
                    "detector": {"id": detector_uuid(&f.detector), "uuid": detector_uuid(&f.detector), "name": name},
                    "finding": f.value.raw,
                    "confidence": f.confidence.as_str(),
                    "location": {
                        "byteRange": {"start": f.byte_start, "end": f.byte_end},
                        "codepointRange": {"start": f.byte_start, "end": f.byte_end},
                        "lineRange": {"start": f.line_start, "end": f.line_end},
                        "rowRange": null, "columnRange": null
                    },
                    "matchedDetectionRuleUUIDs": [],
                    "matchedDetectionRules": [],
                });
                if !f.before.raw.is_empty() {
                    obj["beforeContext"] = json!(f.before.raw);
                }
                if !f.after.raw.is_empty() {
                    obj["afterContext"] = json!(f.after.raw);
                }
                if let Some(kind) = f.kind {
                    obj["findingMetadata"] = json!({"apiKeyMetadata": {"status": "UNVERIFIED", "kind": kind, "description": ""}});
                }
                obj
            })
            .collect()
    }

    async fn notify(&self, id: String, webhook: String, metadata: String, findings: Vec<Value>) {
        let valid_until = "2099-01-01T00:00:00.000000000Z";
        let url = if findings.is_empty() {
            String::new()
        } else {
            let token = self.inner.lock().unwrap().uuid();
            self.inner
                .lock()
                .unwrap()
                .findings
                .insert(token.clone(), json!({ "findings": findings }));
            format!(
                "{}/findings/{token}.json?Expires=4070908800&Signature=sig&Key-Pair-Id=K",
                self.base
            )
        };
        let body = json!({
            "findingsURL": url,
            "validUntil": valid_until,
            "uploadID": id,
            "findingsPresent": !findings.is_empty(),
            "requestMetadata": metadata,
            "errors": [],
        })
        .to_string()
        .into_bytes();
        let (times, hold) = {
            let mut inner = self.inner.lock().unwrap();
            if inner.faults.lose_next_results > 0 {
                inner.faults.lose_next_results -= 1;
                return;
            }
            (
                if inner.faults.duplicate_results { 2 } else { 1 },
                inner.faults.hold_results,
            )
        };
        if hold {
            self.inner.lock().unwrap().held.push((webhook, body));
            return;
        }
        for _ in 0..times {
            self.deliver(&webhook, body.clone()).await;
        }
    }

    async fn deliver(&self, webhook: &str, body: Vec<u8>) {
        let ts = unix_now().to_string();
        let sig = dlpd::nightfall::signature::sign(
            &Secret::new(self.opts.signing_secret.clone()),
            &ts,
            &body,
        );
        let status = self
            .http
            .post(webhook)
            .header("content-type", "application/json")
            .header("X-Nightfall-Timestamp", ts)
            .header("X-Nightfall-Signature", sig)
            .body(body)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        self.inner.lock().unwrap().stats.deliveries.push(status);
    }

    fn findings(&self, req: &Request<Incoming>, path: &str) -> Response<Full<Bytes>> {
        let mut inner = self.inner.lock().unwrap();
        if req.headers().contains_key("authorization") {
            inner
                .stats
                .violations
                .push("findings URL fetched with an Authorization header".into());
        }
        if inner.faults.fail_next_findings > 0 {
            inner.faults.fail_next_findings -= 1;
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                50000,
                "Internal Server Error",
                "injected",
            );
        }
        let token = path
            .trim_start_matches("/findings/")
            .trim_end_matches(".json");
        match inner.findings.get(token).cloned() {
            Some(doc) => {
                inner.stats.findings_fetched += 1;
                json_reply(StatusCode::OK, doc)
            }
            None => error(StatusCode::NOT_FOUND, 40400, "Not Found", ""),
        }
    }
}

impl Inner {
    /// xorshift64*: plenty for fault injection.
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545F4914F6CDD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn uuid(&mut self) -> String {
        let hex: String = (0..4)
            .map(|_| format!("{:08x}", (self.random() * u32::MAX as f64) as u32))
            .collect();
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }
}

fn detector_uuid(d: &Detector) -> &'static str {
    match d.builtin() {
        Some(DetectorId::CreditCardNumber) => "74c1815e-c0c3-4df5-8b1e-6cf98864a454",
        Some(DetectorId::UsSocialSecurityNumber) => "e30d9a87-f6c7-46b9-a8f4-16547901e069",
        Some(DetectorId::ApiKey) => "0e95732f-bc5c-448f-9d15-bd1417177360",
        _ => "00000000-0000-4000-a000-000000000000",
    }
}

/// The MIME types the service refuses, by their magic bytes.
fn sniff(head: &[u8]) -> &'static str {
    if head.starts_with(b"MThd") {
        "audio/midi"
    } else if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WAVE") {
        "audio/wav"
    } else if head.get(4..8) == Some(b"ftyp") {
        "video/mp4"
    } else if head.starts_with(b"8BPS") {
        "application/photoshop"
    } else {
        "text/plain"
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn json_reply(status: StatusCode, v: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// Every error is JSON, as Nightfall's are.
fn error(status: StatusCode, code: i64, message: &str, description: &str) -> Response<Full<Bytes>> {
    json_reply(
        status,
        json!({"code": code, "message": message, "description": description, "additionalData": {}}),
    )
}

/// A daemon on the Nightfall engine pointed at `fake`, with its secrets in
/// the environment; `scanner` and `nightfall` are extra lines for those
/// sections, `tail` extra sections. Returns it with its webhook port.
pub fn daemon(
    fake: &FakeNightfall,
    opts: &Options,
    scanner: &str,
    nightfall: &str,
    tail: &str,
) -> (super::daemon::Daemon, u16) {
    let port = free_port();
    // Fast unless the caller sets a rate.
    let rate = match nightfall.contains("requests_per_second") {
        true => "",
        false => "requests_per_second = 500",
    };
    let mut d = super::daemon::Daemon::new(&format!(
        "[scanner]\nengine = \"nightfall\"\n{scanner}\n\
         [nightfall]\napi_url = \"{}\"\nwebhook_url = \"http://127.0.0.1:{port}/ingest\"\n\
         {rate}\n{nightfall}\n\
         [webhook]\nlisten = \"127.0.0.1:{port}\"\n{tail}",
        fake.url
    ));
    d.env = vec![
        ("NIGHTFALL_API_KEY".into(), opts.api_key.clone()),
        (
            "NIGHTFALL_SIGNING_SECRET".into(),
            opts.signing_secret.clone(),
        ),
    ];
    (d, port)
}

/// A free loopback port for the daemon's webhook listener.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
