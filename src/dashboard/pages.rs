//! The dashboard's pages, rendered on the server with maud (every value
//! is escaped unless marked otherwise, and nothing here marks one). Each
//! page names its JSON twin in `data-api`; the script polls it to keep
//! the page live.

use maud::{DOCTYPE, Markup, html};

use super::Overview;
use super::chart;
use crate::store::{AlertRow, FileDetail, FileFilter, FilesPage, Sort, SubjectView};

/// The pages of one machine's dashboard, and those of the fleet view:
/// path, name, and the `data-page` id.
const NAV: [(&str, &str, &str); 4] = [
    ("/", "Overview", "overview"),
    ("/files", "Sensitive files", "files"),
    ("/alerts", "Alerts and tickets", "alerts"),
    ("/baselines", "Baselines", "baselines"),
];
const FLEET_NAV: [(&str, &str, &str); 5] = [
    ("/", "Fleet", "fleet-overview"),
    ("/machines", "Machines", "fleet-machines"),
    ("/files", "Sensitive files", "fleet-files"),
    ("/values", "Shared values", "fleet-values"),
    ("/anomalies", "Anomalies", "fleet-anomalies"),
];

/// A page with the navigation (the fleet's for a `fleet-` page); `csrf`
/// for the log-out button (none on the login page).
pub(super) fn layout(
    title: &str,
    active: &str,
    api: &str,
    csrf: Option<&str>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "dlpd · " (title) }
                link rel="stylesheet" href="/static/dashboard.css";
                @if let Some(token) = csrf { meta name="csrf" content=(token); }
                script src="/static/dashboard.js" defer {}
            }
            body data-page=(active) data-api=(api) {
                @if let Some(token) = csrf {
                    header {
                        nav {
                            span.brand { "dlpd" }
                            @for (href, name, id) in if active.starts_with("fleet-") { &FLEET_NAV[..] } else { &NAV[..] } {
                                a href=(href) class=(if *id == active { "on" } else { "" }) { (name) }
                            }
                            span #live {}
                            form.logout method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(token);
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn login(failed: bool) -> Markup {
    layout(
        "log in",
        "login",
        "",
        None,
        html! {
            form.login method="post" action="/login" {
                h1 { "dlpd" }
                p { "The API token ([api] token_env or token_file) opens the dashboard." }
                @if failed { p.error { "That is not the token." } }
                label { "Token " input type="password" name="token" autocomplete="current-password" autofocus; }
                button type="submit" { "Log in" }
            }
        },
    )
}

pub fn overview(o: &Overview, csrf: &str) -> Markup {
    let s = &o.summary;
    let names: Vec<String> = s.by_detector.iter().map(|d| d.detector.clone()).collect();
    let stat = |label: &str, field: &str, value: String| {
        html! { div.stat { span.value data-field=(field) { (value) } span.label { (label) } } }
    };
    let lag = |v: Option<f64>| {
        v.map_or("–".to_string(), |v| {
            if v.is_finite() {
                format!("{v:.1} s")
            } else {
                "> 1 h".into()
            }
        })
    };
    html! {
        (layout("overview", "overview", "/api/summary", Some(csrf), html! {
            h1 { "Overview" }
            section.stats {
                (stat("files scanned", "scanned", s.scanned.to_string()))
                (stat("files with findings", "files_with_findings", s.files_with_findings.to_string()))
                (stat("findings", "findings", s.findings.to_string()))
                (stat("queued", "queue.queued", o.queue.queued.to_string()))
                (stat("being scanned", "queue.running", o.queue.running.to_string()))
                (stat("event → finding, mean", "lag_mean_s", lag(o.lag_mean_s)))
                (stat("event → finding, p95 under", "lag_p95_s", lag(o.lag_p95_s)))
            }
            @if !o.problems.is_empty() {
                section.problems { h2 { "Problems" } ul { @for p in &o.problems { li { (p) } } } }
            }
            section {
                h2 { "Files with findings per day (UTC, by last scan), stacked by detector" }
                p.note { "A file with findings of two detectors counts in both." }
                (chart::per_day(&s.per_day, &names))
                ul.legend { @for (i, n) in names.iter().enumerate() { li { span class=(format!("key {}", chart::series(i))) {} (n) } } }
            }
            div.columns {
                section {
                    h2 { "By detector" }
                    table { thead { tr { th { "detector" } th.n { "files" } th.n { "findings" } } }
                        tbody { @for d in &s.by_detector { tr {
                            td { a href=(format!("/files?detector={}", query_value(&d.detector))) { (d.detector) } }
                            td.n { (d.files) } td.n { (d.findings) }
                        } } } }
                }
                section {
                    h2 { "Files by confidence" }
                    table { tbody { @for c in &s.by_confidence { tr {
                        td { a href=(format!("/files?confidence={}", c.name)) { (c.name) } } td.n { (c.files) }
                    } } } }
                    h2 { "By exposure" }
                    table { tbody { @for c in &s.by_exposure { tr {
                        td { a href=(format!("/files?exposure={}", c.name)) { (c.name) } } td.n { (c.files) }
                    } } } }
                }
            }
            div.columns {
                section {
                    h2 { "Watched roots" }
                    ul { @for r in &o.roots { li { code { (r) } } } }
                    h2 { "Not watched" }
                    p { (o.unwatched.as_deref().unwrap_or("every directory under the roots is watched")) }
                }
                section {
                    h2 { "Last errors" }
                    @if s.last_errors.is_empty() { p { "none" } }
                    ul { @for e in &s.last_errors { li { code { (e.path) } ": " (e.error) " " small { (e.at) } } } }
                    h2 { "Recent anomalies" }
                    @if o.anomalies.is_empty() { p { "none" } }
                    ul { @for a in &o.anomalies { li { (a.subject) ": " (a.count) " files in " (a.interval_s) " s from " (a.start) ", usual " (format!("{:.1}", a.mean)) } } }
                }
            }
        }))
    }
}

/// `value` for a query string.
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The filter as a query string, with `page`.
pub fn filter_query(f: &FileFilter, page: u32) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if let Some(d) = &f.detector {
        q.append_pair("detector", d);
    }
    if let Some(c) = f.confidence {
        q.append_pair("confidence", c.as_str());
    }
    if let Some(r) = &f.root {
        q.append_pair("root", &r.to_string_lossy());
    }
    if let Some(e) = &f.exposure {
        q.append_pair("exposure", e);
    }
    if let Some(a) = f.max_age {
        q.append_pair("age_days", &(a.as_secs() / 86_400).to_string());
    }
    if f.sort != Sort::Newest {
        q.append_pair("sort", sort_name(f.sort));
    }
    q.append_pair("page", &page.to_string());
    q.finish()
}

fn sort_name(s: Sort) -> &'static str {
    match s {
        Sort::Newest => "newest",
        Sort::Oldest => "oldest",
        Sort::Findings => "findings",
        Sort::Path => "path",
    }
}

pub fn files(p: &FilesPage, f: &FileFilter, detectors: &[String], csrf: &str) -> Markup {
    let api = format!("/api/files?{}", filter_query(f, p.page));
    let selected = |on: bool| on.then_some("selected");
    html! {
        (layout("sensitive files", "files", &api, Some(csrf), html! {
            h1 { "Sensitive files" }
            form.filters method="get" action="/files" {
                label { "Detector " input type="text" name="detector" list="detectors" placeholder="any" value=(f.detector.as_deref().unwrap_or("")); }
                datalist #detectors { @for d in detectors { option value=(d) {} } }
                label { "Confidence at least " select name="confidence" {
                    option value="" { "any" }
                    @for c in ["VERY_LIKELY", "LIKELY", "POSSIBLE", "UNLIKELY"] {
                        option value=(c) selected=[selected(f.confidence.map(|x| x.as_str()) == Some(c))] { (c) }
                    }
                } }
                label { "Exposure " select name="exposure" {
                    option value="" { "any" }
                    @for e in ["local", "cloud-sync", "removable"] { option value=(e) selected=[selected(f.exposure.as_deref() == Some(e))] { (e) } }
                } }
                label { "Under " input type="text" name="root" placeholder="/home/a/Downloads" value=(f.root.as_ref().map(|r| r.to_string_lossy().into_owned()).unwrap_or_default()); }
                label { "Scanned in the last " select name="age_days" {
                    option value="" { "any time" }
                    @for (d, name) in [(1, "day"), (7, "week"), (30, "30 days")] {
                        option value=(d) selected=[selected(f.max_age.map(|a| a.as_secs() / 86_400) == Some(d))] { (name) }
                    }
                } }
                label { "Sort " select name="sort" {
                    @for s in [Sort::Newest, Sort::Oldest, Sort::Findings, Sort::Path] {
                        option value=(sort_name(s)) selected=[selected(f.sort == s)] { (sort_name(s)) }
                    }
                } }
                button type="submit" { "Show" }
            }
            p { span data-field="total" { (p.total) } " files, page " (p.page) " of " (p.pages) }
            table.files {
                thead { tr { th { "path" } th { "exposure" } th { "confidence" } th { "detectors" } th.n { "findings" } th { "scanned" } th { "quarantine" } } }
                tbody #rows { @for r in &p.files { tr {
                    td { a href=(format!("/files/{}", r.id)) { (r.path) } }
                    td { (r.exposure) } td { (r.confidence) }
                    td { @for d in &r.detectors { span.tag { (d.detector) " " (d.findings) } } }
                    td.n { (r.findings) } td { (r.scanned_at) } td { (r.quarantine.as_deref().unwrap_or("")) }
                } } }
            }
            nav.pages {
                @if p.page > 1 { a href=(format!("/files?{}", filter_query(f, p.page - 1))) { "← newer" } }
                @if p.page < p.pages { a href=(format!("/files?{}", filter_query(f, p.page + 1))) { "older →" } }
            }
        }))
    }
}

