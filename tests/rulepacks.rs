//! Rule packs in gitleaks' format, loaded unmodified by `[scanner]
//! rule_packs` and run by the real `dlpd scan`. The pack here is written
//! for these tests; dlpd ships no one else's rules.

mod support;

use support::Env;

/// A pack using every part of the format dlpd reads.
const PACK: &str = r#"
title = "dlpd test pack"

[extend]
useDefault = true

[allowlist]
description = "global"
paths = ['''(^|/)vendor/''']
stopwords = ["notreal"]

[[rules]]
id = "acme-api-token"
description = "Acme API token"
regex = '''(?i)\b(acme_[a-z0-9]{24})\b'''
keywords = ["acme_"]
entropy = 3.0
tags = ["api"]

[[rules]]
id = "widget-secret"
description = "a secret after the word widget"
regex = '''(?i)widget.{0,20}?['"]([A-Za-z0-9]{20})['"]'''
secretGroup = 1
keywords = ["widget"]
[rules.allowlist]
regexTarget = "line"
regexes = ['''example\.test''']

[[rules]]
id = "zeta-key"
regex = '''ZETA-[0-9A-F]{16}'''
keywords = ["zeta-"]
[[rules.allowlists]]
condition = "AND"
paths = ['''fixtures''']
regexes = ['''ZETA-0000''']

[[rules]]
id = "keyless-hex"
regex = '''hexsecret:([0-9a-f]{32})'''

[[rules]]
id = "pkcs12-file"
path = '''(?i)\.p12$'''
"#;

fn env_with(pack: &str) -> Env {
    let env = Env::new();
    let path = env.write("pack.toml", pack);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.config)
        .and_then(|mut f| {
            use std::io::Write;
            writeln!(f, "[scanner]\nrule_packs = [\"{}\"]", path.display())
        })
        .unwrap();
    env
}

