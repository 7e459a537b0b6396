//! IBAN_CODE: every country in the SWIFT IBAN registry, with its national
//! structure (which positions are digits, letters, or either) and the
//! ISO 7064 mod-97 check; written in any grouping people use (fours,
//! other groups, dots, hyphens, one separator kind per IBAN).
//!
//! A regex cannot know where an IBAN ends without knowing its country's
//! length, so a word that follows (`… ALL CAPS`) would be swallowed. Here
//! the country is read first, then exactly its number of characters.

use std::sync::LazyLock;

use regex::bytes::Regex;

use super::Candidate;
use crate::engine::{Confidence, DetectorId};

/// A country's BBAN: runs of (count, kind), kind being `n` (digits), `a`
/// (upper-case letters) or `c` (either), as the registry writes them.
struct Country {
    code: &'static [u8; 2],
    bban: &'static [(u8, u8)],
}

macro_rules! countries {
    ($($code:literal: $($n:literal $k:ident),+;)+) => {
        &[$(Country { code: $code, bban: &[$(($n, stringify!($k).as_bytes()[0])),+] }),+]
    };
}

/// The registry's countries and their BBAN structures.
const COUNTRIES: &[Country] = countries! {
    b"AD": 4 n, 4 n, 12 c;
    b"AE": 3 n, 16 n;
    b"AL": 8 n, 16 c;
    b"AT": 5 n, 11 n;
    b"AZ": 4 a, 20 c;
    b"BA": 3 n, 3 n, 8 n, 2 n;
    b"BE": 3 n, 7 n, 2 n;
    b"BG": 4 a, 4 n, 2 n, 8 c;
    b"BH": 4 a, 14 c;
    b"BI": 5 n, 5 n, 11 n, 2 n;
    b"BR": 8 n, 5 n, 10 n, 1 a, 1 c;
    b"BY": 4 c, 4 n, 16 c;
    b"CH": 5 n, 12 c;
    b"CR": 4 n, 14 n;
    b"CY": 3 n, 5 n, 16 c;
    b"CZ": 4 n, 6 n, 10 n;
    b"DE": 8 n, 10 n;
    b"DJ": 5 n, 5 n, 11 n, 2 n;
    b"DK": 4 n, 9 n, 1 n;
    b"DO": 4 c, 20 n;
    b"EE": 2 n, 2 n, 11 n, 1 n;
    b"EG": 4 n, 4 n, 17 n;
    b"ES": 4 n, 4 n, 1 n, 1 n, 10 n;
    b"FI": 3 n, 11 n;
    b"FK": 2 a, 12 n;
    b"FO": 4 n, 9 n, 1 n;
    b"FR": 5 n, 5 n, 11 c, 2 n;
    b"GB": 4 a, 6 n, 8 n;
    b"GE": 2 a, 16 n;
    b"GI": 4 a, 15 c;
    b"GL": 4 n, 9 n, 1 n;
    b"GR": 3 n, 4 n, 16 c;
    b"GT": 4 c, 20 c;
    b"HN": 4 a, 20 n;
    b"HR": 7 n, 10 n;
    b"HU": 3 n, 4 n, 1 n, 15 n, 1 n;
    b"IE": 4 a, 6 n, 8 n;
    b"IL": 3 n, 3 n, 13 n;
    b"IQ": 4 a, 3 n, 12 n;
    b"IS": 4 n, 2 n, 6 n, 10 n;
    b"IT": 1 a, 5 n, 5 n, 12 c;
    b"JO": 4 a, 4 n, 18 c;
    b"KW": 4 a, 22 c;
    b"KZ": 3 n, 13 c;
    b"LB": 4 n, 20 c;
    b"LC": 4 a, 24 c;
    b"LI": 5 n, 12 c;
    b"LT": 5 n, 11 n;
    b"LU": 3 n, 13 c;
    b"LV": 4 a, 13 c;
    b"LY": 3 n, 3 n, 15 n;
    b"MC": 5 n, 5 n, 11 c, 2 n;
    b"MD": 2 c, 18 c;
    b"ME": 3 n, 13 n, 2 n;
    b"MK": 3 n, 10 c, 2 n;
    b"MN": 4 n, 12 n;
    b"MR": 5 n, 5 n, 11 n, 2 n;
    b"MT": 4 a, 5 n, 18 c;
    b"MU": 4 a, 2 n, 2 n, 12 n, 3 n, 3 a;
    b"NI": 4 a, 20 n;
    b"NL": 4 a, 10 n;
    b"NO": 4 n, 6 n, 1 n;
    b"OM": 3 n, 16 c;
    b"PK": 4 a, 16 c;
    b"PL": 8 n, 16 n;
    b"PS": 4 a, 21 c;
    b"PT": 4 n, 4 n, 11 n, 2 n;
    b"QA": 4 a, 21 c;
    b"RO": 4 a, 16 c;
    b"RS": 3 n, 13 n, 2 n;
    b"RU": 9 n, 5 n, 15 c;
    b"SA": 2 n, 18 c;
    b"SC": 4 a, 2 n, 2 n, 16 n, 3 a;
    b"SD": 2 n, 12 n;
    b"SE": 3 n, 16 n, 1 n;
    b"SI": 5 n, 8 n, 2 n;
    b"SK": 4 n, 6 n, 10 n;
    b"SM": 1 a, 5 n, 5 n, 12 c;
    b"SO": 4 n, 3 n, 12 n;
    b"ST": 4 n, 4 n, 11 n, 2 n;
    b"SV": 4 a, 20 n;
    b"TL": 3 n, 14 n, 2 n;
    b"TN": 2 n, 3 n, 13 n, 2 n;
    b"TR": 5 n, 1 n, 16 c;
    b"UA": 6 n, 19 c;
    b"VA": 3 n, 15 n;
    b"VG": 4 a, 16 n;
    b"XK": 4 n, 10 n, 2 n;
    b"YE": 4 a, 4 n, 18 c;
};