pub fn file(d: &FileDetail, csrf: &str, said: Option<&str>) -> Markup {
    let f = &d.file;
    let held = d.quarantines.iter().find(|q| q.state == "quarantined");
    html! {
        (layout("file", "files", &format!("/api/files/{}", f.id), Some(csrf), html! {
            h1 { code { (f.path) } }
            @if let Some(said) = said { p.said { (said) } }
            dl {
                dt { "exposure" } dd { (f.exposure) }
                dt { "size" } dd { (d.size) " bytes" }
                dt { "SHA-256" } dd { code { (d.sha256.as_deref().unwrap_or("–")) } }
                dt { "status" } dd { (d.status) @if let Some(e) = &d.error { ": " (e) } }
                dt { "scanned" } dd { span data-field="scanned_at" { (f.scanned_at) } " (" span data-field="scans" { (d.scans) } " scans, " (d.engine) ")" }
                dt { "quarantine" } dd data-field="quarantine" data-empty="not quarantined" { (f.quarantine.as_deref().unwrap_or("not quarantined")) }
            }
            div.actions {
                @if let Some(q) = held {
                    form method="post" action=(format!("/quarantine/{}/restore", q.id)) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="file" value=(f.id);
                        label { "Restoring hands the data back: type the token again " input type="password" name="token" autocomplete="off"; }
                        button #restore type="submit" { "Restore" }
                    }
                } @else if f.findings > 0 {
                    form method="post" action=(format!("/files/{}/quarantine", f.id)) {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="sha256" value=(d.sha256.as_deref().unwrap_or(""));
                        button #quarantine type="submit" { "Quarantine" }
                    }
                }
            }
            h2 { "Findings (" (f.findings) ")" }
            table {
                thead { tr { th { "detector" } th { "kind" } th { "confidence" } th { "value (masked)" } th.n { "line" } th.n { "bytes" } th { "member" } } }
                tbody { @for x in &d.items { tr {
                    td { (x.detector) } td { (x.kind.as_deref().unwrap_or("")) } td { (x.confidence) }
                    td { code { (x.masked) } } td.n { (x.line) } td.n { (x.byte_start) "–" (x.byte_end) }
                    td { (x.member.as_deref().unwrap_or("")) }
                } } }
            }
            h2 { "Alerts" }
            (alert_table(&d.alerts))
            h2 { "Quarantine history" }
            table {
                thead { tr { th.n { "id" } th { "state" } th { "at" } th { "restored" } th { "error" } } }
                tbody { @for q in &d.quarantines { tr {
                    td.n { (q.id) } td { (q.state) } td { (q.at) } td { (q.restored_at.as_deref().unwrap_or("")) } td { (q.error.as_deref().unwrap_or("")) }
                } } }
            }
        }))
    }
}

