//! The fleet view's pages (`dlpd fleet serve`): the same dashboard, its
//! login, sessions and policies, over the fleet database instead of one
//! machine's store. Read-only: quarantine and restore stay on each
//! machine's own dashboard.

use hyper::StatusCode;
use maud::{Markup, html};

use super::answer::{Answer, bad_request, html as page, not_found};
use super::pages::{layout, query_value};
use crate::fleet::view::{AnomalyRow, FilesFilter, FleetView};
use crate::http::{json, text};

/// Answers a GET of `path` (without `/api`), as JSON when `api`.
pub(super) async fn route(
    view: &FleetView,
    api: bool,
    path: &str,
    query: &str,
    csrf: &str,
) -> Answer {
    let answer = match path {
        "/" | "/summary" => view.overview().await.map(|o| match api {
            true => json(StatusCode::OK, &o),
            false => page(StatusCode::OK, overview(&o, csrf)),
        }),
        "/machines" => view.machines().await.map(|m| match api {
            true => json(StatusCode::OK, &m),
            false => page(StatusCode::OK, machines(&m, csrf)),
        }),
        "/files" => {
            let filter = match parse(query) {
                Ok(f) => f,
                Err(why) => return bad_request(api, &why),
            };
            view.files(&filter).await.map(|p| match api {
                true => json(StatusCode::OK, &p),
                false => page(StatusCode::OK, files(&p, &filter, csrf)),
            })
        }
        "/values" => view.shared_values().await.map(|v| match api {
            true => json(StatusCode::OK, &v),
            false => page(StatusCode::OK, values(&v, csrf)),
        }),
        "/anomalies" => view.anomalies(200).await.map(|a| match api {
            true => json(StatusCode::OK, &a),
            false => page(
                StatusCode::OK,
                layout(
                    "anomalies",
                    "fleet-anomalies",
                    "/api/anomalies",
                    Some(csrf),
                    html! {
                        h1 { "Anomalies across the fleet" }
                        (anomaly_table(&a))
                    },
                ),
            ),
        }),
        _ => return not_found(api),
    };
    answer.unwrap_or_else(|e| {
        tracing::warn!("fleet view: {e}");
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the fleet database cannot be read now; try again",
        )
    })
}

/// `host`, `detector` and `page` from a query string.
fn parse(query: &str) -> Result<FilesFilter, String> {
    let mut f = FilesFilter::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let v = v.trim().to_string();
        match k.as_ref() {
            "host" if !v.is_empty() => f.host = Some(v),
            "detector" if !v.is_empty() => f.detector = Some(v),
            "page" if !v.is_empty() => {
                f.page = v
                    .parse::<i64>()
                    .ok()
                    .filter(|p| (0..=100_000).contains(p))
                    .ok_or_else(|| format!("page={v}: a page number from 0 to 100000"))?
            }
            "host" | "detector" | "page" => {}
            other => {
                return Err(format!(
                    "unknown filter `{other}`: use host, detector or page"
                ));
            }
        }
    }
    Ok(f)
}

fn overview(o: &crate::fleet::view::FleetOverview, csrf: &str) -> Markup {
    let stat = |label: &str, field: &str, value: i64| {
        html! { div.stat { span.value data-field=(field) { (value) } span.label { (label) } } }
    };
    layout(
        "fleet",
        "fleet-overview",
        "/api/summary",
        Some(csrf),
        html! {
            h1 { "Fleet" }
            section.stats {
                (stat("machines", "machines", o.machines))
                (stat("seen in the last hour", "machines_seen_hour", o.machines_seen_hour))
                (stat("not healthy", "machines_degraded", o.machines_degraded))
                (stat("file records", "files", o.files))
                (stat("findings", "findings", o.findings))
                (stat("anomalies", "anomalies", o.anomalies))
                (stat("quarantine steps", "actions", o.actions))
            }
            div.columns {
                section {
                    h2 { "Findings by detector, last " (crate::fleet::view::RECENT_DAYS) " days" }
                    table { thead { tr { th { "detector" } th.n { "findings" } } }
                        tbody { @for (d, n) in &o.by_detector { tr {
                            td { a href=(format!("/files?detector={}", query_value(d))) { (d) } } td.n { (n) }
                        } } } }
                }
                section {
                    h2 { "Recent anomalies" }
                    (anomaly_table(&o.recent_anomalies))
                }
            }
        },
    )
}

