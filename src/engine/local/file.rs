//! A file through the local engine, one way: open it safely, check the
//! limits, let the format stage (`engine::extract`) say what it holds and
//! yield its text streams, scan each with the detection stage, and report.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::SystemTime;

use ring::digest;

use super::detect::{MAX_STREAM_FINDINGS, Resume, Stream};
use super::{LocalEngine, StreamVerdict};
use crate::engine::extract::archive::{self, ArchiveError};
use crate::engine::extract::{Format, Place, Text, delimiter_of, pdf, tabular, utf16};
use crate::engine::{Engine, Prior, ScanOptions, open_listed, open_regular, regular, regular_meta};
use crate::finding::{FileReport, Finding, Outcome, SkipReason};
use crate::fsutil::{describe_io_error, hex};

/// Smallest file worth scanning by its new bytes only; below it, a whole
/// scan costs about as much as hashing the prefix.
const GROWN_MIN: u64 = 64 * 1024;

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
        match open_regular(path) {
            Ok((file, meta)) => self.scan_file(report, file, &meta, opts),
            Err(outcome) => {
                report.outcome = outcome;
                report
            }
        }
    }

    fn scan_listed(&self, path: &Path, follow: bool, opts: ScanOptions) -> FileReport {
        match open_listed(path, follow) {
            Ok(file) => self.scan_opened(path, file, None, opts),
            Err(outcome) => {
                let mut report = FileReport::new(path, self.name(), outcome);
                if self.allow.path(path) {
                    report.outcome = Outcome::Skipped(SkipReason::Allowlisted);
                }
                report
            }
        }
    }
}

impl LocalEngine {
    /// Scans a file the caller opened (the daemon opens without following
    /// symlinks); `path` is what it is reported as. Nothing is read by
    /// path again, so what is scanned is what was opened. `meta` is the
    /// descriptor's metadata if the caller has it (one `fstat` per file).
    pub fn scan_opened(
        &self,
        path: &Path,
        file: File,
        meta: Option<std::fs::Metadata>,
        opts: ScanOptions,
    ) -> FileReport {
        let mut report = FileReport::new(path, self.name(), Outcome::Skipped(SkipReason::Empty));
        if self.allow.path(path) {
            report.outcome = Outcome::Skipped(SkipReason::Allowlisted);
            return report;
        }
        let meta = match meta {
            Some(meta) => regular(meta),
            None => regular_meta(&file),
        };
        match meta {
            Ok(meta) => self.scan_file(report, file, &meta, opts),
            Err(outcome) => {
                report.outcome = outcome;
                report
            }
        }
    }

    /// Scans a stream that is not a file (`dlpd scan -` reading a pipe) as
    /// text, reported as `name`: read once, up to `max_file_bytes`; no
    /// format is sniffed, since nothing can be read twice.
    pub fn scan_stream_as(&self, name: &Path, reader: impl Read, opts: ScanOptions) -> FileReport {
        let mut report = FileReport::new(name, self.name(), Outcome::Skipped(SkipReason::Empty));
        let mut hasher = opts.hash.then(|| digest::Context::new(&digest::SHA256));
        let mut size = 0;
        let limit = self.max_file_bytes;
        let reader = HashTee {
            inner: reader.take(limit + 1),
            hasher: hasher.as_mut(),
        };
        let counted = Counted {
            inner: reader,
            n: &mut size,
        };
        let text = Text {
            reader: Box::new(counted),
            name: None,
            path: None,
            delimiter: None,
            member: None,
            place: Place::Plain,
        };
        let result = self.scan_text(text);
        report.scanned_at = SystemTime::now();
        report.size = size.min(limit);
        report.outcome = match result {
            Ok(StreamVerdict::Binary) => Outcome::Skipped(SkipReason::Binary),
            Ok(StreamVerdict::Text { bytes: 0, .. }) => Outcome::Skipped(SkipReason::Empty),
            Ok(StreamVerdict::Text { findings, .. }) => {
                if size > limit {
                    report.partial.push(format!(
                        "only its first {limit} bytes (max_file_bytes) were read"
                    ));
                } else {
                    report.sha256 = hasher.map(|h| hex(h.finish().as_ref()));
                }
                if findings.len() >= MAX_STREAM_FINDINGS {
                    report.partial.push(format!(
                        "only its first {MAX_STREAM_FINDINGS} findings were recorded"
                    ));
                }
                Outcome::Scanned { findings }
            }
            Err(e) => failed(&e),
        };
        report
    }

