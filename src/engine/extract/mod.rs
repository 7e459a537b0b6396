//! The format stage: what a file holds as text. It sniffs a file's first
//! bytes and yields text streams, each with where it sits (an archive
//! member, a page, a sheet's cells): archives ([`archive`], nested, with
//! their limits), office documents ([`ooxml`]), PDF ([`pdf`]), UTF-16
//! ([`utf16`]) and CSV or TSV ([`tabular`]). It knows nothing of
//! detectors: the detection stage (`engine::local`) scans every stream the
//! same way. So each extractor is one file that can be bounded, fuzzed and
//! timed alone.

pub(crate) mod archive;
pub(crate) mod ooxml;
pub(crate) mod pdf;
pub(crate) mod tabular;
pub(crate) mod utf16;

use std::io::{self, Read};
use std::path::Path;

/// One text stream of a file.
pub(crate) struct Text<'a> {
    pub reader: Box<dyn Read + 'a>,
    /// The stream's own file name, for rules whose scope takes in names.
    pub name: Option<&'a [u8]>,
    /// Its path (a member's within its archive), for rule packs' paths.
    pub path: Option<&'a [u8]>,
    /// A CSV or TSV stream's delimiter: findings get their row and column.
    pub delimiter: Option<u8>,
    /// Where the stream is inside the file (`dir/a.txt`, nested as
    /// `inner.zip!dir/a.txt`, or a sheet's name); `None` for the file
    /// itself.
    pub member: Option<String>,
    /// What a content finding's offset says about where it is.
    pub place: Place<'a>,
}

/// How to place a content finding within its stream.
#[derive(Clone, Copy)]
pub(crate) enum Place<'a> {
    /// The offset is all there is.
    Plain,
    /// A sheet's text: the offset gives a cell.
    Cells(&'a ooxml::Sheet),
    /// A PDF's text: the offset gives a page.
    Pages(&'a pdf::Pages),
}

/// Where the streams go: the detection stage. Binary streams are passed
/// over there; an error is a read error (or a limit hit while reading).
pub(crate) type Sink<'s> = dyn FnMut(Text<'_>) -> io::Result<()> + 's;

/// What a file's first bytes (up to 512) and name say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Archive(archive::Kind),
    Pdf,
    /// Text; UTF-16 with a byte-order mark (`big_endian`) is decoded.
    Text {
        utf16: Option<bool>,
    },
}

impl Format {
    /// Sniffs `head`; archives count only while `archives` are opened.
    pub fn sniff(head: &[u8], archives: bool) -> Format {
        match archive::sniff(head) {
            Some(kind) if archives => Format::Archive(kind),
            _ if pdf::sniff(head) => Format::Pdf,
            _ => Format::Text {
                utf16: utf16::bom(head),
            },
        }
    }
}

/// A member's own file name: `a.txt` of `x.zip!dir/a.txt`.
pub(crate) fn base_name(member: &str) -> &str {
    member.rsplit(['/', '!']).next().unwrap_or(member)
}

/// The delimiter of a stream named `name`, if it is CSV or TSV.
pub(crate) fn delimiter_of(name: &str) -> Option<u8> {
    tabular::delimiter(Path::new(name))
}
