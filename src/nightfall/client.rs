//! The HTTP side of the Nightfall engine: upload a file in chunks, start
//! its scan, and fetch the findings a result points to.
//!
//! Every API call goes through [`Client::call`], which holds the rate
//! limit and does the retrying: a 429 waits for `Retry-After` (and holds
//! back every other request too), 5xx, timeouts and connection errors back
//! off exponentially with jitter, a 404 means Nightfall no longer knows the
//! upload, and any other 4xx is a permanent refusal carrying Nightfall's
//! error code. A file is read one chunk at a time, so memory stays flat
//! whatever its size.
//!
//! Uploads run on the daemon's upload threads through `Handle::block_on`,
//! so reading a chunk from disk blocks that thread only, never the runtime.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use reqwest::{RequestBuilder, Response};
use ring::digest;
use serde_json::json;

use super::wire::{ApiError, FileUpload, FindingsDoc, scan_request};
use crate::config::{NightfallConfig, ScannerConfig};
use crate::engine::regular_meta;
use crate::finding::{Outcome, SkipReason};
use crate::fsutil::hex;
use crate::fsutil::{describe_io_error, mtime_ns};
use crate::httpclient::{Attempt, RetryPolicy};
use crate::rate::RateLimiter;
use crate::secret::Secret;
use crate::store::Upload;

/// Tries per request before the job itself is failed (and retried later
/// by the queue, with its own backoff).
pub const MAX_TRIES: u32 = 6;
/// First retry delay of a request.
const RETRY_BASE: Duration = Duration::from_millis(250);
/// Longest retry delay of a request, and the longest `Retry-After` obeyed.
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Largest chunk size accepted from the server: one chunk is in memory.
const MAX_CHUNK: u64 = 64 * 1024 * 1024;
/// Largest API response read (they are small JSON objects).
const MAX_RESPONSE: usize = 1024 * 1024;
/// Largest findings document read.
pub const MAX_FINDINGS_BYTES: usize = 64 * 1024 * 1024;

