//! The detectors beyond the default three: for each, values it must find
//! (with the confidence a user would expect) and near misses it must not
//! report at the default threshold (LIKELY).

mod support;

use dlpd::config::ScannerConfig;
use dlpd::engine::{Confidence, DetectorId, LocalEngine};

/// The findings of `detector` alone in `text`, as (value, confidence), at
/// the default threshold.
fn find(detector: DetectorId, text: &str) -> Vec<(String, Confidence)> {
    let engine = LocalEngine::new(&ScannerConfig {
        detectors: vec![detector],
        ..ScannerConfig::default()
    });
    engine
        .scan_bytes(text.as_bytes())
        .into_iter()
        .map(|f| {
            assert_eq!(f.detector, detector);
            (f.value.raw, f.confidence)
        })
        .collect()
}

fn found(detector: DetectorId, text: &str, value: &str, confidence: Confidence) {
    assert_eq!(
        find(detector, text),
        vec![(value.to_string(), confidence)],
        "{detector} in {text:?}"
    );
}

fn none(detector: DetectorId, text: &str) {
    assert_eq!(find(detector, text), vec![], "{detector} in {text:?}");
}

use Confidence::*;
use DetectorId::*;

#[test]
fn cryptographic_keys() {
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW";
    found(CryptographicKey, &format!("{key}\n"), key, VeryLikely);
    let pgp = "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\nlQOYBF2mXf8BCADHq3v1a6Fo0kN8Ww4E8m0v";
    found(CryptographicKey, pgp, pgp, VeryLikely);
    found(
        CryptographicKey,
        "the header -----BEGIN RSA PRIVATE KEY----- alone",
        "-----BEGIN RSA PRIVATE KEY-----",
        Likely,
    );
    none(
        CryptographicKey,
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA",
    );
    none(
        CryptographicKey,
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa",
    );
}

#[test]
fn iban_codes_pass_mod_97() {
    found(
        IbanCode,
        "IBAN: GB82 WEST 1234 5698 7654 32.",
        "GB82 WEST 1234 5698 7654 32",
        VeryLikely,
    );
    found(
        IbanCode,
        "pay DE89370400440532013000 now",
        "DE89370400440532013000",
        Likely,
    );
    none(IbanCode, "IBAN: GB82 WEST 1234 5698 7654 33");
    none(IbanCode, "IBAN: DE89 3704 0044 0532 0130"); // too short for DE
}

#[test]
fn email_addresses() {
    found(
        EmailAddress,
        "contact: jane.doe@acme-corp.io",
        "jane.doe@acme-corp.io",
        VeryLikely,
    );
    found(
        EmailAddress,
        "from j_smith+news@mail.co.uk ok",
        "j_smith+news@mail.co.uk",
        Likely,
    );
    none(EmailAddress, "write to jane@example.com"); // a documentation domain
    none(EmailAddress, "user@localhost and @handle and a@b");
}

#[test]
fn phone_numbers_need_context() {
    found(
        PhoneNumber,
        "call me at (415) 555-2671 today",
        "(415) 555-2671",
        Likely,
    );
    found(
        PhoneNumber,
        "mobile: +447911123456",
        "+447911123456",
        Likely,
    );
    found(PhoneNumber, "tel 1-800-275-2273", "1-800-275-2273", Likely);
    none(PhoneNumber, "ticket (415) 555-2671 closed"); // no context: POSSIBLE
    none(PhoneNumber, "call 415-155-2671"); // exchange cannot start with 1
    none(PhoneNumber, "call order 9415-555-2671");
}

#[test]
fn ip_addresses() {
    found(
        IpAddress,
        "server ip: 192.168.10.25",
        "192.168.10.25",
        Likely,
    );
    none(IpAddress, "version 1.2.3.4.5 released");
    none(IpAddress, "ip 999.1.1.1 is not an address");
    none(IpAddress, "ip 0.0.0.0");
    none(IpAddress, "build 10.0.0.12"); // no context: POSSIBLE
}

#[test]
fn routing_numbers_pass_the_aba_checksum() {
    found(
        UsBankRoutingMicr,
        "routing number 021000021",
        "021000021",
        Likely,
    );
    none(UsBankRoutingMicr, "routing number 021000022");
    none(UsBankRoutingMicr, "routing number 991000021"); // not a Federal Reserve prefix
    none(UsBankRoutingMicr, "order 021000021"); // no context: POSSIBLE
}

