//! The local detection engine: works offline, reads each file once in
//! bounded blocks, and finds every match exactly once with its exact byte
//! range.
//!
//! Blocks overlap by a margin wider than the longest match plus its context
//! and keyword window. Each block "owns" the bytes between its margins; a
//! candidate is reported by the block that owns its first byte, and every
//! decision about a candidate looks only within the margin, so a match that
//! straddles a block boundary is found once, and found the same way.

mod apikey;
mod archive;
pub(crate) mod bytes;
mod card;
mod keywords;
mod patterns;
mod ssn;
mod tabular;
mod utf16;

use std::fs::File;
use std::io::{self, Read, Seek};
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use ring::digest;

use self::apikey::ApiKeyRules;
use self::keywords::Keywords;
use super::{
    Confidence, DetectorId, Engine, FileReport, Finding, Outcome, ScanOptions, Sensitive,
    SkipReason, open_regular,
};
use crate::config::ScannerConfig;
use crate::engine::allow::{Allowlist, MARKER_REACH};
use crate::fsutil::describe_io_error;
use crate::mask;

pub use self::apikey::known_kind;
pub use self::card::luhn_valid;

/// Default block size: large enough that the margin is noise, small enough
/// to stay in cache.
pub const DEFAULT_BLOCK: usize = 256 * 1024;
/// How much of the start of a file decides whether it is binary.
const BINARY_PROBE: usize = 64 * 1024;

/// A match before contexts, masking and the confidence filter.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub detector: DetectorId,
    pub confidence: Confidence,
    pub kind: Option<&'static str>,
    /// Buffer-relative half-open range.
    pub start: usize,
    pub end: usize,
    /// Whether a nearby keyword may raise the confidence one level.
    pub keyword_raises: bool,
}

/// What reading a stream produced.
#[derive(Debug)]
pub enum StreamVerdict {
    /// Text (or bytes treated as text) read to the end.
    Text {
        findings: Vec<Finding>,
        bytes: u64,
        /// False when the first block is not valid UTF-8.
        utf8: bool,
    },
    /// NUL bytes in the first block.
    Binary,
}

/// The local engine, built once from the `[scanner]` config and shared by
/// every worker.
pub struct LocalEngine {
    card: bool,
    ssn: bool,
    api: Option<ApiKeyRules>,
    patterns: Option<patterns::Patterns>,
    allow: Allowlist,
    archives: archive::Limits,
    keywords: Keywords,
    min_confidence: Confidence,
    context_bytes: usize,
    max_file_bytes: u64,
    block: usize,
}

impl LocalEngine {
    /// Builds the engine for the configured detectors.
    pub fn new(cfg: &ScannerConfig) -> LocalEngine {
        let on = |d| cfg.detectors.contains(&d);
        LocalEngine {
            card: on(DetectorId::CreditCardNumber),
            ssn: on(DetectorId::UsSocialSecurityNumber),
            api: on(DetectorId::ApiKey).then(ApiKeyRules::new),
            patterns: patterns::Patterns::new(&cfg.detectors),
            allow: Allowlist::new(cfg),
            archives: archive::Limits::new(cfg),
            keywords: Keywords::new(),
            min_confidence: cfg.min_confidence,
            context_bytes: cfg.context_bytes as usize,
            max_file_bytes: cfg.max_file_bytes,
            block: DEFAULT_BLOCK,
        }
    }

    /// Overrides the block size; tests use tiny blocks to cross boundaries.
    /// It never goes below four margins.
    pub fn with_block_size(mut self, block: usize) -> LocalEngine {
        self.block = block;
        self
    }

    /// Bytes each block shares with its neighbours.
    fn margin(&self) -> usize {
        self.context_bytes + apikey::MAX_MATCH + keywords::WINDOW + 16
    }

    /// Scans bytes held in memory, as if they were a whole file.
    pub fn scan_bytes(&self, data: &[u8]) -> Vec<Finding> {
        match self.scan_reader(data, |_| {}) {
            Ok(StreamVerdict::Text { findings, .. }) => findings,
            Ok(StreamVerdict::Binary) | Err(_) => Vec::new(),
        }
    }

