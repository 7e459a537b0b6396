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

/// One case-insensitive automaton per detector.
pub struct Keywords {
    card: AhoCorasick,
    ssn: AhoCorasick,
    api: AhoCorasick,
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
        }
    }

    /// True when a keyword for `detector` sits within [`WINDOW`] bytes of
    /// `start..end` in `hay`.
    pub fn near(&self, detector: DetectorId, hay: &[u8], start: usize, end: usize) -> bool {
        let ac = match detector {
            DetectorId::CreditCardNumber => &self.card,
            DetectorId::UsSocialSecurityNumber => &self.ssn,
            DetectorId::ApiKey => &self.api,
        };
        let lo = start.saturating_sub(WINDOW);
        let hi = (end + WINDOW).min(hay.len());
        ac.is_match(&hay[lo..start]) || ac.is_match(&hay[end.min(hi)..hi])
    }
}

impl Default for Keywords {
    fn default() -> Self {
        Keywords::new()
    }
}
