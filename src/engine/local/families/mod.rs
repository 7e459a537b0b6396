//! The secret families: one declarative row per vendor token format, taken
//! from the vendor's own documentation of its tokens (prefix, length,
//! alphabet, checksum), grouped by area in the files below. The engine's
//! API_KEY search (`apikey.rs`) finds where they can start and `verify`
//! matches them; the tables only say what each family looks like, so
//! adding one is adding a row (its tests are generated from the row).
//!
//! A family is found one of two ways:
//! - by its **anchor**, the first fixed literal of its shape (`ghp_`,
//!   `xoxb-`, `AKIA`): every real token of the family contains it, so the
//!   hot path only looks for anchors;
//! - by its **vendor's name** (the `named` field), for formats with no
//!   distinctive literal (a UUID, 32 hex digits): the value counts only
//!   after a name such as `HEROKU_API_KEY=` or `datadog-app-key:`, and
//!   starts at LIKELY. Bare hex and UUIDs never match alone.

mod ai;
mod cloud;
mod commerce;
mod devtools;
mod keys;
mod messaging;
mod named;
mod saas;
mod vcs;
pub(super) mod verify;

use crate::engine::{Confidence, DetectorId};

/// A byte class that a run of a token is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// `0-9`.
    Digit,
    /// `0-9a-f`: most vendors print hex in lower case.
    Hex,
    /// `A-Z0-9`.
    UpperAlnum,
    /// `A-Z2-7`: the base32 alphabet of AWS key ids.
    Upper32,
    /// `a-z0-9`.
    LowerAlnum,
    /// `A-Za-z`.
    Alpha,
    /// `A-Za-z0-9`: base62.
    Alnum,
    /// `A-Za-z0-9_-`: base64url.
    Url64,
    /// `A-Za-z0-9+/`: base64 without padding.
    Base64,
    /// `A-Za-z0-9_=-`: base64url with padding.
    Url64Pad,
    /// `A-Za-z0-9_.-`: base64url parts joined by dots (JWTs, macaroons).
    Dotted,
    /// `A-Za-z0-9%`: base62 with percent-escapes.
    Percent,
    /// `A-Za-z0-9_.~-`: Azure AD client secrets.
    Azure,
    /// `A-Z0-9 `: the label of a PEM header.
    PemLabel,
    /// `a-z0-9-`: host names and algorithm names.
    Slug,
    /// The upper-case bech32 alphabet (age keys).
    Bech32,
}

impl Alphabet {
    /// Whether `b` belongs to the alphabet.
    pub const fn contains(self, b: u8) -> bool {
        let (lower, upper, digit) = (
            b.is_ascii_lowercase(),
            b.is_ascii_uppercase(),
            b.is_ascii_digit(),
        );
        match self {
            Alphabet::Digit => digit,
            Alphabet::Hex => digit || matches!(b, b'a'..=b'f'),
            Alphabet::UpperAlnum => upper || digit,
            Alphabet::Upper32 => upper || matches!(b, b'2'..=b'7'),
            Alphabet::LowerAlnum => lower || digit,
            Alphabet::Alpha => lower || upper,
            Alphabet::Alnum => lower || upper || digit,
            Alphabet::Url64 => lower || upper || digit || matches!(b, b'_' | b'-'),
            Alphabet::Base64 => lower || upper || digit || matches!(b, b'+' | b'/'),
            Alphabet::Url64Pad => lower || upper || digit || matches!(b, b'_' | b'-' | b'='),
            Alphabet::Dotted => lower || upper || digit || matches!(b, b'_' | b'-' | b'.'),
            Alphabet::Percent => lower || upper || digit || b == b'%',
            Alphabet::Azure => lower || upper || digit || matches!(b, b'_' | b'-' | b'.' | b'~'),
            Alphabet::PemLabel => upper || digit || b == b' ',
            Alphabet::Slug => lower || digit || b == b'-',
            // bech32: digits and lower-case letters but 1, b, i, o; age
            // prints them in upper case.
            Alphabet::Bech32 => (upper || digit) && !matches!(b, b'1' | b'B' | b'I' | b'O'),
        }
    }

    /// How the documentation names the alphabet.
    pub const fn name(self) -> &'static str {
        match self {
            Alphabet::Digit => "digits",
            Alphabet::Hex => "hex",
            Alphabet::UpperAlnum => "A-Z0-9",
            Alphabet::Upper32 => "A-Z2-7",
            Alphabet::LowerAlnum => "a-z0-9",
            Alphabet::Alpha => "letters",
            Alphabet::Alnum => "base62",
            Alphabet::Url64 => "base64url",
            Alphabet::Base64 => "base64",
            Alphabet::Url64Pad => "base64url or =",
            Alphabet::Dotted => "base64url or .",
            Alphabet::Percent => "base62 or %",
            Alphabet::Azure => "A-Za-z0-9_.~-",
            Alphabet::PemLabel => "A-Z0-9 and spaces",
            Alphabet::Slug => "a-z0-9-",
            Alphabet::Bech32 => "bech32",
        }
    }
}

