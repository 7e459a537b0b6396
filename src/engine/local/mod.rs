//! The local detection engine: works offline, reads each file once, and
//! finds every match exactly once with its exact byte range.
//!
//! A file goes one way ([`file`]): the format stage (`engine::extract`)
//! turns it into text streams, and the detection stage ([`detect`]) scans
//! each the same way, in bounded blocks, with the detectors built here
//! (cards, SSNs, API keys, the other patterns) and the custom rules.

mod apikey;
mod assign;
pub(crate) mod bytes;
mod card;
mod detect;
pub mod families;
mod file;
mod iban;
mod keywords;
mod normalize;
mod patterns;
mod shape;
mod ssn;

use std::io::{self, Read};

use self::apikey::ApiKeyRules;
use self::detect::Stream;
use self::keywords::Keywords;
use crate::config::ScannerConfig;
use crate::engine::allow::Allowlist;
use crate::engine::extract::archive;
use crate::finding::{Confidence, DetectorId, Finding};
use crate::pack::RulePacks;
use crate::rules::RuleSet;

pub use self::apikey::known_kind;
pub use self::card::luhn_valid;

/// Default block size: large enough that the margin is noise, small enough
/// to stay in cache.
pub const DEFAULT_BLOCK: usize = 256 * 1024;
/// How much of the start of a file decides whether it is binary.
const BINARY_PROBE: usize = 64 * 1024;

/// A match before contexts, masking and the confidence filter.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub detector: DetectorId,
    pub confidence: Confidence,
    pub kind: Option<&'static str>,
    /// Buffer-relative half-open range.
    pub start: usize,
    pub end: usize,
    /// Whether a nearby keyword may raise the confidence one level.
    pub keyword_raises: bool,
}

/// What reading a stream produced.
#[derive(Debug)]
pub enum StreamVerdict {
    /// Text (or bytes treated as text) read to the end.
    Text {
        findings: Vec<Finding>,
        bytes: u64,
        /// False when the first block is not valid UTF-8.
        utf8: bool,
    },
    /// NUL bytes in the first block.
    Binary,
}

/// The local engine, built once from the `[scanner]` config and shared by
/// every worker.
pub struct LocalEngine {
    /// Built-in detectors reported by themselves (`scanner.detectors`), a
    /// bit per id; the rules may run others.
    reported: u32,
    rules: RuleSet,
    packs: RulePacks,
    card: bool,
    ssn: bool,
    iban: bool,
    api: Option<ApiKeyRules>,
    assignments: Option<assign::Assignments>,
    patterns: Option<patterns::Patterns>,
    allow: Allowlist,
    archives: archive::Limits,
    keywords: Keywords,
    min_confidence: Confidence,
    context_bytes: usize,
    max_file_bytes: u64,
    block: usize,
}

impl LocalEngine {
    /// Builds the engine for the configured detectors.
    pub fn new(cfg: &ScannerConfig) -> LocalEngine {
        let mut running = cfg.detectors.clone();
        running.extend(cfg.rules.builtins());
        let on = |d| running.contains(&d);
        LocalEngine {
            reported: cfg.detectors.iter().fold(0, |bits, d| bits | bit(*d)),
            rules: cfg.rules.clone(),
            packs: cfg.rule_packs.clone(),
            card: on(DetectorId::CreditCardNumber),
            ssn: on(DetectorId::UsSocialSecurityNumber),
            iban: on(DetectorId::IbanCode),
            api: ApiKeyRules::new(
                on(DetectorId::ApiKey),
                cfg.detectors.contains(&DetectorId::CryptographicKey),
            ),
            assignments: assign::Assignments::new(
                on(DetectorId::ApiKey),
                on(DetectorId::PasswordInCode),
            ),
            patterns: patterns::Patterns::new(&running, cfg.min_confidence),
            allow: Allowlist::new(cfg),
            archives: archive::Limits::new(cfg),
            keywords: Keywords::new(),
            min_confidence: cfg.min_confidence,
            context_bytes: cfg.context_bytes as usize,
            max_file_bytes: cfg.max_file_bytes,
            block: DEFAULT_BLOCK,
        }
    }

    /// Overrides the block size; tests use tiny blocks to cross boundaries.
    /// It never goes below four margins.
    pub fn with_block_size(mut self, block: usize) -> LocalEngine {
        self.block = block;
        self
    }

    /// Bytes each block shares with its neighbours.
    fn margin(&self) -> usize {
        let reach = apikey::MAX_MATCH
            .max(self.rules.reach())
            .max(self.packs.reach());
        self.context_bytes + reach + keywords::WINDOW + 16
    }

