//! The text a PDF draws. lopdf reads the file's structure (cross-reference
//! tables and streams, object streams, filters, encryption with an empty
//! password) and each font's encoding (its `ToUnicode` map, or a named
//! encoding with its differences). Content streams are read here, by a
//! lexer that keeps only what places text: strings, the font, moves to a
//! new line, and form XObjects.
//!
//! No glyph is measured and no page is laid out. A detector needs the
//! characters in order, with a space or a line break where the page has
//! one, and that costs little more than inflating the streams. (The
//! pdf-extract crate used before measured every glyph and read real
//! documents at 1 to 4 MB/s.)

use std::collections::{BTreeMap, HashMap};

use lopdf::{Dictionary, Document, Encoding, Object, ObjectId};

use super::lexer::{Lexer, Operands, Token};
use super::{Pages, PdfError};

/// How deeply form XObjects may draw other forms.
const MAX_FORM_DEPTH: usize = 8;
/// A move left in a `TJ` array wider than this (thousandths of an em) is
/// a gap between words; smaller ones are kerning.
const WORD_GAP: f32 = 180.0;

/// A page's or a form's resources of one kind, by name.
type Named<'a> = BTreeMap<Vec<u8>, &'a Object>;

/// Every page's text, stopping with an error once it passes `max_text`.
pub(super) fn extract(bytes: &[u8], max_text: usize) -> Result<Pages, PdfError> {
    let mut doc =
        Document::load_mem(bytes).map_err(|e| PdfError(format!("damaged or unsupported ({e})")))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(PdfError(
            "encrypted with a password, so its text cannot be read".into(),
        ));
    }
    // A font with a `ToUnicode` map is read through it, as readers do, even
    // when it also names an encoding: lopdf would take the encoding, and
    // glyph names it does not know (`/g1`) would decode to nothing.
    let mapped: Vec<(*const Dictionary, Dictionary)> = doc
        .objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.has(b"ToUnicode") && d.has(b"Encoding") && d.has_type(b"Font"))
        .map(|d| {
            let mut plain = d.clone();
            plain.remove(b"Encoding");
            (d as *const Dictionary, plain)
        })
        .collect();
    let mut reader = Reader {
        mapped: mapped.iter().map(|(key, plain)| (*key, plain)).collect(),
        doc: &doc,
        decoders: Vec::new(),
        known: HashMap::new(),
        text: String::new(),
        max_text,
        line_y: None,
        font: None,
    };
    let mut starts = Vec::new();
    for page in doc.page_iter() {
        starts.push(reader.text.len());
        let (own, inherited) = doc.get_page_resources(page).unwrap_or_default();
        let dicts: Vec<&Dictionary> = own
            .into_iter()
            .chain(
                inherited
                    .iter()
                    .filter_map(|id| doc.get_dictionary(*id).ok()),
            )
            .collect();
        let scope = Scope {
            fonts: named(&doc, &dicts, b"Font"),
            xobjects: named(&doc, &dicts, b"XObject"),
        };
        for id in doc.get_page_contents(page) {
            let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
                continue;
            };
            if let Some(content) = plain(stream)? {
                reader.draw(&content, &scope, &mut vec![id])?;
            }
        }
        reader.line_y = None;
        reader.font = None;
        reader.newline();
    }
    if starts.is_empty() {
        return Err(PdfError("damaged or unsupported (no pages found)".into()));
    }
    Ok(Pages {
        text: reader.text,
        starts,
    })
}

/// The most a content stream may inflate to: far more than any real page
/// draws, and well within the parsing child's memory.
const MAX_STREAM: u64 = 128 << 20;

