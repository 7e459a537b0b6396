//! API_KEY: provider key families recognised by their fixed prefixes and
//! shapes; the generic "key/token/secret = random-looking value" rule is
//! in [`super::assign`].
//!
//! Finding where a key can start is the hot path, so it is done with
//! SIMD-friendly searches only: one Aho-Corasick (Teddy) pass for the
//! prefixes of three bytes or more, a `memmem` pass for Twilio's two-byte
//! `SK`, and a `memchr2` pass for `=` and `:` that anchors the generic rule.
//! Each hit is then confirmed with a short anchored regex or a few byte
//! checks, so the regexes only run where a key can start.

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::Regex;

use super::Candidate;
use super::bytes::entropy;
use super::shape::{has_letter_and_digit, is_placeholder};
use crate::engine::{Confidence, DetectorId};

/// The longest key a rule can match, in bytes; it also bounds how far any
/// rule looks around a match (the generic rule looks at most 84 bytes back
/// from its value for the name), which the engine's block margin relies on.
pub const MAX_MATCH: usize = 320;

/// How a hit is confirmed once its prefix is found.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Check {
    /// The regex alone decides.
    Shape,
    /// AWS key ids: 16 characters of [A-Z2-7] after the prefix. Without a
    /// digit (true of 1 real id in 28, and of words) they start POSSIBLE.
    AwsDigit,
    /// OpenAI-style `sk-` keys: random-looking, not a word or a slug.
    Random,
}

struct Family {
    /// What the finding's `kind` says.
    kind: &'static str,
    /// Literals that every key of this family contains: few, distinct and
    /// at least three bytes long keep the Teddy search fast.
    anchors: &'static [&'static str],
    /// How far before the anchor the key starts.
    anchor_offset: usize,
    /// Anchored at the prefix; capture group 1 is the key.
    pattern: &'static str,
    /// Confidence when the shape matches and nothing lowers it.
    base: Confidence,
    /// Whether the byte before the prefix must not be a letter or digit.
    left_boundary: bool,
    check: Check,
}

/// Ends a key: the next byte cannot belong to it.
macro_rules! end {
    () => {
        r"(?:[^A-Za-z0-9_\-]|$)"
    };
}

