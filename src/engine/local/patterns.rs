//! The detectors beyond the default three: each a bounded regex (no match
//! is longer than [`super::apikey::MAX_MATCH`], which the block overlap
//! relies on) and a check that validates what the regex cannot: checksums
//! (IBAN mod-97, ABA routing, Luhn), number ranges, placeholders, entropy.
//!
//! Context decides where a shape alone proves little: a keyword nearby
//! raises the confidence one level (`Raise`), or is required at all
//! (`Require`: passports and dates of birth are just numbers and dates
//! without one). These detectors run only when configured, so the default
//! scan pays nothing for them.

use regex::bytes::Regex;

use super::Candidate;
use super::bytes::entropy;
use super::card::luhn_valid;
use super::keywords::Keywords;
use crate::engine::{Confidence, DetectorId};

/// What a nearby keyword does for a detector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    None,
    Raise,
    Require,
}

/// Validates a match: `hay`, and the span of the finding. `None` rejects it.
type Check = fn(&[u8], usize, usize) -> Option<Confidence>;

struct Pattern {
    id: DetectorId,
    re: Regex,
    check: Check,
    gate: Gate,
    /// The finding is capture group 1 (a password, not its assignment).
    value_group: bool,
    /// No literal narrows where the regex can match, so a search of its
    /// own would look at every byte: it runs near matches of the union of
    /// such patterns instead (see [`Patterns::detect`]).
    windowed: bool,
}

/// The configured pattern detectors, compiled once.
pub struct Patterns {
    list: Vec<Pattern>,
    /// The union of the windowed patterns, when there are two or more, and
    /// the longest match any of them can make.
    finder: Option<(Regex, usize)>,
    /// The engine reports nothing below this: a match that stays below it
    /// even with a keyword is dropped before the keyword is looked for.
    min: Confidence,
}

impl Patterns {
    /// The pattern detectors among `detectors`, for an engine reporting
    /// `min` and above; `None` when there are none.
    pub fn new(detectors: &[DetectorId], min: Confidence) -> Option<Patterns> {
        let list: Vec<Pattern> = detectors.iter().filter_map(|d| build(*d)).collect();
        let windowed: Vec<String> = list
            .iter()
            .filter(|p| p.windowed)
            .map(|p| format!("(?:{})", p.re.as_str()))
            .collect();
        let finder = (windowed.len() > 1).then(|| {
            let union = windowed.join("|");
            (
                Regex::new(&union).expect("built-in patterns are valid"),
                longest_match(&union),
            )
        });
        (!list.is_empty()).then_some(Patterns { list, finder, min })
    }

    /// Appends the candidates in `hay`.
    pub fn detect(&self, hay: &[u8], keywords: &Keywords, out: &mut Vec<Candidate>) {
        // One pass of all the patterns that have no literal to search for
        // finds where any of them matches; each then runs only near those
        // places. Any match of one lies within MAX_MATCH of a match of the
        // union (which resumes after each match it finds), so none is lost.
        let near_union = self.finder.as_ref().map(|(union, longest)| {
            windows(
                hay,
                union.find_iter(hay).map(|m| (m.start(), m.end())),
                *longest,
            )
        });
        for p in &self.list {
            if p.gate == Gate::Require {
                // Nothing counts without a keyword: search only around them.
                let near = keywords.positions(p.id, hay).into_iter().map(|k| (k, k));
                for w in windows(hay, near, REACH) {
                    p.find(hay, w, keywords, self.min, out);
                }
            } else if let (true, Some(near)) = (p.windowed, &near_union) {
                for w in near {
                    p.find(hay, w.clone(), keywords, self.min, out);
                }
            } else {
                p.find(hay, 0..hay.len(), keywords, self.min, out);
            }
        }
    }
}

/// The longest match `pattern` can make, in bytes.
fn longest_match(pattern: &str) -> usize {
    // As `regex::bytes` reads it: a class may match any byte.
    regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(pattern)
        .ok()
        .and_then(|hir| hir.properties().maximum_len())
        .expect("built-in patterns are valid and bounded")
}

