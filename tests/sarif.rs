//! `dlpd scan --format sarif` and `--baseline`, on the real binary: the
//! SARIF is checked against the published SARIF 2.1.0 schema (the OASIS
//! file, as the serde-sarif crate ships it), and baselines from both report
//! formats leave out exactly the findings they hold.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::docs::zip_bytes;
use support::{Env, SAMPLE_PCI};

/// The SARIF 2.1.0 schema, from the serde-sarif package cargo fetched.
fn schema() -> Value {
    // Only this platform's packages: the others need not be downloaded.
    let cargo = PathBuf::from(env!("CARGO"));
    let rustc = std::process::Command::new(cargo.with_file_name("rustc"))
        .arg("-vV")
        .output()
        .unwrap();
    let rustc = String::from_utf8(rustc.stdout).unwrap();
    let host = rustc
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host");
    let out = std::process::Command::new(&cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", host])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "serde-sarif")
        .expect("serde-sarif is a dev-dependency")["manifest_path"]
        .as_str()
        .unwrap();
    let path = PathBuf::from(manifest).with_file_name("src/schema.json");
    let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert!(
        schema["title"]
            .as_str()
            .unwrap()
            .contains("SARIF) Version 2.1.0"),
        "{}",
        path.display()
    );
    schema
}

fn validator() -> jsonschema::Validator {
    let mut schema = schema();
    // The published schema's `language` patterns (in run and toolComponent)
    // have a stray `]`, which the validator's check of the schema itself
    // refuses; dlpd writes no `language`, so escaping it changes nothing
    // that is checked here.
    let broken = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    for def in ["run", "toolComponent"] {
        let language = &mut schema["definitions"][def]["properties"]["language"]["pattern"];
        assert_eq!(language, broken);
        *language = broken.replace("}]?", "}\\]?").into();
    }
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}

fn assert_valid(doc: &Value) {
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the typed model reads it back.
    let _: serde_sarif::sarif::Sarif = serde_json::from_value(doc.clone()).unwrap();
}

fn sarif(run: &support::Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
}

#[test]
fn sarif_is_valid_against_the_schema_and_holds_every_finding_masked() {
    let env = Env::with_config(
        r#"
[[scanner.rules]]
name = "Names"
[[scanner.rules.detectors]]
detectorType = "WORD_LIST"
displayName = "Secret File Name"
wordList = { values = ["passwords"] }
scope = "File"
"#,
    );
    env.write("t/cards.csv", SAMPLE_PCI);
    env.write("t/a dir/ssn #1.txt", "ssn 536-22-1234\n");
    env.write(
        "t/bundle.zip",
        zip_bytes(&[("in/c.csv", SAMPLE_PCI.as_bytes())]),
    );
    env.write("t/passwords.txt", "nothing\n");
    let tree = env.path("t");
    let tree = tree.to_str().unwrap();

    let jsonl = env.run(&["scan", "--format", "jsonl", tree]).jsonl();
    let run = env.run(&["scan", "--format", "sarif", "--show-values", tree]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let doc = sarif(&run);
    assert_valid(&doc);
    // The check can fail: a level SARIF does not have is refused.
    let mut wrong = doc.clone();
    wrong["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator().is_valid(&wrong));

    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), jsonl.len());
    assert_eq!(results.len(), 10 + 1 + 10 + 1);
    // Masked even with --show-values: SARIF files are uploaded and kept.
    assert!(!run.stdout().contains("5433-9502"), "{}", run.stdout());
    assert!(!run.stdout().contains("536-22-1234"));
    let rules: Vec<&str> = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for r in results {
        assert!(rules.contains(&r["ruleId"].as_str().unwrap()), "{r}");
        assert_eq!(
            r["partialFingerprints"]["dlpdFinding/v1"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
    }
    let card = results
        .iter()
        .find(|r| r["locations"][0]["physicalLocation"]["region"]["byteOffset"] == 36)
        .unwrap();
    assert_eq!(card["ruleId"], "CREDIT_CARD_NUMBER");
    assert_eq!(card["level"], "error");
    let physical = &card["locations"][0]["physicalLocation"];
    assert_eq!(physical["region"]["startLine"], 2);
    assert_eq!(physical["region"]["byteLength"], 19);
    assert_eq!(physical["region"]["snippet"]["text"], "****-****-****-7862");
    assert!(
        physical["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .starts_with("file:///")
    );
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(
        uris.iter().any(|u| u.ends_with("/a%20dir/ssn%20%231.txt")),
        "{uris:?}"
    );
    // A member is named, without a region that would point into the zip.
    let member = results
        .iter()
        .find(|r| r["properties"]["member"] == "in/c.csv")
        .unwrap();
    assert!(member["locations"][0]["physicalLocation"]["region"].is_null());
    assert!(
        member["message"]["text"]
            .as_str()
            .unwrap()
            .contains("in in/c.csv, line")
    );
    // A match on a file's name has no region either.
    let named = results
        .iter()
        .find(|r| r["ruleId"] == "Secret File Name")
        .unwrap();
    assert!(named["locations"][0]["physicalLocation"]["region"].is_null());

    // No findings: still a whole, valid document.
    env.write("clean/a.txt", "nothing to see\n");
    let run = env.run(&[
        "scan",
        "--format",
        "sarif",
        env.path("clean").to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let doc = sarif(&run);
    assert_valid(&doc);
    assert_eq!(doc["runs"][0]["results"].as_array().unwrap().len(), 0);

    // Relative paths stay relative URIs, `./` dropped.
    let run = support::fed(
        {
            let mut c = support::cmd(&env.config);
            c.current_dir(env.dir.path())
                .args(["scan", "--format", "sarif", "./t/cards.csv"]);
            c
        },
        b"",
    );
    let doc = sarif(&run);
    assert_valid(&doc);
    assert_eq!(
        doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "t/cards.csv"
    );
}

#[test]
fn a_baseline_leaves_out_what_it_holds_and_only_new_findings_fail_the_scan() {
    let env = Env::new();
    env.write("repo/cards.csv", SAMPLE_PCI);
    env.write("repo/ssn.txt", "ssn 536-22-1234\n");
    let scan = |args: &[&str]| {
        support::fed(
            {
                let mut c = support::cmd(&env.config);
                c.current_dir(env.path("repo")).arg("scan").args(args);
                c
            },
            b"",
        )
    };
    for format in ["jsonl", "sarif"] {
        let base = env.path(&format!("base.{format}"));
        let base = base.to_str().unwrap();
        let run = scan(&["--format", format, "--output", base, "."]);
        assert_eq!(run.code(), 1, "{}", run.stderr());

        // Nothing new: exit 0, nothing printed, the summary says why.
        let run = scan(&["--format", "jsonl", "--baseline", base, "."]);
        assert_eq!((run.code(), run.stdout()), (0, String::new()), "{format}");
        assert!(
            run.stderr().contains("11 already in the baseline"),
            "{}",
            run.stderr()
        );
        // The same tree named another way (`cards.csv`, not `./cards.csv`).
        let run = scan(&["--baseline", base, "cards.csv", "ssn.txt"]);
        assert_eq!(run.code(), 0, "{format}: {}", run.stdout());

        // Lines added above a known finding do not make it new; a second
        // copy of a known value and a new value are new.
        env.write(
            "repo/ssn.txt",
            "header\n\nssn 536-22-1234\nssn again 536-22-1234\nssn new 536-22-4321\n",
        );
        let run = scan(&["--format", "jsonl", "--baseline", base, "."]);
        assert_eq!(run.code(), 1, "{format}: {}", run.stderr());
        let new: Vec<String> = run
            .jsonl()
            .iter()
            .map(|f| {
                format!(
                    "{}:{}",
                    f["path"].as_str().unwrap(),
                    f["location"]["lineRange"]["start"]
                )
            })
            .collect();
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new.contains(&"./ssn.txt:5".to_string()), "{new:?}");
        assert!(run.stderr().contains("2 findings in"), "{}", run.stderr());
        env.write("repo/ssn.txt", "ssn 536-22-1234\n");
    }

    // A file that is not a report: refused, naming the file and the line.
    let bad = env.write("bad.jsonl", "{\"path\":\"x\"}\n");
    let run = scan(&["--baseline", bad.to_str().unwrap(), "."]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("bad.jsonl: line 1: not a finding dlpd wrote"),
        "{}",
        run.stderr()
    );
    let foreign = env.write(
        "other.sarif",
        r#"{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"}}]}]}"#,
    );
    let run = scan(&["--baseline", foreign.to_str().unwrap(), "."]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("no dlpdFinding/v1 fingerprint"),
        "{}",
        run.stderr()
    );
    let run = scan(&["--baseline", "/nonexistent/base.jsonl", "."]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("--baseline /nonexistent/base.jsonl"),
        "{}",
        run.stderr()
    );
}