    /// Scans bytes held in memory, as if they were a whole file.
    pub fn scan_bytes(&self, data: &[u8]) -> Vec<Finding> {
        match self.scan_reader(data, |_| {}) {
            Ok(StreamVerdict::Text { findings, .. }) => findings,
            Ok(StreamVerdict::Binary) | Err(_) => Vec::new(),
        }
    }

    /// Scans text that is known to be text, whatever bytes it holds: a
    /// NUL does not make it "binary" and hide what follows. For callers
    /// that must never report "nothing found" for text they did not scan
    /// (the text-scan API).
    pub fn scan_text_bytes(&self, data: &[u8]) -> Vec<Finding> {
        let stream = Stream {
            text: true,
            ..Stream::default()
        };
        match self.scan_stream(data, |_| {}, stream) {
            Ok(StreamVerdict::Text { findings, .. }) => findings,
            // Reading a slice cannot fail, and text is never binary.
            Ok(StreamVerdict::Binary) | Err(_) => Vec::new(),
        }
    }

    /// Scans a stream in bounded blocks; memory does not grow with its size.
    /// `on_bytes` sees every byte once, in order (for hashing).
    pub fn scan_reader<R: Read>(
        &self,
        reader: R,
        on_bytes: impl FnMut(&[u8]),
    ) -> io::Result<StreamVerdict> {
        self.scan_stream(reader, on_bytes, Stream::default())
    }

    /// Every candidate in `hay`, keyword-adjusted, overlaps resolved, in
    /// order of position. Pasted Unicode separators and full-width digits
    /// are matched as their ASCII forms; ranges are always `hay`'s.
    fn candidates(&self, hay: &[u8]) -> Vec<Candidate> {
        let Some(normalized) = normalize::Normalized::of(hay) else {
            return self.candidates_in(hay);
        };
        let mut out = self.candidates_in(&normalized.text);
        for c in &mut out {
            let r = normalized.original(c.start..c.end);
            (c.start, c.end) = (r.start, r.end);
        }
        out
    }

    /// [`candidates`](Self::candidates) in ASCII-matched text.
    fn candidates_in(&self, hay: &[u8]) -> Vec<Candidate> {
        let mut out = Vec::new();
        if self.card || self.ssn {
            let mut i = 0;
            while let Some(p) = bytes::next_digit(hay, i) {
                let run = bytes::digit_run(hay, p);
                if self.card
                    && let Some(c) = card::detect(hay, p, run)
                {
                    out.push(c);
                }
                if self.ssn
                    && let Some(c) = ssn::detect(hay, p, run, |s, e| {
                        self.keywords
                            .near(DetectorId::UsSocialSecurityNumber, hay, s, e)
                    })
                {
                    out.push(c);
                }
                i = p + run;
            }
        }
        if let Some(api) = &self.api {
            api.detect(hay, &mut out);
        }
        if let Some(a) = &self.assignments {
            a.detect(hay, &mut out);
        }
        if self.iban {
            iban::detect(hay, &mut out);
        }
        if let Some(p) = &self.patterns {
            p.detect(hay, &self.keywords, &mut out);
        }
        for c in &mut out {
            if c.keyword_raises && self.keywords.near(c.detector, hay, c.start, c.end) {
                c.confidence = c.confidence.raised();
            }
        }
        assign::yield_to_families(&mut out);
        resolve_overlaps(out)
    }
}

/// A detector's bit in [`LocalEngine::reported`].
fn bit(d: DetectorId) -> u32 {
    1 << d as u32
}

/// Among overlapping candidates of one detector, keeps the most confident,
/// then the longest, then the first; different detectors may overlap. A
/// candidate is dropped only for one it overlaps that is kept, so a chain
/// of overlaps never hides a match at its far end.
fn resolve_overlaps(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    use std::cmp::Reverse;
    cands.sort_by_key(|c| {
        let len = c.end - c.start;
        (c.detector, Reverse(c.confidence), Reverse(len), c.start)
    });
    // Kept spans per detector, by start; kept spans never overlap.
    let mut taken: std::collections::BTreeMap<(DetectorId, usize), usize> = Default::default();
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    for c in cands {
        let before = taken.range(..(c.detector, c.end)).next_back();
        let overlaps = before.is_some_and(|(&(d, _), &end)| d == c.detector && end > c.start);
        if !overlaps {
            taken.insert((c.detector, c.start), c.end);
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| (c.start, c.detector));
    kept
}
