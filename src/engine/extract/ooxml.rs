//! Office Open XML (docx, xlsx, pptx): the text people see, pulled out of
//! the XML parts so detectors match values and not markup, and so a
//! spreadsheet finding names its sheet, row and column.
//!
//! Parts are read through the archive walk's counted readers, so the same
//! size and ratio limits hold; a part that is not well-formed XML makes
//! the document corrupt, a clear skip reason.

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::sync::Arc;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::engine::TablePos;

/// Which kind of document a zip holds, by its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    Word,
    Excel,
    PowerPoint,
}

impl Doc {
    /// Recognises a document by its main part; any other zip is `None`.
    pub fn of<'a>(mut names: impl Iterator<Item = &'a [u8]>) -> Option<Doc> {
        names.find_map(|n| match n {
            b"word/document.xml" => Some(Doc::Word),
            b"xl/workbook.xml" => Some(Doc::Excel),
            b"ppt/presentation.xml" => Some(Doc::PowerPoint),
            _ => None,
        })
    }

    /// Whether `part` holds text for people, read as paragraphs.
    pub fn text_part(self, part: &str) -> bool {
        let numbered = |prefix: &str, stem: &str| {
            part.strip_prefix(prefix)
                .and_then(|p| p.strip_prefix(stem))
                .and_then(|p| p.strip_suffix(".xml"))
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        };
        match self {
            Doc::Word => {
                matches!(
                    part,
                    "word/document.xml"
                        | "word/footnotes.xml"
                        | "word/endnotes.xml"
                        | "word/comments.xml"
                ) || numbered("word/", "header")
                    || numbered("word/", "footer")
            }
            Doc::PowerPoint => {
                numbered("ppt/slides/", "slide")
                    || numbered("ppt/notesSlides/", "notesSlide")
                    || numbered("ppt/comments/", "comment")
            }
            Doc::Excel => false,
        }
    }
}

/// The name the type goes by in skip reasons.
impl std::fmt::Display for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Doc::Word => "docx",
            Doc::Excel => "xlsx",
            Doc::PowerPoint => "pptx",
        })
    }
}

/// Why a part could not be read.
#[derive(Debug)]
pub enum PartError {
    /// Reading failed; a crossed archive limit arrives this way.
    Read(Arc<io::Error>),
    /// The part is not well-formed XML.
    Xml(String),
    /// The part holds more text than dlpd keeps in memory.
    TooBig(String),
}

/// A sheet's text: a line per row, cells separated by tabs, and where
/// each cell's text is.
#[derive(Debug, Default)]
pub struct Sheet {
    pub text: String,
    cells: Vec<Cell>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    start: usize,
    end: usize,
    row: u64,
    column: u64,
}

impl Sheet {
    /// The cells a byte range of [`text`](Self::text) covers.
    pub fn locate(&self, start: usize, end: usize) -> Option<TablePos> {
        let at = |offset: usize| {
            let i = self.cells.partition_point(|c| c.end <= offset);
            self.cells.get(i).filter(|c| c.start <= offset)
        };
        let first = at(start)?;
        let last = at(end.saturating_sub(1).max(start)).unwrap_or(first);
        Some(TablePos {
            row_start: first.row,
            row_end: last.row,
            column_start: first.column,
            column_end: last.column,
        })
    }
}

/// The text of a Word or PowerPoint part: runs (`w:t`, `a:t`) joined, a
/// line per paragraph, tabs and breaks kept.
pub fn paragraphs(r: impl BufRead) -> Result<String, PartError> {
    let mut out = String::new();
    let mut in_text = false;
    walk(r, |ev| {
        match ev {
            Xml::Open(e) if e.local_name().as_ref() == "t" => in_text = true,
            Xml::Close("t") => in_text = false,
            Xml::Close("p") => out.push('\n'),
            Xml::Empty(e) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" | "cr" => out.push('\n'),
                _ => {}
            },
            Xml::Text(t) if in_text => out.push_str(t),
            _ => {}
        }
        out.len()
    })?;
    Ok(out)
}

