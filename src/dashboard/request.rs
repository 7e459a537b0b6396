//! What a dashboard request says: whether it came from this origin, and
//! its form or query values, the files filter among them.

use std::path::PathBuf;
use std::time::Duration;

use hyper::Request;

use crate::finding::Confidence;
use crate::store::{FileFilter, Sort};

/// Whether a browser says the request came from a page of this origin:
/// `Sec-Fetch-Site` when sent, else `Origin` against `Host`. A client
/// that sends neither (curl) is not a browser being tricked.
pub(super) fn same_origin<B>(req: &Request<B>) -> bool {
    let h = req.headers();
    let get = |name: &str| h.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

/// Whether the `Host` a request names is one the dashboard answers to: a
/// loopback address, `localhost`, or one of `names` (the listen address,
/// `dashboard.url`'s host). Another name means a page elsewhere had its
/// own name point here (DNS rebinding), so that the browser would treat
/// the dashboard as that page's origin.
pub(super) fn host_allowed<B>(req: &Request<B>, names: &[String]) -> bool {
    let Some(host) = req.headers().get("host").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    // The name without its port: `[::1]:8000`, `localhost:8000`.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let name = name.to_ascii_lowercase();
    let bare = name.trim_matches(['[', ']']);
    crate::http::is_loopback_host(&name) || names.iter().any(|n| n.eq_ignore_ascii_case(bare))
}

/// The first value of `name` in a form or query string.
pub(super) fn form_value(form: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(form.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The files filter from a query string; a bad value is named.
pub(super) fn parse_filter(query: &str) -> Result<FileFilter, String> {
    let mut f = FileFilter {
        page: 1,
        ..FileFilter::default()
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if v.is_empty() {
            continue;
        }
        match k.as_ref() {
            "detector" => f.detector = Some(v.into_owned()),
            "confidence" => {
                f.confidence = Some(Confidence::parse(&v).ok_or(format!(
                    "confidence {v:?} is not one of VERY_LIKELY, LIKELY, POSSIBLE, UNLIKELY"
                ))?)
            }
            "root" => f.root = Some(PathBuf::from(v.as_ref())),
            "exposure" => match v.as_ref() {
                "local" | "cloud-sync" | "removable" => f.exposure = Some(v.into_owned()),
                _ => {
                    return Err(format!(
                        "exposure {v:?} is not local, cloud-sync or removable"
                    ));
                }
            },
            "age_days" => {
                let days: u64 = v
                    .parse()
                    .ok()
                    .filter(|d| (1..=36_500).contains(d))
                    .ok_or(format!("age_days {v:?} is not a number of days from 1"))?;
                f.max_age = Some(Duration::from_secs(days * 86_400));
            }
            "sort" => {
                f.sort = Sort::parse(&v).ok_or(format!(
                    "sort {v:?} is not newest, oldest, findings or path"
                ))?
            }
            "page" => {
                f.page = v
                    .parse()
                    .ok()
                    .filter(|p| *p >= 1)
                    .ok_or(format!("page {v:?} is not a page number from 1"))?
            }
            _ => {}
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().uri("/x");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn only_known_host_names_are_answered() {
        let names = ["dlp.example.org".to_string()];
        for ok in [
            "127.0.0.1:8000",
            "localhost",
            "LOCALHOST:1",
            "[::1]:8000",
            "dlp.example.org",
            "127.0.0.2",
        ] {
            assert!(host_allowed(&req(&[("host", ok)]), &names), "{ok}");
        }
        for bad in ["evil.example:8000", "10.0.0.1", "localhost.evil.example"] {
            assert!(!host_allowed(&req(&[("host", bad)]), &names), "{bad}");
        }
        assert!(!host_allowed(&req(&[]), &names));
    }

    #[test]
    fn only_this_origin_may_act() {
        assert!(same_origin(&req(&[])));
        assert!(same_origin(&req(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&req(&[("sec-fetch-site", "cross-site")])));
        assert!(same_origin(&req(&[
            ("origin", "http://127.0.0.1:9"),
            ("host", "127.0.0.1:9")
        ])));
        assert!(!same_origin(&req(&[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:9")
        ])));
    }

    #[test]
    fn filters_are_parsed_and_bad_values_named() {
        let f = parse_filter("detector=API_KEY&confidence=LIKELY&exposure=removable&age_days=7&sort=path&page=3&root=%2Fhome").unwrap();
        assert_eq!(f.detector.as_deref(), Some("API_KEY"));
        assert_eq!(f.confidence, Some(Confidence::Likely));
        assert_eq!(f.sort, Sort::Path);
        assert_eq!(
            (f.page, f.max_age),
            (3, Some(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(f.root, Some(PathBuf::from("/home")));
        assert_eq!(
            super::super::pages::filter_query(&f, 3),
            "detector=API_KEY&confidence=LIKELY&root=%2Fhome&exposure=removable&age_days=7&sort=path&page=3"
        );
        for bad in [
            "confidence=HIGH",
            "exposure=usb",
            "page=0",
            "age_days=x",
            "sort=size",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_filter("detector=&page=").unwrap().page, 1);
    }
}