/// The spans widened by `reach` on both sides, to places between words,
/// merged where they touch. Spans come in order of their starts.
fn windows(
    hay: &[u8],
    spans: impl Iterator<Item = (usize, usize)>,
    reach: usize,
) -> Vec<std::ops::Range<usize>> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for (s, e) in spans {
        let (mut lo, mut hi) = (s.saturating_sub(reach), (e + reach).min(hay.len()));
        while lo > 0 && word(hay[lo - 1]) {
            lo -= 1;
        }
        while hi < hay.len() && word(hay[hi]) {
            hi += 1;
        }
        match out.last_mut() {
            Some(w) if lo <= w.end => w.end = w.end.max(hi),
            _ => out.push(lo..hi),
        }
    }
    out
}

/// How far from a keyword a match can start or end and still be near it.
const REACH: usize = super::keywords::WINDOW + super::apikey::MAX_MATCH;

impl Pattern {
    /// Candidates of this pattern within `hay[within]`; positions are
    /// relative to `hay`, and checks and keywords see all of `hay`.
    fn find(
        &self,
        hay: &[u8],
        within: std::ops::Range<usize>,
        keywords: &Keywords,
        min: Confidence,
        out: &mut Vec<Candidate>,
    ) {
        let base = within.start;
        let region = &hay[within];
        for m in self.re.find_iter(region) {
            let (mut start, mut end) = (base + m.start(), base + m.end());
            if self.value_group {
                // Capture positions cost more: only for the few that need them.
                let Some(g) = self
                    .re
                    .captures(&region[m.start()..m.end()])
                    .and_then(|c| c.get(1))
                else {
                    continue;
                };
                (start, end) = (start + g.start(), start + g.end());
            }
            let Some(mut confidence) = (self.check)(hay, start, end) else {
                continue;
            };
            let best = match self.gate {
                Gate::None => confidence,
                Gate::Raise | Gate::Require => confidence.raised(),
            };
            if best < min {
                // It would be dropped whatever surrounds it; below `min` it
                // can hide nothing that would be kept either.
                continue;
            }
            if self.gate != Gate::None {
                if keywords.near(self.id, hay, start, end) {
                    confidence = confidence.raised();
                } else if self.gate == Gate::Require {
                    continue;
                }
            }
            out.push(Candidate {
                detector: self.id,
                confidence,
                kind: None,
                start,
                end,
                keyword_raises: false,
            });
        }
    }
}

