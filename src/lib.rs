//! dlpd: an endpoint data-loss-prevention daemon.
//!
//! The data's path through the crate (docs/architecture.md draws it):
//! [`config`] is read once into a checked value; [`watch`] turns inotify
//! events into settled files; the [`daemon`]'s keeper queues them in the
//! [`store`] and hands them to workers; the [`engine`] turns each file into
//! text streams (its format stage) and findings (its detection stage), or
//! Nightfall scans it and its result comes back to the listener; the keeper
//! records the findings in SQLite and the CSV, and [`remediation`] decides
//! on quarantine and alerts. [`scan`] is the one-shot path for `dlpd scan`.
//! The words all of them share are in [`finding`].
//!
//! Modules are public where the tests, the benches or the binary use them;
//! the rest are the crate's own.

pub mod activity;
pub(crate) mod alerts;
pub(crate) mod backoff;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub(crate) mod dirfd;
pub(crate) mod doctor;
pub mod engine;
pub mod events;
pub(crate) mod export;
pub mod exposure;
pub mod finding;
pub mod fleet;
pub mod fsutil;
pub(crate) mod heap;
pub(crate) mod http;
pub(crate) mod httpclient;
pub(crate) mod listener;
pub mod liveness;
pub(crate) mod logging;
pub(crate) mod mask;
pub mod nightfall;
pub mod pack;
pub mod pathmatch;
pub(crate) mod pool;
pub mod quarantine;
pub(crate) mod rate;
pub(crate) mod readiness;
pub mod remediation;
pub(crate) mod report;
pub mod rules;
pub mod scan;
pub mod secret;
pub(crate) mod service;
pub mod shutdown;
pub mod store;
pub(crate) mod textscan;
pub(crate) mod walk;
pub mod watch;
