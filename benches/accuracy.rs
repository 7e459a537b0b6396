//! Precision and recall of the local engine on dlpd's own labeled corpus
//! (benches/corpus), per detector, at the default threshold.
//!
//! Run with `cargo bench --bench accuracy`. The target for the default
//! three detectors is 0.99 or better on both.

mod corpus;

use dlpd::config::ScannerConfig;
use dlpd::engine::LocalEngine;

fn main() {
    let n = 200_000;
    let cases = corpus::corpus(0x5EED, n);
    let engine = LocalEngine::new(&ScannerConfig::default());
    let tally = corpus::score(&engine, &cases);
    println!(
        "dlpd accuracy on its own corpus: {n} labeled lines, default detectors, min_confidence LIKELY"
    );
    println!(
        "{:28} {:>8} {:>6} {:>6} {:>9} {:>7}",
        "detector", "TP", "FP", "FN", "precision", "recall"
    );
    for (d, t) in &tally {
        let (p, r) = corpus::rates(*t);
        println!(
            "{:28} {:>8} {:>6} {:>6} {:>9.4} {:>7.4}",
            d.as_str(),
            t.0,
            t.1,
            t.2,
            p,
            r
        );
    }
}
