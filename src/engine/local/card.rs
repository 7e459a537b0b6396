//! CREDIT_CARD_NUMBER: 13–19 digits, plain or grouped with one kind of
//! separator, Luhn-valid, with a known issuer prefix, and not part of a
//! longer run of digits or letters.

use super::Candidate;
use super::bytes::{GLUE, clean_end, clean_start, digit_run, is_hex_word, neighbour};
use crate::engine::{Confidence, DetectorId};

const SEPS: &[u8] = b" -";

/// Card numbers published by networks and processors for testing; they
/// appear in docs and fixtures, not in customer data.
const TEST_NUMBERS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4222222222222",
    "4000056655665556",
    "4000000000000002",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "6011111111111117",
    "6011000990139424",
    "6011000000000004",
    "3530111333300000",
    "3566002020360505",
    "30569309025904",
    "38520000023237",
    "36227206271667",
    "6200000000000005",
    "6759649826438453",
    "4444333322221111",
];

/// Layouts people write cards in, as group lengths: 4-4-4-4 and its shorter
/// and longer kin, Amex's 4-6-5 and Diners' 4-6-4.
fn grouped_layout_ok(groups: &[usize]) -> bool {
    match groups {
        [4, 6, 5] | [4, 6, 4] => true,
        [4, 4, 4, last] => (1..=4).contains(last),
        [4, 4, 4, 4, last] => (1..=3).contains(last),
        _ => false,
    }
}

/// The issuer for a digit string, and whether its length is that issuer's
/// usual one.
fn issuer(d: &[u8]) -> Option<(&'static str, bool)> {
    let n = d.len();
    let p = |k: usize| -> u32 {
        d[..k]
            .iter()
            .fold(0u32, |acc, &b| acc * 10 + (b - b'0') as u32)
    };
    let (name, usual): (&str, &[usize]) = match (p(1), p(2), p(3), p(4), p(6)) {
        // 13-digit Visa numbers have not been issued for decades.
        (4, ..) => ("Visa", &[16, 19]),
        (_, 51..=55, ..) => ("Mastercard", &[16]),
        (_, _, _, 2221..=2720, _) => ("Mastercard", &[16]),
        (_, 34 | 37, ..) => ("American Express", &[15]),
        (_, _, _, 6011, _) | (_, 65, ..) | (_, _, 644..=649, ..) => ("Discover", &[16, 19]),
        (_, _, _, _, 622126..=622925) => ("Discover", &[16, 19]),
        (_, _, _, 3528..=3589, _) => ("JCB", &[16, 17, 18, 19]),
        (_, _, 300..=305, ..) | (_, 36 | 38 | 39, ..) | (_, _, _, 3095, _) => {
            ("Diners Club", &[14, 16, 19])
        }
        (_, 62, ..) => ("UnionPay", &[16, 17, 18, 19]),
        // Maestro allows 12 to 19; the cards in use are 16 or 19.
        (_, 50 | 56..=69, ..) => ("Maestro", &[16, 19]),
        _ => return None,
    };
    Some((name, usual.contains(&n)))
}

