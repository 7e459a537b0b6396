//! Layouts of real data that dlpd's first corpus did not have: numbers
//! beside numbers (card dumps, tables, reports), and the Unicode
//! separators and full-width digits people paste. Through the engine, and
//! through `dlpd scan` as a CI gate runs it.

mod support;

use dlpd::config::ScannerConfig;
use dlpd::engine::{Confidence, DetectorId, LocalEngine};
use support::Env;

/// Every finding at the default threshold: (detector, exact bytes of the
/// original text, masked value).
fn find(text: &str) -> Vec<(DetectorId, String, String)> {
    LocalEngine::new(&ScannerConfig::default())
        .scan_bytes(text.as_bytes())
        .into_iter()
        .map(|f| {
            let (s, e) = (f.byte_start as usize, f.byte_end as usize);
            assert_eq!(f.value.raw, text[s..e], "the range is the value's");
            assert!(f.confidence >= Confidence::Likely);
            (f.detector.builtin().unwrap(), f.value.raw, f.value.masked)
        })
        .collect()
}

fn values(text: &str) -> Vec<String> {
    find(text).into_iter().map(|f| f.1).collect()
}

#[test]
fn a_card_dump_is_read_one_number_at_a_time() {
    let dump = "\
4916673475725015 12/27 123
card 4916673475725015 1234
4916673475725015 5433950237257862
line 1 5433-9502-3725-7862
qty 2 4916-6734-7572-5015
ref 2024 4916673475725015
4916 6734 7572 5015 12/27 123
ssn 536-22-1234 42
";
    assert_eq!(
        values(dump),
        [
            "4916673475725015",
            "4916673475725015",
            "4916673475725015",
            "5433950237257862",
            "5433-9502-3725-7862",
            "4916-6734-7572-5015",
            "4916673475725015",
            "4916 6734 7572 5015",
            "536-22-1234",
        ]
    );
}

#[test]
fn code_point_tables_counters_and_hex_dumps_stay_quiet() {
    let mut table = String::new();
    for row in 0..200u32 {
        let base = 0x5000 + row * 8;
        let cells: Vec<String> = (base..base + 8).map(|c| format!("{c:04X}")).collect();
        let decimal: Vec<String> = (base..base + 8).map(|c| c.to_string()).collect();
        table.push_str(&format!("U+{} {}\n", cells.join(" U+"), decimal.join(" ")));
    }
    for n in 4000..4400u32 {
        table.push_str(&format!("{n} {} {} {}\n", n + 1, n + 2, n + 3));
    }
    assert_eq!(find(&table), []);
}

#[test]
fn pasted_separators_and_full_width_digits_are_found_with_their_own_bytes() {
    let text = "paid 4916\u{a0}6734\u{a0}7572\u{a0}5015 ok\n\
                narrow 5433\u{202f}9502\u{202f}3725\u{202f}7862\n\
                figure 4916\u{2007}6734\u{2007}7572\u{2007}5015\n\
                zero-width 4916\u{200b}6734\u{200b}7572\u{200b}5015\n\
                full-width ４９１６６７３４７５７２５０１５\n\
                ssn ５３６‐２２‐１２３４\n";
    let found = find(text);
    let got: Vec<&str> = found.iter().map(|f| f.1.as_str()).collect();
    assert_eq!(
        got,
        [
            "4916\u{a0}6734\u{a0}7572\u{a0}5015",
            "5433\u{202f}9502\u{202f}3725\u{202f}7862",
            "4916\u{2007}6734\u{2007}7572\u{2007}5015",
            "4916\u{200b}6734\u{200b}7572\u{200b}5015",
            "４９１６６７３４７５７２５０１５",
            "５３６‐２２‐１２３４",
        ]
    );
    // Masks hide the digits whatever their width.
    assert_eq!(found[0].2, "****\u{a0}****\u{a0}****\u{a0}5015");
    assert_eq!(found[4].2, "************５０１５");
    assert_eq!(found[5].2, "***‐**‐****");
    assert_eq!(found[5].0, DetectorId::UsSocialSecurityNumber);
}

