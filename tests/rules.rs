//! Custom detection rules from `[[scanner.rules]]`: regex and word-list
//! detectors, built-in detectors with their own thresholds, context and
//! exclusion rules, minNumFindings and logicalOp, file-name scope, and a
//! clear error for every bad rule.

mod support;

use dlpd::config::Config;
use dlpd::engine::{Confidence, Detector, DetectorId, Finding, LocalEngine};
use support::{Env, PROJECT_CODES_RULE};

/// The README's example, plus rules for logicalOp and minNumFindings.
fn rules() -> String {
    format!(
        "[scanner]\ndetectors = [\"CREDIT_CARD_NUMBER\"]\n{PROJECT_CODES_RULE}{}",
        r#"
[[scanner.rules]]
name = "Payroll"
logicalOp = "ALL"

[[scanner.rules.detectors]]
detectorType = "NIGHTFALL_DETECTOR"
nightfallDetector = "US_SOCIAL_SECURITY_NUMBER"
minConfidence = "POSSIBLE"

[[scanner.rules.detectors]]
detectorType = "WORD_LIST"
displayName = "Payroll Word"
wordList = { values = ["payroll", "salary"] }

[[scanner.rules]]
name = "Mailing lists"

[[scanner.rules.detectors]]
detectorType = "NIGHTFALL_DETECTOR"
nightfallDetector = "EMAIL_ADDRESS"
minNumFindings = 3
minConfidence = "POSSIBLE"
"#
    )
}

fn engine(toml: &str) -> LocalEngine {
    LocalEngine::new(&Config::parse(toml, "test.toml").unwrap().scanner)
}

fn found(e: &LocalEngine, text: &str) -> Vec<(String, String, Confidence)> {
    e.scan_bytes(text.as_bytes())
        .iter()
        .map(|f: &Finding| (f.detector.to_string(), f.value.raw.clone(), f.confidence))
        .collect()
}

fn custom(name: &str) -> String {
    Detector::Custom(name.into()).to_string()
}

#[test]
fn regex_detectors_follow_their_context_and_exclusion_rules() {
    let e = engine(&rules());
    let code = custom("Project Code");
    assert_eq!(
        found(&e, "see PRJ-123456 today\n"),
        vec![(code.clone(), "PRJ-123456".into(), Confidence::Likely)]
    );
    // A context rule sets the confidence from what is near.
    assert_eq!(
        found(&e, "confidential: PRJ-123457\n"),
        vec![(code.clone(), "PRJ-123457".into(), Confidence::VeryLikely)]
    );
    // ...down too, under minConfidence: dropped. Outside its window it
    // does nothing.
    assert!(found(&e, "example PRJ-123458\n").is_empty());
    assert_eq!(
        found(&e, "example, and forty more bytes of text: PRJ-123458\n").len(),
        1
    );
    // FULL excludes the exact value only; PARTIAL any value holding it.
    assert!(found(&e, "PRJ-000000\n").is_empty());
    assert_eq!(found(&e, "PRJ-000001\n").len(), 1);
    assert!(found(&e, "PRJ-129990\n").is_empty());
    // isCaseSensitive = true.
    assert!(found(&e, "prj-123456\n").is_empty());
    // The built-in detectors still run beside the rules.
    assert_eq!(
        found(&e, "card 4539 1488 0343 6467 PRJ-123456\n")
            .iter()
            .map(|f| f.0.as_str())
            .collect::<Vec<_>>(),
        ["CREDIT_CARD_NUMBER", code.as_str()]
    );
}

#[test]
fn logical_op_all_and_min_num_findings_decide_per_file() {
    let e = engine(&rules());
    // SSN is not in scanner.detectors: only the ALL rule reports it, and
    // only with a payroll word in the same file.
    assert!(found(&e, "ssn 536-22-1234\n").is_empty());
    assert!(found(&e, "the payroll run\n").is_empty());
    let both = found(&e, "ssn 536-22-1234\nfrom the payroll run\n");
    assert_eq!(
        both.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        ["US_SOCIAL_SECURITY_NUMBER", "Payroll Word"]
    );
    // The two can be far apart: the file decides, not the block.
    let far = format!(
        "ssn 536-22-1234\n{}\nsalary\n",
        "filler line\n".repeat(100_000)
    );
    assert_eq!(
        e.scan_bytes(far.as_bytes()).len(),
        2,
        "matches in different blocks count for the same file"
    );
    // minNumFindings = 3 e-mail addresses.
    assert!(found(&e, "ann@acme-corp.com bob@acme-corp.com\n").is_empty());
    assert_eq!(
        found(&e, "ann@acme-corp.com bob@acme-corp.com cy@acme-corp.com\n").len(),
        3
    );
}

