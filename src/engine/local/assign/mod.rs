//! The assignment rule: a value given to a name that says it is secret,
//! in the layouts code and configuration use: declarations (`const`,
//! `let`, `var x string =`, `final String x =`), environment and INI
//! files, YAML, JSON, TOML, HCL, properties, shell and Dockerfile lines,
//! Makefile operators (`?=`, `::=`, `:::=`), PHP's `.=`, XML elements and
//! attributes, and calls that set a variable (`setProperty("X", "v")`,
//! `Setenv`, `os.environ["X"] = "v"`).
//!
//! Confidence comes from the name (strong: `secret`, `password`, `token`,
//! `api_key`, `private_key`; weak: `key`, `auth`), and from the value:
//! its shape and entropy, and whether it is an identifier, a constant, a
//! path, a reference or a placeholder, which are not secrets. Names that
//! only sound secret (`public_key`, `csrf_token`, `key_id`, `token_url`)
//! are not.
//!
//! It runs at every `=`, `:`, `>` and `,`, which logs, JSON and CSV are
//! full of, so its first checks are table lookups.

use std::ops::Range;

mod judge;

use self::judge::{Strength, classify, judge};
use super::Candidate;
use crate::engine::DetectorId;

/// The `kind` of a secret found by its name alone.
pub const KIND_SECRET: &str = "generic_secret";
/// The `kind` of a password found by its name.
pub const KIND_PASSWORD: &str = "password_assignment";
/// The longest value read.
const MAX_VALUE: usize = 256;
/// The longest name read.
const MAX_NAME: usize = 64;

/// A byte-class table.
const fn class(extra: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
}
/// Bytes an unquoted value may hold (base64, hex, URL-safe tokens).
static VALUE_BYTE: [bool; 256] = class(b"/+_.=-~");
/// Bytes a name may hold (`api_key`, `client.secret`, `X-Token`).
static NAME_BYTE: [bool; 256] = class(b"_.-");

/// Drops the rule's candidates that overlap a known family's (of any
/// detector): one finding per value, named by what knows it best.
pub fn yield_to_families(cands: &mut Vec<Candidate>) {
    let generic = |c: &Candidate| matches!(c.kind, Some(KIND_SECRET | KIND_PASSWORD));
    let mut known: Vec<(usize, usize)> = cands
        .iter()
        .filter(|c| c.kind.is_some() && !generic(c))
        .map(|c| (c.start, c.end))
        .collect();
    if known.is_empty() {
        return;
    }
    known.sort_unstable();
    // The furthest end among the known spans up to each one.
    let mut reach = 0;
    let furthest: Vec<usize> = known
        .iter()
        .map(|k| {
            reach = reach.max(k.1);
            reach
        })
        .collect();
    cands.retain(|c| {
        // Of the known spans that start before this one ends, does any
        // reach past its start?
        let before = known.partition_point(|k| k.0 < c.end);
        !generic(c) || before == 0 || furthest[before - 1] <= c.start
    });
}

/// What the rule looks for, as the configured detectors ask.
#[derive(Debug, Clone, Copy)]
pub struct Assignments {
    /// Secrets (API_KEY).
    pub keys: bool,
    /// Passwords (PASSWORD_IN_CODE).
    pub passwords: bool,
}

/// A value as written: where it is, and whether it was quoted.
struct Value {
    range: Range<usize>,
    quoted: bool,
}

impl Assignments {
    /// The rule for the configured detectors; `None` when neither runs.
    pub fn new(keys: bool, passwords: bool) -> Option<Assignments> {
        (keys || passwords).then_some(Assignments { keys, passwords })
    }

    /// Appends the candidates in `hay`.
    pub fn detect(&self, hay: &[u8], out: &mut Vec<Candidate>) {
        for at in memchr::memchr3_iter(b'=', b':', b'>', hay) {
            let found = match hay[at] {
                b'=' => equals(hay, at),
                b':' => colon(hay, at),
                _ => element(hay, at),
            };
            if let Some(found) = found {
                self.push(hay, found, out);
            }
        }
        for at in memchr::memchr_iter(b',', hay) {
            if let Some(found) = call(hay, at) {
                self.push(hay, found, out);
            }
        }
    }

