//! Archives: zip, tar and gzip (and any nesting of them, to a depth
//! limit), read member by member; each member's text goes to the detection
//! stage as its own stream, named by its member path. Office documents are
//! zips too: their text parts are streams of text ([`super::ooxml`]), a
//! spreadsheet's sheets streams named after the sheet whose findings get
//! their row and column, and a PDF member's text a stream placed by page.
//!
//! Untrusted archives get limits, each a clear skip reason when crossed:
//! the nesting depth, the number of entries, the total bytes unpacked, and
//! the compression ratio of any member (a zip bomb is tiny and expands a
//! thousandfold). Declared sizes are not trusted: every byte unpacked is
//! counted as it is read. A corrupt archive is skipped, never a panic.

use std::cell::Cell;
use std::io::{self, Cursor, Read, Seek};
use std::rc::Rc;

use super::ooxml::{self, Doc, PartError};
use super::{Place, Sink, Text, base_name, delimiter_of, pdf};
use crate::config::ScannerConfig;

/// Members smaller than this are never judged by their ratio.
const RATIO_FLOOR: u64 = 1 << 20;
/// A nested zip is read into memory (zip needs to seek): at most this much.
const MAX_NESTED_ZIP: u64 = 64 << 20;

/// The kinds of archive dlpd opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Zip,
    Gzip,
    Tar,
}

/// What the first bytes (up to 512) say the data is.
pub fn sniff(head: &[u8]) -> Option<Kind> {
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Kind::Zip)
    } else if head.starts_with(&[0x1F, 0x8B]) {
        Some(Kind::Gzip)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Kind::Tar)
    } else {
        None
    }
}

/// The archive limits of a `[scanner]` config.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: u32,
    pub entries: u64,
    pub bytes: u64,
    pub ratio: u64,
}

impl Limits {
    pub fn new(cfg: &ScannerConfig) -> Limits {
        Limits {
            depth: cfg.archive_depth,
            entries: cfg.archive_max_entries,
            bytes: cfg.archive_max_bytes,
            ratio: cfg.archive_max_ratio,
        }
    }
}

/// Why an archive, or one of its members, was not scanned to the end.
#[derive(Debug)]
pub enum ArchiveError {
    /// A limit was crossed.
    Limit(String),
    /// The archive, or a member, is damaged or not what it claims.
    Corrupt(String),
    /// A limit on the whole walk (the number of entries): nothing more is
    /// read, though what was read still counts.
    Exhausted(String),
}

/// Most reasons kept for the members skipped in one file.
const MAX_SKIP_REASONS: usize = 20;

/// One archive being walked; its text streams go to `sink`.
pub struct Walk<'s, 'k> {
    sink: &'k mut Sink<'s>,
    limits: Limits,
    /// Members skipped alone (a limit or damage inside them), and why.
    pub skipped: Vec<String>,
    entries: u64,
    /// Bytes unpacked so far, across every member and level.
    unpacked: Rc<Cell<u64>>,
}

impl<'s, 'k> Walk<'s, 'k> {
    pub fn new(sink: &'k mut Sink<'s>, limits: Limits) -> Walk<'s, 'k> {
        Walk {
            sink,
            limits,
            skipped: Vec::new(),
            entries: 0,
            unpacked: Rc::default(),
        }
    }

    /// Walks the archive of `kind` in `r`; member names are prefixed with
    /// `prefix` (the path of an enclosing member, with `!`).
    pub fn archive<R: Read + Seek>(
        &mut self,
        kind: Kind,
        r: R,
        name: &str,
        prefix: &str,
        depth: u32,
    ) -> Result<(), ArchiveError> {
        if depth >= self.limits.depth {
            return Err(ArchiveError::Limit(format!(
                "archives nested deeper than scanner.archive_depth ({})",
                self.limits.depth
            )));
        }
        match kind {
            Kind::Zip => self.zip(r, prefix, depth),
            Kind::Tar => self.tar(Box::new(r), prefix, depth),
            Kind::Gzip => self.gzip(Box::new(r), name, prefix, depth),
        }
    }

