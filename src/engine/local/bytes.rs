//! Byte-level helpers shared by the detectors: finding digits fast, and the
//! boundary tests that keep a match from being part of a longer token.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Per-lane high bit set where the byte is an ASCII digit.
#[inline(always)]
fn digit_lanes(x: u64) -> u64 {
    let y = x & !HI;
    // High bit of each lane: b >= '0' and b <= '9' and b < 0x80. No lane
    // carries into the next: y <= 0x7f and the addends are below 0x80.
    let ge0 = y + LO * (0x80 - b'0') as u64;
    let gt9 = y + LO * (0x80 - b'9' - 1) as u64;
    ge0 & !gt9 & !x & HI
}

#[inline(always)]
fn word(hay: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(hay[i..i + 8].try_into().unwrap())
}

/// Whether `needle` occurs in `hay`, for short haystacks: building a
/// substring searcher (`memchr::memmem`) costs more than this whole scan
/// of a few hundred bytes.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    match needle.first() {
        None => true,
        Some(&first) => memchr::memchr_iter(first, hay).any(|at| hay[at..].starts_with(needle)),
    }
}

/// Position of the first ASCII digit at or after `from`.
///
/// On text with few digits this is the engine's hot loop: SSE2 (part of
/// every x86-64 CPU) looks at 64 bytes per step; other targets use the
/// portable word-at-a-time loop.
#[inline]
pub fn next_digit(hay: &[u8], from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::next_digit(hay, from)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        next_digit_swar(hay, from)
    }
}

