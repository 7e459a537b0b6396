//! A content stream's filters undone (ISO 32000-1, 7.4), within a bound
//! on what each may inflate to.

use lopdf::{Dictionary, Object};

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
/// bomb would be read short, its end unseen. Here one is an error. Hex and
/// run-length stages are undone here too; ASCII85 and LZW by lopdf, one
/// stage at a time.
pub(super) fn plain(stream: &lopdf::Stream) -> Result<Vec<u8>, PdfError> {
    if stream.dict.get(b"Filter").is_err() {
        return Ok(stream.content.clone());
    }
    let filters: Vec<&'static [u8]> = stream
        .filters()
        .map_err(|_| PdfError("a content stream's /Filter is not a name or names".into()))?
        .into_iter()
        .map(full_filter_name)
        .collect::<Result<_, _>>()?;
    let mut data = std::borrow::Cow::Borrowed(&stream.content[..]);
    for &filter in &filters {
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
        data = std::borrow::Cow::Owned(decoded);
    }
    // Predictors (rare in content streams) are lopdf's: with every stage
    // known to fit, its decoding cannot run short of memory. It is given
    // the filters' full names, the only ones it knows.
    if let Ok(parms) = stream.dict.get(b"DecodeParms") {
        let mut dict = Dictionary::new();
        let names = filters.iter().map(|f| Object::Name(f.to_vec())).collect();
        dict.set("Filter", Object::Array(names));
        dict.set("DecodeParms", parms.clone());
        return lopdf::Stream::new(dict, stream.content.clone())
            .get_plain_content()
            .map_err(|_| undecodable(b"DecodeParms"));
    }
    Ok(data.into_owned())
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
