//! Rule packs: secret rules a user brings in another tool's format
//! (`[scanner] rule_packs`), today gitleaks' ([`gitleaks`]). dlpd ships no
//! one else's rules; docs/rule-packs.md says how to get a pack.
//!
//! A pack of a few hundred rules must stay fast, so the rules' keywords
//! are one Aho-Corasick automaton, and a rule's regex runs only within
//! [`REACH`] bytes of one of its keywords. Rules without keywords run
//! over the whole block.

mod gitleaks;

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::bytes::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How far from a keyword a rule's match may lie, either way: enough for
/// a whole PEM private key (a 4096-bit RSA key is about 3.3 KB) after its
/// `-----BEGIN` keyword. It is also what the engine's block overlap allows
/// a pack match.
pub const REACH: usize = 4096;

/// A pack that could not be loaded: which file, and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("rule pack {path}: {what}")]
pub struct PackError {
    pub path: PathBuf,
    pub what: String,
}

/// One rule of a pack.
pub struct PackRule {
    /// What its findings are called.
    pub id: String,
    regex: Option<Regex>,
    /// The capture group that is the secret; 0: the first group that
    /// matched, or the whole match.
    secret_group: usize,
    /// Least Shannon entropy of the secret, if any.
    entropy: Option<f64>,
    /// Lower-cased; empty: the rule runs everywhere.
    keywords: Vec<String>,
    /// Files the rule applies to; a rule with no regex reports the file.
    path: Option<Regex>,
    allows: Vec<Allow>,
}

/// An allowlist: a match it covers is not reported.
pub struct Allow {
    /// All given criteria must hold (`condition = "AND"`), not any.
    and: bool,
    /// It needs a commit, which files do not have: it covers nothing.
    commits_only: bool,
    paths: Vec<Regex>,
    regexes: Vec<Regex>,
    target: Target,
    /// Lower-cased words that, in a secret, mark it as not one.
    stopwords: Vec<String>,
    /// For a global allowlist: the rules it is for (`targetRules`); empty: all.
    rules: Vec<String>,
}

/// What an allowlist's regexes are matched against.
#[derive(Clone, Copy)]
enum Target {
    Secret,
    Match,
    Line,
}

/// A pack rule's match: the rule's index and the secret's range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackHit {
    pub rule: usize,
    pub range: Range<usize>,
}

/// The configured packs, compiled when the config is read.
#[derive(Clone, Default)]
pub struct RulePacks {
    paths: Vec<PathBuf>,
    compiled: Option<Arc<Compiled>>,
}

struct Compiled {
    rules: Vec<PackRule>,
    global: Vec<Allow>,
    /// Every rule's keywords, matched ignoring ASCII case.
    keywords: Option<AhoCorasick>,
    /// For each keyword pattern, the rules that list it.
    keyword_rules: Vec<Vec<usize>>,
    /// Rules that run over the whole block.
    everywhere: Vec<usize>,
}