/// (detector, value) of every finding in `rel`, scanned alone.
fn scan(env: &Env, rel: &str) -> Vec<(String, String)> {
    let path = env.path(rel);
    let run = env.run(&[
        "scan",
        "--no-store",
        "--format",
        "jsonl",
        "--show-values",
        path.to_str().unwrap(),
    ]);
    assert!(matches!(run.code(), 0 | 1), "{}", run.stderr());
    run.jsonl()
        .iter()
        .map(|l| {
            (
                l["detector"]["name"].as_str().unwrap().to_string(),
                l["finding"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_gitleaks_pack_loads_unmodified_and_its_rules_name_their_findings() {
    let env = env_with(PACK);
    env.write(
        "app.cfg",
        "token = acme_q8w2e4r6t8y0u2i4o6p8a0s2\n\
         widget_key = 'Zx8vK2mQ9rT4wY7uP1sN'\n\
         id ZETA-00AF93C2B1D4E5F6\n\
         hexsecret:5f4dcc3b5aa765d61d8327deb882cf99\n",
    );
    // The built-in detectors run beside the pack.
    let mut found = scan(&env, "app.cfg");
    found.retain(|f| f.0 != "API Key");
    let ids: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        ids,
        ["acme-api-token", "widget-secret", "zeta-key", "keyless-hex"],
        "{found:?}"
    );
    // The secret group, not the whole match.
    assert_eq!(found[1].1, "Zx8vK2mQ9rT4wY7uP1sN");
    assert_eq!(found[3].1, "5f4dcc3b5aa765d61d8327deb882cf99");
}

#[test]
fn entropy_keywords_and_every_allowlist_hold() {
    let env = env_with(PACK);
    env.write(
        "low.cfg",
        // Too little entropy; a stopword; a line allowlist; no keyword
        // nearby for a keyword rule.
        "acme_aaaaaaaaaaaaaaaaaaaaaaaa\n\
         acme_notrealq8w2e4r6t8y0u2i4\n\
         widget = 'Zx8vK2mQ9rT4wY7uP1sN' # see example.test\n\
         'Zx8vK2mQ9rT4wY7uP1sN'\n",
    );
    assert_eq!(scan(&env, "low.cfg"), []);
    // AND: both the path and the regex must hold.
    env.write("fixtures/z.txt", "ZETA-0000AAAABBBBCCCC\n");
    env.write("src/z.txt", "ZETA-0000AAAABBBBCCCC\n");
    assert_eq!(scan(&env, "fixtures/z.txt"), []);
    assert_eq!(scan(&env, "src/z.txt").len(), 1);
    // The global allowlist's paths.
    env.write("vendor/lib.cfg", "acme_q8w2e4r6t8y0u2i4o6p8a0s2\n");
    assert_eq!(scan(&env, "vendor/lib.cfg"), []);
}

#[test]
fn a_path_rule_reports_the_file_itself() {
    let env = env_with(PACK);
    env.write("certs/client.p12", "just some bytes\n");
    let found = scan(&env, "certs/client.p12");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "pkcs12-file");
    assert!(found[0].1.ends_with("client.p12"));
}

#[test]
fn a_bad_pack_is_a_config_error_that_names_the_file_the_rule_and_the_fix() {
    for (pack, says) in [
        (
            "[[rules]]\nid = \"broken\"\nregex = '''(unclosed'''\n",
            "rule \"broken\": regex",
        ),
        (
            "[[rules]]\nid = \"g\"\nregex = '''x'''\nsecretGroup = 2\n",
            "secretGroup 2",
        ),
        (
            "[[rules]]\nid = \"nothing\"\n",
            "needs a regex, a path, or both",
        ),
        ("[[rules]\nid = 1\n", "line 1"),
        (
            "[[rules]]\nid = \"c\"\nregex = 'x'\n[rules.allowlist]\ncondition = \"XOR\"\n",
            "condition \"XOR\"",
        ),
    ] {
        let env = env_with(pack);
        env.write("a.txt", "x\n");
        let run = env.run(&["scan", "--no-store", env.path("a.txt").to_str().unwrap()]);
        assert_eq!(run.code(), 2, "{pack}: {}", run.stderr());
        let err = run.stderr();
        assert!(err.contains("pack.toml"), "{err}");
        assert!(err.contains("rule_packs"), "{err}");
        assert!(err.contains(says), "{pack}: {err}");
    }
    let env = Env::with_config("[scanner]\nrule_packs = [\"/nonexistent/pack.toml\"]\n");
    let run = env.run(&["scan", "--no-store", "/etc/hostname"]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("/nonexistent/pack.toml: cannot read it"),
        "{}",
        run.stderr()
    );
}

#[test]
fn a_remediation_rule_may_name_a_pack_rule() {
    let env = env_with(PACK);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.config)
        .and_then(|mut f| {
            use std::io::Write;
            writeln!(
                f,
                "[[remediation.rules]]\ndetector = \"acme-api-token\"\naction = \"notify\""
            )
        })
        .unwrap();
    let run = env.run(&["scan", "--no-store", "/etc/hostname"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
}

#[test]
fn a_multi_line_private_key_rule_sees_a_whole_key_and_an_empty_regex_is_a_path_rule() {
    let pack = r#"
[[rules]]
id = "private-key"
description = "a PEM private key, begin to end"
regex = '''(?i)-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----[\s\S-]{64,}?KEY(?: BLOCK)?-----'''
keywords = ["-----begin"]

[[rules]]
id = "pfx-file"
description = "a certificate bundle"
regex = ""
path = '''(?i)\.pfx$'''
"#;
    let env = env_with(pack);
    // A key the size of a 2048-bit RSA key: the END line is 1.7 KB past
    // the keyword.
    let body: String = (0..26)
        .map(|i| {
            format!(
                "{}\n",
                &"MIIEowIBAAKCAQEAq8W2e4R6t8Y0u2I4o6P8a0S2d4F6g8H0j2K4l6".repeat(2)
                    [i % 7..i % 7 + 64]
            )
        })
        .collect();
    let pem = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}-----END RSA PRIVATE KEY-----\n");
    env.write("id_rsa", &pem);
    let found = scan(&env, "id_rsa");
    assert!(
        found
            .iter()
            .any(|f| f.0 == "private-key" && f.1.len() > 1700),
        "{found:?}"
    );
    env.write("bundle.pfx", "binary-ish\n");
    let found = scan(&env, "bundle.pfx");
    assert_eq!(
        found.iter().filter(|f| f.0 == "pfx-file").count(),
        1,
        "{found:?}"
    );
}

#[test]
fn an_overlay_merges_into_the_rule_it_extends() {
    let env = Env::new();
    env.write(
        "base.toml",
        r#"
[[rules]]
id = "acme-token"
description = "Acme token"
regex = '''\b(acme_[a-z0-9]{24})\b'''
keywords = ["acme_"]

[[rules]]
id = "retired"
description = "a rule the overlay turns off"
regex = '''retired_[0-9]{8}'''
"#,
    );
    // The overlay adds an allowlist to acme-token and nothing else, as
    // gitleaks overlays do, and disables a rule.
    let overlay = env.write(
        "overlay.toml",
        r#"
[extend]
path = "base.toml"
disabledRules = ["retired"]

[[rules]]
id = "acme-token"
[[rules.allowlists]]
stopwords = ["staging"]
"#,
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&env.config)
        .and_then(|mut f| {
            use std::io::Write;
            writeln!(f, "[scanner]\nrule_packs = [\"{}\"]", overlay.display())
        })
        .unwrap();
    env.write(
        "app.cfg",
        "a acme_q8w2e4r6t8y0u2i4o6p8a0s2\nb acme_stagingq8w2e4r6t8y0u2\nretired_12345678\n",
    );
    let found: Vec<String> = scan(&env, "app.cfg")
        .into_iter()
        .filter(|f| f.0 != "API Key")
        .map(|f| f.1)
        .collect();
    assert_eq!(found, ["acme_q8w2e4r6t8y0u2i4o6p8a0s2"]);
}
