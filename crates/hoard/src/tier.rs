//! The remote tier (feature `remote`): a cache whose local store sits in front of a Redis,
//! memcached or S3 remote (hoard-remote's [`TieredStore`] on a [`RemoteStore`]).
//!
//! The facade stays synchronous; hoard-remote owns the async runtime it needs.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{Error, ErrorKind, Housekeeping, LockTarget, Result, StateName, Store};
use hoard_remote::{
    Clock, RemoteAccess, RemoteConfig, RemoteStats, RemoteStore, TierStats, TieredStore,
    WritePolicy,
};

use crate::cache::{Cache, CacheBuilder};

/// What the remote tier of a cache is: where (a [`RemoteConfig`]), when puts reach it (a
/// [`WritePolicy`]) and whether it may be changed at all (a [`RemoteAccess`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemoteSettings {
    /// The remote service and its timeouts.
    pub config: RemoteConfig,
    /// When puts are written to the remote (default write-through).
    pub policy: WritePolicy,
    /// Whether the remote may be written (default read-write).
    pub access: RemoteAccess,
}

impl RemoteSettings {
    /// Write-through, read-write settings for `config`.
    pub fn new(config: RemoteConfig) -> Self {
        Self {
            config,
            policy: WritePolicy::Through,
            access: RemoteAccess::ReadWrite,
        }
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

    /// Opens the remote (its breaker on `clock`, if given) and puts `local` in front of it;
    /// `keeper`, the local store's maintenance view, keeps the lifetime counters.
    pub(crate) fn open(
        self,
        local: Arc<dyn Store>,
        keeper: Option<Arc<dyn Housekeeping>>,
        clock: Option<Arc<dyn Clock>>,
    ) -> Result<Tier> {
        let mut remote = RemoteStore::open(self.config)?;
        if let Some(clock) = clock {
            remote = remote.with_clock(clock);
        }
        let remote = Arc::new(remote);
        let tier = Arc::new(TieredStore::new(
            local,
            Arc::clone(&remote) as Arc<dyn Store>,
            self.policy,
            self.access,
        )?);
        let ledger = keeper.map(|keeper| {
            Ledger::start(Arc::new(LedgerState {
                keeper,
                tier: Arc::clone(&tier),
                remote: Arc::clone(&remote),
                merged: Mutex::new(BTreeMap::new()),
            }))
        });
        Ok(Tier {
            store: Arc::clone(&tier) as Arc<dyn Store>,
            tier,
            remote,
            ledger,
        })
    }
}

/// The open remote tier of a cache.
#[derive(Debug)]
pub(crate) struct Tier {
    /// The tier as the cache's store.
    pub(crate) store: Arc<dyn Store>,
    pub(crate) tier: Arc<TieredStore>,
    pub(crate) remote: Arc<RemoteStore>,
    ledger: Option<Ledger>,
}

impl Drop for Tier {
    fn drop(&mut self) {
        // Queued write-backs first, so that the ledger's last merge counts them.
        self.tier.flush();
    }
}

/// The remote tier of a [`Cache`], as [`Cache::remote`] shows it.
#[derive(Clone, Copy, Debug)]
pub struct RemoteTier<'a> {
    tier: &'a TieredStore,
    remote: &'a RemoteStore,
    ledger: Option<&'a Ledger>,
}

impl RemoteTier<'_> {
    /// The remote's configuration (its URL holds no credentials).
    pub fn config(&self) -> &RemoteConfig {
        self.remote.config()
    }

    /// The tier's counters: local and remote hits, backfills, rejected remote values,
    /// remote writes and write-back drops.
    pub fn tier_stats(&self) -> TierStats {
        self.tier.stats()
    }

    /// The remote store's counters: hits, misses, failures, timeouts, bypassed operations,
    /// breaker trips, skipped large frames, bytes.
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

    /// Whether the circuit breaker currently bypasses the remote.
    pub fn is_bypassed(&self) -> bool {
        self.remote.is_bypassed()
    }

    /// Checks that the remote answers and returns how long it took (counted like any
    /// operation; a failure trips the breaker).
    pub fn ping(&self) -> Result<std::time::Duration> {
        self.remote.ping()
    }

    /// Waits until every write-back frame queued so far has been written (or failed).
    pub fn flush(&self) {
        self.tier.flush();
    }

    /// Adds what this process counted since the last merge to the lifetime remote counters
    /// in the cache directory (also done every minute and when the cache is dropped). A
    /// cache on a store given with [`CacheBuilder::with_store`] keeps none: `Ok(false)`.
    pub fn sync(&self) -> Result<bool> {
        match self.ledger {
            Some(ledger) => ledger.state.merge().map(|()| true),
            None => Ok(false),
        }
    }
}

/// How often a running cache adds its remote counters to the lifetime ones.
const MERGE_PERIOD: Duration = Duration::from_secs(60);

/// The state file holding the lifetime remote counters.
fn ledger_name() -> StateName {
    StateName::new("remote-counters").expect("a valid state name")
}

/// The largest lifetime-counter file read back; anything larger is damage.
const LEDGER_MAX: u64 = 64 << 10;

/// The first line of the lifetime-counter file.
const LEDGER_HEADER: &str = "hoard remote counters v1";