/// A content stream's bytes, its filters undone; `None` if they cannot be
/// (an unknown filter), as a reader would leave it out.
///
/// Deflate stages, in nearly every stream, are inflated here and not by
/// lopdf, which keeps what it had when memory ran out and says nothing: a
/// bomb would be read short, its end unseen. Here one is an error. Other
/// stages (ASCII85, hex, LZW, run length) are lopdf's, one at a time.
fn plain(stream: &lopdf::Stream) -> Result<Option<Vec<u8>>, PdfError> {
    let filters = match stream.filters() {
        Ok(filters) if !filters.is_empty() => filters,
        _ => return Ok(Some(stream.content.clone())),
    };
    let mut data = std::borrow::Cow::Borrowed(&stream.content[..]);
    for filter in filters {
        let decoded = match filter {
            b"FlateDecode" | b"Fl" => inflate(&data)?,
            other => {
                let mut dict = Dictionary::new();
                dict.set("Filter", Object::Name(other.to_vec()));
                match lopdf::Stream::new(dict, data.into_owned()).decompressed_content() {
                    Ok(decoded) => decoded,
                    Err(_) => return Ok(None),
                }
            }
        };
        if decoded.len() as u64 > MAX_STREAM {
            return Err(too_big());
        }
        data = std::borrow::Cow::Owned(decoded);
    }
    // Predictors (rare in content streams) are lopdf's: with every stage
    // known to fit, its decoding cannot run short of memory.
    if stream.dict.get(b"DecodeParms").is_ok() {
        return Ok(stream.get_plain_content().ok());
    }
    Ok(Some(data.into_owned()))
}

/// Inflates a deflate stage to at most [`MAX_STREAM`] bytes: zlib, or raw
/// deflate after its two header bytes as lopdf also tries. A damaged
/// stream is read as far as it goes.
fn inflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut read = flate2::read::ZlibDecoder::new(data)
        .take(MAX_STREAM + 1)
        .read_to_end(&mut out);
    if read.is_err() && out.is_empty() && data.len() > 2 {
        read = flate2::read::DeflateDecoder::new(&data[2..])
            .take(MAX_STREAM + 1)
            .read_to_end(&mut out);
    }
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Err(too_big()),
        _ if out.len() as u64 > MAX_STREAM => Err(too_big()),
        _ => Ok(out),
    }
}

fn too_big() -> PdfError {
    PdfError(format!(
        "a content stream inflates past {} MiB, more memory than a page may take (a compression bomb?)",
        MAX_STREAM >> 20
    ))
}

/// The resources a content stream names.
struct Scope<'a> {
    fonts: Named<'a>,
    xobjects: Named<'a>,
}

/// The `kind` entries of resource dictionaries, the first naming each.
fn named<'a>(doc: &'a Document, dicts: &[&'a Dictionary], kind: &[u8]) -> Named<'a> {
    let mut out = Named::new();
    for dict in dicts {
        let Ok(entries) = dict
            .get(kind)
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_dict())
        else {
            continue;
        };
        for (name, value) in entries.iter() {
            out.entry(name.clone()).or_insert(value);
        }
    }
    out
}

struct Reader<'a> {
    doc: &'a Document,
    /// Fonts by their dictionary, as read without their `/Encoding`.
    mapped: HashMap<*const Dictionary, &'a Dictionary>,
    /// Each font's decoder, made once per font however many pages use it.
    decoders: Vec<Decoder<'a>>,
    known: HashMap<*const Dictionary, usize>,
    text: String,
    max_text: usize,
    /// The baseline of the last `Tm`, to tell a new line from a new column.
    line_y: Option<f32>,
    /// The font selected, kept from one of a page's content streams to the
    /// next and into the forms it draws, as the text state is.
    font: Option<usize>,
}

