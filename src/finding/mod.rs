//! The words every part of dlpd shares about a scan: Nightfall's detector
//! names and five-level confidence scale, a finding located exactly in a
//! file, and what became of each file.
//!
//! A leaf: it imports nothing from the rest of the crate, so the config,
//! the engines, the store and every output can all speak it without
//! depending on one another.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub mod json;

/// Nightfall's confidence scale, ordered so `min_confidence` is a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Confidence {
    VeryUnlikely,
    Unlikely,
    Possible,
    Likely,
    VeryLikely,
}

impl Confidence {
    /// The wire name, as Nightfall spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::VeryUnlikely => "VERY_UNLIKELY",
            Confidence::Unlikely => "UNLIKELY",
            Confidence::Possible => "POSSIBLE",
            Confidence::Likely => "LIKELY",
            Confidence::VeryLikely => "VERY_LIKELY",
        }
    }

    /// Parses the wire name; used when reading the store back.
    pub fn parse(s: &str) -> Option<Confidence> {
        [
            Confidence::VeryUnlikely,
            Confidence::Unlikely,
            Confidence::Possible,
            Confidence::Likely,
            Confidence::VeryLikely,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }

    /// One level up, saturating: nearby keywords raise a candidate.
    pub fn raised(self) -> Confidence {
        match self {
            Confidence::VeryUnlikely => Confidence::Unlikely,
            Confidence::Unlikely => Confidence::Possible,
            Confidence::Possible => Confidence::Likely,
            Confidence::Likely | Confidence::VeryLikely => Confidence::VeryLikely,
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Detector ids are Nightfall's built-in detector names, so results from
/// either engine line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DetectorId {
    CreditCardNumber,
    UsSocialSecurityNumber,
    ApiKey,
    CryptographicKey,
    IbanCode,
    EmailAddress,
    PhoneNumber,
    IpAddress,
    UsBankRoutingMicr,
    UsEmployerIdentificationNumber,
    UsIndividualTaxpayerIdentificationNumber,
    UsPassport,
    DateOfBirth,
    DatabaseConnectionString,
    PasswordInCode,
    GcpCredentials,
    RandomlyGeneratedToken,
    UkNationalInsuranceNumber,
    CanadaSocialInsuranceNumber,
}

impl DetectorId {
    /// Every detector the local engine implements.
    pub const ALL: [DetectorId; 19] = [
        DetectorId::CreditCardNumber,
        DetectorId::UsSocialSecurityNumber,
        DetectorId::ApiKey,
        DetectorId::CryptographicKey,
        DetectorId::IbanCode,
        DetectorId::EmailAddress,
        DetectorId::PhoneNumber,
        DetectorId::IpAddress,
        DetectorId::UsBankRoutingMicr,
        DetectorId::UsEmployerIdentificationNumber,
        DetectorId::UsIndividualTaxpayerIdentificationNumber,
        DetectorId::UsPassport,
        DetectorId::DateOfBirth,
        DetectorId::DatabaseConnectionString,
        DetectorId::PasswordInCode,
        DetectorId::GcpCredentials,
        DetectorId::RandomlyGeneratedToken,
        DetectorId::UkNationalInsuranceNumber,
        DetectorId::CanadaSocialInsuranceNumber,
    ];

    /// The detectors on by default: the endpoint tutorial's three.
    pub const DEFAULT: [DetectorId; 3] = [
        DetectorId::CreditCardNumber,
        DetectorId::UsSocialSecurityNumber,
        DetectorId::ApiKey,
    ];

    /// The Nightfall enum name, e.g. `CREDIT_CARD_NUMBER`.
    pub fn as_str(self) -> &'static str {
        match self {
            DetectorId::CreditCardNumber => "CREDIT_CARD_NUMBER",
            DetectorId::UsSocialSecurityNumber => "US_SOCIAL_SECURITY_NUMBER",
            DetectorId::ApiKey => "API_KEY",
            DetectorId::CryptographicKey => "CRYPTOGRAPHIC_KEY",
            DetectorId::IbanCode => "IBAN_CODE",
            DetectorId::EmailAddress => "EMAIL_ADDRESS",
            DetectorId::PhoneNumber => "PHONE_NUMBER",
            DetectorId::IpAddress => "IP_ADDRESS",
            DetectorId::UsBankRoutingMicr => "US_BANK_ROUTING_MICR",
            DetectorId::UsEmployerIdentificationNumber => "US_EMPLOYER_IDENTIFICATION_NUMBER",
            DetectorId::UsIndividualTaxpayerIdentificationNumber => {
                "US_INDIVIDUAL_TAXPAYER_IDENTIFICATION_NUMBER"
            }
            DetectorId::UsPassport => "US_PASSPORT",
            DetectorId::DateOfBirth => "DATE_OF_BIRTH",
            DetectorId::DatabaseConnectionString => "DATABASE_CONNECTION_STRING",
            DetectorId::PasswordInCode => "PASSWORD_IN_CODE",
            DetectorId::GcpCredentials => "GCP_CREDENTIALS",
            DetectorId::RandomlyGeneratedToken => "RANDOMLY_GENERATED_TOKEN",
            DetectorId::UkNationalInsuranceNumber => "UK_NATIONAL_INSURANCE_NUMBER",
            DetectorId::CanadaSocialInsuranceNumber => "CANADA_SOCIAL_INSURANCE_NUMBER",
        }
    }

    /// Nightfall's display name for the same detector.
    pub fn display_name(self) -> &'static str {
        match self {
            DetectorId::CreditCardNumber => "Credit Card Number",
            DetectorId::UsSocialSecurityNumber => "US Social Security Number",
            DetectorId::ApiKey => "API Key",
            DetectorId::CryptographicKey => "Cryptographic Key",
            DetectorId::IbanCode => "IBAN Code",
            DetectorId::EmailAddress => "Email Address",
            DetectorId::PhoneNumber => "Phone Number",
            DetectorId::IpAddress => "IP Address",
            DetectorId::UsBankRoutingMicr => "US Bank Routing MICR",
            DetectorId::UsEmployerIdentificationNumber => "US Employer Identification Number",
            DetectorId::UsIndividualTaxpayerIdentificationNumber => {
                "US Individual Taxpayer Identification Number"
            }
            DetectorId::UsPassport => "US Passport",
            DetectorId::DateOfBirth => "Date of Birth",
            DetectorId::DatabaseConnectionString => "Database Connection String",
            DetectorId::PasswordInCode => "Password in Code",
            DetectorId::GcpCredentials => "GCP Credentials",
            DetectorId::RandomlyGeneratedToken => "Randomly Generated Token",
            DetectorId::UkNationalInsuranceNumber => "UK National Insurance Number",
            DetectorId::CanadaSocialInsuranceNumber => "Canada Social Insurance Number",
        }
    }

    /// Parses the Nightfall enum name; used when reading the store back.
    pub fn parse(s: &str) -> Option<DetectorId> {
        DetectorId::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl fmt::Display for DetectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a finding: a built-in detector, or a custom rule's REGEX or
/// WORD_LIST detector, known by its display name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Detector {
    Builtin(DetectorId),
    Custom(Arc<str>),
}

impl Detector {
    /// The name stored and shown: the Nightfall id, or the display name.
    pub fn as_str(&self) -> &str {
        match self {
            Detector::Builtin(id) => id.as_str(),
            Detector::Custom(name) => name,
        }
    }

    /// The name for people: Nightfall's display name, or the custom one.
    pub fn display_name(&self) -> &str {
        match self {
            Detector::Builtin(id) => id.display_name(),
            Detector::Custom(name) => name,
        }
    }

    /// Reads a stored name back; custom names never equal a built-in id
    /// (the config refuses them).
    pub fn parse(s: &str) -> Detector {
        DetectorId::parse(s).map_or_else(|| Detector::Custom(s.into()), Detector::Builtin)
    }

    /// The built-in detector, if it is one.
    pub fn builtin(&self) -> Option<DetectorId> {
        match self {
            Detector::Builtin(id) => Some(*id),
            Detector::Custom(_) => None,
        }
    }
}

impl From<DetectorId> for Detector {
    fn from(id: DetectorId) -> Detector {
        Detector::Builtin(id)
    }
}

impl PartialEq<DetectorId> for Detector {
    fn eq(&self, other: &DetectorId) -> bool {
        self.builtin() == Some(*other)
    }
}

/// Stored and configured by name: the built-in id, or the custom name.
impl Serialize for Detector {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Detector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Detector::parse(&s))
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A piece of text that may hold sensitive bytes, kept both raw and masked
/// so every output can pick the form its configuration allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sensitive {
    /// The text as found in the file.
    pub raw: String,
    /// The same text with every finding in it masked.
    pub masked: String,
}