fn machines(m: &[crate::fleet::view::Machine], csrf: &str) -> Markup {
    layout(
        "machines",
        "fleet-machines",
        "/api/machines",
        Some(csrf),
        html! {
            h1 { "Machines" }
            table {
                thead { tr {
                    th { "machine" } th { "name" } th { "version" } th { "last seen" } th { "health" }
                    th.n { "files" } th.n { "findings" } th.n { "anomalies" } th.n { "events waiting" } th.n { "dropped" }
                } }
                tbody { @for h in m { tr class=(if h.status == "ok" { "" } else { "bad" }) {
                    td { a href=(format!("/files?host={}", query_value(&h.host_id))) { code { (h.host_id) } } }
                    td { (h.host_name) } td { (h.version) } td { (h.last_seen) }
                    td { (h.status) @for p in &h.problems { br; small { (p) } } }
                    td.n { (h.files) } td.n { (h.findings) } td.n { (h.anomalies) }
                    td.n { (h.events_pending) } td.n { (h.events_dropped) }
                } } }
            }
        },
    )
}

fn files(p: &crate::fleet::view::FilesPage, f: &FilesFilter, csrf: &str) -> Markup {
    let link = |page: i64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if let Some(h) = &f.host {
            q.append_pair("host", h);
        }
        if let Some(d) = &f.detector {
            q.append_pair("detector", d);
        }
        q.append_pair("page", &page.to_string());
        format!("/files?{}", q.finish())
    };
    layout(
        "sensitive files",
        "fleet-files",
        "/api/files",
        Some(csrf),
        html! {
            h1 { "Sensitive files across the fleet" }
            form.filter method="get" action="/files" {
                label { "Machine " input name="host" value=(f.host.as_deref().unwrap_or("")); }
                label { "Detector " input name="detector" value=(f.detector.as_deref().unwrap_or("")); }
                button type="submit" { "Filter" }
            }
            p.note { "Each scan of a file with findings, newest first." }
            table {
                thead { tr { th { "scanned" } th { "machine" } th { "path" } th.n { "findings" } th { "detectors" } th { "top confidence" } th { "exposure" } } }
                tbody { @for r in &p.files { tr {
                    td { (r.at) } td { code { (r.host_id) } } td { code { (r.path) } }
                    td.n { (r.findings) }
                    td { @if let Some(d) = r.detectors.as_object() { @for (name, n) in d { (name) " " (n) br; } } }
                    td { (r.top_confidence.as_deref().unwrap_or("")) } td { (r.exposure) }
                } } }
            }
            nav.pages {
                @if p.page > 0 { a href=(link(p.page - 1)) { "newer" } }
                @if p.more { a href=(link(p.page + 1)) { "older" } }
            }
        },
    )
}

fn values(v: &[crate::fleet::view::SharedValue], csrf: &str) -> Markup {
    layout(
        "shared values",
        "fleet-values",
        "/api/values",
        Some(csrf),
        html! {
            h1 { "The same value on several machines" }
            p.note {
                "Values found in the last " (crate::fleet::view::RECENT_DAYS) " days, matched by their hash under the fleet key ([fleet] key_file); "
                "machines without that key send no hash, and are not matched."
            }
            table {
                thead { tr { th { "value (hash)" } th { "detector" } th { "masked" } th.n { "machines" } th { "some of them" } th.n { "files" } th { "last seen" } } }
                tbody { @for s in v { tr {
                    td { code { (s.value) } } td { (s.detector) } td { code { (s.finding) } }
                    td.n { (s.machines) } td { @for h in &s.hosts { code { (h) } " " } }
                    td.n { (s.files) } td { (s.last_seen) }
                } } }
            }
        },
    )
}

fn anomaly_table(a: &[AnomalyRow]) -> Markup {
    html! {
        @if a.is_empty() { p { "none" } }
        @else {
            table {
                thead { tr { th { "interval start" } th { "machine" } th { "subject" } th.n { "files" } th.n { "usual" } th.n { "band" } } }
                tbody { @for r in a { tr {
                    td { (r.at) } td { code { (r.host_id) } } td { (r.subject) }
                    td.n { (r.count) } td.n { (format!("{:.1}", r.mean)) } td.n { (format!("{:.1}", r.band)) }
                } } }
            }
        }
    }
}