#[test]
fn employer_and_taxpayer_ids() {
    found(
        UsEmployerIdentificationNumber,
        "EIN: 12-3456789",
        "12-3456789",
        Likely,
    );
    none(UsEmployerIdentificationNumber, "EIN: 07-3456789"); // no campus issues 07
    none(UsEmployerIdentificationNumber, "part 12-3456789");
    found(
        UsIndividualTaxpayerIdentificationNumber,
        "ITIN 912-70-1234",
        "912-70-1234",
        VeryLikely,
    );
    found(
        UsIndividualTaxpayerIdentificationNumber,
        "ref 912-70-1234",
        "912-70-1234",
        Likely,
    );
    none(UsIndividualTaxpayerIdentificationNumber, "ITIN 912-45-1234"); // group 45 is not issued
    none(UsIndividualTaxpayerIdentificationNumber, "ITIN 912-701234"); // mixed separators
}

#[test]
fn passports_and_dates_of_birth_need_a_keyword() {
    found(
        UsPassport,
        "passport number: C12345678",
        "C12345678",
        Likely,
    );
    found(UsPassport, "Passport 123456789", "123456789", Likely);
    none(UsPassport, "order C12345678 shipped");
    found(
        DateOfBirth,
        "date of birth: 1984-03-27",
        "1984-03-27",
        Likely,
    );
    found(DateOfBirth, "DOB 03/27/1984", "03/27/1984", Likely);
    found(
        DateOfBirth,
        "born March 27, 1984 in Ohio",
        "March 27, 1984",
        Likely,
    );
    none(DateOfBirth, "invoice date 1984-03-27");
    none(DateOfBirth, "DOB: 1984-13-27"); // no 13th month
}

#[test]
fn connection_strings_and_passwords_in_code() {
    found(
        DatabaseConnectionString,
        "DATABASE_URL=postgres://app:Xk9v2QpLm@db.internal:5432/prod\n",
        "postgres://app:Xk9v2QpLm@db.internal:5432/prod",
        VeryLikely,
    );
    found(
        DatabaseConnectionString,
        "mongodb+srv://svc:T0ps3cr3tValue@cluster0.ab1cd.mongodb.net/app",
        "mongodb+srv://svc:T0ps3cr3tValue@cluster0.ab1cd.mongodb.net/app",
        VeryLikely,
    );
    none(
        DatabaseConnectionString,
        "postgres://user:password@localhost/db",
    );
    none(DatabaseConnectionString, "postgres://db.internal:5432/prod");
    found(
        PasswordInCode,
        "db_password = \"hunter2!x\"",
        "hunter2!x",
        Likely,
    );
    found(
        PasswordInCode,
        "{\"password\": \"Tr0ub4dor&3\"}",
        "Tr0ub4dor&3",
        Likely,
    );
    none(PasswordInCode, "password = \"changeme\"");
    none(PasswordInCode, "password = \"${DB_PASS}\"");
    none(PasswordInCode, "password = \"abc\""); // too short to be one
}

