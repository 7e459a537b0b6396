//! The assignment rule's judgments: whether a name says its value is
//! secret (split into words), and whether a value is one.

use std::ops::Range;

use super::MAX_NAME;
use crate::engine::Confidence;
use crate::engine::local::bytes::entropy;
use crate::engine::local::shape::{has_letter_and_digit, is_placeholder};

/// How strongly a name says its value is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Strength {
    Weak,
    Strong,
}

/// A name that says its value is secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Name {
    pub strength: Strength,
    pub password: bool,
}

/// Words that make a name a secret's. Matched against the name's words
/// (split at `_`, `-`, `.` and case changes), lower-cased.
const STRONG: &[&[u8]] = &[
    b"secret",
    b"secrets",
    b"token",
    b"apikey",
    b"privatekey",
    b"accesskey",
    b"secretkey",
    b"authtoken",
    b"accesstoken",
    b"refreshtoken",
    b"bearer",
    b"clientsecret",
    b"masterkey",
    b"signingkey",
    b"encryptionkey",
    b"credential",
    b"credentials",
    b"password",
    b"passwd",
    b"passphrase",
    b"pwd",
    b"apitoken",
];
/// Word pairs that do the same (`api_key`, `private-key`, `AccessKey`).
const STRONG_PAIRS: &[(&[u8], &[u8])] = &[
    (b"api", b"key"),
    (b"private", b"key"),
    (b"access", b"key"),
    (b"secret", b"key"),
    (b"signing", b"key"),
    (b"encryption", b"key"),
    (b"master", b"key"),
    (b"auth", b"key"),
    (b"app", b"key"),
];
/// Words that hint at a secret but also name other things.
const WEAK: &[&[u8]] = &[b"key", b"auth", b"pass", b"cred", b"creds"];
/// Words that make a name not a secret's wherever they are.
const NOT_SECRET: &[&[u8]] = &[b"public", b"pub", b"csrf", b"xsrf"];
/// Last words that make the name describe a secret, not hold one
/// (`key_id`, `token_url`, `secret_name`, `password_length`).
const DESCRIBES: &[&[u8]] = &[
    b"id",
    b"ids",
    b"name",
    b"names",
    b"type",
    b"size",
    b"length",
    b"len",
    b"path",
    b"file",
    b"dir",
    b"url",
    b"uri",
    b"endpoint",
    b"count",
    b"ref",
    b"arn",
    b"format",
    b"version",
    b"header",
    b"field",
    b"prefix",
    b"ttl",
    b"timeout",
    b"expiry",
    b"expires",
    b"usage",
    b"limit",
    b"enabled",
    b"required",
    b"env",
    b"var",
    b"location",
    b"policy",
    b"hint",
    b"label",
    b"mode",
    b"index",
    b"provider",
    b"store",
    b"pair",
    b"hash",
    b"digest",
];
/// Words that make it a password.
const PASSWORD: &[&[u8]] = &[b"password", b"passwd", b"passphrase", b"pwd", b"pass"];

/// Splits a name into lower-case words at `_`, `-`, `.` and case changes
/// (`xToken`, `APIKey`, `client.secret`), and judges them.
pub(super) fn classify(name: &[u8]) -> Option<Name> {
    let mut buf = [0u8; MAX_NAME];
    let mut words: [Range<usize>; 12] = Default::default();
    let mut count = 0;
    let mut start = 0;
    let mut n = 0;
    for (i, &b) in name.iter().enumerate().take(MAX_NAME) {
        let prev = i.checked_sub(1).map(|p| name[p]);
        let next = name.get(i + 1);
        let boundary = !b.is_ascii_alphanumeric()
            || (b.is_ascii_uppercase()
                && prev.is_some_and(|p| {
                    p.is_ascii_lowercase()
                        || p.is_ascii_digit()
                        || (p.is_ascii_uppercase() && next.is_some_and(u8::is_ascii_lowercase))
                }));
        if boundary && n > start && count < words.len() {
            words[count] = start..n;
            count += 1;
            start = n;
        }
        if b.is_ascii_alphanumeric() {
            buf[n] = b.to_ascii_lowercase();
            n += 1;
        } else {
            start = n;
        }
    }
    if n > start && count < words.len() {
        words[count] = start..n;
        count += 1;
    }
    let word = |i: usize| &buf[words[i].clone()];
    let any = |list: &[&[u8]]| (0..count).any(|i| list.contains(&word(i)));
    if count == 0 || any(NOT_SECRET) || DESCRIBES.contains(&word(count - 1)) {
        return None;
    }
    let pair = (1..count).any(|i| {
        STRONG_PAIRS
            .iter()
            .any(|(a, b)| word(i - 1) == *a && word(i) == *b)
    });
    // `pass` alone is a word of test logs (`PASS:`); with another word
    // (`db_pass`, `smtp_pass`) it names a password.
    let compound_pass = count >= 2 && any(&[b"pass"]);
    let strength = if pair || any(STRONG) || compound_pass {
        Strength::Strong
    } else if any(WEAK) {
        Strength::Weak
    } else {
        return None;
    };
    // `password_key` is a key; `db_pass` and `passwordValue` are passwords.
    let password = any(PASSWORD) && !pair && !any(&[b"key", b"token", b"secret"]);
    Some(Name { strength, password })
}

