//! The secret families' part of the corpus: for every family, tokens made
//! from its row's shape by the seeded generator (checksums computed here,
//! independently of the engine), amid text, and near misses of each
//! (glued to a word, an alphabet or a checksum wrong, a placeholder, a
//! vendor's value without the vendor's name). No token is a real secret.

use dlpd::engine::DetectorId;
use dlpd::engine::local::families::{self, Alphabet, Check, Family, Part};

use super::{Case, Rng};

/// One labeled line of the family corpus.
pub struct FamilyCase {
    pub case: Case,
    /// The family the line is about, positive or near miss.
    pub kind: &'static str,
}

/// Per family: (true positives, false positives, false negatives).
pub type KindTally = std::collections::BTreeMap<&'static str, (u64, u64, u64)>;

const FILLER: &[&str] = &[
    "deployed from the release branch after review.",
    "INFO 2026-03-04T10:11:12Z worker started pid=4411",
    "see the runbook for rotation steps.",
    "# added by the setup script",
];
/// What comes before a token in a positive line.
const LEADS: &[&str] = &[
    "export SERVICE_TOKEN=",
    "token: ",
    "  \"credentials\": \"",
    "Authorization: Bearer ",
    "found in commit: ",
    "url = ",
];
/// What comes before a near miss: no name that makes it a secret.
const MISS_LEADS: &[&str] = &["see ", "ref ", "value ", "note: "];

/// The bytes of an alphabet, in order.
fn bytes_of(a: Alphabet) -> Vec<u8> {
    (0..=255u8).filter(|&b| a.contains(b)).collect()
}

/// A random run of `n` bytes of `a`: it starts with a letter or digit,
/// has a letter and a digit where the alphabet has both (so it reads as
/// random), and its digits never start with a card issuer's digit.
fn run(rng: &mut Rng, a: Alphabet, n: usize) -> String {
    let all = bytes_of(a);
    let alnum: Vec<u8> = all
        .iter()
        .copied()
        .filter(u8::is_ascii_alphanumeric)
        .collect();
    let mut out: Vec<u8> = (0..n)
        .map(|_| all[rng.below(all.len() as u64) as usize])
        .collect();
    if a == Alphabet::Digit {
        out[0] = b'1';
    } else if !alnum.is_empty() && n > 0 {
        out[0] = alnum[rng.below(alnum.len() as u64) as usize];
        let letters: Vec<u8> = alnum
            .iter()
            .copied()
            .filter(u8::is_ascii_alphabetic)
            .collect();
        let digits: Vec<u8> = alnum.iter().copied().filter(u8::is_ascii_digit).collect();
        if n >= 8 && !letters.is_empty() && !digits.is_empty() {
            out[1] = letters[rng.below(letters.len() as u64) as usize];
            out[2] = digits[rng.below(digits.len() as u64) as usize];
        }
    }
    String::from_utf8(out).unwrap()
}

/// CRC-32 (IEEE), bit by bit: the reference the engine's table must match.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn base62(mut n: u32) -> String {
    const D: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = D[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap()
}

/// Run lengths: each at its minimum, or random within its bounds.
#[derive(Clone, Copy, PartialEq)]
pub enum Len {
    Min,
    Any,
}

/// A token of `f` built from its shape.
pub fn token(f: &Family, rng: &mut Rng, len: Len) -> String {
    match f.check {
        Check::PemPrivate => {
            let label = rng.pick(&["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED ", "DSA "]);
            return format!("-----BEGIN {label}PRIVATE KEY-----");
        }
        Check::Jwt => {
            // {"alg":"HS256","typ":"JWT"} and a small payload.
            let n = 20 + rng.below(60) as usize;
            let payload = run(rng, Alphabet::Url64, n);
            let sig = run(rng, Alphabet::Url64, 43);
            return format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{payload}.{sig}");
        }
        _ => {}
    }
    let mut out = String::new();
    for part in f.shape {
        match *part {
            Part::Lit(s) => out.push_str(s),
            Part::Opt(s) => {
                if len == Len::Any && rng.below(2) == 0 {
                    out.push_str(s);
                }
            }
            Part::Run(a, min, max) => {
                let n = match len {
                    Len::Min => usize::from(min),
                    Len::Any => usize::from(min) + rng.below(u64::from(max - min) + 1) as usize,
                };
                out.push_str(&run(rng, a, n));
            }
            Part::Tail(a, min) => {
                let n = usize::from(min) + rng.below(40) as usize;
                out.push_str(&run(rng, a, n));
            }
        }
    }
    if f.check == Check::Crc32Base62 {
        // The last six characters are the CRC32 of the thirty before them.
        let body = &out[out.len() - 36..out.len() - 6];
        let sum = base62(crc32(body.as_bytes()));
        out.replace_range(out.len() - 6.., &sum);
    }
    out
}