/// The Luhn checksum every payment card carries.
pub fn luhn_valid(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let v = (b - b'0') as u32;
            if i % 2 == 1 {
                let v2 = v * 2;
                if v2 > 9 { v2 - 9 } else { v2 }
            } else {
                v
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Tries to read a card number starting at `at`, which holds a digit that
/// begins a run of `run` digits.
///
/// A number is judged by its own boundaries: digits next to it across a
/// space (an expiry, a CVV, a line number, another card) do not hide it.
/// Only what joins it into a longer token (a letter, a digit, `-` or `.`
/// glued to a digit) does. Where the groups around it make it unclear
/// which groups are the card, it is POSSIBLE, and a keyword raises it.
pub fn detect(hay: &[u8], at: usize, run: usize) -> Option<Candidate> {
    if !clean_start(hay, at, GLUE) {
        return None;
    }
    if (13..=19).contains(&run) {
        if !clean_end(hay, at + run, GLUE) {
            return None;
        }
        let digits = &hay[at..at + run];
        let (_, usual) = issuer(digits)?;
        if !luhn_valid(digits) {
            return None;
        }
        let shape = if usual {
            Confidence::Likely
        } else {
            Confidence::Possible
        };
        return Some(candidate(
            at,
            at + run,
            judge(hay, at, at + run, digits, &[], shape),
        ));
    }
    if run != 4 {
        return None;
    }
    let sep = *hay.get(at + 4)?;
    if !SEPS.contains(&sep) {
        return None;
    }
    // The groups joined by `sep`, as far as a card could reach.
    let mut buf = [0u8; 19];
    let mut groups = [(0usize, 0usize); 6]; // (length, end position)
    let (mut count, mut n, mut pos) = (0, 0, at);
    loop {
        let len = digit_run(hay, pos);
        if len == 0 || count == groups.len() || n + len > buf.len() {
            break;
        }
        // A later group glued to more (`6011-5191…`) is another token.
        if count > 0 && !clean_end(hay, pos + len, GLUE) && sep == b' ' {
            break;
        }
        buf[n..n + len].copy_from_slice(&hay[pos..pos + len]);
        n += len;
        pos += len;
        groups[count] = (len, pos);
        count += 1;
        let continues =
            hay.get(pos) == Some(&sep) && hay.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if !continues {
            break;
        }
        pos += 1;
    }
    // Joined by hyphens the groups are one token: all of it or nothing.
    // Joined by spaces, the card is the best of the layouts they start
    // with; what follows is another token.
    let shortest = if sep == b'-' { count } else { 2 };
    let lens = groups.map(|g| g.0);
    // At most 19 digits in all, so each group fits a u64.
    let mut values = [0u64; 6];
    for (i, g) in groups[..count].iter().enumerate() {
        values[i] = hay[g.1 - g.0..g.1]
            .iter()
            .fold(0u64, |acc, &b| acc * 10 + (b - b'0') as u64);
    }
    // Ranked by confidence, then the usual length for the issuer, then the
    // common 4-4-4-4 (so a CVV after a card is not taken for a fifth
    // group), then length.
    let mut best: Option<((Confidence, bool, bool, usize), usize)> = None;
    for k in shortest..=count {
        let digits_k: usize = lens[..k].iter().sum();
        let end = groups[k - 1].1;
        if !grouped_layout_ok(&lens[..k]) || !clean_end(hay, end, GLUE) {
            continue;
        }
        let digits = &buf[..digits_k];
        let Some((_, usual)) = issuer(digits) else {
            continue;
        };
        if !luhn_valid(digits) {
            continue;
        }
        let shape = if usual {
            Confidence::Likely
        } else {
            Confidence::Possible
        };
        let confidence = judge(hay, at, end, digits, &values[..k], shape);
        let rank = (confidence, usual, digits_k == 16, k);
        if best.is_none_or(|b| rank > b.0) {
            best = Some((rank, end));
        }
    }
    let ((mut confidence, .., k), end) = best?;
    // Spaced groups amid more groups: if the same layout a group or more
    // earlier or later is a card too, which one is meant is a guess.
    if sep == b' ' && confidence == Confidence::Likely && ambiguous(hay, &groups[..k]) {
        confidence = Confidence::Possible;
    }
    Some(candidate(at, end, confidence))
}

/// Whether another window of the same layout over the spaced digit groups
/// around `card` (given as (length, end) in `hay`) overlaps it and is a
/// valid card too. Two cards side by side explain the windows between
/// them: a card with a whole card right beside it is not in doubt.
fn ambiguous(hay: &[u8], card: &[(usize, usize)]) -> bool {
    let k = card.len();
    let mut run = [(0usize, 0usize); 3 * 6];
    // Up to k groups before, then the card's, then up to k after.
    let mut before = Vec::with_capacity(k);
    let mut at = card[0].1 - card[0].0;
    while before.len() < k {
        let Some(t) = neighbour(hay, at, false).filter(|t| t.iter().all(u8::is_ascii_digit)) else {
            break;
        };
        let start = at - 1 - t.len();
        if !clean_start(hay, start, GLUE) {
            break;
        }
        before.push((t.len(), at - 1));
        at = start;
    }
    let mut n = 0;
    for g in before.iter().rev().chain(card) {
        run[n] = *g;
        n += 1;
    }
    let mut end = card[k - 1].1;
    for _ in 0..k {
        let Some(t) = neighbour(hay, end, true).filter(|t| t.iter().all(u8::is_ascii_digit)) else {
            break;
        };
        let next = end + 1 + t.len();
        if !clean_end(hay, next, GLUE) {
            break;
        }
        run[n] = (t.len(), next);
        n += 1;
        end = next;
    }
    let own = before.len();
    let card_at = |i: usize| {
        i + k <= n && {
            let window = &run[i..i + k];
            window.iter().zip(card).all(|(w, c)| w.0 == c.0) && is_card(hay, window)
        }
    };
    let beside = (own >= k && card_at(own - k)) || card_at(own + k);
    !beside && (own.saturating_sub(k - 1)..own + k).any(|i| i != own && card_at(i))
}

/// Whether digit groups, given as (length, end) in `hay`, read together as
/// a valid card of a known issuer.
fn is_card(hay: &[u8], groups: &[(usize, usize)]) -> bool {
    let mut buf = [0u8; 19];
    let mut n = 0;
    for &(len, end) in groups {
        if n + len > buf.len() {
            return false;
        }
        buf[n..n + len].copy_from_slice(&hay[end - len..end]);
        n += len;
    }
    issuer(&buf[..n]).is_some() && luhn_valid(&buf[..n])
}

fn candidate(start: usize, end: usize, confidence: Confidence) -> Candidate {
    Candidate {
        detector: DetectorId::CreditCardNumber,
        confidence,
        kind: None,
        start,
        end,
        keyword_raises: confidence >= Confidence::Possible,
    }
}

/// The confidence of a valid number from the tells that it is something
/// else: a published test number, a placeholder, groups in sequence (a
/// code-point table: `5430 5431 5432 5433`), or hexadecimal neighbours.
fn judge(
    hay: &[u8],
    start: usize,
    end: usize,
    digits: &[u8],
    groups: &[u64],
    shape: Confidence,
) -> Confidence {
    let text = std::str::from_utf8(digits).unwrap_or_default();
    let hex_beside = !groups.is_empty() && hex_nearby(hay, start, end);
    if TEST_NUMBERS.contains(&text)
        || all_same_after_prefix(digits)
        || in_sequence(groups)
        || close_to_neighbours(hay, start, end, groups)
        || counts_up(digits)
        || narrow_digits(digits)
        || hex_beside
        || in_identifier(hay, start, end)
    {
        Confidence::Unlikely
    } else {
        shape
    }
}

/// Whether the number sits among hexadecimal words (`54A0`, `3f2e`): the
/// token right beside it is one, or two of the three tokens either side
/// on the same line are. A hex dump (`0000000: 2e54 4820 5858 4420`) has
/// groups of digits only now and then; one stray word (`Apt 4B`, a
/// transaction id) is not a dump.
fn hex_nearby(hay: &[u8], start: usize, end: usize) -> bool {
    let mut seen = 0;
    for after in [false, true] {
        let mut at = if after { end } else { start };
        for distance in 0..3 {
            let Some(t) = neighbour(hay, at, after) else {
                // A dump line's offset (`0000000: `, xxd's) says it all.
                if !after && at >= 2 && hay[at - 1] == b' ' && hay[at - 2] == b':' {
                    let offset = hay[..at - 2]
                        .iter()
                        .rev()
                        .take_while(|b| b.is_ascii_hexdigit())
                        .count();
                    if offset >= 6 {
                        return true;
                    }
                }
                break;
            };
            if is_hex_word(t) {
                if distance == 0 {
                    return true;
                }
                seen += 1;
            }
            at = if after {
                at + t.len() + 1
            } else {
                at - t.len() - 1
            };
        }
    }
    seen >= 2
}

/// Digits confined to five consecutive values (`341124311214544`, stroke
/// orders, ratings): random digits do that about twice in ten thousand
/// times at 15 digits.
fn narrow_digits(d: &[u8]) -> bool {
    let (lo, hi) = d
        .iter()
        .fold((b'9', b'0'), |(lo, hi), &b| (lo.min(b), hi.max(b)));
    hi - lo < 5
}

/// Whether the number is part of a name: joined by `-` or `_` to a word
/// (`fuzzer-5390364397928448`, `id_4916…`). Ids, not cards. A URL path
/// (`/cards/4916…`) is where access logs leak card numbers: not an id.
fn in_identifier(hay: &[u8], start: usize, end: usize) -> bool {
    let joined = |b: Option<&u8>| matches!(b, Some(b'-' | b'_'));
    let word = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let before = start.checked_sub(1).map(|i| &hay[i]);
    let before2 = start.checked_sub(2).map(|i| &hay[i]);
    (joined(before) && word(before2)) || (joined(hay.get(end)) && word(hay.get(end + 1)))
}

/// Whether a grouped number sits in a table of close numbers: two or more
/// neighbouring pairs of groups (its own, and the groups of the same width
/// beside it across a space or a line break) within 32 of each other.
/// Four random groups of four do that about once in ten thousand.
fn close_to_neighbours(hay: &[u8], start: usize, end: usize, groups: &[u64]) -> bool {
    if groups.len() < 2 {
        return false;
    }
    let space = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t' | b'\n' | b'\r'));
    let four = |from: usize| -> Option<u64> {
        let token = hay.get(from..from + 4)?;
        let whole = !hay.get(from + 4).is_some_and(u8::is_ascii_alphanumeric)
            && !from
                .checked_sub(1)
                .is_some_and(|i| hay[i].is_ascii_alphanumeric());
        (whole && token.iter().all(u8::is_ascii_digit))
            .then(|| token.iter().fold(0, |a, &b| a * 10 + u64::from(b - b'0')))
    };
    // The groups of four beside it, if its own edge groups are of four.
    let before = (digit_run(hay, start) == 4 && start >= 5 && space(hay.get(start - 1)))
        .then(|| four(start - 5))
        .flatten();
    let last_is_four = end >= 4
        && hay[end - 4..end].iter().all(u8::is_ascii_digit)
        && !end
            .checked_sub(5)
            .and_then(|i| hay.get(i))
            .is_some_and(u8::is_ascii_digit);
    let after = (last_is_four && space(hay.get(end)))
        .then(|| four(end + 1))
        .flatten();
    let mut row: Vec<u64> = Vec::with_capacity(groups.len() + 2);
    row.extend(before);
    row.extend_from_slice(groups);
    row.extend(after);
    row.windows(2).filter(|w| w[0].abs_diff(w[1]) < 32).count() >= 2
}

/// Whether groups of digits read as a sequence rather than at random:
/// three in a row evenly spaced (`5430 5431 5432`, `1000 2000 3000`, a
/// table of code points), or all within a span of 64, as neighbouring
/// code points are. For four random groups of four the first happens
/// about twice in ten thousand, the second about twice in a million.
fn in_sequence(groups: &[u64]) -> bool {
    if groups.len() < 3 {
        return false;
    }
    let even = groups
        .windows(3)
        .any(|w| w[1] as i128 - w[0] as i128 == w[2] as i128 - w[1] as i128);
    let (lo, hi) = groups
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), &g| (lo.min(g), hi.max(g)));
    even || hi - lo < 64
}

