//! Labeled lines for the detectors beyond the default three and for the
//! assignment rule: IBANs in every grouping, e-mail addresses, spaced
//! phone numbers, passwords and secrets assigned in the layouts of code
//! and configuration, each with near misses.

use dlpd::engine::DetectorId;

use super::{Case, Rng};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";

/// The detectors this corpus labels: what the engine scoring it runs.
pub const DETECTORS: [DetectorId; 5] = [
    DetectorId::ApiKey,
    DetectorId::IbanCode,
    DetectorId::EmailAddress,
    DetectorId::PhoneNumber,
    DetectorId::PasswordInCode,
];

/// Some registry countries: code and BBAN as (count, kind) runs.
const COUNTRIES: &[(&str, &[(usize, u8)])] = &[
    ("DE", &[(8, b'n'), (10, b'n')]),
    ("GB", &[(4, b'a'), (6, b'n'), (8, b'n')]),
    ("FR", &[(5, b'n'), (5, b'n'), (11, b'c'), (2, b'n')]),
    (
        "ES",
        &[(4, b'n'), (4, b'n'), (1, b'n'), (1, b'n'), (10, b'n')],
    ),
    ("NO", &[(4, b'n'), (6, b'n'), (1, b'n')]),
    ("AL", &[(8, b'n'), (16, b'c')]),
    ("BY", &[(4, b'c'), (4, b'n'), (16, b'c')]),
    ("EG", &[(4, b'n'), (4, b'n'), (17, b'n')]),
    ("CR", &[(4, b'n'), (14, b'n')]),
    ("LC", &[(4, b'a'), (24, b'c')]),
];

fn pick(rng: &mut Rng, alphabet: &[u8], n: usize) -> String {
    (0..n)
        .map(|_| char::from(alphabet[rng.below(alphabet.len() as u64) as usize]))
        .collect()
}

/// ISO 7064 mod 97 of an IBAN rearranged (country and check at the end).
fn mod97(s: &str) -> u32 {
    s.bytes().fold(0, |rem, b| match b {
        b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
        _ => (rem * 100 + u32::from(b - b'A') + 10) % 97,
    })
}

