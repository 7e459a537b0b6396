//! Fuzzing on the stable toolchain, bounded in time: proptest mutates
//! valid seeds of every format the engine opens (zip, tar, gzip, docx,
//! xlsx, PDF, UTF-16 text) and feeds them to the engine; and throws random
//! bytes and half-formed requests at the real daemon's listener. Nothing
//! may panic, fail the scan, or take the listener down.
//!
//! The hostile files of `tests/hostile.rs` and `tests/archives.rs` (bombs,
//! swapped links) are the regression corpus, made by those tests.

mod support;

use std::io::{Read, Write};
use std::sync::LazyLock;
use std::time::Duration;

use dlpd::engine::{Engine, LocalEngine, Outcome};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use support::docs::{docx, gz_bytes, pdf_bytes, tar_bytes, xlsx, zip_bytes};
use support::{SAMPLE_PCI, wait_for};

/// (file name, bytes) of each seed; each holds findings when intact.
static SEEDS: LazyLock<Vec<(&'static str, Vec<u8>)>> = LazyLock::new(|| {
    let pci = SAMPLE_PCI.as_bytes();
    let inner = zip_bytes(&[("c.txt", pci)]);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(SAMPLE_PCI.encode_utf16().flat_map(u16::to_le_bytes));
    vec![
        ("a.zip", zip_bytes(&[("a.txt", pci), ("inner.zip", &inner)])),
        ("a.tar", tar_bytes(&[("a.csv", pci)])),
        ("a.csv.gz", gz_bytes(pci)),
        ("a.docx", docx()),
        ("a.xlsx", xlsx()),
        ("a.pdf", pdf_bytes(&["Employee SSN 536-22-1234"])),
        ("a.txt", utf16),
    ]
});

static ENGINE: LazyLock<LocalEngine> =
    LazyLock::new(|| LocalEngine::new(&dlpd::config::ScannerConfig::default()));

/// A seed with up to 8 bytes overwritten, and maybe cut short.
fn mutated() -> impl Strategy<Value = (usize, Vec<u8>)> {
    (0..SEEDS.len()).prop_flat_map(|i| {
        let len = SEEDS[i].1.len();
        (
            Just(i),
            prop::collection::vec((0..len, any::<u8>()), 1..8),
            prop::option::of(0..len),
        )
            .prop_map(|(i, edits, cut)| {
                let mut b = SEEDS[i].1.clone();
                for (at, byte) in edits {
                    b[at] = byte;
                }
                if let Some(cut) = cut {
                    b.truncate(cut.max(1));
                }
                (i, b)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_files_of_every_format_never_panic_or_fail_the_engine((i, bytes) in mutated()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SEEDS[i].0);
        std::fs::write(&path, &bytes).unwrap();
        // Damage is a skip reason or a partial scan; never a failure (those
        // are for I/O) and never a panic.
        let report = ENGINE.scan_path(&path, Default::default());
        prop_assert!(!matches!(report.outcome, Outcome::Failed(_)), "{:?}", report.outcome);
    }
}

/// Text made of the pieces the detectors look at: digit groups, the
/// separators people paste (no-break and zero-width spaces, full-width
/// digits, Unicode hyphens), operators and names of the assignment rule,
/// IBAN and phone starts, quotes and brackets.
fn detector_soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "4916",
        "6734",
        "7572",
        "5015",
        "536",
        "22",
        "1234",
        "0000",
        "12/27",
        "123",
        " ",
        "-",
        ".",
        "\n",
        "\t",
        "\u{a0}",
        "\u{200b}",
        "\u{2011}",
        "\u{ff14}\u{ff19}",
        "\u{3000}",
        "=",
        ":",
        ",",
        ">",
        "<",
        "\"",
        "'",
        "(",
        ")",
        "[",
        "]",
        "key",
        "token",
        "secret",
        "password",
        "api_key",
        "xToken",
        "string",
        "&'static str",
        "DE89",
        "GB29",
        "NO",
        "+49",
        "(0)",
        "@",
        "example.com",
        "://",
        "ghp_",
        "AKIA",
        "sk_live_",
        "-----BEGIN ",
        "q8W2e4R6t8Y0u2I4o6P8",
        "5f4dcc3b5aa765d61d8327deb882cf99",
        "\u{e9}",
        "\u{fffd}",
    ]);
    prop::collection::vec(piece, 0..1500).prop_map(|v| v.concat())
}

