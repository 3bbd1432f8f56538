//! No lock another holder keeps can hang the janitor or the worker: every wait is bounded
//! (`hoard_evict::lock`). These tests wait out the real bounds, so they take a few
//! seconds; the holder is another `HeldLock` on the same store, which the store's contract
//! treats exactly like another process.

use std::time::{Duration, Instant};

use hoard_core::{ErrorKind, HeldLock, Housekeeping, LockTarget, Result, StateName};
use hoard_evict::{
    Janitor, Limits, MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT, Worker, WorkerConfig, lock_within,
};

use crate::{digest, now, ns, setup};
use hoard_testkit::InMemory;

/// What a loaded machine may add to a bound before the test calls it a hang.
const SLACK: Duration = Duration::from_secs(2);

fn quiet() -> WorkerConfig {
    WorkerConfig::new()
        .low_priority(false)
        .flush_period(Duration::from_secs(3600))
        .limits(Limits::new(1, 1 << 40))
}

fn hold(store: &InMemory, name: &str) -> HeldLock {
    let name = StateName::new(name).expect("valid");
    store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free")
}

/// Runs `f`, asserting that it took at least `at_least` and at most `bound` plus the slack.
#[track_caller]
fn timed<T>(at_least: Duration, bound: Duration, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    assert!(
        took >= at_least,
        "returned after {took:?}, before {at_least:?}"
    );
    assert!(took <= bound + SLACK, "took {took:?}, bound {bound:?}");
    out
}

/// Asserts a busy error that names the lock `name`.
#[track_caller]
fn assert_busy<T: std::fmt::Debug>(got: Result<T>, name: &str) {
    let err = got.expect_err("busy");
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert_eq!(
        err.to_string(),
        format!("the \"{name}\" lock is held by another process")
    );
}

/// Ten entries, all older than the limits allow.
fn planted(store: &InMemory) {
    for id in 0..10u8 {
        let t = now() - Duration::from_secs(3600);
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(t), Some(t));
    }
}

fn entries(janitor: &Janitor) -> u64 {
    janitor.survey().expect("survey").entries
}

#[test]
fn lock_within_gives_up_after_its_bound_and_takes_a_free_lock_at_once() {
    let (_clock, store, _janitor) = setup(quiet());
    let name = StateName::new("some-lock").expect("valid");
    let target = LockTarget::Named(&name);
    let held = hold(&store, "some-lock");
    let bound = Duration::from_millis(300);
    let got = timed(bound, bound, || lock_within(store.as_ref(), target, bound));
    assert!(got.expect("no error").is_none());
    let once = timed(Duration::ZERO, Duration::ZERO, || {
        lock_within(store.as_ref(), target, Duration::ZERO)
    });
    assert!(once.expect("no error").is_none());
    drop(held);
    let got = timed(Duration::ZERO, Duration::ZERO, || {
        lock_within(store.as_ref(), target, Duration::from_secs(3600))
    });
    assert!(got.expect("no error").is_some());
}

#[test]
fn lock_within_takes_the_lock_when_its_holder_lets_go() {
    let (_clock, store, _janitor) = setup(quiet());
    let name = StateName::new("some-lock").expect("valid");
    let held = hold(&store, "some-lock");
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| {
            lock_within(
                store.as_ref(),
                LockTarget::Named(&name),
                Duration::from_secs(3600),
            )
        });
        drop(held);
        let got = waiter.join().expect("no panic");
        assert!(got.expect("no error").is_some());
    });
}

#[test]
fn an_explicit_cleanup_is_busy_within_its_bound_and_changes_nothing() {
    let (_clock, store, janitor) = setup(quiet());
    planted(&store);
    let _held = hold(&store, "cleanup");
    assert_busy(
        timed(OPERATION_LOCK_WAIT, OPERATION_LOCK_WAIT, || {
            janitor.cleanup_now()
        }),
        "cleanup",
    );
    assert_eq!(entries(&janitor), 10);
    // The worker's scheduled cleanup only tries: no wait at all.
    let skipped = timed(Duration::ZERO, Duration::ZERO, || janitor.cleanup_if_due());
    assert_eq!(skipped.expect("no error"), None);
}

