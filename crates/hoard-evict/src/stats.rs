//! [`Counts`]: the ten lifetime counters; [`EvictStats`]: what a worker (and the `hoard`
//! command) counted in this process; [`SharedStats`]: the same counters, and the named ones
//! other layers add, summed over every process that used a store.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// Declares [`Counts`] from one list of fields: the struct, [`Counts::fields`] (names and
/// values in the persisted order) and the array conversions, so that the list is written
/// once.
macro_rules! counts {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// The ten lifetime counters of hoard's maintenance and bookkeeping: the one counters
        /// type behind [`EvictStats`] (one process) and [`SharedStats`] (every process,
        /// summed), and what `hoard stats` prints.
        ///
        /// Adding is saturating: a counter pinned at the maximum is more honest than one
        /// that wrapped to zero.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Counts {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl Counts {
            /// Every counter with its name, in the order the `counters` state stores them
            /// (and `hoard stats` prints them): hits, misses, inserts, evictions,
            /// recompressions, corrupt, dropped events, cleanups, temps swept, errors.
            pub fn fields(&self) -> [(&'static str, u64); LIFETIME_COUNTERS] {
                [$((stringify!($field), self.$field),)*]
            }

            pub(crate) fn from_array(c: Lifetime) -> Self {
                let [$($field,)*] = c;
                Self { $($field,)* }
            }
        }
    };
}

counts! {
    /// Hits reported to the worker.
    hits,
    /// Misses reported to the worker.
    misses,
    /// Inserts reported to the worker.
    inserts,
    /// Entries evicted (by cleanups and the explicit eviction operations).
    evictions,
    /// Entries recompressed.
    recompressions,
    /// Entries found failing verification (by the worker, or reported to it) and removed.
    corrupt,
    /// Hit events dropped because the event table was full (see
    /// [`WorkerConfig::event_capacity`](crate::WorkerConfig::event_capacity)).
    dropped_events,
    /// Cleanups run (scheduled and explicit).
    cleanups,
    /// Stale temp files swept.
    temps_swept,
    /// Maintenance operations that failed (I/O errors); each is logged with `tracing`.
    errors,
}

/// How many lifetime counters there are: the persisted order is [`Counts::fields`]'.
pub(crate) const LIFETIME_COUNTERS: usize = 10;

/// The lifetime counters as one array, in the order the `counters` sidecar stores them.
/// New counters are only ever appended.
pub(crate) type Lifetime = [u64; LIFETIME_COUNTERS];

impl Counts {
    pub(crate) fn to_array(self) -> Lifetime {
        self.fields().map(|(_, v)| v)
    }
}

/// A snapshot of the maintenance counters of one [`Janitor`](crate::Janitor) or
/// [`Worker`](crate::Worker) in this process, plus the cache's size as last measured.
///
/// The counters are [`Counts`], reachable as `stats.counts` or directly (`stats.hits`)
/// through `Deref`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictStats {
    /// Entries in the whole cache (every namespace) when last measured by a cleanup or a
    /// survey.
    pub entries: u64,
    /// Bytes of those entries.
    pub bytes: u64,
    /// The counters.
    pub counts: Counts,
}

impl std::ops::Deref for EvictStats {
    type Target = Counts;

    fn deref(&self) -> &Counts {
        &self.counts
    }
}

/// The lifetime counters of a store: what every process that used it counted, summed,
/// since `since`: the ten [`Counts`] (reachable directly through `Deref`, as `s.hits`),
/// and the named counters other layers add through a
/// [`CounterSource`](crate::CounterSource) (the facade's remote tier: `tier.<field>` and
/// `remote.<field>`).
///
/// Each worker adds what it counted since its previous merge about once per
/// [`WorkerConfig::usage_merge_period`](crate::WorkerConfig::usage_merge_period), on
/// [`Worker::sync`](crate::Worker::sync) and when it stops; the explicit operations of a
/// [`Janitor`](crate::Janitor) add theirs when they end. Read with
/// [`Janitor::shared_stats`](crate::Janitor::shared_stats) or
/// [`read_shared_stats`](crate::read_shared_stats), zeroed with
/// [`Janitor::zero_stats`](crate::Janitor::zero_stats).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedStats {
    /// When the counters were created or last zeroed (the clock of the process that did it).
    pub since: SystemTime,
    /// When a process last added to them.
    pub updated: SystemTime,
    /// The counters.
    pub counts: Counts,
    /// The named counters, by name.
    pub named: BTreeMap<String, u64>,
}

impl std::ops::Deref for SharedStats {
    type Target = Counts;

    fn deref(&self) -> &Counts {
        &self.counts
    }
}

/// Named counters another layer keeps, added to the lifetime counters by every merge of a
/// [`Janitor`](crate::Janitor) that has the source
/// ([`Janitor::with_counter_source`](crate::Janitor::with_counter_source)).
///
/// The values are this process's running totals (they only grow); each merge adds what
/// they gained since the previous one. Names are 1 to 64 bytes of `[a-z0-9_.]` (others are
/// ignored), conventionally `<layer>.<counter>`.
pub trait CounterSource: Send + Sync + std::fmt::Debug + 'static {
    /// Every counter with its name and current total in this process.
    fn counters(&self) -> Vec<(String, u64)>;
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
            counts: Counts::from_array(
                [
                    &self.hits,
                    &self.misses,
                    &self.inserts,
                    &self.evictions,
                    &self.recompressions,
                    &self.corrupt,
                    &self.dropped_events,
                    &self.cleanups,
                    &self.temps_swept,
                    &self.errors,
                ]
                .map(get),
            ),
        }
    }

    /// The lifetime counters (every counter but the size gauges), in the persisted order.
    pub(crate) fn lifetime(&self) -> Lifetime {
        self.snapshot().counts.to_array()
    }
}