impl Sensitive {
    /// Picks the raw or the masked form.
    pub fn shown(&self, show_values: bool) -> &str {
        if show_values { &self.raw } else { &self.masked }
    }
}

/// One match, located exactly in the file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which detector matched.
    pub detector: Detector,
    /// How sure the detector is, after context and placeholder adjustments.
    pub confidence: Confidence,
    /// Which family of secret, where the detector knows (e.g. "aws_access_key_id").
    pub kind: Option<&'static str>,
    /// The matched value; callers mask it unless told otherwise.
    pub value: Sensitive,
    /// Up to `context_bytes` before the match.
    pub before: Sensitive,
    /// Up to `context_bytes` after the match.
    pub after: Sensitive,
    /// Half-open byte range in the file.
    pub byte_start: u64,
    /// End of the half-open byte range.
    pub byte_end: u64,
    /// 1-based line of the first byte; 0 for a match in the file's name.
    pub line_start: u64,
    /// 1-based line of the last byte.
    pub line_end: u64,
    /// The member of an archive the finding is in (`dir/a.txt`, nested as
    /// `inner.zip!dir/a.txt`); the ranges and lines are within it.
    pub member: Option<String>,
    /// Row and column, for CSV and TSV files.
    pub table: Option<TablePos>,
}

/// Where a finding sits in tabular data: 1-based rows (the header is row 1)
/// and columns, as Nightfall's `rowRange` and `columnRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TablePos {
    pub row_start: u64,
    pub row_end: u64,
    pub column_start: u64,
    pub column_end: u64,
}

