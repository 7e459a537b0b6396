//! PDF: the text of each page ([`text`]), so a number drawn by a content
//! stream is found like one in a text file. Findings name their page;
//! ranges are within the extracted text.
//!
//! The parser (lopdf) cannot be bounded from outside: it inflates a
//! stream whole, so a 1 MB file can ask for gigabytes. In `dlpd` itself (see
//! [`isolate_with`]) each PDF is therefore parsed in a child process, the
//! same binary (`dlpd pdf-text`), under an address-space limit
//! ([`CHILD_MEMORY`]) and a CPU-time budget that grows with the file
//! ([`cpu_budget`]), so that a few slow PDFs cannot take a tree's scan
//! time; a child that dies of either is a skip reason, never the daemon's
//! abort. Library users that do not ask for it (tests, benches) parse in
//! process.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Once, OnceLock};

mod filters;
mod fonts;
mod lexer;
mod strings;
mod text;

/// The executable that parses PDFs in a child, once set.
static HELPER: OnceLock<PathBuf> = OnceLock::new();
/// Address space a PDF parsing child may map.
pub const CHILD_MEMORY: u64 = 384 << 20;
/// The most CPU seconds a PDF parsing child may use, whatever its size.
pub const CHILD_CPU: u64 = 30;

/// CPU seconds for parsing a PDF of `len` bytes: two, and one more per
/// MB. Real documents are read at tens of MB/s; one that needs more is
/// hostile or pathological, and is skipped saying so. An unoptimised build (the
/// tests') parses several times slower, and gets several times the time.
pub fn cpu_budget(len: usize) -> u64 {
    let slower = if cfg!(debug_assertions) { 4 } else { 1 };
    (slower * (2 + len as u64 / (1 << 20))).min(CHILD_CPU)
}
/// Most text read back from a child.
const MAX_TEXT: usize = 64 << 20;

thread_local! {
    /// Set while this thread runs the parser, whose panics are expected.
    static PARSING: Cell<bool> = const { Cell::new(false) };
}

/// What the first bytes say: a PDF starts with its header (some writers
/// put a little junk first; the header must still be near the start).
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 5
        && crate::engine::local::bytes::contains(&head[..head.len().min(1024)], b"%PDF-")
}

/// Every page's text, one after another, and where each page starts;
/// then the document's other strings (form fields, notes, properties).
#[derive(Debug, Default)]
pub struct Pages {
    pub text: String,
    starts: Vec<usize>,
    /// Where the text outside the pages starts, if there is any.
    strings_from: Option<usize>,
    /// The content streams that could not be read, and why (`page 2:
    /// …`): the text may not be all the document holds.
    unread: Vec<String>,
}

/// Where the text of a finding found in [`Pages::text`] was.
pub const OUTSIDE_PAGES: &str = "fields, notes and properties";

impl Pages {
    /// What could not be read, if anything: see [`Pages`].
    pub fn unread(&self) -> &[String] {
        &self.unread
    }

    /// Where a byte of [`text`](Self::text) is: `page 3`, or
    /// [`OUTSIDE_PAGES`].
    pub fn place_of(&self, offset: usize) -> String {
        match self.strings_from {
            Some(from) if offset >= from => OUTSIDE_PAGES.into(),
            _ => format!(
                "page {}",
                self.starts.partition_point(|s| *s <= offset).max(1)
            ),
        }
    }
}

/// Why no text could be extracted from a PDF.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PdfError(String);

impl PdfError {
    /// The text passed `max` bytes, the most one document may give.
    fn too_much_text(max: usize) -> PdfError {
        PdfError(format!("more than {} MiB of text", max >> 20))
    }
}

/// Extracts the text of a whole PDF held in memory. A damaged or
/// encrypted PDF is an error saying so; the parser's own panics on
/// hostile input are caught and become errors too.
pub fn pages(bytes: &[u8]) -> Result<Pages, PdfError> {
    quiet_parser_panics();
    PARSING.with(|p| p.set(true));
    let extracted = catch_unwind(AssertUnwindSafe(|| text::extract(bytes, MAX_TEXT)));
    PARSING.with(|p| p.set(false));
    extracted.map_err(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        PdfError(format!(
            "damaged or unsupported (the parser stopped at: {why})"
        ))
    })?
}

/// Parses every PDF from now on in a child process running `exe
/// pdf-text`, with the limits above.
pub fn isolate_with(exe: PathBuf) {
    let _ = HELPER.set(exe);
}

/// [`pages`], in a bounded child process when [`isolate_with`] was called.
pub fn pages_bounded(bytes: &[u8]) -> Result<Pages, PdfError> {
    match HELPER.get() {
        Some(exe) => in_child(exe, bytes),
        None => pages(bytes),
    }
}