    /// An opened regular file, through the limits, the format stage and
    /// detection.
    fn scan_file(
        &self,
        mut report: FileReport,
        mut file: File,
        meta: &std::fs::Metadata,
        opts: ScanOptions,
    ) -> FileReport {
        report.size = meta.len();
        report.mtime_ns = Some(crate::fsutil::mtime_ns(meta));
        report.owner = Some(std::os::unix::fs::MetadataExt::uid(meta));
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
        // One read sees a small file whole: it is scanned from this head
        // without a second read or a seek back.
        let mut head = [0u8; HEAD];
        // Never past max_file_bytes, even if the file grew since its fstat.
        let cap = HEAD.min(usize::try_from(self.max_file_bytes).unwrap_or(HEAD));
        let got = match read_head(&mut file, &mut head[..cap]) {
            Ok(n) => n,
            Err(e) => {
                report.outcome = failed(&e);
                return report;
            }
        };
        let head = &head[..got];
        let format = Format::sniff(&head[..got.min(SNIFF)], self.archives.depth > 0);
        let mut rewound = false;
        if let (Format::Text { utf16: None }, Some(prior)) = (&format, opts.prior) {
            match self.scan_grown(&mut report, &mut file, prior, opts) {
                Ok(true) => return report,
                // It may have read: the whole file is scanned from its start.
                Ok(false) => {
                    if let Err(e) = file.seek(io::SeekFrom::Start(0)) {
                        report.outcome = failed(&e);
                        return report;
                    }
                    rewound = true;
                }
                Err(e) => {
                    report.outcome = failed(&e);
                    return report;
                }
            }
        }
        if !rewound && !matches!(format, Format::Text { .. }) {
            if let Err(e) = file.seek(io::SeekFrom::Start(0)) {
                report.outcome = failed(&e);
                return report;
            }
            rewound = true;
        }
        match format {
            Format::Archive(kind) => self.scan_archive(report, file, kind, opts),
            Format::Pdf => self.scan_pdf(report, file, opts),
            Format::Text { utf16 } => {
                let start = match rewound {
                    true => Start::Rewound,
                    false => Start::Head(head),
                };
                self.scan_plain(report, file, start, utf16, opts)
            }
        }
    }

    /// Scans only what was appended to a text file since its last scan,
    /// when its first `prior.size` bytes are unchanged: the prefix is
    /// hashed (far cheaper than scanning it), and the scan starts a margin
    /// before the old end, as a block boundary would, so a match that
    /// spans the old end is found whole. Findings ending by the old end
    /// were found last time and are left out. False when this does not
    /// apply (the file changed, is small, is a CSV, or custom rules count
    /// matches over the whole file): the caller scans it whole.
    fn scan_grown(
        &self,
        report: &mut FileReport,
        file: &mut File,
        prior: Prior,
        opts: ScanOptions,
    ) -> io::Result<bool> {
        let margin = self.margin() as u64;
        let applies = prior.size >= GROWN_MIN.max(2 * margin)
            && prior.size < report.size
            && self.rules.is_empty()
            && delimiter_of(&report.path.to_string_lossy()).is_none();
        if !applies {
            return Ok(false);
        }
        let owned_from = prior.size - margin;
        let base = owned_from - margin;
        file.seek(io::SeekFrom::Start(0))?;
        let mut hasher = digest::Context::new(&digest::SHA256);
        let mut lines = 0u64;
        let mut tail = Vec::with_capacity((prior.size - base) as usize);
        let mut pos = 0u64;
        let mut buf = vec![0u8; 64 * 1024];
        let mut prefix = file.by_ref().take(prior.size);
        loop {
            let n = match prefix.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buf[..n];
            hasher.update(chunk);
            let before_owned = owned_from.saturating_sub(pos).min(n as u64) as usize;
            lines += bytecount::count(&chunk[..before_owned], b'\n') as u64;
            tail.extend_from_slice(&chunk[base.saturating_sub(pos).min(n as u64) as usize..]);
            pos += n as u64;
        }
        if pos != prior.size || hasher.clone().finish().as_ref() != prior.sha256 {
            return Ok(false);
        }
        let rest = HashTee {
            inner: file.by_ref().take(self.max_file_bytes - prior.size),
            hasher: Some(&mut hasher),
        };
        let stream = Stream {
            resume: Some(Resume {
                base,
                owned_from,
                lines,
            }),
            ..Stream::default()
        };
        let findings = match self.scan_stream(io::Cursor::new(tail).chain(rest), |_| {}, stream)? {
            StreamVerdict::Text { mut findings, .. } => {
                findings.retain(|f| f.byte_end > prior.size);
                findings
            }
            StreamVerdict::Binary => return Ok(false),
        };
        tracing::debug!(path = %report.path.display(), from = prior.size, "grown since its last scan: scanned the new bytes only");
        report.sha256 = opts.hash.then(|| hex(hasher.finish().as_ref()));
        report.scanned_at = SystemTime::now();
        report.grown_from = Some(prior.size);
        report.outcome = Outcome::Scanned { findings };
        Ok(true)
    }