/// `xl/sharedStrings.xml`: the strings cells refer to by index.
pub fn shared_strings(r: impl BufRead) -> Result<Vec<String>, PartError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let (mut in_item, mut in_text, mut in_phonetic) = (false, false, false);
    let mut held = 0usize;
    walk(r, |ev| {
        match ev {
            Xml::Open(e) => match e.local_name().as_ref() {
                "si" => {
                    in_item = true;
                    current.clear();
                }
                "t" => in_text = in_item,
                // Phonetic guides repeat the text in another script.
                "rPh" => in_phonetic = true,
                _ => {}
            },
            Xml::Empty(e) if e.local_name().as_ref() == "si" => out.push(String::new()),
            Xml::Close("si") => {
                in_item = false;
                held += current.len();
                out.push(std::mem::take(&mut current));
            }
            Xml::Close("t") => in_text = false,
            Xml::Close("rPh") => in_phonetic = false,
            Xml::Text(t) if in_text && !in_phonetic => current.push_str(t),
            _ => {}
        }
        held + current.len()
    })?;
    Ok(out)
}

/// `xl/workbook.xml`: each sheet's name and relationship id, in order.
pub fn sheets(r: impl BufRead) -> Result<Vec<(String, String)>, PartError> {
    let mut out = Vec::new();
    walk(r, |ev| {
        if let Xml::Open(e) | Xml::Empty(e) = ev
            && e.local_name().as_ref() == "sheet"
        {
            let (name, id) = (attr(e, "name"), attr(e, "r:id"));
            if let (Some(name), Some(id)) = (name, id) {
                out.push((name, id));
            }
        }
        0
    })?;
    Ok(out)
}

/// `xl/_rels/workbook.xml.rels`: relationship id to part name.
pub fn relationships(r: impl BufRead) -> Result<HashMap<String, String>, PartError> {
    let mut out = HashMap::new();
    walk(r, |ev| {
        if let Xml::Open(e) | Xml::Empty(e) = ev
            && e.local_name().as_ref() == "Relationship"
            && let (Some(id), Some(target)) = (attr(e, "Id"), attr(e, "Target"))
        {
            // Targets are relative to xl/, or absolute within the package.
            let part = match target.strip_prefix('/') {
                Some(abs) => abs.to_string(),
                None => format!("xl/{target}"),
            };
            out.insert(id, part);
        }
        0
    })?;
    Ok(out)
}

/// A worksheet's cells as text, each at its row and column.
pub fn sheet(r: impl BufRead, shared: &[String]) -> Result<Sheet, PartError> {
    let mut sheet = Sheet::default();
    let mut row = 0u64;
    let mut last_row = 0u64;
    // The cell being read: its position, type, and value so far.
    let mut cell: Option<(u64, u64, String)> = None;
    let mut value = String::new();
    let mut in_value = false;
    let mut next_column = 1u64;
    walk(r, |ev| {
        match ev {
            Xml::Open(e) | Xml::Empty(e) if e.local_name().as_ref() == "row" => {
                row = attr(e, "r").and_then(|r| r.parse().ok()).unwrap_or(row + 1);
                next_column = 1;
            }
            Xml::Open(e) if e.local_name().as_ref() == "c" => {
                let (r, c) = attr(e, "r")
                    .and_then(|a| cell_ref(&a))
                    .unwrap_or((row, next_column));
                row = r;
                next_column = c + 1;
                cell = Some((r, c, attr(e, "t").unwrap_or_default()));
                value.clear();
            }
            Xml::Open(e) if matches!(e.local_name().as_ref(), "v" | "t") => {
                in_value = cell.is_some()
            }
            Xml::Close("v" | "t") => in_value = false,
            Xml::Text(t) if in_value => value.push_str(t),
            Xml::Close("c") => {
                let Some((r, c, kind)) = cell.take() else {
                    return sheet.text.len() + value.len();
                };
                let text = match kind.as_str() {
                    "s" => value
                        .trim()
                        .parse::<usize>()
                        .ok()
                        .and_then(|i| shared.get(i))
                        .map_or("", String::as_str),
                    _ => value.as_str(),
                };
                if text.is_empty() {
                    return sheet.text.len() + value.len();
                }
                if !sheet.text.is_empty() {
                    sheet.text.push(if r == last_row { '\t' } else { '\n' });
                }
                last_row = r;
                let start = sheet.text.len();
                sheet.text.push_str(text);
                sheet.cells.push(Cell {
                    start,
                    end: sheet.text.len(),
                    row: r,
                    column: c,
                });
            }
            _ => {}
        }
        // Cells that repeat one shared string each hold a copy: counted.
        sheet.text.len() + value.len()
    })?;
    if !sheet.text.is_empty() {
        sheet.text.push('\n');
    }
    Ok(sheet)
}

/// `B12` as (row 12, column 2).
fn cell_ref(r: &str) -> Option<(u64, u64)> {
    let split = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = r.split_at(split);
    if letters.is_empty() || letters.len() > 3 {
        return None;
    }
    let column = letters.bytes().try_fold(0u64, |n, b| {
        b.is_ascii_uppercase()
            .then(|| n * 26 + u64::from(b - b'A' + 1))
    })?;
    Some((digits.parse().ok()?, column))
}

