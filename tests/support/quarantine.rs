//! A store and a quarantine planned in it, as the keeper leaves them just
//! before a file is moved: for tests of the moves themselves.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use dlpd::config::OutputConfig;
use dlpd::engine::{FileReport, Outcome};
use dlpd::quarantine::Quarantine;
use dlpd::store::Store;

/// The store under `dir`, opened as dlpd does at start.
pub fn open_store(dir: &Path) -> Store {
    Store::open(&OutputConfig {
        state_dir: dir.join("state"),
        ..OutputConfig::default()
    })
    .unwrap()
}

/// A store in `dir` with one scanned report for `path`, recorded with a
/// quarantine planned for it (state `moving`), as the keeper does.
pub fn planned(dir: &Path, path: &Path, q: &Quarantine) -> (Store, i64) {
    let mut store = open_store(dir);
    let sha = dlpd::fsutil::sha256_file(path).unwrap();
    let mut report = FileReport::new(path, "local", Outcome::Scanned { findings: vec![] });
    report.sha256 = Some(sha.clone());
    let mut recs = vec![
        q.prepare(
            path,
            std::fs::metadata(path).unwrap().len(),
            &sha,
            "CREDIT_CARD_NUMBER=10".into(),
        )
        .unwrap(),
    ];
    store
        .record_remedied(&[report], &[], &[], &mut recs, &Default::default())
        .unwrap();
    (store, recs[0].id)
}

/// A file's permission bits.
pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}