    fn push(&self, hay: &[u8], (name, value): (Range<usize>, Value), out: &mut Vec<Candidate>) {
        // In a URL's query a weak name (`?key=`) is a document's id as
        // often as a secret.
        let in_query = name.start > 0 && matches!(hay[name.start - 1], b'?' | b'&');
        let Some(name) =
            classify(&hay[name]).filter(|n| !in_query || n.strength == Strength::Strong)
        else {
            return;
        };
        if !(if name.password {
            self.passwords
        } else {
            self.keys
        }) {
            return;
        }
        let Some(confidence) = judge(name, &hay[value.range.clone()], value.quoted) else {
            return;
        };
        out.push(Candidate {
            detector: if name.password {
                DetectorId::PasswordInCode
            } else {
                DetectorId::ApiKey
            },
            confidence,
            kind: Some(if name.password {
                KIND_PASSWORD
            } else {
                KIND_SECRET
            }),
            start: value.range.start,
            end: value.range.end,
            keyword_raises: false,
        });
    }
}

/// An assignment at the `=` at `op`: `=`, `:=`, `::=`, `:::=`, `?=`, `.=`,
/// `+=` and `=>`; not `==`, `!=`, `<=`, `>=`.
fn equals(hay: &[u8], op: usize) -> Option<(Range<usize>, Value)> {
    let next = hay.get(op + 1).copied();
    if matches!(next, Some(b'=')) {
        return None;
    }
    let mut name_end = op;
    while name_end > 0
        && op - name_end < 3
        && matches!(hay[name_end - 1], b':' | b'?' | b'.' | b'+')
    {
        name_end -= 1;
    }
    if name_end > 0 && matches!(hay[name_end - 1], b'=' | b'!' | b'<' | b'>') {
        return None;
    }
    let after = if next == Some(b'>') { op + 2 } else { op + 1 };
    let name = secret_name_before(hay, name_end)?;
    Some((name, value_at(hay, after)?))
}

/// An assignment at the `:` at `op` (YAML, JSON, properties); not `::`,
/// `:=` (read at its `=`), or a URL's `://`.
fn colon(hay: &[u8], op: usize) -> Option<(Range<usize>, Value)> {
    if matches!(hay.get(op + 1), Some(b':' | b'=' | b'/')) || op > 0 && hay[op - 1] == b':' {
        return None;
    }
    let name = secret_name_before(hay, op)?;
    Some((name, value_at(hay, op + 1)?))
}

/// An XML element at the `>` at `op`: `<apiKey>value</apiKey>`.
fn element(hay: &[u8], op: usize) -> Option<(Range<usize>, Value)> {
    let mut n = op;
    while n > 0 && op - n < MAX_NAME && NAME_BYTE[hay[n - 1] as usize] {
        n -= 1;
    }
    if n == op || n == 0 || hay[n - 1] != b'<' || !mentions_secret(&hay[n..op]) {
        return None;
    }
    let start = op + 1;
    let len = hay[start..]
        .iter()
        .take(MAX_VALUE + 1)
        .take_while(|&&b| b != b'<' && b != b'\n')
        .count();
    let end = start + len;
    if len == 0 || len > MAX_VALUE || !hay[end..].starts_with(b"</") {
        return None;
    }
    let value = trim(hay, start..end);
    Some((
        n..op,
        Value {
            range: value,
            quoted: true,
        },
    ))
}

/// A call that sets a variable, at the `,` at `op` between a quoted name
/// and a quoted value: `setProperty("X_TOKEN", "v")`, `Setenv("X", "v")`.
fn call(hay: &[u8], op: usize) -> Option<(Range<usize>, Value)> {
    let quote = *hay.get(op.checked_sub(1)?)?;
    if !matches!(quote, b'"' | b'\'') {
        return None;
    }
    let close = op - 1;
    let mut n = close;
    while n > 0 && close - n < MAX_NAME && NAME_BYTE[hay[n - 1] as usize] {
        n -= 1;
    }
    if n == close
        || n < 2
        || hay[n - 1] != quote
        || hay[n - 2] != b'('
        || !mentions_secret(&hay[n..close])
        || !sets_a_variable(hay, n - 2)
    {
        return None;
    }
    let value = value_at(hay, op + 1)?;
    value.quoted.then_some((n..close, value))
}

