//! A lock held by another process never hangs a cache (issue 13, item 1): gets and puts take
//! no lock, dropping a cache waits at most `MERGE_LOCK_WAIT` for the counters lock, and the
//! explicit operations are busy after `OPERATION_LOCK_WAIT`. The holder is a real process:
//! util-linux's `flock` on Unix, as in the reproduction; on Windows, which has no
//! `flock`, this test binary again, holding the lock through `FsStore` (`LockFileEx`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoard::evict::{MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT};
use hoard::{Cache, ErrorKind, FsStore, Housekeeping, LockTarget, StateName};
use hoard_testkit::process::HeldElsewhere;

/// Set in the holder process (see [`holder_entry`]) to `ROOT|named:NAME` or `ROOT|entry:KEY`.
const HOLD_ENV: &str = "HOARD_IT_HOLD";

/// What another process holds.
#[derive(Clone, Copy)]
enum Held<'a> {
    /// The named lock `name` of the cache.
    Named(&'a str),
    /// The entry lock of the key `cache.key(key)` in the default namespace.
    Entry(&'a str),
}

/// Starts a process holding `what` in the cache at `root`; `file` is its lock file. On Unix
/// util-linux's `flock` on the file, on Windows this binary's [`holder_entry`].
fn held_elsewhere(root: &Path, what: Held<'_>, file: &Path) -> HeldElsewhere {
    if cfg!(unix) {
        return HeldElsewhere::new(file);
    }
    let spec = match what {
        Held::Named(name) => format!("{}|named:{name}", root.display()),
        Held::Entry(key) => format!("{}|entry:{key}", root.display()),
    };
    let mut command = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args(["locks::holder_entry", "--exact", "--nocapture"])
        .env(HOLD_ENV, &spec);
    HeldElsewhere::started(command, &spec)
}

/// The holder's side: takes the lock `HOLD_ENV` names through the store, prints `held` and
/// holds it until stdin closes. Does nothing unless a test set the variable.
#[test]
fn holder_entry() {
    use std::io::Read;
    let Ok(spec) = std::env::var(HOLD_ENV) else {
        return;
    };
    let (root, what) = spec.split_once('|').expect("ROOT|WHAT");
    let store = FsStore::open(root).expect("open");
    let held = match what.split_once(':') {
        Some(("named", name)) => {
            let name = StateName::new(name).expect("valid");
            store.lock(LockTarget::Named(&name), true)
        }
        Some(("entry", key)) => {
            let cache = Cache::builder(root).without_worker().build().expect("open");
            let key = cache.key(key);
            store.lock(LockTarget::Entry(cache.namespace(), key.digest()), true)
        }
        _ => panic!("bad holder spec {spec:?}"),
    };
    let held = held.expect("lock").expect("waited for");
    println!("held");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(held);
}

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
    let file = named_lock_file(&root, "counters");
    let held = held_elsewhere(&root, Held::Named("counters"), &file);
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
    let _held = held_elsewhere(&root, Held::Named("cleanup"), &file);
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
    let file = named_lock_file(&root, "usage");
    let _held = held_elsewhere(&root, Held::Named("usage"), &file);
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
    let held = held_elsewhere(&root, Held::Entry("k0"), &entry);
    assert_eq!(cache.get(&key).as_deref(), Some(&value(99)[..]));
    // On Windows the holder has the entry open: where a rename cannot replace an open file
    // (Wine, FAT: no POSIX rename semantics) a put of it fails after its retries and leaves
    // the entry whole; NTFS replaces it, as Unix does.
    if cfg!(windows) && !cache.put(&key, &value(0)) {
        assert_eq!(cache.get(&key).as_deref(), Some(&value(99)[..]));
        drop(held);
        use_and_drop(cache);
        return;
    }
    use_and_drop(cache);
    drop(held);
}
