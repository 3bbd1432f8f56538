//! [`EvictStats`]: the counters a worker (and the `hoard` command) reports; [`SharedStats`]:
//! the same lifetime counters summed over every process that used a store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

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

/// The lifetime counters of a store: what every process that used it counted (each
/// [`EvictStats`] counter except the size gauges), summed, since `since`.
///
/// Each worker adds what it counted since its previous merge about once per
/// [`WorkerConfig::usage_merge_period`](crate::WorkerConfig::usage_merge_period), on
/// [`Worker::sync`](crate::Worker::sync) and when it stops; the explicit operations of a
/// [`Janitor`](crate::Janitor) add theirs when they end. Read with
/// [`Janitor::shared_stats`](crate::Janitor::shared_stats), zeroed with
/// [`Janitor::zero_stats`](crate::Janitor::zero_stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStats {
    /// When the counters were created or last zeroed (the clock of the process that did it).
    pub since: SystemTime,
    /// When a process last added to them.
    pub updated: SystemTime,
    /// Hits.
    pub hits: u64,
    /// Misses.
    pub misses: u64,
    /// Inserts.
    pub inserts: u64,
    /// Entries evicted.
    pub evictions: u64,
    /// Entries recompressed.
    pub recompressions: u64,
    /// Entries found failing verification and removed.
    pub corrupt: u64,
    /// Hit events dropped because an event table was full.
    pub dropped_events: u64,
    /// Cleanups run.
    pub cleanups: u64,
    /// Stale temp files swept.
    pub temps_swept: u64,
    /// Maintenance operations that failed.
    pub errors: u64,
}

/// How many lifetime counters there are: the persisted order is [`Lifetime`]'s.
pub(crate) const LIFETIME_COUNTERS: usize = 10;

/// The lifetime counters as one array, in the order the `counters` sidecar stores them:
/// hits, misses, inserts, evictions, recompressions, corrupt, dropped events, cleanups,
/// temps swept, errors. New counters are only ever appended.
pub(crate) type Lifetime = [u64; LIFETIME_COUNTERS];

impl SharedStats {
    pub(crate) fn new(since: SystemTime, updated: SystemTime, c: &Lifetime) -> Self {
        let [
            hits,
            misses,
            inserts,
            evictions,
            recompressions,
            corrupt,
            dropped_events,
            cleanups,
            temps_swept,
            errors,
        ] = *c;
        Self {
            since,
            updated,
            hits,
            misses,
            inserts,
            evictions,
            recompressions,
            corrupt,
            dropped_events,
            cleanups,
            temps_swept,
            errors,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    /// Bumped by the hit table on the hit path (a relaxed `fetch_add`, nothing more).
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) recompressions: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    /// Bumped by the hit table when it has no room for an event.
    pub(crate) dropped_events: AtomicU64,
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

    pub(crate) fn snapshot(&self) -> EvictStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EvictStats {
            entries: get(&self.entries),
            bytes: get(&self.bytes),
            hits: get(&self.hits),
            misses: get(&self.misses),
            inserts: get(&self.inserts),
            evictions: get(&self.evictions),
            recompressions: get(&self.recompressions),
            corrupt: get(&self.corrupt),
            dropped_events: get(&self.dropped_events),
            cleanups: get(&self.cleanups),
            temps_swept: get(&self.temps_swept),
            errors: get(&self.errors),
        }
    }

    /// The lifetime counters (every counter but the size gauges), in the persisted order.
    pub(crate) fn lifetime(&self) -> Lifetime {
        let s = self.snapshot();
        [
            s.hits,
            s.misses,
            s.inserts,
            s.evictions,
            s.recompressions,
            s.corrupt,
            s.dropped_events,
            s.cleanups,
            s.temps_swept,
            s.errors,
        ]
    }
}