/// The longest IBAN (Russia's 33) written with a separator between every
/// pair of characters, which bounds how far a match can reach; the
/// engine's block overlap is built for the longest key.
const MAX_MATCH: usize = 33 * 2;
const _: () = assert!(MAX_MATCH <= super::apikey::MAX_MATCH);

/// Where an IBAN can start: a country code and check digits at the start
/// of a word, perhaps with a separator between them.
static START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?-u:\b)[A-Z]{2}[ .\-]?[0-9]{2}").expect("valid"));

fn country(code: &[u8]) -> Option<&'static Country> {
    COUNTRIES.iter().find(|c| c.code[..] == *code)
}

/// Appends the IBANs in `hay` to `out`.
pub fn detect(hay: &[u8], out: &mut Vec<Candidate>) {
    let mut from = 0;
    while let Some(m) = START.find_at(hay, from) {
        from = m.start() + 1;
        let Some(c) = country(&hay[m.start()..m.start() + 2]) else {
            continue;
        };
        if let Some(end) = read(hay, m.start(), c) {
            out.push(Candidate {
                detector: DetectorId::IbanCode,
                confidence: Confidence::Likely,
                kind: None,
                start: m.start(),
                end,
                keyword_raises: true,
            });
            from = end;
        }
    }
}

/// Reads `c`'s IBAN from `start`: exactly its length in letters and
/// digits, in groups joined by one kind of separator, ending where a
/// group ends. Returns the end if the structure and the check hold.
fn read(hay: &[u8], start: usize, c: &Country) -> Option<usize> {
    let len = 4 + c.bban.iter().map(|r| r.0 as usize).sum::<usize>();
    let mut chars = [0u8; 34];
    let (mut n, mut i) = (0, start);
    let mut sep = None;
    while n < len {
        let b = *hay.get(i)?;
        if b.is_ascii_uppercase() || b.is_ascii_digit() {
            chars[n] = b;
            n += 1;
            i += 1;
        } else if matches!(b, b' ' | b'.' | b'-') && n > 0 && sep.is_none_or(|s| s == b) {
            // One separator between two characters.
            sep = Some(b);
            i += 1;
            if !hay
                .get(i)
                .is_some_and(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return None;
            }
        } else {
            return None;
        }
    }
    // It must end where a word does: not glued to more letters or digits.
    if hay.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let iban = &chars[..len];
    (fits(&iban[4..], c.bban) && iban[2..4].iter().all(u8::is_ascii_digit) && mod97(iban))
        .then_some(i)
}

