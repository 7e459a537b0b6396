//! API_KEY (and CRYPTOGRAPHIC_KEY for private keys): the secret families
//! of [`super::families`], found by their anchors; the generic "key/token/
//! secret = random-looking value" rule is in [`super::assign`].
//!
//! Finding where a key can start is the hot path, and a single search for
//! every family's anchor would be slow: Teddy, the SIMD literal search,
//! packs up to 64 patterns but slows down well before that, the more so
//! with short patterns (measured on 256 KiB blocks of prose: 16 anchors
//! 12 GB/s; 49 of them, some of three bytes, 1.2 GB/s; 47 of four bytes
//! or more, 7 GB/s). So anchors are split three ways, each searched once
//! per block:
//! - most anchors are a short word and `_` or `-` (`ghp_`, `xoxb-`,
//!   `sk_live_`): one `memchr2` pass for those bytes, and at each a table
//!   lookup of the byte before it, then of the word. The same pass finds
//!   vendor names (`HEROKU_…`) for the families that need one, and anchors
//!   that start with a delimiter (`-----BEGIN`, Mailchimp's `-us`);
//! - the other anchors of four bytes or more (`AKIA`, `hvs.`, `AccountKey=`,
//!   a JWT's `eyJhbGci`), under fifty, go to one Teddy search;
//! - anchors of two or three bytes (`SK`, `Q~`, `SG.`, `sl.`) get a second,
//!   small literal search.
//!
//! Each hit is then confirmed by matching the family's shape from the
//! anchor, with bounded runs, and its check (a CRC32, a JWT header).

use aho_corasick::{AhoCorasick, MatchKind};

use super::Candidate;
use super::families::verify::{can_start, confirm, is_word, match_parts, starts_word};
use super::families::{self, Family, Part};
use crate::engine::{Confidence, DetectorId};

/// The longest key a rule can match, in bytes; it also bounds how far any
/// rule looks around a match (the generic rule looks at most 84 bytes back
/// from its value for the name, a named family's value starts at most
/// [`NAME_REACH`] bytes after the name), which the engine's block margin
/// relies on.
pub const MAX_MATCH: usize = 320;

/// How far after a vendor's name its value may start: the rest of the
/// name (`_API_KEY`), the operator, a quote.
const NAME_REACH: usize = 40;

/// Longest word before a delimiter that is looked up.
const MAX_WORD: usize = 24;

/// Words in an assigned name that make its value a credential; a vendor's
/// name alone (`GITHUB_SHA`, `CIRCLE_BUILD_NUM`) does not.
const SECRET_WORDS: &[&[u8]] = &[b"key", b"token", b"secret", b"pass", b"auth", b"pat"];

/// A family as this engine reports it.
struct Entry {
    family: &'static Family,
    /// The family's detector, or API_KEY standing in for CRYPTOGRAPHIC_KEY
    /// when that detector is off.
    detector: DetectorId,
}

