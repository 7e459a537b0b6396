//! The local engine through its public API: the sample file, exact byte
//! ranges across block boundaries (property tests), contexts and masking.

mod support;

use dlpd::config::ScannerConfig;
use dlpd::engine::local::luhn_valid;
use dlpd::engine::{Confidence, DetectorId, Finding, LocalEngine};
use proptest::prelude::*;
use support::{SAMPLE_PCI, sample_with_digits_changed};

fn engine_at(min: Confidence) -> LocalEngine {
    LocalEngine::new(&ScannerConfig {
        min_confidence: min,
        ..ScannerConfig::default()
    })
}

fn ranges(found: &[Finding]) -> Vec<(DetectorId, u64, u64)> {
    found
        .iter()
        .map(|f| (f.detector.builtin().unwrap(), f.byte_start, f.byte_end))
        .collect()
}

#[test]
fn sample_pci_has_exactly_ten_cards_first_at_36_55() {
    let found = engine_at(Confidence::Likely).scan_bytes(SAMPLE_PCI.as_bytes());
    assert_eq!(found.len(), 10, "{:#?}", ranges(&found));
    assert!(
        found
            .iter()
            .all(|f| f.detector == DetectorId::CreditCardNumber)
    );
    assert!(found.iter().all(|f| f.confidence >= Confidence::Likely));
    assert_eq!((found[0].byte_start, found[0].byte_end), (36, 55));
    assert_eq!(found[0].value.raw, "5433-9502-3725-7862");
    assert_eq!((found[0].line_start, found[0].line_end), (2, 2));
    // Every reported range holds exactly the number on its line.
    for (f, line) in found.iter().zip(SAMPLE_PCI.lines().skip(1)) {
        let value = &SAMPLE_PCI[f.byte_start as usize..f.byte_end as usize];
        assert_eq!(line.rsplit_once(',').unwrap().1, value);
    }
}

#[test]
fn sample_with_one_digit_changed_in_each_number_reports_nothing() {
    let changed = sample_with_digits_changed();
    assert_ne!(changed, SAMPLE_PCI);
    assert_eq!(
        ranges(&engine_at(Confidence::VeryUnlikely).scan_bytes(changed.as_bytes())),
        vec![]
    );
}

#[test]
fn contexts_are_40_bytes_and_mask_neighbouring_findings() {
    let found = engine_at(Confidence::Likely).scan_bytes(SAMPLE_PCI.as_bytes());
    let first = &found[0];
    assert_eq!(first.before.raw, "Name,Credit Card\nRep. Viviana Hintz,");
    assert_eq!(first.after.raw.len(), 40);
    // The second row's number sits in the first finding's after-context.
    assert!(first.after.raw.contains("3457-389808-8"));
    assert!(!first.after.masked.contains("3457"));
    assert!(first.after.masked.contains("Eloisa Champlin,****-******-"));
    assert_eq!(first.value.masked, "****-****-****-7862");
}

#[test]
fn min_confidence_filters_documented_test_values() {
    let text = b"test card 4111 1111 1111 1111 and ssn 078-05-1120\n";
    assert!(engine_at(Confidence::Likely).scan_bytes(text).is_empty());
    let low = engine_at(Confidence::Unlikely).scan_bytes(text);
    assert_eq!(low.len(), 2);
    assert!(low.iter().all(|f| f.confidence == Confidence::Unlikely));
}

#[test]
fn keywords_raise_confidence() {
    let e = engine_at(Confidence::VeryUnlikely);
    let plain = e.scan_bytes(b"x\n536-22-1234\n");
    let near = e.scan_bytes(b"SSN: 536-22-1234\n");
    assert_eq!(plain[0].confidence, Confidence::Likely);
    assert_eq!(near[0].confidence, Confidence::VeryLikely);
}

#[test]
fn invalid_utf8_keeps_exact_byte_ranges() {
    let mut data = b"caf\xe9 \xff\xfe na\xefve ".to_vec();
    let start = data.len() as u64;
    data.extend_from_slice(b"5433-9502-3725-7862 \xc3\x28 end\n");
    let found = engine_at(Confidence::Likely).scan_bytes(&data);
    assert_eq!(
        ranges(&found),
        vec![(DetectorId::CreditCardNumber, start, start + 19)]
    );
}