/// Keeps the lifetime remote counters: a thread that merges every [`MERGE_PERIOD`] and
/// once more when the cache is dropped.
#[derive(Debug)]
struct Ledger {
    state: Arc<LedgerState>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct LedgerState {
    keeper: Arc<dyn Housekeeping>,
    tier: Arc<TieredStore>,
    remote: Arc<RemoteStore>,
    /// What the previous merge added, counter by counter.
    merged: Mutex<BTreeMap<String, u64>>,
}

impl Ledger {
    fn start(state: Arc<LedgerState>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let for_thread = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("hoard-remote-counters".to_owned())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(MERGE_PERIOD),
                        Err(RecvTimeoutError::Timeout)
                    );
                    if let Err(e) = for_thread.merge() {
                        tracing::debug!(error = %e, "cannot add to the lifetime remote counters");
                    }
                    if last {
                        break;
                    }
                }
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "remote counters are merged only when the cache is dropped");
                None
            }
        };
        Self {
            state,
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        drop(self.stop.take());
        match self.thread.take() {
            Some(thread) => {
                if thread.join().is_err() {
                    tracing::warn!("the remote counter thread panicked");
                }
            }
            None => {
                if let Err(e) = self.state.merge() {
                    tracing::debug!(error = %e, "cannot add to the lifetime remote counters");
                }
            }
        }
    }
}

/// Every counter of the tier and the remote, named `tier.<field>` and `remote.<field>`.
fn current(tier: &TieredStore, remote: &RemoteStore) -> BTreeMap<String, u64> {
    let mut all = BTreeMap::new();
    for (name, value) in tier.stats().fields() {
        all.insert(format!("tier.{name}"), value);
    }
    for (name, value) in remote.stats().fields() {
        all.insert(format!("remote.{name}"), value);
    }
    all
}

impl LedgerState {
    fn merge(&self) -> Result<()> {
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let now = current(&self.tier, &self.remote);
        let delta: BTreeMap<&str, u64> = now
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    v.saturating_sub(merged.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, d)| *d > 0)
            .collect();
        if delta.is_empty() {
            return Ok(());
        }
        let name = ledger_name();
        let _lock = self.keeper.lock(LockTarget::Named(&name), true)?;
        let mut lifetime = read_ledger(self.keeper.as_ref())?
            .unwrap_or_else(|| RemoteLifetime::empty(SystemTime::now()));
        for (k, d) in delta {
            *lifetime.counters.entry(k.to_owned()).or_insert(0) += d;
        }
        lifetime.updated = SystemTime::now();
        self.keeper
            .write_state(&name, lifetime.render().as_bytes())?;
        *merged = now;
        Ok(())
    }
}

/// The remote counters of every process that used a cache directory, summed, as
/// [`remote_lifetime_stats`] reads them (`hoard stats` shows them).
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

impl RemoteLifetime {
    fn empty(now: SystemTime) -> Self {
        Self {
            since: now,
            updated: now,
            counters: BTreeMap::new(),
        }
    }

    fn render(&self) -> String {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let mut out = format!(
            "{LEDGER_HEADER}\nsince {}\nupdated {}\n",
            ms(self.since),
            ms(self.updated)
        );
        for (k, v) in &self.counters {
            out.push_str(&format!("{k} {v}\n"));
        }
        out
    }

    /// Parses the file; `None` for anything but a well-formed one.
    fn parse(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.lines();
        if lines.next()? != LEDGER_HEADER {
            return None;
        }
        let time = |line: Option<&str>, label: &str| -> Option<SystemTime> {
            let ms: u64 = line?.strip_prefix(label)?.strip_prefix(' ')?.parse().ok()?;
            UNIX_EPOCH.checked_add(Duration::from_millis(ms))
        };
        let since = time(lines.next(), "since")?;
        let updated = time(lines.next(), "updated")?;
        let mut counters = BTreeMap::new();
        for line in lines {
            let (k, v) = line.split_once(' ')?;
            let ok = !k.is_empty()
                && k.len() <= 64
                && k.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.');
            if !ok {
                return None;
            }
            counters.insert(k.to_owned(), v.parse().ok()?);
        }
        Some(Self {
            since,
            updated,
            counters,
        })
    }
}

fn read_ledger(keeper: &dyn Housekeeping) -> Result<Option<RemoteLifetime>> {
    match keeper.read_state(&ledger_name(), LEDGER_MAX) {
        Ok(Some(bytes)) => {
            let parsed = RemoteLifetime::parse(&bytes);
            if parsed.is_none() {
                tracing::debug!("the lifetime remote counters are damaged; they restart from zero");
            }
            Ok(parsed)
        }
        Ok(None) => Ok(None),
        Err(e) if e.kind() == ErrorKind::TooLarge || e.kind() == ErrorKind::Corrupt => Ok(None),
        Err(e) => Err(e),
    }
}

/// The lifetime remote counters kept in the cache directory `keeper` manages (a
/// [`FsStore`](crate::FsStore)), or `None` when no process with a remote tier has used it.
pub fn remote_lifetime_stats(keeper: &dyn Housekeeping) -> Result<Option<RemoteLifetime>> {
    read_ledger(keeper)
}

/// Zeroes the lifetime remote counters and returns what they were.
pub fn zero_remote_stats(keeper: &dyn Housekeeping) -> Result<Option<RemoteLifetime>> {
    let name = ledger_name();
    let held = keeper.lock(LockTarget::Named(&name), true)?;
    if held.is_none() {
        return Err(Error::new(
            ErrorKind::Io,
            "the store did not grant the named lock \"remote-counters\"",
        ));
    }
    let before = read_ledger(keeper)?;
    keeper.write_state(
        &name,
        RemoteLifetime::empty(SystemTime::now()).render().as_bytes(),
    )?;
    Ok(before)
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
            ledger: t.ledger.as_ref(),
        })
    }
}
