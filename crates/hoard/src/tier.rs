//! The remote tier (feature `remote`): a cache whose local store sits in front of a Redis,
//! memcached or S3 remote (hoard-remote's [`TieredStore`] on a [`ShardedStore`]: one
//! [`RemoteStore`] per server, usually one).
//!
//! The facade stays synchronous; hoard-remote owns the async runtime it needs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard_core::read::Decoders;
use hoard_core::{Housekeeping, Result, Store};
use hoard_evict::{CounterSource, Janitor, SharedStats, WorkerConfig};
use hoard_remote::{
    Clock, RemoteAccess, RemoteConfig, RemoteStats, RemoteStore, ShardedStore, TierStats,
    TieredStore, WritePolicy,
};

use crate::cache::{Cache, CacheBuilder};

/// What the remote tier of a cache is: where (a [`RemoteConfig`], and any more servers of
/// the same backend to spread the keys over), when puts reach it (a [`WritePolicy`]) and
/// whether it may be changed at all (a [`RemoteAccess`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteSettings {
    /// The remote service and its timeouts.
    pub config: RemoteConfig,
    /// More servers of the same backend (default none): with them, each key lives on one
    /// of `config`'s server and these, chosen by rendezvous hashing of its digest (see
    /// [`ShardedStore`]), each server with its own circuit breaker.
    pub more_servers: Vec<RemoteConfig>,
    /// When puts are written to the remote (default write-through).
    pub policy: WritePolicy,
    /// Whether the remote may be written (default read-write).
    pub access: RemoteAccess,
    /// The fleet-wide lease of a key being computed, and for how long it is taken (`None`,
    /// the default: no lease). See [`lease`](Self::lease).
    pub lease: Option<Duration>,
}

/// The default time a lease is taken for ([`RemoteSettings::lease`], `lease-ttl` in
/// `[cache.remote]`): 30 s. It must outlive a typical computation (a lease that expires
/// mid-computation lets a second machine compute the key too); a holder that crashes keeps
/// the key leased until it expires, but each waiter waits at most the single-flight bound
/// (10 s by default) before computing anyway.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

impl RemoteSettings {
    /// Write-through, read-write settings for `config`.
    pub fn new(config: RemoteConfig) -> Self {
        Self {
            config,
            more_servers: Vec::new(),
            policy: WritePolicy::Through,
            access: RemoteAccess::ReadWrite,
            lease: None,
        }
    }

    /// Takes a lease on the remote before computing a missed key, for `ttl` at most
    /// ([`DEFAULT_LEASE_TTL`] is a good start), so that a fleet sharing the remote computes
    /// each key once: the process that takes it computes, stores and releases it; the others
    /// wait for its value (at most [`CacheBuilder::single_flight_wait`], then compute
    /// anyway). Offered by Redis and S3 remotes that the tier writes to (read-write, not
    /// local-only); elsewhere, and when the remote fails, the key is simply computed. Needs
    /// single-flight on (a cache directory and a non-zero wait). `None` turns it off.
    #[must_use]
    pub fn lease(mut self, ttl: Option<Duration>) -> Self {
        self.lease = ttl.filter(|t| !t.is_zero());
        self
    }

    /// Spreads the keys over `more` servers besides `config`'s (see
    /// [`more_servers`](Self::more_servers)); they must be of the same backend, which
    /// opening the cache checks.
    #[must_use]
    pub fn more_servers(mut self, more: Vec<RemoteConfig>) -> Self {
        self.more_servers = more;
        self
    }

    /// Every server: `config`'s, then [`more_servers`](Self::more_servers).
    pub fn servers(&self) -> Vec<RemoteConfig> {
        std::iter::once(self.config.clone())
            .chain(self.more_servers.iter().cloned())
            .collect()
    }

