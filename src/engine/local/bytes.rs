//! Byte-level helpers shared by the detectors: finding digits fast, and the
//! boundary tests that keep a match from being part of a longer token.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Position of the first ASCII digit at or after `from`.
///
/// Eight bytes at a time: on text with few digits this is the engine's hot
/// loop, so it must run well above a gigabyte per second.
#[inline]
pub fn next_digit(hay: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 8 <= hay.len() {
        let x = u64::from_le_bytes(hay[i..i + 8].try_into().unwrap());
        let y = x & !HI;
        // High bit of each lane: b >= '0' and b <= '9' and b < 0x80.
        let ge0 = y + LO * (0x80 - b'0') as u64;
        let gt9 = y + LO * (0x80 - b'9' - 1) as u64;
        let digits = ge0 & !gt9 & !x & HI;
        if digits != 0 {
            return Some(i + (digits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay[i.min(hay.len())..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| i + p)
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
        let mut hay = vec![b'a'; 40];
        for pos in 0..40 {
            hay.fill(b'a');
            hay[pos] = b'7';
            assert_eq!(next_digit(&hay, 0), Some(pos));
            assert_eq!(next_digit(&hay, pos + 1), None);
        }
    }

    #[test]
    fn next_digit_ignores_high_bytes_and_neighbours() {
        // '/' and ':' sit either side of the digits; 0xB0..0xB9 alias them
        // without the high bit.
        let hay: Vec<u8> = b"/:\xb0\xb5\xb9\xff\x80 ab/:".to_vec();
        assert_eq!(next_digit(&hay, 0), None);
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
