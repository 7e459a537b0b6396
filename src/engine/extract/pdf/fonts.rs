//! How a font's codes become text (ISO 32000-1, 9.6.6 and 9.10): its
//! `ToUnicode` map first, as readers do, else its encoding (a named one,
//! or a base with `/Differences`). lopdf parses the maps and knows the
//! glyph names, but only reads a font that says `/Type /Font`, an
//! encoding that says `/Type /Encoding`, and `/Differences` whose every
//! name it knows (one unknown name, `/g1`, lost the whole font); each part
//! is asked of it here on its own.

use std::collections::{BTreeMap, HashMap};

use lopdf::{Dictionary, Document, Encoding, Object};

/// A font's decoding, with what it has decoded remembered: lopdf looks
/// every code up in a range map and allocates the answer, which cost more
/// than all the rest of reading a page.
pub(super) struct Decoder {
    /// The font's `ToUnicode` map; `None`: codes are one byte, read
    /// through [`one`](Self::one).
    map: Option<Encoding<'static>>,
    /// What each one-byte code decodes to (`None`: not asked yet, or, for
    /// a font without a map, not known: its printable ASCII is kept).
    one: Vec<Option<Option<Box<str>>>>,
    /// Longer codes of a `ToUnicode` map, by length and code.
    longer: HashMap<(u8, u32), Option<Box<str>>>,
}

impl Decoder {
    /// Longer codes remembered, at most: a hostile font's are looked up
    /// each time beyond it.
    const MAX_LONGER: usize = 1 << 16;

    pub(super) fn for_font(doc: &Document, font: &Dictionary) -> Decoder {
        let mut decoder = Decoder {
            map: None,
            one: vec![None; 256],
            longer: HashMap::new(),
        };
        if let Some(map) = to_unicode(doc, font) {
            decoder.map = Some(map);
            return decoder;
        }
        let encoding = font
            .get(b"Encoding")
            .ok()
            .and_then(|e| doc.dereference(e).ok())
            .map(|(_, e)| e);
        let (base, differences) = match encoding {
            Some(Object::Name(name)) => (Some(name.as_slice()), None),
            Some(Object::Dictionary(e)) => (
                e.get(b"BaseEncoding").and_then(Object::as_name).ok(),
                e.get_deref(b"Differences", doc)
                    .and_then(Object::as_array)
                    .ok(),
            ),
            _ => (None, None),
        };
        let mut plain = Dictionary::new();
        plain.set("Type", Object::Name(b"Font".to_vec()));
        if let Some(base) = base {
            plain.set("Encoding", Object::Name(base.to_vec()));
        }
        if let Ok(base) = plain.get_font_encoding(doc) {
            for (code, known) in decoder.one.iter_mut().enumerate() {
                let mut text = String::new();
                if base.write_to_string(&[code as u8], &mut text).is_ok() {
                    *known = Some(Some(text.into_boxed_str()));
                }
            }
        }
        for (code, name) in differences.map(|d| named_codes(d)).unwrap_or_default() {
            decoder.one[usize::from(code)] = Some(glyph(doc, name));
        }
        decoder
    }

