//! [`Janitor`]: every maintenance operation, run synchronously on the caller's thread. The
//! [`Worker`](crate::Worker) runs the same operations in the background; the `hoard`
//! command calls them directly.
//!
//! The type, its construction and the helpers every operation shares live here; the
//! operations live in one module each, every one adding an `impl Janitor` block:
//! - `cleanup`: the accounting, scheduled and explicit cleanups to the limits (LRU), stale
//!   temp sweeping, and [`Janitor::survey`];
//! - `evict`: explicit evictions (by age, by namespace);
//! - `recompress`: recompression of one entry or many, and the shared use counts that pick
//!   the entries the worker recompresses;
//! - `counters`: this process's counters and the lifetime counters shared by every process;
//! - `adaptive`: the adaptive format's conversions (cold passes, hot entries).

mod adaptive;
mod cleanup;
mod counters;

pub use counters::{read_named_counters, read_shared_stats, zero_named_counters};
mod evict;
mod recompress;

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{
    Bucket, Codec, Decoders, Error, HeldLock, Housekeeping, Item, LockTarget, Namespace, Result,
};

use crate::clock::{Clock, SystemClock};
use crate::config::WorkerConfig;
use crate::lock::{self, OPERATION_LOCK_WAIT};
use crate::sidecar::{self, Accounting};
use crate::stats::{CounterSource, Counters, Lifetime};

pub use adaptive::AdaptReport;
pub use cleanup::{CleanupReport, Survey};
pub use evict::EvictReport;
pub use recompress::{RecompressReport, Recompressed, UsageUpdate};

/// The codecs the worker reads entries with and recompresses popular entries into.
#[derive(Clone, Default)]
pub struct Codecs {
    decoders: Decoders,
    optimized: Option<Arc<dyn Codec>>,
    adaptive: Option<AdaptiveCodecs>,
    /// The keys of an authenticated cache: rewritten frames are signed with the first, and
    /// entries not signed by one of them are never rewritten.
    mac_keys: Option<hoard_core::frame::MacKeys>,
}

/// The two formats of the adaptive format.
#[derive(Clone)]
struct AdaptiveCodecs {
    fast: Arc<dyn Codec>,
    cold: Arc<dyn Codec>,
}

impl fmt::Debug for Codecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codecs")
            .field("decoders", &self.decoders)
            .field(
                "optimized",
                &self.optimized.as_ref().map(|c| (c.id(), c.level())),
            )
            .field(
                "adaptive",
                &self
                    .adaptive
                    .as_ref()
                    .map(|a| ((a.fast.id(), a.fast.level()), (a.cold.id(), a.cold.level()))),
            )
            .field("mac_keys", &self.mac_keys)
            .finish()
    }
}

impl Codecs {
    /// No codecs: nothing can be recompressed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a codec entries may be stored with (the first one of an id wins).
    #[must_use]
    pub fn decoder(mut self, codec: Arc<dyn Codec>) -> Self {
        self.decoders.add(codec);
        self
    }

    /// Adds every codec of a registry (those whose id is not registered yet), and takes its
    /// MAC keys, if it has some (see [`mac_keys`](Self::mac_keys)).
    #[must_use]
    pub fn decoders(mut self, decoders: &Decoders) -> Self {
        self.decoders.extend(decoders);
        if let Some(keys) = decoders.options().mac_keys() {
            self.mac_keys = Some(keys.clone());
        }
        self
    }

    /// The MAC keys of an authenticated cache: recompression and the adaptive format's
    /// conversions rewrite only entries whose MAC verifies under one of them, and sign the
    /// frames they write with the first, so a signed entry never becomes an unsigned one. An
    /// entry they cannot vouch for is skipped (settled), left as it is.
    #[must_use]
    pub fn mac_keys(mut self, keys: hoard_core::frame::MacKeys) -> Self {
        self.mac_keys = Some(keys);
        self
    }

    /// The codec, at its optimized level, that entries used
    /// [`WorkerConfig::usage_threshold`] times are recompressed into. Only entries stored
    /// with the same codec at a lower level are recompressed; it is also a decoder.
    #[must_use]
    pub fn optimized(mut self, codec: Arc<dyn Codec>) -> Self {
        self = self.decoder(Arc::clone(&codec));
        self.optimized = Some(codec);
        self
    }

    /// The adaptive format's two codecs (see [`Adaptive`](crate::Adaptive)): `fast`, which
    /// puts write and hot entries are converted back to (LZ4 or identity), and `cold`, at
    /// its level, which idle entries are converted to (zstd at 19, say). Both are also
    /// decoders. The conversions run only with [`WorkerConfig::adaptive`] set.
    #[must_use]
    pub fn adaptive(mut self, fast: Arc<dyn Codec>, cold: Arc<dyn Codec>) -> Self {
        self = self.decoder(Arc::clone(&fast)).decoder(Arc::clone(&cold));
        self.adaptive = Some(AdaptiveCodecs { fast, cold });
        self
    }
}

/// Synchronous maintenance of one store.
pub struct Janitor {
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    codecs: Codecs,
    pub(crate) counters: Arc<Counters>,
    /// The lifetime counters already added to the shared totals: the next merge adds what
    /// was counted since. Held across a whole merge, so that the worker thread and an
    /// explicit operation on another thread never add the same counts twice.
    merged: Mutex<Merged>,
    /// Named counters added to the lifetime ones at every merge.
    sources: Vec<Arc<dyn CounterSource>>,
    /// Set when the worker stops: a pass of the adaptive format ends after the conversion
    /// in progress.
    pub(crate) cancelled: Arc<AtomicBool>,
    /// Stored bytes of the fast entries per namespace, as the last pass left them (plus the
    /// entries made hot since): what the hot conversions' budget is checked against.
    fast_bytes: Mutex<HashMap<Namespace, u64>>,
}

