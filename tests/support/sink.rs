//! A real HTTP sink on loopback for alert tests: records every request and
//! answers from a script (a status and an optional `Retry-After`), then 200.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The body's bytes.
    pub raw: Vec<u8>,
}

/// Scripted answers: an HTTP status and an optional `Retry-After`.
type Script = Arc<Mutex<VecDeque<(u16, Option<u64>)>>>;

/// A running sink; stops when dropped.
pub struct Sink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    script: Script,
    stop: Arc<AtomicBool>,
}

impl Sink {
    /// A sink on `port` (0: any free port).
    pub fn start_on(port: u16) -> Sink {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, sc) = (received.clone(), script.clone());
        serve(listener, stop.clone(), move |mut stream, got| {
            r.lock().unwrap().push(got);
            let (status, retry) = sc.lock().unwrap().pop_front().unwrap_or((200, None));
            let retry = retry
                .map(|s| format!("Retry-After: {s}\r\n"))
                .unwrap_or_default();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n{retry}\r\nok"
            );
        });
        Sink {
            port,
            received,
            script,
            stop,
        }
    }

    /// The next requests get these answers, in order.
    pub fn answer(&self, status: u16, retry_after: Option<u64>) {
        self.script.lock().unwrap().push_back((status, retry_after));
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request (its line, headers and a Content-Length
/// body) from `stream`.
/// Serves `listener` on a thread of its own until `stop` is set: each
/// request is read and handed, with its connection, to `handle`. The
/// fakes' common loop.
pub fn serve(
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    mut handle: impl FnMut(std::net::TcpStream, Received) + Send + 'static,
) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let Ok(stream) = stream else { continue };
            if let Some(req) = read_request(&stream) {
                handle(stream, req);
            }
        }
    });
}

pub fn read_request(stream: &std::net::TcpStream) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut len = 0;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                len = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    Some(Received {
        at: Instant::now(),
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        raw: body,
    })
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}
