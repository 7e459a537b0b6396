//! Row and column of findings in CSV and TSV files, as Nightfall reports
//! them for tabular data: 1-based, the header being row 1. Quoted fields
//! (RFC 4180: delimiters, doubled quotes and newlines inside quotes) count
//! as one cell. Found in a second pass over the file, only for files with
//! findings.

use std::io::{self, BufReader, Read};
use std::path::Path;

use crate::engine::{Finding, TablePos};

/// The delimiter of a tabular file, by its extension.
pub fn delimiter(path: &Path) -> Option<u8> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "csv" => Some(b','),
        "tsv" | "tab" => Some(b'\t'),
        _ => None,
    }
}

/// Sets the row and column of every finding (sorted by `byte_start`) from
/// the bytes of `r`.
pub fn locate(r: impl Read, delimiter: u8, findings: &mut [Finding]) -> io::Result<()> {
    if findings.is_empty() {
        return Ok(());
    }
    // Every offset to place: each finding's first and last byte.
    let mut marks: Vec<(u64, usize, bool)> = findings
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            [
                (f.byte_start, i, true),
                (f.byte_end.saturating_sub(1), i, false),
            ]
        })
        .collect();
    marks.sort_unstable();
    let mut next = 0;
    let (mut row, mut col, mut quoted) = (1u64, 1u64, false);
    let mut starts = vec![(0u64, 0u64); findings.len()];
    let mut buf = [0u8; 64 * 1024];
    let mut reader = BufReader::new(r);
    let mut at = 0u64;
    'read: loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for &b in &buf[..n] {
            while next < marks.len() && marks[next].0 == at {
                let (_, i, is_start) = marks[next];
                if is_start {
                    starts[i] = (row, col);
                } else {
                    findings[i].table = Some(TablePos {
                        row_start: starts[i].0,
                        row_end: row,
                        column_start: starts[i].1,
                        column_end: col,
                    });
                }
                next += 1;
            }
            if next == marks.len() {
                break 'read;
            }
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => {
                    row += 1;
                    col = 1;
                }
                b if b == delimiter && !quoted => col += 1,
                _ => {}
            }
            at += 1;
        }
    }
    Ok(())
}
