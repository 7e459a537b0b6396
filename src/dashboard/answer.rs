//! The dashboard's answers: pages, assets, redirects and refusals, and
//! the headers every one carries.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use maud::Markup;

use crate::http::{json, text};

pub(super) type Answer = Response<Full<Bytes>>;

/// The Content-Security-Policy of every answer: only this origin's script
/// and stylesheet, no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(super) fn html(status: StatusCode, page: Markup) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(page.into_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

pub(super) fn asset(body: &'static str, kind: &'static str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r
}

pub(super) fn redirect(to: &str) -> Answer {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

pub(super) fn too_many() -> Answer {
    text(
        StatusCode::TOO_MANY_REQUESTS,
        "too many token checks at once; try again shortly",
    )
}

pub(super) fn not_found(api: bool) -> Answer {
    match api {
        true => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"error": "not found"}),
        ),
        false => text(StatusCode::NOT_FOUND, "not found"),
    }
}

pub(super) fn bad_request(api: bool, why: &str) -> Answer {
    match api {
        true => json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": why})),
        false => text(StatusCode::BAD_REQUEST, why),
    }
}

/// The headers every dashboard answer carries.
pub(super) fn secure(mut r: Answer) -> Answer {
    let h = r.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    r
}
