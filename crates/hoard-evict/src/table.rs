//! The hit table: where callers leave hit events for the worker without blocking and
//! without allocating.
//!
//! Sixteen shards, each a `Mutex<HashMap<Digest, u32>>` allocated to its full capacity up
//! front. A hit takes its shard's lock with `try_lock`; if another thread holds it, the next
//! shard is tried (the worker sums all shards, so where a count lands does not matter). A
//! hit of a digest already in the shard bumps its count (coalesced, never lost); a new
//! digest is inserted while the shard has room. Only when every shard is busy or full is the
//! event dropped, and then it is counted. The worker swaps each shard's map with an empty
//! one of the same capacity, so the callers' side never reallocates.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, TryLockError};

use hoard_core::Digest;

use crate::stats::Counters;

const SHARDS: usize = 16;

/// Digests are uniformly distributed already: the first eight bytes are a good hash.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct DigestHash;

#[derive(Debug, Default)]
pub(crate) struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // `[u8; 32]` hashes as a length, then the 32 bytes in one write: keep the bytes.
        if bytes.len() >= 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            self.0 ^= u64::from_le_bytes(b);
        } else {
            for &x in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(x);
            }
        }
    }

    fn write_usize(&mut self, _: usize) {}
}

impl BuildHasher for DigestHash {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher(0)
    }
}

pub(crate) type CountMap = HashMap<Digest, u32, DigestHash>;

pub(crate) fn count_map(capacity: usize) -> CountMap {
    HashMap::with_capacity_and_hasher(capacity, DigestHash)
}

#[derive(Debug)]
pub(crate) struct HitTable {
    shards: Vec<Mutex<CountMap>>,
    per_shard: usize,
    /// Where recorded and dropped hits are counted: the janitor's counters, so that they
    /// are merged into the shared totals with every other counter.
    counters: Arc<Counters>,
}

impl HitTable {
    /// A table holding about `capacity` distinct digests, counting into `counters`.
    pub(crate) fn new(capacity: u64, counters: Arc<Counters>) -> Self {
        let per_shard = usize::try_from(capacity.div_ceil(SHARDS as u64))
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(count_map(per_shard)))
                .collect(),
            per_shard,
            counters,
        }
    }

    pub(crate) fn per_shard(&self) -> usize {
        self.per_shard
    }

    /// Records one hit of `digest`; `false` if it had to be dropped.
    pub(crate) fn record(&self, digest: &Digest) -> bool {
        let start = usize::from(digest.as_bytes()[0]) % SHARDS;
        for i in 0..SHARDS {
            let shard = &self.shards[(start + i) % SHARDS];
            let mut map = match shard.try_lock() {
                Ok(m) => m,
                Err(TryLockError::WouldBlock) => continue,
                // A panic elsewhere while holding the lock left a valid map.
                Err(TryLockError::Poisoned(p)) => p.into_inner(),
            };
            if let Some(n) = map.get_mut(digest) {
                *n = n.saturating_add(1);
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            if map.len() < self.per_shard {
                map.insert(*digest, 1);
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return true;
            }
        }
        self.counters.dropped_events.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Hits recorded since the counters were made (dropped ones excluded).
    #[cfg(test)]
    fn recorded(&self) -> u64 {
        self.counters.hits.load(Ordering::Relaxed)
    }

    /// Hits dropped since the counters were made.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.counters.dropped_events.load(Ordering::Relaxed)
    }

    /// Moves every shard's counts into `visit`, leaving each shard an empty map of full
    /// capacity (`spare` is reused as the replacement and comes back empty).
    pub(crate) fn drain(&self, spare: &mut CountMap, mut visit: impl FnMut(&Digest, u32)) {
        for shard in &self.shards {
            {
                let mut map = shard
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if map.is_empty() {
                    continue;
                }
                std::mem::swap(&mut *map, spare);
            }
            for (d, n) in spare.drain() {
                visit(&d, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(i: u32) -> Digest {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        b[4] = 0x5a;
        Digest::from_bytes(b)
    }

    #[test]
    fn hits_coalesce_and_overflow_is_counted() {
        let t = HitTable::new(32, Arc::default());
        assert_eq!(t.per_shard(), 2);
        for _ in 0..1000 {
            assert!(t.record(&d(1)));
        }
        // 32 slots in all: 31 more distinct digests fit, the rest are dropped.
        let mut ok = 0;
        for i in 2..100 {
            ok += usize::from(t.record(&d(i)));
        }
        assert_eq!(ok, 31);
        assert_eq!(t.dropped(), 98 - 31);
        // A digest already waiting is still counted when the table is full.
        assert!(t.record(&d(1)));
        let mut spare = count_map(t.per_shard());
        let mut total = 0u64;
        let mut ones = 0;
        t.drain(&mut spare, |digest, n| {
            total += u64::from(n);
            if *digest == d(1) {
                ones = n;
            }
        });
        assert_eq!(ones, 1001);
        assert_eq!(total, 1001 + 31);
        assert_eq!(t.recorded(), 1001 + 31);
        // Drained: room again.
        assert!(t.record(&d(500)));
    }

    #[test]
    fn the_hit_path_never_grows_a_map() {
        let t = HitTable::new(64, Arc::default());
        let caps: Vec<usize> = t
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").capacity())
            .collect();
        for i in 0..10_000 {
            t.record(&d(i));
        }
        let after: Vec<usize> = t
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").capacity())
            .collect();
        assert_eq!(caps, after);
    }
}
