//! The generic assignment rule: `<name with key/token/secret> = <random-
//! looking value>`, at a lower confidence than a known key family.
//!
//! It runs at every `=` and `:`, which logs and JSON are full of, so its
//! first checks are table lookups.

use super::Candidate;
use super::bytes::entropy;
use super::shape::{has_letter_and_digit, is_placeholder};
use crate::engine::{Confidence, DetectorId};

/// The kind reported for the generic assignment rule.
const GENERIC: &str = "Generic";
/// Names that make an assignment's value a secret, matched ignoring case.
const GENERIC_NAMES: &[&[u8]] = &[b"key", b"token", b"secret"];
/// Shortest and longest generic value.
const GENERIC_LEN: std::ops::RangeInclusive<usize> = 16..=256;

/// A byte-class table: the generic rule runs at every `=` and `:`, which
/// logs and JSON are full of, so its checks must be lookups.
const fn class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}
/// Bytes a generic value may hold (base64, hex, URL-safe tokens).
static VALUE_BYTE: [bool; 256] = class(b"/+_.=-");
/// Bytes an assigned name may hold (`api_key`, `client.secret`, `X-Token`).
static NAME_BYTE: [bool; 256] = class(b"_.-");

/// True when `name` contains one of [`GENERIC_NAMES`], ignoring ASCII case.
fn names_a_secret(name: &[u8]) -> bool {
    GENERIC_NAMES
        .iter()
        .any(|k| name.windows(k.len()).any(|w| w.eq_ignore_ascii_case(k)))
}

/// Appends the generic rule's candidates in `hay`.
pub fn detect(hay: &[u8], out: &mut Vec<Candidate>) {
    for at in memchr::memchr2_iter(b'=', b':', hay) {
        if let Some(c) = generic_at(hay, at) {
            out.push(c);
        }
    }
}

/// The generic rule at an `=` or `:` at `op`: `<name with key/token/secret>
/// ["']? (=|:|:=|=>) ["'`]? <value of 16..=256 token bytes>`.
fn generic_at(hay: &[u8], op: usize) -> Option<Candidate> {
    let after_op = match (hay[op], hay.get(op + 1)) {
        // `:=` and `=>` are one operator, read from their first byte.
        (b':', Some(b'=')) | (b'=', Some(b'>')) => op + 2,
        (b'=', _) if op > 0 && hay[op - 1] == b':' => return None,
        _ => op + 1,
    };
    // The value, which most `=` and `:` in logs and JSON fail quickly.
    let mut v = after_op;
    while v < hay.len() && v - after_op < 8 && matches!(hay[v], b' ' | b'\t') {
        v += 1;
    }
    if matches!(hay.get(v), Some(b'"' | b'\'' | b'`')) {
        v += 1;
    }
    // Most values are short: test the last byte a minimal value needs first.
    let min = *GENERIC_LEN.start();
    if v + min > hay.len() || !VALUE_BYTE[hay[v + min - 1] as usize] {
        return None;
    }
    let len = hay[v..]
        .iter()
        .take(GENERIC_LEN.end() + 1)
        .take_while(|&&b| VALUE_BYTE[b as usize])
        .count();
    if !GENERIC_LEN.contains(&len) {
        return None;
    }
    let value = &hay[v..v + len];
    // The name before the operator.
    let mut n = op;
    while n > 0 && op - n < 8 && matches!(hay[n - 1], b' ' | b'\t') {
        n -= 1;
    }
    if n > 0 && matches!(hay[n - 1], b'"' | b'\'') {
        n -= 1;
    }
    let name_end = n;
    while n > 0 && name_end - n < 64 && NAME_BYTE[hay[n - 1] as usize] {
        n -= 1;
    }
    if !names_a_secret(&hay[n..name_end]) {
        return None;
    }
    let confidence = confirm_generic(value)?;
    Some(Candidate {
        detector: DetectorId::ApiKey,
        confidence,
        kind: Some(GENERIC),
        start: v,
        end: v + len,
        keyword_raises: false,
    })
}

/// The generic rule's value: random-looking, not a word, a path or a
/// placeholder. Strong randomness makes it LIKELY; otherwise POSSIBLE.
fn confirm_generic(value: &[u8]) -> Option<Confidence> {
    let e = entropy(value);
    if is_placeholder(value)
        || !has_letter_and_digit(value)
        || e < 3.0
        || matches!(value[0], b'/' | b'.')
    {
        return None;
    }
    let mixed_case =
        value.iter().any(u8::is_ascii_uppercase) && value.iter().any(u8::is_ascii_lowercase);
    Some(if e >= 4.0 && value.len() >= 20 && mixed_case {
        Confidence::Likely
    } else {
        Confidence::Possible
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Vec<(&'static str, String, Confidence)> {
        let mut out = Vec::new();
        detect(s.as_bytes(), &mut out);
        out.into_iter()
            .map(|c| (c.kind.unwrap(), s[c.start..c.end].to_string(), c.confidence))
            .collect()
    }

    fn one(s: &str) -> (&'static str, String, Confidence) {
        let found = find(s);
        assert_eq!(found.len(), 1, "{s}: {found:?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn generic_assignment_rule_is_lower_and_entropy_gated() {
        let (kind, value, conf) = one("DB_SECRET=\"h7Gk2LpQ9xZr4VtB8nWm3CsY6dFj1\"\n");
        assert_eq!(
            (kind, value.as_str()),
            ("Generic", "h7Gk2LpQ9xZr4VtB8nWm3CsY6dFj1")
        );
        assert_eq!(conf, Confidence::Likely);
        assert_eq!(
            one("api_key: 5f4dcc3b5aa765d61d8327deb882cf99").2,
            Confidence::Possible
        );
        assert_eq!(
            one("\"authToken\": \"q8W2e4R6t8Y0u2I4o6P8a0S2\"").0,
            "Generic"
        );
        // Words, placeholders and variable references are not secrets.
        assert!(find("token = my_super_secret_value_here").is_empty());
        assert!(find("API_KEY=your_api_key_goes_here_1").is_empty());
        assert!(find("SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxx").is_empty());
        assert!(find("key = ${API_KEY}").is_empty());
        assert!(find("the key to success is 42").is_empty());
    }
}
