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
    let alnum = value.bytes().filter(u8::is_ascii_alphanumeric).count();
    let keep = if alnum >= KEEP_TAIL_FROM { TAIL } else { 0 };
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                seen += 1;
                if seen > alnum - keep { c } else { '*' }
            } else if c.is_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// Masks every byte range in `spans` (relative to `bytes`) the way
/// [`mask_value`] masks a whole value, leaving the rest as it is. Used for
/// contexts that contain another finding.
pub fn mask_spans(bytes: &[u8], spans: &[Range<usize>]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for span in spans {
        let span = span.start.min(out.len())..span.end.min(out.len());
        for b in &mut out[span] {
            if b.is_ascii_alphanumeric() {
                *b = b'*';
            }
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
    fn spans_mask_only_inside() {
        assert_eq!(
            mask_spans(b"ab 1234 cd 99", &[3..7, 11..13]),
            b"ab **** cd **"
        );
    }
}