/// A name that makes a named family's value count: `HEROKU_API_KEY=`.
fn name_for(f: &Family, rng: &mut Rng) -> String {
    let vendor = f.named[rng.below(f.named.len() as u64) as usize];
    match rng.below(3) {
        0 => format!("{}_API_KEY=", vendor.to_uppercase()),
        1 => format!("export {}_AUTH_TOKEN=\"", vendor.to_uppercase()),
        _ => format!("{vendor}-secret: "),
    }
}

/// A line holding a token of `f`.
pub fn positive(f: &'static Family, rng: &mut Rng) -> FamilyCase {
    let value = token(f, rng, Len::Any);
    let lead = if f.named.is_empty() {
        rng.pick(LEADS).to_string()
    } else {
        name_for(f, rng)
    };
    let filler = rng.pick(FILLER);
    // A private key's header is followed by its body, as in a key file.
    let line = if f.check == Check::PemPrivate {
        let body = run(rng, Alphabet::Base64, 64);
        format!("{lead}{value}\n{body}\n{filler}")
    } else {
        format!("{lead}{value}\" {filler}")
    };
    FamilyCase {
        case: Case {
            line,
            // In the default configuration private keys report as API_KEY too.
            expect: vec![(DetectorId::ApiKey, value)],
        },
        kind: f.kind,
    }
}

/// Near misses of `f`: each must give no finding at the default threshold.
pub fn near_misses(f: &'static Family, rng: &mut Rng) -> Vec<FamilyCase> {
    let mut values = Vec::new();
    let base = token(f, rng, Len::Min);
    if f.named.is_empty() {
        // Glued to the word before it; a `Name=` label is a word itself.
        if base.as_bytes()[0].is_ascii_alphanumeric() && !base.contains('=') {
            values.push(format!("x{base}"));
        }
    } else {
        // The value with no name, and with a vendor's name that does not
        // make it a credential.
        values.push(base.clone());
        values.push(format!("{}_APP_ID={base}", f.named[0].to_uppercase()));
    }
    if let Some(v) = wrong_alphabet(f, rng) {
        values.push(v);
    }
    if let Some(v) = placeholder(f, rng) {
        values.push(v);
    }
    match f.check {
        Check::Crc32Base62 => {
            let mut v = base.clone();
            let last = v.pop().unwrap();
            v.push(if last == 'A' { 'B' } else { 'A' });
            values.push(v);
        }
        Check::Jwt => values.push(base.replacen(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
            "eyJ0eXAiOiJKV1QifQ",
            1,
        )),
        Check::PemPrivate => values.push("-----BEGIN PUBLIC KEY-----".into()),
        // A public key's header beside the private one's.
        _ if base.contains("PRIVATE") => values.push(base.replace("PRIVATE", "PUBLIC")),
        _ => {}
    }
    values
        .into_iter()
        .map(|v| {
            let lead = rng.pick(MISS_LEADS);
            FamilyCase {
                case: Case {
                    line: format!("{lead}{v} {}", rng.pick(FILLER)),
                    expect: vec![],
                },
                kind: f.kind,
            }
        })
        .collect()
}

