//! The config in force and what is built from it, shared by every thread
//! and swapped whole on SIGHUP. A worker takes one snapshot per job, so a
//! file is always scanned under one config, never half of two.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::config::Config;
use crate::engine::{LocalEngine, Policy};

/// One config and its derived parts.
pub(crate) struct Snapshot {
    pub config: Config,
    /// Which findings are kept, for results that come back from Nightfall.
    pub policy: Policy,
    /// The local engine; `None` when Nightfall scans.
    pub local: Option<LocalEngine>,
}

/// What every thread holds: the current snapshot.
pub(crate) type Shared = Arc<ArcSwap<Snapshot>>;

impl Snapshot {
    /// Builds the parts of `config`; `local` when the local engine runs
    /// (the engine is chosen at start and kept until a restart).
    pub fn new(config: Config, local: bool) -> Snapshot {
        Snapshot {
            policy: Policy::new(&config.scanner),
            local: local.then(|| LocalEngine::new(&config.scanner)),
            config,
        }
    }

    pub fn shared(self) -> Shared {
        Arc::new(ArcSwap::from_pointee(self))
    }
}
