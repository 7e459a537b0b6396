//! Whether a family's token is at a position: its shape matched part by
//! part with bounded runs and word boundaries, then its check (a CRC32, a
//! JWT header) and the placeholder rule. [`super::super::apikey`] finds
//! the positions.

use super::{Alphabet, Check, Family, Part};
use crate::engine::Confidence;
use crate::engine::local::bytes::entropy;
use crate::engine::local::shape::{has_letter_and_digit, is_placeholder};

/// Matches `parts` at `at`, with `start` where the whole match began and
/// at most `max_len` bytes from it; returns the end, which must be where
/// the token ends.
pub fn match_parts(
    parts: &[Part],
    hay: &[u8],
    at: usize,
    start: usize,
    max_len: usize,
) -> Option<usize> {
    let limit = (start + max_len).min(hay.len());
    let mut i = at;
    let mut last: Option<Alphabet> = None;
    for part in parts {
        let rest = &hay[i.min(limit)..limit];
        match *part {
            Part::Lit(s) | Part::Opt(s) if rest.starts_with(s.as_bytes()) => {
                i += s.len();
                last = None;
            }
            Part::Opt(_) => {}
            Part::Lit(_) => return None,
            Part::Run(alpha, min, max) => {
                let n = run(rest, alpha, usize::from(max));
                if n < usize::from(min) {
                    return None;
                }
                i += n;
                last = Some(alpha);
            }
            Part::Tail(alpha, min) => {
                let n = run(rest, alpha, rest.len());
                return (n >= usize::from(min)).then_some(i + n);
            }
        }
    }
    ends_word(hay, i, last).then_some(i)
}

/// Whether a token whose shape starts with `part` can start with `b`.
pub fn can_start(part: Part, b: u8) -> bool {
    match part {
        Part::Run(alpha, ..) | Part::Tail(alpha, _) => alpha.contains(b),
        Part::Lit(s) | Part::Opt(s) => s.as_bytes()[0] == b,
    }
}

/// How many of the first bytes of `s`, at most `max`, are in `alpha`.
fn run(s: &[u8], alpha: Alphabet, max: usize) -> usize {
    s.iter()
        .take(max)
        .take_while(|&&b| alpha.contains(b))
        .count()
}

/// A byte that continues a token: letters, digits, `_` and `-`.
pub fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Whether a token may start at `at`: a token that starts with a letter or
/// digit must not be glued to the word before it.
pub fn starts_word(hay: &[u8], at: usize) -> bool {
    at == 0
        || !hay[at].is_ascii_alphanumeric()
        || !(hay[at - 1].is_ascii_alphanumeric() || hay[at - 1] == b'_')
}

/// Whether a token may end at `end`, its last part a run of `last` (if
/// any): the next byte must not continue it. A `.` that ends a sentence
/// does not.
fn ends_word(hay: &[u8], end: usize, last: Option<Alphabet>) -> bool {
    let Some(&next) = hay.get(end) else {
        return true;
    };
    let continues = |b: u8| is_word(b) || last.is_some_and(|a| a.contains(b));
    if next == b'.' && continues(next) {
        return !hay.get(end + 1).is_some_and(|&b| continues(b));
    }
    !continues(next)
}

/// Applies a family's check and the placeholder rule; `None` rejects.
pub fn confirm(f: &Family, token: &[u8], body: &[u8]) -> Option<Confidence> {
    let base = f.confidence;
    let random = || has_letter_and_digit(body) && entropy(body) >= 3.5;
    let confidence = match f.check {
        Check::Shape => base,
        Check::Crc32Base62 => {
            let (random_part, sum) = body.split_at(body.len().checked_sub(6)?);
            (base62_6(crc32(random_part)) == sum).then_some(base)?
        }
        Check::AwsDigit if body.iter().any(u8::is_ascii_digit) => base,
        Check::AwsDigit => Confidence::Possible,
        Check::Random => random().then_some(base)?,
        Check::OpenAi if !random() => return None,
        Check::OpenAi if memchr::memmem::find(body, b"T3BlbkFJ").is_some() => {
            Confidence::VeryLikely
        }
        Check::OpenAi => base,
        Check::Jwt => jwt_header_ok(token).then_some(base)?,
        Check::PemPrivate => {
            let label = &token[b"-----BEGIN ".len()..token.len() - b"-----".len()];
            (label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
                .then_some(base)?
        }
    };
    Some(if is_placeholder(body) {
        Confidence::Unlikely
    } else {
        confidence
    })
}

/// CRC-32 (IEEE), as GitHub and npm compute their token checksums.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 == 1 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

/// `n` in base62 (`0-9A-Za-z`), six digits, zero-padded.
pub fn base62_6(mut n: u32) -> [u8; 6] {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Whether a JWT's header (before the first `.`) is base64url of a JSON
/// object that names its `alg`.
fn jwt_header_ok(token: &[u8]) -> bool {
    let header = token.split(|&b| b == b'.').next().unwrap_or(b"");
    let mut json = Vec::with_capacity(header.len());
    let (mut acc, mut bits) = (0u32, 0);
    for &b in header {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            json.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    json.starts_with(b"{") && memchr::memmem::find(&json, b"\"alg\"").is_some()
}