#[test]
fn binary_content_is_not_scanned() {
    let data = b"\x00\x01\x02 5433-9502-3725-7862";
    let verdict = engine_at(Confidence::Likely)
        .scan_reader(&data[..], |_| {})
        .unwrap();
    assert!(matches!(
        verdict,
        dlpd::engine::local::StreamVerdict::Binary
    ));
}

#[test]
fn a_match_at_every_offset_around_a_block_boundary_is_found_once() {
    let engine = engine_at(Confidence::VeryUnlikely).with_block_size(2048);
    let card = "5433-9502-3725-7862";
    for offset in 1100..1700 {
        let mut text = "a".repeat(offset - 1);
        text.push(' ');
        text.push_str(card);
        text.push(' ');
        text.push_str(&"b".repeat(3000));
        let found = engine.scan_bytes(text.as_bytes());
        assert_eq!(
            ranges(&found),
            vec![(
                DetectorId::CreditCardNumber,
                offset as u64,
                (offset + card.len()) as u64
            )],
            "offset {offset}"
        );
    }
}

#[test]
fn a_stream_after_a_longer_one_on_the_same_thread_sees_only_its_own_bytes() {
    // The block buffer is kept between streams: what an earlier, longer
    // stream left in it must never be scanned again.
    let engine = engine_at(Confidence::Likely);
    let long = format!("{}{SAMPLE_PCI}", "x".repeat(4000));
    assert_eq!(engine.scan_bytes(long.as_bytes()).len(), 10);
    for short in ["", "clean\n", "5433-9502"] {
        assert_eq!(
            ranges(&engine.scan_bytes(short.as_bytes())),
            vec![],
            "{short:?}"
        );
    }
    assert_eq!(engine.scan_bytes(SAMPLE_PCI.as_bytes()).len(), 10);
}

#[test]
fn files_read_whole_in_their_head_or_past_it_give_the_same_ranges_and_hash() {
    use dlpd::engine::{Engine, Outcome, ScanOptions};
    let engine = engine_at(Confidence::Likely);
    let dir = tempfile::tempdir().unwrap();
    let card = "5433-9502-3725-7862";
    let opts = ScanOptions {
        hash: true,
        prior: None,
    };
    // The first read takes 8 KiB: files ending before, at and after it,
    // and a card across that boundary.
    for (size, at) in [
        (100, 50),
        (8191, 8000),
        (8192, 8100),
        (8193, 8173),
        (20_000, 8185),
    ] {
        let mut text = "a ".repeat(size / 2).into_bytes();
        text.resize(size, b' ');
        text[at - 1] = b' ';
        text[at..at + card.len()].copy_from_slice(card.as_bytes());
        text[at + card.len()] = b' ';
        let path = dir.path().join(format!("f{size}.txt"));
        std::fs::write(&path, &text).unwrap();
        for report in [
            engine.scan_path(&path, opts),
            engine.scan_listed(&path, false, opts),
        ] {
            let Outcome::Scanned { findings } = &report.outcome else {
                panic!("{size}: {:?}", report.outcome);
            };
            assert_eq!(
                ranges(findings),
                vec![(
                    DetectorId::CreditCardNumber,
                    at as u64,
                    (at + card.len()) as u64
                )],
                "{size}"
            );
            assert_eq!(
                report.sha256.as_deref(),
                Some(dlpd::fsutil::sha256_hex(&text).as_str()),
                "{size}"
            );
        }
    }
    // A listed file swapped for a symlink is not followed, unless asked.
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(dir.path().join("f100.txt"), &link).unwrap();
    let refused = engine.scan_listed(&link, false, opts);
    assert!(
        matches!(refused.outcome, Outcome::Skipped(ref why) if why.to_string().contains("symlink")),
        "{:?}",
        refused.outcome
    );
    assert!(matches!(
        engine.scan_listed(&link, true, opts).outcome,
        Outcome::Scanned { .. }
    ));
}

