//! A real headless Chromium, driven through ChromeDriver's W3C WebDriver
//! HTTP API (Debian's `chromium` and `chromium-driver`, installed by
//! `.ci/run`). Only what the dashboard tests use: open a page, find
//! elements, type, click, read text and the page source, run a script,
//! take a screenshot.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::wait_for;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A browser session; the driver and the browser end when it is dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

/// An element found on the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

/// Whether the browser is installed. Under CI it must be: `.ci/run`
/// installs it, and a suite that skipped its browser tests there would
/// pass without testing the dashboard.
pub fn available() -> bool {
    let there = Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists();
    if !there && std::env::var_os("CI").is_some() {
        panic!("CI must run the browser tests: install chromium and chromium-driver");
    }
    if !there {
        eprintln!(
            "skipped: the browser tests need chromium and chromium-driver (apt-get install chromium chromium-driver)"
        );
    }
    there
}

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium with a
    /// fresh profile and nothing reaching out to the network.
    pub fn start() -> Browser {
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let up = wait_for(Duration::from_secs(30), || {
            call_at(port, "GET", "/status", None).is_ok_and(|v| v["value"]["ready"] == true)
        });
        assert!(up, "chromedriver did not come up");
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--window-size=1280,900",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let answer = call_at(port, "POST", "/session", Some(&caps)).expect("a session");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let answer = call_at(self.port, method, &path, body).unwrap();
        if answer["value"]["error"].is_string() {
            panic!("{method} {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(&json!({ "url": url })));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn source(&self) -> String {
        self.call("GET", "/source", None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The first element `css` selects, if any.
    pub fn find(&self, css: &str) -> Option<Element<'_>> {
        let path = format!("/session/{}/element", self.session);
        let body = json!({"using": "css selector", "value": css});
        let answer = call_at(self.port, "POST", &path, Some(&body)).ok()?;
        // The element's reference is the one value of the object.
        let id = answer["value"]
            .as_object()?
            .values()
            .next()?
            .as_str()?
            .to_string();
        Some(Element { browser: self, id })
    }

    /// The element `css` selects, waiting for it to appear.
    pub fn wait(&self, css: &str) -> Element<'_> {
        assert!(
            wait_for(Duration::from_secs(20), || self.find(css).is_some()),
            "no {css} on {}:\n{}",
            self.url(),
            self.source()
        );
        self.find(css).unwrap()
    }

    /// Runs `script` in the page and returns its value.
    pub fn run(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(&json!({"script": script, "args": []})),
        )
    }

    /// Saves a PNG of the window.
    pub fn screenshot(&self, to: &Path) {
        use base64::Engine;
        let b64 = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .unwrap();
        std::fs::write(to, png).unwrap();
    }
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}{what}", self.id)
    }

    pub fn click(&self) {
        self.browser
            .call("POST", &self.path("/click"), Some(&json!({})));
    }

    pub fn type_text(&self, text: &str) {
        self.browser
            .call("POST", &self.path("/value"), Some(&json!({ "text": text })));
    }

    pub fn text(&self) -> String {
        self.browser
            .call("GET", &self.path("/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        let _ = call_at(self.port, "DELETE", &path, None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// One WebDriver request over HTTP/1.1. ChromeDriver now and then drops a
/// connection it has just accepted, before answering (the request's write
/// fails with EPIPE, or the answer is an empty close): nothing was done
/// for it, so it is sent again on a new connection, a few times.
fn call_at(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let mut tries = 0;
    loop {
        tries += 1;
        match exchange(port, method, path, body) {
            // Not one that is down or slow: those are the caller's to wait for.
            Err(Unanswered(e)) if tries < 5 && !slow_or_down(&e) => {}
            Err(Unanswered(e)) => return Err(e),
            Ok(answer) => return answer,
        }
    }
}

fn slow_or_down(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionRefused, TimedOut, WouldBlock};
    matches!(e.kind(), ConnectionRefused | TimedOut | WouldBlock)
}

/// A request that got no byte of an answer.
struct Unanswered(std::io::Error);

fn exchange(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<std::io::Result<Value>, Unanswered> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(Unanswered)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(Unanswered)?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(Unanswered)?;
    // ChromeDriver keeps the connection open whatever the request says:
    // read the head, then exactly Content-Length bytes.
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let n = match s.read(&mut buf) {
            Ok(0) if answer.is_empty() => {
                return Err(Unanswered(std::io::Error::other(
                    "chromedriver closed the connection",
                )));
            }
            Err(e) if answer.is_empty() => return Err(Unanswered(e)),
            Ok(0) => {
                return Ok(Err(std::io::Error::other(
                    "chromedriver closed the connection mid-answer",
                )));
            }
            Err(e) => return Ok(Err(e)),
            Ok(n) => n,
        };
        answer.extend_from_slice(&buf[..n]);
        if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while answer.len() < head_end + length {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&answer[head_end..]);
    Ok(serde_json::from_str(&body).map_err(|e| std::io::Error::other(format!("{e}: {body}"))))
}
