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

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::finding::{Confidence, DetectorId};

/// Widest context window, in bytes, on either side of a match.
pub const MAX_WINDOW: usize = 1024;
/// Longest custom-regex match the local engine is sure to see whole.
pub const MAX_MATCH: usize = 1024;
/// Largest compiled regex: enough for any sane pattern, not for a bomb.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `[[scanner.rules]]` as written: Nightfall's field names, camelCase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logical_op: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectors: Option<Vec<DetectorSpec>>,
    /// Keys this version does not know: errors in the config, ignored in
    /// API requests (SDKs send keys dlpd has no use for).
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

/// One detector of a rule, as written.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DetectorSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nightfall_detector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_list: Option<WordListSpec>,
    #[serde(
        default,
        rename = "detectorUUID",
        skip_serializing_if = "Option::is_none"
    )]
    pub detector_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_num_findings: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_rules: Option<Vec<ContextRuleSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_rules: Option<Vec<ExclusionRuleSpec>>,
    /// Text scans only; kept raw here and read by the text-scan API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redaction_config: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexSpec {
    #[serde(default)]
    pub pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_case_sensitive: Option<bool>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WordListSpec {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_case_sensitive: Option<bool>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proximity: Option<ProximitySpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_adjustment: Option<AdjustmentSpec>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProximitySpec {
    #[serde(default)]
    pub window_before: u32,
    #[serde(default)]
    pub window_after: u32,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustmentSpec {
    #[serde(default)]
    pub fixed_confidence: String,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExclusionRuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusion_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<RegexSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub word_list: Option<WordListSpec>,
    #[serde(flatten, skip_serializing)]
    pub unknown: BTreeMap<String, IgnoredAny>,
}

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

    /// Matches starting in `owned`, each with its confidence after context
    /// rules, without the excluded ones and those under minConfidence.
    /// `builtin` gives the built-in detector's matches in the same `hay`.
    pub fn hits(
        &self,
        hay: &[u8],
        owned: Range<usize>,
        builtin: impl Iterator<Item = (Range<usize>, Confidence)>,
    ) -> Vec<(Range<usize>, Confidence)> {
        let mut hits = self.matches(hay, owned, builtin);
        hits.retain(|(_, c)| *c >= self.min_confidence);
        hits
    }

    /// Matches in a file's name; confidence thresholds do not apply there.
    pub fn name_hits(
        &self,
        name: &[u8],
        builtin: impl Iterator<Item = (Range<usize>, Confidence)>,
    ) -> Vec<(Range<usize>, Confidence)> {
        self.matches(name, 0..name.len(), builtin)
    }

    fn matches(
        &self,
        hay: &[u8],
        owned: Range<usize>,
        builtin: impl Iterator<Item = (Range<usize>, Confidence)>,
    ) -> Vec<(Range<usize>, Confidence)> {
        let raw: Vec<(Range<usize>, Confidence)> = match &self.source {
            Source::Builtin(_) => builtin.collect(),
            // Nothing raises or lowers a regex or word match but its
            // context rules: LIKELY, as Nightfall reports them.
            Source::Regex(re) => re
                .find_iter(hay)
                .filter(|m| !m.is_empty())
                .map(|m| (m.range(), Confidence::Likely))
                .collect(),
            Source::Words(ac) => ac
                .find_iter(hay)
                .map(|m| (m.range(), Confidence::Likely))
                .collect(),
        };
        raw.into_iter()
            .filter(|(r, _)| owned.contains(&r.start))
            .filter(|(r, _)| !self.exclusions.iter().any(|x| x.excludes(&hay[r.clone()])))
            .map(|(r, c)| {
                let c = self
                    .context
                    .iter()
                    .find(|x| x.near(hay, &r))
                    .map_or(c, |x| x.confidence);
                (r, c)
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

impl Rule {
    /// Which detectors' matches are reported, given how many each found:
    /// those reaching minNumFindings, and with ALL, only if every one does.
    pub fn passing(&self, counts: &[usize]) -> Vec<bool> {
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

/// Compiles one rule; `index` numbers unnamed rules as Nightfall does.
pub fn compile(spec: &RuleSpec, index: usize, reader: Reader) -> Result<Rule, String> {
    let name = spec
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Inline Detection Rule #{}", index + 1));
    let strict = reader == Reader::Config;
    let at = format!("rule {name:?}");
    unknown_keys(strict, &at, &spec.unknown)?;
    let all = match spec.logical_op.as_deref().unwrap_or("ANY") {
        "" | "ANY" => false,
        "ALL" => true,
        other => return Err(format!("{at}: logicalOp {other:?} is not ANY or ALL")),
    };
    let specs = spec.detectors.as_deref().unwrap_or_default();
    if specs.is_empty() {
        return Err(format!("{at}: no detectors"));
    }
    let detectors = specs
        .iter()
        .enumerate()
        .map(|(j, d)| compile_detector(d, &format!("{at}, detector {}", j + 1), j, strict))
        .collect::<Result<_, _>>()?;
    Ok(Rule {
        name,
        all,
        detectors,
    })
}

fn compile_detector(
    d: &DetectorSpec,
    at: &str,
    j: usize,
    strict: bool,
) -> Result<RuleDetector, String> {
    unknown_keys(strict, at, &d.unknown)?;
    if d.detector_uuid.as_deref().is_some_and(|u| !u.is_empty()) {
        return Err(format!("{at}: dlpd has no saved detectors (detectorUUID)"));
    }
    if strict && d.redaction_config.is_some() {
        return Err(format!(
            "{at}: redactionConfig applies to text scans only; file scans are not redacted"
        ));
    }
    let min_confidence = match d.min_confidence.as_deref() {
        None | Some("") => Confidence::Possible,
        Some(c) => Confidence::parse(c)
            .ok_or_else(|| format!("{at}: minConfidence {c:?} is not a confidence level"))?,
    };
    let scope = match d.scope.as_deref() {
        None | Some("") | Some("Content") => Scope::Content,
        Some("File") => Scope::File,
        Some("ContentAndFile") => Scope::ContentAndFile,
        Some(other) => {
            return Err(format!(
                "{at}: scope {other:?} is not Content, File or ContentAndFile"
            ));
        }
    };
    let nightfall = d.nightfall_detector.as_deref().filter(|n| !n.is_empty());
    let source = match (d.detector_type.as_deref().unwrap_or(""), nightfall) {
        ("NIGHTFALL_DETECTOR" | "", Some(n)) => {
            Source::Builtin(DetectorId::parse(n).ok_or_else(|| {
                let known: Vec<&str> = DetectorId::ALL.iter().map(|d| d.as_str()).collect();
                format!(
                    "{at}: {n} is not a detector dlpd has ({})",
                    known.join(", ")
                )
            })?)
        }
        ("REGEX", _) => {
            let spec = d
                .regex
                .as_ref()
                .ok_or_else(|| format!("{at}: REGEX needs regex.pattern"))?;
            Source::Regex(regex(spec, at, "regex", false)?)
        }
        ("WORD_LIST", _) => {
            let spec = d
                .word_list
                .as_ref()
                .ok_or_else(|| format!("{at}: WORD_LIST needs wordList.values"))?;
            Source::Words(words(spec, at, "wordList", strict)?)
        }
        (other, _) => {
            return Err(format!(
                "{at}: detectorType {other:?} needs NIGHTFALL_DETECTOR with nightfallDetector, REGEX or WORD_LIST"
            ));
        }
    };
    let display = match (&source, d.display_name.as_deref().filter(|n| !n.is_empty())) {
        // In files, built-in findings keep the built-in name, so both
        // engines and every output agree on it; the API echoes the name.
        (Source::Builtin(_), Some(n)) if !strict => n.to_string(),
        (Source::Builtin(id), _) => id.as_str().to_string(),
        (_, Some(n)) if DetectorId::parse(n).is_some() => {
            return Err(format!(
                "{at}: displayName {n:?} is a built-in detector's name; pick another"
            ));
        }
        (_, Some(n)) => n.to_string(),
        (_, None) if strict => {
            return Err(format!(
                "{at}: displayName is required for REGEX and WORD_LIST detectors; it names their findings"
            ));
        }
        (Source::Regex(_), None) => format!("Regex #{}", j + 1),
        (_, None) => format!("Word List #{}", j + 1),
    };
    let context = d
        .context_rules
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(k, c)| context_rule(c, &format!("{at}, contextRules[{k}]"), strict))
        .collect::<Result<_, _>>()?;
    let exclusions = d
        .exclusion_rules
        .as_deref()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(k, x)| exclusion(x, &format!("{at}, exclusionRules[{k}]"), strict))
        .collect::<Result<_, _>>()?;
    Ok(RuleDetector {
        source,
        display,
        min_confidence,
        min_findings: d.min_num_findings.unwrap_or(1).max(1),
        context,
        exclusions,
        scope,
        redaction: d.redaction_config.clone(),
    })
}

fn context_rule(c: &ContextRuleSpec, at: &str, strict: bool) -> Result<ContextRule, String> {
    unknown_keys(strict, at, &c.unknown)?;
    let re = c
        .regex
        .as_ref()
        .ok_or_else(|| format!("{at}: needs regex.pattern"))?;
    let p = c
        .proximity
        .as_ref()
        .ok_or_else(|| format!("{at}: needs proximity.windowBefore and windowAfter"))?;
    unknown_keys(strict, at, &p.unknown)?;
    let (before, after) = (p.window_before as usize, p.window_after as usize);
    if before.max(after) > MAX_WINDOW {
        return Err(format!(
            "{at}: proximity windows are at most {MAX_WINDOW} bytes"
        ));
    }
    let adj = c
        .confidence_adjustment
        .as_ref()
        .ok_or_else(|| format!("{at}: needs confidenceAdjustment.fixedConfidence"))?;
    unknown_keys(strict, at, &adj.unknown)?;
    let confidence = Confidence::parse(&adj.fixed_confidence).ok_or_else(|| {
        format!(
            "{at}: fixedConfidence {:?} is not a confidence level",
            adj.fixed_confidence
        )
    })?;
    Ok(ContextRule {
        re: regex(re, at, "regex", strict)?,
        before,
        after,
        confidence,
    })
}

fn exclusion(x: &ExclusionRuleSpec, at: &str, strict: bool) -> Result<Exclusion, String> {
    unknown_keys(strict, at, &x.unknown)?;
    let full = match x.match_type.as_deref().unwrap_or("") {
        "FULL" => true,
        "PARTIAL" => false,
        other => return Err(format!("{at}: matchType {other:?} is not FULL or PARTIAL")),
    };
    let matcher = match x.exclusion_type.as_deref().unwrap_or("") {
        "REGEX" => {
            let spec = x
                .regex
                .as_ref()
                .ok_or_else(|| format!("{at}: REGEX needs regex.pattern"))?;
            let any = regex(spec, at, "regex", strict)?;
            let whole = regex(
                &RegexSpec {
                    pattern: format!("^(?:{})$", spec.pattern),
                    ..spec.clone()
                },
                at,
                "regex",
                false,
            )?;
            Matcher::Regex { any, whole }
        }
        "WORD_LIST" => {
            let spec = x
                .word_list
                .as_ref()
                .ok_or_else(|| format!("{at}: WORD_LIST needs wordList.values"))?;
            Matcher::Words(words(spec, at, "wordList", strict)?)
        }
        other => {
            return Err(format!(
                "{at}: exclusionType {other:?} is not REGEX or WORD_LIST"
            ));
        }
    };
    Ok(Exclusion { full, matcher })
}

/// Case-insensitive unless `isCaseSensitive`; Nightfall's default.
fn regex(spec: &RegexSpec, at: &str, key: &str, strict: bool) -> Result<Regex, String> {
    unknown_keys(strict, at, &spec.unknown)?;
    if spec.pattern.is_empty() {
        return Err(format!("{at}: {key}.pattern is empty"));
    }
    RegexBuilder::new(&spec.pattern)
        .case_insensitive(!spec.is_case_sensitive.unwrap_or(false))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("{at}: {key}.pattern does not compile: {e}"))
}

fn words(spec: &WordListSpec, at: &str, key: &str, strict: bool) -> Result<AhoCorasick, String> {
    unknown_keys(strict, at, &spec.unknown)?;
    let values: Vec<&str> = spec
        .values
        .iter()
        .map(String::as_str)
        .filter(|w| !w.is_empty())
        .collect();
    if values.is_empty() {
        return Err(format!("{at}: {key}.values is empty"));
    }
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(!spec.is_case_sensitive.unwrap_or(false))
        .match_kind(MatchKind::LeftmostLongest)
        .build(&values)
        .map_err(|e| format!("{at}: {key}: {e}"))
}

fn unknown_keys(
    strict: bool,
    at: &str,
    unknown: &BTreeMap<String, IgnoredAny>,
) -> Result<(), String> {
    match unknown.keys().next() {
        Some(key) if strict => Err(format!(
            "{at}: unknown key `{key}` (keys are Nightfall's, in camelCase)"
        )),
        _ => Ok(()),
    }
}

/// `[[scanner.rules]]`: the rules as written (for printing and for sending
/// to Nightfall) and compiled (for the local engine), checked once when
/// the config is read.
#[derive(Clone, Default)]
pub struct RuleSet {
    specs: Vec<RuleSpec>,
    rules: Arc<[Rule]>,
}

impl RuleSet {
    /// Compiles config rules; the error names the rule and what to fix.
    pub fn new(specs: Vec<RuleSpec>) -> Result<RuleSet, String> {
        let rules = specs
            .iter()
            .map(compile_config_rule)
            .collect::<Result<Vec<_>, _>>()?;
        RuleSet::from_compiled(specs, rules)
    }

    fn from_compiled(specs: Vec<RuleSpec>, rules: Vec<Rule>) -> Result<RuleSet, String> {
        let mut names = std::collections::HashSet::new();
        for r in &rules {
            if !names.insert(r.name.as_str()) {
                return Err(format!(
                    "two rules are named {:?}; names must differ",
                    r.name
                ));
            }
        }
        Ok(RuleSet {
            specs,
            rules: rules.into(),
        })
    }

    pub fn specs(&self) -> &[RuleSpec] {
        &self.specs
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// Built-in detectors the rules use.
    pub fn builtins(&self) -> impl Iterator<Item = DetectorId> + '_ {
        self.rules
            .iter()
            .flat_map(|r| &r.detectors)
            .filter_map(|d| match d.source {
                Source::Builtin(id) => Some(id),
                _ => None,
            })
    }

    /// Whether any detector looks at file names.
    pub fn scans_names(&self) -> bool {
        self.rules
            .iter()
            .flat_map(|r| &r.detectors)
            .any(|d| d.scope.file_name())
    }

    /// Whether `name` is a custom detector's display name.
    pub fn is_custom(&self, name: &str) -> bool {
        self.rules
            .iter()
            .flat_map(|r| &r.detectors)
            .any(|d| !matches!(d.source, Source::Builtin(_)) && d.display == name)
    }

    /// The widest reach of any content detector (0 without rules).
    pub fn reach(&self) -> usize {
        self.rules
            .iter()
            .flat_map(|r| &r.detectors)
            .map(RuleDetector::reach)
            .max()
            .unwrap_or(0)
    }
}

impl fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.specs.fmt(f)
    }
}

impl PartialEq for RuleSet {
    fn eq(&self, other: &Self) -> bool {
        self.specs == other.specs
    }
}

impl Serialize for RuleSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.specs.serialize(s)
    }
}