    /// Scans a text file (UTF-16 decoded first), hashing its bytes as
    /// stored in the same pass.
    fn scan_plain(
        &self,
        mut report: FileReport,
        file: File,
        start: Start<'_>,
        utf16: Option<bool>,
        opts: ScanOptions,
    ) -> FileReport {
        let path = report.path.clone();
        let delimiter = delimiter_of(&path.to_string_lossy());
        // The same file for the second pass over a CSV, never the path again.
        let again = delimiter.and_then(|_| file.try_clone().ok());
        let mut hasher = opts.hash.then(|| digest::Context::new(&digest::SHA256));
        // Never read past the limit, even if the file grows while we read.
        let limit = self.max_file_bytes;
        let content: Box<dyn Read + '_> = match start {
            Start::Rewound => Box::new(file.take(limit)),
            // The head held the whole file (or all the limit allows).
            Start::Head(head) if head.len() < HEAD => Box::new(head),
            Start::Head(head) => {
                Box::new(head.chain(file.take(limit.saturating_sub(head.len() as u64))))
            }
        };
        let mut reader = HashTee {
            inner: content,
            hasher: hasher.as_mut(),
        };
        let reader: Box<dyn Read + '_> = match utf16 {
            Some(big_endian) => {
                tracing::debug!(path = %path.display(), "UTF-16 text: byte ranges refer to its UTF-8 form");
                // The byte-order mark is not text.
                if let Err(e) = read_head(&mut reader, &mut [0u8; 2]) {
                    report.outcome = failed(&e);
                    return report;
                }
                Box::new(utf16::Utf16Reader::new(reader, big_endian))
            }
            None => Box::new(reader),
        };
        let text = Text {
            reader,
            name: path.file_name().map(|n| n.as_bytes()),
            path: Some(path.as_os_str().as_bytes()),
            delimiter,
            member: None,
            place: Place::Plain,
        };
        let result = self.scan_text(text);
        report.scanned_at = SystemTime::now();
        report.outcome = match result {
            Ok(StreamVerdict::Binary) => Outcome::Skipped(SkipReason::Binary),
            Ok(StreamVerdict::Text { bytes: 0, .. }) => Outcome::Skipped(SkipReason::Empty),
            Ok(StreamVerdict::Text {
                mut findings, utf8, ..
            }) => {
                if !utf8 {
                    tracing::info!(path = %path.display(), "not valid UTF-8: scanned as bytes, byte ranges are exact");
                }
                report.sha256 = hasher.map(|h| hex(h.finish().as_ref()));
                if findings.len() >= MAX_STREAM_FINDINGS {
                    report.partial.push(format!(
                        "only its first {MAX_STREAM_FINDINGS} findings were recorded"
                    ));
                }
                // Quoted fields: a second pass over the file finds the cells.
                if let (Some(delim), Some(again)) = (delimiter, again)
                    && utf16.is_none()
                {
                    self.locate_cells(&path, again, delim, &mut findings);
                }
                Outcome::Scanned { findings }
            }
            Err(e) => failed(&e),
        };
        report
    }

    /// Rows and columns for findings in a CSV whose quoted fields the
    /// first pass could not place.
    fn locate_cells(&self, path: &Path, mut file: File, delim: u8, findings: &mut [Finding]) {
        if findings
            .iter()
            .any(|f| f.line_start > 0 && f.table.is_none())
            && file.seek(io::SeekFrom::Start(0)).is_ok()
            && let Err(e) = tabular::locate(file.take(self.max_file_bytes), delim, findings)
        {
            tracing::debug!(path = %path.display(), "no rows and columns: {e}");
        }
    }

    /// Scans a PDF's text, page by page; findings name their page. The
    /// parser needs the whole file in memory: at most `max_file_bytes`.
    fn scan_pdf(&self, mut report: FileReport, file: File, opts: ScanOptions) -> FileReport {
        let mut bytes = Vec::new();
        if let Err(e) = file.take(self.max_file_bytes).read_to_end(&mut bytes) {
            report.outcome = failed(&e);
            return report;
        }
        if opts.hash {
            report.sha256 = Some(crate::fsutil::sha256_hex(&bytes));
        }
        report.outcome = match pdf::pages_bounded(&bytes) {
            Ok(pages) => {
                let unread = pages.unread().iter().map(|why| format!("PDF: {why}"));
                report.partial.extend(unread);
                let text = Text {
                    reader: Box::new(pages.text.as_bytes()),
                    name: report.path.file_name().map(|n| n.as_bytes()),
                    path: Some(report.path.as_os_str().as_bytes()),
                    delimiter: None,
                    member: None,
                    place: Place::Pages(&pages),
                };
                match self.scan_text(text) {
                    Ok(StreamVerdict::Text { findings, .. }) => Outcome::Scanned { findings },
                    // Extracted text with NULs has none to report.
                    Ok(StreamVerdict::Binary) => Outcome::Scanned {
                        findings: Vec::new(),
                    },
                    Err(e) => failed(&e),
                }
            }
            Err(why) => Outcome::Skipped(SkipReason::Document(format!("PDF: {why}"))),
        };
        report.scanned_at = SystemTime::now();
        report
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
        let mut findings = Vec::new();
        // The archive's own name, for rules that look at names.
        if let Some(own) = report.path.file_name().filter(|_| self.rules.scans_names()) {
            findings = self.scan_file_name(own.as_bytes());
        }
        let mut members = Vec::new();
        let streams = std::cell::Cell::new(0usize);
        let mut sink = |text: Text<'_>| {
            streams.set(streams.get() + 1);
            if let StreamVerdict::Text { findings, .. } = self.scan_text(text)? {
                members.extend(findings);
            }
            Ok(())
        };
        // Hashed through the same descriptor once the walk is done.
        let again = opts.hash.then(|| file.try_clone().ok()).flatten();
        let mut walk = archive::Walk::new(&mut sink, self.archives);
        let result = walk.archive(kind, io::BufReader::new(file), &name, "", 0);
        let mut partial = std::mem::take(&mut walk.skipped);
        report.scanned_at = SystemTime::now();
        match result {
            Ok(()) => {}
            Err(ArchiveError::Limit(why) | ArchiveError::Exhausted(why)) => partial.push(why),
            Err(ArchiveError::Corrupt(why)) => partial.push(format!("cannot read it: {why}")),
        }
        // Nothing read at all: the archive is skipped, with why.
        if streams.get() == 0 && !partial.is_empty() {
            report.outcome = Outcome::Skipped(SkipReason::Archive(partial.join("; ")));
            return report;
        }
        // What was read is reported, and what was not is named with it.
        report.sha256 = again.and_then(|f| crate::fsutil::sha256_opened(&f).ok());
        findings.extend(members);
        report.partial = partial;
        report.outcome = Outcome::Scanned { findings };
        report
    }
}

fn failed(e: &io::Error) -> Outcome {
    Outcome::Failed(format!("read failed: {}", describe_io_error(e)))
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
/// What [`LocalEngine::scan_file`] reads at once: the sniff, and all of a
/// small file.
const HEAD: usize = 8192;
/// What format sniffing looks at.
const SNIFF: usize = 512;

/// Where a text file's content starts: at the file's offset (rewound to
/// 0), or with the head already read.
enum Start<'h> {
    Rewound,
    Head(&'h [u8]),
}

pub(super) fn read_head(r: &mut impl Read, head: &mut [u8]) -> io::Result<usize> {
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

/// Counts the bytes read through it.
struct Counted<'a, R> {
    inner: R,
    n: &'a mut u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.inner.read(buf)?;
        *self.n += got as u64;
        Ok(got)
    }
}