fn build(id: DetectorId) -> Option<Pattern> {
    use Confidence::*;
    let (re, check, gate): (&str, Check, Gate) = match id {
        DetectorId::CryptographicKey => (
            r"-----BEGIN (?:RSA |DSA |EC |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?:\r?\n(?:[A-Za-z-]{1,20}: (?-u:[^\r\n]){0,60}\r?\n){0,2}\r?\n?[A-Za-z0-9+/=]{20,76})?",
            |hay, s, e| {
                // With a base64 body after the header, it is a key, not a mention.
                let body = hay[s..e].ends_with(b"-----");
                Some(if body { Likely } else { VeryLikely })
            },
            Gate::None,
        ),
        DetectorId::EmailAddress => (
            r"(?-u:\b)[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?){0,3}\.[A-Za-z]{2,24}(?-u:\b)",
            |hay, s, e| {
                if in_uri_user_info(hay, s) {
                    return None;
                }
                let v = &hay[s..e];
                let domain = v.rsplit(|&b| b == b'@').next().unwrap_or(b"");
                Some(if documentation_domain(domain) {
                    Unlikely
                } else {
                    Likely
                })
            },
            Gate::Raise,
        ),
        DetectorId::PhoneNumber => (
            // E.164 with or without separators and a trunk `(0)`, or NANP.
            r"\+[1-9][0-9]{0,2}(?:[ .\-]?\(0\))?(?:[ .\-]?[0-9]{1,6}){1,7}(?-u:\b)|(?:\+?1[-. ])?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ])[2-9][0-9]{2}[-. ][0-9]{4}(?-u:\b)",
            |hay, s, e| {
                let v = &hay[s..e];
                if glued(hay, s) {
                    return None;
                }
                if v[0] != b'+' {
                    return Some(Possible);
                }
                // E.164 allows 8 to 15 digits with the country code; a
                // trunk `(0)` is written, not dialled.
                let trunk = v.windows(3).any(|w| w == b"(0)");
                let digits = v.iter().filter(|b| b.is_ascii_digit()).count() - usize::from(trunk);
                (8..=15).contains(&digits).then_some(Possible)
            },
            Gate::Raise,
        ),
        DetectorId::IpAddress => (
            r"(?-u:\b)(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?-u:\b)",
            |hay, s, e| {
                // Not part of a longer dotted run (a version, an OID).
                let dotted_before = s >= 2 && hay[s - 1] == b'.' && hay[s - 2].is_ascii_digit();
                let dotted_after =
                    e + 1 < hay.len() && hay[e] == b'.' && hay[e + 1].is_ascii_digit();
                (!dotted_before && !dotted_after && &hay[s..e] != b"0.0.0.0").then_some(Possible)
            },
            Gate::Raise,
        ),
        DetectorId::UsBankRoutingMicr => (
            r"(?-u:\b)[0-9]{9}(?-u:\b)",
            |hay, s, e| aba_valid(&hay[s..e]).then_some(Possible),
            Gate::Raise,
        ),
        DetectorId::UsEmployerIdentificationNumber => (
            r"(?-u:\b)[0-9]{2}-[0-9]{7}(?-u:\b)",
            |hay, s, _| ein_prefix_valid(&hay[s..s + 2]).then_some(Possible),
            Gate::Raise,
        ),
        DetectorId::UsIndividualTaxpayerIdentificationNumber => (
            r"(?-u:\b)9[0-9]{2}[- ]?(?:5[0-9]|6[0-5]|7[0-9]|8[0-8]|9[0-24-9])[- ]?[0-9]{4}(?-u:\b)",
            |hay, s, e| {
                let v = &hay[s..e];
                // Both separators or neither; formatted is a stronger sign.
                match v.len() {
                    11 if v[3] == v[6] => Some(Likely),
                    9 => Some(Possible),
                    _ => None,
                }
            },
            Gate::Raise,
        ),
        DetectorId::UsPassport => (
            r"(?-u:\b)(?:[A-Z][0-9]{8}|[0-9]{9})(?-u:\b)",
            |_, _, _| Some(Possible),
            Gate::Require,
        ),
        DetectorId::DateOfBirth => (
            r"(?i)(?-u:\b)(?:(?:19|20)[0-9]{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12][0-9]|3[01])|(?:0?[1-9]|[12][0-9]|3[01])[-/.](?:0?[1-9]|[12][0-9]|3[01])[-/.](?:19|20)[0-9]{2}|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.? [0-9]{1,2},? (?:19|20)[0-9]{2}|[0-9]{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]{0,6}\.? (?:19|20)[0-9]{2})(?-u:\b)",
            |_, _, _| Some(Possible),
            Gate::Require,
        ),
        DetectorId::DatabaseConnectionString => (
            r#"(?i-u)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|mssql|sqlserver|oracle|amqps?|jdbc:[a-z]{2,12})://[^\s:/@'"]{1,64}:([^\s@'"/]{1,128})@[^\s'"<>]{1,100}"#,
            |hay, s, e| {
                Some(if placeholder(&hay[s..e]) {
                    Unlikely
                } else {
                    VeryLikely
                })
            },
            Gate::None,
        ),
        DetectorId::GcpCredentials => (
            r#""private_key_id"\s{0,4}:\s{0,4}"([0-9a-f]{40})""#,
            |hay, s, _| {
                let lo = s.saturating_sub(300);
                let window = &hay[lo..s];
                let sa = window.windows(17).any(|w| w == b"\"service_account\"");
                Some(if sa { VeryLikely } else { Likely })
            },
            Gate::None,
        ),
        DetectorId::RandomlyGeneratedToken => (
            r"(?-u:\b)[A-Za-z0-9_\-+/]{32,128}={0,2}",
            |hay, s, e| {
                let v = &hay[s..e];
                let classes = [
                    v.iter().any(u8::is_ascii_uppercase),
                    v.iter().any(u8::is_ascii_lowercase),
                    v.iter().any(u8::is_ascii_digit),
                ];
                let slashes = v.iter().filter(|&&b| b == b'/').count();
                (classes.iter().all(|c| *c) && slashes < 3 && entropy(v) >= 4.5).then_some(Possible)
            },
            Gate::Raise,
        ),
        DetectorId::UkNationalInsuranceNumber => (
            r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?-u:\b)",
            |hay, s, _| {
                let prefix = &hay[s..s + 2];
                let banned = [&b"BG"[..], b"GB", b"NK", b"KN", b"TN", b"NT", b"ZZ"];
                (!banned.contains(&prefix)).then_some(Likely)
            },
            Gate::Raise,
        ),
        DetectorId::CanadaSocialInsuranceNumber => (
            r"(?-u:\b)[1-79][0-9]{2}[- ]?[0-9]{3}[- ]?[0-9]{3}(?-u:\b)",
            |hay, s, e| {
                let v = &hay[s..e];
                let digits: Vec<u8> = v.iter().filter(|b| b.is_ascii_digit()).copied().collect();
                let seps_match = v.len() == 9 || (v.len() == 11 && v[3] == v[7]);
                (seps_match && luhn_valid(&digits)).then_some(Possible)
            },
            Gate::Raise,
        ),
        DetectorId::CreditCardNumber
        | DetectorId::UsSocialSecurityNumber
        | DetectorId::ApiKey
        | DetectorId::IbanCode
        | DetectorId::PasswordInCode => {
            return None;
        }
    };
    Some(Pattern {
        id,
        re: Regex::new(re).expect("built-in patterns are valid"),
        check,
        gate,
        value_group: id == DetectorId::GcpCredentials,
        windowed: matches!(
            id,
            DetectorId::UsBankRoutingMicr
                | DetectorId::UsEmployerIdentificationNumber
                | DetectorId::CanadaSocialInsuranceNumber
                | DetectorId::UkNationalInsuranceNumber
                | DetectorId::PhoneNumber
                | DetectorId::IpAddress
                | DetectorId::RandomlyGeneratedToken
        ),
    })
}