/// Why a file was not scanned although nothing went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// NUL bytes in the first block: not text this engine can read.
    Binary,
    /// Nothing to scan.
    Empty,
    /// Over `scanner.max_file_bytes`.
    TooLarge { size: u64, limit: u64 },
    /// A FIFO, socket or device: reading it could block or have side effects.
    NotRegular(&'static str),
    /// The remote engine does not scan this type of file; its words.
    Unsupported(String),
    /// The path matches `scanner.allow_paths`.
    Allowlisted,
    /// An archive that is damaged or crosses a `scanner.archive_*` limit.
    Archive(String),
    /// A document (PDF) whose text cannot be extracted.
    Document(String),
}

impl SkipReason {
    /// A short name of the kind of reason, for counts in a summary.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::Empty => "empty",
            SkipReason::TooLarge { .. } => "too large",
            SkipReason::NotRegular(_) => "not regular files",
            SkipReason::Unsupported(_) => "unsupported",
            SkipReason::Allowlisted => "allowlisted",
            SkipReason::Archive(_) => "unreadable archives",
            SkipReason::Document(_) => "unreadable documents",
        }
    }

    /// Whether a limit (or damage) kept the file from being read: content
    /// that may hold findings went unseen, so a gate should not call the
    /// file clean.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            SkipReason::TooLarge { .. } | SkipReason::Archive(_) | SkipReason::Document(_)
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::Binary => f.write_str("binary file (NUL bytes in the first block)"),
            SkipReason::Empty => f.write_str("empty file, nothing to scan"),
            SkipReason::TooLarge { size, limit } => write!(
                f,
                "file is {size} bytes, over scanner.max_file_bytes ({limit}); raise it to scan this file"
            ),
            SkipReason::NotRegular(kind) => write!(f, "not a regular file ({kind})"),
            SkipReason::Unsupported(why) => {
                write!(f, "Nightfall does not scan this file type: {why}")
            }
            SkipReason::Allowlisted => f.write_str("allowlisted by scanner.allow_paths"),
            SkipReason::Archive(why) => write!(f, "archive not scanned: {why}"),
            SkipReason::Document(why) => write!(f, "no text extracted: {why}"),
        }
    }
}

