//! The lifetime counters shared by every process: merged by workers and explicit
//! operations, read with `Janitor::shared_stats`, zeroed with `Janitor::zero_stats`.

use std::sync::Arc;
use std::time::Duration;

use hoard_codec::Zstd;
use hoard_core::{Housekeeping, LockTarget, StateName, Store};
use hoard_evict::{Codecs, Janitor, Limits, SharedStats, Worker, WorkerConfig};
use hoard_testkit::memory::Op;

use crate::ops::zstd_frame;
use crate::{digest, now, ns, setup, state};

const BIG: u64 = 1 << 40;

/// Rounds run only on `sync` and `stop`: the thread's own wake-up is an hour away.
fn quiet() -> WorkerConfig {
    WorkerConfig::new()
        .low_priority(false)
        .flush_period(Duration::from_secs(3600))
        .limits(Limits::new(1000, BIG))
}

fn shared(janitor: &Janitor) -> SharedStats {
    janitor
        .shared_stats()
        .expect("readable")
        .expect("counters exist")
}

/// hits, misses, inserts, evictions, corrupt, cleanups, errors.
fn main_counts(s: &SharedStats) -> [u64; 7] {
    [
        s.hits,
        s.misses,
        s.inserts,
        s.evictions,
        s.corrupt,
        s.cleanups,
        s.errors,
    ]
}

#[test]
fn two_processes_add_up_and_nothing_is_counted_twice() {
    let (clock, store, janitor) = setup(quiet());
    for id in 0..3u8 {
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(now()), Some(now()));
    }
    assert_eq!(janitor.shared_stats().expect("readable"), None, "none yet");
    let a = Worker::start(janitor, ns("n")).expect("start");
    let b = Worker::start(
        Janitor::new(store.clone(), quiet()).with_clock(clock.clone()),
        ns("n"),
    )
    .expect("start");
    for _ in 0..5 {
        a.record_hit(&digest(1));
    }
    a.record_hit(&digest(2));
    a.record_miss();
    a.record_insert();
    b.record_hit(&digest(1));
    b.record_miss();
    b.record_miss();
    b.record_corrupt();
    a.sync();
    b.sync();
    let s = shared(a.janitor());
    assert_eq!(
        (s.hits, s.misses, s.inserts, s.corrupt),
        (7, 3, 1, 1),
        "{s:?}"
    );
    assert_eq!(s.since, now(), "created by the first merge");
    // a's insert ran a cleanup (under the limits: nothing evicted); it is counted too.
    assert_eq!((s.cleanups, s.evictions), (1, 0), "{s:?}");

    // Merging again with nothing new adds nothing and writes nothing.
    let writes = store.counts().state_writes;
    a.sync();
    b.sync();
    assert_eq!(shared(a.janitor()), s);
    assert_eq!(store.counts().state_writes, writes);

    // Stopping merges what is left; the totals outlive both workers.
    clock.advance(Duration::from_secs(90));
    a.record_miss();
    b.record_hit(&digest(2));
    a.stop();
    drop(b);
    let reader = Janitor::new(store.clone(), quiet()).with_clock(clock.clone());
    let s = shared(&reader);
    assert_eq!((s.hits, s.misses), (8, 4), "{s:?}");
    assert_eq!(s.since, now());
    assert_eq!(s.updated, now() + Duration::from_secs(90));
}

#[test]
fn concurrent_merges_lose_nothing() {
    let (clock, store, janitor) = setup(quiet());
    drop(janitor);
    let workers: Vec<Worker> = (0..4)
        .map(|_| {
            Worker::start(
                Janitor::new(store.clone(), quiet()).with_clock(clock.clone()),
                ns("n"),
            )
            .expect("start")
        })
        .collect();
    std::thread::scope(|scope| {
        for w in &workers {
            scope.spawn(move || {
                for i in 0..500u32 {
                    w.record_miss();
                    if i % 50 == 0 {
                        w.sync();
                    }
                }
            });
        }
    });
    drop(workers);
    let reader = Janitor::new(store.clone(), quiet()).with_clock(clock);
    assert_eq!(shared(&reader).misses, 2000);
}

