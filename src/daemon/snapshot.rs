//! The config in force and what is built from it, shared by every thread
//! and swapped whole on SIGHUP. A worker takes one snapshot per job, so a
//! file is always scanned under one config, never half of two.

use std::path::PathBuf;
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
    /// Where no symlink may be followed below (`watch.follow_symlinks`
    /// off): each root from its literal prefix, made absolute, and where
    /// removable media are mounted. Worked out once, not per file.
    pub link_free: Vec<PathBuf>,
}

/// What every thread holds: the current snapshot.
pub(crate) type Shared = Arc<ArcSwap<Snapshot>>;

impl Snapshot {
    /// Builds the parts of `config`; `local` when the local engine runs
    /// (the engine is chosen at start and kept until a restart).
    pub fn new(config: Config, local: bool) -> Snapshot {
        let link_free = config
            .watch
            .paths
            .iter()
            // A globbed root counts from its literal prefix: nothing the
            // glob matched (a user's folder) may be a link either.
            .map(|r| crate::watch::roots::literal_prefix(r))
            .map(|r| std::path::absolute(&r).unwrap_or(r))
            // A removable medium (`watch.removable`) counts from where
            // media are mounted.
            .chain(crate::exposure::REMOVABLE_PARENTS.map(PathBuf::from))
            .collect();
        Snapshot {
            policy: Policy::new(&config.scanner),
            local: local.then(|| LocalEngine::new(&config.scanner)),
            link_free,
            config,
        }
    }

    pub fn shared(self) -> Shared {
        Arc::new(ArcSwap::from_pointee(self))
    }
}
