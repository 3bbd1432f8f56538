//! The adaptive format: cold passes, hot conversions, the budget, and the worker that
//! runs them, on the in-memory store and a `ManualClock`.

use std::sync::Arc;
use std::time::Duration;

use hoard_codec::{Lz4, Zstd};
use hoard_core::frame::{self, Frame};
use hoard_core::{CodecId, HasherId, Housekeeping, Key, LockTarget, Store};
use hoard_evict::{Adaptive, Codecs, Janitor, Limits, Recompressed, Worker, WorkerConfig};
use hoard_testkit::InMemory;

use crate::ops::meddling;
use crate::{digest, now, ns, setup};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

fn value(id: u8) -> Vec<u8> {
    hoard_testkit::artifact(20_000, u64::from(id))
}

fn lz4_frame(id: u8) -> Vec<u8> {
    frame::encode(&Key::new(HasherId::Sha256, digest(id)), &Lz4, &value(id), 5).expect("encode")
}

fn codecs() -> Codecs {
    Codecs::new().adaptive(Arc::new(Lz4), Arc::new(Zstd::new(19).expect("level")))
}

/// Adaptive with a generous budget (a size limit of 1 GiB, 20%).
fn config(policy: Adaptive) -> WorkerConfig {
    WorkerConfig::new()
        .limits(Limits::new(1000, 1 << 30))
        .low_priority(false)
        .flush_period(HOUR)
        .adaptive(policy)
}

/// The codec and level an entry is stored with.
fn format(store: &InMemory, id: u8) -> (CodecId, i32) {
    let bytes = store.entry(&ns("n"), &digest(id)).expect("entry").bytes;
    let frame = Frame::parse(&bytes).expect("valid frame");
    (frame.header().codec, frame.header().level)
}

const FAST: (CodecId, i32) = (CodecId::Lz4, 0);
const COLD: (CodecId, i32) = (CodecId::Zstd, 19);

/// Puts entry `id` in the fast format, last used `ago` before now.
fn put_used(store: &InMemory, id: u8, ago: Duration) {
    let t = now() - ago;
    store.put_with_times(&ns("n"), &digest(id), &lz4_frame(id), Some(t), Some(t));
}

fn read_back(store: &InMemory, id: u8) -> Vec<u8> {
    let bytes = store.entry(&ns("n"), &digest(id)).expect("entry").bytes;
    let frame = Frame::parse(&bytes).expect("valid frame");
    let codec: &dyn hoard_core::Codec = match frame.header().codec {
        CodecId::Lz4 => &Lz4,
        _ => &Zstd::new(3).expect("level"),
    };
    frame::decode_payload(frame.header(), frame.payload(), codec).expect("decodes")
}

/// A size limit whose 10% hold one and a half fast entries, and that budget.
fn room_for_one_and_a_half() -> (u64, u64) {
    let fast = lz4_frame(1).len() as u64;
    let budget = fast * 3 / 2;
    (budget * 10, budget)
}

#[test]
fn idle_entries_are_made_cold_and_recent_ones_stay_fast() {
    let (_clock, store, janitor) = setup(config(Adaptive::new().cold_after(HOUR)));
    let janitor = janitor.with_codecs(codecs());
    put_used(&store, 1, 2 * HOUR);
    put_used(&store, 2, HOUR);
    put_used(&store, 3, HOUR - Duration::from_secs(1));
    let r = janitor.adapt(&ns("n")).expect("pass").expect("lock free");
    assert_eq!((r.made_cold, r.skipped, r.corrupt), (2, 0, 0), "{r:?}");
    assert!(r.bytes_after < r.bytes_before, "{r:?}");
    assert_eq!(
        (format(&store, 1), format(&store, 2), format(&store, 3)),
        (COLD, COLD, FAST),
        "an hour without use, that hour included, is cold"
    );
    for id in 1..=3 {
        assert_eq!(read_back(&store, id), value(id));
    }
    // The creation time is kept: a cold entry is the same entry.
    let bytes = store.entry(&ns("n"), &digest(1)).expect("entry").bytes;
    assert_eq!(
        Frame::parse(&bytes)
            .expect("valid")
            .header()
            .created_unix_ms,
        5
    );
    // The next pass knows the cold entries by their versions: it reads none of them.
    let gets = store.counts().gets;
    let r = janitor.adapt(&ns("n")).expect("pass").expect("lock free");
    assert_eq!((r.made_cold, r.skipped), (0, 0), "{r:?}");
    assert_eq!(store.counts().gets, gets);
    assert_eq!(
        r.fast_bytes,
        store
            .entry(&ns("n"), &digest(3))
            .expect("entry")
            .bytes
            .len() as u64
    );
}