/// A digit, letter or `+` right before `s`: the match is part of something longer.
fn glued(hay: &[u8], s: usize) -> bool {
    s > 0 && (hay[s - 1].is_ascii_alphanumeric() || hay[s - 1] == b'+')
}

/// Whether the match at `s` sits in a URI's user-info (`ftp://user:pw@host`,
/// `https://token@host`): the word it starts in has `://` before it.
fn in_uri_user_info(hay: &[u8], s: usize) -> bool {
    let word = hay[s.saturating_sub(256)..s]
        .iter()
        .rev()
        .take_while(|b| !b.is_ascii_whitespace() && !matches!(b, b'"' | b'\'' | b'<' | b'(' | b'['))
        .count();
    super::bytes::contains(&hay[s - word..s], b"://")
}

/// Domains reserved for documentation and tests (RFC 2606, RFC 6761),
/// their subdomains included.
fn documentation_domain(domain: &[u8]) -> bool {
    let d = domain.to_ascii_lowercase();
    let under =
        |zone: &[u8]| d == zone || (d.ends_with(zone) && d[..d.len() - zone.len()].ends_with(b"."));
    [
        "example.com",
        "example.org",
        "example.net",
        "example",
        "test",
        "invalid",
        "localhost",
    ]
    .iter()
    .any(|z| under(z.as_bytes()))
}

/// Values that stand for a secret rather than being one.
fn placeholder(v: &[u8]) -> bool {
    let l = v.to_ascii_lowercase();
    let has = |s: &[u8]| l.windows(s.len()).any(|w| w == s);
    has(b"password")
        || has(b"changeme")
        || has(b"example")
        || has(b"placeholder")
        || has(b"${")
        || has(b"{{")
        || has(b"%(")
        || has(b"<")
        || has(b"***")
        || has(b"xxxx")
        || has(b"your_")
        || has(b"secret")
}

