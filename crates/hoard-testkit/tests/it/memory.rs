//! [`InMemory`]: both conformance suites, and what it offers tests beyond the traits.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, SystemTime};

use hoard_core::{
    Bucket, Digest, ErrorKind, Housekeeping, Item, ItemKind, LockTarget, Namespace, StateName,
    Store, StoreExt,
};
use hoard_testkit::memory::Op;
use hoard_testkit::{InMemory, housekeeping, store};

fn ns(name: &str) -> Namespace {
    Namespace::new(name).expect("valid namespace")
}

fn digest(first: u8) -> Digest {
    let mut b = [0x5a; 32];
    b[0] = first;
    Digest::from_bytes(b)
}

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn scan(s: &InMemory, bucket: &Bucket) -> (Option<u128>, Vec<Item>) {
    let mut items = Vec::new();
    let stamp = s
        .scan_bucket(bucket, &mut |i| {
            items.push(i);
            ControlFlow::Continue(())
        })
        .expect("scan");
    (stamp, items)
}

fn buckets(s: &InMemory) -> Vec<(String, Option<u128>)> {
    let mut out = Vec::new();
    s.buckets(&mut |info| {
        out.push((info.bucket.to_string(), info.stamp));
        ControlFlow::Continue(())
    })
    .expect("buckets");
    out
}

#[test]
fn it_keeps_the_store_contract() {
    store::run_all(InMemory::new);
}

#[test]
fn it_keeps_the_housekeeping_contract() {
    housekeeping::run_all(InMemory::new);
}

#[test]
fn it_keeps_both_contracts_without_stamps_and_on_a_frozen_clock() {
    store::run_all(|| InMemory::new().with_clock(|| t(1)).without_stamps());
    housekeeping::run_all(|| InMemory::new().with_clock(|| t(1)).without_stamps());
}

#[test]
fn puts_take_their_times_from_the_injected_clock() {
    let now = Arc::new(AtomicU64::new(1000));
    let clock = Arc::clone(&now);
    let s = InMemory::new().with_clock(move || t(clock.load(Ordering::Relaxed)));
    s.put(&ns("n"), &digest(1), b"one").expect("put");
    now.store(2000, Ordering::Relaxed);
    s.put(&ns("n"), &digest(2), b"two").expect("put");
    let e = s.entry(&ns("n"), &digest(1)).expect("stored");
    assert_eq!((e.modified, e.accessed), (Some(t(1000)), Some(t(1000))));
    assert_eq!(e.bytes, b"one");
    let listed = s.entries().expect("listing");
    assert_eq!(listed[1].modified, Some(t(2000)));
}

#[test]
fn buckets_are_the_first_hex_digit_visited_in_descending_order() {
    let s = InMemory::new();
    for first in [0x00, 0x0f, 0x10, 0xf3] {
        s.put(&ns("a"), &digest(first), b"x").expect("put");
    }
    s.put(&ns("b"), &digest(0x42), b"x").expect("put");
    let names: Vec<String> = buckets(&s).into_iter().map(|(b, _)| b).collect();
    assert_eq!(names, ["b/4", "a/f", "a/1", "a/0"]);
    assert_eq!(InMemory::bucket_of(&ns("a"), &digest(0x0f)).name(), "0");
    let (_, items) = scan(&s, &InMemory::bucket_of(&ns("a"), &digest(0)));
    let kinds: Vec<ItemKind> = items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [ItemKind::Entry(digest(0x00)), ItemKind::Entry(digest(0x0f))]
    );
    // A bucket name of another shape holds nothing here.
    let odd = Bucket::new(ns("a"), "ff").expect("valid name");
    assert!(scan(&s, &odd).1.is_empty());
}

#[test]
fn planted_entries_and_temps_keep_their_times_and_change_stamps() {
    let s = InMemory::new();
    let (space, d) = (ns("n"), digest(0x21));
    let bucket = InMemory::bucket_of(&space, &d);
    s.put_with_times(&space, &d, &[0; 10], Some(t(5)), None);
    let (first, _) = scan(&s, &bucket);
    s.put_temp(&space, &d, 7, b"partial", t(9));
    let (second, items) = scan(&s, &bucket);
    assert_ne!(first, second, "a temp is an item of the bucket");
    assert_eq!(s.temp_count(), 1);
    let entry = &items[0];
    assert_eq!(
        (entry.kind, entry.stored_len, entry.modified, entry.accessed),
        (ItemKind::Entry(d), 10, Some(t(5)), None)
    );
    let temp = &items[1];
    assert_eq!(
        (temp.kind, temp.stored_len, temp.modified),
        (
            ItemKind::Temp {
                digest: d,
                nonce: 7
            },
            7,
            Some(t(9))
        )
    );
    // A temp is not an entry.
    assert_eq!(s.keys(), [(space.clone(), d)]);
    assert!(s.remove_item(&bucket, temp).expect("remove"));
    assert_eq!(s.temp_count(), 0);
    assert_eq!(s.counts().removed_items, 1);
    // Touching sets the last use, and changes neither version nor stamp.
    let (before, _) = scan(&s, &bucket);
    assert_eq!(s.touch(&space, &[(d, t(77))]).expect("touch"), 1);
    let (after, items) = scan(&s, &bucket);
    assert_eq!(before, after);
    assert_eq!(items[0].accessed, Some(t(77)));
    assert_eq!(items[0].version, entry.version);
    // An item named under another bucket is not removed.
    let elsewhere = InMemory::bucket_of(&space, &digest(0x00));
    assert!(!s.remove_item(&elsewhere, &items[0]).expect("remove"));
    assert!(s.entry(&space, &d).is_some());
}

