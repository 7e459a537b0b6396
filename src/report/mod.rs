//! Findings as they leave dlpd: one record type, rendered as JSON lines
//! (Nightfall's field names), RFC 4180 CSV, SARIF, or a table for people.
//!
//! `dlpd scan`, `dlpd findings` and the CSV log all go through here, so a
//! column or a field is named in exactly one place.

pub mod baseline;
mod sarif;

use std::io::{self, Write};
use std::time::SystemTime;

use crate::finding::json::{FindingMetadata, JsonDetector, JsonFinding, Location, Span};
use crate::finding::{Confidence, Detector, FileReport, Finding};

/// The CSV columns, in order.
pub const CSV_HEADER: [&str; 13] = [
    "scanned_at",
    "path",
    "detector",
    "confidence",
    "finding",
    "before_context",
    "after_context",
    "byte_start",
    "byte_end",
    "line",
    "engine",
    "upload_id",
    "sha256",
];

/// One finding with its file, in the form it is shown or stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRecord {
    pub path: String,
    pub detector: Detector,
    pub confidence: Confidence,
    /// Which family of secret, where known (e.g. "aws_access_key_id").
    pub kind: Option<String>,
    /// The value, masked unless the caller chose to show values.
    pub finding: String,
    /// The value, always masked.
    pub redacted: String,
    pub before: String,
    pub after: String,
    pub byte_start: u64,
    pub byte_end: u64,
    pub line_start: u64,
    pub line_end: u64,
    /// The archive member the finding is in, if any.
    pub member: Option<String>,
    /// Row and column in CSV and TSV files.
    pub table: Option<crate::finding::TablePos>,
    pub scanned_at: SystemTime,
    pub engine: String,
    pub upload_id: Option<String>,
    pub sha256: Option<String>,
}

impl FindingRecord {
    /// Builds the record for `finding` in `report`; `show_values` picks the
    /// raw or the masked forms.
    pub fn new(report: &FileReport, finding: &Finding, show_values: bool) -> FindingRecord {
        FindingRecord {
            path: report.path.to_string_lossy().into_owned(),
            detector: finding.detector.clone(),
            confidence: finding.confidence,
            kind: finding.kind.map(str::to_string),
            finding: finding.value.shown(show_values).to_string(),
            redacted: finding.value.masked.clone(),
            before: finding.before.shown(show_values).to_string(),
            after: finding.after.shown(show_values).to_string(),
            byte_start: finding.byte_start,
            byte_end: finding.byte_end,
            line_start: finding.line_start,
            line_end: finding.line_end,
            member: finding.member.clone(),
            table: finding.table,
            scanned_at: report.scanned_at,
            engine: report.engine.to_string(),
            upload_id: report.upload_id.clone(),
            sha256: report.sha256.clone(),
        }
    }

    /// `path:line`, or `archive!member:line`, as the table shows it.
    fn place(&self) -> String {
        match &self.member {
            Some(m) => format!("{}!{m}:{}", self.path, self.line_start),
            None => format!("{}:{}", self.path, self.line_start),
        }
    }

    /// Nightfall's finding shape, plus the file it was found in.
    pub fn to_json(&self) -> JsonFinding {
        // Nightfall leaves empty contexts out.
        let context = |c: &String| (!c.is_empty()).then(|| c.clone());
        let span = |start, end| Some(Span { start, end });
        JsonFinding {
            path: Some(self.path.clone()),
            member: self.member.clone(),
            finding: self.finding.clone(),
            detector: JsonDetector {
                name: self.detector.display_name().to_string(),
                id: Some(self.detector.as_str().to_string()),
                uuid: None,
            },
            confidence: self.confidence,
            redacted_finding: Some(self.redacted.clone()),
            before_context: context(&self.before),
            after_context: context(&self.after),
            location: Location {
                byte_range: Span::new(self.byte_start, self.byte_end),
                line_range: span(self.line_start, self.line_end),
                row_range: self.table.and_then(|t| span(t.row_start, t.row_end)),
                column_range: self.table.and_then(|t| span(t.column_start, t.column_end)),
                // Line 0: a rule with scope File matched the file's name.
                in_file_name: self.line_start == 0,
                ..Location::default()
            },
            redacted_location: None,
            matched_detection_rule_uuids: None,
            matched_detection_rules: None,
            finding_metadata: self.kind.as_deref().map(FindingMetadata::api_key),
            scanned_at: Some(rfc3339(self.scanned_at)),
            engine: Some(self.engine.clone()),
            upload_id: self.upload_id.clone(),
            sha256: self.sha256.clone(),
        }
    }