#[test]
fn gcp_service_account_keys() {
    let json = r#"{"type": "service_account", "project_id": "p", "private_key_id": "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c", "client_email": "x"}"#;
    found(
        GcpCredentials,
        json,
        "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c",
        VeryLikely,
    );
    none(GcpCredentials, r#"{"private_key_id": "1234"}"#);
}

#[test]
fn random_tokens_by_entropy() {
    found(
        RandomlyGeneratedToken,
        "session token: 8fJ2kLq9ZxT4vB7nW1mC5rY0pH3sD6gA",
        "8fJ2kLq9ZxT4vB7nW1mC5rY0pH3sD6gA",
        Likely,
    );
    // A SHA-256 in hex: one case, at most 4 bits per character.
    none(
        RandomlyGeneratedToken,
        "token e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    none(
        RandomlyGeneratedToken,
        "token /usr/local/lib/python3/site-packages/Module01",
    );
    none(
        RandomlyGeneratedToken,
        "id 8fJ2kLq9ZxT4vB7nW1mC5rY0pH3sD6gA",
    ); // no context: POSSIBLE
}

#[test]
fn uk_and_canadian_national_numbers() {
    found(
        UkNationalInsuranceNumber,
        "NI number: AB 12 34 56 C",
        "AB 12 34 56 C",
        VeryLikely,
    );
    found(
        UkNationalInsuranceNumber,
        "ref AB123456C",
        "AB123456C",
        Likely,
    );
    none(UkNationalInsuranceNumber, "ref GB 12 34 56 C"); // GB is never issued
    none(UkNationalInsuranceNumber, "ref QA 12 34 56 C"); // Q never starts one
    found(
        CanadaSocialInsuranceNumber,
        "SIN: 130 692 544",
        "130 692 544",
        Likely,
    );
    none(CanadaSocialInsuranceNumber, "SIN: 130 692 545"); // Luhn fails
    none(CanadaSocialInsuranceNumber, "SIN: 130-692 544"); // mixed separators
    none(CanadaSocialInsuranceNumber, "using 130692544 rows"); // "using" is not "sin"
}

#[test]
fn every_detector_streams_exactly_across_block_boundaries() {
    // Each positive at every offset around a block boundary is found once.
    let samples = [
        "IBAN: GB82 WEST 1234 5698 7654 32",
        "contact: jane.doe@acme-corp.io",
        "routing number 021000021",
        "date of birth: 1984-03-27",
        "DATABASE_URL=postgres://app:Xk9v2QpLm@db.internal:5432/prod",
        "NI number: AB 12 34 56 C",
    ];
    let cfg = ScannerConfig {
        detectors: DetectorId::ALL.to_vec(),
        ..ScannerConfig::default()
    };
    let engine = LocalEngine::new(&cfg).with_block_size(4096);
    for s in samples {
        let whole = engine.scan_bytes(s.as_bytes()).len();
        assert!(whole >= 1, "{s}");
        for pad in (4096 - 2 * s.len())..(4096 + 8) {
            let text = format!("{}\n{s}\n", ".".repeat(pad));
            let got = engine.scan_bytes(text.as_bytes()).len();
            assert_eq!(got, whole, "{s} at {pad}");
        }
    }
}

#[test]
fn allowlists_silence_values_markers_and_paths() {
    let card = "5433-9502-3725-7862";
    let other = "4539 1488 0343 6467";
    let text = format!("a {card}\nb {other}  # dlp:allow\nc {other}\n");
    let cfg = |values: Vec<String>, marker: &str| ScannerConfig {
        allow_values: values,
        allow_marker: marker.into(),
        ..ScannerConfig::default()
    };
    let values = |cfg: &ScannerConfig| -> Vec<(u64, String)> {
        LocalEngine::new(cfg)
            .scan_bytes(text.as_bytes())
            .into_iter()
            .map(|f| (f.line_start, f.value.raw))
            .collect()
    };
    // The marker silences line 2 only.
    assert_eq!(
        values(&cfg(vec![], "dlp:allow")),
        vec![(1, card.to_string()), (3, other.to_string())]
    );
    // Off: every line counts.
    assert_eq!(values(&cfg(vec![], "")).len(), 3);
    // A value's hash silences it wherever it is.
    let hash = dlpd::engine::allow::hash_value(card.as_bytes());
    assert_eq!(
        values(&cfg(vec![hash], "dlp:allow")),
        vec![(3, other.to_string())]
    );

    // The hash comes from `dlpd hash-value`, which never echoes the value.
    let mut hash_value = std::process::Command::new(env!("CARGO_BIN_EXE_dlpd"));
    hash_value.arg("hash-value");
    let printed = support::fed(hash_value, format!("{card}\n").as_bytes()).stdout();
    assert_eq!(
        printed.trim(),
        format!(
            "\"sha256:{}\"",
            dlpd::engine::allow::hash_value(card.as_bytes())
        )
    );

    // Paths: a file under an allowlisted glob is skipped, with the reason.
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("testdata/cards.csv");
    std::fs::create_dir_all(fixture.parent().unwrap()).unwrap();
    std::fs::write(&fixture, &text).unwrap();
    let cfg: dlpd::config::Config =
        dlpd::config::Config::parse("[scanner]\nallow_paths = [\"**/testdata/**\"]\n", "t")
            .unwrap();
    let report = dlpd::engine::Engine::scan_path(
        &LocalEngine::new(&cfg.scanner),
        &fixture,
        dlpd::engine::ScanOptions::default(),
    );
    assert_eq!(
        report.outcome,
        dlpd::engine::Outcome::Skipped(dlpd::engine::SkipReason::Allowlisted)
    );
    // Bad entries are config errors naming their key.
    for (text, key) in [
        (
            "[scanner]\nallow_paths = [\"a[\"]",
            "scanner.allow_paths[0]",
        ),
        (
            "[scanner]\nallow_values = [\"sha256:abc\"]",
            "scanner.allow_values",
        ),
    ] {
        let err = dlpd::config::Config::parse(text, "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("key `{key}`")), "{err}");
    }
}

#[test]
fn utf16_text_with_a_bom_is_decoded_and_its_hash_is_of_the_bytes_on_disk() {
    let text = "Name,Card\r\nJosé Müller,5433-9502-3725-7862\r\n";
    let dir = tempfile::tempdir().unwrap();
    for (name, bom, big_endian) in [
        ("le.csv", [0xFF, 0xFE], false),
        ("be.csv", [0xFE, 0xFF], true),
    ] {
        let mut bytes = bom.to_vec();
        for u in text.encode_utf16() {
            bytes.extend(if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            });
        }
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let report = dlpd::engine::Engine::scan_path(
            &LocalEngine::new(&ScannerConfig::default()),
            &path,
            dlpd::engine::ScanOptions {
                hash: true,
                prior: None,
            },
        );
        let found = report.findings();
        assert_eq!(found.len(), 1, "{name}: {:?}", report.outcome);
        assert_eq!(found[0].value.raw, "5433-9502-3725-7862");
        // Ranges are in the UTF-8 form: "é" and "ü" are two bytes each.
        let utf8_start = text.find("5433").unwrap() as u64;
        assert_eq!(found[0].byte_start, utf8_start);
        assert_eq!(found[0].line_start, 2);
        assert_eq!(
            report.sha256.as_deref(),
            Some(dlpd::fsutil::sha256_file(&path).unwrap().as_str())
        );
    }
    // Without a BOM, UTF-16 is binary to the engine (NUL bytes): skipped, not misread.
    let bare: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let path = dir.path().join("bare.csv");
    std::fs::write(&path, bare).unwrap();
    let report = dlpd::engine::Engine::scan_path(
        &LocalEngine::new(&ScannerConfig::default()),
        &path,
        dlpd::engine::ScanOptions::default(),
    );
    assert_eq!(
        report.outcome,
        dlpd::engine::Outcome::Skipped(dlpd::engine::SkipReason::Binary)
    );
}

#[test]
fn csv_and_tsv_findings_get_their_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // A quoted cell with a comma and a newline is one cell; the header is row 1.
    let csv = "name,notes,card\nAnn,\"likes, \"\"quotes\"\"\nand lines\",5433-9502-3725-7862\nBob,x,4539 1488 0343 6467\n";
    let tsv = "name\tssn\nAnn\t536-22-1234\n";
    let engine = LocalEngine::new(&ScannerConfig::default());
    let table = |name: &str, text: &str| -> Vec<(u64, u64)> {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        dlpd::engine::Engine::scan_path(&engine, &path, dlpd::engine::ScanOptions::default())
            .findings()
            .iter()
            .map(|f| {
                let t = f.table.expect("a tabular finding has a row and column");
                assert_eq!((t.row_start, t.column_start), (t.row_end, t.column_end));
                (t.row_start, t.column_start)
            })
            .collect()
    };
    assert_eq!(table("a.csv", csv), vec![(2, 3), (3, 3)]);
    assert_eq!(table("a.tsv", tsv), vec![(2, 2)]);
    // Past the reader's 64 KiB chunks: every row's card is in row n, column 3.
    let big: String = std::iter::once("id,pad,card\n".to_string())
        .chain((2..3000).map(|n| format!("{n},\"{}\",4539 1488 0343 6467\n", "p,".repeat(n % 37))))
        .collect();
    let want: Vec<(u64, u64)> = (2..3000).map(|n| (n, 3)).collect();
    assert_eq!(table("big.csv", &big), want);
    // Unquoted, the cells are found in the first pass, across its blocks.
    let plain: String = std::iter::once("id,pad,card\n".to_string())
        .chain((2..16000).map(|n| format!("{n},{},4539 1488 0343 6467\n", "p".repeat(n % 37))))
        .collect();
    assert!(plain.len() > 2 * dlpd::engine::local::DEFAULT_BLOCK);
    let want: Vec<(u64, u64)> = (2..16000).map(|n| (n, 3)).collect();
    assert_eq!(table("plain.csv", &plain), want);
    // Not tabular: no rows or columns.
    let path = dir.path().join("a.txt");
    std::fs::write(&path, csv).unwrap();
    let report =
        dlpd::engine::Engine::scan_path(&engine, &path, dlpd::engine::ScanOptions::default());
    assert!(report.findings().iter().all(|f| f.table.is_none()));
}
