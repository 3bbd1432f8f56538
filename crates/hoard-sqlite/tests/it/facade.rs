//! The store under `hoard::Cache`: through `CacheBuilder::with_store`, with a `Janitor` and a
//! `Worker` wired by hand, and through `CacheBuilder::with_maintained_store`, where the builder
//! runs the eviction worker on it as it does on its own `FsStore`.

use std::sync::Arc;

use hoard::evict::{Janitor, Limits, Worker, WorkerConfig};
use hoard::{CacheBuilder, Housekeeping, Namespace, StoreExt};
use hoard_sqlite::SqliteStore;

#[test]
fn gets_and_puts_go_through_the_facade() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cache.sqlite");
    let cache = CacheBuilder::with_store(SqliteStore::open(&path).expect("open"))
        .build()
        .expect("build");
    let key = cache.key(b"input");
    assert_eq!(cache.get(&key), None);
    assert!(cache.put(&key, b"the value"));
    assert_eq!(cache.get(&key).as_deref(), Some(&b"the value"[..]));
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.inserts), (1, 1, 1));
    drop(cache);

    // The entry is in the database, verified, across a reopen.
    let cache = CacheBuilder::with_store(SqliteStore::open(&path).expect("reopen"))
        .build()
        .expect("build again");
    assert_eq!(cache.get(&key).as_deref(), Some(&b"the value"[..]));
}

#[test]
fn the_janitor_and_the_worker_keep_the_store_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("cache.sqlite")).expect("open"));
    let cache = CacheBuilder::with_store(Arc::clone(&store))
        .namespace("bounded")
        .build()
        .expect("build");
    let keys: Vec<_> = (0..20u32).map(|i| cache.key(i.to_le_bytes())).collect();
    for (i, key) in keys.iter().enumerate() {
        assert!(cache.put(key, &vec![u8::try_from(i).expect("small"); 1000]));
    }
    assert_eq!(store.entries().expect("list").len(), 20);

    let mut config = WorkerConfig::new();
    config.limits = Limits::new(10, u64::MAX);
    let housekeeping: Arc<dyn Housekeeping> = store.clone();
    let janitor = Janitor::new(Arc::clone(&housekeeping), config.clone());
    let report = janitor.cleanup_now().expect("cleanup");
    assert_eq!(report.entries_before, 20);
    assert_eq!(report.entries_after, 7, "{report:?}");
    assert_eq!(store.entries().expect("list").len(), 7);

    // The worker thread on the same store: hits are recorded, a round runs and merges.
    let ns = Namespace::new("bounded").expect("namespace");
    let worker = Worker::start(Janitor::new(housekeeping, config), ns).expect("start");
    let survivor = store.entries().expect("list")[0].digest;
    worker.record_hit(&survivor);
    worker.sync();
    assert_eq!(worker.stats().counts.hits, 1);
    worker.stop();
}

#[test]
fn the_builder_runs_the_worker_on_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path().join("cache.sqlite")).expect("open"));
    let mut config = WorkerConfig::new();
    config.limits = Limits::new(10, u64::MAX);
    let cache = CacheBuilder::with_maintained_store(Arc::clone(&store))
        .namespace("maintained")
        .worker(config)
        .build()
        .expect("build");
    let worker = cache.worker().expect("the builder starts a worker");
    for i in 0..20u32 {
        assert!(cache.put(&cache.key(i.to_le_bytes()), &[7; 100]));
    }
    // A round after inserts runs a cleanup over the limits, on the worker's thread.
    worker.sync();
    let left = store.entries().expect("list").len();
    assert!(left <= 10, "{left} entries left of 20, limit 10");
    assert!(worker.stats().cleanups >= 1, "{:?}", worker.stats());
}
