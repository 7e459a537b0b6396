//! UTF-16 text with a byte-order mark (what Windows tools often export),
//! decoded to UTF-8 on the fly so the detectors see text. Byte ranges of
//! findings in such a file refer to its UTF-8 form.

use std::io::{self, Read};

/// The byte order a BOM announces, if `head` starts with one.
pub fn bom(head: &[u8]) -> Option<bool> {
    match head {
        [0xFF, 0xFE, ..] => Some(false),
        [0xFE, 0xFF, ..] => Some(true),
        _ => None,
    }
}

/// Decodes UTF-16 (after its BOM) to UTF-8; unpaired surrogates and a
/// trailing odd byte become U+FFFD, never an error.
pub struct Utf16Reader<R> {
    inner: R,
    big_endian: bool,
    raw: Vec<u8>,
    out: Vec<u8>,
    pos: usize,
    high: Option<u16>,
    eof: bool,
}

impl<R: Read> Utf16Reader<R> {
    /// `inner` is positioned just after the BOM.
    pub fn new(inner: R, big_endian: bool) -> Utf16Reader<R> {
        Utf16Reader {
            inner,
            big_endian,
            raw: Vec::new(),
            out: Vec::new(),
            pos: 0,
            high: None,
            eof: false,
        }
    }

    fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    fn decode(&mut self) {
        let units = self.raw.len() / 2;
        for i in 0..units {
            let pair = [self.raw[2 * i], self.raw[2 * i + 1]];
            let u = match self.big_endian {
                true => u16::from_be_bytes(pair),
                false => u16::from_le_bytes(pair),
            };
            match (self.high.take(), u) {
                (None, 0xD800..=0xDBFF) => self.high = Some(u),
                (Some(h), 0xDC00..=0xDFFF) => {
                    let c = 0x10000 + ((u32::from(h) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
                    self.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                }
                (Some(_), _) => {
                    self.push('\u{FFFD}');
                    self.high = None;
                    self.push_unit(u);
                }
                (None, _) => self.push_unit(u),
            }
        }
        self.raw.drain(..units * 2);
    }

    fn push_unit(&mut self, u: u16) {
        match u {
            0xD800..=0xDBFF => self.high = Some(u),
            _ => self.push(char::from_u32(u32::from(u)).unwrap_or('\u{FFFD}')),
        }
    }
}

impl<R: Read> Read for Utf16Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.out.len() {
            if self.eof {
                return Ok(0);
            }
            self.out.clear();
            self.pos = 0;
            let mut chunk = [0u8; 32 * 1024];
            let n = self.inner.read(&mut chunk)?;
            if n == 0 {
                self.eof = true;
                if self.high.take().is_some() || !self.raw.is_empty() {
                    self.raw.clear();
                    self.push('\u{FFFD}');
                }
                continue;
            }
            self.raw.extend_from_slice(&chunk[..n]);
            self.decode();
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], be: bool) -> String {
        let mut s = String::new();
        Utf16Reader::new(bytes, be).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn both_byte_orders_surrogates_and_damage() {
        let text = "card 5433 é 😀";
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(decode(&le, false), text);
        assert_eq!(decode(&be, true), text);
        // A lone high surrogate and an odd last byte are replaced, not errors.
        assert_eq!(
            decode(&[0x3D, 0xD8, 0x41, 0x00, 0x42], false),
            "\u{FFFD}A\u{FFFD}"
        );
        assert_eq!(bom(&[0xFF, 0xFE, 1]), Some(false));
        assert_eq!(bom(b"ab"), None);
    }
}
