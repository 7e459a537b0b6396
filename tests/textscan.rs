//! The local text-scan API (`POST /v3/scan`) on the real daemon's
//! listener, called the way Nightfall's SDKs call Nightfall.

mod support;

use serde_json::{Value, json};
use support::daemon::Daemon;
use support::http;
use support::nightfall::free_port;

const TOKEN: &str = "test-api-token-7f3a";
const CARD: &str = "4916-6734-7572-5015";

/// A daemon on the local engine with the API on; returns it and its port.
fn api() -> (Daemon, u16) {
    let port = free_port();
    let mut d = Daemon::new(&format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\n[api]\nenabled = true\n"
    ));
    d.env = vec![("DLPD_API_TOKEN".into(), TOKEN.into())];
    d.start();
    (d, port)
}

/// POSTs a JSON body to /v3/scan with `token`.
fn scan_as(port: u16, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut head = format!(
        "POST /v3/scan HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let (status, text) = http(port, &head, body.as_bytes());
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}

fn scan(port: u16, body: Value) -> (u16, Value) {
    scan_as(port, Some(TOKEN), &body.to_string())
}

/// A policy with the card and SSN detectors and `redaction` as default.
fn policy(redaction: Value) -> Value {
    json!({
        "detectionRules": [{"logicalOp": "ANY", "detectors": [
            {"detectorType": "NIGHTFALL_DETECTOR", "nightfallDetector": "CREDIT_CARD_NUMBER",
             "minConfidence": "LIKELY", "displayName": "Credit Card Number"},
            {"detectorType": "NIGHTFALL_DETECTOR", "nightfallDetector": "US_SOCIAL_SECURITY_NUMBER",
             "minConfidence": "LIKELY"}
        ]}],
        "contextBytes": 10,
        "defaultRedactionConfig": redaction,
    })
}

#[test]
fn the_response_has_nightfalls_shape_with_exact_ranges() {
    let (_d, port) = api();
    let (status, v) = scan(
        port,
        json!({
            "payload": [format!("é {CARD} is my credit card number, 536-22-1234 ssn"), "nothing here"],
            "policy": policy(Value::Null),
        }),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["redactedPayload"], json!(["", ""]));
    assert_eq!(v["findings"][1], json!([]));
    let f = &v["findings"][0][0];
    assert_eq!(f["finding"], CARD);
    assert_eq!(
        f["detector"],
        json!({"name": "Credit Card Number", "uuid": "74c1815e-c0c3-4df5-8b1e-6cf98864a454"})
    );
    assert_eq!(f["confidence"], "VERY_LIKELY");
    // "é" is two bytes and one codepoint.
    assert_eq!(
        f["location"],
        json!({"byteRange": {"start": 3, "end": 22}, "codepointRange": {"start": 2, "end": 21},
               "rowRange": null, "columnRange": null, "commitHash": "", "commitAuthor": ""})
    );
    assert_eq!(f["beforeContext"], "é ");
    assert_eq!(f["afterContext"], " is my cre");
    assert_eq!(f["matchedDetectionRuleUUIDs"], json!([]));
    assert_eq!(
        f["matchedDetectionRules"],
        json!(["Inline Detection Rule #1"])
    );
    assert!(f.get("redactedFinding").is_none());
    assert_eq!(f["redactedLocation"], f["location"]);
    let ssn = &v["findings"][0][1];
    assert_eq!(ssn["detector"]["name"], "US_SOCIAL_SECURITY_NUMBER");
    assert_eq!(ssn["finding"], "536-22-1234");
}

#[test]
fn every_redaction_mode_rewrites_the_payload() {
    let (_d, port) = api();
    let text = format!("card {CARD} ok");
    let redact = |config: Value| {
        let (status, v) = scan(port, json!({"payload": [text], "policy": policy(config)}));
        assert_eq!(status, 200, "{v}");
        v
    };
    // The mask of ../shared/nightfall-api.md §3, and both direction spellings.
    let mask = json!({"maskingChar": "👀", "charsToIgnore": ["-"], "numCharsToLeaveUnmasked": 3});
    let v = redact(json!({ "maskConfig": mask }));
    assert_eq!(
        v["redactedPayload"][0],
        "card 491👀-👀👀👀👀-👀👀👀👀-👀👀👀👀 ok"
    );
    let f = &v["findings"][0][0];
    assert_eq!(f["redactedFinding"], "491👀-👀👀👀👀-👀👀👀👀-👀👀👀👀");
    // 13 four-byte eyes replace 13 one-byte digits: the range is exact.
    assert_eq!(
        f["redactedLocation"]["byteRange"],
        json!({"start": 5, "end": 5 + 19 + 13 * 3})
    );
    assert_eq!(
        f["redactedLocation"]["codepointRange"],
        json!({"start": 5, "end": 24})
    );
    let mut ltr = mask.clone();
    ltr["maskLeftToRight"] = json!(true);
    let v = redact(json!({ "maskConfig": ltr }));
    assert_eq!(
        v["redactedPayload"][0],
        "card 👀👀👀👀-👀👀👀👀-👀👀👀👀-👀015 ok"
    );
    let mut python = mask.clone();
    python["maskRightToLeft"] = json!(true);
    let v = redact(json!({ "maskConfig": python }));
    assert_eq!(
        v["redactedPayload"][0],
        "card 491👀-👀👀👀👀-👀👀👀👀-👀👀👀👀 ok"
    );

    let v = redact(json!({"substitutionConfig": {"substitutionPhrase": "[card]"}}));
    assert_eq!(v["redactedPayload"][0], "card [card] ok");
    let v = redact(json!({"infoTypeSubstitutionConfig": {}}));
    assert_eq!(v["redactedPayload"][0], "card [Credit Card Number] ok");
    let v = redact(json!({"removeFinding": true}));
    assert_eq!(v["findings"][0][0]["finding"], "");
    assert_eq!(v["findings"][0][0]["location"]["byteRange"]["start"], 5);

    // A detector's own redactionConfig wins over the default.
    let mut p = policy(json!({"substitutionConfig": {"substitutionPhrase": "X"}}));
    p["detectionRules"][0]["detectors"][0]["redactionConfig"] =
        json!({"substitutionConfig": {"substitutionPhrase": "Y"}});
    let (_, v) = scan(port, json!({"payload": [text], "policy": p}));
    assert_eq!(v["redactedPayload"][0], "card Y ok");
}

#[test]
fn regex_and_word_list_detectors_and_rule_logic() {
    let (_d, port) = api();
    let rules = json!([
        {"name": "tickets", "detectors": [
            {"detectorType": "REGEX", "regex": {"pattern": "TICKET-[0-9]{4}", "isCaseSensitive": true},
             "displayName": "Ticket"}]},
        {"name": "both", "logicalOp": "ALL", "detectors": [
            {"detectorType": "WORD_LIST", "wordList": {"values": ["project falcon"]}, "displayName": "Codename"},
            {"detectorType": "NIGHTFALL_DETECTOR", "nightfallDetector": "CREDIT_CARD_NUMBER"}]}
    ]);
    let (status, v) = scan(
        port,
        json!({"payload": [
            "see TICKET-1234 and ticket-9999 about Project Falcon",
            format!("Project Falcon paid with {CARD}"),
        ], "policy": {"detectionRules": rules}}),
    );
    assert_eq!(status, 200, "{v}");
    // Item 0: the case-sensitive regex; the ALL rule lacks its card.
    let names = |i: usize| -> Vec<String> {
        v["findings"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}={}",
                    f["detector"]["name"].as_str().unwrap(),
                    f["finding"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert_eq!(names(0), ["Ticket=TICKET-1234"]);
    assert_eq!(
        names(1),
        [
            "Codename=Project Falcon",
            format!("CREDIT_CARD_NUMBER={CARD}").as_str()
        ]
    );
    assert_eq!(
        v["findings"][1][0]["matchedDetectionRules"],
        json!(["both"])
    );

    let bad = json!({"payload": ["x"], "policy": {"detectionRules": [{"name": "broken", "detectors": [
        {"detectorType": "REGEX", "regex": {"pattern": "([a-z"}}]}]}});
    let (status, v) = scan(port, bad);
    assert_eq!(status, 422);
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("rule \"broken\", detector 1: regex.pattern does not compile"),
        "{v}"
    );
}

#[test]
fn context_and_exclusion_rules_adjust_and_drop_matches() {
    let (_d, port) = api();
    let rules = json!([{"name": "tickets", "detectors": [
        {"detectorType": "REGEX", "regex": {"pattern": "TICKET-[0-9]{4}"}, "displayName": "Ticket",
         "minConfidence": "POSSIBLE",
         "contextRules": [{"regex": {"pattern": "urgent"}, "proximity": {"windowBefore": 10, "windowAfter": 10},
                           "confidenceAdjustment": {"fixedConfidence": "VERY_LIKELY"}}],
         "exclusionRules": [{"matchType": "PARTIAL", "exclusionType": "WORD_LIST",
                             "wordList": {"values": ["0000"]}}]}]}]);
    let (status, v) = scan(
        port,
        json!({"payload": ["urgent TICKET-1234", "TICKET-5678", "TICKET-0000"],
               "policy": {"detectionRules": rules}}),
    );
    assert_eq!(status, 200, "{v}");
    let confidences = |i: usize| -> Vec<String> {
        v["findings"][i]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["confidence"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(confidences(0), ["VERY_LIKELY"]);
    assert_eq!(confidences(1), ["LIKELY"]);
    assert!(confidences(2).is_empty(), "{v}");
}

#[test]
fn tokens_limits_and_malformed_requests_get_nightfall_error_bodies() {
    let (d, port) = api();
    let body = json!({"payload": ["x"], "policy": policy(Value::Null)}).to_string();
    let error_shape = |v: &Value| {
        assert!(v["code"].is_i64() && v["message"].is_string(), "{v}");
        assert!(
            v["description"].is_string() && v["additionalData"].is_object(),
            "{v}"
        );
    };
    for token in [None, Some("wrong"), Some("")] {
        let (status, v) = scan_as(port, token, &body);
        assert_eq!(status, 401, "{token:?}");
        error_shape(&v);
    }
    // 500 KB of payload at most, 50,000 items at most.
    let big = "a".repeat(250_001);
    let (status, v) = scan(
        port,
        json!({"payload": [big, big], "policy": policy(Value::Null)}),
    );
    assert_eq!(status, 413, "{v}");
    error_shape(&v);
    let many = vec![""; 50_001];
    let (status, v) = scan(
        port,
        json!({"payload": many, "policy": policy(Value::Null)}),
    );
    assert_eq!(status, 422);
    error_shape(&v);
    let ok = vec!["x"; 50_000];
    assert_eq!(
        scan(port, json!({"payload": ok, "policy": policy(Value::Null)})).0,
        200
    );
    // Malformed or incomplete requests.
    let (status, v) = scan_as(port, Some(TOKEN), "{\"payload\": [");
    assert_eq!(status, 400);
    error_shape(&v);
    let (status, v) = scan(port, json!({"payload": ["x"]}));
    assert_eq!((status, v["code"].as_i64()), (400, Some(40015)));
    let (status, _) = scan(port, json!({"payload": ["x"], "policyUUIDs": ["a-uuid"]}));
    assert_eq!(status, 422);
    let mut p = policy(json!({"maskConfig": {"maskingChar": "ab"}}));
    let (status, v) = scan(port, json!({"payload": ["x"], "policy": p.clone()}));
    assert_eq!(status, 422);
    assert!(
        v["description"].as_str().unwrap().contains("maskingChar"),
        "{v}"
    );
    p["defaultRedactionConfig"] = Value::Null;
    p["detectionRules"][0]["detectors"][0]["nightfallDetector"] = json!("IBAN");
    let (status, v) = scan(port, json!({"payload": ["x"], "policy": p}));
    assert_eq!(status, 422);
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("IBAN is not a detector"),
        "{v}"
    );
    // Go's serializer sends every key, empty or null: accepted.
    let go = json!({"payload": [CARD], "config": null, "policyUUIDs": null, "policy": {
        "detectionRules": [{"name": "", "logicalOp": "ANY", "detectors": [
            {"detectorType": "NIGHTFALL_DETECTOR", "nightfallDetector": "CREDIT_CARD_NUMBER",
             "displayName": "", "contextRules": null, "exclusionRules": null, "minConfidence": "POSSIBLE",
             "minNumFindings": 1, "redactionConfig": null}]}],
        "detectionRuleUUIDs": null, "defaultRedactionConfig": null, "alertConfig": null}});
    let (status, v) = scan(port, go);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["findings"][0][0]["detector"]["name"],
        "CREDIT_CARD_NUMBER"
    );
    // Nothing scanned reaches the log.
    assert!(!d.log().contains("4916"), "{}", d.log());
    assert!(!d.log().contains(TOKEN));
}

#[test]
fn the_api_is_off_by_default_and_needs_its_token_when_on() {
    let port = free_port();
    let d = Daemon::new(&format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\n[api]\nenabled = true\n"
    ));
    let out = support::cmd(&d.config)
        .env_remove("DLPD_API_TOKEN")
        .arg("run")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DLPD_API_TOKEN") && err.contains("api.token_file"),
        "{err}"
    );
    // Off (the default): no listener is started at all.
    let mut d = Daemon::new(&format!("[webhook]\nlisten = \"127.0.0.1:{port}\"\n"));
    d.start();
    assert!(!d.log().contains("listening"), "{}", d.log());
}

