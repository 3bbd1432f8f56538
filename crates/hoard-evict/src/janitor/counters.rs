//! This process's counters and the lifetime counters shared by every process that used
//! the store (see [`SharedStats`]).

use std::sync::{OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::BTreeMap;

use hoard_core::{ErrorKind, Housekeeping, LockTarget, Result, StateName};

use super::{Janitor, Merged};
use crate::lock::{self, MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT};
use crate::sidecar::{self, NamedTally, Tally};
use crate::stats::{Counts, EvictStats, LIFETIME_COUNTERS, Lifetime, SharedStats};

/// The time `ms` milliseconds after the epoch (before it if negative).
fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .unwrap_or(UNIX_EPOCH)
}

impl Tally {
    fn to_stats(&self, named: NamedTally) -> SharedStats {
        SharedStats {
            since: from_ms(self.since_ms),
            updated: from_ms(self.updated_ms),
            counts: Counts::from_array(self.counts),
            named: named.counts,
        }
    }
}

/// The lifetime counters of every process that used `store` (what
/// [`Janitor::shared_stats`] returns), read without a janitor: `Ok(None)` when there are
/// none yet or they are damaged.
pub fn read_shared_stats(store: &dyn Housekeeping) -> Result<Option<SharedStats>> {
    let Some(tally) = load_tally(store)? else {
        return Ok(None);
    };
    Ok(Some(tally.to_stats(load_named(store)?.unwrap_or_default())))
}

/// The named lifetime counters of every process that used `store` (see
/// [`SharedStats::named`]): `Ok(None)` when no process has added any or zeroed them, or
/// when they are damaged.
pub fn read_named_counters(store: &dyn Housekeeping) -> Result<Option<BTreeMap<String, u64>>> {
    Ok(load_named(store)?.map(|n| n.counts))
}

/// Zeroes the named lifetime counters whose name starts with one of `prefixes` (every
/// process's), in one read and write under the counters lock, and returns what they held. The ten [`Counts`] and other named
/// counters are left alone. `wait`: wait for another process's merge to end, for at most
/// [`OPERATION_LOCK_WAIT`]; without it, the lock is tried once. A lock held longer is an
/// [`ErrorKind::Busy`] error naming it, and nothing is zeroed.
pub fn zero_named_counters(
    store: &dyn Housekeeping,
    prefixes: &[&str],
    wait: bool,
) -> Result<BTreeMap<String, u64>> {
    let chosen = |name: &str| prefixes.iter().any(|p| name.starts_with(p));
    let bound = if wait {
        OPERATION_LOCK_WAIT
    } else {
        Duration::ZERO
    };
    let _lock = lock::lock_or_busy(store, counters_target(), bound)?;
    let mut named = match load_named(store) {
        Ok(n) => n.unwrap_or_default(),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the named lifetime counters; zeroing them anyway");
            NamedTally::default()
        }
    };
    let zeroed: BTreeMap<String, u64> = named
        .counts
        .iter()
        .filter(|(k, _)| chosen(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    named.counts.retain(|k, _| !chosen(k));
    store.write_state(&sidecar::named_counters_name(), &named.encode())?;
    Ok(zeroed)
}

/// The lock that guards the lifetime counters.
fn counters_target() -> LockTarget<'static> {
    static NAME: OnceLock<StateName> = OnceLock::new();
    LockTarget::Named(NAME.get_or_init(sidecar::counters_lock))
}

