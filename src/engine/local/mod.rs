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
mod ooxml;
mod patterns;
mod pdf;
mod ssn;
mod tabular;
mod utf16;

use std::fs::File;
use std::io::{self, Read, Seek};
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use ring::digest;

use self::apikey::ApiKeyRules;
use self::keywords::Keywords;
use super::{
    Confidence, Detector, DetectorId, Engine, FileReport, Finding, Outcome, ScanOptions, Sensitive,
    SkipReason, TablePos, open_regular,
};
use crate::config::ScannerConfig;
use crate::engine::allow::{Allowlist, MARKER_REACH};
use crate::fsutil::{describe_io_error, hex};
use crate::mask;
use crate::rules::{BuiltinMatch, Region, RuleSet, Source};

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
    /// Built-in detectors reported by themselves (`scanner.detectors`), a
    /// bit per id; the rules may run others.
    reported: u32,
    rules: RuleSet,
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
        let mut running = cfg.detectors.clone();
        running.extend(cfg.rules.builtins());
        let on = |d| running.contains(&d);
        LocalEngine {
            reported: cfg.detectors.iter().fold(0, |bits, d| bits | bit(*d)),
            rules: cfg.rules.clone(),
            card: on(DetectorId::CreditCardNumber),
            ssn: on(DetectorId::UsSocialSecurityNumber),
            api: on(DetectorId::ApiKey).then(ApiKeyRules::new),
            patterns: patterns::Patterns::new(&running),
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
        self.context_bytes + apikey::MAX_MATCH.max(self.rules.reach()) + keywords::WINDOW + 16
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
        reader: R,
        on_bytes: impl FnMut(&[u8]),
    ) -> io::Result<StreamVerdict> {
        self.scan_stream(reader, on_bytes, Stream::default())
    }

    /// [`scan_reader`](Self::scan_reader), with what is known of the stream.
    pub(crate) fn scan_stream<R: Read>(
        &self,
        mut reader: R,
        mut on_bytes: impl FnMut(&[u8]),
        stream: Stream<'_>,
    ) -> io::Result<StreamVerdict> {
        let margin = self.margin();
        let cap = self.block.max(4 * margin);
        let mut buf = vec![0u8; cap];
        let mut len = 0usize;
        let mut base = 0u64; // file offset of buf[0]
        let mut owned_from = 0u64;
        let mut lines = 0u64; // newlines before owned_from
        let mut findings = Vec::new();
        let mut tagged = Vec::new();
        let mut utf8 = true;
        let mut first = true;
        // Cells found in the first pass hold while no field is quoted.
        let mut quoted = false;
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
            if stream.delimiter.is_some() && !quoted {
                quoted = memchr::memchr(b'"', &hay[owned.clone()]).is_some();
            }
            let window = Window {
                hay,
                base,
                owned: owned.clone(),
                delimiter: stream.delimiter,
            };
            lines = self.scan_window(&window, lines, &mut findings, &mut tagged);
            if eof {
                if let Some(name) = stream.name.filter(|_| self.rules.scans_names()) {
                    self.scan_name(name, &mut tagged);
                }
                if quoted {
                    for f in findings.iter_mut().chain(tagged.iter_mut().map(|(_, f)| f)) {
                        f.table = None;
                    }
                }
                self.settle(&mut findings, tagged);
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
    /// returns the newline count up to `owned.end`. Matches of the rules'
    /// detectors go to `tagged` with their rule and detector, until the
    /// whole stream's counts decide which are reported.
    fn scan_window(
        &self,
        window: &Window<'_>,
        mut lines: u64,
        out: &mut Vec<Finding>,
        tagged: &mut Vec<(Tag, Finding)>,
    ) -> u64 {
        let Window {
            hay,
            base,
            ref owned,
            delimiter,
        } = *window;
        let candidates = self.candidates(hay);
        let mut matches: Vec<Match> = candidates
            .iter()
            .filter(|c| owned.contains(&c.start) && self.reported & bit(c.detector) != 0)
            .filter(|c| c.confidence >= self.min_confidence)
            .map(|c| Match {
                range: c.start..c.end,
                detector: Detector::Builtin(c.detector),
                confidence: c.confidence,
                kind: c.kind,
                tag: None,
            })
            .collect();
        let mut spans: Vec<Range<usize>> = candidates.iter().map(|c| c.start..c.end).collect();
        if !self.rules.is_empty() {
            let rule_matches = self.rule_matches(hay, &Region::Content(owned.clone()), &candidates);
            spans.extend(rule_matches.iter().map(|m| m.range.clone()));
            matches.extend(rule_matches);
            matches.sort_by_key(|m| m.range.start);
        }
        let mut cursor = owned.start;
        for m in matches {
            let Range { start, end } = m.range;
            let around = (
                &hay[start.saturating_sub(MARKER_REACH)..start],
                &hay[end..(end + MARKER_REACH).min(hay.len())],
            );
            if self.allow.marked(around.0, around.1) || self.allow.value(&hay[start..end]) {
                continue;
            }
            lines += bytecount::count(&hay[cursor..start], b'\n') as u64;
            cursor = start;
            let line_start = lines + 1;
            let line_end = line_start + bytecount::count(&hay[start..end], b'\n') as u64;
            // Unquoted CSV: a row is a line; the column counts delimiters.
            let table = delimiter.and_then(|d| {
                let (column_start, column_end) = tabular::columns(hay, base == 0, start..end, d)?;
                Some(TablePos {
                    row_start: line_start,
                    row_end: line_end,
                    column_start,
                    column_end,
                })
            });
            let finding = Finding {
                before: context(hay, before_range(hay, start, self.context_bytes), &spans),
                after: context(hay, after_range(hay, end, self.context_bytes), &spans),
                byte_start: base + start as u64,
                byte_end: base + end as u64,
                line_start,
                line_end,
                table,
                ..m.finding(hay)
            };
            match m.tag {
                Some(tag) => tagged.push((tag, finding)),
                None => out.push(finding),
            }
        }
        lines + bytecount::count(&hay[cursor..owned.end], b'\n') as u64
    }

    /// The rules' detectors' matches in `hay` within `region`.
    fn rule_matches(&self, hay: &[u8], region: &Region, candidates: &[Candidate]) -> Vec<Match> {
        let builtin: Vec<BuiltinMatch> = candidates
            .iter()
            .map(|c| BuiltinMatch {
                id: c.detector,
                range: c.start..c.end,
                confidence: c.confidence,
                kind: c.kind,
            })
            .collect();
        let mut out = Vec::new();
        for (r, rule) in self.rules.rules().iter().enumerate() {
            for hit in rule.hits(hay, region, &builtin) {
                let det = &rule.detectors[hit.detector];
                out.push(Match {
                    detector: match det.source {
                        Source::Builtin(id) => Detector::Builtin(id),
                        _ => Detector::Custom(det.display.as_str().into()),
                    },
                    range: hit.range,
                    confidence: hit.confidence,
                    kind: hit.kind,
                    tag: Some((r, hit.detector)),
                });
            }
        }
        out
    }

    /// Matches the rules whose scope takes in file names against `name`;
    /// their findings have line 0 and ranges within the name.
    fn scan_name(&self, name: &[u8], tagged: &mut Vec<(Tag, Finding)>) {
        let candidates = self.candidates(name);
        for m in self.rule_matches(name, &Region::FileName, &candidates) {
            let Some(tag) = m.tag.filter(|_| !self.allow.value(&name[m.range.clone()])) else {
                continue;
            };
            let finding = Finding {
                byte_start: m.range.start as u64,
                byte_end: m.range.end as u64,
                ..m.finding(name)
            };
            tagged.push((tag, finding));
        }
    }

    /// Keeps the rules' matches that minNumFindings and logicalOp pass over
    /// the whole stream, except where a built-in finding says the same.
    fn settle(&self, findings: &mut Vec<Finding>, tagged: Vec<(Tag, Finding)>) {
        if tagged.is_empty() {
            return;
        }
        let rules = self.rules.rules();
        let mut by_rule: Vec<Vec<(usize, (usize, Finding))>> =
            rules.iter().map(|_| Vec::new()).collect();
        for (i, ((r, d), f)) in tagged.into_iter().enumerate() {
            by_rule[r].push((d, (i, f)));
        }
        // Passing matches, back in the order they were found.
        let mut kept: Vec<(usize, Finding)> = rules
            .iter()
            .zip(by_rule)
            .flat_map(|(rule, hits)| rule.settle(hits))
            .map(|(_, hit)| hit)
            .collect();
        kept.sort_by_key(|(i, _)| *i);
        let key = |f: &Finding| (f.byte_start, f.byte_end, f.line_start, f.detector.clone());
        let mut seen: std::collections::HashSet<_> = findings.iter().map(key).collect();
        for (_, f) in kept {
            if seen.insert(key(&f)) {
                findings.push(f);
            }
        }
        findings.sort_by(|a, b| {
            (a.line_start != 0, a.byte_start, &a.detector).cmp(&(
                b.line_start != 0,
                b.byte_start,
                &b.detector,
            ))
        });
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

/// What the engine knows of a stream besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stream<'a> {
    /// The file's name, for rules whose scope takes in file names.
    pub name: Option<&'a [u8]>,
    /// A CSV or TSV file's delimiter: findings get their row and column.
    pub delimiter: Option<u8>,
}

/// One block of a stream being scanned.
struct Window<'a> {
    hay: &'a [u8],
    /// Stream offset of `hay[0]`.
    base: u64,
    /// The part of `hay` whose matches this block reports.
    owned: Range<usize>,
    delimiter: Option<u8>,
}

/// A rule's index and its detector's, for a match waiting on the counts.
type Tag = (usize, usize);

/// A match about to become a finding.
struct Match {
    range: Range<usize>,
    detector: Detector,
    confidence: Confidence,
    kind: Option<&'static str>,
    /// Set for a rule's match.
    tag: Option<Tag>,
}

impl Match {
    /// The finding, without contexts and with lines 0 (a file name's).
    fn finding(&self, hay: &[u8]) -> Finding {
        let value = String::from_utf8_lossy(&hay[self.range.clone()]).into_owned();
        Finding {
            detector: self.detector.clone(),
            confidence: self.confidence,
            kind: self.kind,
            value: Sensitive {
                masked: mask::mask_value(&value),
                raw: value,
            },
            before: Sensitive::default(),
            after: Sensitive::default(),
            byte_start: 0,
            byte_end: 0,
            line_start: 0,
            line_end: 0,
            member: None,
            table: None,
        }
    }
}

/// A detector's bit in [`LocalEngine::reported`].
fn bit(d: DetectorId) -> u32 {
    1 << d as u32
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

/// A context, raw and with every match inside it masked.
fn context(hay: &[u8], range: Range<usize>, matches: &[Range<usize>]) -> Sensitive {
    let spans: Vec<Range<usize>> = matches
        .iter()
        .filter(|m| m.start < range.end && m.end > range.start)
        .map(|m| m.start.saturating_sub(range.start)..m.end.min(range.end) - range.start)
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
        if pdf::sniff(&head[..got]) {
            return self.scan_pdf(report, file, opts);
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
        let stream = Stream {
            name: path.file_name().map(|n| n.as_bytes()),
            delimiter: tabular::delimiter(path),
        };
        let result = match utf16::bom(&head[..got]) {
            Some(big_endian) => {
                tracing::debug!(path = %path.display(), "UTF-16 text: byte ranges refer to its UTF-8 form");
                self.scan_stream(utf16::Utf16Reader::new(reader, big_endian), |_| {}, stream)
            }
            None => self.scan_stream(io::Cursor::new(&head[..got]).chain(reader), |_| {}, stream),
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
                    // Quoted fields: a second pass over the file finds the cells.
                    if let Some(delim) = stream.delimiter
                        && findings
                            .iter()
                            .any(|f| f.line_start > 0 && f.table.is_none())
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
    /// Scans a PDF's text, page by page; findings name their page. The
    /// parser needs the whole file in memory: at most `max_file_bytes`.
    fn scan_pdf(&self, mut report: FileReport, file: File, opts: ScanOptions) -> FileReport {
        let mut bytes = Vec::new();
        if let Err(e) = file.take(self.max_file_bytes).read_to_end(&mut bytes) {
            report.outcome = Outcome::Failed(format!("read failed: {}", describe_io_error(&e)));
            return report;
        }
        if opts.hash {
            report.sha256 = Some(crate::fsutil::sha256_hex(&bytes));
        }
        let name = report.path.file_name().map(|n| n.as_bytes());
        report.outcome = match self.pdf_findings(&bytes, name) {
            Ok(findings) => Outcome::Scanned { findings },
            Err(why) => Outcome::Skipped(SkipReason::Document(format!("PDF: {why}"))),
        };
        report.scanned_at = SystemTime::now();
        report
    }

    /// A PDF's findings, each content finding naming its page (`page 2`);
    /// the error says why no text could be extracted.
    pub(crate) fn pdf_findings(
        &self,
        bytes: &[u8],
        name: Option<&[u8]>,
    ) -> Result<Vec<Finding>, String> {
        let pages = pdf::pages(bytes)?;
        let stream = Stream {
            name,
            delimiter: None,
        };
        let mut findings = match self.scan_stream(pages.text.as_bytes(), |_| {}, stream) {
            Ok(StreamVerdict::Text { findings, .. }) => findings,
            // Reading memory cannot fail; extracted text with NULs has none.
            Ok(StreamVerdict::Binary) | Err(_) => Vec::new(),
        };
        for f in findings.iter_mut().filter(|f| f.line_start > 0) {
            let page = pages.page_of(f.byte_start as usize);
            f.member = Some(format!("page {page}"));
        }
        Ok(findings)
    }

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
                // The archive's own name, for rules that look at names.
                let mut findings = Vec::new();
                if let Some(own) = report.path.file_name().filter(|_| self.rules.scans_names()) {
                    let mut tagged = Vec::new();
                    self.scan_name(own.as_bytes(), &mut tagged);
                    self.settle(&mut findings, tagged);
                }
                findings.extend(walk.findings);
                Outcome::Scanned { findings }
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