    /// Sets the write policy.
    #[must_use]
    pub fn policy(mut self, policy: WritePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Sets the access (read-only for consumers that must not publish).
    #[must_use]
    pub fn access(mut self, access: RemoteAccess) -> Self {
        self.access = access;
        self
    }

    /// Opens the remote (its breaker on `clock`, if given, and shared through `keeper`'s
    /// state, the cache directory's, when there is one) and puts `local` in front of it,
    /// backfilling only frames `decoders` (the cache's) can decode.
    pub(crate) fn open(
        self,
        local: Arc<dyn Store>,
        keeper: Option<Arc<dyn Housekeeping>>,
        clock: Option<Arc<dyn Clock>>,
        decoders: Decoders,
        max_entry_size: u64,
    ) -> Result<Tier> {
        let lease = self.lease;
        let mut remote = ShardedStore::open(self.servers())?;
        if let Some(clock) = clock {
            remote = remote.with_clock(clock);
        }
        if let Some(keeper) = keeper {
            remote = remote.with_shared_breaker(keeper);
        }
        let remote = Arc::new(remote);
        let tier = Arc::new(
            TieredStore::new(
                local,
                Arc::clone(&remote) as Arc<dyn Store>,
                self.policy,
                self.access,
            )?
            .with_decoders(decoders)
            .with_max_entry_size(max_entry_size),
        );
        Ok(Tier {
            store: Arc::clone(&tier) as Arc<dyn Store>,
            tier,
            remote,
            own_janitor: None,
            lease,
        })
    }
}

/// The open remote tier of a cache.
#[derive(Debug)]
pub(crate) struct Tier {
    /// The tier as the cache's store.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tier: Arc<TieredStore>,
    pub(crate) remote: Arc<ShardedStore>,
    /// Merges the tier's counters when the cache runs no eviction worker (whose janitor
    /// does it otherwise): on [`RemoteTier::sync`] and when the cache is dropped.
    own_janitor: Option<Janitor>,
    /// The lease's TTL, when the cache takes leases.
    pub(crate) lease: Option<Duration>,
}

impl Tier {
    /// The lease the cache's single-flight takes on the remote, if the settings ask for
    /// one: keys of `namespace`, read at most to the frame of a `max_entry_size` value.
    pub(crate) fn fleet_lease(
        &self,
        namespace: &hoard_core::Namespace,
        max_entry_size: u64,
    ) -> Option<crate::flight::FleetLease> {
        self.lease.map(|ttl| crate::flight::FleetLease {
            store: Arc::clone(&self.store),
            namespace: namespace.clone(),
            limit: hoard_core::frame::max_frame_len(max_entry_size),
            ttl,
        })
    }

    /// The tier's counters, as a source of named lifetime counters (`tier.<field>` and
    /// `remote.<field>`) for the janitor that keeps the cache directory's counters.
    pub(crate) fn counter_source(&self) -> Arc<dyn CounterSource> {
        Arc::new(TierCounterSource {
            tier: Arc::clone(&self.tier),
            remote: Arc::clone(&self.remote),
        })
    }

    /// Keeps the lifetime counters with a janitor of the tier's own, for a cache with a
    /// local store to keep them in but no eviction worker.
    pub(crate) fn keep_counters_in(&mut self, keeper: Arc<dyn Housekeeping>) {
        let janitor = Janitor::new(keeper, WorkerConfig::default())
            .with_counter_source(self.counter_source());
        self.own_janitor = Some(janitor);
    }

