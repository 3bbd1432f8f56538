//! In-process counters of a [`Cache`](crate::Cache).

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one `Cache` (and its clones) in this process, as returned by
/// [`Cache::stats`](crate::Cache::stats).
///
/// The lifetime totals of every process that used the directory (what `hoard stats`
/// shows) are the eviction worker's: [`Cache::worker`](crate::Cache::worker), then
/// [`Janitor::shared_stats`](crate::evict::Janitor::shared_stats).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that returned verified bytes.
    pub hits: u64,
    /// Reads that returned nothing: absent, damaged, unreadable or unsupported entries.
    pub misses: u64,
    /// Entries written.
    pub inserts: u64,
    /// Entries that failed verification (and were removed, unless the removal failed, which
    /// counts in `errors` too).
    pub corrupt: u64,
    /// Store or codec failures (I/O errors, failed writes and removals).
    pub errors: u64,
    /// Values not cached because they exceed the maximum entry size.
    pub oversized: u64,
    /// Cached values that no longer deserialized and were recomputed.
    pub undecodable: u64,
    /// Reads of entries whose frame verified (checksum, key, size) but whose payload the
    /// codec registered for its id could not decode: most likely written by another
    /// program's codec under the same id. Each is a miss and is left in place, never removed
    /// as corrupt (a damaged entry fails its checksum and counts in `corrupt`).
    pub undecodable_entries: u64,
    /// Reads, in an authenticated cache ([`CacheBuilder::auth_key_file`](crate::CacheBuilder::auth_key_file)),
    /// of intact entries whose MAC does not verify under the cache's keys: no MAC, another
    /// key, or a forged tag. Each is a miss, never served, and left in place.
    pub unauthenticated_entries: u64,
    /// Misses that found the key's single-flight lock held by another process or thread
    /// and waited for it (see [`Cache::single_flight`](crate::Cache::single_flight)).
    pub flight_waits: u64,
    /// Waits that ended in a hit: a computation saved. Such a get counts one miss (before
    /// the wait) and one hit (after it).
    pub flight_wait_hits: u64,
    /// Waits that reached the bound and computed anyway (a holder stopped, or computing for
    /// longer than the bound).
    pub flight_gave_up: u64,
    /// Misses that took the remote's lease on the key (a cache with a remote lease, see
    /// [`RemoteSettings::lease`](crate::RemoteSettings::lease)): this process computed the
    /// key for every machine sharing the remote.
    pub lease_wins: u64,
    /// Misses that found the key leased by another process or machine and waited for its
    /// value (re-reading the key, with back-off, at most the single-flight bound).
    pub lease_losses: u64,
    /// Lease waits that ended in a hit: a computation saved. Such a get counts one miss
    /// (before the wait) and one hit (after it).
    pub lease_wait_hits: u64,
    /// Lease waits that reached the bound and computed anyway.
    pub lease_gave_up: u64,
    /// Leases that could not be asked for (the remote failed, timed out or was bypassed):
    /// the key was computed without one.
    pub lease_failures: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) inserts: AtomicU64,
    pub(crate) corrupt: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) undecodable: AtomicU64,
    pub(crate) undecodable_entries: AtomicU64,
    pub(crate) unauthenticated_entries: AtomicU64,
    pub(crate) flight_waits: AtomicU64,
    pub(crate) flight_wait_hits: AtomicU64,
    pub(crate) flight_gave_up: AtomicU64,
    pub(crate) lease_wins: AtomicU64,
    pub(crate) lease_losses: AtomicU64,
    pub(crate) lease_wait_hits: AtomicU64,
    pub(crate) lease_gave_up: AtomicU64,
    pub(crate) lease_failures: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            hits: get(&self.hits),
            misses: get(&self.misses),
            inserts: get(&self.inserts),
            corrupt: get(&self.corrupt),
            errors: get(&self.errors),
            oversized: get(&self.oversized),
            undecodable: get(&self.undecodable),
            undecodable_entries: get(&self.undecodable_entries),
            unauthenticated_entries: get(&self.unauthenticated_entries),
            flight_waits: get(&self.flight_waits),
            flight_wait_hits: get(&self.flight_wait_hits),
            flight_gave_up: get(&self.flight_gave_up),
            lease_wins: get(&self.lease_wins),
            lease_losses: get(&self.lease_losses),
            lease_wait_hits: get(&self.lease_wait_hits),
            lease_gave_up: get(&self.lease_gave_up),
            lease_failures: get(&self.lease_failures),
        }
    }
}
