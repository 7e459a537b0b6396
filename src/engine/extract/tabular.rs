//! Row and column of findings in CSV and TSV files, as Nightfall reports
//! them for tabular data: 1-based, the header being row 1. Quoted fields
//! (RFC 4180: delimiters, doubled quotes and newlines inside quotes) count
//! as one cell. Found while scanning when no field is quoted (a row is
//! then a line); else in a second pass over the file, only for files with
//! findings.

use std::io::{self, BufReader, Read};
use std::ops::Range;
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

/// The columns of `range` in `hay` when no field is quoted: one more than
/// the delimiters between its line's start and each end. `None` when the
/// line starts before `hay` (unless `hay` is the stream's start).
pub fn columns(
    hay: &[u8],
    at_start: bool,
    range: Range<usize>,
    delimiter: u8,
) -> Option<(u64, u64)> {
    let line = match memchr::memrchr(b'\n', &hay[..range.start]) {
        Some(nl) => nl + 1,
        None if at_start => 0,
        None => return None,
    };
    let first = 1 + bytecount::count(&hay[line..range.start], delimiter) as u64;
    let last_byte = range.end.saturating_sub(1).max(range.start);
    let last = first + bytecount::count(&hay[range.start..last_byte], delimiter) as u64;
    Some((first, last))
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
    // Place every mark up to `upto` (inclusive) at the current cell.
    let mut place = |upto: u64, next: &mut usize, row: u64, col: u64| {
        while *next < marks.len() && marks[*next].0 <= upto {
            let (_, i, is_start) = marks[*next];
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
            *next += 1;
        }
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = BufReader::new(r);
    let mut at = 0u64;
    // Only quotes, newlines and delimiters move the cell: jump between them.
    while next < marks.len() {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for p in memchr::memchr3_iter(b'"', b'\n', delimiter, &buf[..n]) {
            let pos = at + p as u64;
            // Marks up to here sit in the cell the bytes before `pos` are in.
            place(pos, &mut next, row, col);
            if next == marks.len() {
                break;
            }
            match buf[p] {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => {
                    row += 1;
                    col = 1;
                }
                b if b == delimiter && !quoted => col += 1,
                _ => {}
            }
        }
        at += n as u64;
        place(at - 1, &mut next, row, col);
    }
    Ok(())
}