fn alert_table(alerts: &[AlertRow]) -> Markup {
    html! {
        table {
            thead { tr { th.n { "id" } th { "sink" } th { "file" } th { "created" } th { "state" } th.n { "attempts" } th { "ticket" } th { "last error" } } }
            tbody #alerts { @for a in alerts { tr {
                td.n { (a.id) } td { (a.sink) } td { (a.path.as_deref().unwrap_or("(anomaly)")) } td { (a.created_at) }
                td { (a.state) } td.n { (a.attempts) } td { (a.receipt.as_deref().unwrap_or("")) }
                td { (a.last_error.as_deref().unwrap_or("")) }
            } } }
        }
    }
}

pub fn alerts(alerts: &[AlertRow], csrf: &str) -> Markup {
    layout(
        "alerts",
        "alerts",
        "/api/alerts",
        Some(csrf),
        html! {
            h1 { "Alerts and tickets" }
            p { "The newest " (alerts.len()) " alerts; a Jira issue's key is its ticket." }
            (alert_table(alerts))
        },
    )
}

pub fn baselines(subjects: &[SubjectView], csrf: &str) -> Markup {
    layout(
        "baselines",
        "baselines",
        "/api/baselines",
        Some(csrf),
        html! {
            h1 { "Baselines" }
            p { "Files with findings per interval for each subject, against its moving average (line) and the band above which an interval is an anomaly (dashed); anomalies are red." }
            @if subjects.is_empty() { p { "No subject has a baseline yet." } }
            @for (i, s) in subjects.iter().enumerate() {
                section.subject {
                    h2 { (s.subject) }
                    p { "average " (format!("{:.2}", s.mean)) ", band " (s.band.map_or("–".into(), |b| format!("{b:.2}"))) ", " span data-field=(format!("{i}.intervals")) { (s.intervals) } " intervals" }
                    (chart::baseline(&s.recent))
                }
            }
        },
    )
}