#[test]
fn an_item_with_a_nul_or_other_controls_is_scanned_and_redacted_as_text() {
    let (_d, port) = api();
    // Before: a NUL anywhere in the first 64 KiB made the item "binary":
    // no findings and an empty redaction, which a client takes as clean.
    let item = format!("a\u{0}b\u{1b}[31m card {CARD} and\u{7f} more");
    let (status, v) = scan(
        port,
        json!({"payload": [item], "policy": policy(json!({"substitutionConfig": {"substitutionPhrase": "[card]"}}))}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["findings"][0].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(
        v["redactedPayload"][0],
        "a\u{0}b\u{1b}[31m card [card] and\u{7f} more"
    );
}

#[test]
fn a_request_that_would_cost_minutes_is_refused_and_the_listener_stays_up() {
    let (_d, port) = api();
    // Every digit matches: 10 rules over 200 KB would be two million
    // findings (before: minutes of CPU on the listener, then 100s of MB).
    let rules: Vec<Value> = (0..10)
        .map(|i| {
            json!({"name": format!("digits {i}"), "detectors": [
                {"detectorType": "REGEX", "regex": {"pattern": "[0-9]"}, "displayName": "Digit"}]})
        })
        .collect();
    let body =
        json!({"payload": ["0123456789".repeat(20_000)], "policy": {"detectionRules": rules}});
    let big = std::thread::spawn(move || scan(port, body));
    // The listener answers while that request is being worked on.
    assert_eq!(
        http(port, "GET /ping HTTP/1.1\r\n", b""),
        (200, "ok".into())
    );
    let (status, v) = big.join().unwrap();
    assert_eq!(status, 422, "{v}");
    assert!(
        v["description"]
            .as_str()
            .unwrap()
            .contains("more than 10000 findings"),
        "{v}"
    );
}