/// What this janitor has added to the shared lifetime counters so far.
#[derive(Debug, Default)]
pub(super) struct Merged {
    pub(crate) counts: Lifetime,
    pub(crate) named: BTreeMap<String, u64>,
}

impl fmt::Debug for Janitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Janitor")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("codecs", &self.codecs)
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

/// Milliseconds since the epoch, negative before it, saturating.
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Janitor {
    /// A janitor for `store` with `config`, the system clock and no codecs.
    pub fn new(store: Arc<dyn Housekeeping>, config: WorkerConfig) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            config,
            codecs: Codecs::new(),
            counters: Arc::new(Counters::default()),
            merged: Mutex::new(Merged::default()),
            sources: Vec::new(),
            cancelled: Arc::new(AtomicBool::new(false)),
            fast_bytes: Mutex::new(HashMap::new()),
        }
    }

    /// Adds the named counters of `source` to the lifetime counters at every merge (what
    /// each counter gained since the previous merge), so that another layer's counters (the
    /// facade's remote tier) are kept with the same lock, format and schedule as the
    /// janitor's own. See [`SharedStats::named`](crate::SharedStats::named).
    #[must_use]
    pub fn with_counter_source(mut self, source: Arc<dyn CounterSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Uses `clock` for every timing decision.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `codecs` to read and recompress entries.
    #[must_use]
    pub fn with_codecs(mut self, codecs: Codecs) -> Self {
        self.codecs = codecs;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Housekeeping> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The store's buckets, of one namespace or of all, in order.
    pub(super) fn buckets_of(&self, only: Option<&Namespace>) -> Result<Vec<Bucket>> {
        let mut buckets = Vec::new();
        self.store.buckets(&mut |info| {
            if only.is_none_or(|ns| info.bucket.namespace() == ns) {
                buckets.push(info.bucket);
            }
            ControlFlow::Continue(())
        })?;
        buckets.sort();
        Ok(buckets)
    }

    fn now_ms(&self) -> i64 {
        to_ms(self.clock.now())
    }

    /// An entry's last use for LRU (see the `cleanup` module docs): the later of its
    /// access and modification times, leaving out a time beyond the allowed drift;
    /// `i64::MIN` when no time is left.
    fn last_use_ms(&self, item: &Item, now_ms: i64) -> i64 {
        let limit = now_ms.saturating_add(dur_ms(self.config.allowed_clock_drift));
        [item.accessed, item.modified]
            .into_iter()
            .flatten()
            .map(to_ms)
            .filter(|&t| t <= limit)
            .max()
            .unwrap_or(i64::MIN)
    }

    /// Tries the cleanup lock once: `Ok(None)` if another process holds it (the worker's
    /// scheduled cleanups skip it).
    fn try_lock_cleanup(&self) -> Result<Option<HeldLock>> {
        self.store
            .lock(LockTarget::Named(&sidecar::cleanup_lock()), false)
    }

    /// The cleanup lock for an explicit operation: waits at most [`OPERATION_LOCK_WAIT`],
    /// then fails as busy.
    fn lock_cleanup_for_operation(&self) -> Result<HeldLock> {
        lock::lock_or_busy(
            self.store.as_ref(),
            LockTarget::Named(&sidecar::cleanup_lock()),
            OPERATION_LOCK_WAIT,
        )
    }

    fn load_accounting(&self) -> Accounting {
        self.load_sidecar(
            &sidecar::accounting_name(),
            "accounting state",
            Accounting::decode,
        )
        .unwrap_or_default()
    }

    /// A sidecar decoded with `decode`; `None` when it is absent, damaged or unreadable, all
    /// of which the worker rebuilds from the entries (a sidecar is never the only record).
    fn load_sidecar<T>(
        &self,
        name: &hoard_core::StateName,
        what: &str,
        decode: fn(&[u8]) -> Option<T>,
    ) -> Option<T> {
        match self.store.read_state(name, sidecar::READ_LIMIT) {
            Ok(Some(blob)) => decode(&blob),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the {what}; treating it as absent");
                None
            }
        }
    }

    fn save_accounting(&self, acct: &Accounting) {
        if let Err(e) = self
            .store
            .write_state(&sidecar::accounting_name(), &acct.encode())
        {
            self.error("cannot save the accounting state", &e);
        }
    }
    pub(crate) fn error(&self, what: &str, e: &Error) {
        Counters::add(&self.counters.errors, 1);
        tracing::warn!(error = %e, "{what}");
    }

    /// Removes `items` (each only if unchanged); returns how many and their bytes.
    fn remove_all(&self, bucket: &Bucket, items: &[Item]) -> (u64, u64) {
        let (mut n, mut bytes) = (0, 0);
        for item in items {
            match self.store.remove_item(bucket, item) {
                Ok(true) => {
                    n += 1;
                    bytes += item.stored_len;
                }
                Ok(false) => {}
                Err(e) => self.error("cannot evict a cache entry", &e),
            }
        }
        (n, bytes)
    }
}