/// Whether the function called at the `(` at `paren` sets a variable:
/// its name has `set`, `put` or `env` in it (`setProperty`, `Setenv`,
/// `putenv`, `SetEnvironmentVariable`), unlike `MovedAttribute(…)`.
fn sets_a_variable(hay: &[u8], paren: usize) -> bool {
    let mut s = paren;
    while s > 0 && paren - s < 48 && NAME_BYTE[hay[s - 1] as usize] {
        s -= 1;
    }
    let name = hay[s..paren].to_ascii_lowercase();
    [&b"set"[..], b"put", b"env"]
        .iter()
        .any(|w| crate::engine::local::bytes::contains(&name, w))
}

/// Spaces skipped around an operator.
fn skip_spaces(hay: &[u8], mut i: usize, back: bool) -> usize {
    let limit = 8;
    let mut moved = 0;
    if back {
        while i > 0 && moved < limit && matches!(hay[i - 1], b' ' | b'\t') {
            i -= 1;
            moved += 1;
        }
    } else {
        while i < hay.len() && moved < limit && matches!(hay[i], b' ' | b'\t') {
            i += 1;
            moved += 1;
        }
    }
    i
}

/// Words that name a type, not a variable: `var token string = …`,
/// `final String token = …`, `const token: &str = …`.
const TYPES: &[&[u8]] = &[
    b"string",
    b"String",
    b"str",
    b"&str",
    b"&'static str",
    b"char*",
    b"[]byte",
    b"Text",
];

/// The name that ends before `end` (an operator), past closing quotes
/// and brackets (`"key":`, `environ["KEY"] =`) and a type after it.
fn name_before(hay: &[u8], end: usize) -> Option<Range<usize>> {
    let word_before = |end: usize| {
        let mut e = skip_spaces(hay, end, true);
        while e > 0 && end - e < 12 && matches!(hay[e - 1], b'"' | b'\'' | b']' | b')' | b'`') {
            e -= 1;
        }
        let mut s = e;
        while s > 0 && e - s < MAX_NAME && NAME_BYTE[hay[s - 1] as usize] {
            s -= 1;
        }
        s..e
    };
    let first = word_before(end);
    // Type names are short and start with one of these.
    let may_be_type = first.len() <= 13
        && matches!(
            hay.get(first.start),
            Some(b's' | b'S' | b'&' | b'c' | b'[' | b'T')
        );
    if !(may_be_type && TYPES.contains(&&hay[first.clone()])) {
        return (!first.is_empty()).then_some(first);
    }
    // `name string`, `name: string`, `NAME: &'static str`: the name is the
    // word before the type; one step back only, so a chain of type names
    // (`str:str:str…`) costs no more than one.
    let s = first.start;
    let mut t = s;
    while t > 0
        && s - t < 16
        && matches!(hay[t - 1], b' ' | b'\t' | b'&' | b'*' | b'[' | b']' | b'\'')
    {
        t -= 1;
        if hay[..t].ends_with(b"'static") {
            t -= "'static".len();
        }
    }
    if t > 0 && hay[t - 1] == b':' {
        t = skip_spaces(hay, t - 1, true);
    }
    let name = word_before(t);
    let is_type = TYPES.contains(&&hay[name.clone()]);
    (t < s && !name.is_empty() && !is_type).then_some(name)
}

/// [`name_before`], when the name mentions a secret at all: most `=` and
/// `:` in text do not, and this is the cheap way to say so.
fn secret_name_before(hay: &[u8], end: usize) -> Option<Range<usize>> {
    name_before(hay, end).filter(|n| mentions_secret(&hay[n.clone()]))
}

/// Whether a name holds the start of a word [`judge::classify`] could
/// call secret (`key`, `tok…`, `sec…`, `pas…`, `pwd`, `aut…`, `cre…`,
/// `bea…`), ignoring case: a few table lookups per byte.
fn mentions_secret(name: &[u8]) -> bool {
    name.windows(3).any(|w| {
        matches!(
            [w[0] | 0x20, w[1] | 0x20, w[2] | 0x20],
            [b'k', b'e', b'y']
                | [b't', b'o', b'k']
                | [b's', b'e', b'c']
                | [b'p', b'a', b's']
                | [b'p', b'w', b'd']
                | [b'a', b'u', b't']
                | [b'c', b'r', b'e']
                | [b'b', b'e', b'a']
        )
    })
}

