//! dlpd's own labeled corpus: lines made from a seed, each either holding a
//! known sensitive value (a positive, labeled with its detector and exact
//! value) or a near miss (a value that must not be reported at the default
//! threshold), amid ordinary text. Shared by the accuracy benchmark and the
//! accuracy test.

#![allow(dead_code)]

pub mod families;
pub mod more;

use dlpd::engine::DetectorId;

/// A small deterministic generator (xorshift64*), so the corpus is the
/// same on every machine.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn from(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.below(alphabet.len() as u64) as usize]))
            .collect()
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// One labeled line.
pub struct Case {
    pub line: String,
    /// The positives in it: detector and exact value.
    pub expect: Vec<(DetectorId, String)>,
}

fn luhn_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A Luhn-valid card number of a real issuer, and a layout.
fn card(rng: &mut Rng, valid: bool) -> String {
    let (prefix, len): (String, usize) = match rng.below(5) {
        0 => ("4".into(), 16),
        1 => (format!("5{}", 1 + rng.below(5)), 16),
        2 => (rng.pick(&["34", "37"]).into(), 15),
        3 => ("6011".into(), 16),
        _ => (format!("22{}", 21 + rng.below(50)), 16),
    };
    let body = format!("{prefix}{}", rng.digits(len - 1 - prefix.len()));
    let mut check = luhn_digit(&body);
    if !valid {
        check = (check + 1 + rng.below(8) as u8) % 10;
    }
    let digits = format!("{body}{}", char::from(b'0' + check));
    let groups: &[usize] = if len == 15 { &[4, 6, 5] } else { &[4, 4, 4, 4] };
    match rng.below(3) {
        0 => digits,
        n => {
            let sep = if n == 1 { "-" } else { " " };
            let mut out = Vec::new();
            let mut at = 0;
            for g in groups {
                out.push(&digits[at..at + g]);
                at += g;
            }
            out.join(sep)
        }
    }
}

/// A valid SSN (never a documented test value).
fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = 1 + rng.below(899);
        if a != 666 && a != 78 && a != 123 && a != 219 {
            break a;
        }
    };
    let group = 1 + rng.below(99);
    let serial = 1 + rng.below(9999);
    let sep = rng.pick(&["-", " "]);
    format!("{area:03}{sep}{group:02}{sep}{serial:04}")
}

/// An SSN-shaped number the SSA never issues.
fn bad_ssn(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => format!("000-{:02}-{:04}", 1 + rng.below(99), 1 + rng.below(9999)),
        1 => format!("666-{:02}-{:04}", 1 + rng.below(99), 1 + rng.below(9999)),
        2 => format!(
            "9{:02}-{:02}-{:04}",
            rng.below(100),
            1 + rng.below(99),
            1 + rng.below(9999)
        ),
        _ => format!("{:03}-00-{:04}", 1 + rng.below(665), 1 + rng.below(9999)),
    }
}

fn api_key(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => format!("AKIA{}", rng.from(UPPER32, 16)),
        1 => format!("github_pat_{}_{}", rng.from(ALNUM, 22), rng.from(ALNUM, 59)),
        2 => format!("sk_live_{}", rng.from(ALNUM, 24)),
        3 => format!(
            "AIza{}",
            rng.from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                35
            )
        ),
        4 => format!("glpat-{}", rng.from(ALNUM, 20)),
        _ => format!(
            "xoxb-{}-{}-{}",
            rng.digits(11),
            rng.digits(12),
            rng.from(ALNUM, 24)
        ),
    }
}

const FILLER: &[&str] = &[
    "The quarterly report was sent to the finance team on Monday.",
    "Order 88213 shipped from warehouse 7 at 14:05 with 3 items.",
    "Meeting notes: discuss roadmap, hiring, and the office move.",
    "INFO 2026-03-04T10:11:12Z request completed in 231 ms status=200",
    "Invoice total: 1,249.99 EUR, due within 30 days of receipt.",
    "See commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b for the fix.",
    "uuid=550e8400-e29b-41d4-a716-446655440000 session closed",
];

