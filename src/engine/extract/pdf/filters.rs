//! A content stream's filters undone (ISO 32000-1, 7.4), within a bound
//! on what each may inflate to.

use lopdf::{Dictionary, Document, Object};

use super::PdfError;

/// The most a content stream may inflate to: far more than any real page
/// draws, and well within the parsing child's memory.
const MAX_STREAM: u64 = 128 << 20;

/// A content stream's bytes, its filters undone. A filter dlpd cannot
/// undo, or data it cannot decode, is an error that names it: a page read
/// without it would look clean.
///
/// Deflate stages, in nearly every stream, are inflated here and not by
/// lopdf, which keeps what it had when memory ran out and says nothing: a
/// bomb would be read short, its end unseen. Here one is an error. Hex,
/// run-length and predictor stages are undone here too; ASCII85 and LZW by
/// lopdf, one stage at a time.
pub(super) fn plain(doc: &Document, stream: &lopdf::Stream) -> Result<Vec<u8>, PdfError> {
    let resolve = |o| doc.dereference(o).map_or(o, |(_, o)| o);
    // One filter or an array of them, each with its parameters (or null)
    // at the same place in /DecodeParms.
    let filters: Vec<&Object> = match stream.dict.get(b"Filter").map(resolve) {
        Err(_) | Ok(Object::Null) => Vec::new(),
        Ok(Object::Array(items)) => items.iter().map(resolve).collect(),
        Ok(one) => vec![one],
    };
    let parms: Vec<Option<&Dictionary>> = match stream.dict.get(b"DecodeParms").map(resolve) {
        Ok(Object::Array(items)) => items.iter().map(|p| resolve(p).as_dict().ok()).collect(),
        Ok(Object::Dictionary(one)) => vec![Some(one)],
        _ => Vec::new(),
    };
    let mut data = std::borrow::Cow::Borrowed(&stream.content[..]);
    for (i, filter) in filters.into_iter().enumerate() {
        let name = filter
            .as_name()
            .map_err(|_| PdfError("a content stream's /Filter is not a name or names".into()))?;
        let filter = full_filter_name(name)?;
        let decoded = match filter {
            b"FlateDecode" => inflate(&data)?,
            b"ASCIIHexDecode" => from_hex(&data),
            b"RunLengthDecode" => run_length(&data)?,
            other => {
                let mut dict = Dictionary::new();
                dict.set("Filter", Object::Name(other.to_vec()));
                lopdf::Stream::new(dict, data.into_owned())
                    .decompressed_content()
                    .map_err(|_| undecodable(other))?
            }
        };
        if decoded.len() as u64 > MAX_STREAM {
            return Err(too_big());
        }
        let decoded = match parms.get(i).copied().flatten() {
            Some(parms) if matches!(filter, b"FlateDecode" | b"LZWDecode") => {
                unpredict(decoded, parms)?
            }
            _ => decoded,
        };
        data = std::borrow::Cow::Owned(decoded);
    }
    Ok(data.into_owned())
}

/// Undoes a Flate or LZW stage's predictor (ISO 32000-1, 7.4.4.4): none,
/// TIFF's (2, eight bits a component) or PNG's (10-15: each row starts
/// with its own filter's number). Anything else is an error.
fn unpredict(data: Vec<u8>, parms: &Dictionary) -> Result<Vec<u8>, PdfError> {
    let int = |key: &[u8], default| parms.get(key).and_then(Object::as_i64).unwrap_or(default);
    let predictor = int(b"Predictor", 1);
    if predictor == 1 {
        return Ok(data);
    }
    let (colors, bits, columns) = (
        int(b"Colors", 1),
        int(b"BitsPerComponent", 8),
        int(b"Columns", 1),
    );
    if !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bits)
        || !(1..=1 << 20).contains(&columns)
    {
        return Err(PdfError(format!(
            "a content stream's predictor has parameters out of range (Colors {colors}, BitsPerComponent {bits}, Columns {columns})"
        )));
    }
    // Bytes a pixel (at least one) and a row.
    let pixel = ((colors * bits) as u64).div_ceil(8) as usize;
    let row = ((colors * bits * columns) as u64).div_ceil(8) as usize;
    match predictor {
        2 if bits == 8 => {
            let mut data = data;
            for line in data.chunks_mut(row) {
                for i in pixel..line.len() {
                    line[i] = line[i].wrapping_add(line[i - pixel]);
                }
            }
            Ok(data)
        }
        10..=15 => png_rows(&data, row, pixel),
        _ => Err(PdfError(format!(
            "a content stream's predictor {predictor} (with {bits} bits a component) is not one dlpd can undo"
        ))),
    }
}