/// The value that starts after an operator at `from`: quoted (to its
/// closing quote, on one line) or bare (a run of token bytes that ends
/// where a value can end).
fn value_at(hay: &[u8], from: usize) -> Option<Value> {
    let v = skip_spaces(hay, from, false);
    let quote = *hay.get(v)?;
    if matches!(quote, b'"' | b'\'' | b'`') {
        let start = v + 1;
        let len = hay[start..]
            .iter()
            .take(MAX_VALUE + 1)
            .take_while(|&&b| b != quote && b != b'\n')
            .count();
        if len == 0 || len > MAX_VALUE || hay.get(start + len) != Some(&quote) {
            return None;
        }
        return Some(Value {
            range: start..start + len,
            quoted: true,
        });
    }
    let len = hay[v..]
        .iter()
        .take(MAX_VALUE + 1)
        .take_while(|&&b| VALUE_BYTE[b as usize])
        .count();
    let ends = match hay.get(v + len) {
        None => true,
        Some(&b) => {
            b.is_ascii_whitespace() || matches!(b, b';' | b',' | b'#' | b'<' | b'&' | b'"' | b'\'')
        }
    };
    (len > 0 && len <= MAX_VALUE && ends).then_some(Value {
        range: v..v + len,
        quoted: false,
    })
}

