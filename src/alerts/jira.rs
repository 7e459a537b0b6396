//! Jira Cloud tickets: one issue per case, a case being a file's path,
//! its content's SHA-256 and the set of detectors that fired in it.
//!
//! The case's dedupe key goes into a label (`dlpd-<key>`), and every
//! delivery searches for that label before it creates, so a retry, a
//! restart with a lost store, or a second daemon finds the open issue
//! instead of opening another. Jira's search lags behind its creates, so a
//! create that got no answer holds its case back for `search_lag_s`
//! (written to the outbox before the request is sent) before the next
//! search. Two daemons creating the same case in the same instant can
//! still both open one: Jira has no conditional create.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use super::Outcome;
use crate::activity::Anomaly;
use crate::config::{Action, JiraConfig};
use crate::finding::{Confidence, Detector, Exposure, FileReport};
use crate::httpclient::{Attempt, RetryPolicy};
use crate::rate::RateLimiter;
use crate::secret::{self, Secret, SecretError};
use crate::store::{AlertOutbox, DueAlert, NewAlert};

/// The sink's name in the outbox.
pub const SINK: &str = "jira";
/// Masked findings listed in a ticket's description, at most.
const MAX_LISTED: usize = 50;
/// A Jira answer read into memory, at most.
const MAX_ANSWER: usize = 256 * 1024;
/// Jira's limit on a summary.
const MAX_SUMMARY: usize = 250;

/// A configured Jira site.
#[derive(Debug, Clone)]
pub struct Jira {
    base: String,
    project: String,
    issue_type: String,
    email: String,
    token: Secret,
    search_lag: Duration,
}

impl Jira {
    /// The site from `[alerts.jira]`, or None when its URL is unset.
    pub fn load(cfg: &JiraConfig) -> Result<Option<Jira>, SecretError> {
        if cfg.url.is_empty() {
            return Ok(None);
        }
        let token = secret::load(
            "Jira API token",
            &cfg.token_env,
            cfg.token_file.as_deref(),
            "alerts.jira.token_file",
        )?;
        Ok(Some(Jira {
            base: cfg.url.trim_end_matches('/').to_string(),
            project: cfg.project.clone(),
            issue_type: cfg.issue_type.clone(),
            email: cfg.email.clone(),
            token,
            search_lag: Duration::from_secs(cfg.search_lag_s),
        }))
    }

    /// One try of one case: search for its label, and create the issue
    /// when none has it.
    pub(super) async fn deliver(
        &self,
        http: &reqwest::Client,
        outbox: &mut AlertOutbox,
        alert: &DueAlert,
        policy: &RetryPolicy,
        limit: Option<&RateLimiter>,
    ) -> Outcome {
        let pace = async || {
            if let Some(l) = limit {
                l.acquire().await;
            }
        };
        let case: Value = match serde_json::from_str(&alert.body) {
            Ok(v) => v,
            Err(e) => return Outcome::GiveUp(format!("the queued case is not JSON: {e}")),
        };
        let label = case["label"].as_str().unwrap_or_default();
        pace().await;
        let search = json!({
            "jql": format!("project = \"{}\" AND labels = \"{label}\"", self.project),
            "fields": ["summary"],
            "maxResults": 1,
        });
        let found = match self
            .post(http, "search/jql", &search, policy, alert.attempts)
            .await
        {
            Ok(answer) => answer["issues"][0]["key"].as_str().map(str::to_string),
            Err(outcome) => return outcome,
        };
        if let Some(key) = found {
            tracing::info!(id = alert.id, issue = %key, "the case already has a Jira issue");
            return Outcome::Delivered(Some(key));
        }
        // From here a lost answer may mean an issue exists that the
        // search cannot see yet.
        let until = SystemTime::now() + self.search_lag;
        if let Err(e) = outbox.hold(alert.id, until, "creating the Jira issue") {
            return Outcome::Retry {
                wait: policy.backoff(alert.attempts),
                why: e.to_string(),
            };
        }
        pace().await;
        let mut fields = case["fields"].clone();
        fields["project"] = json!({ "key": self.project });
        fields["issuetype"] = json!({ "name": self.issue_type });
        match self
            .post(
                http,
                "issue",
                &json!({ "fields": fields }),
                policy,
                alert.attempts,
            )
            .await
        {
            Ok(answer) => match answer["key"].as_str() {
                Some(key) => {
                    tracing::info!(id = alert.id, issue = %key, "Jira issue created");
                    Outcome::Delivered(Some(key.to_string()))
                }
                None => Outcome::Retry {
                    wait: self.search_lag,
                    why: "Jira answered a create without an issue key".into(),
                },
            },
            // Did the create happen? Only a search after the lag can say.
            Err(Outcome::Retry { wait, why }) => Outcome::Retry {
                wait: wait.max(self.search_lag),
                why,
            },
            Err(other) => other,
        }
    }

