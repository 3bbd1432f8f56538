//! Plugin stores and codecs through the facade: a `Store + Housekeeping` of the testkit's
//! (`InMemory`) gets the eviction worker as the filesystem store does.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard::evict::{Limits, ManualClock, WorkerConfig};
use hoard::{Cache, CacheBuilder, Key};
use hoard_testkit::InMemory;

const BIG: u64 = 1 << 40;

/// A cache on `store` whose worker runs rounds on `sync` only and reads `clock`.
fn maintained(store: &Arc<InMemory>, limits: Limits, clock: &Arc<ManualClock>) -> Cache {
    CacheBuilder::with_maintained_store(Arc::clone(store))
        .worker(
            WorkerConfig::new()
                .limits(limits)
                .low_priority(false)
                .flush_period(Duration::from_secs(3600)),
        )
        .worker_clock(clock.clone())
        .build()
        .expect("cache on a maintained store")
}

#[test]
fn a_store_with_housekeeping_gets_the_worker_a_plain_store_does_not() {
    let store = Arc::new(InMemory::new());
    let with = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .build()
        .expect("cache");
    assert!(with.worker().is_some());
    let without = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .without_worker()
        .build()
        .expect("cache");
    assert!(without.worker().is_none());
    let plain = CacheBuilder::with_store(Arc::clone(&store))
        .build()
        .expect("cache");
    assert!(plain.worker().is_none(), "with_store stays as it was");
}

#[test]
fn the_worker_evicts_a_maintained_store_under_its_limits() {
    let store = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let cache = maintained(&store, Limits::new(20, BIG), &clock);
    let keys: Vec<Key> = (0..60).map(|i| cache.key(format!("entry {i}"))).collect();
    for k in &keys {
        assert!(cache.put(k, b"value"));
    }
    assert_eq!(store.keys().len(), 60);
    clock.advance(Duration::from_secs(60));
    let worker = cache.worker().expect("worker");
    worker.sync();
    let left = store.keys().len();
    assert!(left <= 20, "{left} entries left over a limit of 20");
    assert!(left > 0, "the cleanup keeps entries up to its target");
    let s = worker.stats();
    assert_eq!((s.inserts, s.cleanups, s.errors), (60, 1, 0));
}

#[test]
fn sync_merges_the_counters_into_the_maintained_store() {
    let store = Arc::new(InMemory::new());
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let cache = maintained(&store, Limits::new(BIG, BIG), &clock);
    let key = cache.key("counted");
    assert!(cache.put(&key, b"value"));
    assert!(cache.get(&key).is_some());
    assert!(cache.get(&cache.key("absent")).is_none());
    let worker = cache.worker().expect("worker");
    worker.sync();
    let shared = worker
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged by sync");
    assert_eq!((shared.inserts, shared.hits, shared.misses), (1, 1, 1));
    // A second cache on the same store adds to the same totals.
    let other = maintained(&store, Limits::new(BIG, BIG), &clock);
    assert!(other.get(&key).is_some());
    let w = other.worker().expect("worker");
    w.sync();
    let shared = w
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged");
    assert_eq!((shared.inserts, shared.hits, shared.misses), (1, 2, 1));
}

/// With a remote tier, the maintained store is the tier's local part: the worker runs on it
/// and it keeps the tier's lifetime counters. The remote is a port nobody listens on: every
/// remote operation fails and is counted, the local part serves on.
#[cfg(feature = "remote")]
#[test]
fn a_tier_whose_local_part_is_maintained_runs_the_worker() {
    use hoard::remote::RemoteConfig;
    use hoard::{RemoteSettings, remote_lifetime_stats};

    let store = Arc::new(InMemory::new());
    let remote = RemoteConfig::parse("redis://127.0.0.1:1/")
        .expect("url")
        .timeout(Duration::from_millis(200))
        .expect("timeout");
    let cache = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .remote(RemoteSettings::new(remote))
        .build()
        .expect("cache with a remote tier");
    let worker = cache.worker().expect("the worker runs on the local part");
    let key = cache.key("tiered");
    assert!(cache.put(&key, b"value"));
    assert!(cache.get(&key).is_some());
    assert_eq!(store.keys().len(), 1);
    worker.sync();
    drop(cache);
    let lifetime = remote_lifetime_stats(store.as_ref())
        .expect("readable")
        .expect("the tier's counters are kept in the local part");
    assert_eq!(lifetime.counters["tier.local_hits"], 1);
}