#[test]
fn an_eviction_by_age_is_busy_within_its_bound() {
    let (_clock, store, janitor) = setup(quiet());
    planted(&store);
    let _held = hold(&store, "cleanup");
    assert_busy(
        timed(OPERATION_LOCK_WAIT, OPERATION_LOCK_WAIT, || {
            janitor.evict_older_than(Duration::from_secs(1))
        }),
        "cleanup",
    );
    assert_eq!(entries(&janitor), 10);
}

#[test]
fn an_eviction_by_namespace_is_busy_within_its_bound() {
    let (_clock, store, janitor) = setup(quiet());
    planted(&store);
    let _held = hold(&store, "cleanup");
    assert_busy(
        timed(OPERATION_LOCK_WAIT, OPERATION_LOCK_WAIT, || {
            janitor.evict_namespace(&ns("n"))
        }),
        "cleanup",
    );
    assert_eq!(entries(&janitor), 10);
}

#[test]
fn an_eviction_by_namespace_with_the_usage_lock_held_still_evicts() {
    let (_clock, store, janitor) = setup(quiet());
    planted(&store);
    let _held = hold(&store, "usage");
    let report = timed(MERGE_LOCK_WAIT, MERGE_LOCK_WAIT, || {
        janitor.evict_namespace(&ns("n"))
    })
    .expect("evicted");
    assert_eq!(report.evicted, 10);
    assert_eq!(entries(&janitor), 0);
}

#[test]
fn zeroing_the_counters_is_busy_within_its_bound_and_zeroes_nothing() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_miss();
    worker.sync();
    let held = hold(&store, "counters");
    let janitor = worker.janitor();
    assert_busy(
        timed(OPERATION_LOCK_WAIT, OPERATION_LOCK_WAIT, || {
            janitor.zero_stats()
        }),
        "counters",
    );
    assert_busy(
        timed(OPERATION_LOCK_WAIT, OPERATION_LOCK_WAIT, || {
            hoard_evict::zero_named_counters(store.as_ref(), &["tier."], true)
        }),
        "counters",
    );
    assert_busy(
        timed(Duration::ZERO, Duration::ZERO, || {
            hoard_evict::zero_named_counters(store.as_ref(), &["tier."], false)
        }),
        "counters",
    );
    drop(held);
    let shared = janitor.shared_stats().expect("readable").expect("merged");
    assert_eq!(shared.misses, 1, "nothing was zeroed");
}

#[test]
fn a_held_counters_lock_delays_sync_by_the_merge_bound_and_the_next_merge_adds_the_counts() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    let held = hold(&store, "counters");
    worker.record_miss();
    worker.record_miss();
    timed(MERGE_LOCK_WAIT, MERGE_LOCK_WAIT, || worker.sync());
    let janitor = worker.janitor();
    assert_eq!(
        janitor.shared_stats().expect("readable"),
        None,
        "not merged"
    );
    worker.record_miss();
    assert_busy(
        timed(MERGE_LOCK_WAIT, MERGE_LOCK_WAIT, || janitor.merge_stats()),
        "counters",
    );
    drop(held);
    worker.sync();
    let shared = janitor.shared_stats().expect("readable").expect("merged");
    assert_eq!(
        shared.misses, 3,
        "the counts kept in memory are added later"
    );
}

#[test]
fn stopping_with_the_counters_lock_held_costs_at_most_the_merge_bound() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    let held = hold(&store, "counters");
    worker.record_miss();
    timed(MERGE_LOCK_WAIT, MERGE_LOCK_WAIT, || worker.stop());
    assert!(!worker.is_running());
    drop(held);
    // Lost, as documented: there is no merge after the last one.
    assert_eq!(
        worker.janitor().shared_stats().expect("readable"),
        None,
        "the last merge could not add the count"
    );
}

#[test]
fn an_explicit_operation_does_not_wait_long_for_the_counters_lock() {
    let (_clock, store, janitor) = setup(quiet());
    planted(&store);
    let _held = hold(&store, "counters");
    // The cleanup itself runs; only its merge is left to later, after the merge bound.
    let report =
        timed(MERGE_LOCK_WAIT, MERGE_LOCK_WAIT, || janitor.cleanup_now()).expect("cleaned up");
    assert_eq!(report.evicted, 10);
    assert_eq!(janitor.stats().evictions, 10);
}