/// An ABA routing number: a Federal Reserve prefix and the 3-7-1 checksum.
fn aba_valid(v: &[u8]) -> bool {
    let d: Vec<u32> = v.iter().map(|b| u32::from(b - b'0')).collect();
    let prefix = d[0] * 10 + d[1];
    let prefix_ok = matches!(prefix, 0..=12 | 21..=32 | 61..=72 | 80);
    let sum = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8]);
    prefix_ok && sum.is_multiple_of(10) && d.iter().any(|&x| x != 0)
}

/// The IRS campus prefixes EINs are issued under.
fn ein_prefix_valid(p: &[u8]) -> bool {
    let n = u32::from(p[0] - b'0') * 10 + u32::from(p[1] - b'0');
    matches!(n, 1..=6 | 10..=16 | 20..=27 | 30..=48 | 50..=68 | 71..=77 | 80..=88 | 90..=95 | 98 | 99)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(aba_valid(b"011000015"));
        assert!(aba_valid(b"021000021"));
        assert!(!aba_valid(b"021000022"));
        assert!(!aba_valid(b"991000021"));
        assert!(ein_prefix_valid(b"12") && !ein_prefix_valid(b"07"));
    }

    fn matches(id: DetectorId, text: &str) -> Vec<(String, Confidence)> {
        let p = build(id).unwrap();
        let mut out = Vec::new();
        let keywords = Keywords::new();
        p.find(
            text.as_bytes(),
            0..text.len(),
            &keywords,
            Confidence::VeryUnlikely,
            &mut out,
        );
        out.iter()
            .map(|c| (text[c.start..c.end].to_string(), c.confidence))
            .collect()
    }

    #[test]
    fn e_mail_is_not_read_out_of_uri_user_info() {
        use Confidence::*;
        let email = |t: &str| matches(DetectorId::EmailAddress, t);
        assert!(email("ftp://user:secret@files.acme.io/x").is_empty());
        assert!(
            email("https://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@github.com/o/r").is_empty()
        );
        assert_eq!(
            email("mailto:jane.roe@acme.io"),
            [("jane.roe@acme.io".into(), Likely)]
        );
        assert_eq!(
            email("write to jane@acme.io"),
            [("jane@acme.io".into(), Likely)]
        );
        for doc in [
            "a@example.com",
            "a@mail.example.com",
            "a@x.example.org",
            "b@host.test",
        ] {
            assert_eq!(email(doc)[0].1, Unlikely, "{doc}");
        }
        assert_eq!(email("a@myexample.com")[0].1, Likely);
    }

    #[test]
    fn phone_numbers_with_spaces_and_trunk_prefixes() {
        let phone = |t: &str| matches(DetectorId::PhoneNumber, t);
        for p in [
            "+49 30 1234567",
            "+44 (0)20 7946 0958",
            "+33 1 23 45 67 89",
            "+1 415-555-2671",
            "+447911123456",
            "+81-3-1234-5678",
            "(415) 555-2671",
        ] {
            assert_eq!(
                phone(&format!("x {p} y")),
                [(p.to_string(), Confidence::Possible)],
                "{p}"
            );
        }
        // Too few or too many digits, or glued to more.
        assert!(phone("+49 30 12").is_empty());
        assert!(phone("+49 3012 3456 7890 1234 5").is_empty());
        assert!(phone("x+4930123456789").is_empty());
    }

    #[test]
    fn no_pattern_can_match_more_than_the_block_overlap_allows() {
        // Every repetition is bounded; a long run of each pattern's
        // alphabet stops at the bound.
        let long = "A".repeat(10_000) + "@" + &"b".repeat(10_000) + ".com";
        for id in DetectorId::ALL {
            let Some(p) = build(id) else { continue };
            let longest = longest_match(p.re.as_str());
            assert!(
                longest <= super::super::apikey::MAX_MATCH,
                "{id}: {longest}"
            );
            for m in p.re.find_iter(long.as_bytes()) {
                assert!(
                    m.len() <= super::super::apikey::MAX_MATCH,
                    "{id}: {}",
                    m.len()
                );
            }
        }
    }
}