/// Whether a value is a reference, an expression, a path or a literal
/// that stands for no secret: `${VAR}`, `$VAR`, `%(x)s`, `{{ x }}`,
/// `<x>`, `os.getenv`, `/etc/x`, `true`, `null`.
fn not_a_literal(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    let has = |s: &[u8]| crate::engine::local::bytes::contains(&lower, s);
    matches!(
        v[0],
        b'$' | b'%' | b'<' | b'/' | b'~' | b'.' | b'\\' | b'{' | b'[' | b'('
    ) || has(b"${")
        || has(b"{{")
        || has(b"%(")
        || has(b"://")
        || has(b"getenv")
        || has(b"environ")
        || has(b"process.env")
        || (v.len() > 2 && v[1] == b':' && matches!(v[2], b'\\' | b'/'))
        || [
            &b"true"[..],
            b"false",
            b"null",
            b"none",
            b"nil",
            b"undefined",
            b"required",
            b"optional",
        ]
        .contains(&lower.as_slice())
}

/// An identifier chain or a constant: `Ed25519.BlindKeySignatures`,
/// `PdfEncryptionKeySize.Key128Bit`, `config.api.key`, `SOME_CONSTANT`.
fn is_identifier(v: &[u8]) -> bool {
    let part = |p: &[u8]| {
        !p.is_empty()
            && p.len() <= 64
            && (p[0].is_ascii_alphabetic() || p[0] == b'_')
            && p.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    let dotted = v.contains(&b'.') && v.split(|&b| b == b'.').all(part);
    let constant = v
        .iter()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        && v.contains(&b'_');
    dotted || constant
}

/// A run of at least `n` consecutive letters or digits in order (`ABCDEF`,
/// `012345`): an alphabet or a test pattern, not a secret.
fn in_order(v: &[u8], n: usize) -> bool {
    let mut run = 1;
    v.windows(2).any(|w| {
        run = if w[1] == w[0].wrapping_add(1) && w[1].is_ascii_alphanumeric() {
            run + 1
        } else {
            1
        };
        run >= n
    })
}

/// Hex (32 to 128 digits) or a UUID: random, whatever its letters' case.
fn hex_or_uuid(v: &[u8]) -> bool {
    let hex = (32..=128).contains(&v.len()) && v.iter().all(u8::is_ascii_hexdigit);
    let uuid = v.len() == 36
        && v.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        });
    hex || uuid
}

/// The confidence of `value` given to `name`, or `None` for a value that
/// is no secret.
pub(super) fn judge(name: Name, v: &[u8], quoted: bool) -> Option<Confidence> {
    if v.is_empty()
        || not_a_literal(v)
        || is_placeholder(v)
        || v.iter().any(|b| b.is_ascii_whitespace())
        || in_order(v, 6)
    {
        return None;
    }
    if name.password {
        // Passwords are chosen, not random: any 6 or more characters in
        // quotes; bare, 8 or more with letters and digits. A name that is
        // only `pass` (a test log's `PASS: addr2line`) needs the quotes;
        // versions (`'1.302120'`) are not passwords.
        let version = v.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        let ok = if quoted {
            v.len() >= 6
        } else {
            name.strength == Strength::Strong && v.len() >= 8 && has_letter_and_digit(v)
        };
        return (ok && !version && !is_identifier(v)).then_some(Confidence::Likely);
    }
    // A list or a set of fields (`id=KEYID,value=…`), not one value; `=`
    // only ends base64.
    let body = v
        .strip_suffix(b"==")
        .or_else(|| v.strip_suffix(b"="))
        .unwrap_or(v);
    if v.contains(&b',') || body.contains(&b'=') {
        return None;
    }
    // Letters with digits, or a long quoted string of base64 (random
    // strings that long nearly always hold a digit; without one, a `+`,
    // `/` or `=` tells base64 from a name such as `_EllipticCurvePrivateKey`).
    let base64 = v.iter().any(|b| matches!(b, b'+' | b'/' | b'='));
    let mixed = has_letter_and_digit(v) || (quoted && v.len() >= 24 && base64);
    if is_identifier(v) || !mixed {
        return None;
    }
    let e = entropy(v);
    let mixed_case = v.iter().any(u8::is_ascii_uppercase) && v.iter().any(u8::is_ascii_lowercase);
    let random =
        hex_or_uuid(v) || (v.len() >= 16 && e >= 3.5) || (v.len() >= 20 && e >= 4.0 && mixed_case);
    match name.strength {
        Strength::Strong if v.len() >= 12 && random => Some(Confidence::Likely),
        Strength::Strong if v.len() >= 12 && e >= 3.0 => Some(Confidence::Possible),
        Strength::Weak if v.len() >= 20 && e >= 4.0 && mixed_case => Some(Confidence::Likely),
        Strength::Weak if v.len() >= 16 && e >= 3.0 => Some(Confidence::Possible),
        _ => None,
    }
}