fn trim(hay: &[u8], mut r: Range<usize>) -> Range<usize> {
    while r.start < r.end && hay[r.start].is_ascii_whitespace() {
        r.start += 1;
    }
    while r.end > r.start && hay[r.end - 1].is_ascii_whitespace() {
        r.end -= 1;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Confidence;

    fn find(s: &str) -> Vec<(String, Confidence)> {
        let mut out = Vec::new();
        Assignments::new(true, true)
            .unwrap()
            .detect(s.as_bytes(), &mut out);
        out.into_iter()
            .map(|c| (s[c.start..c.end].to_string(), c.confidence))
            .collect()
    }

    fn likely(s: &str) -> Vec<String> {
        find(s)
            .into_iter()
            .filter(|f| f.1 >= Confidence::Likely)
            .map(|f| f.0)
            .collect()
    }

    const V: &str = "h7Gk2LpQ9xZr4VtB8nWm3CsY6dFj1";

    #[test]
    fn every_layout_names_its_value() {
        for layout in [
            format!("DB_SECRET=\"{V}\""),
            format!("export API_TOKEN={V}"),
            format!("ENV API_TOKEN={V}"),
            format!("api_key: {V}"),
            format!("  api-key: {V}"),
            format!("{{\"apiKey\": \"{V}\"}}"),
            format!("secret_key = \"{V}\""),
            format!("app.secret={V}"),
            format!("var xToken string = \"{V}\""),
            format!("const apiKey: string = \"{V}\";"),
            format!("let token = '{V}';"),
            format!("final String authToken = \"{V}\";"),
            format!("const API_KEY: &'static str = \"{V}\";"),
            format!("token := \"{V}\""),
            format!("TOKEN ?= {V}"),
            format!("TOKEN ::= {V}"),
            format!("TOKEN :::= {V}"),
            format!("$token .= '{V}';"),
            format!("'api_key' => '{V}',"),
            format!("<apiKey>{V}</apiKey>"),
            format!("<add key=\"x\" secret=\"{V}\"/>"),
            format!("System.setProperty(\"X_TOKEN\", \"{V}\");"),
            format!("os.Setenv(\"X_TOKEN\", \"{V}\")"),
            format!("os.environ[\"X_TOKEN\"] = \"{V}\""),
            format!("process.env.API_TOKEN = \"{V}\""),
            format!("curl https://api.acme.io/v1?token={V}&x=1"),
        ] {
            assert_eq!(likely(&layout), [V], "{layout}");
        }
    }

    #[test]
    fn strong_names_make_hex_uuid_and_lower_case_values_likely() {
        for v in [
            "5f4dcc3b5aa765d61d8327deb882cf99",
            "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c",
            "q8w2e4r6t8y0u2i4o6p8",
        ] {
            for name in ["api_key", "secret", "token"] {
                let line = format!("{name} = \"{v}\"");
                assert_eq!(likely(&line), [v], "{line}");
            }
        }
        // A weak name needs a strong value.
        assert!(likely("key = q8w2e4r6t8y0u2i4o6p8").is_empty());
        assert_eq!(likely(&format!("key = {V}")), [V]);
    }

    #[test]
    fn identifiers_constants_and_names_that_only_sound_secret_are_not() {
        for line in [
            "key = Ed25519.BlindKeySignatures",
            "secretKey: PdfEncryptionKeySize.Key128Bit",
            "token = \"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\"",
            &format!("public_key = \"{V}\""),
            &format!("csrf-token = \"{V}\""),
            &format!("key_id = \"{V}\""),
            &format!("token_url = \"{V}\""),
            "secret_name = my-app-credentials-2024",
            "token = my_super_secret_value_here",
            "API_KEY=your_api_key_goes_here_1",
            "SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxx",
            "key = ${API_KEY}",
            "token = os.getenv(\"TOKEN\")",
            "api_key = config.api_key",
            "token: TOKEN_FROM_VAULT_2",
            "secret = /etc/app/secret.pem",
            "password: required",
            "the key to success is 42",
            "PASS: addr2line",
            "self.passwd = password_mgr",
            "MovedAttribute(\"HTTPPasswordMgr\", \"urllib2\", \"urllib.request\")",
            "'Test2::Event::Pass' => '1.302120',",
            "(pass_through): Likewise.",
            "private_key: \"_EllipticCurvePrivateKey\"",
            "nid_key = self._lib.NID_pbe_WithSHA1And3_Key_TripleDES_CBC",
            "--public-key='id=KEYID,value=BASE64PUBLICKEY'",
            "shared-key='secret_version=projects/PROJECT/secrets/SECRET/versions/1'",
            "docs.google.com/spreadsheet/ccc?key=0Ao1yRmX6PQQzdG5wSFlrZl9HRWNET3ZyN0hnaGo5ZFE&usp=sharing",
            "if token == \"h7Gk2LpQ9xZr4VtB8nWm3CsY6dFj1\"",
        ] {
            assert!(likely(line).is_empty(), "{line}: {:?}", find(line));
        }
    }

    #[test]
    fn passwords_are_their_own_detector() {
        let mut out = Vec::new();
        Assignments::new(false, true).unwrap().detect(
            b"db_password = \"hunter2!x\"\napi_key = \"5f4dcc3b5aa765d61d8327deb882cf99\"",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].detector, DetectorId::PasswordInCode);
        assert_eq!(likely("{\"password\": \"Tr0ub4dor&3\"}"), ["Tr0ub4dor&3"]);
        assert_eq!(likely("DB_PASS=s3cr3tPassw0rd"), ["s3cr3tPassw0rd"]);
        for no in [
            "password = \"changeme\"",
            "password = \"${DB_PASS}\"",
            "password = \"abc\"",
            "password: required",
            "password_length = 16",
        ] {
            assert!(likely(no).is_empty(), "{no}");
        }
    }

    #[test]
    fn chains_of_type_names_cost_one_step_each() {
        // Each `:` looks back one type name, not the whole chain.
        // (Each used to walk the whole chain again, recursively: minutes,
        // and a stack overflow in a debug build.)
        let chain = format!("token{} = \"{V}\"", ":str".repeat(60_000));
        assert!(find(&chain).is_empty());
        let spaced = format!("token {}= \"{V}\"", "str ".repeat(60_000));
        assert!(find(&spaced).is_empty());
    }

    #[test]
    fn names_split_into_words() {
        let strong = |n: &str| classify(n.as_bytes()).map(|c| c.strength);
        assert_eq!(strong("xToken"), Some(Strength::Strong));
        assert_eq!(strong("APIKey"), Some(Strength::Strong));
        assert_eq!(strong("client.secret"), Some(Strength::Strong));
        assert_eq!(strong("X-Auth-Key"), Some(Strength::Strong));
        assert_eq!(strong("cache_key"), Some(Strength::Weak));
        assert_eq!(strong("tokenizer"), None);
        assert_eq!(strong("monkey"), None);
        assert_eq!(strong("keyboard"), None);
        assert_eq!(strong("publicKey"), None);
        assert_eq!(strong("secretKeyRef"), None);
    }
}
