//! The gitleaks configuration format, read unmodified: `[[rules]]` with
//! `regex`, `secretGroup`, `entropy`, `keywords` and `path`, and the
//! allowlists (`[allowlist]`, `[[allowlists]]`, per rule
//! `[rules.allowlist]` and `[[rules.allowlists]]`) with `regexes`,
//! `regexTarget`, `stopwords`, `paths`, `commits` and `condition`.
//!
//! Regexes are Go's RE2 syntax, which the `regex` crate reads; like Go,
//! `\w`, `\d`, `\s` and `\b` are ASCII. Unknown keys are ignored, so
//! packs written for newer gitleaks versions still load.

use std::path::Path;

use regex::bytes::{Regex, RegexBuilder};
use serde::Deserialize;

use super::{Allow, PackError, PackRule, Target};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct File {
    #[serde(default)]
    extend: Option<Extend>,
    #[serde(default)]
    allowlist: Option<AllowSpec>,
    #[serde(default)]
    allowlists: Vec<AllowSpec>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Extend {
    #[serde(default)]
    use_default: bool,
    path: Option<String>,
    #[serde(default)]
    disabled_rules: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RuleSpec {
    id: String,
    regex: Option<String>,
    secret_group: Option<usize>,
    entropy: Option<f64>,
    #[serde(default)]
    keywords: Vec<String>,
    path: Option<String>,
    #[serde(default)]
    allowlist: Option<AllowSpec>,
    #[serde(default)]
    allowlists: Vec<AllowSpec>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AllowSpec {
    condition: Option<String>,
    #[serde(default)]
    commits: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    regexes: Vec<String>,
    regex_target: Option<String>,
    #[serde(default)]
    stopwords: Vec<String>,
    #[serde(default)]
    target_rules: Vec<String>,
}

/// What one pack file holds, compiled.
pub struct Loaded {
    pub rules: Vec<PackRule>,
    pub global: Vec<Allow>,
    /// Set when the pack extends gitleaks' own default rules, which dlpd
    /// does not ship.
    pub extends_default: bool,
}

/// A pack as read, its rules not yet compiled: an overlay's rule merges
/// into the rule of the same id it extends before either is checked.
struct Read {
    /// Each rule with the file that last defined it, for errors.
    specs: Vec<(std::path::PathBuf, RuleSpec)>,
    global: Vec<Allow>,
    disabled: Vec<String>,
    extends_default: bool,
}

/// Reads and compiles the pack at `path`, and any pack its `[extend]`
/// names (relative to it), at most `depth` levels down.
pub fn load(path: &Path, depth: u32) -> Result<Loaded, PackError> {
    let read = read(path, depth)?;
    let mut rules = Vec::with_capacity(read.specs.len());
    for (file, spec) in read.specs {
        if read.disabled.contains(&spec.id) {
            continue;
        }
        let id = spec.id.clone();
        rules.push(rule(spec).map_err(|e| PackError {
            path: file,
            what: format!("rule {id:?}: {e}"),
        })?);
    }
    Ok(Loaded {
        rules,
        global: read.global,
        extends_default: read.extends_default,
    })
}

fn read(path: &Path, depth: u32) -> Result<Read, PackError> {
    let fail = |what: String| PackError {
        path: path.to_path_buf(),
        what,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let file: File = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        let line = text[..at].matches('\n').count() + 1;
        fail(format!("line {line}: {}", e.message()))
    })?;
    let mut read = Read {
        specs: Vec::new(),
        global: Vec::new(),
        disabled: Vec::new(),
        extends_default: false,
    };
    if let Some(extend) = file.extend {
        read.extends_default = extend.use_default;
        read.disabled = extend.disabled_rules;
        if let Some(base) = extend.path {
            if depth == 0 {
                return Err(fail(format!(
                    "[extend] path {base:?}: packs extend each other too deeply"
                )));
            }
            let base = path.parent().unwrap_or(Path::new(".")).join(base);
            let inner = self::read(&base, depth - 1)?;
            read.extends_default |= inner.extends_default;
            read.specs = inner.specs;
            read.global = inner.global;
            read.disabled.extend(inner.disabled);
        }
    }
    for spec in file.allowlist.into_iter().chain(file.allowlists) {
        let targets = spec.target_rules.clone();
        let allow = allow(spec).map_err(|e| fail(format!("global allowlist: {e}")))?;
        // With targetRules it is for those rules only.
        read.global.push(Allow {
            rules: targets,
            ..allow
        });
    }
    for spec in file.rules {
        match read.specs.iter_mut().find(|(_, base)| base.id == spec.id) {
            // As gitleaks does: what the overlay gives replaces, keywords
            // and allowlists add up.
            Some((file, base)) => {
                merge(base, spec);
                *file = path.to_path_buf();
            }
            None => read.specs.push((path.to_path_buf(), spec)),
        }
    }
    Ok(read)
}

/// Merges an overlay's rule into the rule of the same id it extends.
fn merge(base: &mut RuleSpec, overlay: RuleSpec) {
    if overlay.regex.is_some() {
        base.regex = overlay.regex;
    }
    if overlay.secret_group.is_some() {
        base.secret_group = overlay.secret_group;
    }
    if overlay.entropy.is_some() {
        base.entropy = overlay.entropy;
    }
    if overlay.path.is_some() {
        base.path = overlay.path;
    }
    for k in overlay.keywords {
        if !base.keywords.contains(&k) {
            base.keywords.push(k);
        }
    }
    base.allowlists
        .extend(overlay.allowlist.into_iter().chain(overlay.allowlists));
}

/// Compiles a regex as Go would read it: ASCII classes unless it needs
/// Unicode ones (`\p{L}`).
pub fn compile(pattern: &str) -> Result<Regex, String> {
    let build = |unicode: bool| {
        RegexBuilder::new(pattern)
            .unicode(unicode)
            .size_limit(16 << 20)
            .dfa_size_limit(16 << 20)
            .build()
    };
    build(false)
        .or_else(|_| build(true))
        .map_err(|e| format!("regex {pattern:?}: {e}"))
}

fn rule(spec: RuleSpec) -> Result<PackRule, String> {
    if spec.id.is_empty() {
        return Err("a rule needs an id".into());
    }
    // An empty regex with a path is a path-only rule, as gitleaks reads it.
    let pattern = spec.regex.as_deref().filter(|r| !r.is_empty());
    if pattern.is_none() && spec.path.is_none() {
        return Err("a rule needs a regex, a path, or both".into());
    }
    let regex = pattern.map(compile).transpose()?;
    let secret_group = spec.secret_group.unwrap_or(0);
    if let Some(re) = &regex
        && secret_group >= re.captures_len()
    {
        return Err(format!(
            "secretGroup {secret_group} but the regex has {} groups",
            re.captures_len() - 1
        ));
    }
    let allows = spec
        .allowlist
        .into_iter()
        .chain(spec.allowlists)
        .map(allow)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("allowlist: {e}"))?;
    Ok(PackRule {
        id: spec.id,
        regex,
        secret_group,
        entropy: spec.entropy.filter(|e| *e > 0.0),
        // Matched ignoring ASCII case, as the automaton does.
        keywords: spec
            .keywords
            .iter()
            .map(|k| k.to_ascii_lowercase())
            .collect(),
        path: spec.path.as_deref().map(compile).transpose()?,
        allows,
    })
}

fn allow(spec: AllowSpec) -> Result<Allow, String> {
    let and = match spec
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("OR") => false,
        Some("AND") => true,
        Some(other) => return Err(format!("condition {other:?} is neither \"OR\" nor \"AND\"")),
    };
    let target = match spec.regex_target.as_deref() {
        None | Some("secret") | Some("") => Target::Secret,
        Some("match") => Target::Match,
        Some("line") => Target::Line,
        Some(other) => {
            return Err(format!(
                "regexTarget {other:?} is not \"secret\", \"match\" or \"line\""
            ));
        }
    };
    let compile_all = |v: &[String]| v.iter().map(|p| compile(p)).collect::<Result<Vec<_>, _>>();
    // Files have no commits: an allowlist that needs a commit (its only
    // criterion, or one of all with AND) covers nothing.
    let needs_commit = !spec.commits.is_empty()
        && (and || (spec.paths.is_empty() && spec.regexes.is_empty() && spec.stopwords.is_empty()));
    Ok(Allow {
        and,
        commits_only: needs_commit,
        paths: compile_all(&spec.paths)?,
        regexes: compile_all(&spec.regexes)?,
        target,
        stopwords: spec.stopwords.iter().map(|s| s.to_lowercase()).collect(),
        rules: Vec::new(),
    })
}
