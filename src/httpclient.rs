//! What every outgoing HTTP client of dlpd shares (the Nightfall API, the
//! alert sinks): rustls on ring, no redirects, one retry policy (which
//! answers are worth another try, and after how long), and errors read the
//! same way. Error text never includes a URL: a pre-signed findings URL or
//! a Slack webhook URL is itself a credential.

use std::time::Duration;

use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Response, StatusCode};

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

/// How a caller retries: capped exponential backoff with jitter, and the
/// longest `Retry-After` obeyed.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    pub retry_after_cap: Duration,
}

/// What one try of a request came to.
#[derive(Debug)]
pub enum Attempt {
    /// A 2xx answer.
    Success(Response),
    /// 429: try again after `wait`. `asked` is the server's own
    /// `Retry-After`, when it sent one.
    Throttled {
        wait: Duration,
        asked: Option<Duration>,
    },
    /// 5xx: the server failed; try again after `wait`.
    ServerError { response: Response, wait: Duration },
    /// No answer (timeout, connection refused or dropped): try again after
    /// `wait`.
    Transport { detail: String, wait: Duration },
    /// Any other status: trying the same request again would not help.
    Refused(Response),
}

impl RetryPolicy {
    /// The delay before try `tries + 1`.
    pub fn backoff(&self, tries: u32) -> Duration {
        crate::backoff::jittered(self.base, self.max, tries)
    }

    /// Judges one try; `tries` is how many failed before it.
    pub fn judge(&self, sent: reqwest::Result<Response>, tries: u32) -> Attempt {
        match sent {
            Ok(r) if r.status().is_success() => Attempt::Success(r),
            Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                let asked = retry_after(r.headers().get(RETRY_AFTER), self.retry_after_cap);
                Attempt::Throttled {
                    wait: asked.unwrap_or_else(|| self.backoff(tries)),
                    asked,
                }
            }
            Ok(r) if r.status().is_server_error() => Attempt::ServerError {
                response: r,
                wait: self.backoff(tries),
            },
            Ok(r) => Attempt::Refused(r),
            Err(e) => Attempt::Transport {
                detail: describe(&e),
                wait: self.backoff(tries),
            },
        }
    }
}

/// `Retry-After` in seconds (HTTP dates are not used by these services),
/// capped at `cap`.
fn retry_after(value: Option<&HeaderValue>, cap: Duration) -> Option<Duration> {
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

/// Why a response body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("response is over {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Transport(String),
}

/// Reads a body, refusing one over `cap` bytes: a server's answer never
/// costs more memory than that.
pub async fn read_capped(mut resp: Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    let started = std::time::Instant::now();
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() > cap => {
                return Err(BodyError::TooLarge(cap));
            }
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body),
            Err(e) => {
                return Err(BodyError::Transport(format!(
                    "{} after {} ms",
                    describe(&e),
                    started.elapsed().as_millis()
                )));
            }
        }
    }
}