#[test]
fn explicit_operations_merge_their_counts_when_they_end() {
    let (clock, store, janitor) = setup(quiet());
    let janitor =
        janitor.with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    for id in 0..10u8 {
        let t = now() - Duration::from_secs(u64::from(100 - id));
        store.put_with_times(&ns("n"), &digest(id), &[0; 10], Some(t), Some(t));
    }
    // Ten entries, limit five: down to three (70%).
    let r = janitor.cleanup_with(Limits::new(5, BIG)).expect("cleanup");
    assert_eq!(r.evicted, 7);
    let s = shared(&janitor);
    assert_eq!((s.evictions, s.cleanups), (7, 1), "{s:?}");

    clock.advance(Duration::from_secs(3600));
    let r = janitor
        .evict_older_than(Duration::from_secs(1800))
        .expect("evict");
    assert_eq!(r.evicted, 3);
    assert_eq!(shared(&janitor).evictions, 10);

    store.put_with_times(
        &ns("gone"),
        &digest(0x30),
        &[0; 10],
        Some(now()),
        Some(now()),
    );
    janitor.evict_namespace(&ns("gone")).expect("evict");
    assert_eq!(shared(&janitor).evictions, 11);

    store
        .put(&ns("n"), &digest(0x40), &zstd_frame(0x40, 3, 1000))
        .expect("put");
    store
        .put(&ns("n"), &digest(0x41), b"not a frame")
        .expect("put");
    let r = janitor
        .recompress_all(&Zstd::new(19).expect("level"), None)
        .expect("recompress");
    assert_eq!((r.recompressed, r.corrupt), (1, 1), "{r:?}");
    let s = shared(&janitor);
    assert_eq!((s.recompressions, s.corrupt), (1, 1), "{s:?}");
    assert_eq!(main_counts(&s), [0, 0, 0, 11, 1, 1, 0]);
}

#[test]
fn damaged_counters_are_absent_and_restart_from_zero() {
    let (clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.janitor().cleanup_now().expect("cleanup");
    let valid = store.state(&state("counters")).expect("written");
    let garbage: [&[u8]; 5] = [
        b"",
        b"hoardst1 but nothing after it",
        &valid[..valid.len() - 1],
        // Another sidecar's blob in the counters' place.
        &store
            .state(&state("cleanup-marker"))
            .expect("a cleanup ran"),
        // Larger than any counters blob: not read, not allocated for.
        &vec![7u8; 1 << 20],
    ];
    for (i, bad) in garbage.iter().enumerate() {
        store.set_state(&state("counters"), bad);
        assert_eq!(
            worker.janitor().shared_stats().expect("readable"),
            None,
            "garbage {i} read as counters"
        );
        // The next merge starts over from this process's new counts, since now.
        clock.advance(Duration::from_secs(1));
        worker.record_miss();
        worker.sync();
        let s = shared(worker.janitor());
        assert_eq!(s.misses, 1, "garbage {i}: {s:?}");
        assert_eq!(s.since, clock_now(&clock), "garbage {i}");
    }
    // A flipped bit anywhere is caught by the checksum.
    let valid = store.state(&state("counters")).expect("written");
    for bit in 0..valid.len() * 8 {
        let mut damaged = valid.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        store.set_state(&state("counters"), &damaged);
        assert_eq!(
            worker.janitor().shared_stats().expect("readable"),
            None,
            "bit {bit}"
        );
    }
}

fn clock_now(clock: &hoard_evict::ManualClock) -> std::time::SystemTime {
    use hoard_evict::Clock;
    clock.now()
}

#[test]
fn a_failed_merge_is_retried_and_nothing_is_lost() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_miss();
    worker.record_miss();
    store.fail(Op::WriteState, true);
    worker.sync();
    assert_eq!(worker.janitor().shared_stats().expect("readable"), None);
    assert!(worker.stats().errors >= 1, "the failure is counted");
    assert!(worker.janitor().merge_stats().is_err());
    store.fail(Op::WriteState, false);
    worker.record_miss();
    worker.sync();
    let s = shared(worker.janitor());
    assert_eq!(s.misses, 3);
    assert_eq!(
        s.errors,
        worker.stats().errors,
        "the failures themselves too"
    );
}

#[test]
fn a_merge_waits_for_the_counters_lock_and_sync_sees_it_done() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    let name = StateName::new("counters").expect("valid");
    let held = store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    worker.record_miss();
    std::thread::scope(|scope| {
        let syncing = scope.spawn(|| {
            worker.sync();
            shared(worker.janitor()).misses
        });
        // The merge cannot have happened while the lock is held.
        assert_eq!(worker.janitor().shared_stats().expect("readable"), None);
        drop(held);
        assert_eq!(syncing.join().expect("no panic"), 1);
    });
}