#[test]
fn a_pass_keeps_the_fast_entries_within_their_budget() {
    // A budget of 10% of the size limit: room for one and a half fast entries.
    let (limit, budget) = room_for_one_and_a_half();
    let policy = Adaptive::new().cold_after(HOUR).hot_budget_percent(10);
    let (_clock, store, janitor) = setup(config(policy).limits(Limits::new(1000, limit)));
    let janitor = janitor.with_codecs(codecs());
    for id in 1..=3 {
        put_used(&store, id, Duration::from_secs(u64::from(10 - id)));
    }
    let r = janitor.adapt(&ns("n")).expect("pass").expect("lock free");
    assert_eq!(r.budget, budget);
    // Recent, but over the budget: the least recently used go cold until it holds.
    assert_eq!(r.made_cold, 2, "{r:?}");
    assert_eq!(
        (format(&store, 1), format(&store, 2), format(&store, 3)),
        (COLD, COLD, FAST)
    );
    assert!(r.fast_bytes <= r.budget, "{r:?}");
}

#[test]
fn a_cold_entry_used_enough_is_made_hot_within_the_budget() {
    let policy = Adaptive::new().cold_after(HOUR).hot_uses(3).period(MINUTE);
    let (clock, store, janitor) = setup(config(policy));
    put_used(&store, 1, 2 * HOUR);
    put_used(&store, 2, 2 * HOUR);
    let worker = Worker::start(janitor.with_codecs(codecs()), ns("n")).expect("start");
    // Not in the worker's first period.
    worker.sync();
    assert_eq!(format(&store, 1), FAST);
    clock.advance(MINUTE);
    worker.sync();
    assert_eq!((format(&store, 1), format(&store, 2)), (COLD, COLD));
    for _ in 0..2 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    assert_eq!(format(&store, 1), COLD, "two uses are not hot");
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(
        format(&store, 1),
        FAST,
        "three uses since it was made cold are"
    );
    assert_eq!(read_back(&store, 1), value(1));
    // More uses find it fast: settled, not read again.
    let gets = store.counts().gets;
    for _ in 0..10 {
        worker.record_hit(&digest(1));
    }
    worker.sync();
    assert_eq!(store.counts().gets, gets);
    // Idle again: cold again, and its count starts over (the old uses do not make it hot
    // at its next one).
    clock.advance(2 * HOUR);
    worker.sync();
    assert_eq!(format(&store, 1), COLD);
    worker.sync();
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(
        format(&store, 1),
        COLD,
        "one use since it was made cold again"
    );
    worker.record_hit(&digest(1));
    worker.record_hit(&digest(1));
    worker.sync();
    assert_eq!(format(&store, 1), FAST);
    assert_eq!(format(&store, 2), COLD, "never used");
}

#[test]
fn no_entry_is_made_hot_beyond_the_budget() {
    let (limit, _) = room_for_one_and_a_half();
    let policy = Adaptive::new()
        .cold_after(HOUR)
        .hot_uses(1)
        .hot_budget_percent(10);
    let (_clock, store, janitor) = setup(config(policy).limits(Limits::new(1000, limit)));
    let janitor = janitor.with_codecs(codecs());
    put_used(&store, 1, 2 * HOUR);
    put_used(&store, 2, 2 * HOUR);
    assert_eq!(
        janitor.make_hot(&ns("n"), &digest(1)).expect("hot"),
        Recompressed::Busy,
        "before any pass the fast entries' size is not known"
    );
    assert_eq!(
        janitor
            .adapt(&ns("n"))
            .expect("pass")
            .expect("free")
            .made_cold,
        2
    );
    assert!(matches!(
        janitor.make_hot(&ns("n"), &digest(1)).expect("hot"),
        Recompressed::Done { .. }
    ));
    assert_eq!(
        janitor.make_hot(&ns("n"), &digest(2)).expect("hot"),
        Recompressed::Busy,
        "no room left"
    );
    assert_eq!((format(&store, 1), format(&store, 2)), (FAST, COLD));
    assert_eq!(
        janitor.make_hot(&ns("n"), &digest(1)).expect("hot"),
        Recompressed::Skipped,
        "already fast"
    );
}

