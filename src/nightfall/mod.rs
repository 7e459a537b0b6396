//! The Nightfall engine: files go to Nightfall's file-scan API and their
//! results come back, signed, to a webhook inside the daemon.
//!
//! [`client`] uploads and starts scans, [`webhook`] receives results,
//! [`signature`] checks them, and [`wire`] holds the protocol's JSON;
//! [`crate::rate`] keeps within the account's request rate. The daemon ties an
//! upload to its queue job in the store before the scan is requested, so
//! every result finds its file, and stores it through the same store as a
//! local scan.

pub mod client;
pub mod results;
pub mod signature;
pub mod webhook;
pub mod wire;

pub use client::{Client, NightfallError, Uploaded};
pub use results::{Decision, Results};

use crate::config::Config;
use crate::secret::{self, Secret, SecretError};

/// The secrets the Nightfall engine needs, read once at start.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub api_key: Secret,
    pub signing_secret: Secret,
}

/// Why the Nightfall engine cannot start; each names the key to fix.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(
        "nightfall.webhook_url is not set: Nightfall needs a public URL that reaches [webhook] listen \
         (see docs/nightfall.md)"
    )]
    NoWebhookUrl,
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

impl Secrets {
    /// Reads both secrets as `[nightfall]` says, and checks the keys the
    /// engine cannot run without.
    pub fn load(config: &Config) -> Result<Secrets, SetupError> {
        let nf = &config.nightfall;
        if nf.webhook_url.is_empty() && nf.policy_uuid.is_empty() {
            return Err(SetupError::NoWebhookUrl);
        }
        Ok(Secrets {
            api_key: secret::load(
                "Nightfall API key",
                &nf.api_key_env,
                nf.api_key_file.as_deref(),
                "nightfall.api_key_file",
            )?,
            signing_secret: secret::load(
                "Nightfall webhook signing secret",
                &nf.signing_secret_env,
                nf.signing_secret_file.as_deref(),
                "nightfall.signing_secret_file",
            )?,
        })
    }
}

/// What the Nightfall side asks of the daemon's keeper thread, which owns
/// the store. Replies go back on the channel each message carries.
#[derive(Debug)]
pub enum Message {
    /// A file is uploaded and its scan is about to be requested: tie the
    /// upload to its job first. Replies once it is stored.
    Register {
        job: crate::store::JobId,
        upload: crate::store::Upload,
        reply: crossbeam_channel::Sender<Result<(), RegisterError>>,
    },
    /// A verified result notification arrived.
    Notified {
        note: wire::Notification,
        reply: tokio::sync::oneshot::Sender<Verdict>,
    },
    /// The findings of a notified upload were fetched (or could not be).
    Fetched {
        upload_id: String,
        result: Result<Vec<crate::finding::Finding>, NightfallError>,
    },
    /// `GET /healthz` wants the queue's depth and what is wrong;
    /// `GET /metrics` (`metrics`) the counters rendered too.
    Health {
        metrics: bool,
        reply: tokio::sync::oneshot::Sender<Health>,
    },
    /// The dashboard asks for a quarantine or a restore; the reply says
    /// what was done, or why not.
    Act {
        act: crate::quarantine::Act,
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    },
}

/// Asks the keeper for its health (and the counters rendered, with
/// `metrics`); none when it does not answer within
/// [`crate::http::REPLY_TIMEOUT`].
pub async fn ask_health(
    keeper: &crossbeam_channel::Sender<Message>,
    metrics: bool,
) -> Option<Health> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let _ = keeper.send(Message::Health { metrics, reply: tx });
    tokio::time::timeout(crate::http::REPLY_TIMEOUT, rx)
        .await
        .ok()?
        .ok()
}

/// What `GET /healthz` reports.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub queue: crate::store::QueueCounts,
    /// Why the daemon is not fully working (a stuck thread, a store that
    /// refuses writes); empty when healthy.
    pub problems: Vec<String>,
    /// Directories not watched, and why (healthy, but worth knowing).
    pub unwatched: Option<String>,
    /// The daemon's counters in the Prometheus text format.
    pub metrics: String,
    /// The roots watched now.
    pub roots: Vec<std::path::PathBuf>,
    /// From a file's event to its findings stored: the mean and the
    /// upper bound of the bucket holding the 95th percentile, in seconds.
    pub lag: Option<(f64, f64)>,
    /// With the fleet or the events file: events waiting to be shipped,
    /// and those a full outbox dropped.
    pub events: Option<(u64, u64)>,
}

/// The store could not record an upload, so its scan is not requested.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the upload: {0}")]
pub struct RegisterError(pub String);

/// What the keeper made of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No job awaits this upload: a stray, or a result already stored.
    Unknown,
    /// Its findings are being fetched already (a repeated delivery).
    Duplicate,
    /// Stored (no findings) or failed (Nightfall reported errors).
    Settled,
    /// Findings are present: fetch them and send [`Message::Fetched`].
    Fetch,
}