/// A config rule must be named: the name is how errors, logs and
/// Nightfall's results refer to it.
fn compile_config_rule(spec: &RuleSpec) -> Result<Rule, String> {
    if spec.name.as_deref().is_none_or(str::is_empty) {
        return Err(
            "a rule needs a name (name = \"...\"): it names the rule in errors and results".into(),
        );
    }
    compile(spec, 0, Reader::Config)
}

/// One `[[scanner.rules]]` table, checked as it is read, so an error
/// points at its own table.
struct Checked(RuleSpec, Rule);

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Checked inside the table's own visit, so the error carries the
        // table's position rather than the whole array's.
        struct Table;
        impl<'de> serde::de::Visitor<'de> for Table {
            type Value = Checked;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rule table")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Checked, A::Error> {
                let spec =
                    RuleSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                let rule = compile_config_rule(&spec).map_err(serde::de::Error::custom)?;
                Ok(Checked(spec, rule))
            }
        }
        d.deserialize_map(Table)
    }
}

impl<'de> Deserialize<'de> for RuleSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (specs, rules) = Vec::<Checked>::deserialize(d)?
            .into_iter()
            .map(|Checked(s, r)| (s, r))
            .unzip();
        RuleSet::from_compiled(specs, rules).map_err(serde::de::Error::custom)
    }
}
