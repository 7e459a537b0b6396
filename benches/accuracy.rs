//! Precision and recall of the local engine on dlpd's own labeled corpus
//! (benches/corpus), per detector and per secret family, at the default
//! threshold.
//!
//! Run with `cargo bench --bench accuracy`. The target is 0.99 or better
//! on both, for every detector and every family.

mod corpus;

use dlpd::config::ScannerConfig;
use dlpd::engine::LocalEngine;

/// Prints one table row per entry of a tally.
fn table<'a>(title: &str, rows: impl Iterator<Item = (&'a str, (u64, u64, u64))>) {
    println!(
        "{:36} {:>8} {:>6} {:>6} {:>9} {:>7}",
        title, "TP", "FP", "FN", "precision", "recall"
    );
    for (name, t) in rows {
        let (p, r) = corpus::rates(t);
        println!(
            "{:36} {:>8} {:>6} {:>6} {:>9.4} {:>7.4}",
            name, t.0, t.1, t.2, p, r
        );
    }
}

fn main() {
    let n = 200_000;
    let cases = corpus::corpus(0x5EED, n);
    let engine = LocalEngine::new(&ScannerConfig::default());
    let tally = corpus::score(&engine, &cases);
    println!(
        "dlpd accuracy on its own corpus: {n} labeled lines, default detectors, min_confidence LIKELY"
    );
    table("detector", tally.iter().map(|(d, t)| (d.as_str(), *t)));

    let per_family = 200;
    let cases = corpus::families::corpus(0x5EED, per_family);
    let (tally, kinds) = corpus::families::score(&engine, &cases);
    println!();
    println!(
        "secret families: {} lines, {per_family} positives of each family and its near misses",
        cases.len()
    );
    table("detector", tally.iter().map(|(d, t)| (d.as_str(), *t)));
    table("family", kinds.iter().map(|(k, t)| (*k, *t)));

    let cases = corpus::more::corpus(0x5EED, n / 4);
    let engine = LocalEngine::new(&ScannerConfig {
        detectors: corpus::more::DETECTORS.to_vec(),
        ..ScannerConfig::default()
    });
    let tally = corpus::score(&engine, &cases);
    println!();
    println!(
        "more detectors and assignment layouts: {} lines, detectors {:?}",
        cases.len(),
        corpus::more::DETECTORS.map(|d| d.as_str())
    );
    table("detector", tally.iter().map(|(d, t)| (d.as_str(), *t)));
}
