//! SARIF 2.1.0, the format code-scanning tools read (GitHub, GitLab, Azure
//! DevOps). One document per scan, written as findings arrive: the results
//! stream out and the rules, which are only known at the end, follow them.
//!
//! Every result carries the masked value only, whatever `--show-values`
//! says: SARIF files are uploaded and kept. Its partial fingerprint is the
//! one [`super::baseline`] compares, so a SARIF report works as a baseline.

use std::collections::BTreeMap;
use std::io::{self, Write};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::{Value, json};

use super::FindingRecord;
use super::baseline::{FINGERPRINT_KEY, fingerprint};
use crate::finding::{Confidence, Detector};

/// What a URI reference may not hold unescaped (RFC 3986), `/` excepted.
const URI_ESCAPE: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// A SARIF log being written: results so far and the rules they used.
pub struct Sarif {
    started: bool,
    rules: BTreeMap<String, Detector>,
}

impl Sarif {
    pub fn new() -> Sarif {
        Sarif {
            started: false,
            rules: BTreeMap::new(),
        }
    }

    /// Writes one result.
    pub fn write(&mut self, out: &mut impl Write, r: &FindingRecord) -> io::Result<()> {
        if self.started {
            out.write_all(b",\n")?;
        } else {
            self.head(out)?;
        }
        if !self.rules.contains_key(r.detector.as_str()) {
            self.rules
                .insert(r.detector.as_str().to_string(), r.detector.clone());
        }
        serde_json::to_writer(&mut *out, &result(r))?;
        Ok(())
    }

    /// Ends the document: the rules and the tool after the results.
    pub fn finish(&mut self, out: &mut impl Write) -> io::Result<()> {
        if !self.started {
            self.head(out)?;
        }
        let rules: Vec<Value> = self.rules.values().map(rule).collect();
        let tool = json!({
            "driver": {
                "name": "dlpd",
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }
        });
        out.write_all(b"\n],\"tool\":")?;
        serde_json::to_writer(&mut *out, &tool)?;
        out.write_all(b"}]}\n")
    }

    fn head(&mut self, out: &mut impl Write) -> io::Result<()> {
        self.started = true;
        out.write_all(
            b"{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\
              \"version\":\"2.1.0\",\"runs\":[{\"results\":[\n",
        )
    }
}

/// `error` for findings people act on, `warning` for possible ones, `note`
/// below: what code-scanning tools sort and gate on.
fn level(c: Confidence) -> &'static str {
    match c {
        Confidence::VeryLikely | Confidence::Likely => "error",
        Confidence::Possible => "warning",
        Confidence::Unlikely | Confidence::VeryUnlikely => "note",
    }
}

fn rule(d: &Detector) -> Value {
    let (id, name) = (d.as_str(), d.display_name());
    let builtin = d.builtin().is_some();
    json!({
        "id": id,
        "shortDescription": {"text": name},
        "fullDescription": {"text": if builtin {
            format!("{name}: a value dlpd's {id} detector recognises, stored or shared where it should not be.")
        } else {
            format!("{name}: a value matching the custom rule {id}.")
        }},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "data-loss-prevention"]},
    })
}

/// The path as a URI reference: relative paths stay relative (code-scanning
/// tools resolve them against the checkout), absolute ones become `file:`.
pub fn uri(path: &str) -> String {
    let encoded = utf8_percent_encode(path.trim_start_matches("./"), URI_ESCAPE).to_string();
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else if encoded
        .split('/')
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        // `notes:v2.txt` would read as a URI with the scheme `notes`.
        format!("./{encoded}")
    } else {
        encoded
    }
}

fn result(r: &FindingRecord) -> Value {
    let mut physical = json!({"artifactLocation": {"uri": uri(&r.path)}});
    // Line 0 is a match on the file's name; a member's lines and bytes are
    // the member's, not the file's, so they are named in the message only.
    if r.line_start > 0 && r.member.is_none() {
        physical["region"] = json!({
            "startLine": r.line_start,
            "endLine": r.line_end.max(r.line_start),
            "byteOffset": r.byte_start,
            "byteLength": r.byte_end.saturating_sub(r.byte_start),
            "snippet": {"text": r.redacted},
        });
    }
    let place = match &r.member {
        Some(m) => format!(" in {m}, line {}", r.line_start),
        None if r.line_start == 0 => " in the file's name".to_string(),
        None => String::new(),
    };
    let mut properties = json!({"confidence": r.confidence.as_str()});
    if let Some(kind) = &r.kind {
        properties["kind"] = json!(kind);
    }
    if let Some(member) = &r.member {
        properties["member"] = json!(member);
    }
    if let Some(sha) = &r.sha256 {
        properties["sha256"] = json!(sha);
    }
    json!({
        "ruleId": r.detector.as_str(),
        "level": level(r.confidence),
        "message": {"text": format!(
            "{} ({}){place}: {}",
            r.detector.display_name(),
            r.confidence.as_str(),
            r.redacted
        )},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(&r.path, r.detector.as_str(), r.kind.as_deref(), &r.redacted)},
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_escaped_and_absolute_paths_are_file_uris() {
        assert_eq!(uri("./src/a b#c.txt"), "src/a%20b%23c.txt");
        assert_eq!(uri("/home/u/100%.csv"), "file:///home/u/100%25.csv");
        assert_eq!(uri("d/é.txt"), "d/%C3%A9.txt");
        assert_eq!(uri("notes:v2.txt"), "./notes:v2.txt");
        assert_eq!(uri("d/a:b"), "d/a:b");
    }
}
