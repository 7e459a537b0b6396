//! Text a PDF keeps outside what its pages draw: the values typed into a
//! form's fields (`/V`), annotations' notes, bookmarks and the document's
//! properties. A filled-in form holds what was typed in strings that no
//! content stream draws, so reading pages alone would miss it.

use lopdf::{Document, Object};

use super::PdfError;

/// Appends each string object's text to `out`, one a line, in object
/// order; an error once `out` passes `max` bytes. Strings that decode to
/// mostly control characters (document IDs, encryption keys) are left out.
pub(super) fn collect(doc: &Document, out: &mut String, max: usize) -> Result<(), PdfError> {
    let mut stack: Vec<&Object> = Vec::new();
    let mut one = String::new();
    for object in doc.objects.values() {
        stack.push(object);
        while let Some(object) = stack.pop() {
            match object {
                Object::String(bytes, _) => {
                    one.clear();
                    decode(bytes, &mut one);
                    if is_text(&one) {
                        let line = one.trim().chars().map(|c| match c {
                            c if c.is_control() || c == char::REPLACEMENT_CHARACTER => ' ',
                            c => c,
                        });
                        out.extend(line);
                        out.push('\n');
                        if out.len() > max {
                            return Err(PdfError::too_much_text(max));
                        }
                    }
                }
                Object::Array(items) => stack.extend(items.iter().rev()),
                Object::Dictionary(dict) => stack.extend(dict.iter().rev().map(|(_, v)| v)),
                Object::Stream(stream) => stack.extend(stream.dict.iter().rev().map(|(_, v)| v)),
                _ => {}
            }
        }
    }
    Ok(())
}

/// A text string (ISO 32000-1, 7.9.2.2): UTF-16BE after its byte order
/// mark, UTF-8 after its own (PDF 2.0), else PDFDocEncoding (a byte it
/// leaves undefined is U+FFFD).
fn decode(bytes: &[u8], out: &mut String) {
    if let Some(units) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units = units
            .chunks_exact(2)
            .map(|u| u16::from_be_bytes([u[0], u[1]]));
        out.extend(char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)));
    } else if let Some(utf8) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        out.push_str(&String::from_utf8_lossy(utf8));
    } else {
        let table = pdf_doc_encoding();
        out.extend(bytes.iter().map(|&b| table[usize::from(b)]));
    }
}

/// Whether a decoded string is text worth reading: not blank, and at most
/// one character in eight a control character or undecodable (random
/// bytes are about one in four).
fn is_text(s: &str) -> bool {
    let (mut chars, mut odd) = (0usize, 0usize);
    for c in s.chars() {
        chars += 1;
        odd += usize::from(c == char::REPLACEMENT_CHARACTER || is_odd_control(c));
    }
    !s.trim().is_empty() && odd * 8 <= chars
}

fn is_odd_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// PDFDocEncoding's characters, as lopdf decodes each byte alone.
fn pdf_doc_encoding() -> &'static [char; 256] {
    static TABLE: std::sync::OnceLock<[char; 256]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|b| {
            let byte = Object::String(vec![b as u8], lopdf::StringFormat::Literal);
            let text = lopdf::decode_text_string(&byte).unwrap_or_default();
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => char::REPLACEMENT_CHARACTER,
            }
        })
    })
}