fn in_child(exe: &std::path::Path, bytes: &[u8]) -> Result<Pages, PdfError> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(exe);
    cmd.arg("pdf-text")
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let cpu = cpu_budget(bytes.len());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs here.
    unsafe {
        cmd.pre_exec(move || {
            let limit = |what, n: u64| {
                let r = libc::rlimit {
                    rlim_cur: n as libc::rlim_t,
                    rlim_max: n as libc::rlim_t,
                };
                if libc::setrlimit(what, &r) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            };
            limit(libc::RLIMIT_AS, CHILD_MEMORY)?;
            limit(libc::RLIMIT_CPU, cpu)?;
            limit(libc::RLIMIT_CORE, 0)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| PdfError(format!("cannot start the PDF parser process: {e}")))?;
    let (mut stdin, stdout) = (child.stdin.take(), child.stdout.take());
    let mut out = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(mut w) = stdin.take() {
                // A child that died early closes the pipe; its status says why.
                let _ = w.write_all(bytes);
            }
        });
        if let Some(r) = stdout {
            let _ = r.take(MAX_TEXT as u64 + 16).read_to_end(&mut out);
        }
    });
    if out.len() > MAX_TEXT {
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| PdfError(format!("the PDF parser process: {e}")))?;
    if out.len() > MAX_TEXT {
        return Err(PdfError::too_much_text(MAX_TEXT));
    }
    if !status.success() {
        // Running out of memory aborts a Rust process (as does a stack
        // overflow, which the parser's depth limits leave to a bug).
        return Err(PdfError(match status.signal() {
            Some(libc::SIGXCPU) | Some(libc::SIGKILL) => {
                format!("parsing it took more than {cpu} s of CPU, its time budget")
            }
            Some(libc::SIGABRT) => format!(
                "parsing it needs more than {} MiB of memory (a compression bomb?)",
                CHILD_MEMORY >> 20
            ),
            _ => format!(
                "the PDF parser process failed ({status}; dlpd's own error, please report it)"
            ),
        }));
    }
    decode(&out)
}

/// `dlpd pdf-text`: reads a PDF on stdin, writes its pages (or why not)
/// on stdout for [`in_child`].
pub fn child_main() -> u8 {
    let mut bytes = Vec::new();
    if io::stdin().read_to_end(&mut bytes).is_err() {
        return 2;
    }
    let mut out = Vec::new();
    match pages(&bytes) {
        Ok(p) => {
            out.push(b'O');
            // Each page's length and text; then, each after its marker,
            // the strings outside the pages and what was not read.
            let section = |out: &mut Vec<u8>, body: &[u8]| {
                out.extend_from_slice(&(body.len() as u64).to_le_bytes());
                out.extend_from_slice(body);
            };
            let pages_end = p.strings_from.unwrap_or(p.text.len());
            for (i, start) in p.starts.iter().enumerate() {
                let end = p.starts.get(i + 1).copied().unwrap_or(pages_end);
                section(&mut out, &p.text.as_bytes()[*start..end]);
            }
            if let Some(from) = p.strings_from {
                out.extend_from_slice(&STRINGS.to_le_bytes());
                section(&mut out, &p.text.as_bytes()[from..]);
            }
            if !p.unread.is_empty() {
                out.extend_from_slice(&UNREAD.to_le_bytes());
                section(&mut out, p.unread.join("\n").as_bytes());
            }
        }
        Err(e) => {
            out.push(b'E');
            out.extend_from_slice(e.0.as_bytes());
        }
    }
    match io::stdout().lock().write_all(&out) {
        Ok(()) => 0,
        Err(_) => 2,
    }
}

/// The lengths [`child_main`] writes before the strings outside the pages
/// and before what was not read: no page is this long.
const STRINGS: u64 = u64::MAX;
const UNREAD: u64 = u64::MAX - 1;

/// A length [`child_main`] wrote, and what follows it.
fn length(rest: &[u8]) -> Option<(u64, &[u8])> {
    let (len, tail) = rest.split_at_checked(8)?;
    Some((u64::from_le_bytes(len.try_into().ok()?), tail))
}

/// Reads what [`child_main`] wrote.
fn decode(out: &[u8]) -> Result<Pages, PdfError> {
    let bad = || PdfError("the PDF parser process answered nonsense".into());
    match out.split_first() {
        Some((b'E', why)) => Err(PdfError(String::from_utf8_lossy(why).into_owned())),
        Some((b'O', mut rest)) => {
            let mut pages = Pages::default();
            while !rest.is_empty() {
                let (len, tail) = length(rest).ok_or_else(bad)?;
                let marker = matches!(len, STRINGS | UNREAD).then_some(len);
                let (len, tail) = match marker {
                    Some(_) => length(tail).ok_or_else(bad)?,
                    None => (len, tail),
                };
                let len = usize::try_from(len).map_err(|_| bad())?;
                let (body, tail) = tail.split_at_checked(len).ok_or_else(bad)?;
                let body = std::str::from_utf8(body).map_err(|_| bad())?;
                // Pages, then the strings, then what was not read; once each.
                let (strings, unread) = (pages.strings_from.is_some(), !pages.unread.is_empty());
                match marker {
                    None if !strings && !unread => pages.starts.push(pages.text.len()),
                    Some(STRINGS) if !strings && !unread => {
                        pages.strings_from = Some(pages.text.len());
                    }
                    Some(UNREAD) if !unread => {
                        pages.unread = body.lines().map(str::to_string).collect();
                        rest = tail;
                        continue;
                    }
                    _ => return Err(bad()),
                }
                pages.text.push_str(body);
                rest = tail;
            }
            Ok(pages)
        }
        _ => Err(bad()),
    }
}

/// The parser panics on some hostile input; those panics are caught and
/// reported as skip reasons, so the default hook must not print them as
/// crashes. Every other panic still reaches the previous hook.
fn quiet_parser_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !PARSING.with(Cell::get) {
                previous(info);
            }
        }));
    });
}