/// Whether a BBAN has the registry's structure for its country.
fn fits(bban: &[u8], structure: &[(u8, u8)]) -> bool {
    let mut at = 0;
    structure.iter().all(|&(count, kind)| {
        let part = &bban[at..at + count as usize];
        at += count as usize;
        part.iter().all(|b| match kind {
            b'n' => b.is_ascii_digit(),
            b'a' => b.is_ascii_uppercase(),
            _ => b.is_ascii_uppercase() || b.is_ascii_digit(),
        })
    })
}

/// ISO 7064 MOD 97-10 over the IBAN with its first four characters moved
/// to the end, letters counted as 10 to 35: valid IBANs leave 1.
pub fn mod97(iban: &[u8]) -> bool {
    let mut rem: u32 = 0;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        rem = match b {
            b'0'..=b'9' => (rem * 10 + u32::from(b - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(b - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        detect(s.as_bytes(), &mut out);
        out.iter().map(|c| &s[c.start..c.end]).collect()
    }

    /// The registry's own examples, as it prints them.
    const EXAMPLES: &[&str] = &[
        "AD12 0001 2030 2003 5910 0100",
        "AE07 0331 2345 6789 0123 456",
        "AL47 2121 1009 0000 0002 3569 8741",
        "AT61 1904 3002 3457 3201",
        "AZ21 NABZ 0000 0000 1370 1000 1944",
        "BA39 1290 0794 0102 8494",
        "BE68 5390 0754 7034",
        "BG80 BNBG 9661 1020 3456 78",
        "BH67 BMAG 0000 1299 1234 56",
        "BI42 1000 0100 0100 0033 2045 181",
        "BR18 0036 0305 0000 1000 9795 493C 1",
        "BY13 NBRB 3600 9000 0000 2Z00 AB00",
        "CH93 0076 2011 6238 5295 7",
        "CR05 0152 0200 1026 2840 66",
        "CY17 0020 0128 0000 0012 0052 7600",
        "CZ65 0800 0000 1920 0014 5399",
        "DE89 3704 0044 0532 0130 00",
        "DJ21 0001 0000 0001 5400 0100 186",
        "DK50 0040 0440 1162 43",
        "DO28 BAGR 0000 0001 2124 5361 1324",
        "EE38 2200 2210 2014 5685",
        "EG38 0019 0005 0000 0000 2631 8000 2",
        "ES91 2100 0418 4502 0005 1332",
        "FI21 1234 5600 0007 85",
        "FK88 SC12 3456 7890 12",
        "FO62 6460 0001 6316 34",
        "FR14 2004 1010 0505 0001 3M02 606",
        "GB29 NWBK 6016 1331 9268 19",
        "GE29 NB00 0000 0101 9049 17",
        "GI75 NWBK 0000 0000 7099 453",
        "GL89 6471 0001 0002 06",
        "GR16 0110 1250 0000 0001 2300 695",
        "GT82 TRAJ 0102 0000 0012 1002 9690",
        "HR12 1001 0051 8630 0016 0",
        "HU42 1177 3016 1111 1018 0000 0000",
        "IE29 AIBK 9311 5212 3456 78",
        "IL62 0108 0000 0009 9999 999",
        "IQ98 NBIQ 8501 2345 6789 012",
        "IS14 0159 2600 7654 5510 7303 39",
        "IT60 X054 2811 1010 0000 0123 456",
        "JO94 CBJO 0010 0000 0000 0131 0003 02",
        "KW81 CBKU 0000 0000 0000 1234 5601 01",
        "KZ86 125K ZT50 0410 0100",
        "LB62 0999 0000 0001 0019 0122 9114",
        "LC55 HEMM 0001 0001 0012 0012 0002 3015",
        "LI21 0881 0000 2324 013A A",
        "LT12 1000 0111 0100 1000",
        "LU28 0019 4006 4475 0000",
        "LV80 BANK 0000 4351 9500 1",
        "LY83 0020 4800 0020 1001 2036 1",
        "MC58 1122 2000 0101 2345 6789 030",
        "MD24 AG00 0225 1000 1310 4168",
        "ME25 5050 0001 2345 6789 51",
        "MK07 2501 2000 0058 984",
        "MR13 0002 0001 0100 0012 3456 753",
        "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
        "MU17 BOMM 0101 1010 3030 0200 000M UR",
        "NL91 ABNA 0417 1643 00",
        "NO93 8601 1117 947",
        "PK36 SCBL 0000 0011 2345 6702",
        "PL61 1090 1014 0000 0712 1981 2874",
        "PS92 PALS 0000 0000 0400 1234 5670 2",
        "PT50 0002 0123 1234 5678 9015 4",
        "QA58 DOHB 0000 1234 5678 90AB CDEF G",
        "RO49 AAAA 1B31 0075 9384 0000",
        "RS35 2600 0560 1001 6113 79",
        "SA03 8000 0000 6080 1016 7519",
        "SC18 SSCB 1101 0000 0000 0000 1497 USD",
        "SD21 2901 0501 2340 01",
        "SE45 5000 0000 0583 9825 7466",
        "SI56 2633 0001 2039 086",
        "SK31 1200 0000 1987 4263 7541",
        "SM86 U032 2509 8000 0000 0270 100",
        "ST68 0001 0001 0051 8453 1011 2",
        "SV62 CENR 0000 0000 0000 0070 0025",
        "TL38 0080 0123 4567 8910 157",
        "TN59 1000 6035 1835 9847 8831",
        "TR33 0006 1005 1978 6457 8413 26",
        "UA21 3223 1300 0002 6007 2335 6600 1",
        "VA59 0011 2300 0012 3456 78",
        "VG96 VPVG 0000 0123 4567 8901",
        "XK05 1212 0123 4567 8906",
        "HN88 CABF 0000 0000 0002 5000 5469",
        "MN12 1234 1234 5678 9123",
        "NI45 BAPR 0000 0013 0000 0355 8124",
        "OM81 0180 0000 0129 9123 456",
        "RU02 0445 2560 0407 0281 0412 3456 7890 1",
        "SO21 1000 0010 0100 0100 141",
        "YE15 CBYE 0001 0188 6123 4567 8912 34",
    ];

    #[test]
    fn every_registry_example_is_found_whole_in_any_grouping() {
        for e in EXAMPLES {
            assert_eq!(find(e), [*e], "{e}");
            let plain = e.replace(' ', "");
            assert_eq!(find(&plain), [plain.as_str()]);
            let dotted = plain
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect::<Vec<_>>()
                .join(".");
            assert_eq!(find(&dotted), [dotted.as_str()]);
            // A word after it, in capitals, is not part of it.
            let line = format!("{plain} ALL CAPS");
            assert_eq!(find(&line), [plain.as_str()], "{line}");
        }
        assert_eq!(find("NO 9386011117947"), ["NO 9386011117947"]);
        assert_eq!(
            find("ES 91 2100 0418 45 0200051332"),
            ["ES 91 2100 0418 45 0200051332"]
        );
    }

    #[test]
    fn the_national_structure_and_the_check_are_both_needed() {
        // Letters where Germany has digits, with a valid mod-97.
        let mut forged = *b"DE00370400440532013A00";
        for check in 0..100u8 {
            forged[2] = b'0' + check / 10;
            forged[3] = b'0' + check % 10;
            if mod97(&forged) {
                break;
            }
        }
        assert!(mod97(&forged));
        assert!(find(std::str::from_utf8(&forged).unwrap()).is_empty());
        // A wrong check digit, a length one short, an unknown country,
        // mixed separators, glued to a word.
        assert!(find("GB29 NWBK 6016 1331 9268 18").is_empty());
        assert!(find("DE89 3704 0044 0532 0130 0").is_empty());
        assert!(find("XX29 NWBK 6016 1331 9268 19").is_empty());
        assert!(find("GB29-NWBK 6016 1331 9268 19").is_empty());
        assert!(find("xGB29NWBK60161331926819").is_empty());
        assert!(find("GB29NWBK60161331926819x").is_empty());
    }
}