/// Why a Nightfall call failed, after its retries.
#[derive(Debug, thiserror::Error)]
pub enum NightfallError {
    /// 404 on a chunk, finish or scan: the upload must start over.
    #[error("{what}: Nightfall no longer knows upload {id}; the file is uploaded again")]
    Gone { what: &'static str, id: String },
    /// Retries ran out on 429, 5xx, timeouts or connection errors.
    #[error("{what}: {detail} (gave up after {MAX_TRIES} tries; the file is retried later)")]
    Unavailable { what: &'static str, detail: String },
    /// A 4xx other than 404 and 429: retrying would not help.
    #[error("{what}: Nightfall refused it with HTTP {status}, {error}")]
    Rejected {
        what: &'static str,
        status: u16,
        error: ApiError,
    },
    /// The response was not what the protocol says.
    #[error("{what}: unexpected response: {detail}")]
    Protocol { what: &'static str, detail: String },
    /// The local file could not be read.
    #[error("{0}")]
    File(String),
}

impl NightfallError {
    /// Whether trying the same file again cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, NightfallError::Rejected { .. })
    }

    /// What a person should do about a refusal, where Nightfall's code says.
    pub fn advice(&self) -> Option<&'static str> {
        match self {
            NightfallError::Rejected { error, .. } => match error.code {
                40012 => Some(
                    "Nightfall could not reach nightfall.webhook_url; check that the URL is public, \
                     served over https, and forwards POST /ingest to [webhook] listen",
                ),
                42201 => Some(
                    "the server at nightfall.webhook_url did not echo Nightfall's challenge; \
                     check that the URL reaches dlpd's listener and not another service",
                ),
                _ if matches!(self, NightfallError::Rejected { status: 401, .. }) => Some(
                    "Nightfall did not accept the API key; check nightfall.api_key_env or nightfall.api_key_file",
                ),
                _ => None,
            },
            _ => None,
        }
    }
}

/// The result of uploading a file.
#[derive(Debug)]
pub enum Uploaded {
    /// All bytes are with Nightfall; the scan can be requested.
    Ready(Upload),
    /// Not sent, for a reason that retrying does not change.
    Skipped(SkipReason),
    /// The file changed while it was read: upload abandoned, queue it again.
    Changed,
}

/// A Nightfall API client with its account, limits and policy.
pub struct Client {
    http: reqwest::Client,
    api_url: String,
    key: Secret,
    limiter: RateLimiter,
    retry: RetryPolicy,
    timeout: Duration,
    nightfall: NightfallConfig,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.api_url)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the account whose key is `key`.
    pub fn new(nightfall: &NightfallConfig, key: Secret) -> Result<Client, reqwest::Error> {
        let timeout = Duration::from_secs(nightfall.request_timeout_s);
        let http = crate::httpclient::build(timeout.min(Duration::from_secs(10)))?;
        Ok(Client {
            http,
            api_url: nightfall.api_url.trim_end_matches('/').to_string(),
            key,
            limiter: RateLimiter::new(nightfall.requests_per_second),
            retry: RetryPolicy {
                base: RETRY_BASE,
                max: RETRY_MAX.min(timeout * 2),
                retry_after_cap: RETRY_MAX,
            },
            timeout,
            nightfall: nightfall.clone(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api_url)
    }

    /// Uploads an opened file from its start: initialise, chunks, finish.
    /// The caller opened it (the daemon without following symlinks), and
    /// nothing is read by path, so what is sent is what was opened. The
    /// SHA-256 is computed on the bytes sent; a file that changes meanwhile
    /// is abandoned, and one over `max_file_bytes` is skipped unread.
    pub async fn upload(
        &self,
        mut file: File,
        max_file_bytes: u64,
    ) -> Result<Uploaded, NightfallError> {
        let meta = match regular_meta(&file) {
            Ok(meta) => meta,
            Err(Outcome::Skipped(reason)) => return Ok(Uploaded::Skipped(reason)),
            Err(Outcome::Failed(msg)) => return Err(NightfallError::File(msg)),
            Err(Outcome::Scanned { .. }) => unreachable!("regular_meta never scans"),
        };
        // The caller may have hashed it through a duplicate descriptor.
        if let Err(e) = file.seek(SeekFrom::Start(0)) {
            let why = format!("read failed: {}", describe_io_error(&e));
            return Err(NightfallError::File(why));
        }
        let (size, mtime) = (meta.len(), mtime_ns(&meta));
        if size > max_file_bytes {
            return Ok(Uploaded::Skipped(SkipReason::TooLarge {
                size,
                limit: max_file_bytes,
            }));
        }
        if size == 0 {
            return Ok(Uploaded::Skipped(SkipReason::Empty));
        }
        let what = "starting an upload";
        let body = json!({ "fileSizeBytes": size }).to_string();
        let resp = self
            .call(what, true, || {
                self.http
                    .post(self.url("/v3/upload"))
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await
            .map_err(|e| match e {
                // Not an upload that vanished: the URL is wrong.
                NightfallError::Gone { what, .. } => NightfallError::Rejected {
                    what,
                    status: 404,
                    error: ApiError {
                        code: 0,
                        message: "Not Found".into(),
                        description: "check nightfall.api_url".into(),
                    },
                },
                other => other,
            })?;
        let init: FileUpload = read_json(what, resp).await?;
        check_upload(what, &init, size)?;
        let id = init.id;

        let mut hasher = digest::Context::new(&digest::SHA256);
        let mut offset = 0u64;
        while offset < size {
            let n = init.chunk_size.min(size - offset) as usize;
            let chunk = match read_chunk(&mut file, n) {
                Ok(Some(c)) => c,
                // Shorter than it was: it is being rewritten.
                Ok(None) => return Ok(Uploaded::Changed),
                Err(e) => {
                    return Err(NightfallError::File(format!(
                        "read failed: {}",
                        describe_io_error(&e)
                    )));
                }
            };
            hasher.update(&chunk);
            let url = self.url(&format!("/v3/upload/{id}"));
            let what = "uploading a chunk";
            self.call(what, true, || {
                self.http
                    .patch(&url)
                    .header("X-Upload-Offset", offset)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .body(chunk.clone())
            })
            .await
            .map_err(|e| gone_as(e, &id))?;
            offset += n as u64;
        }
        // Grown, shrunk or rewritten while it was read: what was sent is
        // not the file, so do not ask for a scan of it.
        let same = file
            .metadata()
            .map(|m| m.len() == size && mtime_ns(&m) == mtime)
            .unwrap_or(false);
        if !same {
            return Ok(Uploaded::Changed);
        }

        let what = "finishing an upload";
        let url = self.url(&format!("/v3/upload/{id}/finish"));
        match self
            .call(what, true, || {
                self.http
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .body("{}")
            })
            .await
        {
            Ok(_) => {}
            Err(NightfallError::Rejected { status, error, .. }) if unsupported(status, &error) => {
                return Ok(Uploaded::Skipped(SkipReason::Unsupported(
                    error.to_string(),
                )));
            }
            Err(e) => return Err(gone_as(e, &id)),
        }
        Ok(Uploaded::Ready(Upload {
            id,
            size,
            mtime_ns: Some(mtime),
            sha256: hex(hasher.finish().as_ref()),
        }))
    }

    /// Starts the scan of an uploaded file with `scanner`'s detectors,
    /// threshold and rules; its result goes to the webhook.
    pub async fn scan(
        &self,
        upload_id: &str,
        metadata: &str,
        scanner: &ScannerConfig,
    ) -> Result<(), NightfallError> {
        let what = "starting a scan";
        let url = self.url(&format!("/v3/upload/{upload_id}/scan"));
        let body = scan_request(scanner, &self.nightfall, metadata).to_string();
        self.call(what, true, || {
            self.http
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone())
        })
        .await
        .map_err(|e| gone_as(e, upload_id))?;
        Ok(())
    }

    /// Fetches the findings document a result points to. The URL is
    /// pre-signed: no API key goes with it, and it never appears in logs
    /// or errors.
    pub async fn fetch_findings(&self, url: &str) -> Result<FindingsDoc, NightfallError> {
        let what = "fetching findings";
        let resp = self.call(what, false, || self.http.get(url)).await?;
        let body = read_capped(what, resp, MAX_FINDINGS_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| NightfallError::Protocol {
            what,
            detail: format!("findings are not the expected JSON: {e}"),
        })
    }

    /// Sends a request until it succeeds, is refused, or runs out of tries.
    /// `api` calls carry the key and count against the rate limit.
    async fn call(
        &self,
        what: &'static str,
        api: bool,
        request: impl Fn() -> RequestBuilder,
    ) -> Result<Response, NightfallError> {
        let mut tries = 0;
        loop {
            let mut req = request().timeout(self.timeout);
            if api {
                self.limiter.acquire().await;
                req = req
                    .bearer_auth(self.key.expose())
                    .header("Accept", "application/json");
            }
            let (detail, wait) = match self.retry.judge(req.send().await, tries) {
                Attempt::Success(resp) => return Ok(resp),
                Attempt::Throttled { wait, asked } => {
                    if let Some(asked) = asked {
                        self.limiter.hold_off(asked);
                    }
                    ("HTTP 429 Too Many Requests".to_string(), wait)
                }
                Attempt::ServerError { response, wait } => {
                    let status = response.status();
                    let error = read_error(response).await;
                    (format!("HTTP {status}, {error}"), wait)
                }
                Attempt::Refused(resp) => {
                    let status = resp.status().as_u16();
                    let error = read_error(resp).await;
                    return Err(if status == 404 && api {
                        NightfallError::Gone {
                            what,
                            id: String::new(),
                        }
                    } else {
                        NightfallError::Rejected {
                            what,
                            status,
                            error,
                        }
                    });
                }
                // Never the URL: a findings URL is itself a credential.
                Attempt::Transport { detail, wait } => (detail, wait),
            };
            tries += 1;
            if tries >= MAX_TRIES {
                return Err(NightfallError::Unavailable { what, detail });
            }
            tracing::debug!(
                what,
                tries,
                wait_ms = wait.as_millis() as u64,
                "{detail}; retrying"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// Fills in the upload id of a 404.
fn gone_as(e: NightfallError, id: &str) -> NightfallError {
    match e {
        NightfallError::Gone { what, .. } => NightfallError::Gone {
            what,
            id: id.to_string(),
        },
        other => other,
    }
}

/// The init response must describe this file with a usable chunk size and
/// an id that is safe inside a URL path.
fn check_upload(what: &'static str, init: &FileUpload, size: u64) -> Result<(), NightfallError> {
    let bad = |detail: String| Err(NightfallError::Protocol { what, detail });
    if init.id.is_empty()
        || !init
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return bad(format!("upload id {:?} is not a plain identifier", init.id));
    }
    if init.chunk_size == 0 || init.chunk_size > MAX_CHUNK {
        return bad(format!(
            "chunkSize {} is outside 1..={MAX_CHUNK}",
            init.chunk_size
        ));
    }
    if init.file_size_bytes != size {
        return bad(format!(
            "fileSizeBytes {} is not the {size} bytes asked for",
            init.file_size_bytes
        ));
    }
    Ok(())
}

/// Reads exactly `n` bytes, or `None` if the file ends first.
fn read_chunk(file: &mut File, n: usize) -> std::io::Result<Option<Bytes>> {
    let mut buf = vec![0u8; n];
    match file.read_exact(&mut buf) {
        Ok(()) => Ok(Some(Bytes::from(buf))),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a refusal at finish means the file's type is not scanned.
fn unsupported(status: u16, error: &ApiError) -> bool {
    let text = format!("{} {}", error.message, error.description).to_ascii_lowercase();
    status == 415
        || text.contains("unsupported")
        || text.contains("mime")
        || text.contains("media type")
}

/// Nightfall's JSON error, or what can be said of a response without one.
async fn read_error(resp: Response) -> ApiError {
    let status = resp.status();
    let body = read_capped("reading an error", resp, MAX_RESPONSE)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<ApiError>(&body)
        .ok()
        .filter(|e| e.code != 0 || !e.message.is_empty())
        .unwrap_or_else(|| ApiError {
            code: 0,
            message: status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_string(),
            description: String::new(),
        })
}

async fn read_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    resp: Response,
) -> Result<T, NightfallError> {
    let body = read_capped(what, resp, MAX_RESPONSE).await?;
    serde_json::from_slice(&body).map_err(|e| NightfallError::Protocol {
        what,
        detail: e.to_string(),
    })
}

/// Reads a body, refusing one over `cap` bytes.
async fn read_capped(
    what: &'static str,
    resp: Response,
    cap: usize,
) -> Result<Vec<u8>, NightfallError> {
    crate::httpclient::read_capped(resp, cap)
        .await
        .map_err(|e| match e {
            crate::httpclient::BodyError::TooLarge(_) => NightfallError::Protocol {
                what,
                detail: e.to_string(),
            },
            crate::httpclient::BodyError::Transport(_) => NightfallError::Unavailable {
                what,
                detail: e.to_string(),
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_types_are_recognised_at_finish() {
        let e = |m: &str| ApiError {
            code: 40000,
            message: m.into(),
            description: String::new(),
        };
        assert!(unsupported(400, &e("Unsupported MIME type audio/midi")));
        assert!(unsupported(415, &e("")));
        assert!(!unsupported(409, &e("File Upload in Incorrect State")));
    }

    #[test]
    fn a_strange_upload_id_or_chunk_size_is_refused() {
        let init = |id: &str, chunk| FileUpload {
            id: id.into(),
            file_size_bytes: 10,
            chunk_size: chunk,
            mime_type: None,
        };
        assert!(check_upload("t", &init("430d42aa-1e1f", 5), 10).is_ok());
        assert!(check_upload("t", &init("../admin", 5), 10).is_err());
        assert!(check_upload("t", &init("a", 0), 10).is_err());
        assert!(check_upload("t", &init("a", 1 << 40), 10).is_err());
        assert!(check_upload("t", &init("a", 5), 11).is_err());
    }
}
