//! The accuracy target as a test: precision and recall of the default
//! detectors, and of every secret family, are at least 0.99 on a slice of
//! dlpd's own labeled corpus.

#[path = "../benches/corpus/mod.rs"]
mod corpus;

use dlpd::config::ScannerConfig;
use dlpd::engine::LocalEngine;

#[test]
fn precision_and_recall_of_the_default_detectors_are_at_least_0_99() {
    let cases = corpus::corpus(0xC0FFEE, 20_000);
    let tally = corpus::score(&LocalEngine::new(&ScannerConfig::default()), &cases);
    assert_eq!(tally.len(), 3, "{tally:?}");
    for (d, t) in &tally {
        let (p, r) = corpus::rates(*t);
        assert!(
            p >= 0.99 && r >= 0.99,
            "{d}: precision {p:.4}, recall {r:.4} ({t:?})"
        );
    }
}

#[test]
fn precision_and_recall_of_more_detectors_and_assignment_layouts_are_at_least_0_99() {
    let cases = corpus::more::corpus(0xC0FFEE, 10_000);
    let engine = LocalEngine::new(&ScannerConfig {
        detectors: corpus::more::DETECTORS.to_vec(),
        ..ScannerConfig::default()
    });
    let tally = corpus::score(&engine, &cases);
    assert_eq!(tally.len(), corpus::more::DETECTORS.len(), "{tally:?}");
    for (d, t) in &tally {
        let (p, r) = corpus::rates(*t);
        assert!(
            p >= 0.99 && r >= 0.99,
            "{d}: precision {p:.4}, recall {r:.4} ({t:?})"
        );
    }
}

#[test]
fn precision_and_recall_of_every_secret_family_are_at_least_0_99() {
    let cases = corpus::families::corpus(0xC0FFEE, 20);
    let engine = LocalEngine::new(&ScannerConfig::default());
    let (tally, kinds) = corpus::families::score(&engine, &cases);
    let families = dlpd::engine::local::families::all().count();
    assert_eq!(kinds.len(), families, "{kinds:?}");
    for (name, t) in tally
        .iter()
        .map(|(d, t)| (d.as_str(), t))
        .chain(kinds.iter().map(|(k, t)| (*k, t)))
    {
        let (p, r) = corpus::rates(*t);
        assert!(
            p >= 0.99 && r >= 0.99,
            "{name}: precision {p:.4}, recall {r:.4} ({t:?})"
        );
    }
}
