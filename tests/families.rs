//! The secret families, table-driven: every family of
//! `engine::local::families` finds tokens generated from its own row
//! (checksums computed by the generator) and none of their near misses,
//! and the documentation lists each of them.

#[path = "../benches/corpus/mod.rs"]
mod corpus;

use corpus::families::{near_misses, positive};
use dlpd::config::ScannerConfig;
use dlpd::engine::local::families;
use dlpd::engine::{Confidence, DetectorId, LocalEngine};

fn engine(detectors: Vec<DetectorId>) -> LocalEngine {
    LocalEngine::new(&ScannerConfig {
        detectors,
        ..ScannerConfig::default()
    })
}

#[test]
fn every_family_has_a_unique_snake_case_kind_a_positive_and_a_near_miss() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut rng = corpus::Rng(7);
    for f in families::all() {
        assert!(kinds.insert(f.kind), "{} twice", f.kind);
        assert!(
            f.kind
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{}",
            f.kind
        );
        assert!(!positive(f, &mut rng).case.expect.is_empty(), "{}", f.kind);
        assert!(
            !near_misses(f, &mut rng).is_empty(),
            "{}: no near miss",
            f.kind
        );
    }
    assert!(kinds.len() >= 150, "{} families", kinds.len());
}

#[test]
fn every_family_finds_its_tokens_and_none_of_its_near_misses() {
    let engine = engine(ScannerConfig::default().detectors);
    let mut rng = corpus::Rng(0x5EC2E7);
    let mut failures = Vec::new();
    for f in families::all() {
        for _ in 0..20 {
            let p = positive(f, &mut rng);
            let found: Vec<_> = engine
                .scan_bytes(p.case.line.as_bytes())
                .into_iter()
                .map(|x| (x.detector, x.value.raw, x.kind, x.confidence))
                .collect();
            let (detector, value) = &p.case.expect[0];
            let ok = found.len() == 1
                && (found[0].0.builtin(), &found[0].1, found[0].2)
                    == (Some(*detector), value, Some(f.kind))
                && found[0].3 >= Confidence::Likely;
            if !ok {
                failures.push(format!("{}: {:?} gave {found:?}", f.kind, p.case.line));
            }
        }
        for miss in near_misses(f, &mut rng) {
            let found = engine.scan_bytes(miss.case.line.as_bytes());
            if !found.is_empty() {
                let got: Vec<_> = found.iter().map(|x| (&x.value.raw, x.kind)).collect();
                failures.push(format!(
                    "{}: near miss {:?} gave {got:?}",
                    f.kind, miss.case.line
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_pem_block_is_one_finding_whichever_detectors_are_on() {
    let block = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n";
    let header = "-----BEGIN RSA PRIVATE KEY-----";
    for (detectors, detector, value) in [
        (vec![DetectorId::ApiKey], DetectorId::ApiKey, header),
        (
            vec![DetectorId::ApiKey, DetectorId::CryptographicKey],
            DetectorId::CryptographicKey,
            block.trim_end(),
        ),
        (
            vec![DetectorId::CryptographicKey],
            DetectorId::CryptographicKey,
            block.trim_end(),
        ),
    ] {
        let found = engine(detectors.clone()).scan_bytes(block.as_bytes());
        assert_eq!(found.len(), 1, "{detectors:?}: {found:?}");
        assert_eq!(
            (found[0].detector.builtin(), found[0].value.raw.as_str()),
            (Some(detector), value)
        );
    }
}

#[test]
fn other_private_keys_report_as_cryptographic_key_when_it_is_on() {
    let mut rng = corpus::Rng(3);
    let age = families::all()
        .find(|f| f.kind == "age_secret_key")
        .unwrap();
    let line = positive(age, &mut rng).case.line;
    let found =
        engine(vec![DetectorId::ApiKey, DetectorId::CryptographicKey]).scan_bytes(line.as_bytes());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].detector.builtin(),
        Some(DetectorId::CryptographicKey)
    );
    assert_eq!(found[0].kind, Some("age_secret_key"));
}

#[test]
fn the_docs_list_every_family_with_its_shape() {
    let doc = std::fs::read_to_string("docs/secret-families.md").unwrap();
    for f in families::all() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", f.kind)))
            .unwrap_or_else(|| panic!("{} is not in docs/secret-families.md", f.kind));
        assert!(row.contains(&f.describe()), "{}: {row}", f.kind);
    }
}

#[test]
fn truncated_tokens_and_runs_of_anchors_never_panic_and_stay_linear() {
    // Every cut of every family's token ends the buffer somewhere inside
    // a shape; runs of the anchor make every position a hit.
    let engine = engine(vec![DetectorId::ApiKey, DetectorId::CryptographicKey]);
    let mut rng = corpus::Rng(11);
    let started = std::time::Instant::now();
    for f in families::all() {
        let line = positive(f, &mut rng).case.line;
        for cut in (0..line.len()).filter(|&c| line.is_char_boundary(c)) {
            engine.scan_bytes(&line.as_bytes()[..cut]);
        }
        let token = &positive(f, &mut rng).case.expect[0].1;
        let run = token[..token.len().min(12)].repeat(20_000);
        engine.scan_bytes(run.as_bytes());
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}
