//! The detection stage: one text stream at a time, read once in bounded
//! blocks, every match found exactly once with its exact byte range.
//!
//! Blocks overlap by a margin wider than the longest match plus its context
//! and keyword window. Each block "owns" the bytes between its margins; a
//! candidate is reported by the block that owns its first byte, and every
//! decision about a candidate looks only within the margin, so a match that
//! straddles a block boundary is found once, and found the same way.

use std::io::{self, Read};
use std::ops::Range;

use super::{BINARY_PROBE, Candidate, LocalEngine, StreamVerdict, bit};
use crate::engine::allow::MARKER_REACH;
use crate::engine::extract::{Place, Text, tabular};
use crate::finding::{Confidence, Detector, Finding, Sensitive, TablePos};
use crate::mask;
use crate::rules::{BuiltinMatch, Region, Source};

impl LocalEngine {
    /// Scans one text stream from the format stage, and places its
    /// content findings (a member's path, a page, a cell).
    pub(crate) fn scan_text(&self, text: Text<'_>) -> io::Result<StreamVerdict> {
        let stream = Stream {
            name: text.name,
            path: text.path,
            delimiter: text.delimiter,
            ..Stream::default()
        };
        let mut verdict = self.scan_stream(text.reader, |_| {}, stream)?;
        if let StreamVerdict::Text { findings, .. } = &mut verdict {
            for f in findings {
                place(f, text.member.as_deref(), text.place);
            }
        }
        Ok(verdict)
    }

    /// The findings of rules that look at names, in a file's own `name`.
    pub(super) fn scan_file_name(&self, name: &[u8]) -> Vec<Finding> {
        let mut tagged = Vec::new();
        self.scan_name(name, &mut tagged);
        let mut findings = Vec::new();
        self.settle(&mut findings, tagged);
        findings
    }

