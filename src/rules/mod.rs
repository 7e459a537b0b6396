//! Custom detection rules in the shape of Nightfall's inline DetectionRule
//! (../shared/nightfall-api.md §3), one definition for the config's
//! `[[scanner.rules]]`, the rules sent inline to Nightfall, and the
//! text-scan API's `detectionRules`.
//!
//! A rule holds detectors (a built-in one, a regex or a word list), each
//! with a lowest confidence, context rules that set the confidence of a
//! match from what is near it, exclusion rules that drop matches, and a
//! scope: the content, the file's name, or both. `minNumFindings` and
//! `logicalOp` decide, per file, which detectors' matches are reported.

mod compile;
mod set;
mod spec;

use std::ops::Range;

use aho_corasick::AhoCorasick;
use regex::bytes::Regex;

pub use compile::compile;
pub use set::RuleSet;
pub use spec::{
    AdjustmentSpec, ContextRuleSpec, DetectorSpec, ExclusionRuleSpec, ProximitySpec, RegexSpec,
    RuleSpec, WordListSpec,
};

use crate::finding::{Confidence, DetectorId};

/// Widest context window, in bytes, on either side of a match.
pub const MAX_WINDOW: usize = 1024;
/// Longest custom-regex match the local engine is sure to see whole.
pub const MAX_MATCH: usize = 1024;

/// Why a rule was refused: which rule and detector, and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

/// Who reads a rule: the config is strict, the API as lenient as Nightfall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// `[[scanner.rules]]`: unknown keys, saved detectors and redaction are
    /// errors; custom detectors need a display name, as it names findings.
    Config,
    /// The text-scan API: unknown keys are ignored, names get defaults.
    Api,
}

/// Where a detector looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Content,
    File,
    ContentAndFile,
}

impl Scope {
    /// Whether the detector looks at the content.
    pub fn content(self) -> bool {
        self != Scope::File
    }

    /// Whether the detector looks at the file's name.
    pub fn file_name(self) -> bool {
        self != Scope::Content
    }
}

/// A compiled rule.
#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// `logicalOp = "ALL"`: every detector must reach its minNumFindings.
    pub all: bool,
    pub detectors: Vec<RuleDetector>,
}

/// A compiled detector of a rule.
#[derive(Debug)]
pub struct RuleDetector {
    pub source: Source,
    /// The name its findings carry: the built-in id, or the display name.
    pub display: String,
    pub min_confidence: Confidence,
    pub min_findings: u32,
    pub context: Vec<ContextRule>,
    pub exclusions: Vec<Exclusion>,
    pub scope: Scope,
    /// The API's redaction config, unread.
    pub redaction: Option<serde_json::Value>,
}

/// What a detector matches.
#[derive(Debug)]
pub enum Source {
    Builtin(DetectorId),
    Regex(Regex),
    Words(AhoCorasick),
}

/// Sets a match's confidence when its regex matches nearby.
#[derive(Debug)]
pub struct ContextRule {
    re: Regex,
    before: usize,
    after: usize,
    confidence: Confidence,
}

/// Drops a match its matcher matches: all of it (FULL) or any part (PARTIAL).
#[derive(Debug)]
pub struct Exclusion {
    full: bool,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    /// Unanchored, and anchored at both ends for FULL.
    Regex {
        any: Regex,
        whole: Regex,
    },
    Words(AhoCorasick),
}

impl RuleDetector {
    /// The largest reach of a match plus its context windows, in bytes.
    pub fn reach(&self) -> usize {
        let windows = self
            .context
            .iter()
            .map(|c| c.before.max(c.after))
            .max()
            .unwrap_or(0);
        MAX_MATCH + windows
    }