/// Families reached through the word before a delimiter.
struct Words {
    /// Per delimiter (`_`, `-`) and lower-cased last byte of the word: a
    /// bit per word length some key has. Most `_` and `-` in code and
    /// logs fail this one lookup.
    lens: [[u32; 256]; 2],
    /// Anchors' words with their delimiter (`ghp_`), case-sensitive,
    /// sorted, with their families.
    anchored: Vec<(&'static [u8], Vec<usize>)>,
    /// Vendor names, lower case, with their delimiter (`heroku_`), sorted.
    named: Vec<(Vec<u8>, Vec<usize>)>,
    /// Anchors that start with the delimiter (`-----BEGIN `, `-us`).
    led: Vec<(&'static [u8], usize)>,
    /// Whether a byte is the second of some `led` anchor: dates and
    /// hyphenated words fail this lookup.
    led_next: [bool; 256],
}

/// The compiled families.
pub struct ApiKeyRules {
    entries: Vec<Entry>,
    words: Words,
    /// Anchors (or their hooks) of four bytes or more not reached by
    /// `words`.
    long: Literals,
    /// Anchors of two or three bytes: in the same search as the long ones
    /// they would blunt every fingerprint, so they get a search of their
    /// own (four patterns: 25 GB/s, three times four `memmem` passes).
    short: Literals,
}

impl ApiKeyRules {
    /// The rules for the families whose detector runs: API_KEY's when
    /// `api_key`, private keys as CRYPTOGRAPHIC_KEY when `crypto` (the PEM
    /// header then stands aside for that detector's own pattern, which
    /// reports the whole block) or else as API_KEY. `None` when neither.
    pub fn new(api_key: bool, crypto: bool) -> Option<ApiKeyRules> {
        let mut entries = Vec::new();
        for family in families::all() {
            let detector = match family.detector {
                DetectorId::CryptographicKey if crypto && family.kind == "private_key" => continue,
                DetectorId::CryptographicKey if crypto => DetectorId::CryptographicKey,
                _ if api_key => DetectorId::ApiKey,
                _ => continue,
            };
            entries.push(Entry { family, detector });
        }
        if entries.is_empty() && !api_key {
            return None;
        }
        let mut words = Words::new();
        let mut hooks: Vec<(&'static str, usize)> = Vec::new();
        let mut short: Vec<(&'static str, usize)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let f = e.family;
            if !f.named.is_empty() {
                for name in f.named {
                    for delim in ["_", "-"] {
                        words.add_named(format!("{name}{delim}").into_bytes(), i);
                    }
                }
                continue;
            }
            let Some(Part::Lit(anchor)) = f.anchor().map(|a| f.shape[a]) else {
                unreachable!("{}: an anchored family has a literal", f.kind)
            };
            if !f.hooks.is_empty() {
                for h in f.hooks {
                    if h.len() <= 3 {
                        short.push((h, i));
                    } else {
                        hooks.push((h, i));
                    }
                }
                continue;
            }
            match word_key(anchor) {
                Some(key) => words.add_anchored(key.as_bytes(), i),
                None if anchor.starts_with(DELIMITERS) => {
                    words.led.push((anchor.as_bytes(), i));
                    words.led_next[anchor.as_bytes()[1] as usize] = true;
                }
                // Short patterns would blunt every Teddy fingerprint.
                None if anchor.len() <= 3 => short.push((anchor, i)),
                None => hooks.push((anchor, i)),
            }
        }
        let (mut long, mut short) = (Literals::new(hooks), Literals::new(short));
        // The most specific anchor first: see `first_of`.
        let anchor_len = |i: &usize| {
            let f = entries[*i].family;
            match f.anchor().map(|a| f.shape[a]) {
                Some(Part::Lit(s)) => s.len(),
                _ => 0,
            }
        };
        let by_specificity =
            |list: &mut Vec<usize>| list.sort_by_key(|i| std::cmp::Reverse(anchor_len(i)));
        words
            .anchored
            .iter_mut()
            .for_each(|(_, l)| by_specificity(l));
        long.families.iter_mut().for_each(by_specificity);
        short.families.iter_mut().for_each(by_specificity);
        Some(ApiKeyRules {
            entries,
            words,
            long,
            short,
        })
    }

    /// Appends every key candidate in `hay` to `out`.
    pub fn detect(&self, hay: &[u8], out: &mut Vec<Candidate>) {
        for literals in [&self.long, &self.short] {
            if let Some(search) = &literals.search {
                for hit in search.find_iter(hay) {
                    let list = &literals.families[hit.pattern().as_usize()];
                    self.first_of(hay, hit.start(), list, out);
                }
            }
        }
        for d in memchr::memchr2_iter(b'_', b'-', hay) {
            self.at_delimiter(hay, d, out);
        }
    }

    /// A delimiter at `d`: the word before it may be an anchor's or a
    /// vendor's name.
    fn at_delimiter(&self, hay: &[u8], d: usize, out: &mut Vec<Candidate>) {
        if hay
            .get(d + 1)
            .is_some_and(|&b| self.words.led_next[b as usize])
        {
            for &(lit, i) in &self.words.led {
                if hay[d..].starts_with(lit) {
                    self.anchored(hay, d, i, out);
                }
            }
        }
        let Some(&last) = d.checked_sub(1).map(|p| &hay[p]) else {
            return;
        };
        let lens = self.words.lens[delimiter_index(hay[d])][last.to_ascii_lowercase() as usize];
        if lens == 0 {
            return;
        }
        let mut w = d;
        while w > 0 && d - w < MAX_WORD && hay[w - 1].is_ascii_alphanumeric() {
            w -= 1;
        }
        if lens & (1 << (d - w)) == 0 {
            return;
        }
        let word = &hay[w..=d];
        if let Ok(k) = self
            .words
            .anchored
            .binary_search_by(|(k, _)| (*k).cmp(word))
        {
            self.first_of(hay, w, &self.words.anchored[k].1, out);
        }
        let mut folded = [0u8; MAX_WORD + 1];
        let folded = &mut folded[..word.len()];
        folded.copy_from_slice(word);
        folded.make_ascii_lowercase();
        if let Ok(k) = self
            .words
            .named
            .binary_search_by(|(k, _)| k.as_slice().cmp(folded))
        {
            for &i in &self.words.named[k].1 {
                self.after_name(hay, d + 1, i, out);
            }
        }
    }

    /// The first of `list` (families sharing a hook, the most specific
    /// anchor first: `sk-ant-api03-` before OpenAI's `sk-`) that matches at
    /// `at`.
    fn first_of(&self, hay: &[u8], at: usize, list: &[usize], out: &mut Vec<Candidate>) {
        for &i in list {
            if self.anchored(hay, at, i, out) {
                return;
            }
        }
    }

    /// A family's anchor found at `anchor`: the parts before it are read
    /// backwards, the rest forwards. True when it appended a candidate.
    fn anchored(&self, hay: &[u8], anchor: usize, i: usize, out: &mut Vec<Candidate>) -> bool {
        let f = self.entries[i].family;
        let a = f.anchor().unwrap_or(0);
        let start = match f.shape[..a] {
            [] => anchor,
            [Part::Opt(s)] if hay[..anchor].ends_with(s.as_bytes()) => anchor - s.len(),
            [Part::Opt(_)] => anchor,
            [Part::Run(alpha, min, max)] => {
                let n = hay[..anchor]
                    .iter()
                    .rev()
                    .take(usize::from(max) + 1)
                    .take_while(|&&b| alpha.contains(b))
                    .count();
                if n < usize::from(min) || n > usize::from(max) {
                    return false;
                }
                anchor - n
            }
            _ => unreachable!("{}: at most one part before the anchor", f.kind),
        };
        if !starts_word(hay, start) {
            return false;
        }
        let Some(end) = match_parts(&f.shape[a..], hay, anchor, start, MAX_MATCH) else {
            return false;
        };
        // The random part: after a leading anchor, else the whole token.
        let body_from = match f.shape[a] {
            Part::Lit(s) if start == anchor => anchor + s.len(),
            _ => start,
        };
        self.push(hay, start, end, body_from, i, out)
    }

    /// A vendor's name ends at `from`: the first value of the family's
    /// shape within [`NAME_REACH`] bytes, if the rest of the assigned name
    /// says it is a credential.
    fn after_name(&self, hay: &[u8], from: usize, i: usize, out: &mut Vec<Candidate>) {
        let f = self.entries[i].family;
        let first = f.shape[0];
        // The random part follows a leading literal (X's run of `A`s).
        let lit = match first {
            Part::Lit(s) => s.len(),
            _ => 0,
        };
        // The value is on the name's line, after an operator: not a hash
        // on a later line (`GITHUB_TOKEN.\n\ncommit 19f2…`).
        let mut to = (from + NAME_REACH).min(hay.len());
        if let Some(nl) = memchr::memchr(b'\n', &hay[from..to]) {
            to = from + nl;
        }
        for p in from..to {
            if !can_start(first, hay[p]) || is_word(hay[p - 1]) {
                continue;
            }
            if let Some(end) = match_parts(f.shape, hay, p, p, MAX_MATCH) {
                let assigned = memchr::memchr3(b'=', b':', b'>', &hay[from..p]).is_some();
                if assigned && names_a_secret(&hay[from..p]) {
                    self.push(hay, p, end, p + lit, i, out);
                }
                return;
            }
        }
    }

    /// Confirms a shape match at `start..end` (the random part from
    /// `body_from`) and appends it; true when it did.
    fn push(
        &self,
        hay: &[u8],
        start: usize,
        end: usize,
        body_from: usize,
        i: usize,
        out: &mut Vec<Candidate>,
    ) -> bool {
        let e = &self.entries[i];
        let token = &hay[start..end];
        let body = &hay[body_from..end];
        let Some(mut confidence) = confirm(e.family, token, body) else {
            return false;
        };
        // A PEM header alone is a string in code that handles keys
        // (`startswith("-----BEGIN PRIVATE KEY-----")`); a key has a body.
        let bare_pem = e.family.check == families::Check::PemPrivate && !pem_body_follows(hay, end);
        if bare_pem {
            confidence = confidence.min(Confidence::Possible);
        }
        out.push(Candidate {
            detector: e.detector,
            confidence,
            kind: Some(e.family.kind),
            start,
            end,
            keyword_raises: e.family.named.is_empty()
                && !bare_pem
                && matches!(confidence, Confidence::Possible | Confidence::Likely),
        });
        true
    }
}

/// Whether a base64 line of a PEM body (20 or more characters) follows a
/// header ending at `end`, past its line break and any `Key: value`
/// header lines, within 200 bytes.
fn pem_body_follows(hay: &[u8], end: usize) -> bool {
    let after = &hay[end..(end + 200).min(hay.len())];
    after
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .find(|l| !l.is_empty() && !l.contains(&b':'))
        .is_some_and(|l| {
            l.len() >= 20
                && l.iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        })
}

/// Anchors found by a literal search (Teddy, when there are few enough).
struct Literals {
    search: Option<AhoCorasick>,
    /// Families per pattern id.
    families: Vec<Vec<usize>>,
}

impl Literals {
    /// One pattern per distinct hook; a hook that starts with another
    /// (`eyJrIjoi`, `eyJ`) joins it, since leftmost-first would hide it.
    fn new(mut hooks: Vec<(&'static str, usize)>) -> Literals {
        hooks.sort();
        let mut patterns: Vec<&'static str> = Vec::new();
        let mut families: Vec<Vec<usize>> = Vec::new();
        for (hook, i) in hooks {
            match patterns.iter().position(|p| hook.starts_with(p)) {
                Some(p) => families[p].push(i),
                None => {
                    patterns.push(hook);
                    families.push(vec![i]);
                }
            }
        }
        Literals {
            // Leftmost-first lets the packed (Teddy) searcher run.
            search: (!patterns.is_empty()).then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&patterns)
                    .expect("anchors are valid patterns")
            }),
            families,
        }
    }
}

impl Words {
    fn new() -> Words {
        Words {
            lens: [[0; 256]; 2],
            anchored: Vec::new(),
            named: Vec::new(),
            led: Vec::new(),
            led_next: [false; 256],
        }
    }

