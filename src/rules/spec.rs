//! Rules as written: Nightfall's DetectionRule shape, camelCase, for the
//! config's `[[scanner.rules]]`, the rules sent inline to Nightfall, and
//! the text-scan API's `detectionRules`.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

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