    /// This detector's matches in `hay` within `region`, with confidence
    /// after context rules, without excluded ones, and (in content) without
    /// those under minConfidence.
    fn hits(&self, hay: &[u8], region: &Region, builtin: &[BuiltinMatch]) -> Vec<Hit> {
        let owned = match region {
            Region::Content(owned) if self.scope.content() => owned.clone(),
            Region::FileName if self.scope.file_name() => 0..hay.len(),
            _ => return Vec::new(),
        };
        let raw: Vec<(Range<usize>, Confidence, Option<&'static str>)> = match &self.source {
            Source::Builtin(id) => builtin
                .iter()
                .filter(|b| b.id == *id)
                .map(|b| (b.range.clone(), b.confidence, b.kind))
                .collect(),
            // Nothing raises or lowers a regex or word match but its
            // context rules: LIKELY, as Nightfall reports them.
            Source::Regex(re) => re
                .find_iter(hay)
                .filter(|m| !m.is_empty())
                .map(|m| (m.range(), Confidence::Likely, None))
                .collect(),
            Source::Words(ac) => ac
                .find_iter(hay)
                .map(|m| (m.range(), Confidence::Likely, None))
                .collect(),
        };
        raw.into_iter()
            .filter(|(r, _, _)| owned.contains(&r.start))
            .filter(|(r, _, _)| !self.exclusions.iter().any(|x| x.excludes(&hay[r.clone()])))
            .map(|(range, c, kind)| {
                let confidence = self
                    .context
                    .iter()
                    .find(|x| x.near(hay, &range))
                    .map_or(c, |x| x.confidence);
                (range, confidence, kind)
            })
            // Thresholds do not apply to a file's name.
            .filter(|(_, c, _)| matches!(region, Region::FileName) || *c >= self.min_confidence)
            .map(|(range, confidence, kind)| Hit {
                detector: 0,
                range,
                confidence,
                kind,
            })
            .collect()
    }
}

impl ContextRule {
    /// Whether the regex matches within the windows before or after `r`.
    fn near(&self, hay: &[u8], r: &Range<usize>) -> bool {
        let before = &hay[r.start.saturating_sub(self.before)..r.start];
        let after = &hay[r.end..(r.end + self.after).min(hay.len())];
        self.re.is_match(before) || self.re.is_match(after)
    }
}

impl Exclusion {
    fn excludes(&self, value: &[u8]) -> bool {
        match (&self.matcher, self.full) {
            (Matcher::Regex { whole, .. }, true) => whole.is_match(value),
            (Matcher::Regex { any, .. }, false) => any.is_match(value),
            // Leftmost-longest: a word equal to the whole value is the
            // match found at its start.
            (Matcher::Words(w), true) => w
                .find(value)
                .is_some_and(|m| m.start() == 0 && m.end() == value.len()),
            (Matcher::Words(w), false) => w.is_match(value),
        }
    }
}

/// A built-in detector's match, as a rule's NIGHTFALL_DETECTOR sees it.
#[derive(Debug, Clone)]
pub struct BuiltinMatch {
    pub id: DetectorId,
    pub range: Range<usize>,
    pub confidence: Confidence,
    /// The family of secret, where the detector knows.
    pub kind: Option<&'static str>,
}

/// What the hay is.
#[derive(Debug, Clone)]
pub enum Region {
    /// Content; only matches starting in this range count (a block of a
    /// stream owns part of what it holds).
    Content(Range<usize>),
    /// A file's name: only detectors whose scope takes in names look, and
    /// confidence thresholds do not apply.
    FileName,
}

/// A match of one of a rule's detectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The detector's index in its rule.
    pub detector: usize,
    pub range: Range<usize>,
    pub confidence: Confidence,
    pub kind: Option<&'static str>,
}

/// The one rule evaluator, used by the local engine (block by block, then
/// [`Rule::settle`] once per file) and the text-scan API (once per item).
impl Rule {
    /// Every match of this rule's detectors in `hay`, detector by detector.
    /// `builtin` holds the built-in detectors' matches in the same `hay`.
    pub fn hits(&self, hay: &[u8], region: &Region, builtin: &[BuiltinMatch]) -> Vec<Hit> {
        let mut out = Vec::new();
        for (d, det) in self.detectors.iter().enumerate() {
            out.extend(
                det.hits(hay, region, builtin)
                    .into_iter()
                    .map(|h| Hit { detector: d, ..h }),
            );
        }
        out
    }

    /// Keeps the hits of the detectors that pass minNumFindings and
    /// logicalOp, counted over all of `hits` (a whole file, or an item);
    /// each hit is its detector's index with what the caller made of it.
    pub fn settle<T>(&self, hits: Vec<(usize, T)>) -> Vec<(usize, T)> {
        let mut counts = vec![0usize; self.detectors.len()];
        for (d, _) in &hits {
            counts[*d] += 1;
        }
        let pass = self.passing(&counts);
        hits.into_iter().filter(|(d, _)| pass[*d]).collect()
    }

    /// Which detectors' matches are reported, given how many each found:
    /// those reaching minNumFindings, and with ALL, only if every one does.
    fn passing(&self, counts: &[usize]) -> Vec<bool> {
        let pass: Vec<bool> = self
            .detectors
            .iter()
            .zip(counts)
            .map(|(d, n)| *n > 0 && *n >= d.min_findings as usize)
            .collect();
        if self.all && !pass.iter().all(|p| *p) {
            return vec![false; pass.len()];
        }
        pass
    }
}
