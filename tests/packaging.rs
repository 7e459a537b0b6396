//! What packaging ships beside the binary: the man page and the shell
//! completions in `packaging/share/` are exactly what the command line's
//! definition generates. `DLPD_BLESS=1 cargo test --test packaging`
//! rewrites them after a change to the arguments.

use std::path::Path;

use dlpd::cli::generated::{COMPLETIONS, completion, man_pages};

fn check(rel: &str, generated: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/share")
        .join(rel);
    if std::env::var_os("DLPD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let shipped = std::fs::read(&path).unwrap_or_default();
    assert!(
        shipped == generated,
        "{} is not what the command line generates; run `DLPD_BLESS=1 cargo test --test packaging`",
        path.display()
    );
}

#[test]
fn the_shipped_man_page_and_completions_match_the_command_line() {
    let pages = man_pages();
    let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
    for page in [
        "dlpd.1",
        "dlpd-scan.1",
        "dlpd-status.1",
        "dlpd-quarantine-restore.1",
    ] {
        assert!(names.contains(&page), "{names:?}");
    }
    assert!(!names.contains(&"dlpd-pdf-text.1"), "{names:?}");
    let scan = &pages.iter().find(|(n, _)| n == "dlpd-scan.1").unwrap().1;
    assert!(String::from_utf8_lossy(scan).contains("min\\-confidence"));
    for (name, page) in &pages {
        check(&format!("man/{name}"), page);
    }
    // Nothing shipped that is no longer generated.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/share/man");
    if std::env::var_os("DLPD_BLESS").is_none() {
        for e in std::fs::read_dir(dir).unwrap() {
            let file = e.unwrap().file_name();
            assert!(names.contains(&file.to_str().unwrap()), "{file:?} is stale");
        }
    }
    for (shell, name) in COMPLETIONS {
        let script = completion(*shell);
        assert!(String::from_utf8_lossy(&script).contains("min-confidence"));
        check(&format!("completions/{name}"), &script);
    }
}
