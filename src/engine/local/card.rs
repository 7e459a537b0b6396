//! CREDIT_CARD_NUMBER: 13–19 digits, plain or grouped with one kind of
//! separator, Luhn-valid, with a known issuer prefix, and not part of a
//! longer run of digits or letters.

use super::Candidate;
use super::bytes::{clean_end, clean_start, digit_run};
use crate::engine::{Confidence, DetectorId};

const SEPS: &[u8] = b" -";

/// Card numbers published by networks and processors for testing; they
/// appear in docs and fixtures, not in customer data.
const TEST_NUMBERS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4222222222222",
    "4000056655665556",
    "4000000000000002",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "6011111111111117",
    "6011000990139424",
    "6011000000000004",
    "3530111333300000",
    "3566002020360505",
    "30569309025904",
    "38520000023237",
    "36227206271667",
    "6200000000000005",
    "6759649826438453",
    "4444333322221111",
];

/// Layouts people write cards in, as group lengths: 4-4-4-4 and its shorter
/// and longer kin, Amex's 4-6-5 and Diners' 4-6-4.
fn grouped_layout_ok(groups: &[usize]) -> bool {
    match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [4, 4, 4, last] => (1..=4).contains(last),
        [4, 4, 4, 4, last] => (1..=3).contains(last),
        _ => false,
    }
}

/// The issuer for a digit string, and whether its length is that issuer's
/// usual one.
fn issuer(d: &[u8]) -> Option<(&'static str, bool)> {
    let n = d.len();
    let p = |k: usize| -> u32 {
        d[..k]
            .iter()
            .fold(0u32, |acc, &b| acc * 10 + (b - b'0') as u32)
    };
    let (name, usual): (&str, &[usize]) = match (p(1), p(2), p(3), p(4), p(6)) {
        (4, ..) => ("Visa", &[13, 16, 19]),
        (_, 51..=55, ..) => ("Mastercard", &[16]),
        (_, _, _, 2221..=2720, _) => ("Mastercard", &[16]),
        (_, 34 | 37, ..) => ("American Express", &[15]),
        (_, _, _, 6011, _) | (_, 65, ..) | (_, _, 644..=649, ..) => ("Discover", &[16, 19]),
        (_, _, _, _, 622126..=622925) => ("Discover", &[16, 19]),
        (_, _, _, 3528..=3589, _) => ("JCB", &[16, 17, 18, 19]),
        (_, _, 300..=305, ..) | (_, 36 | 38 | 39, ..) | (_, _, _, 3095, _) => {
            ("Diners Club", &[14, 16, 19])
        }
        (_, 62, ..) => ("UnionPay", &[16, 17, 18, 19]),
        (_, 50 | 56..=69, ..) => ("Maestro", &[12, 13, 16, 19]),
        _ => return None,
    };
    Some((name, usual.contains(&n)))
}

