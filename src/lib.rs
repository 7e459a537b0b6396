//! dlpd: an endpoint data-loss-prevention daemon.
//!
//! The data's path through the crate: [`config`] → [`watch`] (settled
//! files) → [`daemon`] (the persistent queue and workers) → [`engine`] (the
//! local detectors) → [`store`] (SQLite and CSV). [`scan`] is the one-shot
//! path for `dlpd scan`; [`report`] renders findings for people and tools.

pub mod alerts;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod finding;
pub mod fsutil;
pub mod http;
pub mod httpclient;
pub mod listener;
pub mod logging;
pub mod mask;
pub mod nightfall;
pub mod quarantine;
pub mod rate;
pub mod readiness;
pub mod remediation;
pub mod report;
pub mod rules;
pub mod scan;
pub mod secret;
pub mod service;
pub mod shutdown;
pub mod store;
pub mod textscan;
pub mod watch;