    fn add_anchored(&mut self, key: &'static [u8], i: usize) {
        self.note_len(key);
        match self.anchored.binary_search_by(|(k, _)| (*k).cmp(key)) {
            Ok(k) => self.anchored[k].1.push(i),
            Err(k) => self.anchored.insert(k, (key, vec![i])),
        }
    }

    fn add_named(&mut self, key: Vec<u8>, i: usize) {
        self.note_len(&key);
        match self.named.binary_search_by(|(k, _)| k.as_slice().cmp(&key)) {
            Ok(k) => self.named[k].1.push(i),
            Err(k) => self.named.insert(k, (key, vec![i])),
        }
    }

    /// Records the length of `key`'s word under its delimiter and last byte.
    /// Records the length of `key`'s word under its delimiter and last
    /// byte, lower-cased as the lookup does.
    fn note_len(&mut self, key: &[u8]) {
        let (word, delim) = key.split_at(key.len() - 1);
        let last = word[word.len() - 1].to_ascii_lowercase();
        self.lens[delimiter_index(delim[0])][last as usize] |= 1 << word.len();
    }
}

/// What separates an anchor's first word from the rest.
const DELIMITERS: [char; 2] = ['_', '-'];

/// The row of [`Words::lens`] for a delimiter.
fn delimiter_index(d: u8) -> usize {
    usize::from(d == b'-')
}

/// The anchor's word and delimiter, when it starts with a short word that
/// ends in `_` or `-` (`ghp_` of `ghp_`, `sk_` of `sk_live_`).
fn word_key(anchor: &str) -> Option<&str> {
    let d = anchor.find(DELIMITERS)?;
    let word = &anchor[..d];
    let ok = (1..=MAX_WORD).contains(&d) && word.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| &anchor[..=d])
}

