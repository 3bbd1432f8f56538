//! The worker thread, driven with `sync` and a `ManualClock`.

use std::sync::Arc;
use std::time::Duration;

use hoard_codec::Zstd;
use hoard_core::{Housekeeping, LockTarget, Store};
use hoard_evict::{Codecs, Janitor, Limits, Worker, WorkerConfig};

use crate::ops::{level_of, zstd_frame};
use crate::{digest, now, ns, setup};

const BIG: u64 = 1 << 40;

/// Rounds run only on `sync`: the thread's own wake-up is an hour away.
const QUIET: Duration = Duration::from_secs(3600);

fn recompressing(threshold: u64) -> WorkerConfig {
    WorkerConfig::new()
        .usage_threshold(threshold)
        .low_priority(false)
        .flush_period(QUIET)
        .limits(Limits::new(1000, BIG))
}

fn codecs() -> Codecs {
    Codecs::new()
        .decoder(Arc::new(Zstd::new(3).expect("level")))
        .optimized(Arc::new(Zstd::new(19).expect("level")))
}

#[test]
fn hits_set_the_last_use_time_once_per_granularity() {
    let config = WorkerConfig::new()
        .touch_granularity(Duration::from_secs(60))
        .low_priority(false)
        .flush_period(QUIET);
    let (clock, store, janitor) = setup(config);
    let old = now() - Duration::from_secs(86_400);
    store.put_with_times(&ns("n"), &digest(1), &[0; 10], Some(old), Some(old));
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(
        store.entry(&ns("n"), &digest(1)).expect("entry").accessed,
        Some(now())
    );
    assert_eq!(store.counts().touched, 1);
    clock.advance(Duration::from_secs(30));
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(store.counts().touched, 1, "within the granularity");
    clock.advance(Duration::from_secs(31));
    worker.record_hit(&digest(1));
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(store.counts().touched, 2);
    assert_eq!(
        store.entry(&ns("n"), &digest(1)).expect("entry").accessed,
        Some(now() + Duration::from_secs(61))
    );
    assert_eq!(worker.stats().hits, 4);
}

#[test]
fn an_entry_used_threshold_times_is_recompressed() {
    let (_clock, store, janitor) = setup(recompressing(5));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 7))
        .expect("put");
    let worker = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    for _ in 0..4 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    let level = || level_of(&store.entry(&ns("n"), &digest(1)).expect("entry").bytes);
    assert_eq!(level(), 3);
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(level(), 19);
    assert_eq!(worker.stats().recompressions, 1);
    // Settled: more hits do not look at it again.
    assert_eq!(store.counts().replaced_items, 1);
    for _ in 0..20 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    assert_eq!(store.counts().replaced_items, 1);
}

#[test]
fn use_counts_survive_a_restart_and_add_up_across_processes() {
    let (clock, store, janitor) = setup(recompressing(6));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 7))
        .expect("put");
    store
        .put(&ns("n"), &digest(2), &zstd_frame(2, 3, 7))
        .expect("put");
    let first = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    for _ in 0..3 {
        first.record_hit(&digest(1));
        first.record_hit(&digest(2));
    }
    first.stop();
    assert!(!first.is_running());
    let level = |id| level_of(&store.entry(&ns("n"), &digest(id)).expect("entry").bytes);
    assert_eq!((level(1), level(2)), (3, 3));
    // Two "processes" at once on the same store, after a restart.
    let make = || {
        Worker::start(
            Janitor::new(store.clone(), recompressing(6))
                .with_clock(clock.clone())
                .with_codecs(codecs()),
            ns("n"),
        )
        .expect("start")
    };
    let (a, b) = (make(), make());
    a.record_hit(&digest(1));
    a.record_hit(&digest(1));
    b.record_hit(&digest(1));
    a.record_hit(&digest(2));
    a.sync();
    b.sync();
    assert_eq!((level(1), level(2)), (19, 3));
    b.record_hit(&digest(2));
    b.record_hit(&digest(2));
    b.sync();
    assert_eq!(level(2), 19);
}