#[test]
fn zeroing_restarts_the_totals_and_returns_what_they_held() {
    let (clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_hit(&digest(1));
    worker.record_miss();
    worker.sync();
    let held = shared(worker.janitor());
    // Counted but not merged yet when the counters are zeroed: dropped with them.
    worker.record_miss();
    clock.advance(Duration::from_secs(600));
    let before = worker.janitor().zero_stats().expect("zeroed");
    assert_eq!(before, Some(held.clone()));
    assert_eq!((held.hits, held.misses), (1, 1), "{held:?}");
    let zeroed = shared(worker.janitor());
    assert_eq!(zeroed.since, now() + Duration::from_secs(600));
    assert_eq!(zeroed.updated, zeroed.since);
    assert_eq!(main_counts(&zeroed), [0; 7]);
    worker.sync();
    assert_eq!(shared(worker.janitor()), zeroed, "nothing new since");
    worker.record_insert();
    worker.stop();
    let reader = Janitor::new(store.clone(), quiet()).with_clock(clock.clone());
    let s = shared(&reader);
    assert_eq!((s.hits, s.misses, s.inserts), (0, 0, 1), "{s:?}");
    assert_eq!(s.since, now() + Duration::from_secs(600));
    // Zeroing works with no counters at all, and from a janitor of its own.
    let (_clock, _store, fresh) = setup(quiet());
    assert_eq!(fresh.zero_stats().expect("zeroed"), None);
    let s = fresh.shared_stats().expect("readable").expect("created");
    assert_eq!(main_counts(&s), [0; 7]);
}

#[test]
fn the_process_counters_are_left_alone_by_merging() {
    let (_clock, store, janitor) = setup(quiet());
    let worker = Worker::start(janitor, ns("n")).expect("start");
    worker.record_miss();
    worker.sync();
    let other = Janitor::new(store.clone(), quiet());
    other.zero_stats().expect("zeroed");
    worker.record_miss();
    worker.sync();
    // Per process: everything it counted; shared: only what came after the zeroing.
    assert_eq!(worker.stats().misses, 2);
    assert_eq!(shared(worker.janitor()).misses, 1);
}

/// Counters of another layer, as the facade's remote tier reports them.
#[derive(Debug, Default)]
struct Layer(std::sync::Mutex<Vec<(String, u64)>>);

impl hoard_evict::CounterSource for Layer {
    fn counters(&self) -> Vec<(String, u64)> {
        self.0.lock().expect("unpoisoned").clone()
    }
}

#[test]
fn named_counters_of_a_source_are_merged_saturated_and_zeroed_with_the_rest() {
    let (clock, store, _) = setup(quiet());
    let layer = Arc::new(Layer::default());
    let janitor = |source: &Arc<Layer>| {
        Janitor::new(store.clone(), quiet())
            .with_clock(clock.clone())
            .with_counter_source(Arc::clone(source) as Arc<dyn hoard_evict::CounterSource>)
    };
    let a = janitor(&layer);
    *layer.0.lock().expect("unpoisoned") = vec![("tier.hits".into(), 3), ("Not Valid".into(), 9)];
    a.merge_stats().expect("merged");
    // Only the gain since the last merge is added.
    *layer.0.lock().expect("unpoisoned") = vec![("tier.hits".into(), 5)];
    a.merge_stats().expect("merged");
    a.merge_stats().expect("nothing new");
    let s = shared(&a);
    assert_eq!(s.named.get("tier.hits"), Some(&5));
    assert!(!s.named.contains_key("Not Valid"), "{s:?}");
    assert_eq!(
        hoard_evict::read_named_counters(store.as_ref()).expect("readable"),
        Some(s.named.clone())
    );

    // Another process's source adds up, saturating rather than wrapping.
    let other = Arc::new(Layer::default());
    *other.0.lock().expect("unpoisoned") = vec![("tier.hits".into(), u64::MAX)];
    janitor(&other).merge_stats().expect("merged");
    assert_eq!(shared(&a).named.get("tier.hits"), Some(&u64::MAX));

    // Zeroing only a prefix leaves the rest; zeroing everything clears them too.
    *layer.0.lock().expect("unpoisoned") = vec![("tier.hits".into(), 5), ("other.n".into(), 1)];
    a.merge_stats().expect("merged");
    let zeroed =
        hoard_evict::zero_named_counters(store.as_ref(), &["tier."], true).expect("zeroed");
    assert_eq!(zeroed.get("tier.hits"), Some(&u64::MAX));
    assert_eq!(shared(&a).named.keys().collect::<Vec<_>>(), ["other.n"]);
    let before = a.zero_stats().expect("zeroed").expect("had counters");
    assert_eq!(before.named.get("other.n"), Some(&1));
    assert!(shared(&a).named.is_empty());
}