    /// POSTs `body` to `/rest/api/3/<path>` and reads the JSON answer.
    async fn post(
        &self,
        http: &reqwest::Client,
        path: &str,
        body: &Value,
        policy: &RetryPolicy,
        tries: u32,
    ) -> Result<Value, Outcome> {
        let sent = http
            .post(format!("{}/rest/api/3/{path}", self.base))
            .timeout(super::TIMEOUT)
            .basic_auth(&self.email, Some(self.token.expose()))
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        let response = match policy.judge(sent, tries) {
            Attempt::Refused(r) => {
                let status = r.status();
                let said = crate::httpclient::read_capped(r, MAX_ANSWER)
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .map(|v| errors(&v))
                    .unwrap_or_default();
                let fix = match status.as_u16() {
                    401 | 403 => {
                        "; check alerts.jira.email and the API token, and that the account may create issues in the project"
                    }
                    _ => "",
                };
                return Err(Outcome::GiveUp(format!(
                    "HTTP {status} from Jira ({path}){said}{fix}"
                )));
            }
            other => super::settled(other)?,
        };
        let bytes = crate::httpclient::read_capped(response, MAX_ANSWER)
            .await
            .map_err(|e| Outcome::Retry {
                wait: policy.backoff(tries),
                why: format!("reading Jira's answer: {e}"),
            })?;
        serde_json::from_slice(&bytes).map_err(|e| Outcome::Retry {
            wait: policy.backoff(tries),
            why: format!("Jira's answer is not JSON: {e}"),
        })
    }
}

/// Jira's `errorMessages` and `errors`, as `: a; field: b`.
fn errors(v: &Value) -> String {
    let mut said: Vec<String> = v["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(fields) = v["errors"].as_object() {
        said.extend(
            fields
                .iter()
                .map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or_default())),
        );
    }
    let text: String = said.join("; ").chars().take(300).collect();
    if text.is_empty() {
        text
    } else {
        format!(": {text}")
    }
}

/// The case for a file with findings: its dedupe key, and the issue's
/// fields but the project and type (read at delivery, so a changed config
/// applies to queued cases).
pub fn case(report: &FileReport, action: Action, host: &str, set_priority: bool) -> NewAlert {
    let path = report.path.to_string_lossy();
    let sha = report.sha256.as_deref().unwrap_or("");
    let detectors: BTreeSet<&Detector> = report.findings().iter().map(|f| &f.detector).collect();
    let names: Vec<&str> = detectors.iter().map(|d| d.as_str()).collect();
    let key = crate::fsutil::sha256_hex(format!("{path}\0{sha}\0{}", names.join("\0")).as_bytes());
    let label = format!("dlpd-{}", &key[..32]);
    let highest = report
        .findings()
        .iter()
        .map(|f| f.confidence)
        .max()
        .unwrap_or(Confidence::Possible);
    let count = report.findings().len();
    let summary: String = format!(
        "dlpd: {count} finding{} ({}) in {} on {host}",
        if count == 1 { "" } else { "s" },
        names.join(", "),
        one_line(&path)
    )
    .chars()
    .take(MAX_SUMMARY)
    .collect();
    let listed: Vec<String> = report
        .findings()
        .iter()
        .take(MAX_LISTED)
        .map(|f| {
            format!(
                "line {:<6} {:<26} {:<12} {}",
                f.line_start,
                f.detector.as_str(),
                f.confidence.as_str(),
                one_line(&f.value.masked)
            )
        })
        .collect();
    let more = count.saturating_sub(MAX_LISTED);
    let action_words = match action {
        Action::Quarantine => "dlpd is moving the file into quarantine.",
        Action::Notify | Action::Record => "The file stays where it is.",
    };
    let text = |t: String| json!({ "type": "text", "text": t });
    let paragraph = |t: String| json!({ "type": "paragraph", "content": [text(t)] });
    let item = |t: String| json!({ "type": "listItem", "content": [paragraph(t)] });
    let mut content = vec![
        paragraph(format!(
            "dlpd found {count} sensitive value{} in a file on {host}. {action_words}",
            if count == 1 { "" } else { "s" }
        )),
        json!({ "type": "bulletList", "content": [
            item(format!("Path: {}", one_line(&path))),
            item(format!("SHA-256: {sha}")),
            item(format!("Detectors: {}", names.join(", "))),
            item(format!("Highest confidence: {}", highest.as_str())),
            item(format!("Exposure: {}", report.exposure.unwrap_or(Exposure::Local))),
            item(format!("Scanned: {}", crate::report::rfc3339(report.scanned_at))),
        ]}),
        json!({ "type": "codeBlock", "content": [text(listed.join("\n"))] }),
    ];
    if more > 0 {
        content.push(paragraph(format!(
            "And {more} more; `dlpd findings` lists them all."
        )));
    }
    let mut fields = json!({
        "summary": summary,
        "labels": ["dlpd", label],
        "description": { "type": "doc", "version": 1, "content": content },
    });
    if set_priority {
        fields["priority"] = json!({ "name": priority(highest) });
    }
    NewAlert {
        sink: SINK,
        dedupe_key: key,
        body: json!({ "label": label, "fields": fields }).to_string(),
        path: Some(report.path.clone()),
    }
}