const FAMILIES: &[Family] = &[
    Family {
        kind: "AWS",
        anchors: &["AKIA", "ASIA"],
        pattern: concat!(r"^((?:AKIA|ASIA)[A-Z2-7]{16})", end!()),
        base: Confidence::Likely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::AwsDigit,
    },
    Family {
        kind: "GitHub",
        anchors: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        pattern: concat!(r"^(gh[pousr]_[A-Za-z0-9]{36})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "GitHub",
        anchors: &["github_pat_"],
        pattern: concat!(r"^(github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "GitLab",
        anchors: &["glpat-"],
        pattern: concat!(r"^(glpat-[A-Za-z0-9_\-]{20,64})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "Slack",
        anchors: &["xox"],
        pattern: concat!(r"^(xox[abpr]-[0-9]{6,16}-[A-Za-z0-9\-]{8,200})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "Slack webhook",
        anchors: &["hooks.slack.com/"],
        pattern: r"^(https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,200})(?:[^A-Za-z0-9_/]|$)",
        base: Confidence::VeryLikely,
        anchor_offset: "https://".len(),
        left_boundary: false,
        check: Check::Shape,
    },
    Family {
        kind: "Stripe",
        anchors: &["_live_"],
        pattern: concat!(r"^((?:sk|rk)_live_[A-Za-z0-9]{20,247})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: "sk".len(),
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "Google",
        anchors: &["AIza"],
        pattern: concat!(r"^(AIza[0-9A-Za-z_\-]{35})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "SendGrid",
        anchors: &["SG."],
        pattern: concat!(r"^(SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})", end!()),
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "Twilio",
        anchors: &["SK"],
        pattern: concat!(r"^(SK[0-9a-fA-F]{32})", end!()),
        base: Confidence::Likely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Shape,
    },
    Family {
        kind: "OpenAI",
        anchors: &["sk-"],
        pattern: concat!(
            r"^(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,200})",
            end!()
        ),
        base: Confidence::Likely,
        anchor_offset: 0,
        left_boundary: true,
        check: Check::Random,
    },
    Family {
        kind: "Private key",
        anchors: &["-----BEGIN "],
        pattern: r"^(-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----)",
        base: Confidence::VeryLikely,
        anchor_offset: 0,
        left_boundary: false,
        check: Check::Shape,
    },
];

/// The compiled families.
pub struct ApiKeyRules {
    /// Prefixes of three bytes or more, searched with Teddy.
    anchors: AhoCorasick,
    /// Family index for each anchor pattern id.
    family_of: Vec<usize>,
    /// Two-byte prefixes: a Teddy fingerprint of two bytes would match
    /// common bigrams, so these get their own `memmem` pass.
    short: Vec<(memchr::memmem::Finder<'static>, usize)>,
    regexes: Vec<Regex>,
}

impl ApiKeyRules {
    /// Compiles the families; the patterns are constants, so this cannot fail.
    pub fn new() -> ApiKeyRules {
        let mut anchors = Vec::new();
        let mut family_of = Vec::new();
        let mut short = Vec::new();
        for (i, f) in FAMILIES.iter().enumerate() {
            for a in f.anchors {
                if a.len() < 3 {
                    short.push((memchr::memmem::Finder::new(a.as_bytes()), i));
                } else {
                    anchors.push(*a);
                    family_of.push(i);
                }
            }
        }
        ApiKeyRules {
            // Leftmost-first lets the packed (Teddy) searcher run; no two
            // anchors overlap, so nothing is hidden by it.
            anchors: AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&anchors)
                .expect("anchors are valid"),
            family_of,
            short,
            regexes: FAMILIES
                .iter()
                .map(|f| Regex::new(f.pattern).expect("family patterns are valid"))
                .collect(),
        }
    }

    /// Appends every key candidate in `hay` to `out`.
    pub fn detect(&self, hay: &[u8], out: &mut Vec<Candidate>) {
        for hit in self.anchors.find_iter(hay) {
            self.confirm_family(
                hay,
                hit.start(),
                self.family_of[hit.pattern().as_usize()],
                out,
            );
        }
        for (finder, idx) in &self.short {
            for at in finder.find_iter(hay) {
                self.confirm_family(hay, at, *idx, out);
            }
        }
    }

    /// Checks a family's key around its anchor, found at `anchor`.
    fn confirm_family(&self, hay: &[u8], anchor: usize, idx: usize, out: &mut Vec<Candidate>) {
        let family = &FAMILIES[idx];
        let Some(at) = anchor.checked_sub(family.anchor_offset) else {
            return;
        };
        if family.left_boundary && at > 0 && hay[at - 1].is_ascii_alphanumeric() {
            return;
        }
        let slice = &hay[at..(at + MAX_MATCH + 1).min(hay.len())];
        let Some(m) = self.regexes[idx].captures(slice).and_then(|c| c.get(1)) else {
            return;
        };
        let Some(confidence) = confirm(family.check, family.base, m.as_bytes()) else {
            return;
        };
        out.push(Candidate {
            detector: DetectorId::ApiKey,
            confidence,
            kind: Some(family.kind),
            start: at + m.start(),
            end: at + m.end(),
            keyword_raises: matches!(confidence, Confidence::Possible | Confidence::Likely),
        });
    }
}

impl Default for ApiKeyRules {
    fn default() -> Self {
        ApiKeyRules::new()
    }
}

/// Applies a family's extra check and the placeholder rule; `None` rejects.
fn confirm(check: Check, base: Confidence, value: &[u8]) -> Option<Confidence> {
    let confidence = match check {
        Check::Shape => base,
        Check::AwsDigit => {
            if value[4..].iter().any(u8::is_ascii_digit) {
                base
            } else {
                Confidence::Possible
            }
        }
        Check::Random => {
            if !has_letter_and_digit(value) || entropy(value) < 3.5 {
                return None;
            }
            if memchr::memmem::find(value, b"T3BlbkFJ").is_some() {
                Confidence::VeryLikely
            } else {
                base
            }
        }
    };
    Some(if is_placeholder(value) {
        Confidence::Unlikely
    } else {
        confidence
    })
}

/// The `kind` this engine uses for a family of keys, matched without regard
/// to case, so findings from Nightfall carry the same names.
pub fn known_kind(kind: &str) -> Option<&'static str> {
    FAMILIES
        .iter()
        .map(|f| f.kind)
        .find(|k| k.eq_ignore_ascii_case(kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Vec<(&'static str, String, Confidence)> {
        let mut out = Vec::new();
        ApiKeyRules::new().detect(s.as_bytes(), &mut out);
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
    fn aws_access_key_ids() {
        assert_eq!(one("id=AKIA2OGYBAH6STMMNXNN\n").1, "AKIA2OGYBAH6STMMNXNN");
        assert_eq!(one("ASIA4XQ7HZ3KSL2PQRWE").0, "AWS");
        // The documentation's key is a placeholder.
        assert_eq!(one("AKIAIOSFODNN7EXAMPLE").2, Confidence::Unlikely);
        // Too short, wrong alphabet, glued to a word.
        assert!(find("AKIA2OGYBAH6STMMNXN ").is_empty());
        assert!(find("AKIA2OGYBAH6STMMNXN1").is_empty());
        assert!(find("xAKIA2OGYBAH6STMMNXNN").is_empty());
        // No digit: real ids can be so, and so can words; POSSIBLE until a
        // keyword nearby raises it (the engine does that).
        assert_eq!(one("ASIAPACIFICREGIONSXY").2, Confidence::Possible);
    }

    #[test]
    fn github_tokens() {
        for p in ["ghp", "gho", "ghu", "ghs", "ghr"] {
            let t = format!("{p}_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx");
            assert_eq!(one(&t), ("GitHub", t.clone(), Confidence::VeryLikely));
        }
        let pat = format!(
            "github_pat_11ABCDEFG0123456789abc_{}",
            &"a1B2c3D4e5".repeat(6)[..59]
        );
        assert_eq!(one(&pat).1, pat);
        assert!(find("ghp_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINU").is_empty());
        assert!(find("ghx_wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO0pINUx").is_empty());
    }

    #[test]
    fn gitlab_slack_stripe_google() {
        assert_eq!(one("glpat-Zx8vK2mQ9rT4wY7uP1sN").0, "GitLab");
        assert!(find("glpat-short").is_empty());
        assert_eq!(
            one("xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1").0,
            "Slack"
        );
        for p in ["xoxa", "xoxp", "xoxr"] {
            assert_eq!(one(&format!("{p}-2635942065-FGqddMF8t08v8N7O")).0, "Slack");
        }
        assert!(find("xoxc-263594206564-FGqddMF8t08v8N7Oq4i57vs1").is_empty());
        let hook =
            "https://hooks.slack.com/services/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";
        assert_eq!(one(&format!("url: {hook}\n")).1, hook);
        assert_eq!(one("sk_live_4eC39HqLyjWDarjtT1zdp7dc").0, "Stripe");
        assert_eq!(one("rk_live_4eC39HqLyjWDarjtT1zdp7dc").0, "Stripe");
        assert!(find("sk_test_4eC39HqLyjWDarjtT1zdp7dc").is_empty());
        assert_eq!(one("AIzaSyD8fG1hJ2kL3mN4pQ5rS6tU7vW8xY9zA0b").0, "Google");
        assert!(find("AIzaSyD8fG1hJ2kL3mN4pQ5rS6tU7vW8xY9zA0").is_empty());
    }

    #[test]
    fn sendgrid_twilio_openai_pem() {
        let sg = "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";
        assert_eq!(
            one(sg),
            ("SendGrid", sg.to_string(), Confidence::VeryLikely)
        );
        assert_eq!(
            one("SK2b8a6c0e3f9d4b7a1c5e8f0a2d4c6b8e").2,
            Confidence::Likely
        );
        assert!(find("SK2b8a6c0e3f9d4b7a1c5e8f0a2d4c6b8").is_empty());
        assert!(find("TASK2b8a6c0e3f9d4b7a1c5e8f0a2d4c6b8e").is_empty());
        let legacy = "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";
        assert_eq!(one(legacy).2, Confidence::VeryLikely);
        let proj = "sk-proj-Xa8Kd92LmQp4Rt7Vw1Yz3Bc5De7Fg9Hj2Kl4Mn6Pq8Rs0Tu";
        assert_eq!(one(proj), ("OpenAI", proj.to_string(), Confidence::Likely));
        assert!(find("task-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9aB1cD3eF5").is_empty());
        assert!(find("sk-this-is-not-a-key-just-a-long-slug-here").is_empty());
        for header in [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "-----BEGIN EC PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        ] {
            assert_eq!(one(header).1, header);
        }
        assert!(find("-----BEGIN PUBLIC KEY-----").is_empty());
        assert!(find("-----BEGIN CERTIFICATE-----").is_empty());
    }
}