#[test]
fn a_conversion_skips_a_locked_entry_and_never_rolls_back_a_newer_put() {
    let (_clock, store, janitor) = setup(config(Adaptive::new().cold_after(HOUR)));
    put_used(&store, 1, 2 * HOUR);
    put_used(&store, 2, 2 * HOUR);
    let newer = lz4_frame(2);
    let newer = {
        // The same key, another value: what a put made while the pass encodes.
        let mut v = value(2);
        v[0] ^= 1;
        let f = frame::encode(&Key::new(HasherId::Sha256, digest(2)), &Lz4, &v, 9).expect("encode");
        assert_ne!(f, newer);
        f
    };
    let (s, b) = (store.clone(), newer.clone());
    let cold = meddling(19, move || {
        s.put(&ns("n"), &digest(2), &b).expect("the newer put");
    });
    let janitor = janitor.with_codecs(Codecs::new().adaptive(Arc::new(Lz4), Arc::new(cold)));
    let held = store
        .lock(LockTarget::Entry(&ns("n"), &digest(1)), false)
        .expect("lock")
        .expect("free");
    let r = janitor.adapt(&ns("n")).expect("pass").expect("free");
    assert_eq!((r.made_cold, r.skipped), (0, 2), "{r:?}");
    assert_eq!(format(&store, 1), FAST, "locked by another process");
    assert!(
        store.entry(&ns("n"), &digest(2)).expect("entry").bytes == newer,
        "the newer put was rolled back"
    );
    drop(held);
    // Both are idle still (the newer put is dated now, so only entry 1 is).
    let janitor = Janitor::new(store.clone(), config(Adaptive::new().cold_after(HOUR)))
        .with_clock(Arc::new(hoard_evict::ManualClock::new(now())))
        .with_codecs(codecs());
    let r = janitor.adapt(&ns("n")).expect("pass").expect("free");
    assert_eq!(r.made_cold, 1, "{r:?}");
    assert_eq!((format(&store, 1), format(&store, 2)), (COLD, FAST));
}

#[test]
fn one_pass_at_a_time() {
    let (_clock, store, janitor) = setup(config(Adaptive::new()));
    let janitor = janitor.with_codecs(codecs());
    let held = store
        .lock(LockTarget::Named(&crate::state("adaptive")), false)
        .expect("lock")
        .expect("free");
    assert_eq!(janitor.adapt(&ns("n")).expect("pass"), None);
    drop(held);
    assert!(janitor.adapt(&ns("n")).expect("pass").is_some());
}

#[test]
fn an_authenticated_cache_makes_cold_only_what_it_signed_and_re_signs_it() {
    use hoard_core::frame::{FrameOptions, MacKeys};
    let keys = MacKeys::new([[0x24; 32]]).expect("a key");
    let signed = FrameOptions::new().with_mac_keys(keys.clone());
    let (_clock, store, janitor) = setup(config(Adaptive::new().cold_after(HOUR)));
    let janitor = janitor.with_codecs(codecs().mac_keys(keys.clone()));
    let t = now() - 2 * HOUR;
    let signed_frame = frame::encode_with(
        &Key::new(HasherId::Sha256, digest(1)),
        &Lz4,
        &value(1),
        5,
        &signed,
    )
    .expect("encode");
    store.put_with_times(&ns("n"), &digest(1), &signed_frame, Some(t), Some(t));
    // Unsigned (a writer without the key): idle too, but never rewritten.
    store.put_with_times(&ns("n"), &digest(2), &lz4_frame(2), Some(t), Some(t));
    let r = janitor.adapt(&ns("n")).expect("pass").expect("lock free");
    assert_eq!(r.made_cold, 1, "{r:?}");
    assert_eq!((format(&store, 1), format(&store, 2)), (COLD, FAST));
    assert_eq!(
        store.entry(&ns("n"), &digest(2)).expect("entry").bytes,
        lz4_frame(2)
    );
    let cold = store.entry(&ns("n"), &digest(1)).expect("entry").bytes;
    let header = Frame::parse(&cold).expect("valid").header().clone();
    assert_eq!(header.mac.map(|m| m.key_id), Some(keys.signing_key_id()));
    let (head, payload) = cold.split_at(header.payload_offset);
    let parsed = Frame::parse(&cold).expect("valid");
    frame::authenticate(parsed.header(), head, payload, &keys).expect("re-signed");
    assert_eq!(read_back(&store, 1), value(1));
}