impl<'a> Reader<'a> {
    /// Reads one content stream; `forms` are the streams being drawn, so
    /// a form that draws itself is not followed.
    fn draw(
        &mut self,
        content: &[u8],
        scope: &Scope<'a>,
        forms: &mut Vec<ObjectId>,
    ) -> Result<(), PdfError> {
        let mut lexer = Lexer::new(content);
        let mut operands = Operands::default();
        while let Some(token) = lexer.next(&mut operands.strings) {
            let op = match token {
                Token::Operator(op) => op,
                other => {
                    operands.push(other);
                    continue;
                }
            };
            match op {
                b"BT" => self.space(),
                b"Tf" => {
                    self.font = operands
                        .last_name()
                        .and_then(|name| scope.fonts.get(name))
                        .and_then(|font| self.encoding(font));
                }
                b"Tj" => {
                    if let Some(s) = operands.last_string() {
                        self.show(s)?;
                    }
                }
                b"'" | b"\"" => {
                    self.newline();
                    if let Some(s) = operands.last_string() {
                        self.show(s)?;
                    }
                }
                b"TJ" => {
                    for token in &operands.tokens {
                        match *token {
                            Token::String(from, to) => self.show(&operands.strings[from..to])?,
                            Token::Number(n) if n < -WORD_GAP => self.space(),
                            _ => {}
                        }
                    }
                }
                b"Td" | b"TD" => match operands.numbers::<2>() {
                    Some([_, ty]) if ty != 0.0 => self.newline(),
                    Some([tx, _]) if tx != 0.0 => self.space(),
                    _ => {}
                },
                b"T*" => self.newline(),
                b"Tm" => {
                    if let Some([.., y]) = operands.numbers::<6>() {
                        if self.line_y.is_some_and(|last| last == y) {
                            self.space();
                        } else {
                            self.newline();
                        }
                        self.line_y = Some(y);
                    }
                }
                b"Do" => {
                    if let Some(name) = operands.last_name() {
                        self.form(scope, name, forms)?;
                    }
                }
                b"BI" => lexer.skip_inline_image(),
                _ => {}
            }
            operands.clear();
        }
        Ok(())
    }

    /// Draws the form XObject `name`, with its own resources if it has them.
    fn form(
        &mut self,
        scope: &Scope<'a>,
        name: &[u8],
        forms: &mut Vec<ObjectId>,
    ) -> Result<(), PdfError> {
        let doc = self.doc;
        let Some(Object::Reference(id)) = scope.xobjects.get(name).copied() else {
            return Ok(());
        };
        if forms.len() > MAX_FORM_DEPTH || forms.contains(id) {
            return Ok(());
        }
        let Ok(stream) = doc.get_object(*id).and_then(Object::as_stream) else {
            return Ok(());
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return Ok(());
        }
        let Some(content) = plain(stream)? else {
            return Ok(());
        };
        let own = stream
            .dict
            .get(b"Resources")
            .and_then(|o| doc.dereference(o))
            .and_then(|(_, o)| o.as_dict());
        let inner;
        let scope = match own {
            Ok(dict) => {
                inner = Scope {
                    fonts: named(doc, &[dict], b"Font"),
                    xobjects: named(doc, &[dict], b"XObject"),
                };
                &inner
            }
            Err(_) => scope,
        };
        // A form draws in the state it was called in, which is restored after.
        let font = self.font;
        forms.push(*id);
        let drawn = self.draw(&content, scope, forms);
        forms.pop();
        self.font = font;
        drawn
    }

    /// The index of `font`'s decoder, made the first time it is used.
    fn encoding(&mut self, font: &'a Object) -> Option<usize> {
        let dict = self.doc.dereference(font).ok()?.1.as_dict().ok()?;
        let key = dict as *const Dictionary;
        if let Some(i) = self.known.get(&key) {
            return Some(*i);
        }
        let read_as = self.mapped.get(&key).copied().unwrap_or(dict);
        self.decoders
            .push(Decoder::new(read_as.get_font_encoding(self.doc).ok()));
        self.known.insert(key, self.decoders.len() - 1);
        Some(self.decoders.len() - 1)
    }