#[test]
fn dlpd_scan_fails_a_ci_gate_on_a_card_dump() {
    let env = Env::new();
    let dump = env.write(
        "dump.txt",
        "4916 6734 7572 5015 12/27 123\n4916673475725015 01/28 456\n",
    );
    let run = env.run(&[
        "scan",
        "--no-store",
        "--format",
        "jsonl",
        dump.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let lines = run.jsonl();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(l["detector"]["id"], "CREDIT_CARD_NUMBER");
        assert!(!l.to_string().contains("6734"), "masked: {l}");
    }
}

/// The findings of one detector alone, at the default threshold.
fn find_with(detector: DetectorId, text: &str) -> Vec<String> {
    let engine = LocalEngine::new(&ScannerConfig {
        detectors: vec![detector],
        ..ScannerConfig::default()
    });
    engine
        .scan_bytes(text.as_bytes())
        .into_iter()
        .map(|f| f.value.raw)
        .collect()
}

#[test]
fn ibans_of_every_grouping_end_where_their_country_says() {
    let text = "AL47212110090000000235698741 ALL CAPS\n\
                iban NO 9386011117947\n\
                ES 91 2100 0418 45 0200051332\n\
                BY13NBRB3600900000002Z00AB00\n\
                DE89.3704.0044.0532.0130.00\n\
                CR05 0152 0200 1026 2840 66 EG380019000500000000263180002\n";
    assert_eq!(
        find_with(DetectorId::IbanCode, text),
        [
            "AL47212110090000000235698741",
            "NO 9386011117947",
            "ES 91 2100 0418 45 0200051332",
            "BY13NBRB3600900000002Z00AB00",
            "DE89.3704.0044.0532.0130.00",
            "CR05 0152 0200 1026 2840 66",
            "EG380019000500000000263180002",
        ]
    );
}

#[test]
fn uri_user_info_is_not_an_email_and_documentation_domains_are_quiet() {
    let text = "ftp://user:secret@files.acme.io/x\n\
                git https://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@github.com/o/r\n\
                ops@mail.example.com ops@acme.io\n";
    assert_eq!(find_with(DetectorId::EmailAddress, text), ["ops@acme.io"]);
}

#[test]
fn spaced_international_phone_numbers_are_found_with_a_keyword() {
    let text = "phone +49 30 1234567\ntel: +44 (0)20 7946 0958\n";
    assert_eq!(
        find_with(DetectorId::PhoneNumber, text),
        ["+49 30 1234567", "+44 (0)20 7946 0958"]
    );
}

#[test]
fn a_second_copy_of_a_finding_in_its_context_is_masked_too() {
    let secret = "h7Gk2LpQ9xZr4VtB8nWm3CsY6dFj1";
    let text = format!("token = \"{secret}\"\nif token == \"{secret}\": ok\n");
    let found = LocalEngine::new(&ScannerConfig::default()).scan_bytes(text.as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    for masked in [&f.value.masked, &f.before.masked, &f.after.masked] {
        assert!(!masked.contains(&secret[..8]), "{masked}");
        assert!(!masked.contains(&secret[20..]), "{masked}");
    }
    // The raw context still has it, for outputs configured to show values.
    assert!(f.after.raw.contains(&secret[..8]));
}

#[test]
fn a_file_of_nothing_but_findings_records_a_bounded_number_and_says_so() {
    use dlpd::engine::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dump.txt");
    std::fs::write(&path, "4916673475725015\n".repeat(100_050)).unwrap();
    let report = LocalEngine::new(&ScannerConfig::default()).scan_path(&path, Default::default());
    assert_eq!(report.findings().len(), 100_000);
    assert!(
        report
            .partial
            .iter()
            .any(|p| p.contains("first 100000 findings")),
        "{:?}",
        report.partial
    );
}
