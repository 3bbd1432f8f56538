//! A lock held by another process never hangs a cache (issue 13, item 1): gets and puts take
//! no lock, dropping a cache waits at most `MERGE_LOCK_WAIT` for the counters lock, and the
//! explicit operations are busy after `OPERATION_LOCK_WAIT`. The holder is util-linux's
//! `flock`, a real process, as in the reproduction.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoard::evict::{MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT};
use hoard::{Cache, ErrorKind, FsStore, Housekeeping, LockTarget, StateName};
use hoard_testkit::process::HeldElsewhere;

/// What a loaded machine may add to a bound before the test calls it a hang.
const SLACK: Duration = Duration::from_secs(2);

/// The lock file of the named lock `name` in the cache at `root`, created by taking the
/// lock once.
fn named_lock_file(root: &Path, name: &str) -> PathBuf {
    let store = FsStore::open(root).expect("open");
    let name = StateName::new(name).expect("valid");
    let target = LockTarget::Named(&name);
    drop(store.lock(target, false).expect("lock").expect("free"));
    store.lock_path(target).expect("a lock file")
}

#[track_caller]
fn within<T>(bound: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(took <= bound + SLACK, "took {took:?}, bound {bound:?}");
    out
}

fn value(i: u32) -> Vec<u8> {
    format!("value {i} ").repeat(200).into_bytes()
}

/// Puts and gets through `cache` while something is held, then syncs and drops it: every
/// value right, sync and drop within the merge bound.
fn use_and_drop(cache: Cache) {
    for i in 0..50 {
        let key = cache.key(format!("k{i}"));
        assert!(within(Duration::ZERO, || cache.put(&key, &value(i))));
        let got = within(Duration::ZERO, || cache.get(&key));
        assert_eq!(got.as_deref(), Some(&value(i)[..]), "key {i}");
    }
    let worker = cache.worker().expect("a worker");
    within(MERGE_LOCK_WAIT, || worker.sync());
    within(MERGE_LOCK_WAIT, || drop(cache));
}

#[test]
fn a_held_counters_lock_costs_a_cache_at_most_the_merge_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = Cache::open(&root).expect("open");
    let held = HeldElsewhere::new(&named_lock_file(&root, "counters"));
    use_and_drop(cache);
    // The counts of that cache were lost at its drop; a new one merges as usual.
    drop(held);
    let cache = Cache::open(&root).expect("open");
    let key = cache.key("after");
    assert!(cache.put(&key, b"x"));
    let worker = cache.worker().expect("a worker");
    worker.sync();
    let shared = worker
        .janitor()
        .shared_stats()
        .expect("readable")
        .expect("merged");
    assert!(shared.inserts >= 1, "{shared:?}");
}

#[test]
fn a_held_cleanup_lock_costs_gets_and_puts_nothing_and_makes_gc_busy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = Cache::open(&root).expect("open");
    let file = named_lock_file(&root, "cleanup");
    let _held = HeldElsewhere::new(&file);
    let janitor = cache.worker().expect("a worker").janitor();
    let err = within(OPERATION_LOCK_WAIT, || janitor.cleanup_now()).expect_err("busy");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(err.path(), Some(file.as_path()), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "the \"cleanup\" lock is held by another process: {}",
            file.display()
        )
    );
    use_and_drop(cache);
}

#[test]
fn a_held_usage_lock_costs_a_cache_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = Cache::open(&root).expect("open");
    let _held = HeldElsewhere::new(&named_lock_file(&root, "usage"));
    use_and_drop(cache);
}

#[test]
fn a_held_entry_lock_costs_its_entry_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = Cache::open(&root).expect("open");
    let key = cache.key("k0");
    assert!(cache.put(&key, &value(99)));
    let store = FsStore::open(&root).expect("open");
    let entry = store
        .lock_path(LockTarget::Entry(cache.namespace(), key.digest()))
        .expect("an entry path");
    let _held = HeldElsewhere::new(&entry);
    assert_eq!(cache.get(&key).as_deref(), Some(&value(99)[..]));
    use_and_drop(cache);
}
