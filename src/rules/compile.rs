//! Turns a rule as written into a compiled [`Rule`], checking every key:
//! strictly for the config, as leniently as Nightfall for the API.

use std::collections::BTreeMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::bytes::{Regex, RegexBuilder};
use serde::de::IgnoredAny;

use super::spec::{
    ContextRuleSpec, DetectorSpec, ExclusionRuleSpec, RegexSpec, RuleSpec, WordListSpec,
};
use super::{
    ContextRule, Exclusion, MAX_WINDOW, Matcher, Reader, Rule, RuleDetector, RuleError, Scope,
    Source,
};
use crate::finding::{Confidence, DetectorId};

/// Largest compiled regex: enough for any sane pattern, not for a bomb.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles one rule; `index` numbers unnamed rules as Nightfall does.
pub fn compile(spec: &RuleSpec, index: usize, reader: Reader) -> Result<Rule, RuleError> {
    compile_rule(spec, index, reader).map_err(RuleError)
}

fn compile_rule(spec: &RuleSpec, index: usize, reader: Reader) -> Result<Rule, String> {
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