    /// Appends `bytes` decoded to `out`, stopping once `out` passes `max`
    /// bytes: a map may turn each code into a long text.
    pub(super) fn decode(&mut self, bytes: &[u8], out: &mut String, max: usize) {
        if self.map.is_none() {
            for &b in bytes {
                if out.len() > max {
                    return;
                }
                match &self.one[usize::from(b)] {
                    Some(Some(text)) => out.push_str(text),
                    _ => ascii(&[b], out),
                }
            }
            return;
        }
        // Codes of one to four bytes, the shortest the map knows first,
        // as lopdf reads them.
        let (mut code, mut len) = (0u32, 0u8);
        for &b in bytes {
            if len == 4 {
                out.push(char::REPLACEMENT_CHARACTER);
                (code, len) = (0, 0);
            }
            code = (code << 8) | u32::from(b);
            len += 1;
            if self.lookup(code, len, out) {
                (code, len) = (0, 0);
                if out.len() > max {
                    return;
                }
            }
        }
        if len > 0 {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }

    /// Appends what the `ToUnicode` map says `code` of `len` bytes is,
    /// if it knows.
    fn lookup(&mut self, code: u32, len: u8, out: &mut String) -> bool {
        let Some(Encoding::UnicodeMapEncoding(map)) = &self.map else {
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

/// The font's `ToUnicode` map, if it has one lopdf can parse.
fn to_unicode(doc: &Document, font: &Dictionary) -> Option<Encoding<'static>> {
    let map = font.get(b"ToUnicode").ok()?;
    doc.dereference(map).ok()?.1.as_stream().ok()?;
    let mut only = Dictionary::new();
    only.set("Type", Object::Name(b"Font".to_vec()));
    only.set("ToUnicode", map.clone());
    match only.get_font_encoding(doc) {
        Ok(Encoding::UnicodeMapEncoding(map)) => Some(Encoding::UnicodeMapEncoding(map)),
        _ => None,
    }
}

/// The glyph name each code of a `/Differences` array ends up with: a
/// number sets the next code, each name takes one and moves on.
fn named_codes(array: &[Object]) -> BTreeMap<u8, &[u8]> {
    let mut codes = BTreeMap::new();
    let mut code: Option<u8> = None;
    for item in array {
        match item {
            Object::Integer(n) => code = u8::try_from(*n).ok(),
            Object::Name(name) => {
                if let Some(c) = code {
                    codes.insert(c, name.as_slice());
                }
                code = code.and_then(|c| c.checked_add(1));
            }
            _ => {}
        }
    }
    codes
}

/// What a glyph name stands for: `uniXXXX` and `uXXXX` as they say, a
/// name with a suffix (`four.lf`) as its base, any other as lopdf's glyph
/// list has it; `None` for a name neither knows (`g12`).
fn glyph(doc: &Document, name: &[u8]) -> Option<Box<str>> {
    let base = name
        .split(|&b| b == b'.')
        .next()
        .filter(|b| !b.is_empty())?;
    let text = std::str::from_utf8(base).ok()?;
    let hex = |h: &str| h.bytes().all(|b| b.is_ascii_hexdigit()) && !h.is_empty();
    if let Some(h) = text
        .strip_prefix("uni")
        .filter(|h| h.len() % 4 == 0 && hex(h))
    {
        let units = h
            .as_bytes()
            .chunks(4)
            .filter_map(|u| u16::from_str_radix(std::str::from_utf8(u).ok()?, 16).ok());
        return Some(
            char::decode_utf16(units)
                .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                .collect::<String>()
                .into_boxed_str(),
        );
    }
    if let Some(h) = text
        .strip_prefix('u')
        .filter(|h| (4..=6).contains(&h.len()) && hex(h))
    {
        let c = char::from_u32(u32::from_str_radix(h, 16).ok()?)?;
        return Some(c.to_string().into_boxed_str());
    }
    // One name asked of lopdf at a time, as code 0 of a font of its own.
    let mut encoding = Dictionary::new();
    encoding.set("Type", Object::Name(b"Encoding".to_vec()));
    let differences = vec![Object::Integer(0), Object::Name(base.to_vec())];
    encoding.set("Differences", Object::Array(differences));
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Encoding", Object::Dictionary(encoding));
    let Ok(Encoding::Differences(known)) = font.get_font_encoding(doc) else {
        return None;
    };
    let mut text = String::new();
    Encoding::Differences(known)
        .write_to_string(&[0], &mut text)
        .ok()?;
    Some(text.into_boxed_str())
}

/// A string's printable ASCII, for codes a font gives no text for.
pub(super) fn ascii(bytes: &[u8], out: &mut String) {
    out.extend(
        bytes
            .iter()
            .filter(|b| b.is_ascii_graphic() || **b == b' ')
            .map(|b| *b as char),
    );
}
