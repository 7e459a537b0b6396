//! Characters people paste between the digits and letters of a value:
//! no-break and other Unicode spaces, zero-width characters, Unicode
//! hyphens and full-width digits. Detectors match ASCII, so a block that
//! holds any of these is matched in a normalized copy, and each match's
//! byte range is mapped back to the original bytes.
//!
//! Most text holds none, and finding that out is one `memchr3` pass for
//! the lead bytes (0xC2, 0xE2, 0xEF) and one `memmem` pass for the
//! ideographic space; only then is the block copied.

use std::ops::Range;

/// A block with its pasted characters replaced, and the way back.
pub struct Normalized {
    /// The normalized bytes.
    pub text: Vec<u8>,
    /// For each normalized byte (and one past the end), the offset of the
    /// original character it came from.
    starts: Vec<u32>,
    /// For each normalized byte, the offset just past that character.
    ends: Vec<u32>,
}

/// What a pasted character becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Becomes {
    Byte(u8),
    Nothing,
}

/// The character at the start of `s`, if it is one dlpd normalizes: its
/// length in bytes and what it becomes.
fn pasted(s: &[u8]) -> Option<(usize, Becomes)> {
    use Becomes::*;
    Some(match *s {
        // No-break space; soft hyphen.
        [0xC2, 0xA0, ..] => (2, Byte(b' ')),
        [0xC2, 0xAD, ..] => (2, Nothing),
        // En quad to hair space (figure, thin, punctuation spaces among them).
        [0xE2, 0x80, 0x80..=0x8A, ..] => (3, Byte(b' ')),
        // Zero-width space, non-joiner, joiner; left-to-right and
        // right-to-left marks.
        [0xE2, 0x80, 0x8B..=0x8F, ..] => (3, Nothing),
        // Hyphen, non-breaking hyphen, figure dash, en dash.
        [0xE2, 0x80, 0x90..=0x93, ..] => (3, Byte(b'-')),
        // Narrow no-break space; medium mathematical space.
        [0xE2, 0x80, 0xAF, ..] | [0xE2, 0x81, 0x9F, ..] => (3, Byte(b' ')),
        // Word joiner and the invisible operators (function application,
        // times, separator, plus); minus sign.
        [0xE2, 0x81, 0xA0..=0xA4, ..] => (3, Nothing),
        [0xE2, 0x88, 0x92, ..] => (3, Byte(b'-')),
        // Ideographic space.
        [0xE3, 0x80, 0x80, ..] => (3, Byte(b' ')),
        // Zero-width no-break space (a BOM inside text).
        [0xEF, 0xBB, 0xBF, ..] => (3, Nothing),
        // Full-width hyphen-minus and digits.
        [0xEF, 0xBC, 0x8D, ..] => (3, Byte(b'-')),
        [0xEF, 0xBC, d @ 0x90..=0x99, ..] => (3, Byte(b'0' + (d - 0x90))),
        _ => return None,
    })
}

/// Built once: a searcher built per call was 1% of a scan of small files.
static IDEOGRAPHIC_SPACE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\u{3000}".as_bytes()));

/// Whether `hay` holds any character [`pasted`] knows.
fn any_pasted(hay: &[u8]) -> bool {
    memchr::memchr3_iter(0xC2, 0xE2, 0xEF, hay).any(|i| pasted(&hay[i..]).is_some())
        || IDEOGRAPHIC_SPACE.find(hay).is_some()
}

impl Normalized {
    /// The normalized form of `hay`, or `None` when it is already plain.
    pub fn of(hay: &[u8]) -> Option<Normalized> {
        if !any_pasted(hay) {
            return None;
        }
        let mut text = Vec::with_capacity(hay.len());
        let mut starts = Vec::with_capacity(hay.len() + 1);
        let mut ends = Vec::with_capacity(hay.len());
        let mut i = 0;
        while i < hay.len() {
            let (len, becomes) = match hay[i] {
                0xC2 | 0xE2 | 0xE3 | 0xEF => {
                    pasted(&hay[i..]).unwrap_or((1, Becomes::Byte(hay[i])))
                }
                b => (1, Becomes::Byte(b)),
            };
            if let Becomes::Byte(b) = becomes {
                text.push(b);
                starts.push(i as u32);
                ends.push((i + len) as u32);
            }
            i += len;
        }
        starts.push(hay.len() as u32);
        Some(Normalized { text, starts, ends })
    }

    /// The original byte range of the normalized range `r`.
    pub fn original(&self, r: Range<usize>) -> Range<usize> {
        let start = self.starts[r.start] as usize;
        let end = match r.end.checked_sub(1) {
            Some(last) if r.end > r.start => self.ends[last] as usize,
            _ => start,
        };
        start..end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(
            Normalized::of(s.as_bytes())
                .map(|n| n.text)
                .unwrap_or(s.into()),
        )
        .unwrap()
    }

    #[test]
    fn pasted_separators_and_full_width_digits_become_ascii() {
        assert_eq!(
            norm("4916\u{a0}6734\u{202f}7572\u{2007}5015"),
            "4916 6734 7572 5015"
        );
        assert_eq!(norm("４９１６６７３４"), "49166734");
        assert_eq!(norm("536\u{2011}22\u{2013}1234"), "536-22-1234");
        assert_eq!(
            norm("4916\u{200b}6734\u{2060}7572\u{feff}5015"),
            "4916673475725015"
        );
        assert_eq!(norm("a\u{3000}b"), "a b");
        assert_eq!(
            norm("4916\u{200e}6734\u{2063}7572\u{200f}5015"),
            "4916673475725015"
        );
        // Smart quotes and other text stay as they are.
        assert!(Normalized::of("“quoted” – é ü 漢字".replace('–', "x").as_bytes()).is_none());
        assert_eq!(norm("café\u{a0}“x”"), "café “x”");
    }

    #[test]
    fn ranges_map_back_to_the_original_bytes() {
        let s = "card ４９\u{200b}１６ end";
        let n = Normalized::of(s.as_bytes()).unwrap();
        let text = std::str::from_utf8(&n.text).unwrap();
        let at = text.find("4916").unwrap();
        let r = n.original(at..at + 4);
        assert_eq!(&s[r], "４９\u{200b}１６");
        // An empty range maps to an empty range.
        assert!(n.original(at..at).is_empty());
    }

    #[test]
    fn cut_characters_at_the_end_are_left_alone() {
        for cut in [&b"12\xE2\x80"[..], b"12\xEF", b"\xC2"] {
            let n = Normalized::of(cut);
            assert!(n.is_none(), "{cut:?}");
        }
    }
}