/// What became of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Read to the end; `findings` may be empty.
    Scanned { findings: Vec<Finding> },
    /// Deliberately not scanned.
    Skipped(SkipReason),
    /// Could not be read; the message says why and what to do.
    Failed(String),
}

/// Where a file sits: in a folder a sync client uploads, on removable
/// media, or only on this machine (see `crate::exposure`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    CloudSync,
    Removable,
    Local,
}

impl Exposure {
    pub fn as_str(self) -> &'static str {
        match self {
            Exposure::CloudSync => "cloud-sync",
            Exposure::Removable => "removable",
            Exposure::Local => "local",
        }
    }
}

impl std::fmt::Display for Exposure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file's result, with what the store needs to recognise it later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The path as it was reached.
    pub path: PathBuf,
    /// Size in bytes when opened (0 when unknown).
    pub size: u64,
    /// Modification time in nanoseconds since the epoch, when known.
    pub mtime_ns: Option<i64>,
    /// The file's owner (uid) when opened, when known.
    pub owner: Option<u32>,
    /// Where the file sits, once the daemon has placed it.
    pub exposure: Option<Exposure>,
    /// Hex SHA-256 of the bytes scanned, when hashing was asked for.
    pub sha256: Option<String>,
    /// When the scan finished.
    pub scanned_at: SystemTime,
    /// Which engine produced this report ("local", "nightfall").
    pub engine: &'static str,
    /// The remote upload this report came from, for the Nightfall engine.
    pub upload_id: Option<String>,
    /// The result.
    pub outcome: Outcome,
    /// Set when only the bytes past this offset were scanned (the file had
    /// only grown): the findings are those ending past it, and the earlier
    /// ones stored for the file still stand.
    pub grown_from: Option<u64>,
    /// Parts of a scanned file that were not read (archive members over a
    /// limit, or damaged), and why: the findings may not be all there are.
    pub partial: Vec<String>,
}

impl FileReport {
    /// A report stamped now, with nothing known about the file yet.
    pub fn new(path: &std::path::Path, engine: &'static str, outcome: Outcome) -> FileReport {
        FileReport {
            path: path.to_path_buf(),
            size: 0,
            mtime_ns: None,
            owner: None,
            exposure: None,
            sha256: None,
            scanned_at: SystemTime::now(),
            engine,
            upload_id: None,
            outcome,
            grown_from: None,
            partial: Vec::new(),
        }
    }

    /// The findings, empty unless the file was scanned.
    pub fn findings(&self) -> &[Finding] {
        match &self.outcome {
            Outcome::Scanned { findings } => findings,
            _ => &[],
        }
    }
}

/// The name as people write it (`likely`, `very-likely`, `api_key`) in
/// Nightfall's spelling (`LIKELY`, `VERY_LIKELY`, `API_KEY`).
pub fn wire_name(s: &str) -> String {
    s.trim().to_ascii_uppercase().replace('-', "_")
}

/// Reads a name in any case; a wrong one is refused with the right ones
/// listed (and the config reader adds the closest as a suggestion).
fn from_name<'de, D, T>(
    d: D,
    parse: fn(&str) -> Option<T>,
    names: &'static [&'static str],
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = String::deserialize(d)?;
    parse(&wire_name(&raw)).ok_or_else(|| serde::de::Error::unknown_variant(&raw, names))
}

impl<'de> Deserialize<'de> for Confidence {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &[
            "VERY_UNLIKELY",
            "UNLIKELY",
            "POSSIBLE",
            "LIKELY",
            "VERY_LIKELY",
        ];
        from_name(d, Confidence::parse, NAMES)
    }
}

impl<'de> Deserialize<'de> for DetectorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        static NAMES: std::sync::LazyLock<Vec<&'static str>> =
            std::sync::LazyLock::new(|| DetectorId::ALL.iter().map(|d| d.as_str()).collect());
        from_name(d, DetectorId::parse, &NAMES)
    }
}