impl RulePacks {
    /// Loads and compiles the packs at `paths`; warnings (a pack that
    /// extends gitleaks' own rules) are logged.
    pub fn load(paths: Vec<PathBuf>) -> Result<RulePacks, PackError> {
        if paths.is_empty() {
            return Ok(RulePacks::default());
        }
        let mut rules = Vec::new();
        let mut global = Vec::new();
        for path in &paths {
            let loaded = gitleaks::load(path, 4)?;
            if loaded.extends_default {
                tracing::warn!(pack = %path.display(), "the pack extends gitleaks' built-in rules ([extend] useDefault), which dlpd does not ship; only the pack's own rules are loaded");
            }
            rules.extend(loaded.rules);
            global.extend(loaded.global);
        }
        let mut patterns: Vec<String> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        let mut everywhere = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            if r.regex.is_none() {
                continue;
            }
            if r.keywords.iter().all(String::is_empty) {
                everywhere.push(i);
            }
            for k in r.keywords.iter().filter(|k| !k.is_empty()) {
                match patterns.iter().position(|p| p == k) {
                    Some(at) => keyword_rules[at].push(i),
                    None => {
                        patterns.push(k.clone());
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        let keywords = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)
            })
            .transpose()
            .map_err(|e| PackError {
                path: paths[0].clone(),
                what: format!("keywords: {e}"),
            })?;
        Ok(RulePacks {
            paths,
            compiled: Some(Arc::new(Compiled {
                rules,
                global,
                keywords,
                keyword_rules,
                everywhere,
            })),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.compiled.as_ref().is_none_or(|c| c.rules.is_empty())
    }

    /// Whether no pack is configured (what the config writes back).
    pub fn is_unset(&self) -> bool {
        self.paths.is_empty()
    }

    /// Whether a rule of this id is loaded (a remediation rule may name it).
    pub fn has_rule(&self, id: &str) -> bool {
        self.compiled
            .as_ref()
            .is_some_and(|c| c.rules.iter().any(|r| r.id == id))
    }

    /// The id of rule `i`, as its findings name it.
    pub fn id(&self, i: usize) -> &str {
        self.compiled
            .as_ref()
            .map_or("", |c| c.rules[i].id.as_str())
    }

    /// How far a match can lie from where a block's scan starts looking.
    pub fn reach(&self) -> usize {
        if self.is_empty() { 0 } else { REACH }
    }

    /// The rules whose `path` alone reports a file, matched against its
    /// path (or an archive member's).
    pub fn path_hits(&self, path: &[u8]) -> Vec<usize> {
        let Some(c) = &self.compiled else {
            return Vec::new();
        };
        (0..c.rules.len())
            .filter(|&i| {
                let r = &c.rules[i];
                r.regex.is_none()
                    && r.path.as_ref().is_some_and(|p| p.is_match(path))
                    && !c.allowed(i, path, path, path, path)
            })
            .collect()
    }

    /// The pack matches in `hay` whose secret starts in `owned`; `path` is
    /// the file's (or member's) path, for rules and allowlists with paths.
    pub fn find(&self, hay: &[u8], owned: Range<usize>, path: Option<&[u8]>) -> Vec<PackHit> {
        let Some(c) = &self.compiled else {
            return Vec::new();
        };
        let path = path.unwrap_or_default();
        // Windows around each keyword, merged as the hits come (they come
        // in order), then handed to the rules that list the keyword: memory
        // and time stay proportional to the text, not to hits times rules.
        let mut per_keyword: Vec<Vec<Range<usize>>> = vec![Vec::new(); c.keyword_rules.len()];
        if let Some(ac) = &c.keywords {
            for m in ac.find_overlapping_iter(hay) {
                let lo = m.start().saturating_sub(REACH);
                let hi = (m.end() + REACH).min(hay.len());
                let list = &mut per_keyword[m.pattern().as_usize()];
                match list.last_mut() {
                    Some(w) if lo <= w.end => w.end = w.end.max(hi),
                    _ => list.push(lo..hi),
                }
            }
        }
        let mut windows: Vec<(usize, Range<usize>)> = Vec::new();
        for (k, list) in per_keyword.iter().enumerate() {
            for &r in &c.keyword_rules[k] {
                windows.extend(list.iter().map(|w| (r, w.clone())));
            }
        }
        windows.extend(c.everywhere.iter().map(|&r| (r, 0..hay.len())));
        windows.sort_by_key(|(r, w)| (*r, w.start));
        let mut merged: Vec<(usize, Range<usize>)> = Vec::new();
        for (r, w) in windows {
            match merged.last_mut() {
                Some((last, m)) if *last == r && w.start <= m.end => m.end = m.end.max(w.end),
                _ => merged.push((r, w)),
            }
        }
        let mut hits = Vec::new();
        for (i, w) in merged {
            let rule = &c.rules[i];
            let (Some(re), true) = (
                &rule.regex,
                rule.path.as_ref().is_none_or(|p| p.is_match(path)),
            ) else {
                continue;
            };
            for caps in re.captures_iter(&hay[w.clone()]) {
                let whole = caps.get(0).expect("group 0 is the match");
                let secret = match rule.secret_group {
                    0 => caps
                        .iter()
                        .skip(1)
                        .flatten()
                        .find(|g| !g.is_empty())
                        .unwrap_or(whole),
                    g => match caps.get(g) {
                        Some(m) => m,
                        None => continue,
                    },
                };
                let range = w.start + secret.start()..w.start + secret.end();
                if !owned.contains(&range.start) || range.is_empty() {
                    continue;
                }
                let text = &hay[range.clone()];
                if rule.entropy.is_some_and(|min| shannon(text) <= min) {
                    continue;
                }
                let matched = &hay[w.start + whole.start()..w.start + whole.end()];
                let line = line_around(hay, range.clone());
                if c.allowed(i, path, text, matched, line) {
                    continue;
                }
                hits.push(PackHit { rule: i, range });
            }
        }
        hits.sort_by_key(|h| (h.range.start, h.rule));
        hits.dedup();
        hits
    }
}

impl Compiled {
    /// Whether an allowlist of rule `i`, or a global one for it, covers
    /// a match.
    fn allowed(&self, i: usize, path: &[u8], secret: &[u8], matched: &[u8], line: &[u8]) -> bool {
        let rule = &self.rules[i];
        let global = self
            .global
            .iter()
            .filter(|a| a.rules.is_empty() || a.rules.contains(&rule.id));
        rule.allows
            .iter()
            .chain(global)
            .any(|a| a.covers(path, secret, matched, line))
    }
}

impl Allow {
    fn covers(&self, path: &[u8], secret: &[u8], matched: &[u8], line: &[u8]) -> bool {
        if self.commits_only {
            return false;
        }
        let target = match self.target {
            Target::Secret => secret,
            Target::Match => matched,
            Target::Line => line,
        };
        let lower = String::from_utf8_lossy(secret).to_lowercase();
        let checks = [
            (!self.paths.is_empty()).then(|| self.paths.iter().any(|p| p.is_match(path))),
            (!self.regexes.is_empty()).then(|| self.regexes.iter().any(|r| r.is_match(target))),
            (!self.stopwords.is_empty())
                .then(|| self.stopwords.iter().any(|s| lower.contains(s.as_str()))),
        ];
        let mut given = checks.iter().flatten().peekable();
        if given.peek().is_none() {
            return false;
        }
        if self.and {
            given.all(|c| *c)
        } else {
            given.any(|c| *c)
        }
    }
}

/// The line holding `range`, as an allowlist with `regexTarget = "line"`
/// sees it.
fn line_around(hay: &[u8], range: Range<usize>) -> &[u8] {
    let start = memchr::memrchr(b'\n', &hay[..range.start]).map_or(0, |i| i + 1);
    let end = memchr::memchr(b'\n', &hay[range.end..]).map_or(hay.len(), |i| range.end + i);
    &hay[start..end]
}

/// Shannon entropy in bits per character, over characters as gitleaks
/// counts them (not bytes).
fn shannon(secret: &[u8]) -> f64 {
    let text = String::from_utf8_lossy(secret);
    let mut counts = std::collections::HashMap::new();
    let mut n = 0.0;
    for ch in text.chars() {
        *counts.entry(ch).or_insert(0.0) += 1.0;
        n += 1.0;
    }
    counts
        .values()
        .map(|&c: &f64| {
            let p = c / n;
            -p * p.log2()
        })
        .sum()
}

impl std::fmt::Debug for RulePacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.paths.fmt(f)
    }
}

impl PartialEq for RulePacks {
    fn eq(&self, other: &Self) -> bool {
        self.paths == other.paths
    }
}

impl Serialize for RulePacks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.paths.serialize(s)
    }
}

/// Read as a list of paths, each loaded and compiled on the spot, so a bad
/// pack is an error at the config key that names it.
impl<'de> Deserialize<'de> for RulePacks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let paths = Vec::<PathBuf>::deserialize(d)?;
        RulePacks::load(paths).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_counts_characters() {
        assert_eq!(shannon(b"aaaa"), 0.0);
        assert!((shannon(b"abcd") - 2.0).abs() < 1e-9);
    }
}