    fn zip<R: Read + Seek>(&mut self, r: R, prefix: &str, depth: u32) -> Result<(), ArchiveError> {
        let mut zip = zip::ZipArchive::new(r).map_err(zip_corrupt)?;
        let doc = Doc::of(zip.file_names_raw());
        if doc == Some(Doc::Excel) {
            return self.workbook(&mut zip, prefix, depth);
        }
        for i in 0..zip.len() {
            let result = match self.zip_entry(&mut zip, i, prefix) {
                Ok(None) => continue,
                Err(e) => Err(e),
                Ok(Some((name, r))) => {
                    let part = &name[prefix.len()..];
                    match doc {
                        None => self.member(r, &name, depth),
                        Some(d) if d.text_part(part) => ooxml::paragraphs(io::BufReader::new(r))
                            .map_err(|e| self.part_error(d, &name, e))
                            .and_then(|text| self.text(Cursor::new(text), &name, Place::Plain)),
                        // Documents embedded in a document are scanned as files.
                        Some(_) if part.contains("/embeddings/") => self.member(r, &name, depth),
                        Some(_) => Ok(()),
                    }
                }
            };
            self.each(result)?;
        }
        Ok(())
    }

    /// A spreadsheet: each sheet's cells, found by sheet name, row and column.
    fn workbook<R: Read + Seek>(
        &mut self,
        zip: &mut zip::ZipArchive<R>,
        prefix: &str,
        depth: u32,
    ) -> Result<(), ArchiveError> {
        let shared = self
            .part(zip, prefix, "xl/sharedStrings.xml", |r| {
                ooxml::shared_strings(r)
            })?
            .unwrap_or_default();
        let rels = self
            .part(zip, prefix, "xl/_rels/workbook.xml.rels", |r| {
                ooxml::relationships(r)
            })?
            .unwrap_or_default();
        let sheets = self
            .part(zip, prefix, "xl/workbook.xml", |r| ooxml::sheets(r))?
            .unwrap_or_default();
        for (sheet_name, id) in sheets {
            let Some(part) = rels.get(&id) else { continue };
            // One sheet over a limit, or damaged, is skipped alone.
            let result = match self.part(zip, prefix, part, |r| ooxml::sheet(r, &shared)) {
                Ok(Some(found)) => self.text(
                    Cursor::new(found.text.as_bytes()),
                    &format!("{prefix}{sheet_name}"),
                    Place::Cells(&found),
                ),
                other => other.map(|_| ()),
            };
            self.each(result)?;
        }
        let embedded: Vec<usize> = (zip.file_names_raw().enumerate())
            .filter(|(_, n)| n.starts_with(b"xl/embeddings/"))
            .map(|(i, _)| i)
            .collect();
        for i in embedded {
            let result = match self.zip_entry(zip, i, prefix) {
                Ok(Some((name, r))) => self.member(r, &name, depth),
                other => other.map(|_| ()),
            };
            self.each(result)?;
        }
        Ok(())
    }

    /// Reads one part of a spreadsheet with `read`; `None` if it is absent.
    fn part<R: Read + Seek, T>(
        &mut self,
        zip: &mut zip::ZipArchive<R>,
        prefix: &str,
        part: &str,
        read: impl FnOnce(&mut dyn io::BufRead) -> Result<T, PartError>,
    ) -> Result<Option<T>, ArchiveError> {
        let Some(i) = zip.index_for_name(part) else {
            return Ok(None);
        };
        let Some((name, r)) = self.zip_entry(zip, i, prefix)? else {
            return Ok(None);
        };
        let result = read(&mut io::BufReader::new(r));
        result
            .map(Some)
            .map_err(|e| self.part_error(Doc::Excel, &name, e))
    }

