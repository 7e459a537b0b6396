//! Private keys and self-describing token formats (JWTs).

use super::Alphabet::*;
use super::Check::*;
use super::Part::*;
use super::{Family, key};

pub const FAMILIES: &[Family] = &[
    // One per PEM block: the header; with CRYPTOGRAPHIC_KEY on, that
    // detector's pattern reports the block (header and body) instead.
    key(
        "private_key",
        "PEM",
        &[Lit("-----BEGIN "), Run(PemLabel, 11, 30), Lit("-----")],
    )
    .check(PemPrivate)
    .private_key(),
    key(
        "ssh2_private_key",
        "SSH",
        &[Lit("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----")],
    )
    .private_key(),
    key(
        "putty_private_key",
        "PuTTY",
        &[
            Lit("PuTTY-User-Key-File-"),
            Run(Digit, 1, 1),
            Lit(": "),
            Run(Slug, 7, 30),
        ],
    )
    .private_key(),
    key(
        "age_secret_key",
        "age",
        &[Lit("AGE-SECRET-KEY-1"), Run(Bech32, 58, 58)],
    )
    .private_key(),
    // A JWT: header, payload and signature, base64url, joined by dots.
    // The header is checked; a long token is reported to the match bound.
    key(
        "jwt",
        "JWT",
        &[
            Lit("eyJ"),
            Run(Url64, 10, 250),
            Lit(".eyJ"),
            Tail(Dotted, 20),
        ],
    )
    .likely()
    .check(Jwt)
    // The header's first field: `{"alg"`, `{"typ"`, `{"kid"`.
    .hooks(&["eyJhbGci", "eyJ0eXAi", "eyJraWQi"]),
];