/// The token at its minimum length with a byte outside the alphabet early
/// in its longest run, which makes the run too short or glues it.
fn wrong_alphabet(f: &Family, rng: &mut Rng) -> Option<String> {
    if matches!(f.check, Check::PemPrivate | Check::Jwt) {
        return None;
    }
    let mut at = 0;
    let mut best: Option<(usize, Alphabet, usize)> = None;
    let mut parts = String::new();
    for part in f.shape {
        let piece = match *part {
            Part::Lit(s) => s.to_string(),
            Part::Opt(_) => String::new(),
            Part::Run(a, min, _) | Part::Tail(a, min) => {
                let n = usize::from(min);
                if n >= 4 && best.is_none_or(|(_, _, m)| n > m) {
                    best = Some((at, a, n));
                }
                run(rng, a, n)
            }
        };
        at += piece.len();
        parts.push_str(&piece);
    }
    let (start, a, _) = best?;
    // `!` cuts the run short: a byte of some other alphabet could still
    // suit a looser family with the same prefix (`sk-` for `sk-or-v1-`).
    debug_assert!(!a.contains(b'!'));
    let mut bytes = parts.into_bytes();
    bytes[start + 2] = b'!';
    let mut v = String::from_utf8(bytes).unwrap();
    if f.check == Check::Crc32Base62 {
        v.truncate(v.len() - 6);
        v.push_str("AAAAAA");
    }
    Some(v)
}

/// The token with its last long run after the anchor filled by a
/// placeholder (`xxxx…`, `0000…`).
fn placeholder(f: &Family, rng: &mut Rng) -> Option<String> {
    if matches!(f.check, Check::PemPrivate | Check::Jwt) {
        return None;
    }
    let from = f.anchor().unwrap_or(0);
    let fill_at = f.shape.iter().enumerate().rposition(|(i, p)| {
        i > from && matches!(*p, Part::Run(_, min, _) | Part::Tail(_, min) if min >= 8)
    })?;
    let mut out = String::new();
    for (i, part) in f.shape.iter().enumerate() {
        match *part {
            Part::Lit(s) => out.push_str(s),
            Part::Opt(_) => {}
            Part::Run(a, min, _) | Part::Tail(a, min) if i == fill_at => {
                let fill = [b'x', b'X', b'0'].into_iter().find(|&b| a.contains(b))?;
                out.push_str(&String::from_utf8(vec![fill; usize::from(min)]).unwrap());
            }
            Part::Run(a, min, _) | Part::Tail(a, min) => {
                out.push_str(&run(rng, a, usize::from(min)));
            }
        }
    }
    Some(out)
}

/// For every family, `per_family` positives and one round of near misses,
/// shuffled together.
pub fn corpus(seed: u64, per_family: usize) -> Vec<FamilyCase> {
    let mut rng = Rng(seed | 1);
    let mut cases = Vec::new();
    for f in families::all() {
        for _ in 0..per_family {
            cases.push(positive(f, &mut rng));
        }
        cases.extend(near_misses(f, &mut rng));
    }
    for i in (1..cases.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        cases.swap(i, j);
    }
    cases
}

/// Scans the family corpus with `engine`: per detector as
/// [`super::score`] does, and per family, a finding counting for the
/// family it names.
pub fn score(
    engine: &dlpd::engine::LocalEngine,
    cases: &[FamilyCase],
) -> (super::Tally, KindTally) {
    let mut text = String::new();
    let mut starts = Vec::new();
    for c in cases {
        starts.push(text.len());
        text.push_str(&c.case.line);
        text.push('\n');
    }
    let found = engine.scan_bytes(text.as_bytes());
    let mut by_line: Vec<Vec<(DetectorId, String, Option<&'static str>)>> =
        vec![Vec::new(); cases.len()];
    for f in found {
        let line = starts.partition_point(|&s| s <= f.byte_start as usize) - 1;
        if let Some(id) = f.detector.builtin() {
            by_line[line].push((id, f.value.raw, f.kind));
        }
    }
    let (mut tally, mut kinds) = (super::Tally::new(), KindTally::new());
    for (c, got) in cases.iter().zip(&by_line) {
        for e in &c.case.expect {
            let hit = got
                .iter()
                .any(|g| (g.0, &g.1, g.2) == (e.0, &e.1, Some(c.kind)));
            let (t, k) = (
                tally.entry(e.0).or_default(),
                kinds.entry(c.kind).or_default(),
            );
            if hit {
                t.0 += 1;
                k.0 += 1;
            } else {
                t.2 += 1;
                k.2 += 1;
            }
        }
        for g in got {
            let expected = c
                .case
                .expect
                .iter()
                .any(|e| (e.0, &e.1, Some(c.kind)) == (g.0, &g.1, g.2));
            if !expected {
                tally.entry(g.0).or_default().1 += 1;
                kinds.entry(g.2.unwrap_or("(none)")).or_default().1 += 1;
            }
        }
    }
    (tally, kinds)
}