    /// Zip entry `i`, counted against the walk's limits; `None` for a directory.
    fn zip_entry<'z, R: Read + Seek>(
        &mut self,
        zip: &'z mut zip::ZipArchive<R>,
        i: usize,
        prefix: &str,
    ) -> Result<Option<(String, Member<'z>)>, ArchiveError> {
        self.count_entry()?;
        let entry = zip.by_index(i).map_err(zip_corrupt)?;
        if entry.is_dir() {
            return Ok(None);
        }
        let name = format!("{prefix}{}", entry.name().map_err(zip_corrupt)?);
        let (size, packed) = (entry.size(), entry.compressed_size());
        if size > RATIO_FLOOR && size > packed.saturating_mul(self.limits.ratio) {
            return Err(self.bomb(&name, size, packed));
        }
        let counted = Counted::new(Box::new(entry) as Box<dyn Read + 'z>, self.budget(), &name);
        Ok(Some((name, counted)))
    }

    /// A document part that could not be read: a limit, or damage.
    fn part_error(&self, doc: Doc, name: &str, e: PartError) -> ArchiveError {
        match e {
            PartError::Read(io) => match limit_of(&io) {
                Some(why) => ArchiveError::Limit(why),
                None => ArchiveError::Corrupt(format!("{doc}: {name}: {io}")),
            },
            PartError::Xml(why) => ArchiveError::Corrupt(format!("{doc}: {name}: {why}")),
            PartError::TooBig(why) => ArchiveError::Limit(format!("{doc}: {name}: {why}")),
        }
    }

    // Members are type-erased (`dyn Read`): nesting would otherwise make
    // the reader types recurse without end.
    fn tar(&mut self, r: Box<dyn Read + '_>, prefix: &str, depth: u32) -> Result<(), ArchiveError> {
        let corrupt = |e: io::Error| ArchiveError::Corrupt(format!("tar: {e}"));
        let mut tar = tar::Archive::new(r);
        for entry in tar.entries().map_err(corrupt)? {
            self.count_entry()?;
            let entry = entry.map_err(corrupt)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = format!("{prefix}{}", String::from_utf8_lossy(&entry.path_bytes()));
            let counted = Counted::new(Box::new(entry) as Box<dyn Read + '_>, self.budget(), &name);
            let result = self.member(counted, &name, depth);
            self.each(result)?;
        }
        Ok(())
    }

    fn gzip(
        &mut self,
        r: Box<dyn Read + '_>,
        name: &str,
        prefix: &str,
        depth: u32,
    ) -> Result<(), ArchiveError> {
        // The member inside is the file's name without .gz (or .tgz's .tar).
        let inner = match name.rsplit('/').next().unwrap_or(name) {
            n if n.ends_with(".tgz") => format!("{}.tar", &n[..n.len() - 4]),
            n if n.ends_with(".gz") => n[..n.len() - 3].to_string(),
            n => format!("{n}.ungz"),
        };
        let member = format!("{prefix}{inner}");
        let packed = CountIn::new(r);
        let read_in = packed.count.clone();
        let gz = flate2::read::MultiGzDecoder::new(packed);
        let guard = RatioGuard {
            inner: gz,
            read_in,
            out: 0,
            ratio: self.limits.ratio,
            name: member.clone(),
        };
        let counted = Counted::new(
            Box::new(guard) as Box<dyn Read + '_>,
            self.budget(),
            &member,
        );
        let result = self.member(counted, &member, depth);
        self.each(result)
    }

    /// A member's outcome: a limit or damage met inside one member skips
    /// that member alone (noted in `skipped`), and the walk goes on with
    /// the others. Only a limit on the whole walk ends it.
    fn each(&mut self, result: Result<(), ArchiveError>) -> Result<(), ArchiveError> {
        match result {
            Err(ArchiveError::Limit(why)) => {
                self.note_skipped(why);
                Ok(())
            }
            Err(ArchiveError::Corrupt(why)) => {
                self.note_skipped(format!("cannot read it: {why}"));
                Ok(())
            }
            other => other,
        }
    }

    /// Scans one member, or opens it when it is itself an archive.
    fn member(&mut self, mut r: Member<'_>, name: &str, depth: u32) -> Result<(), ArchiveError> {
        let mut head = Vec::with_capacity(512);
        (&mut r)
            .take(512)
            .read_to_end(&mut head)
            .map_err(|e| self.read_error(name, e))?;
        match sniff(&head) {
            Some(kind) if depth + 1 < self.limits.depth => {
                let nested_prefix = format!("{name}!");
                match kind {
                    Kind::Zip => {
                        let mut buf = head;
                        (&mut r)
                            .take(MAX_NESTED_ZIP + 1)
                            .read_to_end(&mut buf)
                            .map_err(|e| self.read_error(name, e))?;
                        if buf.len() as u64 > MAX_NESTED_ZIP {
                            return Err(ArchiveError::Limit(format!(
                                "{name}: a nested zip over {} MiB",
                                MAX_NESTED_ZIP >> 20
                            )));
                        }
                        self.archive(kind, Cursor::new(buf), name, &nested_prefix, depth + 1)
                    }
                    _ => {
                        let stream: Box<dyn Read + '_> = Box::new(Cursor::new(head).chain(r));
                        match kind {
                            Kind::Tar => self.tar(stream, &nested_prefix, depth + 1),
                            _ => self.gzip(stream, name, &nested_prefix, depth + 1),
                        }
                    }
                }
            }
            Some(_) => Err(ArchiveError::Limit(format!(
                "{name}: archives nested deeper than scanner.archive_depth ({})",
                self.limits.depth
            ))),
            None if pdf::sniff(&head) => {
                let mut bytes = head;
                r.read_to_end(&mut bytes)
                    .map_err(|e| self.read_error(name, e))?;
                match pdf::pages_bounded(&bytes) {
                    Ok(pages) => {
                        for why in pages.unread() {
                            self.note_skipped(format!("{name}: PDF: {why}"));
                        }
                        self.text(
                            Cursor::new(pages.text.as_bytes()),
                            name,
                            Place::Pages(&pages),
                        )
                    }
                    // One unreadable document does not hide the others,
                    // and is named among what went unseen.
                    Err(why) => {
                        self.note_skipped(format!("{name}: no text extracted: PDF: {why}"));
                        Ok(())
                    }
                }
            }
            None => self.text(Cursor::new(head).chain(r), name, Place::Plain),
        }
    }

    /// Hands a member's text to the detection stage.
    fn text(
        &mut self,
        reader: impl Read,
        name: &str,
        place: Place<'_>,
    ) -> Result<(), ArchiveError> {
        let base = base_name(name);
        let text = Text {
            reader: Box::new(reader),
            name: Some(base.as_bytes()),
            path: Some(name.as_bytes()),
            delimiter: match place {
                Place::Plain => delimiter_of(base),
                _ => None,
            },
            member: Some(name.to_string()),
            place,
        };
        (self.sink)(text).map_err(|e| self.read_error(name, e))
    }

    fn note_skipped(&mut self, why: String) {
        if self.skipped.len() < MAX_SKIP_REASONS && !self.skipped.contains(&why) {
            self.skipped.push(why);
        }
    }

    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.entries {
            return Err(ArchiveError::Exhausted(format!(
                "more than scanner.archive_max_entries ({}) entries",
                self.limits.entries
            )));
        }
        Ok(())
    }

    /// The walk's unpacking budget, for one member's reader.
    fn budget(&self) -> Budget {
        Budget {
            used: self.unpacked.clone(),
            limit: self.limits.bytes,
        }
    }

    fn bomb(&self, name: &str, size: u64, packed: u64) -> ArchiveError {
        ArchiveError::Limit(format!(
            "{name} expands {size} bytes from {packed}, over scanner.archive_max_ratio ({}:1): a zip bomb?",
            self.limits.ratio
        ))
    }

    /// Limits found while reading come back as io errors; sort them out.
    fn read_error(&self, name: &str, e: io::Error) -> ArchiveError {
        match limit_of(&e) {
            Some(why) => ArchiveError::Limit(why),
            None => ArchiveError::Corrupt(format!("{name}: {e}")),
        }
    }
}