/// PNG's row filters undone: each row of `row` bytes follows its filter's
/// number (0 none, 1 sub, 2 up, 3 average, 4 Paeth); a last row cut short
/// is undone as far as it goes.
fn png_rows(data: &[u8], row: usize, pixel: usize) -> Result<Vec<u8>, PdfError> {
    let mut out: Vec<u8> = Vec::with_capacity(data.len());
    let mut up = vec![0u8; row];
    for line in data.chunks(row + 1) {
        let (&kind, raw) = line.split_first().unwrap_or((&0, &[]));
        let start = out.len();
        for (i, &x) in raw.iter().enumerate() {
            let left = if i >= pixel {
                out[start + i - pixel]
            } else {
                0
            };
            let corner = if i >= pixel { up[i - pixel] } else { 0 };
            let add = match kind {
                0 => 0,
                1 => left,
                2 => up[i],
                3 => ((u16::from(left) + u16::from(up[i])) / 2) as u8,
                4 => paeth(left, up[i], corner),
                other => {
                    return Err(PdfError(format!(
                        "a content stream's PNG row filter {other} is not one there is"
                    )));
                }
            };
            out.push(x.wrapping_add(add));
        }
        up[..raw.len()].copy_from_slice(&out[start..]);
    }
    Ok(out)
}

fn paeth(left: u8, up: u8, corner: u8) -> u8 {
    let p = i16::from(left) + i16::from(up) - i16::from(corner);
    let (a, b, c) = (
        (p - i16::from(left)).abs(),
        (p - i16::from(up)).abs(),
        (p - i16::from(corner)).abs(),
    );
    if a <= b && a <= c {
        left
    } else if b <= c {
        up
    } else {
        corner
    }
}

/// A content stream filter's full name, from either of its spellings.
fn full_filter_name(name: &[u8]) -> Result<&'static [u8], PdfError> {
    Ok(match name {
        b"FlateDecode" | b"Fl" => b"FlateDecode",
        b"ASCIIHexDecode" | b"AHx" => b"ASCIIHexDecode",
        b"ASCII85Decode" | b"A85" => b"ASCII85Decode",
        b"LZWDecode" | b"LZW" => b"LZWDecode",
        b"RunLengthDecode" | b"RL" => b"RunLengthDecode",
        other => {
            return Err(PdfError(format!(
                "a content stream's filter /{} is not one dlpd can undo",
                String::from_utf8_lossy(other).escape_debug()
            )));
        }
    })
}

fn undecodable(what: &[u8]) -> PdfError {
    PdfError(format!(
        "a content stream's {} data is damaged",
        String::from_utf8_lossy(what)
    ))
}

/// `ASCIIHexDecode`: pairs of hex digits, white space ignored, up to `>`;
/// an odd last digit counts as followed by 0.
fn from_hex(data: &[u8]) -> Vec<u8> {
    let digits = data
        .iter()
        .take_while(|&&b| b != b'>')
        .filter_map(|&b| (b as char).to_digit(16));
    let mut out = Vec::with_capacity(data.len() / 2);
    let mut high = None;
    for d in digits {
        match high.take() {
            None => high = Some(d as u8),
            Some(h) => out.push((h << 4) | d as u8),
        }
    }
    out.extend(high.map(|h| h << 4));
    out
}

/// `RunLengthDecode`: a length byte, then that many plus one bytes as they
/// are (0-127), or the next byte 257 minus it times (129-255); 128 ends.
/// Up to [`MAX_STREAM`] bytes; a run cut short keeps what it has.
fn run_length(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&n) = data.get(i) {
        match n {
            0..=127 => {
                let literal = data.get(i + 1..).unwrap_or_default();
                out.extend_from_slice(&literal[..literal.len().min(n as usize + 1)]);
                i += n as usize + 2;
            }
            128 => break,
            _ => {
                let Some(&b) = data.get(i + 1) else { break };
                out.resize(out.len() + (257 - n as usize), b);
                i += 2;
            }
        }
        if out.len() as u64 > MAX_STREAM {
            return Err(too_big());
        }
    }
    Ok(out)
}

/// Inflates a deflate stage to at most [`MAX_STREAM`] bytes: zlib, or raw
/// deflate after its two header bytes as lopdf also tries. A damaged
/// stream is read as far as it goes.
fn inflate(data: &[u8]) -> Result<Vec<u8>, PdfError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut read = flate2::read::ZlibDecoder::new(data)
        .take(MAX_STREAM + 1)
        .read_to_end(&mut out);
    if read.is_err() && out.is_empty() && data.len() > 2 {
        read = flate2::read::DeflateDecoder::new(&data[2..])
            .take(MAX_STREAM + 1)
            .read_to_end(&mut out);
    }
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::OutOfMemory => Err(too_big()),
        _ if out.len() as u64 > MAX_STREAM => Err(too_big()),
        _ => Ok(out),
    }
}

fn too_big() -> PdfError {
    PdfError(format!(
        "a content stream inflates past {} MiB, more memory than a page may take (a compression bomb?)",
        MAX_STREAM >> 20
    ))
}