/// Digits that count up or down by one for ten or more places
/// (`…0123456789…`): a ruler or a test pattern, not an account.
fn counts_up(d: &[u8]) -> bool {
    [1, 9].iter().any(|&dir| {
        let mut run = 1;
        d.windows(2).any(|w| {
            let step = (w[1] as i8 - w[0] as i8).rem_euclid(10);
            run = if step == dir { run + 1 } else { 1 };
            run >= 10
        })
    })
}

/// `4000000000000002`-style placeholders: one digit repeated after the prefix.
fn all_same_after_prefix(d: &[u8]) -> bool {
    d[2..d.len() - 1].windows(2).all(|w| w[0] == w[1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::local::bytes::next_digit;

    fn find(s: &str) -> Option<(usize, usize, Confidence)> {
        let hay = s.as_bytes();
        let mut i = 0;
        while let Some(p) = next_digit(hay, i) {
            let run = digit_run(hay, p);
            if let Some(c) = detect(hay, p, run) {
                return Some((c.start, c.end, c.confidence));
            }
            i = p + run;
        }
        None
    }

    fn with_luhn_digit(body: &str) -> String {
        (b'0'..=b'9')
            .map(|c| format!("{body}{}", c as char))
            .find(|d| luhn_valid(d.as_bytes()))
            .unwrap()
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(b"5433950237257862"));
        assert!(!luhn_valid(b"5433950237257863"));
        assert!(luhn_valid(b"378282246310005"));
    }

    #[test]
    fn every_issuer_prefix_is_known() {
        for (prefix, brand) in [
            ("4", "Visa"),
            ("51", "Mastercard"),
            ("55", "Mastercard"),
            ("2221", "Mastercard"),
            ("2720", "Mastercard"),
            ("34", "American Express"),
            ("37", "American Express"),
            ("6011", "Discover"),
            ("65", "Discover"),
            ("644", "Discover"),
            ("300", "Diners Club"),
            ("36", "Diners Club"),
            ("3528", "JCB"),
            ("3589", "JCB"),
            ("62", "UnionPay"),
            ("50", "Maestro"),
            ("6771", "Maestro"),
        ] {
            let mut d = prefix.as_bytes().to_vec();
            d.resize(16, b'0');
            assert_eq!(issuer(&d).map(|i| i.0), Some(brand), "{prefix}");
        }
        for bad in ["1", "2220", "2721", "33", "7", "8", "9", "0"] {
            let mut d = bad.as_bytes().to_vec();
            d.resize(16, b'0');
            assert_eq!(issuer(&d), None, "{bad}");
        }
    }

    #[test]
    fn plain_and_grouped_layouts() {
        assert_eq!(
            find("x 5433950237257862 y"),
            Some((2, 18, Confidence::Likely))
        );
        assert_eq!(
            find("5433-9502-3725-7862"),
            Some((0, 19, Confidence::Likely))
        );
        assert_eq!(
            find("5433 9502 3725 7862"),
            Some((0, 19, Confidence::Likely))
        );
        assert_eq!(find("3457-389808-83234"), Some((0, 17, Confidence::Likely)));
        assert_eq!(find("3683-648816-6252"), Some((0, 16, Confidence::Likely)));
        // 19 digits as 4-4-4-4-3, and the same digits plain.
        let d = with_luhn_digit("601100099013942400");
        let grouped = format!(
            "{} {} {} {} {}",
            &d[..4],
            &d[4..8],
            &d[8..12],
            &d[12..16],
            &d[16..]
        );
        assert_eq!(find(&grouped), Some((0, 23, Confidence::Likely)));
        assert_eq!(find(&d), Some((0, 19, Confidence::Likely)));
    }

    fn find_all(s: &str) -> Vec<(&str, Confidence)> {
        let hay = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(p) = next_digit(hay, i) {
            let run = digit_run(hay, p);
            if let Some(c) = detect(hay, p, run) {
                out.push((&s[c.start..c.end], c.confidence));
            }
            i = p + run;
        }
        out
    }

    #[test]
    fn numbers_beside_numbers_are_their_own_tokens() {
        use Confidence::*;
        let card = "4916673475725015";
        assert!(luhn_valid(card.as_bytes()));
        for line in [
            "4916673475725015 12/27 123",
            "card 4916673475725015 1234",
            "ref 2024 4916673475725015",
            "4916673475725015\t1\t2",
        ] {
            assert_eq!(find_all(line), [(card, Likely)], "{line}");
        }
        assert_eq!(
            find_all("4916673475725015 5433950237257862"),
            [(card, Likely), ("5433950237257862", Likely)]
        );
        assert_eq!(
            find_all("line 1 5433-9502-3725-7862"),
            [("5433-9502-3725-7862", Likely)]
        );
        assert_eq!(
            find_all("qty 2 4916-6734-7572-5015"),
            [("4916-6734-7572-5015", Likely)]
        );
        // A card dump: number, expiry, CVV; the CVV is not a fifth group.
        assert_eq!(
            find_all("4916 6734 7572 5015 12/27 123"),
            [("4916 6734 7572 5015", Likely)]
        );
        assert_eq!(
            find_all("4916 6734 7572 5015 123"),
            [("4916 6734 7572 5015", Likely)]
        );
        // A group of four before a spaced card is another token, unless
        // the groups read one group earlier are a card too: then which
        // four are meant is a guess.
        assert_eq!(
            find_all("1234 4916 6734 7572 5015"),
            [("4916 6734 7572 5015", Likely)]
        );
        let lead = (4000..5000)
            .map(|g| format!("{g} 4916 6734 7572"))
            .find(|t| luhn_valid(t.replace(' ', "").as_bytes()))
            .unwrap();
        let both = format!("{lead} 5015");
        let found = find_all(&both);
        assert!(found.iter().all(|f| f.1 == Possible), "{found:?}");
        assert!(found.contains(&("4916 6734 7572 5015", Possible)));
        // Two spaced cards side by side explain the windows between them.
        let likely = |s| -> Vec<_> { find_all(s).into_iter().filter(|f| f.1 == Likely).collect() };
        assert_eq!(
            likely("6011 4796 2979 3779 6011 0625 3175 1331"),
            [
                ("6011 4796 2979 3779", Likely),
                ("6011 0625 3175 1331", Likely)
            ]
        );
        // A spaced card beside a hyphenated one: two tokens, two cards.
        assert_eq!(
            find_all("4916 6734 7572 5015 5433-9502-3725-7862"),
            [
                ("4916 6734 7572 5015", Likely),
                ("5433-9502-3725-7862", Likely)
            ]
        );
        // Long groups never overflow the sequence test.
        assert!(find_all("4916 6734 75725015123 4567 89").len() <= 1);
        // Glued by a hyphen or a dot, a number is part of something longer.
        assert!(find_all("1-4916673475725015").is_empty());
        assert!(find_all("4916673475725015.5").is_empty());
    }

    #[test]
    fn code_point_tables_and_hex_dumps_stay_quiet() {
        // Consecutive code points that happen to pass Luhn.
        let table = (5000..6000u32)
            .map(|b| format!("{} {} {} {}", b, b + 1, b + 2, b + 3))
            .find(|t| luhn_valid(t.replace(' ', "").as_bytes()))
            .unwrap();
        let row = format!("U+ {table} {}", &table[..4]);
        assert!(
            find_all(&row).iter().all(|f| f.1 == Confidence::Unlikely),
            "{row}"
        );
        // Evenly spaced, and close together.
        assert!(in_sequence(&[1000, 2000, 3000, 4000]));
        assert!(in_sequence(&[5430, 5441, 5437, 5460]));
        assert!(in_sequence(&[4661, 4662, 4663, 1274]));
        assert!(!in_sequence(&[4916, 6734, 7572, 5015]));
        // Beside hexadecimal words, digits are a hex dump.
        let dump = "00a0 4916 6734 7572 5015 3f2e";
        assert_eq!(
            find_all(dump),
            [("4916 6734 7572 5015", Confidence::Unlikely)]
        );
        assert!(counts_up(b"4567890123456789"));
        assert!(!counts_up(b"4916673475725015"));
    }

    #[test]
    fn tables_ids_and_old_lengths_seen_in_real_trees() {
        use Confidence::*;
        let likely = |s: &str| -> Vec<String> {
            find_all(s)
                .into_iter()
                .filter(|f| f.1 >= Likely)
                .map(|f| f.0.to_string())
                .collect()
        };
        // Catalog rows: pairs of neighbouring numbers (postgres.bki).
        assert!(likely("0 1185 1150 1151 2476 2477 2907 2908 - d p f 0").is_empty());
        // A code-point table whose rows continue across line breaks.
        assert!(likely("7876 7877 4109 7966 7970 7971\n7972 7973 7974").is_empty());
        // Ids in URLs and names (fuzzer test cases).
        // In a URL path it is a leak, as in an access log.
        assert_eq!(
            likely("GET /api/cards/4916660487647592 HTTP/1.1"),
            ["4916660487647592"]
        );
        // One hex word nearby is not a dump.
        assert_eq!(
            likely("Ship to Apt 4B card 4916 0115 2449 3907 exp 12/27"),
            ["4916 0115 2449 3907"]
        );
        assert_eq!(
            likely("txn 9f3a2c1e card 4916 3982 5979 1906 ok"),
            ["4916 3982 5979 1906"]
        );
        assert!(likely("clusterfuzz-testcase-minimized-fuzzer-5390364397928448 |").is_empty());
        // Hex dumps, stroke orders.
        assert!(likely("0000000: 2e54 4820 5858 4420 3120 2241  .TH XXD").is_empty());
        assert!(likely("IGNORE # 341124311214544\n").is_empty());
        // 13-digit Visa numbers are not issued any more: POSSIBLE.
        let old = with_luhn_digit("490167348812");
        let line = format!("# {old}\n");
        assert_eq!(find_all(&line), [(old.as_str(), Possible)]);
        // A real card keeps its place beside ordinary words and numbers.
        assert_eq!(likely("card: 5390364397928448."), ["5390364397928448"]);
    }

    #[test]
    fn rejects_mixed_separators_and_bad_luhn() {
        assert_eq!(find("5433-9502 3725-7862"), None);
        assert_eq!(find("5433-9502-3725-7863"), None);
        assert_eq!(find("5433--9502-3725-7862"), None);
    }

    #[test]
    fn rejects_longer_runs() {
        assert_eq!(find("15433950237257862"), None);
        assert_eq!(find("54339502372578621"), None);
        assert_eq!(find("a5433950237257862"), None);
        assert_eq!(find("5433950237257862b"), None);
        assert_eq!(find("1-5433-9502-3725-7862"), None);
        assert_eq!(find("5433-9502-3725-7862-1"), None);
        assert_eq!(find("0.5433950237257862"), None);
        assert_eq!(find("5433-9502-3725-7862-1234-5678"), None);
    }

    #[test]
    fn length_boundaries() {
        // 12 digits is never a card here; 20 never.
        assert_eq!(find("401288888881"), None);
        assert_eq!(find("40128888888818810000"), None);
        // 13-digit Visa.
        assert_eq!(find("4222222222222"), Some((0, 13, Confidence::Unlikely)));
    }

    #[test]
    fn test_numbers_are_unlikely() {
        assert_eq!(
            find("4111 1111 1111 1111"),
            Some((0, 19, Confidence::Unlikely))
        );
        assert_eq!(
            find("4242424242424242"),
            Some((0, 16, Confidence::Unlikely))
        );
    }

    #[test]
    fn unusual_length_is_only_possible() {
        // A Luhn-valid 17-digit Visa number.
        let d = with_luhn_digit("4000000000000123");
        assert_eq!(find(&d).map(|f| f.2), Some(Confidence::Possible));
    }
}