/// The limit an io error carries, if it is one.
fn limit_of(e: &io::Error) -> Option<String> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<LimitHit>())
        .map(|hit| hit.0.clone())
}

fn zip_corrupt(e: zip::result::ZipError) -> ArchiveError {
    ArchiveError::Corrupt(format!("zip: {e}"))
}

/// A member's bytes as they unpack, counted.
type Member<'a> = Counted<Box<dyn Read + 'a>>;

/// A limit crossed while reading, carried through `io::Error`.
#[derive(Debug)]
struct LimitHit(String);

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimitHit {}

fn limit_hit(msg: String) -> io::Error {
    io::Error::other(LimitHit(msg))
}

/// The unpacked-bytes budget shared by every member of one walk.
struct Budget {
    used: Rc<Cell<u64>>,
    limit: u64,
}

/// Counts what a member unpacks against the walk's budget.
struct Counted<R> {
    inner: R,
    budget: Budget,
    name: String,
}

impl<R> Counted<R> {
    fn new(inner: R, budget: Budget, name: &str) -> Counted<R> {
        Counted {
            inner,
            budget,
            name: name.to_string(),
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.budget.used.get() + n as u64;
        self.budget.used.set(used);
        if used > self.budget.limit {
            return Err(limit_hit(format!(
                "{}: unpacking passes scanner.archive_max_bytes ({}) in all",
                self.name, self.budget.limit
            )));
        }
        Ok(n)
    }
}

/// Counts compressed bytes read.
struct CountIn<R> {
    inner: R,
    count: Rc<Cell<u64>>,
}

impl<R> CountIn<R> {
    fn new(inner: R) -> CountIn<R> {
        CountIn {
            inner,
            count: Default::default(),
        }
    }
}

impl<R: Read> Read for CountIn<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// Stops a stream whose output outgrows its input by more than the ratio.
struct RatioGuard<R> {
    inner: R,
    read_in: Rc<Cell<u64>>,
    out: u64,
    ratio: u64,
    name: String,
}

impl<R: Read> Read for RatioGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out += n as u64;
        let packed = self.read_in.get().max(1);
        if self.out > RATIO_FLOOR && self.out > packed.saturating_mul(self.ratio) {
            return Err(limit_hit(format!(
                "{} expands past {}:1 (scanner.archive_max_ratio): a gzip bomb?",
                self.name, self.ratio
            )));
        }
        Ok(n)
    }
}