/// The case for an anomaly: one issue per subject and interval.
pub fn anomaly_case(a: &Anomaly, host: &str, set_priority: bool) -> NewAlert {
    let key =
        crate::fsutil::sha256_hex(format!("anomaly\0{}\0{}", a.subject, a.interval).as_bytes());
    let label = format!("dlpd-{}", &key[..32]);
    let summary: String = format!(
        "dlpd: unusual activity for {} on {host}: {} files with findings in {} s",
        one_line(&a.subject),
        a.count,
        a.interval_s
    )
    .chars()
    .take(MAX_SUMMARY)
    .collect();
    let text = |t: String| json!({ "type": "text", "text": t });
    let paragraph = |t: String| json!({ "type": "paragraph", "content": [text(t)] });
    let mut fields = json!({
        "summary": summary,
        "labels": ["dlpd", "dlpd-anomaly", label],
        "description": { "type": "doc", "version": 1, "content": [
            paragraph(format!(
                "{} files with findings were recorded for {} in the {} s from {}, where {:.1} is usual and up to {:.1} within the band.",
                a.count,
                one_line(&a.subject),
                a.interval_s,
                crate::report::rfc3339(a.start()),
                a.mean,
                a.band
            )),
            paragraph("`dlpd findings` and the dashboard list the files.".into()),
        ]},
    });
    if set_priority {
        fields["priority"] = json!({ "name": "High" });
    }
    NewAlert {
        sink: SINK,
        dedupe_key: key,
        body: json!({ "label": label, "fields": fields }).to_string(),
        path: None,
    }
}

/// Jira Cloud's default priority names, by the case's highest confidence.
fn priority(c: Confidence) -> &'static str {
    match c {
        Confidence::VeryLikely => "High",
        Confidence::Likely => "Medium",
        _ => "Low",
    }
}

/// Control characters (a newline in a file name) shown escaped: a summary
/// is one line, and a description must not be rearranged by a name.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Finding;

    #[test]
    fn a_case_holds_masked_values_and_one_label_per_path_content_and_detector_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pay\nroll.csv");
        std::fs::write(&path, "card 4916673475725015\n").unwrap();
        let engine = crate::engine::LocalEngine::new(&crate::config::ScannerConfig::default());
        let report = crate::engine::Engine::scan_path(
            &engine,
            &path,
            crate::engine::ScanOptions {
                hash: true,
                prior: None,
            },
        );
        let findings: &[Finding] = report.findings();
        assert!(!findings.is_empty(), "{:?}", report.outcome);
        let a = case(&report, Action::Notify, "host1", true);
        assert!(!a.body.contains("4916673475725015"), "{}", a.body);
        assert!(a.body.contains(&findings[0].value.masked), "{}", a.body);
        let v: Value = serde_json::from_str(&a.body).unwrap();
        assert_eq!(v["fields"]["labels"][1], v["label"]);
        assert_eq!(v["fields"]["priority"]["name"], "High");
        assert!(
            v["fields"]["summary"]
                .as_str()
                .unwrap()
                .contains("pay\\nroll.csv")
        );
        // Another daemon, another time: the same case.
        let b = case(&report, Action::Quarantine, "host2", false);
        assert_eq!(a.dedupe_key, b.dedupe_key);
        assert!(serde_json::from_str::<Value>(&b.body).unwrap()["fields"]["priority"].is_null());
        // Other content: another case.
        let mut other = report.clone();
        other.sha256 = Some("00".repeat(32));
        assert_ne!(
            case(&other, Action::Notify, "host1", true).dedupe_key,
            a.dedupe_key
        );
    }
}