    /// The CSV cells, in [`CSV_HEADER`] order.
    pub fn csv_cells(&self) -> [String; 13] {
        [
            rfc3339(self.scanned_at),
            // The columns are fixed once a CSV exists: a member goes with
            // its archive's path, as `archive.zip!dir/a.txt`.
            one_line(&match &self.member {
                Some(m) => format!("{}!{m}", self.path),
                None => self.path.clone(),
            }),
            self.detector.as_str().to_string(),
            self.confidence.as_str().to_string(),
            one_line(&self.finding),
            one_line(&self.before),
            one_line(&self.after),
            self.byte_start.to_string(),
            self.byte_end.to_string(),
            self.line_start.to_string(),
            self.engine.clone(),
            self.upload_id.clone().unwrap_or_default(),
            self.sha256.clone().unwrap_or_default(),
        ]
    }
}

/// A cell with its line breaks written as `\r` and `\n`, so that one
/// finding is one line of the CSV for `tail -f` and `grep`.
fn one_line(cell: &str) -> String {
    if cell.contains(['\r', '\n']) {
        cell.replace('\r', "\\r").replace('\n', "\\n")
    } else {
        cell.to_string()
    }
}

/// RFC 3339 in UTC, to the second.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Appends one RFC 4180 row (CRLF-terminated) to `out`. Cells that a
/// spreadsheet would run as a formula get a leading `'`.
pub fn csv_row<S: AsRef<str>>(out: &mut Vec<u8>, cells: &[S]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cell = cell.as_ref();
        let neutral = matches!(
            cell.as_bytes().first(),
            Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
        );
        let quote = neutral || cell.contains([',', '"', '\r', '\n']);
        if quote {
            out.push(b'"');
        }
        if neutral {
            out.push(b'\'');
        }
        for b in cell.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        if quote {
            out.push(b'"');
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per line, with Nightfall's field names.
    Jsonl,
    /// RFC 4180 CSV with a header row.
    Csv,
    /// Aligned columns for a terminal.
    Table,
    /// SARIF 2.1.0 for code-scanning tools; values are always masked.
    Sarif,
}

/// Streams records to `out` in one format.
pub struct FindingWriter<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
    /// The table's first column width (paths longer than it push the rest).
    path_width: usize,
    sarif: sarif::Sarif,
    /// The JSON line being built.
    line: Vec<u8>,
}

impl<W: Write> FindingWriter<W> {
    /// A writer; nothing is written until the first record.
    pub fn new(out: W, format: Format) -> FindingWriter<W> {
        FindingWriter {
            out,
            format,
            header_done: false,
            path_width: 40,
            sarif: sarif::Sarif::new(),
            line: Vec::new(),
        }
    }

    /// Sizes the table's first column to fit `records` (when they are all
    /// known up front, as for `dlpd findings`), so every column lines up.
    pub fn fit(mut self, records: &[FindingRecord]) -> FindingWriter<W> {
        let width = records.iter().map(|r| r.place().chars().count()).max();
        self.path_width = width.unwrap_or(0).clamp(9, 160);
        self
    }

    /// Writes one record.
    pub fn write(&mut self, r: &FindingRecord) -> io::Result<()> {
        match self.format {
            Format::Jsonl => {
                // Whole lines into a buffer first: serde_json writes a
                // line in dozens of pieces, each a call through `out`.
                self.line.clear();
                serde_json::to_writer(&mut self.line, &r.to_json())?;
                self.line.push(b'\n');
                self.out.write_all(&self.line)
            }
            Format::Csv => {
                let mut buf = Vec::new();
                if !self.header_done {
                    csv_row(&mut buf, &CSV_HEADER);
                    self.header_done = true;
                }
                csv_row(&mut buf, &r.csv_cells());
                self.out.write_all(&buf)
            }
            Format::Table => {
                let w = self.path_width;
                if !self.header_done {
                    writeln!(
                        self.out,
                        "{:<w$} {:<26} {:<12} FINDING",
                        "PATH:LINE", "DETECTOR", "CONFIDENCE"
                    )?;
                    self.header_done = true;
                }
                writeln!(
                    self.out,
                    "{:<w$} {:<26} {:<12} {}",
                    r.place(),
                    r.detector.as_str(),
                    r.confidence.as_str(),
                    r.finding
                )
            }
            Format::Sarif => self.sarif.write(&mut self.out, r),
        }
    }

    /// Ends the output (a SARIF document is only whole once this ran),
    /// flushes, and hands back the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.format == Format::Sarif {
            self.sarif.finish(&mut self.out)?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[&str]) -> String {
        let mut out = Vec::new();
        csv_row(&mut out, cells);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        assert_eq!(
            row(&["a", "b,c", "say \"hi\"", "x\ny"]),
            "a,\"b,c\",\"say \"\"hi\"\"\",\"x\ny\"\r\n"
        );
    }

    #[test]
    fn csv_neutralizes_formulas() {
        assert_eq!(
            row(&["=cmd()", "+1", "-2", "@SUM(A1)", "ok"]),
            "\"'=cmd()\",\"'+1\",\"'-2\",\"'@SUM(A1)\",ok\r\n"
        );
    }
}