#[test]
fn line_numbers_count_across_blocks() {
    let engine = engine_at(Confidence::Likely).with_block_size(2048);
    let mut text = String::new();
    for _ in 0..500 {
        text.push_str("nothing to see here\n");
    }
    text.push_str("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\n");
    let found = engine.scan_bytes(text.as_bytes());
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].line_start, found[0].line_end), (501, 501));
}

// ---- property tests ------------------------------------------------------

const WORDS: &[&str] = &[
    "the",
    "quarterly",
    "report",
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "alpha",
    "beta",
    "gamma",
    "delta",
    "customer",
    "export",
    "invoice",
    "notes",
    "meeting",
    "agenda",
    "é",
    "naïve",
    "über",
    "—",
    "(draft)",
    "[x]",
    "a,b",
    "\"q\"",
    "tab\tsep",
];

fn filler() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(WORDS),
            prop::sample::select(vec![" ", " ", "\n", ", ", "; "]),
        ),
        0..600,
    )
    .prop_map(|parts| parts.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

fn luhn_complete(body: String) -> String {
    (b'0'..=b'9')
        .map(|c| format!("{body}{}", c as char))
        .find(|d| luhn_valid(d.as_bytes()))
        .unwrap()
}

fn card() -> impl Strategy<Value = String> {
    let brands = prop::sample::select(vec![
        ("4", 16),
        ("4", 13),
        ("51", 16),
        ("55", 16),
        ("2221", 16),
        ("2720", 16),
        ("34", 15),
        ("37", 15),
        ("6011", 16),
        ("65", 16),
        ("36", 14),
        ("3528", 16),
        ("62", 16),
        ("4", 19),
    ]);
    (
        brands,
        prop::collection::vec(0u8..10, 19),
        prop::sample::select(vec!["", "-", " "]),
    )
        .prop_map(|((prefix, len), digits, sep)| {
            let mut body = prefix.to_string();
            // Vary the digits right after the prefix so no test number appears.
            for d in digits.iter().take(len - 1 - prefix.len()) {
                body.push((b'0' + d) as char);
            }
            let number = luhn_complete(body);
            if sep.is_empty() {
                return number;
            }
            let groups: &[usize] = match len {
                15 => &[4, 6, 5],
                14 => &[4, 6, 4],
                13 => &[4, 4, 4, 1],
                19 => &[4, 4, 4, 4, 3],
                _ => &[4, 4, 4, 4],
            };
            let mut out = Vec::new();
            let mut at = 0;
            for g in groups {
                out.push(&number[at..at + g]);
                at += g;
            }
            out.join(sep)
        })
        // Spaced, a 19-digit card whose first 16 digits are a card too is
        // read as that card and a CVV (cards of 16 are the common ones).
        .prop_filter("ambiguous spaced 19-digit card", |v| {
            let digits = v.replace(' ', "");
            !(v.contains(' ')
                && digits.len() == 19
                && dlpd::engine::local::luhn_valid(&digits.as_bytes()[..16]))
        })
}

fn ssn() -> impl Strategy<Value = String> {
    (
        1u32..900,
        1u32..100,
        1u32..10000,
        prop::sample::select(vec!["-", " "]),
    )
        .prop_filter("area 666 is never issued", |(a, ..)| *a != 666)
        .prop_map(|(a, g, s, sep)| format!("{a:03}{sep}{g:02}{sep}{s:04}"))
}

fn api_key() -> impl Strategy<Value = String> {
    let alnum = prop::collection::vec(
        prop::sample::select(
            b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789".to_vec(),
        ),
        64,
    )
    .prop_map(|v| String::from_utf8(v).unwrap());
    let base32 = prop::collection::vec(
        prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".to_vec()),
        15,
    )
    .prop_map(|v| String::from_utf8(v).unwrap());
    (alnum, base32, 0usize..4).prop_map(|(a, b32, which)| match which {
        0 => format!("github_pat_{}_{}", &a[..22], &a[5..64]),
        1 => format!("AKIA{b32}7"),
        2 => format!("glpat-{}", &a[..20]),
        _ => format!("AIza{}", &a[..35]),
    })
}

fn planted() -> impl Strategy<Value = (DetectorId, String)> {
    prop_oneof![
        card().prop_map(|v| (DetectorId::CreditCardNumber, v)),
        ssn().prop_map(|v| (DetectorId::UsSocialSecurityNumber, v)),
        api_key().prop_map(|v| (DetectorId::ApiKey, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A planted value is found exactly once at its exact byte range, with
    /// blocks small enough that many plants straddle a boundary.
    #[test]
    fn planted_value_is_found_at_its_exact_range(
        before in filler(),
        after in filler(),
        (detector, value) in planted(),
        block in 1500usize..6000,
    ) {
        let text = format!("{before} {value} {after}");
        let start = before.len() as u64 + 1;
        let end = start + value.len() as u64;
        let engine = engine_at(Confidence::VeryUnlikely).with_block_size(block);
        let found = engine.scan_bytes(text.as_bytes());
        let hits: Vec<_> = found.iter().filter(|f| f.byte_start < end && f.byte_end > start).collect();
        prop_assert_eq!(hits.len(), 1, "{:?} in {:?}", value, ranges(&found));
        prop_assert_eq!((hits[0].detector.builtin().unwrap(), hits[0].byte_start, hits[0].byte_end), (detector, start, end));
        prop_assert_eq!(&hits[0].value.raw, &value);
    }

    /// Block size never changes what is found.
    #[test]
    fn block_size_does_not_change_findings(
        parts in prop::collection::vec((filler(), planted()), 1..6),
        block in 1500usize..5000,
    ) {
        let text: String = parts.iter().map(|(f, (_, v))| format!("{f} {v} ")).collect();
        let small = engine_at(Confidence::VeryUnlikely).with_block_size(block).scan_bytes(text.as_bytes());
        let whole = engine_at(Confidence::VeryUnlikely).scan_bytes(text.as_bytes());
        prop_assert_eq!(small, whole);
    }
}

/// A file scanned whole, and the same file scanned at a shorter length and
/// then by its grown part only, give the same findings, wherever the old
/// end falls: inside a card, inside its context, or between two.
#[test]
fn a_grown_file_scanned_by_its_new_bytes_gives_the_findings_of_a_whole_scan() {
    use dlpd::engine::{Engine, Outcome, Prior, ScanOptions};
    let engine = engine_at(Confidence::Possible);
    let mut text = String::new();
    let mut i = 0;
    while text.len() < 200 * 1024 {
        text.push_str(&format!("line {i} nothing here\n"));
        i += 1;
    }
    let cut_zone = text.len();
    for line in SAMPLE_PCI.lines().skip(1) {
        text.push_str(&format!(
            "card {line} ssn 536-90-4399 token 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\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grown.log");
    std::fs::write(&path, &text).unwrap();
    let whole = engine.scan_path(
        &path,
        ScanOptions {
            hash: true,
            prior: None,
        },
    );
    let expected = ranges(whole.findings());
    assert!(expected.len() >= 20, "{expected:?}");
    for cut in (cut_zone..text.len()).step_by(7) {
        std::fs::write(&path, &text[..cut]).unwrap();
        let first = engine.scan_path(
            &path,
            ScanOptions {
                hash: true,
                prior: None,
            },
        );
        let prior = Prior {
            size: cut as u64,
            sha256: dlpd::fsutil::digest_from_hex(first.sha256.as_deref().unwrap()).unwrap(),
        };
        std::fs::write(&path, &text).unwrap();
        let grown = engine.scan_path(
            &path,
            ScanOptions {
                hash: true,
                prior: Some(prior),
            },
        );
        assert_eq!(grown.grown_from, Some(cut as u64), "cut at {cut}");
        assert_eq!(grown.sha256, whole.sha256);
        let mut got = ranges(first.findings());
        got.extend(ranges(grown.findings()));
        assert_eq!(got, expected, "cut at {cut}");
        let lines = |r: &dlpd::engine::FileReport| -> Vec<u64> {
            r.findings().iter().map(|f| f.line_start).collect()
        };
        let mut got_lines = lines(&first);
        got_lines.extend(lines(&grown));
        assert_eq!(got_lines, lines(&whole), "cut at {cut}");
        assert!(matches!(grown.outcome, Outcome::Scanned { .. }));
    }
}