    /// Scans a stream in bounded blocks; memory does not grow with its size.
    /// `on_bytes` sees every byte once, in order (for hashing).
    pub fn scan_reader<R: Read>(
        &self,
        mut reader: R,
        mut on_bytes: impl FnMut(&[u8]),
    ) -> io::Result<StreamVerdict> {
        let margin = self.margin();
        let cap = self.block.max(4 * margin);
        let mut buf = vec![0u8; cap];
        let mut len = 0usize;
        let mut base = 0u64; // file offset of buf[0]
        let mut owned_from = 0u64;
        let mut lines = 0u64; // newlines before owned_from
        let mut findings = Vec::new();
        let mut utf8 = true;
        let mut first = true;
        loop {
            let mut eof = false;
            while len < cap {
                match reader.read(&mut buf[len..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        on_bytes(&buf[len..len + n]);
                        len += n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if first {
                first = false;
                let probe = &buf[..len.min(BINARY_PROBE)];
                if memchr::memchr(0, probe).is_some() {
                    return Ok(StreamVerdict::Binary);
                }
                // A character cut by the probe's end is not an error.
                utf8 =
                    std::str::from_utf8(probe).map_or_else(|e| e.error_len().is_none(), |_| true);
            }
            let hay = &buf[..len];
            let owned = (owned_from - base) as usize..if eof { len } else { len - margin };
            lines = self.scan_window(hay, base, owned.clone(), lines, &mut findings);
            if eof {
                return Ok(StreamVerdict::Text {
                    findings,
                    bytes: base + len as u64,
                    utf8,
                });
            }
            let keep_from = owned.end - margin;
            buf.copy_within(keep_from..len, 0);
            len -= keep_from;
            base += keep_from as u64;
            owned_from = base + margin as u64;
        }
    }

    /// Finds candidates in `hay`, reports those starting in `owned`, and
    /// returns the newline count up to `owned.end`.
    fn scan_window(
        &self,
        hay: &[u8],
        base: u64,
        owned: Range<usize>,
        mut lines: u64,
        out: &mut Vec<Finding>,
    ) -> u64 {
        let candidates = self.candidates(hay);
        let mut cursor = owned.start;
        for c in candidates.iter().filter(|c| owned.contains(&c.start)) {
            if c.confidence < self.min_confidence {
                continue;
            }
            let around = (
                &hay[c.start.saturating_sub(MARKER_REACH)..c.start],
                &hay[c.end..(c.end + MARKER_REACH).min(hay.len())],
            );
            if self.allow.marked(around.0, around.1) || self.allow.value(&hay[c.start..c.end]) {
                continue;
            }
            lines += bytecount::count(&hay[cursor..c.start], b'\n') as u64;
            cursor = c.start;
            let line_start = lines + 1;
            let line_end = line_start + bytecount::count(&hay[c.start..c.end], b'\n') as u64;
            let value = String::from_utf8_lossy(&hay[c.start..c.end]).into_owned();
            out.push(Finding {
                detector: c.detector,
                confidence: c.confidence,
                kind: c.kind,
                value: Sensitive {
                    masked: mask::mask_value(&value),
                    raw: value,
                },
                before: context(
                    hay,
                    before_range(hay, c.start, self.context_bytes),
                    &candidates,
                ),
                after: context(
                    hay,
                    after_range(hay, c.end, self.context_bytes),
                    &candidates,
                ),
                byte_start: base + c.start as u64,
                byte_end: base + c.end as u64,
                line_start,
                line_end,
                member: None,
                table: None,
            });
        }
        lines + bytecount::count(&hay[cursor..owned.end], b'\n') as u64
    }

    /// Every candidate in `hay`, keyword-adjusted, overlaps resolved, in
    /// order of position.
    fn candidates(&self, hay: &[u8]) -> Vec<Candidate> {
        let mut out = Vec::new();
        if self.card || self.ssn {
            let mut i = 0;
            while let Some(p) = bytes::next_digit(hay, i) {
                let run = bytes::digit_run(hay, p);
                if self.card
                    && let Some(c) = card::detect(hay, p, run)
                {
                    out.push(c);
                }
                if self.ssn
                    && let Some(c) = ssn::detect(hay, p, run, |s, e| {
                        self.keywords
                            .near(DetectorId::UsSocialSecurityNumber, hay, s, e)
                    })
                {
                    out.push(c);
                }
                i = p + run;
            }
        }
        if let Some(api) = &self.api {
            api.detect(hay, &mut out);
        }
        if let Some(p) = &self.patterns {
            p.detect(hay, &self.keywords, &mut out);
        }
        for c in &mut out {
            if c.keyword_raises && self.keywords.near(c.detector, hay, c.start, c.end) {
                c.confidence = c.confidence.raised();
            }
        }
        resolve_overlaps(out)
    }
}

/// Among overlapping candidates of one detector, keeps the most confident,
/// then the longest, then the first; different detectors may overlap.
fn resolve_overlaps(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    cands.sort_by_key(|c| (c.detector, c.start, std::cmp::Reverse(c.end)));
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    let mut cluster_end = 0;
    for c in cands {
        match kept.last_mut() {
            Some(last) if last.detector == c.detector && c.start < cluster_end => {
                cluster_end = cluster_end.max(c.end);
                let better =
                    (c.confidence, c.end - c.start) > (last.confidence, last.end - last.start);
                if better {
                    *last = c;
                }
            }
            _ => {
                cluster_end = c.end;
                kept.push(c);
            }
        }
    }
    kept.sort_by_key(|c| (c.start, c.detector));
    kept
}

/// Up to `n` bytes before `start`, not splitting a UTF-8 character.
fn before_range(hay: &[u8], start: usize, n: usize) -> Range<usize> {
    let mut s = start.saturating_sub(n);
    while s < start && is_continuation(hay[s]) {
        s += 1;
    }
    s..start
}

/// Up to `n` bytes after `end`, not splitting a UTF-8 character.
fn after_range(hay: &[u8], end: usize, n: usize) -> Range<usize> {
    let mut e = (end + n).min(hay.len());
    while e > end && e < hay.len() && is_continuation(hay[e]) {
        e -= 1;
    }
    end..e
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// A context, raw and with every candidate inside it masked.
fn context(hay: &[u8], range: Range<usize>, candidates: &[Candidate]) -> Sensitive {
    let spans: Vec<Range<usize>> = candidates
        .iter()
        .filter(|c| c.start < range.end && c.end > range.start)
        .map(|c| c.start.saturating_sub(range.start)..c.end.min(range.end) - range.start)
        .collect();
    let raw = &hay[range];
    Sensitive {
        raw: String::from_utf8_lossy(raw).into_owned(),
        masked: String::from_utf8_lossy(&mask::mask_spans(raw, &spans)).into_owned(),
    }
}

impl Engine for LocalEngine {
    fn name(&self) -> &'static str {
        "local"
    }

    fn scan_path(&self, path: &Path, opts: ScanOptions) -> FileReport {
        let mut report = FileReport::new(path, self.name(), Outcome::Skipped(SkipReason::Empty));
        if self.allow.path(path) {
            report.outcome = Outcome::Skipped(SkipReason::Allowlisted);
            return report;
        }
        let file = match open_regular(path) {
            Ok((file, meta)) => {
                report.size = meta.len();
                report.mtime_ns = Some(crate::fsutil::mtime_ns(&meta));
                file
            }
            Err(outcome) => {
                report.outcome = outcome;
                return report;
            }
        };
        if report.size > self.max_file_bytes {
            report.outcome = Outcome::Skipped(SkipReason::TooLarge {
                size: report.size,
                limit: self.max_file_bytes,
            });
            return report;
        }
        if report.size == 0 {
            return report;
        }
        let mut file = file;
        let mut head = [0u8; 512];
        let got = match read_head(&mut file, &mut head).and_then(|n| {
            file.seek(io::SeekFrom::Start(0))?;
            Ok(n)
        }) {
            Ok(n) => n,
            Err(e) => {
                report.outcome = Outcome::Failed(format!("read failed: {}", describe_io_error(&e)));
                return report;
            }
        };
        if self.archives.depth > 0
            && let Some(kind) = archive::sniff(&head[..got])
        {
            return self.scan_archive(report, file, kind, opts);
        }
        let mut hasher = opts.hash.then(|| digest::Context::new(&digest::SHA256));
        // Never read past the limit, even if the file grows while we read.
        let mut reader = HashTee {
            inner: file.take(self.max_file_bytes),
            hasher: hasher.as_mut(),
        };
        let got = match read_head(&mut reader, &mut head[..2]) {
            Ok(n) => n,
            Err(e) => {
                report.outcome = Outcome::Failed(format!("read failed: {}", describe_io_error(&e)));
                return report;
            }
        };
        let utf16_text = utf16::bom(&head[..got]).is_some();
        let result = match utf16::bom(&head[..got]) {
            Some(big_endian) => {
                tracing::debug!(path = %path.display(), "UTF-16 text: byte ranges refer to its UTF-8 form");
                self.scan_reader(utf16::Utf16Reader::new(reader, big_endian), |_| {})
            }
            None => self.scan_reader(io::Cursor::new(&head[..got]).chain(reader), |_| {}),
        };
        report.scanned_at = SystemTime::now();
        report.outcome = match result {
            Ok(StreamVerdict::Binary) => Outcome::Skipped(SkipReason::Binary),
            Ok(StreamVerdict::Text {
                findings,
                bytes,
                utf8,
            }) => {
                if !utf8 {
                    tracing::info!(path = %path.display(), "not valid UTF-8: scanned as bytes, byte ranges are exact");
                }
                if bytes == 0 {
                    Outcome::Skipped(SkipReason::Empty)
                } else {
                    report.sha256 = hasher.map(|h| hex(h.finish().as_ref()));
                    let mut findings = findings;
                    if let Some(delim) = tabular::delimiter(path)
                        && !findings.is_empty()
                        && !utf16_text
                        && let Ok(f) = File::open(path)
                        && let Err(e) =
                            tabular::locate(f.take(self.max_file_bytes), delim, &mut findings)
                    {
                        tracing::debug!(path = %path.display(), "no rows and columns: {e}");
                    }
                    Outcome::Scanned { findings }
                }
            }
            Err(e) => Outcome::Failed(format!("read failed: {}", describe_io_error(&e))),
        };
        report
    }
}

impl LocalEngine {
    /// Scans an archive's members; damage and limits are skip reasons.
    fn scan_archive(
        &self,
        mut report: FileReport,
        file: File,
        kind: archive::Kind,
        opts: ScanOptions,
    ) -> FileReport {
        let name = report.path.to_string_lossy().into_owned();
        let mut walk = archive::Walk::new(self, self.archives);
        let result = walk.archive(kind, io::BufReader::new(file), &name, "", 0);
        report.scanned_at = SystemTime::now();
        report.outcome = match result {
            Ok(()) => {
                if opts.hash {
                    report.sha256 = crate::fsutil::sha256_file(&report.path).ok();
                }
                Outcome::Scanned {
                    findings: walk.findings,
                }
            }
            Err(archive::ArchiveError::Limit(why)) => Outcome::Skipped(SkipReason::Archive(why)),
            Err(archive::ArchiveError::Corrupt(why)) => {
                Outcome::Skipped(SkipReason::Archive(format!("cannot read it: {why}")))
            }
        };
        report
    }
}

/// Hashes every byte read through it: the file's SHA-256 is of its bytes
/// as stored, whatever decoding happens after.
struct HashTee<'a, R> {
    inner: R,
    hasher: Option<&'a mut digest::Context>,
}

impl<R: Read> Read for HashTee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = self.hasher.as_mut() {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// Reads up to `head.len()` bytes (fewer only at the end of the stream).
fn read_head(r: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < head.len() {
        match r.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Lowercase hex, for digests.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