/// The corpus: `n` labeled lines from `seed`.
pub fn corpus(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|_| {
            let kind = rng.below(14);
            let filler = rng.pick(FILLER).to_string();
            match kind {
                0 | 1 => {
                    let v = card(&mut rng, true);
                    let lead = rng.pick(&[
                        "Card on file:",
                        "paid with",
                        "cc:",
                        "Customer card",
                        "number",
                    ]);
                    Case {
                        line: format!("{lead} {v}. {filler}"),
                        expect: vec![(DetectorId::CreditCardNumber, v)],
                    }
                }
                2 => {
                    // Near misses: a failed checksum, an order number.
                    let v = match rng.below(2) {
                        0 => card(&mut rng, false),
                        _ => format!("9{}", rng.digits(15)),
                    };
                    Case {
                        line: format!("reference {v} {filler}"),
                        expect: vec![],
                    }
                }
                3 | 4 => {
                    let v = ssn(&mut rng);
                    let lead = rng.pick(&[
                        "SSN:",
                        "social security number",
                        "employee",
                        "ssn#",
                        "tax form",
                    ]);
                    Case {
                        line: format!("{lead} {v} {filler}"),
                        expect: vec![(DetectorId::UsSocialSecurityNumber, v)],
                    }
                }
                5 => {
                    // Never-issued SSNs, and bare 9 digits with no keyword.
                    let v = match rng.below(2) {
                        0 => bad_ssn(&mut rng),
                        _ => rng.digits(9),
                    };
                    Case {
                        line: format!("ticket {v} {filler}"),
                        expect: vec![],
                    }
                }
                6 | 7 => {
                    let v = api_key(&mut rng);
                    let lead = rng.pick(&["export API_KEY=", "token: ", "key = ", "credentials "]);
                    Case {
                        line: format!("{lead}{v} {filler}"),
                        expect: vec![(DetectorId::ApiKey, v)],
                    }
                }
                8 => {
                    // Documented examples, placeholders, digests.
                    let v = rng.pick(&[
                        "AKIAIOSFODNN7EXAMPLE",
                        "api_key = \"your_api_key_here\"",
                        "token = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
                        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                        "secret = \"changeme\"",
                        "test card 4111 1111 1111 1111",
                        "sample SSN 078-05-1120",
                    ]);
                    Case {
                        line: format!("{v} {filler}"),
                        expect: vec![],
                    }
                }
                10 => numbers_beside_numbers(&mut rng),
                11 => {
                    // Sequences and hex that look like grouped cards.
                    let base = 1000 + rng.below(8990);
                    let step = rng.pick(&["1", "1", "2", "16"]).parse::<u64>().unwrap();
                    let run: Vec<String> = (0..8).map(|i| (base + i * step).to_string()).collect();
                    let line = match rng.below(3) {
                        0 => format!("U+{} {filler}", run.join(" U+")),
                        1 => format!("{} {filler}", run.join(" ")),
                        _ => format!("{:04x} {} {:04x}", base, run[..4].join(" "), base + 64),
                    };
                    Case {
                        line,
                        expect: vec![],
                    }
                }
                12 => pasted(&mut rng, &filler),
                _ => Case {
                    line: filler,
                    expect: vec![],
                },
            }
        })
        .collect()
}