/// Mirrors wasmtime-cache's `test_on_get_recompress_lock`: while another task holds the
/// entry's lock the use is counted but nothing is recompressed, and the next use past the
/// threshold recompresses once the lock is gone. hoard also retries without a new use, at
/// the next merges.
#[test]
fn a_recompression_skipped_for_a_busy_lock_is_retried() {
    let (_clock, store, janitor) = setup(recompressing(5));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 7))
        .expect("put");
    store
        .put(&ns("n"), &digest(2), &zstd_frame(2, 3, 7))
        .expect("put");
    let worker = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    let level = |id| level_of(&store.entry(&ns("n"), &digest(id)).expect("entry").bytes);
    let held = store
        .lock(LockTarget::Entry(&ns("n"), &digest(1)), false)
        .expect("lock")
        .expect("free");
    let held_2 = store
        .lock(LockTarget::Entry(&ns("n"), &digest(2)), false)
        .expect("lock")
        .expect("free");
    for _ in 0..5 {
        worker.record_hit(&digest(1));
        worker.record_hit(&digest(2));
    }
    worker.sync();
    assert_eq!((level(1), level(2)), (3, 3), "locked by another task");
    drop(held);
    // No new use of entry 1: the retry alone recompresses it.
    worker.sync();
    assert_eq!(level(1), 19);
    // Entry 2 stays locked through every retry; a later use brings another attempt.
    worker.sync();
    worker.sync();
    worker.sync();
    assert_eq!(level(2), 3);
    drop(held_2);
    worker.sync();
    assert_eq!(level(2), 3, "retries without a use are bounded");
    worker.record_hit(&digest(2));
    worker.sync();
    assert_eq!(level(2), 19);
    assert_eq!(store.counts().replaced_items, 2);
}

/// Mirrors wasmtime-cache's `test_on_get_recompress_with_mod_file` after a restart: the
/// stats file says "not recompressed yet" until a recompression succeeds, so any later use
/// of any process tries again. An attempt lost at exit is not lost for good.
#[test]
fn an_unsettled_entry_is_retried_after_a_restart() {
    let (clock, store, janitor) = setup(recompressing(5));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 7))
        .expect("put");
    let held = store
        .lock(LockTarget::Entry(&ns("n"), &digest(1)), false)
        .expect("lock")
        .expect("free");
    let first = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    for _ in 0..5 {
        first.record_hit(&digest(1));
    }
    first.stop();
    drop(held);
    let level = || level_of(&store.entry(&ns("n"), &digest(1)).expect("entry").bytes);
    assert_eq!(level(), 3);
    let second = Worker::start(
        Janitor::new(store.clone(), recompressing(5))
            .with_clock(clock.clone())
            .with_codecs(codecs()),
        ns("n"),
    )
    .expect("start");
    second.record_hit(&digest(1));
    second.sync();
    assert_eq!(level(), 19);
}

/// Mirrors wasmtime-cache's `test_on_update_fresh_stats_file`: an update writes a fresh
/// stats file (one use, baseline level), so the uses of the old value do not count for the
/// new one. With a threshold of 256: 255 uses, a rewrite and one use do not recompress.
#[test]
fn a_put_resets_the_use_count() {
    let (_clock, store, janitor) = setup(recompressing(256));
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 7))
        .expect("put");
    let worker = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    let level = || level_of(&store.entry(&ns("n"), &digest(1)).expect("entry").bytes);
    for _ in 0..255 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 8))
        .expect("put");
    worker.record_put(&digest(1));
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(level(), 3, "one use since the rewrite");
    for _ in 0..254 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    assert_eq!(level(), 3, "255 uses since the rewrite");
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(level(), 19);
    // A put of a recompressed entry also unsettles it: its new value is recompressed in
    // turn once it is popular.
    store
        .put(&ns("n"), &digest(1), &zstd_frame(1, 3, 9))
        .expect("put");
    worker.record_put(&digest(1));
    for _ in 0..256 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    assert_eq!(level(), 19);
    assert_eq!(worker.stats().inserts, 2);
}

#[test]
fn hits_beyond_the_table_are_dropped_and_counted() {
    let config = WorkerConfig::new()
        .event_capacity(16)
        .low_priority(false)
        .flush_period(QUIET);
    let (_clock, _store, janitor) = setup(config);
    let worker = Worker::start(janitor, ns("n")).expect("start");
    // 16 distinct digests fit; a dropped hit wakes the worker to drain the table, so how
    // many of the rest fit depends on timing, but every hit is either counted or dropped
    // and counted (the table's own unit test pins the exact overflow).
    for id in 0..100u8 {
        worker.record_hit(&digest(id));
    }
    let s = worker.stats();
    assert_eq!(s.hits + s.dropped_events, 100);
    assert!(s.hits >= 16, "{s:?}");
    worker.sync();
    let s = worker.stats();
    assert_eq!(s.hits + s.dropped_events, 100);
    // Repeats of a waiting entry are never dropped.
    for _ in 0..1000 {
        worker.record_hit(&digest(200));
    }
    let after = worker.stats();
    assert_eq!(after.hits, s.hits + 1000);
    assert_eq!(after.dropped_events, s.dropped_events);
}