    /// Writes queued write-backs, then (without a worker) merges the counters one last
    /// time. Called before the worker stops, so that its last merge counts the write-backs.
    pub(crate) fn close(&self) {
        self.tier.flush();
        if let Some(janitor) = &self.own_janitor
            && let Err(e) = janitor.merge_stats()
        {
            tracing::debug!(error = %e, "cannot add to the lifetime remote counters");
        }
    }
}

/// Every counter of the tier and the remote, named `tier.<field>` and `remote.<field>`.
#[derive(Debug)]
struct TierCounterSource {
    tier: Arc<TieredStore>,
    remote: Arc<ShardedStore>,
}

impl CounterSource for TierCounterSource {
    fn counters(&self) -> Vec<(String, u64)> {
        let tier = self.tier.stats().fields().into_iter();
        let remote = self.remote.stats().fields().into_iter();
        let [tier_prefix, remote_prefix] = REMOTE_PREFIXES;
        tier.map(|(name, value)| (format!("{tier_prefix}{name}"), value))
            .chain(remote.map(|(name, value)| (format!("{remote_prefix}{name}"), value)))
            .collect()
    }
}

/// The remote tier of a [`Cache`], as [`Cache::remote`] shows it.
#[derive(Clone, Copy, Debug)]
pub struct RemoteTier<'a> {
    tier: &'a TieredStore,
    remote: &'a ShardedStore,
    /// The janitor that keeps the lifetime counters: the worker's, or the tier's own.
    janitor: Option<&'a Janitor>,
}

impl RemoteTier<'_> {
    /// The remote's configuration (its URL holds no credentials); with several servers,
    /// the first one's (see [`servers`](Self::servers)).
    pub fn config(&self) -> &RemoteConfig {
        self.remote.config()
    }

    /// Each server of the remote (one unless the settings list more), in the order given:
    /// its configuration, counters and breaker through [`RemoteStore`]'s methods.
    pub fn servers(&self) -> &[RemoteStore] {
        self.remote.shards()
    }

    /// The tier's counters: local and remote hits, backfills, rejected remote values,
    /// remote writes and write-back drops.
    pub fn tier_stats(&self) -> TierStats {
        self.tier.stats()
    }

    /// The remote store's counters: hits, misses, failures, timeouts, bypassed operations,
    /// breaker trips, skipped large frames, bytes (summed over the servers; each server's
    /// through [`servers`](Self::servers)).
    pub fn remote_stats(&self) -> RemoteStats {
        self.remote.stats()
    }

    /// The write policy.
    pub fn policy(&self) -> WritePolicy {
        self.tier.policy()
    }

    /// Whether the remote may be changed.
    pub fn access(&self) -> RemoteAccess {
        self.tier.access()
    }

    /// Whether the circuit breaker currently bypasses the remote (with several servers:
    /// every one of them).
    pub fn is_bypassed(&self) -> bool {
        self.remote.is_bypassed()
    }

    /// Checks that the remote answers and returns how long it took (counted like any
    /// operation; a failure trips the breaker). With several servers each is checked: the
    /// slowest answer, or the first failure.
    pub fn ping(&self) -> Result<std::time::Duration> {
        self.remote.ping()
    }

    /// Waits until every write-back frame queued so far has been written (or failed).
    pub fn flush(&self) {
        self.tier.flush();
    }

    /// Adds what this process counted since the last merge to the lifetime counters in the
    /// cache directory (the eviction worker also does it about once a minute, and both do
    /// when the cache is dropped). A cache on a store given with
    /// [`CacheBuilder::with_store`] keeps none: `Ok(false)`. Waits at most
    /// [`MERGE_LOCK_WAIT`](hoard_evict::MERGE_LOCK_WAIT) for another process's merge: a
    /// lock held longer is an [`ErrorKind::Busy`](crate::ErrorKind::Busy) error, and the
    /// counts wait for the next merge.
    pub fn sync(&self) -> Result<bool> {
        match self.janitor {
            Some(janitor) => janitor.merge_stats().map(|()| true),
            None => Ok(false),
        }
    }
}

/// The remote counters of every process that used a cache directory, summed, as
/// [`remote_lifetime_stats`] reads them (`hoard stats` shows them). They are the named
/// lifetime counters of the directory's [`SharedStats`] whose names start with `tier.` or
/// `remote.`, kept by the eviction worker's counters state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteLifetime {
    /// When they were created or last zeroed.
    pub since: SystemTime,
    /// When a process last added to them.
    pub updated: SystemTime,
    /// Each counter by name: `tier.<field>` of [`TierStats`], `remote.<field>` of
    /// [`RemoteStats`].
    pub counters: BTreeMap<String, u64>,
}