/// The portable search: 32 bytes per step, eight at a time.
#[inline]
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn next_digit_swar(hay: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 32 <= hay.len() {
        let (a, b, c, d) = (
            digit_lanes(word(hay, i)),
            digit_lanes(word(hay, i + 8)),
            digit_lanes(word(hay, i + 16)),
            digit_lanes(word(hay, i + 24)),
        );
        if a | b | c | d != 0 {
            break;
        }
        i += 32;
    }
    while i + 8 <= hay.len() {
        let lanes = digit_lanes(word(hay, i));
        if lanes != 0 {
            return Some(i + (lanes.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i.min(hay.len())..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| i + p)
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_cmpgt_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };

    /// The first digit at or after `from`: 16 bytes at a time near the
    /// start (digits often come in clusters), 64 at a time after that.
    #[inline]
    pub fn next_digit(hay: &[u8], from: usize) -> Option<usize> {
        let mut i = from;
        // SAFETY: SSE2 is part of the x86-64 baseline, so the intrinsics are
        // always available; every load reads 16 bytes inside `hay` (each
        // loop checks the bound first), and unaligned loads are allowed.
        unsafe {
            let below = _mm_set1_epi8(b'0' as i8 - 1);
            let above = _mm_set1_epi8(b'9' as i8 + 1);
            // Signed compares: bytes >= 0x80 are negative, so never digits.
            let digits = |p: *const u8| {
                let v = _mm_loadu_si128(p as *const __m128i);
                _mm_and_si128(_mm_cmpgt_epi8(v, below), _mm_cmplt_epi8(v, above))
            };
            if i + 16 <= hay.len() {
                let mask = _mm_movemask_epi8(digits(hay.as_ptr().add(i)));
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
            while i + 64 <= hay.len() {
                let p = hay.as_ptr().add(i);
                let any = _mm_or_si128(
                    _mm_or_si128(digits(p), digits(p.add(16))),
                    _mm_or_si128(digits(p.add(32)), digits(p.add(48))),
                );
                if _mm_movemask_epi8(any) != 0 {
                    break;
                }
                i += 64;
            }
            while i + 16 <= hay.len() {
                let mask = _mm_movemask_epi8(digits(hay.as_ptr().add(i)));
                if mask != 0 {
                    return Some(i + mask.trailing_zeros() as usize);
                }
                i += 16;
            }
        }
        hay[i.min(hay.len())..]
            .iter()
            .position(u8::is_ascii_digit)
            .map(|p| i + p)
    }
}

/// Length of the run of ASCII digits starting at `at`.
#[inline]
pub fn digit_run(hay: &[u8], at: usize) -> usize {
    hay[at..].iter().take_while(|b| b.is_ascii_digit()).count()
}

/// The byte before `at`, if the buffer holds it.
#[inline]
pub fn before(hay: &[u8], at: usize) -> Option<u8> {
    at.checked_sub(1).map(|i| hay[i])
}

/// True when the token ending before `at` cannot continue into `at`:
/// start of data, or a byte that is not a letter or digit, and not a decimal
/// point or separator glued to a preceding digit.
#[inline]
pub fn clean_start(hay: &[u8], at: usize, seps: &[u8]) -> bool {
    match before(hay, at) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() => false,
        Some(b) if b == b'.' || seps.contains(&b) => {
            !matches!(before(hay, at - 1), Some(d) if d.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// The mirror of [`clean_start`] for the byte at `at`, just past a match.
#[inline]
pub fn clean_end(hay: &[u8], at: usize, seps: &[u8]) -> bool {
    match hay.get(at) {
        None => true,
        Some(b) if b.is_ascii_alphanumeric() => false,
        Some(&b) if b == b'.' || seps.contains(&b) => {
            !matches!(hay.get(at + 1), Some(d) if d.is_ascii_digit())
        }
        Some(_) => true,
    }
}

/// Separators that join digits into one token: a number glued to another
/// by one of these (or by a '.') is part of something longer, such as a
/// phone number, a version or an id. A space is not one of them: numbers
/// side by side with spaces (a card dump, a table, a report) are tokens of
/// their own, judged each by its own boundaries.
pub const GLUE: &[u8] = b"-";

/// The neighbouring token across one space or tab, before `at` (`after`
/// false) or from `at` (`after` true), if the match is separated from it
/// by exactly that byte: the token's bytes, at most 32 of them.
pub fn neighbour(hay: &[u8], at: usize, after: bool) -> Option<&[u8]> {
    let token = |b: &u8| b.is_ascii_alphanumeric();
    if after {
        if !matches!(hay.get(at), Some(b' ' | b'\t')) {
            return None;
        }
        let len = hay[at + 1..]
            .iter()
            .take(33)
            .take_while(|b| token(b))
            .count();
        (1..=32).contains(&len).then(|| &hay[at + 1..at + 1 + len])
    } else {
        let sep = at.checked_sub(1)?;
        if !matches!(hay[sep], b' ' | b'\t') {
            return None;
        }
        let len = hay[..sep]
            .iter()
            .rev()
            .take(33)
            .take_while(|b| token(b))
            .count();
        (1..=32).contains(&len).then(|| &hay[sep - len..sep])
    }
}

/// Whether a token is hexadecimal with both a letter and a digit (`54A0`,
/// `3f`): the company a number keeps in hex dumps and code-point tables.
/// Words spelt with hex letters (`a`, `cafe`) are not.
pub fn is_hex_word(token: &[u8]) -> bool {
    token.iter().all(u8::is_ascii_hexdigit)
        && token.iter().any(u8::is_ascii_alphabetic)
        && token.iter().any(u8::is_ascii_digit)
}

/// Shannon entropy in bits per byte: how random a token looks.
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// True when `s` contains a run of `n` identical bytes (`xxxxxxxx`, `00000000`).
pub fn has_repeat(s: &[u8], n: usize) -> bool {
    let mut run = 0;
    let mut last = None;
    for &b in s {
        if Some(b) == last {
            run += 1;
        } else {
            run = 1;
            last = Some(b);
        }
        if run >= n {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_digit_finds_every_position() {
        let mut hay = vec![b'a'; 80];
        for pos in 0..80 {
            hay.fill(b'a');
            hay[pos] = b'7';
            assert_eq!(next_digit(&hay, 0), Some(pos));
            assert_eq!(next_digit(&hay, pos + 1), None);
        }
    }

    #[test]
    fn both_searches_agree_on_long_inputs() {
        let mut hay = vec![b'x'; 300];
        for pos in (0..300).step_by(7) {
            hay.fill(b'x');
            hay[pos] = b'0' + (pos % 10) as u8;
            assert_eq!(next_digit(&hay, 0), Some(pos));
            assert_eq!(next_digit_swar(&hay, 0), Some(pos));
            assert_eq!(next_digit(&hay, pos + 1), None);
        }
    }

    #[test]
    fn next_digit_ignores_high_bytes_and_neighbours() {
        // '/' and ':' sit either side of the digits; 0xB0..0xB9 alias them
        // without the high bit.
        let hay: Vec<u8> = b"/:\xb0\xb5\xb9\xff\x80 ab/:".repeat(10);
        assert_eq!(next_digit(&hay, 0), None);
        assert_eq!(next_digit_swar(&hay, 0), None);
    }

    #[test]
    fn boundaries() {
        assert!(clean_start(b" 1", 1, b"-"));
        assert!(!clean_start(b"a1", 1, b"-"));
        assert!(!clean_start(b"9-1", 2, b"-"));
        assert!(!clean_start(b"9.1", 2, b"-"));
        assert!(clean_start(b"a-1", 2, b"-"));
        assert!(clean_end(b"1 ", 1, b"-"));
        assert!(!clean_end(b"1-2", 1, b"-"));
        assert!(clean_end(b"1-a", 1, b"-"));
    }
}