#[test]
fn inserts_trigger_a_cleanup_at_most_once_per_interval() {
    let config = WorkerConfig::new()
        .limits(Limits::new(5, BIG))
        .cleanup_interval(Duration::from_secs(3600))
        .low_priority(false)
        .flush_period(QUIET);
    let (clock, store, janitor) = setup(config);
    for id in 0..10u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.sync();
    assert_eq!(worker.stats().cleanups, 0, "no event, no cleanup");
    worker.record_insert();
    worker.sync();
    assert_eq!(worker.stats().cleanups, 1);
    assert_eq!(store.keys().len(), 3);
    for id in 10..20u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    worker.record_insert();
    worker.sync();
    assert_eq!(worker.stats().cleanups, 1, "within the interval");
    clock.advance(Duration::from_secs(3600));
    // The insert is remembered: the cleanup runs once the interval has passed.
    worker.sync();
    assert_eq!(worker.stats().cleanups, 2);
    assert_eq!(store.keys().len(), 3);
    let s = worker.stats();
    assert_eq!((s.entries, s.inserts, s.evictions), (3, 2, 17));
}

#[test]
fn a_read_only_workload_over_its_limit_is_brought_under_it() {
    let config = WorkerConfig::new()
        .limits(Limits::new(5, BIG))
        .low_priority(false)
        .flush_period(QUIET);
    let (clock, store, janitor) = setup(config);
    for id in 0..10u8 {
        let t = now() - Duration::from_secs(u64::from(100 - id));
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(t), Some(t));
    }
    let worker = Worker::start(janitor, ns("n")).expect("start");
    // Only hits, of the oldest entries: they become the newest and survive.
    clock.advance(Duration::from_secs(10));
    for id in [0u8, 1] {
        worker.record_hit(&digest(id));
    }
    worker.sync();
    let left: Vec<u8> = store.keys().iter().map(|(_, d)| d.as_bytes()[0]).collect();
    assert_eq!(left, [0, 1, 9]);
    assert_eq!(worker.stats().cleanups, 1);
}

#[test]
fn hits_under_the_limit_do_not_schedule_cleanups() {
    let config = WorkerConfig::new()
        .limits(Limits::new(5, BIG))
        .cleanup_interval(Duration::from_secs(60))
        .low_priority(false)
        .flush_period(QUIET);
    let (clock, store, janitor) = setup(config);
    store.put_with_times(&ns("n"), &digest(1), &[0; 10], Some(now()), Some(now()));
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_hit(&digest(1));
    worker.sync();
    // The state was unknown: the first hit checks, and learns it is under the limits.
    assert_eq!(worker.stats().cleanups, 1);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(120));
        worker.record_hit(&digest(1));
        worker.sync();
    }
    assert_eq!(worker.stats().cleanups, 1);
    // An insert does.
    worker.record_insert();
    worker.sync();
    assert_eq!(worker.stats().cleanups, 2);
}

#[test]
fn one_process_cleaning_spares_the_others_for_the_interval() {
    let config = WorkerConfig::new()
        .limits(Limits::new(5, BIG))
        .cleanup_interval(Duration::from_secs(3600))
        .low_priority(false)
        .flush_period(QUIET);
    let (clock, store, janitor) = setup(config.clone());
    for id in 0..10u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    let a = Worker::start(janitor, ns("n")).expect("start");
    let b = Worker::start(
        Janitor::new(store.clone(), config).with_clock(clock.clone()),
        ns("n"),
    )
    .expect("start");
    a.record_insert();
    a.sync();
    b.record_insert();
    b.sync();
    assert_eq!((a.stats().cleanups, b.stats().cleanups), (1, 0));
    clock.advance(Duration::from_secs(3600));
    b.sync();
    assert_eq!(b.stats().cleanups, 1, "b's insert was remembered");
}

#[test]
fn misses_and_corrupt_entries_are_counted_and_stop_is_final() {
    let (_clock, _store, janitor) =
        setup(WorkerConfig::new().low_priority(false).flush_period(QUIET));
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_miss();
    worker.record_miss();
    worker.record_corrupt();
    let s = worker.stats();
    assert_eq!((s.misses, s.corrupt), (2, 1));
    assert!(worker.is_running());
    worker.stop();
    assert!(!worker.is_running());
    // Neither blocks nor panics once stopped.
    worker.sync();
    worker.record_hit(&digest(1));
    worker.stop();
}
