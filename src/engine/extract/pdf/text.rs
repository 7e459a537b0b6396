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

use std::collections::{BTreeMap, HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::filters::plain;
use super::fonts::{Decoder, ascii};
use super::lexer::{Lexer, Operands, Token};
use super::{Pages, PdfError};

/// Content streams not read that a document's report names, at most.
const MAX_UNREAD: usize = 8;
/// Fonts' decoders kept at most (each a few KB).
const MAX_FONTS: usize = 4096;
/// How deeply form XObjects may draw other forms.
const MAX_FORM_DEPTH: usize = 8;
/// A move left in a `TJ` array wider than this (thousandths of an em) is
/// a gap between words; smaller ones are kerning.
const WORD_GAP: f32 = 180.0;

/// A page's or a form's resources of one kind, by name.
type Named<'a> = BTreeMap<Vec<u8>, &'a Object>;

/// Every page's text, stopping with an error once it passes `max_text`. A
/// content stream that cannot be read (a filter dlpd cannot undo, damaged
/// data, forms too deep) costs that stream only, and is named in
/// [`Pages::unread`].
pub(super) fn extract(bytes: &[u8], max_text: usize) -> Result<Pages, PdfError> {
    let mut doc =
        Document::load_mem(bytes).map_err(|e| PdfError(format!("damaged or unsupported ({e})")))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(PdfError(
            "encrypted with a password, so its text cannot be read".into(),
        ));
    }
    let mut reader = Reader {
        doc: &doc,
        decoders: Vec::new(),
        known: HashMap::new(),
        text: String::new(),
        max_text,
        line_y: None,
        font: None,
    };
    let (mut starts, mut unread) = (Vec::new(), Vec::new());
    for (number, page) in page_ids(&doc).into_iter().enumerate() {
        starts.push(reader.text.len());
        // A broken /Parent chain costs the inherited resources, not the
        // page's own.
        let (own, inherited) = doc
            .get_page_resources(page)
            .unwrap_or_else(|_| (own_resources(&doc, page), Vec::new()));
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
            let drawn = plain(&doc, stream)
                .and_then(|content| reader.draw(&content, &scope, &mut vec![id]));
            // Past the text limit nothing more is read; anything else costs
            // the rest of this stream alone, and is said.
            if let Err(e) = drawn {
                if reader.text.len() > max_text {
                    return Err(e);
                }
                if unread.len() < MAX_UNREAD {
                    unread.push(format!("page {}: {e}", number + 1));
                }
            }
        }
        reader.line_y = None;
        reader.font = None;
        reader.newline();
    }
    if starts.is_empty() {
        return Err(PdfError("damaged or unsupported (no pages found)".into()));
    }
    let strings_from = reader.text.len();
    super::strings::collect(&doc, &mut reader.text, max_text)?;
    Ok(Pages {
        strings_from: (reader.text.len() > strings_from).then_some(strings_from),
        text: reader.text,
        starts,
        unread,
    })
}

/// The document's pages in order, as readers number them: every node of
/// the page tree that says `/Type /Page`, or says no type and has no
/// `/Kids`; each inner node followed once. lopdf's walk skips a page with
/// no `/Type`, and stops after as many nodes as the file has objects,
/// which padding the tree with junk reaches.
fn page_ids(doc: &Document) -> Vec<ObjectId> {
    let Ok(root) = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
    else {
        return Vec::new();
    };
    let (mut followed, mut pages) = (HashSet::new(), Vec::new());
    let root = [Object::Reference(root)];
    let mut levels: Vec<&[Object]> = vec![&root];
    while let Some(level) = levels.last_mut() {
        let Some((kid, rest)) = level.split_first() else {
            levels.pop();
            continue;
        };
        *level = rest;
        let Ok(id) = kid.as_reference() else { continue };
        let Ok(node) = doc.get_dictionary(id) else {
            continue;
        };
        let kind = node.get_type().ok();
        match (
            kind,
            node.get_deref(b"Kids", doc).and_then(Object::as_array),
        ) {
            (Some(b"Page"), _) | (None, Err(_)) => pages.push(id),
            (_, Ok(kids)) if followed.insert(id) => levels.push(kids),
            _ => {}
        }
    }
    pages
}

/// A page's own `/Resources`, direct or by reference.
fn own_resources(doc: &Document, page: ObjectId) -> Option<&Dictionary> {
    let resources = doc.get_dictionary(page).ok()?.get(b"Resources").ok()?;
    match resources {
        Object::Reference(id) => doc.get_dictionary(*id).ok(),
        other => other.as_dict().ok(),
    }
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
    /// Each font's decoder, made once per font however many pages use it
    /// (up to [`MAX_FONTS`]).
    decoders: Vec<Decoder>,
    known: HashMap<*const Dictionary, usize>,
    text: String,
    max_text: usize,
    /// The baseline of the last `Tm`, to tell a new line from a new column.
    line_y: Option<f32>,
    /// The font selected, kept from one of a page's content streams to the
    /// next and into the forms it draws, as the text state is.
    font: Option<&'a Dictionary>,
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
                    operands.push(other)?;
                    continue;
                }
            };
            match op {
                b"BT" => self.space(),
                b"Tf" => {
                    self.font = operands
                        .last_name()
                        .and_then(|name| scope.fonts.get(name))
                        .and_then(|font| self.doc.dereference(font).ok())
                        .and_then(|(_, font)| font.as_dict().ok());
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
        // A form that draws itself has been read once already.
        if forms.contains(id) {
            return Ok(());
        }
        let Ok(stream) = doc.get_object(*id).and_then(Object::as_stream) else {
            return Ok(());
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form") {
            return Ok(());
        }
        if forms.len() > MAX_FORM_DEPTH {
            return Err(PdfError(format!(
                "form XObjects drawn more than {MAX_FORM_DEPTH} deep"
            )));
        }
        let content = plain(doc, stream)?;
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

    /// The index of `font`'s decoder, made the first time it is asked
    /// for (or again, once past [`MAX_FONTS`]).
    fn decoder(&mut self, font: &'a Dictionary) -> usize {
        let key = font as *const Dictionary;
        if let Some(i) = self.known.get(&key) {
            return *i;
        }
        // A hostile document's thousands of fonts are made again past
        // the limit, not all kept.
        if self.decoders.len() == MAX_FONTS {
            self.decoders.clear();
            self.known.clear();
        }
        self.decoders.push(Decoder::for_font(self.doc, font));
        self.known.insert(key, self.decoders.len() - 1);
        self.decoders.len() - 1
    }

    /// Appends a string's characters, in its font's encoding.
    fn show(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        let from = self.text.len();
        match self.font {
            Some(font) => {
                let i = self.decoder(font);
                self.decoders[i].decode(bytes, &mut self.text, self.max_text);
            }
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
            return Err(PdfError::too_much_text(self.max_text));
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
