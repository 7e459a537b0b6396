//! PDF: the text of each page, through pdf-extract (pure Rust, on lopdf),
//! so a number drawn by a content stream is found like one in a text file.
//! Findings name their page; ranges are within the extracted text.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs the parser, whose panics are expected.
    static PARSING: Cell<bool> = const { Cell::new(false) };
}

/// What the first bytes say: a PDF starts with its header (some writers
/// put a little junk first; the header must still be near the start).
pub fn sniff(head: &[u8]) -> bool {
    head.len() >= 5 && memchr::memmem::find(&head[..head.len().min(1024)], b"%PDF-").is_some()
}

/// Every page's text, one after another, and where each page starts.
#[derive(Debug, Default)]
pub struct Pages {
    pub text: String,
    starts: Vec<usize>,
}

impl Pages {
    /// The 1-based page a byte of [`text`](Self::text) is on.
    pub fn page_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|s| *s <= offset).max(1)
    }
}

/// Why no text could be extracted from a PDF.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PdfError(String);

/// Extracts the text of a whole PDF held in memory. A damaged or
/// encrypted PDF is an error saying so; the parser's own panics on
/// hostile input are caught and become errors too.
pub fn pages(bytes: &[u8]) -> Result<Pages, PdfError> {
    quiet_parser_panics();
    PARSING.with(|p| p.set(true));
    let extracted = catch_unwind(AssertUnwindSafe(|| {
        pdf_extract::extract_text_from_mem_by_pages(bytes)
    }));
    PARSING.with(|p| p.set(false));
    let extracted = extracted
        .map_err(|panic| {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            PdfError(format!(
                "damaged or unsupported (the parser stopped at: {why})"
            ))
        })?
        .map_err(|e| PdfError(e.to_string()))?;
    let mut out = Pages::default();
    for page in extracted {
        out.starts.push(out.text.len());
        out.text.push_str(&page);
        if !out.text.ends_with('\n') {
            out.text.push('\n');
        }
    }
    Ok(out)
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