    /// [`scan_reader`](Self::scan_reader), with what is known of the stream.
    pub(super) fn scan_stream<R: Read>(
        &self,
        mut reader: R,
        mut on_bytes: impl FnMut(&[u8]),
        stream: Stream<'_>,
    ) -> io::Result<StreamVerdict> {
        let margin = self.margin();
        let cap = self.block.max(4 * margin);
        let mut buf = Block::take(cap);
        let mut len = 0usize;
        let resume = stream.resume.unwrap_or_default();
        let mut base = resume.base; // file offset of buf[0]
        let mut owned_from = resume.owned_from;
        let mut lines = resume.lines; // newlines before owned_from
        let mut findings = Vec::new();
        let mut tagged = Vec::new();
        let mut utf8 = true;
        // A resumed stream was found to be text when it was read whole.
        let mut first = stream.resume.is_none() && !stream.text;
        // Cells found in the first pass hold while no field is quoted.
        let mut quoted = false;
        loop {
            let mut eof = false;
            while len < cap {
                match reader.read(&mut buf[len..cap]) {
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
                path: stream.path,
            };
            lines = self.scan_window(&window, lines, &mut findings, &mut tagged);
            if eof {
                if let Some(name) = stream.name.filter(|_| self.rules.scans_names()) {
                    self.scan_name(name, &mut tagged);
                }
                if let Some(path) = stream.path {
                    self.scan_pack_path(path, &mut findings);
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
            path,
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
        if !self.packs.is_empty() {
            for hit in self.packs.find(hay, owned.clone(), path) {
                spans.push(hit.range.clone());
                matches.push(Match {
                    range: hit.range,
                    detector: Detector::Custom(self.packs.id(hit.rule).into()),
                    confidence: Confidence::Likely,
                    kind: None,
                    tag: None,
                });
            }
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
            let value = start..end;
            let finding = Finding {
                before: context(
                    hay,
                    before_range(hay, start, self.context_bytes),
                    &spans,
                    &value,
                ),
                after: context(
                    hay,
                    after_range(hay, end, self.context_bytes),
                    &spans,
                    &value,
                ),
                byte_start: base + start as u64,
                byte_end: base + end as u64,
                line_start,
                line_end,
                table,
                ..m.finding(hay)
            };
            // Past the cap the rest go unrecorded (the file's report says
            // so): a file of nothing but card numbers costs bounded memory.
            if out.len() + tagged.len() >= MAX_STREAM_FINDINGS {
                continue;
            }
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

    /// The findings of rule-pack rules that report a file by its path
    /// alone (gitleaks rules with a `path` and no `regex`).
    fn scan_pack_path(&self, path: &[u8], findings: &mut Vec<Finding>) {
        for rule in self.packs.path_hits(path) {
            let m = Match {
                range: 0..path.len(),
                detector: Detector::Custom(self.packs.id(rule).into()),
                confidence: Confidence::Likely,
                kind: None,
                tag: None,
            };
            findings.push(Finding {
                byte_end: path.len() as u64,
                ..m.finding(path)
            });
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
}

/// Where a finding of a stream at `member` is: content findings (line 1
/// and on) learn their cell or page from their offset; a name finding
/// (line 0) is the member's.
fn place(f: &mut Finding, member: Option<&str>, place: Place<'_>) {
    f.member = member.map(str::to_string);
    if f.line_start == 0 {
        return;
    }
    match place {
        Place::Plain => {}
        Place::Cells(sheet) => f.table = sheet.locate(f.byte_start as usize, f.byte_end as usize),
        Place::Pages(pages) => {
            let place = pages.place_of(f.byte_start as usize);
            f.member = Some(match member {
                Some(m) => format!("{m}!{place}"),
                None => place,
            });
        }
    }
}

/// What the engine knows of a stream besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Stream<'a> {
    /// The file's name, for rules whose scope takes in file names.
    pub name: Option<&'a [u8]>,
    /// Its path, for rule packs' paths.
    pub path: Option<&'a [u8]>,
    /// A CSV or TSV file's delimiter: findings get their row and column.
    pub delimiter: Option<u8>,
    /// Set when the reader starts part way into the stream.
    pub resume: Option<Resume>,
    /// Known to be text (an API item): NUL bytes are not a sign of a
    /// binary file, and the stream is scanned whatever it holds.
    pub text: bool,
}

/// Where a stream read from part way picks up: the reader's first byte is
/// at offset `base`, matches are reported from `owned_from` on (at least a
/// margin after `base`, so what comes before a match is in view), and
/// `lines` newlines come before `owned_from`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Resume {
    pub base: u64,
    pub owned_from: u64,
    pub lines: u64,
}

/// One block of a stream being scanned.
struct Window<'a> {
    hay: &'a [u8],
    /// Stream offset of `hay[0]`.
    base: u64,
    /// The part of `hay` whose matches this block reports.
    owned: Range<usize>,
    delimiter: Option<u8>,
    path: Option<&'a [u8]>,
}

/// The most findings one stream records.
pub(crate) const MAX_STREAM_FINDINGS: usize = 100_000;

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

/// A context, raw and with every match inside it masked, and every other
/// copy of the finding's own `value` (`if token == "<the token>"`), even
/// one the context cuts.
fn context(
    hay: &[u8],
    range: Range<usize>,
    matches: &[Range<usize>],
    value: &Range<usize>,
) -> Sensitive {
    let mut copies = Vec::new();
    let needle = &hay[value.clone()];
    if needle.len() >= 4 {
        // A context is a few dozen bytes: a first-byte scan beats building
        // a substring searcher for every context (5% of a scan's time).
        let lo = range.start.saturating_sub(needle.len());
        let hi = (range.end + needle.len()).min(hay.len());
        let near = &hay[lo..hi];
        copies.extend(
            memchr::memchr_iter(needle[0], near)
                .filter(|&at| near[at..].starts_with(needle))
                .map(|at| lo + at..lo + at + needle.len()),
        );
    }
    let spans: Vec<Range<usize>> = matches
        .iter()
        .chain(&copies)
        .filter(|m| m.start < range.end && m.end > range.start)
        .map(|m| m.start.saturating_sub(range.start)..m.end.min(range.end) - range.start)
        .collect();
    let raw = &hay[range];
    Sensitive {
        raw: String::from_utf8_lossy(raw).into_owned(),
        masked: String::from_utf8(mask::mask_spans(raw, &spans))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

thread_local! {
    /// This thread's block buffer, kept between streams: a small file costs
    /// no allocation and no zeroing of a block it does not fill.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A block buffer borrowed from the thread's spare, given back on drop.
/// A stream scanned inside another (an archive member) finds the spare
/// taken and allocates its own.
struct Block(Vec<u8>);

impl Block {
    fn take(cap: usize) -> Block {
        let mut buf = SPARE.with(|s| s.take());
        if buf.len() < cap {
            buf = vec![0u8; cap];
        }
        Block(buf)
    }
}

impl std::ops::Deref for Block {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::DerefMut for Block {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        let _ = SPARE.try_with(|s| {
            let spare = s.take();
            s.set(if spare.len() >= buf.len() { spare } else { buf });
        });
    }
}