/// A valid IBAN (or, when `forge`, one with letters where its country has
/// digits and a check that still passes), unspaced.
fn iban(rng: &mut Rng, forge: bool) -> String {
    // A forgery needs a run of digits to put a letter in.
    let (cc, runs) = loop {
        let c = COUNTRIES[rng.below(COUNTRIES.len() as u64) as usize];
        if !forge || c.1.iter().any(|r| r.1 == b'n') {
            break c;
        }
    };
    let mut bban = String::new();
    for &(n, kind) in runs {
        bban.push_str(&match kind {
            b'n' => pick(rng, DIGITS, n),
            b'a' => pick(rng, UPPER, n),
            _ => pick(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", n),
        });
    }
    if forge {
        // A letter in the first run of digits.
        let at = runs
            .iter()
            .take_while(|r| r.1 != b'n')
            .map(|r| r.0)
            .sum::<usize>();
        bban.replace_range(at..at + 1, "Q");
    }
    let check = 98 - mod97(&format!("{bban}{cc}00"));
    format!("{cc}{check:02}{bban}")
}

/// The IBAN grouped as people write it.
fn grouped(rng: &mut Rng, plain: &str) -> String {
    match rng.below(4) {
        0 => plain.to_string(),
        1 => chunks(plain, 4).join(" "),
        2 => chunks(plain, 4).join("."),
        _ => format!("{} {} {}", &plain[..2], &plain[2..4], &plain[4..]),
    }
}

fn chunks(s: &str, n: usize) -> Vec<&str> {
    (0..s.len())
        .step_by(n)
        .map(|i| &s[i..(i + n).min(s.len())])
        .collect()
}

fn secret(rng: &mut Rng) -> String {
    let n = 24 + rng.below(16) as usize;
    pick(rng, ALNUM, n)
}

/// A value assigned to a secret's name, in one of the layouts of code and
/// configuration; the value is what is expected.
fn assignment(rng: &mut Rng, v: &str) -> String {
    let layouts = [
        format!("export API_TOKEN={v}"),
        format!("client_secret: \"{v}\""),
        format!("{{\"apiKey\": \"{v}\"}}"),
        format!("var authToken string = \"{v}\""),
        format!("const apiKey: string = '{v}';"),
        format!("final String accessToken = \"{v}\";"),
        format!("SECRET_KEY ?= {v}"),
        format!("<apiKey>{v}</apiKey>"),
        format!("System.setProperty(\"APP_TOKEN\", \"{v}\");"),
        format!("os.environ[\"SERVICE_SECRET\"] = \"{v}\""),
        format!("$token .= '{v}';"),
    ];
    layouts[rng.below(layouts.len() as u64) as usize].clone()
}

/// The corpus: `n` labeled lines from `seed`.
pub fn corpus(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = Rng(seed | 1);
    (0..n)
        .map(|_| match rng.below(12) {
            0 | 1 => {
                let plain = iban(&mut rng, false);
                let v = grouped(&mut rng, &plain);
                let tail = ["ALL CAPS", "EUR", "paid", "Ref 42"][rng.below(4) as usize];
                Case {
                    line: format!("IBAN: {v} {tail}"),
                    expect: vec![(DetectorId::IbanCode, v)],
                }
            }
            2 => {
                // Letters where digits belong, with a passing check; or a
                // wrong check digit.
                let line = match rng.below(2) {
                    0 => format!("account {}", iban(&mut rng, true)),
                    _ => {
                        let mut v = iban(&mut rng, false);
                        let d = (v.as_bytes()[3] - b'0' + 1) % 10;
                        v.replace_range(3..4, &d.to_string());
                        format!("account {v}")
                    }
                };
                Case {
                    line,
                    expect: vec![],
                }
            }
            3 => {
                let v = format!(
                    "{}.{}@{}.io",
                    pick(&mut rng, b"abcdefghijklmnopqrstuvwxyz", 5),
                    pick(&mut rng, b"abcdefghijklmnopqrstuvwxyz", 6),
                    pick(&mut rng, b"abcdefghijklmnopqrstuvwxyz", 7)
                );
                Case {
                    line: format!("contact {v} for access"),
                    expect: vec![(DetectorId::EmailAddress, v)],
                }
            }
            4 => {
                // URI user-info and documentation domains.
                let user = pick(&mut rng, b"abcdefghijklmnopqrstuvwxyz", 6);
                let line = match rng.below(2) {
                    0 => format!("ftp://{user}:{}@files.acme.io/x", secret(&mut rng)),
                    _ => format!("write to {user}@mail.example.com"),
                };
                Case {
                    line,
                    expect: vec![],
                }
            }
            5 => {
                let v = match rng.below(3) {
                    0 => format!("+49 30 {}", pick(&mut rng, DIGITS, 7)),
                    1 => format!(
                        "+44 (0)20 {} {}",
                        pick(&mut rng, DIGITS, 4),
                        pick(&mut rng, DIGITS, 4)
                    ),
                    _ => format!(
                        "+33 1 {} {} {} {}",
                        pick(&mut rng, DIGITS, 2),
                        pick(&mut rng, DIGITS, 2),
                        pick(&mut rng, DIGITS, 2),
                        pick(&mut rng, DIGITS, 2)
                    ),
                };
                Case {
                    line: format!("phone: {v}"),
                    expect: vec![(DetectorId::PhoneNumber, v)],
                }
            }
            6 | 7 => {
                let v = secret(&mut rng);
                Case {
                    line: assignment(&mut rng, &v),
                    expect: vec![(DetectorId::ApiKey, v)],
                }
            }
            8 => {
                // Names that only sound secret, identifiers, references.
                let v = secret(&mut rng);
                let line = [
                    format!("public_key = \"{v}\""),
                    format!("csrf_token: {v}"),
                    format!("key_id = \"{v}\""),
                    "secretKey: PdfEncryptionKeySize.Key128Bit".to_string(),
                    "token = os.getenv(\"TOKEN\")".to_string(),
                    "api_key = ${API_KEY}".to_string(),
                ][rng.below(6) as usize]
                    .clone();
                Case {
                    line,
                    expect: vec![],
                }
            }
            9 => {
                let v = format!("{}!{}", pick(&mut rng, ALNUM, 6), pick(&mut rng, DIGITS, 3));
                let line = match rng.below(2) {
                    0 => format!("db_password = \"{v}\""),
                    _ => format!("{{\"password\": \"{v}\"}}"),
                };
                Case {
                    line,
                    expect: vec![(DetectorId::PasswordInCode, v)],
                }
            }
            10 => {
                let line = [
                    "password = \"changeme\"",
                    "password: required",
                    "password = \"${DB_PASS}\"",
                    "password_length = 16",
                ][rng.below(4) as usize]
                    .to_string();
                Case {
                    line,
                    expect: vec![],
                }
            }
            _ => Case {
                line: "Meeting notes: discuss roadmap, hiring, and the office move.".into(),
                expect: vec![],
            },
        })
        .collect()
}
