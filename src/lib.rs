//! dlpd: an endpoint data-loss-prevention daemon.
//!
//! The data's path through the crate: [`config`] → [`scan`] (walk and
//! parallel workers) → [`engine`] (the local detectors) → [`store`]
//! (SQLite and CSV), with [`report`] rendering findings for people and tools.

pub mod cli;
pub mod config;
pub mod engine;
pub mod fsutil;
pub mod logging;
pub mod mask;
pub mod report;
pub mod scan;
pub mod store;
pub mod watch;
