//! A fake Slack Web API on loopback, speaking what dlpd's bot uses:
//! `files.getUploadURLExternal`, the upload URL it hands out,
//! `files.completeUploadExternal` and `chat.postMessage`, with bearer auth
//! and Slack's `{"ok": false, "error": …}` answers.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::sink::{Received, serve};

pub const BOT_TOKEN: &str = "xoxb-test-5c1e";
pub const CHANNEL: &str = "C0DLPD";

/// A file shared in a channel.
#[derive(Debug, Clone)]
pub struct Shared {
    pub file_id: String,
    pub channel: String,
    pub comment: String,
    pub bytes: Vec<u8>,
}

#[derive(Default)]
struct State {
    /// Upload URLs handed out: file id, the length announced, the bytes.
    uploads: HashMap<String, (usize, Option<Vec<u8>>)>,
    shared: Vec<Shared>,
    messages: Vec<Value>,
    requests: Vec<Received>,
}

pub struct FakeSlack {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FakeSlack {
    pub fn start() -> FakeSlack {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let st = state.clone();
        serve(listener, stop.clone(), move |mut stream, req| {
            let mut s = st.lock().unwrap();
            s.requests.push(req.clone());
            let body = handle(&mut s, &req, port).to_string();
            drop(s);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        });
        FakeSlack { port, state, stop }
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    pub fn shared(&self) -> Vec<Shared> {
        self.state.lock().unwrap().shared.clone()
    }

    pub fn messages(&self) -> Vec<Value> {
        self.state.lock().unwrap().messages.clone()
    }

    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn handle(s: &mut State, req: &Received, port: u16) -> Value {
    let fail = |error: &str| json!({"ok": false, "error": error});
    if let Some(id) = req.path.strip_prefix("/upload/") {
        // The upload URL is signed: no token goes there.
        return match s.uploads.get_mut(id) {
            Some((len, bytes)) if *len == req.raw.len() => {
                *bytes = Some(req.raw.clone());
                json!({"ok": true})
            }
            _ => fail("invalid_upload"),
        };
    }
    let authed = req
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && *v == format!("Bearer {BOT_TOKEN}"));
    if !authed {
        return fail("invalid_auth");
    }
    match req.path.as_str() {
        "/api/files.getUploadURLExternal" => {
            let form: HashMap<String, String> = req
                .body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let Some(len) = form.get("length").and_then(|l| l.parse().ok()) else {
                return fail("invalid_arguments");
            };
            if form.get("filename").is_none_or(|f| f.is_empty()) {
                return fail("invalid_arguments");
            }
            let id = format!("F{:04}", s.uploads.len() + 1);
            s.uploads.insert(id.clone(), (len, None));
            json!({"ok": true, "upload_url": format!("http://127.0.0.1:{port}/upload/{id}"), "file_id": id})
        }
        "/api/files.completeUploadExternal" => {
            let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
                return fail("invalid_json");
            };
            let id = body["files"][0]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let Some((_, Some(bytes))) = s.uploads.get(&id) else {
                return fail("file_not_found");
            };
            let bytes = bytes.clone();
            if body["channel_id"] != CHANNEL {
                return fail("channel_not_found");
            }
            s.shared.push(Shared {
                file_id: id.clone(),
                channel: CHANNEL.into(),
                comment: body["initial_comment"].as_str().unwrap_or_default().into(),
                bytes,
            });
            json!({"ok": true, "files": [{"id": id}]})
        }
        "/api/chat.postMessage" => {
            let Ok(body) = serde_json::from_str::<Value>(&req.body) else {
                return fail("invalid_json");
            };
            if body["channel"] != CHANNEL {
                return fail("channel_not_found");
            }
            s.messages.push(body);
            json!({"ok": true, "ts": format!("1700000000.{:06}", s.messages.len())})
        }
        _ => fail("unknown_method"),
    }
}
