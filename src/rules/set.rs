//! `[[scanner.rules]]` in the config: each table checked where it is read,
//! so an error points at its own line, and the set kept both as written and
//! compiled.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::compile::compile;
use super::spec::RuleSpec;
use super::{Reader, Rule, RuleDetector, RuleError, Source};
use crate::finding::DetectorId;

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
    pub fn new(specs: Vec<RuleSpec>) -> Result<RuleSet, RuleError> {
        let rules = specs
            .iter()
            .map(compile_config_rule)
            .collect::<Result<Vec<_>, _>>()?;
        RuleSet::from_compiled(specs, rules)
    }

    fn from_compiled(specs: Vec<RuleSpec>, rules: Vec<Rule>) -> Result<RuleSet, RuleError> {
        let mut names = std::collections::HashSet::new();
        for r in &rules {
            if !names.insert(r.name.as_str()) {
                return Err(RuleError(format!(
                    "two rules are named {:?}; names must differ",
                    r.name
                )));
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
fn compile_config_rule(spec: &RuleSpec) -> Result<Rule, RuleError> {
    if spec.name.as_deref().is_none_or(str::is_empty) {
        return Err(RuleError(
            "a rule needs a name (name = \"...\"): it names the rule in errors and results".into(),
        ));
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