/// The XML events the readers above need, entity references resolved.
enum Xml<'a, 'b> {
    Open(&'a BytesStart<'b>),
    Empty(&'a BytesStart<'b>),
    /// A closing tag's local name.
    Close(&'a str),
    Text(&'a str),
}

/// Most text one part may produce, held in memory: counted as produced
/// (shared strings copied into every cell that uses them included), so a
/// small file cannot make dlpd hold gigabytes.
pub const MAX_PART_TEXT: usize = 64 << 20;

/// Streams `r`'s events to `f`, which returns how many bytes of text it
/// now holds; past [`MAX_PART_TEXT`] the walk stops with
/// [`PartError::TooBig`]. An error says what is wrong and where.
fn walk(r: impl BufRead, mut f: impl FnMut(Xml<'_, '_>) -> usize) -> Result<(), PartError> {
    let mut reader = Reader::from_reader(r);
    let mut buf = Vec::new();
    loop {
        let ev = reader.read_event_into(&mut buf).map_err(|e| match e {
            quick_xml::Error::Io(io) => PartError::Read(io),
            e => PartError::Xml(format!(
                "not well-formed XML at byte {}: {e}",
                reader.buffer_position()
            )),
        })?;
        let held = match &ev {
            Event::Start(e) => f(Xml::Open(e)),
            Event::Empty(e) => f(Xml::Empty(e)),
            Event::End(e) => f(Xml::Close(e.local_name().as_ref())),
            Event::Text(t) => f(Xml::Text(&t.xml10_content())),
            Event::CData(t) => f(Xml::Text(t)),
            Event::GeneralRef(r) => {
                let mut tmp = [0u8; 4];
                match resolve(r) {
                    Some(c) => f(Xml::Text(c.encode_utf8(&mut tmp))),
                    None => 0,
                }
            }
            Event::Eof => return Ok(()),
            _ => 0,
        };
        if held > MAX_PART_TEXT {
            return Err(PartError::TooBig(format!(
                "more than {} MiB of text in one part",
                MAX_PART_TEXT >> 20
            )));
        }
        buf.clear();
    }
}

/// A character or predefined entity reference; others have no text.
fn resolve(r: &BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c);
    }
    match r.as_ref() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

/// An attribute's unescaped value, by its qualified name.
fn attr(e: &BytesStart<'_>, name: &str) -> Option<String> {
    let a = e.try_get_attribute(name).ok()??;
    a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
        .ok()
        .map(|v| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_references() {
        assert_eq!(cell_ref("A1"), Some((1, 1)));
        assert_eq!(cell_ref("AB12"), Some((12, 28)));
        assert_eq!(cell_ref("12"), None);
        assert_eq!(cell_ref("a1"), None);
    }

    #[test]
    fn word_text_keeps_paragraphs_and_entities() {
        let xml = r#"<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>SSN &amp; </w:t></w:r><w:r><w:t xml:space="preserve">536-22-</w:t></w:r><w:r><w:t>1234</w:t></w:r></w:p><w:p><w:r><w:tab/><w:t>next&#x41;</w:t></w:r></w:p></w:body></w:document>"#;
        assert_eq!(
            paragraphs(xml.as_bytes()).unwrap(),
            "SSN & 536-22-1234\n\tnextA\n"
        );
        assert!(paragraphs(&b"<w:p><w:t>x</w:q>"[..]).is_err());
    }

    #[test]
    fn sheets_locate_cells() {
        let shared = shared_strings(
            &br#"<sst><si><t>name</t></si><si><r><t>5</t></r><r><t>36-22-1234</t></r><rPh><t>x</t></rPh></si><si/></sst>"#[..],
        )
        .unwrap();
        assert_eq!(shared, ["name", "536-22-1234", ""]);
        let xml = r#"<worksheet><sheetData>
            <row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="inlineStr"><is><t>note</t></is></c></row>
            <row r="4"><c r="B4" t="s"><v>1</v></c><c r="C4"><v>42</v></c></row>
        </sheetData></worksheet>"#;
        let s = sheet(xml.as_bytes(), &shared).unwrap();
        assert_eq!(s.text, "name\tnote\n536-22-1234\t42\n");
        let at = s.text.find("536").unwrap();
        let pos = s.locate(at, at + 11).unwrap();
        assert_eq!((pos.row_start, pos.column_start, pos.column_end), (4, 2, 2));
    }
}
