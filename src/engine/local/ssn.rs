//! US_SOCIAL_SECURITY_NUMBER: `AAA-GG-SSSS` or `AAA GG SSSS`, with the SSA's
//! rules on area, group and serial; a bare nine-digit number only counts
//! next to a keyword, and then at a lower confidence.

use super::Candidate;
use super::bytes::{GLUE, clean_end, clean_start};
use crate::engine::{Confidence, DetectorId};

const SEPS: &[u8] = b" -";

/// Numbers that are famous for being published or made up: the Woolworth
/// wallet card, the SSA's advertising number, and keyboard runs.
const PLACEHOLDERS: &[&[u8; 9]] = &[b"078051120", b"219099999", b"123456789", b"987654320"];

/// The SSA never issues area 000, 666 or 900–999, group 00 or serial 0000.
pub fn valid_parts(area: &[u8], group: &[u8], serial: &[u8]) -> bool {
    let num = |d: &[u8]| d.iter().fold(0u32, |a, &b| a * 10 + (b - b'0') as u32);
    let (a, g, s) = (num(area), num(group), num(serial));
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0
}

/// Tries to read an SSN at `at`, which begins a run of `run` digits.
/// `keyword_near` says whether an SSN keyword sits within the window.
pub fn detect(
    hay: &[u8],
    at: usize,
    run: usize,
    keyword_near: impl FnOnce(usize, usize) -> bool,
) -> Option<Candidate> {
    let digit = |i: usize| hay.get(i).is_some_and(u8::is_ascii_digit);
    let mut crowded = false;
    let (end, digits, bare): (usize, [u8; 9], bool) = if run == 3 {
        let sep = *hay.get(at + 3)?;
        let shaped = SEPS.contains(&sep)
            && digit(at + 4)
            && digit(at + 5)
            && hay.get(at + 6) == Some(&sep)
            && (7..11).all(|k| digit(at + k));
        // Spaced, the parts are tokens like any other: a number beside
        // them across a space could be a part, so a keyword must vouch.
        let glue: &[u8] = if sep == b' ' { SEPS } else { GLUE };
        if !shaped || !clean_start(hay, at, GLUE) || !clean_end(hay, at + 11, GLUE) {
            return None;
        }
        crowded = !clean_start(hay, at, glue) || !clean_end(hay, at + 11, glue);
        let mut d = [0u8; 9];
        d[..3].copy_from_slice(&hay[at..at + 3]);
        d[3..5].copy_from_slice(&hay[at + 4..at + 6]);
        d[5..].copy_from_slice(&hay[at + 7..at + 11]);
        (at + 11, d, false)
    } else if run == 9 {
        if !clean_start(hay, at, GLUE) || !clean_end(hay, at + 9, GLUE) {
            return None;
        }
        (at + 9, hay[at..at + 9].try_into().ok()?, true)
    } else {
        return None;
    };
    if !valid_parts(&digits[..3], &digits[3..5], &digits[5..]) {
        return None;
    }
    if bare && !keyword_near(at, end) {
        return None;
    }
    // Made-up numbers: famous ones, one digit throughout, each part one
    // digit repeated (`111-22-3333`), or counting from `123-45`.
    let same = |d: &[u8]| d.iter().all(|&b| b == d[0]);
    let placeholder = PLACEHOLDERS.contains(&&digits)
        || same(&digits)
        || (same(&digits[..3]) && same(&digits[3..5]) && same(&digits[5..]))
        || digits.starts_with(b"12345");
    let confidence = match (placeholder, bare || crowded) {
        (true, _) => Confidence::Unlikely,
        (false, true) => Confidence::Possible,
        (false, false) => Confidence::Likely,
    };
    Some(Candidate {
        detector: DetectorId::UsSocialSecurityNumber,
        confidence,
        kind: None,
        start: at,
        end,
        keyword_raises: !bare && !placeholder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str, keyword: bool) -> Option<(usize, usize, Confidence)> {
        let hay = s.as_bytes();
        (0..hay.len())
            .filter(|&p| hay[p].is_ascii_digit() && (p == 0 || !hay[p - 1].is_ascii_digit()))
            .find_map(|p| {
                let run = super::super::bytes::digit_run(hay, p);
                detect(hay, p, run, |_, _| keyword)
            })
            .map(|c| (c.start, c.end, c.confidence))
    }

    #[test]
    fn dashed_and_spaced() {
        assert_eq!(
            find("ssn 536-22-1234.", false),
            Some((4, 15, Confidence::Likely))
        );
        assert_eq!(
            find("536 22 1234", false),
            Some((0, 11, Confidence::Likely))
        );
    }

    #[test]
    fn numbers_beside_an_ssn_do_not_hide_it() {
        use Confidence::*;
        assert_eq!(find("ssn 536-22-1234 42", false), Some((4, 15, Likely)));
        assert_eq!(find("7 536-22-1234 8", false), Some((2, 13, Likely)));
        assert_eq!(find("ssn 536221234 42", true), Some((4, 13, Possible)));
        // Spaced parts beside another number: which is the SSN is a guess.
        assert_eq!(find("536 22 1234 42", false), Some((0, 11, Possible)));
        assert_eq!(find("1 536 22 1234", false), Some((2, 13, Possible)));
    }

    #[test]
    fn rejects_forbidden_areas_groups_and_serials() {
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "536-00-1234",
            "536-22-0000",
        ] {
            assert_eq!(find(bad, true), None, "{bad}");
        }
        assert!(find("899-12-3456", false).is_some());
        assert!(find("665-12-3456", false).is_some());
    }

    #[test]
    fn rejects_mixed_separators_and_longer_sequences() {
        assert_eq!(find("536-22 1234", false), None);
        assert_eq!(find("1-536-22-1234", false), None);
        assert_eq!(find("536-22-1234-5", false), None);
        assert_eq!(find("536-22-12345", false), None);
        assert_eq!(find("a536-22-1234", false), None);
        assert_eq!(find("536-221-234", false), None);
    }

    #[test]
    fn bare_nine_digits_need_a_keyword_and_stay_lower() {
        assert_eq!(find("id 536221234", false), None);
        assert_eq!(
            find("ssn 536221234", true),
            Some((4, 13, Confidence::Possible))
        );
        assert_eq!(find("5362212345", true), None);
    }

    #[test]
    fn published_numbers_are_unlikely() {
        assert_eq!(
            find("078-05-1120", false).map(|f| f.2),
            Some(Confidence::Unlikely)
        );
        assert_eq!(
            find("123-45-6789", false).map(|f| f.2),
            Some(Confidence::Unlikely)
        );
        for made_up in ["111-11-1111", "111-22-3333", "123-45-9999"] {
            assert_eq!(
                find(made_up, true).map(|f| f.2),
                Some(Confidence::Unlikely),
                "{made_up}"
            );
        }
    }
}