    /// Appends a string's characters, in its font's encoding.
    fn show(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        let from = self.text.len();
        match self.font {
            Some(i) => self.decoders[i].decode(bytes, &mut self.text),
            None => ascii(bytes, &mut self.text),
        }
        // A font may map a code to NUL or another control character, which
        // would make the page's text look binary and go unread: a space.
        let control = |c: char| c.is_control() && c != '\n' && c != '\t';
        if self.text[from..].contains(control) {
            let clean = self.text[from..].replace(control, " ");
            self.text.truncate(from);
            self.text.push_str(&clean);
        }
        if self.text.len() > self.max_text {
            return Err(PdfError(format!(
                "more than {} MiB of text",
                self.max_text >> 20
            )));
        }
        Ok(())
    }

    fn space(&mut self) {
        if self.text.ends_with(|c: char| !c.is_whitespace()) {
            self.text.push(' ');
        }
    }

    fn newline(&mut self) {
        if self.text.ends_with(' ') {
            self.text.pop();
        }
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
    }
}

/// A font's encoding, with what it has decoded remembered: lopdf looks
/// every code up in a range map and allocates the answer, which cost more
/// than all the rest of reading a page.
struct Decoder<'a> {
    encoding: Option<Encoding<'a>>,
    /// What each one-byte code decodes to (`None`: not asked yet).
    one: Vec<Option<Option<Box<str>>>>,
    /// Longer codes of a `ToUnicode` map, by length and code.
    longer: HashMap<(u8, u32), Option<Box<str>>>,
}

impl<'a> Decoder<'a> {
    /// Longer codes remembered, at most: a hostile font's are looked up
    /// each time beyond it.
    const MAX_LONGER: usize = 1 << 16;

    fn new(encoding: Option<Encoding<'a>>) -> Self {
        Decoder {
            encoding,
            one: vec![None; 256],
            longer: HashMap::new(),
        }
    }

    fn decode(&mut self, bytes: &[u8], out: &mut String) {
        match &self.encoding {
            None => ascii(bytes, out),
            // Codes of one to four bytes, the shortest the map knows first,
            // as lopdf reads them.
            Some(Encoding::UnicodeMapEncoding(_)) => {
                let (mut code, mut len) = (0u32, 0u8);
                for &b in bytes {
                    if len == 4 {
                        out.push(char::REPLACEMENT_CHARACTER);
                        (code, len) = (0, 0);
                    }
                    code = code << 8 | u32::from(b);
                    len += 1;
                    if self.lookup(code, len, out) {
                        (code, len) = (0, 0);
                    }
                }
                if len > 0 {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
            Some(encoding) => {
                for &b in bytes {
                    let known = self.one[usize::from(b)].get_or_insert_with(|| {
                        let mut text = String::new();
                        encoding
                            .write_to_string(&[b], &mut text)
                            .is_ok()
                            .then(|| text.into_boxed_str())
                    });
                    match known {
                        Some(text) => out.push_str(text),
                        None => ascii(&[b], out),
                    }
                }
            }
        }
    }

    /// Appends what the `ToUnicode` map says `code` of `len` bytes is,
    /// if it knows.
    fn lookup(&mut self, code: u32, len: u8, out: &mut String) -> bool {
        let Some(Encoding::UnicodeMapEncoding(map)) = &self.encoding else {
            return false;
        };
        let ask = || {
            map.get(code, len).map(|units| {
                char::decode_utf16(units)
                    .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect::<String>()
                    .into_boxed_str()
            })
        };
        let known = if len == 1 {
            self.one[code as usize].get_or_insert_with(ask)
        } else if self.longer.len() < Self::MAX_LONGER {
            self.longer.entry((len, code)).or_insert_with(ask)
        } else {
            match self.longer.get(&(len, code)) {
                Some(known) => known,
                None => return ask().map(|text| out.push_str(&text)).is_some(),
            }
        };
        known.as_ref().map(|text| out.push_str(text)).is_some()
    }
}

/// A string's printable ASCII, for text in a font with no usable encoding.
fn ascii(bytes: &[u8], out: &mut String) {
    out.extend(
        bytes
            .iter()
            .filter(|b| b.is_ascii_graphic() || **b == b' ')
            .map(|b| *b as char),
    );
}
