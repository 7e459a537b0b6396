//! A finding in Nightfall's JSON shape, typed once for every place it
//! crosses the wire: the findings document Nightfall's file scans point to
//! (read), the text-scan API's answer and `dlpd scan`'s JSON lines
//! (written). Each writer fills the fields its output has; the rest stay
//! out of the JSON.

use serde::{Deserialize, Serialize};

use super::Confidence;

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonFinding {
    /// The file it is in (dlpd's outputs); in Nightfall's findings
    /// document, the member path inside an archive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The archive member, page or sheet (dlpd's outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The matched value, or "" when a redaction removes it.
    #[serde(default)]
    pub finding: String,
    pub detector: JsonDetector,
    pub confidence: Confidence,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_finding: Option<String>,
    /// Nightfall leaves an empty context out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_context: Option<String>,
    pub location: Location,
    /// Where the replacement sits in the redacted text (text scans).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted_location: Option<Location>,
    #[serde(
        default,
        rename = "matchedDetectionRuleUUIDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub matched_detection_rule_uuids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_detection_rules: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finding_metadata: Option<FindingMetadata>,
    /// When the file was scanned, RFC 3339 (dlpd's outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scanned_at: Option<String>,
    /// Which engine found it (dlpd's outputs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    #[serde(default, rename = "uploadID", skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `detector`: its display name, with dlpd's id or Nightfall's UUID.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JsonDetector {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

/// `location`: exact byte ranges, and what else the output knows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub byte_range: Span,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codepoint_range: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_range: Option<Span>,
    /// Always written (null outside tables), as Nightfall does.
    #[serde(default)]
    pub row_range: Option<Span>,
    #[serde(default)]
    pub column_range: Option<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_author: Option<String>,
    /// A rule with scope File matched the file's name (dlpd's outputs).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_file_name: bool,
}

/// A half-open range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: u64,
    pub end: u64,
}

impl Span {
    pub fn new(start: impl TryInto<u64>, end: impl TryInto<u64>) -> Span {
        Span {
            start: start.try_into().unwrap_or(u64::MAX),
            end: end.try_into().unwrap_or(u64::MAX),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_metadata: Option<ApiKeyMetadata>,
}

/// What Nightfall says of an API key; dlpd fills in the family (`kind`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FindingMetadata {
    /// The metadata of an API key of family `kind`.
    pub fn api_key(kind: &str) -> FindingMetadata {
        FindingMetadata {
            api_key_metadata: Some(ApiKeyMetadata {
                kind: Some(kind.to_string()),
                ..ApiKeyMetadata::default()
            }),
        }
    }

    /// The key's family, if given.
    pub fn kind(&self) -> Option<&str> {
        self.api_key_metadata.as_ref()?.kind.as_deref()
    }
}