/// A card or SSN with the separators people paste: Unicode spaces and
/// hyphens, zero-width characters, full-width digits.
fn pasted(rng: &mut Rng, filler: &str) -> Case {
    let plain = card(rng, true).replace(['-', ' '], "");
    let sep = rng.pick(&[
        "\u{a0}", "\u{202f}", "\u{2007}", "\u{2009}", "\u{200b}", "\u{2011}",
    ]);
    let groups: Vec<&str> = if plain.len() == 15 {
        vec![&plain[..4], &plain[4..10], &plain[10..]]
    } else {
        vec![&plain[..4], &plain[4..8], &plain[8..12], &plain[12..]]
    };
    let (v, id) = match rng.below(3) {
        0 => (groups.join(sep), DetectorId::CreditCardNumber),
        1 => {
            let wide: String = plain
                .chars()
                .map(|c| char::from_u32(0xFF10 + c.to_digit(10).unwrap()).unwrap())
                .collect();
            (wide, DetectorId::CreditCardNumber)
        }
        _ => {
            // Joined by a zero-width character an SSN reads as nine bare
            // digits, which only a keyword makes POSSIBLE.
            let sep = rng.pick(&["\u{a0}", "\u{202f}", "\u{2007}", "\u{2011}", "\u{2013}"]);
            let s = ssn(rng).replace(' ', "-");
            (s.replace('-', sep), DetectorId::UsSocialSecurityNumber)
        }
    };
    let lead = match id {
        DetectorId::UsSocialSecurityNumber => "SSN",
        _ => "card",
    };
    Case {
        line: format!("{lead} {v} {filler}"),
        expect: vec![(id, v)],
    }
}

/// Cards and SSNs with numbers beside them across a space, as dumps,
/// tables and reports have them.
fn numbers_beside_numbers(rng: &mut Rng) -> Case {
    let v = card(rng, true);
    let (line, expect) = match rng.below(6) {
        0 => {
            let month = 1 + rng.below(12);
            let year = 26 + rng.below(8);
            let cvv = rng.digits(3);
            (format!("{v} {month:02}/{year} {cvv}"), vec![v])
        }
        1 => (format!("line {} {v}", 1 + rng.below(999)), vec![v]),
        2 => (format!("card {v} {}", rng.digits(4)), vec![v]),
        3 => {
            let w = card(rng, true);
            (format!("{v} {w}"), vec![v, w])
        }
        4 => (format!("ref {} {v}", 2000 + rng.below(30)), vec![v]),
        _ => {
            let s = ssn(rng).replace(' ', "-");
            let line = format!("ssn {s} {}", 1 + rng.below(99));
            return Case {
                line,
                expect: vec![(DetectorId::UsSocialSecurityNumber, s)],
            };
        }
    };
    let expect = expect
        .into_iter()
        .map(|v| (DetectorId::CreditCardNumber, v))
        .collect();
    Case { line, expect }
}

/// Per detector: (true positives, false positives, false negatives).
pub type Tally = std::collections::BTreeMap<DetectorId, (u64, u64, u64)>;

/// Scans every case with `engine` and tallies the outcome per detector.
pub fn score(engine: &dlpd::engine::LocalEngine, cases: &[Case]) -> Tally {
    let mut tally = Tally::new();
    let mut by_line: Vec<Vec<(DetectorId, String)>> = vec![Vec::new(); cases.len()];
    // Scanned as files of 10,000 lines: one file records at most 100,000
    // findings, and a whole corpus in one would hit that cap.
    for (chunk, lines) in cases.chunks(10_000).enumerate() {
        let mut text = String::new();
        let mut starts = Vec::new();
        for c in lines {
            starts.push(text.len());
            text.push_str(&c.line);
            text.push('\n');
        }
        for f in engine.scan_bytes(text.as_bytes()) {
            let line = starts.partition_point(|&s| s <= f.byte_start as usize) - 1;
            if let Some(id) = f.detector.builtin() {
                by_line[chunk * 10_000 + line].push((id, f.value.raw));
            }
        }
    }
    for (c, got) in cases.iter().zip(&by_line) {
        for e in &c.expect {
            let t = tally.entry(e.0).or_default();
            if got.contains(e) {
                t.0 += 1;
            } else {
                t.2 += 1;
            }
        }
        for g in got {
            if !c.expect.contains(g) {
                tally.entry(g.0).or_default().1 += 1;
            }
        }
    }
    tally
}

/// Precision and recall from a tally entry.
pub fn rates((tp, fp, fn_): (u64, u64, u64)) -> (f64, f64) {
    let p = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let r = if tp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    (p, r)
}
