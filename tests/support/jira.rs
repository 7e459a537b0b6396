//! A fake Jira Cloud on loopback speaking the two endpoints dlpd uses:
//! `POST /rest/api/3/search/jql` and `POST /rest/api/3/issue`, with basic
//! auth, Jira's validation of the fields dlpd sends (project, issue type,
//! one-line summary, ADF description, labels without spaces, a known
//! priority), and its error shape.
//!
//! Like the real service, its search lags behind its creates (`lag`).
//! Faults are scripted per request: a status with an optional
//! `Retry-After`, a create that happens but whose answer is lost, or a
//! request that is carried out and then never answered (the connection
//! stays open).

use std::collections::VecDeque;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::sink::{Received, serve};

/// One scripted answer, used by the next request.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Answer with this status (and `Retry-After` seconds).
    Status(u16, Option<u64>),
    /// The next create: the issue is created and the connection dropped
    /// without an answer. Requests before it are served.
    LoseCreateAnswer,
    /// The next create: the issue is created and the connection held
    /// open without an answer.
    StallCreate,
    /// The next request: carried out, and never answered.
    Stall,
}

impl Fault {
    /// Whether the fault waits in the script for a create.
    fn for_create(self) -> bool {
        matches!(self, Fault::LoseCreateAnswer | Fault::StallCreate)
    }
}

/// An issue the fake holds.
#[derive(Debug, Clone)]
pub struct Issue {
    pub key: String,
    pub fields: Value,
    created: Instant,
}

struct State {
    issues: Vec<Issue>,
    script: VecDeque<Fault>,
    requests: Vec<Received>,
    /// Connections held open without an answer.
    held: Vec<std::net::TcpStream>,
}

/// A running fake; stops when dropped.
pub struct FakeJira {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

/// The project key the fake knows.
pub const PROJECT: &str = "SEC";
/// The account and token it accepts.
pub const EMAIL: &str = "dlpd@example.com";
pub const TOKEN: &str = "jira-token-Zm9vYmFy";

impl FakeJira {
    /// A fake whose search sees an issue only `lag` after its create.
    pub fn start(lag: Duration) -> FakeJira {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            issues: Vec::new(),
            script: VecDeque::new(),
            requests: Vec::new(),
            held: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let st = state.clone();
        serve(listener, stop.clone(), move |mut stream, req| {
            let mut s = st.lock().unwrap();
            s.requests.push(req.clone());
            let create = req.path.ends_with("/issue");
            // A create's fault waits in the script for a create.
            let fault = match s.script.front() {
                Some(f) if f.for_create() && !create => None,
                _ => s.script.pop_front(),
            };
            let answer = match fault {
                Some(Fault::Status(code, retry)) => Some((code, json!({}), retry)),
                Some(Fault::LoseCreateAnswer) => {
                    let _ = handle(&mut s, &req, lag);
                    None
                }
                Some(Fault::Stall | Fault::StallCreate) => {
                    let _ = handle(&mut s, &req, lag);
                    s.held.push(stream);
                    return;
                }
                _ => {
                    let (code, body) = handle(&mut s, &req, lag);
                    Some((code, body, None))
                }
            };
            drop(s);
            let Some((code, body, retry)) = answer else {
                // Dropped: the client never hears whether it worked.
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            };
            let body = body.to_string();
            let retry = retry
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{retry}\r\n{body}",
                body.len()
            );
        });
        FakeJira { port, state, stop }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The next requests meet these faults, in order.
    pub fn script(&self, faults: &[Fault]) {
        self.state.lock().unwrap().script.extend(faults);
    }

    pub fn issues(&self) -> Vec<Issue> {
        self.state.lock().unwrap().issues.clone()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeJira {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Jira's answer to one request.
fn handle(s: &mut State, req: &Received, lag: Duration) -> (u16, Value) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    let expected = format!("Basic {basic}");
    let auth = req.headers.iter().find(|(k, _)| k == "authorization");
    if auth.is_none_or(|(_, v)| *v != expected) {
        return (
            401,
            json!({ "errorMessages": ["You are not authenticated."] }),
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
        return (
            400,
            json!({ "errorMessages": ["Invalid request payload."] }),
        );
    };
    match req.path.as_str() {
        "/rest/api/3/search/jql" => {
            let jql = body["jql"].as_str().unwrap_or_default();
            let Some(label) = jql
                .strip_prefix(&format!("project = \"{PROJECT}\" AND labels = \""))
                .and_then(|l| l.strip_suffix('"'))
            else {
                return (
                    400,
                    json!({ "errorMessages": [format!("Error in the JQL Query: {jql}")] }),
                );
            };
            let found: Vec<Value> = s
                .issues
                .iter()
                .filter(|i| i.created.elapsed() >= lag)
                .filter(|i| i.fields["labels"].as_array().is_some_and(|l| l.iter().any(|x| x == label)))
                .map(|i| json!({ "id": i.key.trim_start_matches("SEC-"), "key": i.key, "fields": { "summary": i.fields["summary"] } }))
                .collect();
            (200, json!({ "issues": found, "isLast": true }))
        }
        "/rest/api/3/issue" => {
            let f = &body["fields"];
            let mut errors = serde_json::Map::new();
            if f["project"]["key"] != PROJECT {
                errors.insert("project".into(), "valid project is required".into());
            }
            if !f["issuetype"]["name"].is_string() {
                errors.insert("issuetype".into(), "valid issue type is required".into());
            }
            let summary = f["summary"].as_str().unwrap_or_default();
            if summary.is_empty() || summary.len() > 255 || summary.contains('\n') {
                errors.insert(
                    "summary".into(),
                    "Summary must be one line of 1 to 255 characters.".into(),
                );
            }
            if f["description"]["type"] != "doc" || f["description"]["version"] != 1 {
                errors.insert(
                    "description".into(),
                    "Operation value must be an Atlassian Document.".into(),
                );
            }
            let labels_ok = f["labels"].as_array().is_some_and(|l| {
                l.iter().all(|x| {
                    x.as_str()
                        .is_some_and(|x| !x.is_empty() && !x.contains(' '))
                })
            });
            if !labels_ok {
                errors.insert("labels".into(), "Labels cannot contain spaces.".into());
            }
            if let Some(p) = f.get("priority") {
                let known = ["Highest", "High", "Medium", "Low", "Lowest"];
                if !p["name"].as_str().is_some_and(|n| known.contains(&n)) {
                    errors.insert("priority".into(), "Specify a valid priority.".into());
                }
            }
            if !errors.is_empty() {
                return (400, json!({ "errorMessages": [], "errors": errors }));
            }
            let key = format!("{PROJECT}-{}", s.issues.len() + 1);
            s.issues.push(Issue {
                key: key.clone(),
                fields: f.clone(),
                created: Instant::now(),
            });
            (
                201,
                json!({ "id": s.issues.len().to_string(), "key": key, "self": format!("/rest/api/3/issue/{key}") }),
            )
        }
        other => (
            404,
            json!({ "errorMessages": [format!("no endpoint {other}")] }),
        ),
    }
}