#[test]
fn rule_matches_in_contexts_are_masked() {
    let e = engine(&rules());
    let f = e.scan_bytes(b"card 4539 1488 0343 6467 PRJ-123456\n");
    assert_eq!(f.len(), 2);
    assert!(f[0].after.raw.contains("PRJ-123456"));
    assert!(
        !f[0].after.masked.contains("PRJ-123456"),
        "{:?}",
        f[0].after
    );
    assert_eq!(f[1].value.masked, "***-******");
}

#[test]
fn bad_rules_are_errors_naming_the_rule_and_line() {
    let bad = |rule: &str| {
        let text = format!("[scanner]\n[[scanner.rules]]\nname = \"mine\"\n{rule}");
        Config::parse(&text, "dlpd.toml").unwrap_err().to_string()
    };
    let det = |fields: &str| bad(&format!("[[scanner.rules.detectors]]\n{fields}\n"));
    let e = det("detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"([a-z\" }");
    assert!(
        e.contains("dlpd.toml:2:")
            && e.contains("rule \"mine\", detector 1: regex.pattern does not compile"),
        "{e}"
    );
    let e = det("detectorType = \"REGEX\"\nregex = { pattern = \"x\" }");
    assert!(e.contains("displayName is required"), "{e}");
    let e = det(
        "detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"x\" }\nminConfidance = \"LIKELY\"",
    );
    assert!(e.contains("unknown key `minConfidance`"), "{e}");
    let e = det(
        "detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"x\" }\nscope = \"Everywhere\"",
    );
    assert!(
        e.contains("scope \"Everywhere\" is not Content, File or ContentAndFile"),
        "{e}"
    );
    let e = det("nightfallDetector = \"PERSON_NAME\"");
    assert!(e.contains("PERSON_NAME is not a detector dlpd has"), "{e}");
    let e = det(
        "detectorType = \"WORD_LIST\"\ndisplayName = \"API_KEY\"\nwordList = { values = [\"x\"] }",
    );
    assert!(e.contains("is a built-in detector's name"), "{e}");
    let e = det(
        "detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"x\" }\n\
         exclusionRules = [{ matchType = \"SOME\", exclusionType = \"REGEX\", regex = { pattern = \"y\" } }]",
    );
    assert!(
        e.contains("exclusionRules[0]: matchType \"SOME\" is not FULL or PARTIAL"),
        "{e}"
    );
    let e = det(
        "detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"x\" }\n\
         contextRules = [{ regex = { pattern = \"y\" }, proximity = { windowBefore = 5000 }, confidenceAdjustment = { fixedConfidence = \"LIKELY\" } }]",
    );
    assert!(
        e.contains("proximity windows are at most 1024 bytes"),
        "{e}"
    );
    let e = det(
        "detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"x\" }\nredactionConfig = { removeFinding = true }",
    );
    assert!(
        e.contains("redactionConfig applies to text scans only"),
        "{e}"
    );
    let e =
        bad("logicalOp = \"XOR\"\n[[scanner.rules.detectors]]\nnightfallDetector = \"API_KEY\"\n");
    assert!(e.contains("logicalOp \"XOR\" is not ANY or ALL"), "{e}");
    let e = bad("");
    assert!(e.contains("rule \"mine\": no detectors"), "{e}");
    // The error points at the bad rule's own table, the second here.
    let one = "[[scanner.rules]]\nname = \"a\"\n[[scanner.rules.detectors]]\nnightfallDetector = \"API_KEY\"\n";
    let two = format!("{one}[[scanner.rules]]\nname = \"b\"\n");
    let e = Config::parse(&two, "dlpd.toml").unwrap_err().to_string();
    assert!(
        e.starts_with("dlpd.toml:5:1: key `scanner.rules[1]`: rule \"b\": no detectors"),
        "{e}"
    );
    let e = Config::parse(
        "[[scanner.rules]]\n[[scanner.rules.detectors]]\nnightfallDetector = \"API_KEY\"\n",
        "t",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a rule needs a name"), "{e}");
    let e = Config::parse(&one.repeat(2), "t").unwrap_err().to_string();
    assert!(e.contains("two rules are named \"a\""), "{e}");

    // `dlpd check-config` says the same and exits non-zero.
    let env = Env::with_config(
        "[[scanner.rules]]\nname = \"mine\"\n[[scanner.rules.detectors]]\n\
         detectorType = \"REGEX\"\ndisplayName = \"X\"\nregex = { pattern = \"(\" }\n",
    );
    let run = env.run(&["check-config"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("rule \"mine\", detector 1: regex.pattern does not compile"),
        "{}",
        run.stderr()
    );
}

#[test]
fn file_name_scope_matches_names_and_dlpd_scan_stores_custom_findings() {
    let env = Env::with_config(
        r#"
[[scanner.rules]]
name = "Names"
[[scanner.rules.detectors]]
detectorType = "WORD_LIST"
displayName = "Secret File Name"
wordList = { values = ["passwords"] }
scope = "File"
[[scanner.rules.detectors]]
detectorType = "REGEX"
displayName = "Project Code"
regex = { pattern = "PRJ-[0-9]{6}" }
scope = "ContentAndFile"
"#,
    );
    let named = env.write(
        "docs/my-passwords-PRJ-123456.txt",
        "passwords: none here\nPRJ-654321\n",
    );
    let run = env.run(&[
        "scan",
        "--store",
        "--format",
        "jsonl",
        named.to_str().unwrap(),
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let rows: Vec<(String, String, u64, bool)> = run
        .jsonl()
        .iter()
        .map(|v| {
            (
                v["detector"]["id"].as_str().unwrap().to_string(),
                v["finding"].as_str().unwrap().to_string(),
                v["location"]["lineRange"]["start"].as_u64().unwrap(),
                v["location"]["inFileName"] == true,
            )
        })
        .collect();
    // "passwords" in the content is not matched: that detector's scope is File.
    assert_eq!(
        rows,
        vec![
            ("Secret File Name".into(), "*********".into(), 0, true),
            ("Project Code".into(), "***-******".into(), 0, true),
            ("Project Code".into(), "***-******".into(), 2, false),
        ]
    );
    // An archive's own name, and its members' names.
    let mut zip = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut zip);
        z.start_file(
            "in/PRJ-222222.txt",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.finish().unwrap();
    }
    let archive = env.write("passwords.zip", zip.into_inner());
    let (found, err) = env.scan_members(&archive);
    assert_eq!(
        found,
        [
            (String::new(), "Secret File Name".into()),
            ("in/PRJ-222222.txt".into(), "Project Code".into()),
        ],
        "{err}"
    );
    // Stored under the custom name, and read back by `dlpd findings`.
    assert_eq!(
        env.run(&["scan", "--store", archive.to_str().unwrap()])
            .code(),
        1
    );
    let run = env.run(&["findings", "--format", "jsonl"]);
    let stored: Vec<String> = run
        .jsonl()
        .iter()
        .map(|v| v["detector"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stored.len(), 5, "{}", run.stderr());
    assert!(stored.iter().filter(|d| *d == "Project Code").count() == 3);
    let csv = env.run(&["findings", "--format", "csv"]).stdout();
    assert!(
        csv.lines()
            .any(|l| l.contains(",Secret File Name,") && l.contains(",0,local,")),
        "{csv}"
    );
}

#[test]
fn built_in_detectors_in_rules_use_the_rule_threshold() {
    // scanner.min_confidence applies to scanner.detectors only; a rule's
    // detector has its own minConfidence.
    let strict = "[scanner]\ndetectors = [\"US_SOCIAL_SECURITY_NUMBER\"]\nmin_confidence = \"VERY_LIKELY\"\n";
    assert!(engine(strict).scan_bytes(b"x 536-22-1234\n").is_empty());
    let e = engine(&format!(
        "{strict}[[scanner.rules]]\nname = \"low\"\n[[scanner.rules.detectors]]\n\
         nightfallDetector = \"US_SOCIAL_SECURITY_NUMBER\"\nminConfidence = \"UNLIKELY\"\n"
    ));
    let f = e.scan_bytes(b"x 536-22-1234\n");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].detector, DetectorId::UsSocialSecurityNumber);
    assert!(f[0].confidence < Confidence::VeryLikely);
}

#[test]
fn remediation_rules_can_name_a_custom_detector() {
    use dlpd::config::Action;
    use dlpd::remediation::Remediator;
    let text = format!(
        "{PROJECT_CODES_RULE}\n[[remediation.rules]]\ndetector = \"Project Code\"\naction = \"quarantine\"\n"
    );
    let cfg = Config::parse(&text, "dlpd.toml").unwrap();
    let findings = LocalEngine::new(&cfg.scanner).scan_bytes(b"confidential PRJ-123456\n");
    assert_eq!(findings.len(), 1);
    let remediator = Remediator::new(&cfg, Vec::new());
    assert_eq!(remediator.action(&findings, None), Action::Quarantine);
    assert_eq!(
        remediator.action(
            &LocalEngine::new(&cfg.scanner).scan_bytes(b"ssn 536-22-1234\n"),
            None
        ),
        Action::Record
    );
    // A name no rule defines is an error at its line.
    let e = Config::parse(
        "[[remediation.rules]]\ndetector = \"Project Kode\"\naction = \"quarantine\"\n",
        "dlpd.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(
            "dlpd.toml:2:12: key `remediation.rules[0].detector`: \"Project Kode\" is neither"
        ),
        "{e}"
    );
}