/// One piece of a token's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// These bytes exactly.
    Lit(&'static str),
    /// These bytes, or nothing (`https://` before a webhook host).
    Opt(&'static str),
    /// `min..=max` bytes of the alphabet, read greedily: the part after it
    /// must start with a byte outside the alphabet.
    Run(Alphabet, u16, u16),
    /// At least `min` bytes of the alphabet, as many as the match bound
    /// allows; only last, for tokens that can be longer than any bound
    /// (JWTs, macaroons), of which the first bytes are reported.
    Tail(Alphabet, u16),
}

/// What the shape cannot say and the matcher checks after it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The shape alone decides.
    Shape,
    /// The last six characters are the CRC32 of the random part (the
    /// characters between the anchor and them), in base62, zero-padded:
    /// GitHub's and npm's scheme.
    Crc32Base62,
    /// AWS key ids: without a digit (true of 1 real id in 28, and of
    /// words) the id starts at POSSIBLE.
    AwsDigit,
    /// No checksum and a short prefix: the random part must look random
    /// (letters and digits, 3.5 bits of entropy per byte).
    Random,
    /// OpenAI's `sk-`: random, and VERY_LIKELY with its `T3BlbkFJ` marker.
    OpenAi,
    /// A JWT: the header decodes to a JSON object naming its `alg`.
    Jwt,
    /// A PEM header of a private key, not a public key or certificate.
    PemPrivate,
}

/// One vendor token format.
#[derive(Debug, Clone, Copy)]
pub struct Family {
    /// The id findings carry in `kind`: snake_case, stable.
    pub kind: &'static str,
    /// Who issues the token, as the vendor writes its name.
    pub vendor: &'static str,
    /// The Nightfall detector the family reports as.
    pub detector: DetectorId,
    /// The token, part by part; the match is the whole token.
    pub shape: &'static [Part],
    /// Confidence when the shape and check pass and nothing lowers it.
    pub confidence: Confidence,
    pub check: Check,
    /// Vendor names, lower case: when not empty, the token counts only
    /// after one of them as a word of an assigned name (`HEROKU_API_KEY=`).
    pub named: &'static [&'static str],
    /// Literals the literal (Teddy) search looks for instead of the anchor,
    /// each starting where the anchor does: longer ones where the anchor is
    /// too short a pattern (a JWT's `eyJ`).
    pub hooks: &'static [&'static str],
}

/// A family of API keys, anchored, VERY_LIKELY, checked by shape alone:
/// what most rows are; the methods below adjust it.
const fn key(kind: &'static str, vendor: &'static str, shape: &'static [Part]) -> Family {
    Family {
        kind,
        vendor,
        detector: DetectorId::ApiKey,
        shape,
        confidence: Confidence::VeryLikely,
        check: Check::Shape,
        named: &[],
        hooks: &[],
    }
}

impl Family {
    /// Starts at LIKELY: a short or common anchor, or a format without a
    /// checksum that other text could take.
    const fn likely(self) -> Family {
        Family {
            confidence: Confidence::Likely,
            ..self
        }
    }

    const fn check(self, check: Check) -> Family {
        Family { check, ..self }
    }

    /// Needs one of the vendor's `names` before it, and starts at LIKELY.
    const fn named(self, names: &'static [&'static str]) -> Family {
        Family {
            named: names,
            confidence: Confidence::Likely,
            ..self
        }
    }

    const fn hooks(self, hooks: &'static [&'static str]) -> Family {
        Family { hooks, ..self }
    }

    /// A private key: reported as CRYPTOGRAPHIC_KEY when that detector is
    /// on, and as API_KEY otherwise, so the default scan still sees it.
    const fn private_key(self) -> Family {
        Family {
            detector: DetectorId::CryptographicKey,
            ..self
        }
    }

    /// The index in [`Family::shape`] of the anchor: the first literal.
    /// Named families have none.
    pub fn anchor(&self) -> Option<usize> {
        if !self.named.is_empty() {
            return None;
        }
        self.shape.iter().position(|p| matches!(p, Part::Lit(_)))
    }

    /// The shape in words, for the documentation: `ghp_` + 36 base62.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .shape
            .iter()
            .map(|p| match *p {
                Part::Lit(s) => format!("`{s}`"),
                Part::Opt(s) => format!("[`{s}`]"),
                Part::Run(a, min, max) if min == max => format!("{min} {}", a.name()),
                Part::Run(a, min, max) => format!("{min}–{max} {}", a.name()),
                Part::Tail(a, min) => format!("{min}+ {}", a.name()),
            })
            .collect();
        parts.join(" + ")
    }
}

/// Every family, in table order; kinds are unique.
pub fn all() -> impl Iterator<Item = &'static Family> {
    [
        cloud::FAMILIES,
        vcs::FAMILIES,
        devtools::FAMILIES,
        ai::FAMILIES,
        commerce::FAMILIES,
        messaging::FAMILIES,
        saas::FAMILIES,
        keys::FAMILIES,
        named::FAMILIES,
    ]
    .into_iter()
    .flatten()
}
