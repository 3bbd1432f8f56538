//! [`EvictStats`]: the counters a worker (and the `hoard` command) reports.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the maintenance counters of one [`Janitor`](crate::Janitor) or
/// [`Worker`](crate::Worker) in this process, plus the cache's size as last measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictStats {
    /// Entries in the whole cache (every namespace) when last measured by a cleanup or a
    /// survey.
    pub entries: u64,
    /// Bytes of those entries.
    pub bytes: u64,
    /// Hits reported to the worker.
    pub hits: u64,
    /// Misses reported to the worker.
    pub misses: u64,
    /// Inserts reported to the worker.
    pub inserts: u64,
    /// Entries evicted (by cleanups and the explicit eviction operations).
    pub evictions: u64,
    /// Entries recompressed.
    pub recompressions: u64,
    /// Entries found failing verification (by the worker, or reported to it) and removed.
    pub corrupt: u64,
    /// Hit events dropped because the event table was full (see
    /// [`WorkerConfig::event_capacity`](crate::WorkerConfig::event_capacity)).
    pub dropped_events: u64,
    /// Cleanups run (scheduled and explicit).
    pub cleanups: u64,
    /// Stale temp files swept.
    pub temps_swept: u64,
    /// Maintenance operations that failed (I/O errors); each is logged with `tracing`.
    pub errors: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) recompressions: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) cleanups: AtomicU64,
    pub(crate) temps_swept: AtomicU64,
    pub(crate) errors: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(counter: &AtomicU64, n: u64) {
        counter.store(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self, hits: u64, dropped: u64) -> EvictStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EvictStats {
            entries: get(&self.entries),
            bytes: get(&self.bytes),
            hits,
            misses: get(&self.misses),
            inserts: get(&self.inserts),
            evictions: get(&self.evictions),
            recompressions: get(&self.recompressions),
            corrupt: get(&self.corrupt),
            dropped_events: dropped,
            cleanups: get(&self.cleanups),
            temps_swept: get(&self.temps_swept),
            errors: get(&self.errors),
        }
    }
}