/// Reads one counters blob: `Ok(None)` when absent, damaged, larger than any blob of ours
/// or not a regular file, all of which the next merge replaces. An error (I/O) means it
/// could not be read, and must not be overwritten by a merge.
fn load_blob<T>(
    store: &dyn Housekeeping,
    name: &StateName,
    what: &str,
    decode: fn(&[u8]) -> Option<T>,
) -> Result<Option<T>> {
    match store.read_state(name, sidecar::COUNTERS_READ_LIMIT) {
        Ok(Some(blob)) => {
            let decoded = decode(&blob);
            if decoded.is_none() {
                tracing::debug!("the {what} are damaged; they restart from zero");
            }
            Ok(decoded)
        }
        Ok(None) => Ok(None),
        Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::TooLarge) => {
            tracing::debug!(error = %e, "the {what} are not usable; they restart from zero");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn load_tally(store: &dyn Housekeeping) -> Result<Option<Tally>> {
    load_blob(
        store,
        &sidecar::counters_name(),
        "lifetime counters",
        Tally::decode,
    )
}

fn load_named(store: &dyn Housekeeping) -> Result<Option<NamedTally>> {
    load_blob(
        store,
        &sidecar::named_counters_name(),
        "named lifetime counters",
        NamedTally::decode,
    )
}

/// What a janitor counted since its last merge.
struct Unmerged {
    /// What each of the ten counters gained.
    delta: Lifetime,
    /// The ten counters now.
    current: Lifetime,
    /// What each named counter that grew gained.
    named_delta: BTreeMap<String, u64>,
    /// Every named counter now.
    named_now: BTreeMap<String, u64>,
}

impl Janitor {
    /// The counters of this janitor's operations in this process (hits and misses only
    /// count when a [`Worker`](crate::Worker) reports them). The totals of every process
    /// are [`shared_stats`](Self::shared_stats).
    pub fn stats(&self) -> EvictStats {
        self.counters.snapshot()
    }

    /// The lifetime counters of every process that used the store, as last merged (a
    /// running worker merges about once per
    /// [`WorkerConfig::usage_merge_period`], so they may lag that much behind it).
    ///
    /// `Ok(None)` when there are none yet, or when the stored counters are damaged or not
    /// hoard's (they then restart from zero at the next merge). An error means the state
    /// could not be read at all (I/O, or a symlink in its place).
    ///
    /// [`WorkerConfig::usage_merge_period`]: crate::WorkerConfig::usage_merge_period
    pub fn shared_stats(&self) -> Result<Option<SharedStats>> {
        read_shared_stats(self.store.as_ref())
    }

    /// Adds what this process counted since its last merge to the lifetime counters
    /// shared by every process, waiting for another process's merge to end, for at most
    /// [`MERGE_LOCK_WAIT`] (a lock held longer is an [`ErrorKind::Busy`] error naming
    /// it). The worker does this on its own (see [`SharedStats`]); so do the explicit
    /// operations here.
    ///
    /// On failure nothing is marked as merged: the counts are added by the next merge.
    pub fn merge_stats(&self) -> Result<()> {
        if self.merge_counters(MERGE_LOCK_WAIT)? {
            Ok(())
        } else {
            Err(lock::busy_error(self.store.as_ref(), counters_target()))
        }
    }

    /// Zeroes the lifetime counters shared by every process (ccache's `-z`), the named
    /// ones included: their `since` becomes now. Returns the totals they held (`None` if
    /// there were none), read under the same lock, so that a caller that reports and zeroes
    /// (a periodic `hoard stats --zero`) loses no count in between. What this process
    /// counted and had not merged yet is dropped with them; other processes add what they
    /// count from their next merge on.
    ///
    /// Waits for another process's merge to end for at most [`OPERATION_LOCK_WAIT`]: a
    /// `counters` lock held longer is an [`ErrorKind::Busy`] error naming it, and nothing
    /// is zeroed.
    pub fn zero_stats(&self) -> Result<Option<SharedStats>> {
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let _lock =
            lock::lock_or_busy(self.store.as_ref(), counters_target(), OPERATION_LOCK_WAIT)?;
        let store = self.store.as_ref();
        // An unreadable state is overwritten too: zeroing is what the operator asked for.
        let before = match (load_tally(store), load_named(store)) {
            (Ok(t), Ok(n)) => t.map(|t| t.to_stats(n.unwrap_or_default())),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(error = %e, "cannot read the lifetime counters; zeroing them anyway");
                None
            }
        };
        self.store.write_state(
            &sidecar::counters_name(),
            &Tally::new(self.now_ms()).encode(),
        )?;
        self.store.write_state(
            &sidecar::named_counters_name(),
            &NamedTally::default().encode(),
        )?;
        *merged = Merged {
            counts: self.counters.lifetime(),
            named: self.named_now(),
        };
        Ok(before)
    }

    /// Every named counter of every source, now.
    fn named_now(&self) -> BTreeMap<String, u64> {
        let mut all = BTreeMap::new();
        for source in &self.sources {
            for (name, value) in source.counters() {
                let slot: &mut u64 = all.entry(name).or_default();
                *slot = slot.saturating_add(value);
            }
        }
        all
    }

    /// What was counted since the last merge.
    fn unmerged(&self, merged: &Merged) -> Unmerged {
        let current = self.counters.lifetime();
        let mut delta = [0u64; LIFETIME_COUNTERS];
        for ((d, c), m) in delta.iter_mut().zip(&current).zip(merged.counts.iter()) {
            *d = c.saturating_sub(*m);
        }
        let named_now = self.named_now();
        let named_delta: BTreeMap<String, u64> = named_now
            .iter()
            .map(|(k, v)| {
                let before = merged.named.get(k).copied().unwrap_or(0);
                (k.clone(), v.saturating_sub(before))
            })
            .filter(|(_, d)| *d > 0)
            .collect();
        Unmerged {
            delta,
            current,
            named_delta,
            named_now,
        }
    }

    /// How many counts (the ten counters and the named ones, summed) no merge has added to
    /// the lifetime counters yet: what a process that exits now loses.
    pub(crate) fn unmerged_total(&self) -> u64 {
        let merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = self.unmerged(&merged);
        pending
            .delta
            .iter()
            .chain(pending.named_delta.values())
            .fold(0u64, |sum, d| sum.saturating_add(*d))
    }

    /// Adds the counts since the last merge to the shared lifetime counters, under the
    /// `counters` lock (read, add, write), waiting for the lock for at most `bound` (zero:
    /// one try). `Ok(false)`: another process held the lock all along; nothing was
    /// merged, and the next merge adds these counts too.
    pub(crate) fn merge_counters(&self, bound: Duration) -> Result<bool> {
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let Unmerged {
            delta,
            current,
            named_delta,
            named_now,
        } = self.unmerged(&merged);
        if delta.iter().all(|&d| d == 0) && named_delta.is_empty() {
            return Ok(true);
        }
        let Some(_lock) = lock::lock_within(self.store.as_ref(), counters_target(), bound)? else {
            return Ok(false);
        };
        let store = self.store.as_ref();
        let now_ms = self.now_ms();
        let mut tally = load_tally(store)?.unwrap_or_else(|| Tally::new(now_ms));
        tally.add(&delta);
        tally.updated_ms = now_ms;
        if !named_delta.is_empty() {
            let mut named = load_named(store)?.unwrap_or_default();
            named.add(&named_delta);
            self.store
                .write_state(&sidecar::named_counters_name(), &named.encode())?;
        }
        self.store
            .write_state(&sidecar::counters_name(), &tally.encode())?;
        *merged = Merged {
            counts: current,
            named: named_now,
        };
        Ok(true)
    }

    /// After an explicit operation: its counts go to the shared totals now, so that the
    /// next `hoard stats` shows them even if this process runs on. Best effort: a lock
    /// held for more than [`MERGE_LOCK_WAIT`] leaves them to the next merge (the worker's,
    /// at the latest when it stops).
    pub(super) fn merge_after_operation(&self) {
        match self.merge_counters(MERGE_LOCK_WAIT) {
            Ok(true) => {}
            Ok(false) => tracing::debug!(
                "the \"counters\" lock is held by another process; the counts of this \
                 operation wait for the next merge"
            ),
            Err(e) => self.error("cannot add to the lifetime counters", &e),
        }
    }
}