/// The name prefixes of the remote tier's named lifetime counters (see
/// [`TierCounterSource`]).
const REMOTE_PREFIXES: [&str; 2] = ["tier.", "remote."];

/// Whether a named lifetime counter is one of the remote tier's.
fn is_remote_counter(name: &str) -> bool {
    REMOTE_PREFIXES.iter().any(|p| name.starts_with(p))
}

impl RemoteLifetime {
    /// The remote part of the lifetime counters; `None` when no process with a remote
    /// tier has added to them.
    pub fn of(stats: &SharedStats) -> Option<Self> {
        let counters: BTreeMap<String, u64> = stats
            .named
            .iter()
            .filter(|(k, _)| is_remote_counter(k))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        (!counters.is_empty()).then_some(Self {
            since: stats.since,
            updated: stats.updated,
            counters,
        })
    }
}

/// The lifetime remote counters kept in the cache directory `keeper` manages (a
/// [`FsStore`](crate::FsStore)), or `None` when no process with a remote tier has used it
/// (and nobody zeroed them).
pub fn remote_lifetime_stats(keeper: &dyn Housekeeping) -> Result<Option<RemoteLifetime>> {
    let Some(stats) = hoard_evict::read_shared_stats(keeper)? else {
        return Ok(None);
    };
    let Some(named) = hoard_evict::read_named_counters(keeper)? else {
        return Ok(None);
    };
    Ok(Some(RemoteLifetime {
        since: stats.since,
        updated: stats.updated,
        counters: named
            .into_iter()
            .filter(|(k, _)| is_remote_counter(k))
            .collect(),
    }))
}

/// Zeroes the lifetime remote counters (and only those) and returns what they were.
/// [`Janitor::zero_stats`] zeroes every lifetime counter, the remote ones included. Waits
/// at most [`OPERATION_LOCK_WAIT`](hoard_evict::OPERATION_LOCK_WAIT) for another process's
/// merge: a lock held longer is an [`ErrorKind::Busy`](crate::ErrorKind::Busy) error.
pub fn zero_remote_stats(keeper: &dyn Housekeeping) -> Result<Option<RemoteLifetime>> {
    let before = hoard_evict::read_shared_stats(keeper)?;
    let zeroed = hoard_evict::zero_named_counters(keeper, &REMOTE_PREFIXES, true)?;
    Ok(before.and_then(|b| {
        (!zeroed.is_empty()).then_some(RemoteLifetime {
            since: b.since,
            updated: b.updated,
            counters: zeroed,
        })
    }))
}

impl CacheBuilder {
    /// Puts a remote tier behind the cache's store (feature `remote`): gets that miss
    /// locally try the remote and copy its hits into the local store; puts reach the remote
    /// by `settings.policy`. Every remote failure is a miss or a counted failure, never an
    /// error to the caller.
    #[must_use]
    pub fn remote(mut self, settings: RemoteSettings) -> Self {
        self.remote = Some(settings);
        self
    }

    /// The clock the remote's circuit breaker reads (default: the system's monotonic
    /// clock; feature `remote`). For tests and simulations, with
    /// [`ManualClock`](hoard_remote::ManualClock): cool-downs then pass when the clock is
    /// advanced. Operation timeouts stay real time.
    #[must_use]
    pub fn remote_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.remote_clock = Some(clock);
        self
    }
}

impl Cache {
    /// The remote tier, if the cache has one (feature `remote`).
    pub fn remote(&self) -> Option<RemoteTier<'_>> {
        self.remote_tier().map(|t| RemoteTier {
            tier: &t.tier,
            remote: &t.remote,
            janitor: t
                .own_janitor
                .as_ref()
                .or_else(|| self.worker().map(|w| w.janitor())),
        })
    }
}
