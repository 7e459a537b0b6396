//! The engine bench's comparisons with other tools, as users run them:
//! the `dlpd scan` binary with its store on against ripgrep over an
//! equivalent pattern set (built from dlpd's own family table, so it grows
//! with it), and a 200-rule gitleaks-format pack in `dlpd scan` against
//! Kingfisher (`pip install kingfisher-bin`) with the same pack.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use dlpd::engine::local::families::{self, Part};

/// The patterns of the default detectors that are not families: cards,
/// SSNs, and the assignment rule.
const BASE_PATTERNS: &[&str] = &[
    r"(?-u:\b)(?:[0-9]{4}[ -]?){3}[0-9]{1,4}(?-u:\b)",
    r"(?-u:\b)[0-9]{4}[ -]?[0-9]{6}[ -]?[0-9]{4,5}(?-u:\b)",
    r"(?-u:\b)[0-9]{13,19}(?-u:\b)",
    r"(?-u:\b)[0-9]{3}[ -][0-9]{2}[ -][0-9]{4}(?-u:\b)",
    r#"(?i:key|token|secret|passw(?:or)?d|auth|cred)[A-Za-z0-9_.-]{0,32}["']?[ \t]*[:=][ \t]*["']?[A-Za-z0-9/+_.=-]{12,}"#,
];

/// ripgrep patterns equivalent to the default detectors: the families'
/// anchors followed by a token (what dlpd searches for before it checks a
/// shape), the vendor names of the families found by name, and
/// [`BASE_PATTERNS`]. One alternation each, as a user would write them.
pub fn rg_patterns() -> Vec<String> {
    let mut anchors: Vec<String> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    for f in families::all() {
        if !f.named.is_empty() {
            named.extend(f.named.iter().map(|n| regex::escape(n)));
            continue;
        }
        let anchor = f.shape.iter().find_map(|p| match *p {
            Part::Lit(s) => Some(s),
            _ => None,
        });
        if let Some(a) = anchor {
            let a = regex::escape(a);
            if !anchors.contains(&a) {
                anchors.push(a);
            }
        }
    }
    let mut out: Vec<String> = BASE_PATTERNS.iter().map(|p| p.to_string()).collect();
    out.push(format!("(?:{})[A-Za-z0-9_.+/=-]{{8,}}", anchors.join("|")));
    named.sort();
    named.dedup();
    out.push(format!(
        "(?i:{})[A-Za-z0-9_.-]{{0,24}}[\"']?[ \t]*[:=][ \t]*[\"']?[A-Za-z0-9_.-]{{16,}}",
        named.join("|")
    ));
    out
}

/// Runs ripgrep with [`rg_patterns`] over `targets` (`-z`: into
/// compressed files too); returns (seconds, matching lines).
pub fn run_rg(targets: &[&Path], threads: usize, decompress: bool) -> Option<(f64, u64)> {
    let mut cmd = Command::new("rg");
    cmd.args([
        "--no-config",
        "--no-ignore",
        "--hidden",
        "-a",
        "-c",
        "--no-filename",
        "-j",
    ])
    .arg(threads.to_string());
    if decompress {
        cmd.arg("-z");
    }
    for p in rg_patterns() {
        cmd.arg("-e").arg(p);
    }
    cmd.args(targets);
    let start = Instant::now();
    let out = cmd.output().ok()?;
    let secs = start.elapsed().as_secs_f64();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .sum();
    Some((secs, lines))
}

/// Writes a config for one-off scans by the binary, with its state (the
/// store and the CSV) in `dir`, and an optional pack.
pub fn write_config(dir: &Path, pack: Option<&Path>) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("dlpd.toml");
    let mut text = format!(
        "[output]\nstate_dir = \"{}\"\n",
        dir.join("state").display()
    );
    if let Some(p) = pack {
        text.push_str(&format!("[scanner]\nrule_packs = [\"{}\"]\n", p.display()));
    }
    std::fs::write(&config, text).unwrap();
    config
}

/// Runs `dlpd scan` on `targets` as a user would (results to a file, the
/// store on unless `no_store`); returns seconds.
pub fn run_dlpd(config: &Path, targets: &[&Path], threads: usize, no_store: bool) -> f64 {
    let state = config.parent().unwrap().join("state");
    let _ = std::fs::remove_dir_all(&state);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dlpd"));
    cmd.arg("--config")
        .arg(config)
        .args(["scan", "--format", "jsonl", "--threads"]);
    cmd.arg(threads.to_string());
    if !no_store {
        cmd.arg("--store");
    }
    cmd.args(targets)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("RUST_LOG", "error");
    let start = Instant::now();
    let status = cmd.status().expect("dlpd runs");
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "dlpd scan failed: {status}"
    );
    start.elapsed().as_secs_f64()
}

/// A gitleaks-format pack of `n` rules, written for the bench (dlpd ships
/// no one else's rules): each a vendor-like token after its own keyword,
/// half of them with a secret group and an entropy floor, some with an
/// allowlist, as packs have them.
pub fn synthetic_pack(n: usize) -> String {
    let mut out =
        String::from("title = \"dlpd bench pack\"\n\n[allowlist]\nstopwords = [\"example\"]\n");
    for i in 0..n {
        let vendor = format!("vendor{i:03}");
        if i % 2 == 0 {
            out.push_str(&format!(
                "\n[[rules]]\nid = \"{vendor}-token\"\ndescription = \"{vendor} token\"\nregex = '''\\b(v{i:03}_[A-Za-z0-9]{{32}})\\b'''\nkeywords = [\"v{i:03}_\"]\n"
            ));
        } else {
            out.push_str(&format!(
                "\n[[rules]]\nid = \"{vendor}-api-key\"\ndescription = \"{vendor} API key\"\nregex = '''(?i)(?:{vendor})(?:[0-9a-z\\-_\\t .]{{0,20}})(?:[\\s|']|[\\s|\"]){{0,3}}(?:=|>|:{{1,3}}=|\\|\\|:|<=|=>|:|\\?=)(?:'|\"|\\s|=|\\x60){{0,5}}([a-z0-9]{{32}})(?:['|\"|\\n|\\r|\\s|\\x60|;]|$)'''\nsecretGroup = 1\nentropy = 3\nkeywords = [\"{vendor}\"]\n"
            ));
            if i % 10 == 1 {
                out.push_str("[rules.allowlist]\nregexes = ['''^0+$''']\n");
            }
        }
    }
    out
}

/// Runs Kingfisher over `target` with only `pack`'s rules and no
/// validation; `None` when it is not installed.
pub fn run_kingfisher(pack: &Path, target: &Path, threads: usize) -> Option<f64> {
    let mut cmd = Command::new("kingfisher");
    cmd.args([
        "scan",
        "--no-validate",
        "--load-builtins",
        "false",
        "--rules-path",
    ])
    .arg(pack)
    .args([
        "--confidence",
        "low",
        "--format",
        "json",
        "--no-update-check",
        "-j",
    ])
    .arg(threads.to_string())
    .arg(target)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().ok()?;
    // Kingfisher exits 200 when it reports findings.
    (status.code().is_some_and(|c| c == 0 || c == 200)).then(|| start.elapsed().as_secs_f64())
}
