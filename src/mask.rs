//! Masking: how sensitive values look wherever dlpd shows them.
//!
//! Letters and digits become `*`; separators stay, so the shape of a value
//! (`****-****-****-7862`) still tells a person what was found. Values long
//! enough to survive it keep their last four letters or digits, which is what
//! card statements and key dashboards show.

use std::ops::Range;

/// Below this many letters and digits nothing is left unmasked.
const KEEP_TAIL_FROM: usize = 12;
/// How many trailing letters or digits stay visible on long values.
const TAIL: usize = 4;

/// Masks one value.
pub fn mask_value(value: &str) -> String {
    let alnum = value.chars().filter(|c| c.is_alphanumeric()).count();
    let keep = if alnum >= KEEP_TAIL_FROM { TAIL } else { 0 };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > alnum - keep { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// Masks every byte range in `spans` (relative to `bytes`) the way
/// [`mask_value`] masks a whole value, leaving the rest as it is. Used for
/// contexts that contain another finding. A letter or digit outside ASCII
/// (a full-width digit) becomes one `*`.
pub fn mask_spans(bytes: &[u8], spans: &[Range<usize>]) -> Vec<u8> {
    let mut hidden = vec![false; bytes.len()];
    for span in spans {
        let span = span.start.min(bytes.len())..span.end.min(bytes.len());
        hidden[span].fill(true);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !hidden[i] || b.is_ascii() {
            out.push(if hidden[i] && b.is_ascii_alphanumeric() {
                b'*'
            } else {
                b
            });
            i += 1;
            continue;
        }
        let len = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => 1,
        };
        let char_len = len.min(bytes.len() - i);
        let alnum = match std::str::from_utf8(&bytes[i..i + char_len]) {
            Ok(c) => c.chars().next().is_some_and(char::is_alphanumeric),
            Err(_) => false,
        };
        if hidden[i] && alnum {
            out.push(b'*');
            i += char_len;
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_keeps_separators_and_last_four() {
        assert_eq!(mask_value("5433-9502-3725-7862"), "****-****-****-7862");
    }

    #[test]
    fn short_values_are_masked_whole() {
        assert_eq!(mask_value("123-45-6789"), "***-**-****");
    }

    #[test]
    fn full_width_digits_are_masked_too() {
        let s = "x ４９１６ y";
        let span = 2..14;
        let masked = mask_spans(s.as_bytes(), std::slice::from_ref(&span));
        assert_eq!(String::from_utf8(masked).unwrap(), "x **** y");
        assert_eq!(mask_value("４９１６-1234-5678-9012"), "****-****-****-9012");
        assert_eq!(mask_value("12３４"), "****");
    }

    #[test]
    fn spans_mask_only_inside() {
        assert_eq!(
            mask_spans(b"ab 1234 cd 99", &[3..7, 11..13]),
            b"ab **** cd **"
        );
    }
}