static ALL_DETECTORS: LazyLock<LocalEngine> = LazyLock::new(|| {
    LocalEngine::new(&dlpd::config::ScannerConfig {
        detectors: dlpd::engine::DetectorId::ALL.to_vec(),
        min_confidence: dlpd::engine::Confidence::VeryUnlikely,
        ..dlpd::config::ScannerConfig::default()
    })
});

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every detector on, every confidence kept, small blocks: nothing
    /// panics, every range is inside the text and is the finding's value,
    /// and the block size changes nothing.
    #[test]
    fn detector_soup_never_panics_and_every_range_is_its_value(text in detector_soup()) {
        let bytes = text.as_bytes();
        let whole = ALL_DETECTORS.scan_text_bytes(bytes);
        for f in &whole {
            let (s, e) = (f.byte_start as usize, f.byte_end as usize);
            prop_assert!(s <= e && e <= bytes.len(), "{f:?}");
            prop_assert_eq!(&f.value.raw, &String::from_utf8_lossy(&bytes[s..e]));
        }
        let small = LocalEngine::new(&dlpd::config::ScannerConfig {
            detectors: dlpd::engine::DetectorId::ALL.to_vec(),
            min_confidence: dlpd::engine::Confidence::VeryUnlikely,
            ..dlpd::config::ScannerConfig::default()
        })
        .with_block_size(2048);
        let key = |f: &dlpd::engine::Finding| (f.byte_start, f.byte_end, f.detector.clone());
        let mut a: Vec<_> = whole.iter().map(key).collect();
        let mut b: Vec<_> = small.scan_text_bytes(bytes).iter().map(key).collect();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
    }
}

#[test]
fn every_seed_holds_findings_when_intact() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in SEEDS.iter() {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let report = ENGINE.scan_path(&path, Default::default());
        assert!(
            !report.findings().is_empty(),
            "{name}: {:?}",
            report.outcome
        );
    }
}

/// Sends `bytes` on a new connection, closes the sending side, and reads
/// whatever comes back until the server closes (or 3 s pass).
fn throw(port: u16, bytes: &[u8]) {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.read_to_end(&mut Vec::new());
}

/// A request line, some header lines and a body, each maybe malformed.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "G\0T", ""]);
    let path = prop::sample::select(vec![
        "/ping", "/healthz", "/v3/scan", "/ingest", "*", "/%ff%00",
    ]);
    let header = prop::sample::select(vec![
        "Content-Length: 5",
        "Content-Length: -1",
        "Content-Length: 99999999999999999999",
        "Transfer-Encoding: chunked",
        "Transfer-Encoding: gzip, chunked",
        "Authorization: Bearer x",
        "X-Nightfall-Timestamp: 1",
        "X-Nightfall-Signature: zz",
        "Host:",
        ": empty name",
        "Expect: 100-continue",
    ]);
    (
        method,
        path,
        prop::collection::vec(header, 0..5),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(m, p, headers, body)| {
            let mut out =
                format!("{m} {p} HTTP/1.1\r\n{}\r\n\r\n", headers.join("\r\n")).into_bytes();
            out.extend(body);
            out
        })
}

#[test]
fn random_and_malformed_requests_never_take_the_listener_down() {
    let port = support::nightfall::free_port();
    let mut d = support::daemon::Daemon::new(&format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\n[api]\nenabled = true\n"
    ));
    d.env = vec![("DLPD_API_TOKEN".into(), "fuzz-token".into())];
    d.start();
    let ping = || support::http(port, "GET /ping HTTP/1.1\r\n", b"").0 == 200;
    assert!(wait_for(support::daemon::DEADLINE, ping));
    let config = Config {
        cases: 150,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..512), |bytes| {
            throw(port, &bytes);
            Ok(())
        })
        .unwrap();
    let mut runner = TestRunner::new(config);
    runner
        .run(&request(), |bytes| {
            throw(port, &bytes);
            Ok(())
        })
        .unwrap();
    assert!(ping(), "{}", d.log());
    let (status, body) = support::http(port, "GET /healthz HTTP/1.1\r\n", b"");
    assert_eq!(status, 200, "{body}");
    assert!(!d.log().contains("panicked"), "{}", d.log());
}