/// Whether an assigned name says its value is a credential.
fn names_a_secret(name: &[u8]) -> bool {
    SECRET_WORDS
        .iter()
        .any(|w| name.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w)))
}

/// The `kind` this engine uses for a family, matched without regard to
/// case, so findings from Nightfall carry the same ids: a dlpd id stays
/// itself, and Nightfall's vendor names (`GitHub`, `AWS`) become the
/// vendor's name as dlpd writes it, since they do not say which family.
pub fn known_kind(kind: &str) -> Option<&'static str> {
    families::all().find_map(|f| {
        if f.kind.eq_ignore_ascii_case(kind) {
            Some(f.kind)
        } else {
            f.vendor.eq_ignore_ascii_case(kind).then_some(f.vendor)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::families::verify::{base62_6, crc32};
    use super::*;

    fn rules() -> ApiKeyRules {
        ApiKeyRules::new(true, false).unwrap()
    }

    fn find(s: &str) -> Vec<(&'static str, String, Confidence)> {
        let mut out = Vec::new();
        rules().detect(s.as_bytes(), &mut out);
        out.into_iter()
            .map(|c| (c.kind.unwrap(), s[c.start..c.end].to_string(), c.confidence))
            .collect()
    }

    fn one(s: &str) -> (&'static str, String, Confidence) {
        let found = find(s);
        assert_eq!(found.len(), 1, "{s}: {found:?}");
        found.into_iter().next().unwrap()
    }

    /// A GitHub-style token: `prefix`, 30 characters, their CRC32.
    fn with_crc(prefix: &str, random: &str) -> String {
        let sum = base62_6(crc32(random.as_bytes()));
        format!("{prefix}{random}{}", std::str::from_utf8(&sum).unwrap())
    }

    #[test]
    fn crc32_and_base62_match_the_published_values() {
        // The CRC-32 check value, and GitHub's own example split.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(&base62_6(0), b"000000");
        assert_eq!(&base62_6(61), b"00000z");
        assert_eq!(&base62_6(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn aws_access_key_ids() {
        assert_eq!(one("id=AKIA2OGYBAH6STMMNXNN\n").1, "AKIA2OGYBAH6STMMNXNN");
        assert_eq!(one("ASIA4XQ7HZ3KSL2PQRWE").0, "aws_temporary_access_key_id");
        // The documentation's key is a placeholder.
        assert_eq!(one("AKIAIOSFODNN7EXAMPLE").2, Confidence::Unlikely);
        // Too short, wrong alphabet, glued to a word.
        assert!(find("AKIA2OGYBAH6STMMNXN ").is_empty());
        assert!(find("AKIA2OGYBAH6STMMNXN1").is_empty());
        assert!(find("xAKIA2OGYBAH6STMMNXNN").is_empty());
        // No digit: POSSIBLE until a keyword nearby raises it.
        assert_eq!(one("ASIAPACIFICREGIONSXY").2, Confidence::Possible);
    }

    #[test]
    fn github_tokens_need_their_checksum() {
        let random = "wWPw5k4aXcaT4fNP0UcnZwJUVFk6LO";
        for (p, kind) in [
            ("ghp_", "github_pat"),
            ("gho_", "github_oauth"),
            ("ghu_", "github_user_to_server"),
            ("ghs_", "github_server_to_server"),
            ("ghr_", "github_refresh_token"),
        ] {
            let t = with_crc(p, random);
            assert_eq!(one(&t), (kind, t.clone(), Confidence::VeryLikely));
        }
        let bad = format!("ghp_{random}000000");
        assert!(find(&bad).is_empty());
        assert!(find(&with_crc("ghx_", random)).is_empty());
        let npm = with_crc("npm_", random);
        assert_eq!(one(&npm).0, "npm_access_token");
    }

    #[test]
    fn anchors_after_a_word_and_delimiter_are_found_anywhere() {
        let t = with_crc("ghp_", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9aB1");
        for s in [
            format!("GITHUB_TOKEN={t}"),
            format!("({t})"),
            format!("x.{t}"),
        ] {
            assert_eq!(one(&s).1, t, "{s}");
        }
        assert!(find(&format!("my_{t}")).is_empty());
    }

    #[test]
    fn openai_and_the_vendors_that_share_sk() {
        let legacy = "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";
        assert_eq!(one(legacy).2, Confidence::VeryLikely);
        let proj = "sk-proj-Xa8Kd92LmQp4Rt7Vw1Yz3Bc5De7Fg9Hj2Kl4Mn6Pq8Rs0Tu";
        assert_eq!(
            one(proj),
            ("openai_api_key", proj.to_string(), Confidence::Likely)
        );
        assert!(find("task-Ab3dE5gH7jK9mN1pQ3sT5vW7yZ9aB1cD3eF5").is_empty());
        assert!(find("sk-this-is-not-a-key-just-a-long-slug-here").is_empty());
        // Anthropic's keys match OpenAI's shape too; both are reported and
        // the engine keeps the more confident.
        let ant = format!("sk-ant-api03-{}", &"aB3dE5gH7j".repeat(10)[..95]);
        assert!(find(&ant).contains(&("anthropic_api_key", ant.clone(), Confidence::VeryLikely)));
    }

    #[test]
    fn private_key_headers_are_one_family() {
        for header in [
            "-----BEGIN PRIVATE KEY-----",
            "-----BEGIN RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----",
            "-----BEGIN PGP PRIVATE KEY BLOCK-----",
        ] {
            let key = format!("{header}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ\n");
            assert_eq!(
                one(&key),
                ("private_key", header.to_string(), Confidence::VeryLikely)
            );
            // The header alone is code that handles keys.
            let code = format!("if line.startswith(\"{header}\"):\n    pass\n");
            assert_eq!(one(&code).2, Confidence::Possible);
        }
        assert!(find("-----BEGIN PUBLIC KEY-----").is_empty());
        assert!(find("-----BEGIN CERTIFICATE-----").is_empty());
    }

    #[test]
    fn private_keys_report_as_cryptographic_key_when_it_is_on() {
        let age = format!(
            "AGE-SECRET-KEY-1{}",
            &"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".repeat(2)[..58]
        );
        let mut out = Vec::new();
        let crypto = ApiKeyRules::new(false, true).unwrap();
        crypto.detect(
            format!("{age} -----BEGIN RSA PRIVATE KEY-----").as_bytes(),
            &mut out,
        );
        // The PEM header is left to CRYPTOGRAPHIC_KEY's own pattern.
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].detector, DetectorId::CryptographicKey);
        assert_eq!(out[0].kind, Some("age_secret_key"));
        assert!(ApiKeyRules::new(false, false).is_none());
    }

    #[test]
    fn named_families_need_the_vendor_and_a_credential_name() {
        let uuid = "3f2b8c1e-9a4d-4e7f-b6c5-2d1e0f9a8b7c";
        assert_eq!(
            one(&format!("HEROKU_API_KEY={uuid}")),
            (
                "heroku_legacy_api_key",
                uuid.to_string(),
                Confidence::Likely
            )
        );
        assert_eq!(
            one(&format!("heroku-api-token: \"{uuid}\"")).0,
            "heroku_legacy_api_key"
        );
        assert!(find(&format!("HEROKU_APP_ID={uuid}")).is_empty());
        assert!(find(&format!("API_KEY={uuid}")).is_empty());
        assert!(find(&format!("request_id={uuid}")).is_empty());
    }

    #[test]
    fn jwts_need_a_header_with_alg() {
        let header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
        let jwt = format!(
            "{header}.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
        );
        assert_eq!(one(&format!("Bearer {jwt}\n")).1, jwt);
        // `{"typ":"JWT"}` alone names no algorithm.
        let no_alg = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert!(find(no_alg).is_empty());
    }

    #[test]
    fn long_tokens_are_reported_to_the_match_bound() {
        let jwt = format!("eyJhbGciOiJIUzI1NiJ9.eyJ{}", "aB3dE5gH7j".repeat(200));
        let found = one(&jwt);
        assert_eq!(found.1.len(), MAX_MATCH);
    }

    #[test]
    fn no_family_is_longer_than_the_match_bound() {
        // A longer shape could never match whole; the block margin relies
        // on the bound.
        for f in families::all() {
            let longest: usize = f
                .shape
                .iter()
                .map(|p| match *p {
                    Part::Lit(s) | Part::Opt(s) => s.len(),
                    Part::Run(_, _, max) => usize::from(max),
                    Part::Tail(_, min) => usize::from(min),
                })
                .sum();
            assert!(longest <= MAX_MATCH, "{}: {longest}", f.kind);
            assert!(f.anchor().unwrap_or(0) <= 1, "{}", f.kind);
        }
    }

    #[test]
    fn nightfall_names_map_to_dlpd_kinds() {
        assert_eq!(known_kind("github_pat"), Some("github_pat"));
        assert_eq!(known_kind("GitHub"), Some("GitHub"));
        assert_eq!(known_kind("aws"), Some("AWS"));
        assert_eq!(known_kind("nothing"), None);
    }
}
