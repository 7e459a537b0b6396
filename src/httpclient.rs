//! What every outgoing HTTP client of dlpd shares (the Nightfall API, the
//! alert sinks): rustls on ring, no redirects, and errors and `Retry-After`
//! read the same way. Error text never includes a URL: a pre-signed
//! findings URL or a Slack webhook URL is itself a credential.

use std::time::Duration;

use reqwest::header::HeaderValue;

/// A client with dlpd's user agent, `connect_timeout`, and no redirects.
pub fn build(connect_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    // rustls on ring; a second call finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("dlpd/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// `Retry-After` in seconds (HTTP dates are not used by these services),
/// capped at `cap`.
pub fn retry_after(value: Option<&HeaderValue>, cap: Duration) -> Option<Duration> {
    let secs: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs).min(cap))
}

/// A transport error in words, without its URL.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_and_capped() {
        let cap = Duration::from_secs(60);
        let v = |s: &'static str| retry_after(Some(&HeaderValue::from_static(s)), cap);
        assert_eq!(v("2"), Some(Duration::from_secs(2)));
        assert_eq!(v("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(v("86400"), Some(cap));
        assert_eq!(v("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(retry_after(None, cap), None);
    }
}