/// The Luhn checksum every payment card carries.
pub fn luhn_valid(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let v = (b - b'0') as u32;
            if i % 2 == 1 {
                let v2 = v * 2;
                if v2 > 9 { v2 - 9 } else { v2 }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Tries to read a card number starting at `at`, which holds a digit that
/// begins a run of `run` digits.
pub fn detect(hay: &[u8], at: usize, run: usize) -> Option<Candidate> {
    // The digits, without separators; at most 19.
    let mut buf = [0u8; 19];
    let mut n = 0;
    let (end, grouped) = if (13..=19).contains(&run) {
        if !clean_end(hay, at + run, SEPS) || !clean_start(hay, at, SEPS) {
            return None;
        }
        buf[..run].copy_from_slice(&hay[at..at + run]);
        n = run;
        (at + run, false)
    } else if run == 4 {
        let sep = *hay.get(at + 4)?;
        if !SEPS.contains(&sep) || !clean_start(hay, at, SEPS) {
            return None;
        }
        let mut groups = [0usize; 6];
        let mut count = 0;
        let mut pos = at;
        loop {
            let len = digit_run(hay, pos);
            if len == 0 || count == groups.len() || n + len > buf.len() {
                return None;
            }
            groups[count] = len;
            count += 1;
            buf[n..n + len].copy_from_slice(&hay[pos..pos + len]);
            n += len;
            pos += len;
            let continues =
                hay.get(pos) == Some(&sep) && hay.get(pos + 1).is_some_and(u8::is_ascii_digit);
            if !continues {
                break;
            }
            pos += 1;
        }
        if !grouped_layout_ok(&groups[..count]) || !clean_end(hay, pos, SEPS) {
            return None;
        }
        (pos, true)
    } else {
        return None;
    };
    let digits = &buf[..n];

    let (_, usual_length) = issuer(digits)?;
    if !luhn_valid(digits) {
        return None;
    }
    let text = std::str::from_utf8(digits).ok()?;
    let confidence = if TEST_NUMBERS.contains(&text) || all_same_after_prefix(digits) {
        Confidence::Unlikely
    } else if grouped || usual_length {
        Confidence::Likely
    } else {
        Confidence::Possible
    };
    Some(Candidate {
        detector: DetectorId::CreditCardNumber,
        confidence,
        kind: None,
        start: at,
        end,
        keyword_raises: confidence >= Confidence::Possible,
    })
}

/// `4000000000000002`-style placeholders: one digit repeated after the prefix.
fn all_same_after_prefix(d: &[u8]) -> bool {
    d[2..d.len() - 1].windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::local::bytes::next_digit;

    fn find(s: &str) -> Option<(usize, usize, Confidence)> {
        let hay = s.as_bytes();
        let mut i = 0;
        while let Some(p) = next_digit(hay, i) {
            let run = digit_run(hay, p);
            if let Some(c) = detect(hay, p, run) {
                return Some((c.start, c.end, c.confidence));
            }
            i = p + run;
        }
        None
    }

    fn with_luhn_digit(body: &str) -> String {
        (b'0'..=b'9')
            .map(|c| format!("{body}{}", c as char))
            .find(|d| luhn_valid(d.as_bytes()))
            .unwrap()
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"5433950237257862"));
        assert!(!luhn_valid(b"5433950237257863"));
        assert!(luhn_valid(b"378282246310005"));
    }

    #[test]
    fn every_issuer_prefix_is_known() {
        for (prefix, brand) in [
            ("4", "Visa"),
            ("51", "Mastercard"),
            ("55", "Mastercard"),
            ("2221", "Mastercard"),
            ("2720", "Mastercard"),
            ("34", "American Express"),
            ("37", "American Express"),
            ("6011", "Discover"),
            ("65", "Discover"),
            ("644", "Discover"),
            ("300", "Diners Club"),
            ("36", "Diners Club"),
            ("3528", "JCB"),
            ("3589", "JCB"),
            ("62", "UnionPay"),
            ("50", "Maestro"),
            ("6771", "Maestro"),
        ] {
            let mut d = prefix.as_bytes().to_vec();
            d.resize(16, b'0');
            assert_eq!(issuer(&d).map(|i| i.0), Some(brand), "{prefix}");
        }
        for bad in ["1", "2220", "2721", "33", "7", "8", "9", "0"] {
            let mut d = bad.as_bytes().to_vec();
            d.resize(16, b'0');
            assert_eq!(issuer(&d), None, "{bad}");
        }
    }

    #[test]
    fn plain_and_grouped_layouts() {
        assert_eq!(
            find("x 5433950237257862 y"),
            Some((2, 18, Confidence::Likely))
        );
        assert_eq!(
            find("5433-9502-3725-7862"),
            Some((0, 19, Confidence::Likely))
        );
        assert_eq!(
            find("5433 9502 3725 7862"),
            Some((0, 19, Confidence::Likely))
        );
        assert_eq!(find("3457-389808-83234"), Some((0, 17, Confidence::Likely)));
        assert_eq!(find("3683-648816-6252"), Some((0, 16, Confidence::Likely)));
        // 19 digits as 4-4-4-4-3, and the same digits plain.
        let d = with_luhn_digit("601100099013942400");
        let grouped = format!(
            "{} {} {} {} {}",
            &d[..4],
            &d[4..8],
            &d[8..12],
            &d[12..16],
            &d[16..]
        );
        assert_eq!(find(&grouped), Some((0, 23, Confidence::Likely)));
        assert_eq!(find(&d), Some((0, 19, Confidence::Likely)));
    }

    #[test]
    fn rejects_mixed_separators_and_bad_luhn() {
        assert_eq!(find("5433-9502 3725-7862"), None);
        assert_eq!(find("5433-9502-3725-7863"), None);
        assert_eq!(find("5433--9502-3725-7862"), None);
    }

    #[test]
    fn rejects_longer_runs() {
        assert_eq!(find("15433950237257862"), None);
        assert_eq!(find("54339502372578621"), None);
        assert_eq!(find("a5433950237257862"), None);
        assert_eq!(find("5433950237257862b"), None);
        assert_eq!(find("1-5433-9502-3725-7862"), None);
        assert_eq!(find("5433-9502-3725-7862-1"), None);
        assert_eq!(find("0.5433950237257862"), None);
        assert_eq!(find("5433-9502-3725-7862-1234-5678"), None);
    }

    #[test]
    fn length_boundaries() {
        // 12 digits is never a card here; 20 never.
        assert_eq!(find("401288888881"), None);
        assert_eq!(find("40128888888818810000"), None);
        // 13-digit Visa.
        assert_eq!(find("4222222222222"), Some((0, 13, Confidence::Unlikely)));
    }

    #[test]
    fn test_numbers_are_unlikely() {
        assert_eq!(
            find("4111 1111 1111 1111"),
            Some((0, 19, Confidence::Unlikely))
        );
        assert_eq!(
            find("4242424242424242"),
            Some((0, 16, Confidence::Unlikely))
        );
    }

    #[test]
    fn unusual_length_is_only_possible() {
        // A Luhn-valid 17-digit Visa number.
        let d = with_luhn_digit("4000000000000123");
        assert_eq!(find(&d).map(|f| f.2), Some(Confidence::Possible));
    }
}
