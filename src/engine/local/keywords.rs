//! Context keywords: words near a match that make it more likely to be what
//! it looks like ("card" near a 16-digit number, "ssn" near 9 digits).

use aho_corasick::AhoCorasick;

use crate::engine::DetectorId;

/// How far either side of a match a keyword still counts, in bytes.
pub const WINDOW: usize = 64;

const CARD: &[&str] = &[
    "card",
    "visa",
    "mastercard",
    "master card",
    "amex",
    "american express",
    "discover",
    "diners",
    "jcb",
    "maestro",
    "unionpay",
    "credit",
    "debit",
    "ccn",
    "cc#",
    "cc_num",
    "pan#",
];
const SSN: &[&str] = &[
    "ssn",
    "ss#",
    "ss #",
    "ss_num",
    "social security",
    "social sec",
    "soc sec",
    "socsec",
];
const API: &[&str] = &[
    "key",
    "token",
    "secret",
    "api",
    "auth",
    "bearer",
    "credential",
    "password",
    "aws",
    "github",
    "gitlab",
    "slack",
    "stripe",
    "google",
    "sendgrid",
    "twilio",
    "openai",
];

/// Keywords of the other detectors. They are matched as whole words, since
/// many are short ("ip", "sin", "dob").
const OTHERS: &[(DetectorId, &[&str])] = &[
    (
        DetectorId::IbanCode,
        &["iban", "account", "bank", "konto", "rekening"],
    ),
    (
        DetectorId::EmailAddress,
        &["email", "e-mail", "mail", "contact"],
    ),
    (
        DetectorId::PhoneNumber,
        &[
            "phone",
            "tel",
            "telephone",
            "mobile",
            "cell",
            "fax",
            "call",
            "contact",
            "sms",
        ],
    ),
    (
        DetectorId::IpAddress,
        &[
            "ip", "ipv4", "host", "addr", "address", "server", "client", "remote", "src", "dst",
        ],
    ),
    (
        DetectorId::UsBankRoutingMicr,
        &["routing", "aba", "rtn", "transit", "micr", "bank", "abartn"],
    ),
    (
        DetectorId::UsEmployerIdentificationNumber,
        &[
            "ein",
            "fein",
            "employer identification",
            "employer id",
            "tax id",
            "federal tax",
        ],
    ),
    (
        DetectorId::UsIndividualTaxpayerIdentificationNumber,
        &["itin", "taxpayer", "tax id", "individual taxpayer"],
    ),
    (
        DetectorId::UsPassport,
        &["passport", "passport no", "passport number"],
    ),
    (
        DetectorId::DateOfBirth,
        &[
            "dob",
            "d.o.b",
            "birth",
            "birthday",
            "born",
            "birthdate",
            "date of birth",
        ],
    ),
    (
        DetectorId::RandomlyGeneratedToken,
        &[
            "token",
            "key",
            "secret",
            "auth",
            "bearer",
            "session",
            "nonce",
            "signature",
        ],
    ),
    (
        DetectorId::UkNationalInsuranceNumber,
        &["national insurance", "nino", "ni number", "ni no", "nin"],
    ),
    (
        DetectorId::CanadaSocialInsuranceNumber,
        &["sin", "social insurance", "nas", "assurance sociale"],
    ),
];

/// One case-insensitive automaton per detector.
pub struct Keywords {
    card: AhoCorasick,
    ssn: AhoCorasick,
    api: AhoCorasick,
    others: Vec<(DetectorId, AhoCorasick)>,
}

impl Keywords {
    /// Builds the automata; the word lists are constants, so this cannot fail.
    pub fn new() -> Keywords {
        let build = |words: &[&str]| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(words)
                .expect("keyword lists are valid patterns")
        };
        Keywords {
            card: build(CARD),
            ssn: build(SSN),
            api: build(API),
            others: OTHERS.iter().map(|(d, w)| (*d, build(w))).collect(),
        }
    }

    /// True when a keyword for `detector` sits within [`WINDOW`] bytes of
    /// `start..end` in `hay`.
    pub fn near(&self, detector: DetectorId, hay: &[u8], start: usize, end: usize) -> bool {
        let lo = start.saturating_sub(WINDOW);
        let hi = (end + WINDOW).min(hay.len());
        let (before, after) = (&hay[lo..start], &hay[end.min(hi)..hi]);
        let ac = match detector {
            DetectorId::CreditCardNumber => &self.card,
            DetectorId::UsSocialSecurityNumber => &self.ssn,
            DetectorId::ApiKey => &self.api,
            other => {
                let Some((_, ac)) = self.others.iter().find(|(d, _)| *d == other) else {
                    return false;
                };
                return whole_word(ac, before) || whole_word(ac, after);
            }
        };
        ac.is_match(before) || ac.is_match(after)
    }
}

impl Keywords {
    /// Where `detector`'s keywords occur in `hay` (start offsets), for
    /// detectors that report nothing without one.
    pub fn positions(&self, detector: DetectorId, hay: &[u8]) -> Vec<usize> {
        self.others
            .iter()
            .find(|(d, _)| *d == detector)
            .map(|(_, ac)| ac.find_iter(hay).map(|m| m.start()).collect())
            .unwrap_or_default()
    }
}

/// Whether a keyword occurs in `s` with no letter or digit either side.
fn whole_word(ac: &AhoCorasick, s: &[u8]) -> bool {
    ac.find_overlapping_iter(s).any(|m| {
        let ok_before = m.start() == 0 || !s[m.start() - 1].is_ascii_alphanumeric();
        let ok_after = m.end() == s.len() || !s[m.end()].is_ascii_alphanumeric();
        ok_before && ok_after
    })
}

impl Default for Keywords {
    fn default() -> Self {
        Keywords::new()
    }
}