#[test]
fn a_store_without_stamps_never_vouches() {
    let s = InMemory::new().without_stamps();
    s.put(&ns("n"), &digest(1), b"x").expect("put");
    assert_eq!(buckets(&s), [("n/0".to_owned(), None)]);
    assert_eq!(scan(&s, &InMemory::bucket_of(&ns("n"), &digest(1))).0, None);
}

#[test]
fn counts_record_what_succeeded() {
    let s = InMemory::new();
    let (space, d) = (ns("n"), digest(1));
    let state = StateName::new("s").expect("valid");
    s.put(&space, &d, b"x").expect("put");
    s.get(&space, &d, 10).expect("get");
    s.get(&space, &digest(2), 10).expect("get");
    s.remove(&space, &digest(2)).expect("remove");
    s.touch(&space, &[(d, t(1)), (digest(2), t(1))])
        .expect("touch");
    s.write_state(&state, b"blob").expect("write");
    s.set_state(&state, b"behind its back");
    s.put_with_times(&space, &digest(3), b"y", None, None);
    scan(&s, &InMemory::bucket_of(&space, &d));
    let c = s.counts();
    assert_eq!((c.gets, c.puts, c.removes, c.scans), (2, 1, 1, 1), "{c:?}");
    assert_eq!(
        (c.removed_items, c.touched, c.state_writes),
        (0, 1, 1),
        "{c:?}"
    );
    assert_eq!(s.state(&state).as_deref(), Some(&b"behind its back"[..]));
}

#[test]
fn injected_failures_name_the_operation_and_stop_when_told() {
    let s = InMemory::new();
    let (space, d) = (ns("n"), digest(1));
    let state = StateName::new("s").expect("valid");
    s.put(&space, &d, b"x").expect("put");
    for op in [Op::Put, Op::WriteState, Op::Lock] {
        s.fail(op, true);
    }
    let e = s.put(&space, &d, b"y").expect_err("failing");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.message().contains(&format!("put of n/{d}")), "{e}");
    let e = s.write_state(&state, b"z").expect_err("failing");
    assert!(e.message().contains("state s"), "{e}");
    assert!(s.lock(LockTarget::Named(&state), false).is_err());
    // Other operations still work; nothing failed was counted or stored.
    assert_eq!(
        s.get(&space, &d, 10).expect("get").as_deref(),
        Some(&b"x"[..])
    );
    assert_eq!((s.counts().puts, s.counts().state_writes), (1, 0));
    assert_eq!(s.state(&state), None);
    s.fail(Op::Put, false);
    s.put(&space, &d, b"y").expect("put works again");
    assert!(s.write_state(&state, b"z").is_err(), "still failing");
}

#[test]
fn a_released_lock_wakes_a_waiter_in_another_thread() {
    let s = InMemory::new();
    let name = StateName::new("cleanup").expect("valid");
    let held = s
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let (s, name) = (&s, &name);
        let waiter = scope.spawn(move || {
            let got = s.lock(LockTarget::Named(name), true).expect("lock");
            tx.send(()).expect("the test waits for this");
            got.is_some()
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(20)).is_err(),
            "the waiter got a held lock"
        );
        drop(held);
        assert!(waiter.join().expect("no panic"));
    });
    // An entry lock needs the entry, and dies with its holder.
    let space = ns("n");
    assert!(
        s.lock(LockTarget::Entry(&space, &digest(1)), false)
            .expect("lock")
            .is_none()
    );
    s.put(&space, &digest(1), b"x").expect("put");
    let entry = LockTarget::Entry(&space, &digest(1));
    let held = s.lock(entry, false).expect("lock");
    assert!(held.is_some());
    assert!(s.lock(entry, false).expect("lock").is_none());
    drop(held);
    assert!(s.lock(entry, false).expect("lock").is_some());
}

#[test]
fn replacements_take_the_clock_change_the_stamp_and_are_counted() {
    let s = InMemory::new().with_clock(|| t(50));
    let (space, d) = (ns("n"), digest(0x21));
    let bucket = InMemory::bucket_of(&space, &d);
    s.put_with_times(&space, &d, b"old", Some(t(5)), Some(t(6)));
    let (read_bucket, item, bytes) = s.read_item(&space, &d, 10).expect("read").expect("present");
    assert_eq!((&read_bucket, bytes.as_slice()), (&bucket, &b"old"[..]));
    let (before, _) = scan(&s, &bucket);
    assert!(s.replace_item(&bucket, &item, b"new").expect("replace"));
    let (after, items) = scan(&s, &bucket);
    assert_ne!(before, after);
    assert_eq!(
        (items[0].modified, items[0].accessed, items[0].stored_len),
        (Some(t(50)), Some(t(50)), 3)
    );
    // Not an entry of that bucket, or a temporary object: nothing to replace.
    let elsewhere = InMemory::bucket_of(&space, &digest(0x00));
    assert!(
        !s.replace_item(&elsewhere, &items[0], b"x")
            .expect("replace")
    );
    s.put_temp(&space, &d, 7, b"partial", t(9));
    let (_, items) = scan(&s, &bucket);
    let temp = items
        .iter()
        .find(|i| matches!(i.kind, ItemKind::Temp { .. }))
        .expect("the temp");
    assert!(!s.replace_item(&bucket, temp, b"x").expect("replace"));
    assert_eq!((s.counts().gets, s.counts().replaced_items), (1, 1));
    s.fail(Op::ReplaceItem, true);
    s.fail(Op::ReadItem, true);
    assert!(s.read_item(&space, &d, 10).is_err());
    let e = s
        .replace_item(&bucket, &items[0], b"x")
        .expect_err("failing");
    assert!(e.message().contains("replacement"), "{e}");
    assert_eq!(s.entry(&space, &d).expect("there").bytes, b"new");
}
