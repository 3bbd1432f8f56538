//! The [`Housekeeping`] conformance suite.
//!
//! [`run_all`] runs every check on a fresh store; each check is also a public function. A
//! check panics with a message that starts with `housekeeping contract broken (<clause>)`,
//! naming the clause of the [`Housekeeping`] contract that failed. Checks work in
//! namespaces of their own (`hoard-testkit.hk-<check>`) and state names starting with
//! `hoard-testkit-`.
//!
//! Stamps are only compared when the store vouches for them (`Some`): a store that always
//! reports `None` passes the stamp check, which then says so on standard error.

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{
    Bucket, Digest, ErrorKind, Housekeeping, Item, ItemKind, LockTarget, Namespace, StateName,
};

use crate::store::sample_frame;
use crate::support::digest;

/// Runs every check, each on a fresh store from `make`.
pub fn run_all<S: Housekeeping>(make: impl Fn() -> S) {
    scans_report_every_entry_once(&make());
    scans_stop_when_told(&make());
    remove_item_removes_the_scanned_version(&make());
    remove_item_spares_a_replaced_entry(&make());
    read_item_reports_the_version_read(&make());
    replace_item_replaces_the_version_read(&make());
    replace_item_spares_a_newer_put(&make());
    replace_item_leaves_a_removed_entry_removed(&make());
    touch_sets_the_last_use_time(&make());
    stamps_change_when_items_change(&make());
    named_locks_exclude_each_other(&make());
    entry_locks_exclude_each_other(&make());
    state_round_trips(&make());
    read_state_respects_the_limit(&make());
}

fn ns(name: &str) -> Namespace {
    Namespace::new(&format!("hoard-testkit.hk-{name}")).expect("testkit namespaces are valid")
}

fn state(name: &str) -> StateName {
    StateName::new(&format!("hoard-testkit-{name}")).expect("testkit state names are valid")
}

fn put<S: Housekeeping + ?Sized>(store: &S, clause: &str, ns: &Namespace, d: &Digest, f: &[u8]) {
    if let Err(e) = store.put(ns, d, f) {
        panic!("housekeeping contract broken ({clause}): put of {ns}/{d} failed: {e}");
    }
}

/// Every bucket of `ns` and its items (entries and temporary objects).
fn items_of<S: Housekeeping + ?Sized>(
    store: &S,
    clause: &str,
    space: &Namespace,
) -> BTreeMap<Bucket, Vec<Item>> {
    let mut buckets = Vec::new();
    store
        .buckets(&mut |info| {
            if info.bucket.namespace() == space {
                buckets.push(info.bucket);
            }
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({clause}): buckets failed: {e}"));
    let mut out = BTreeMap::new();
    for bucket in buckets {
        let mut items = Vec::new();
        store
            .scan_bucket(&bucket, &mut |item| {
                items.push(item);
                ControlFlow::Continue(())
            })
            .unwrap_or_else(|e| {
                panic!("housekeeping contract broken ({clause}): scan of {bucket} failed: {e}")
            });
        assert!(
            out.insert(bucket.clone(), items).is_none(),
            "housekeeping contract broken ({clause}): bucket {bucket} was reported twice"
        );
    }
    out
}

/// The scanned entry `d` of `space` and its bucket.
fn find_entry<S: Housekeeping + ?Sized>(
    store: &S,
    clause: &str,
    space: &Namespace,
    d: &Digest,
) -> Option<(Bucket, Item)> {
    items_of(store, clause, space)
        .into_iter()
        .flat_map(|(b, items)| items.into_iter().map(move |i| (b.clone(), i)))
        .find(|(_, i)| i.kind == ItemKind::Entry(*d))
}

/// Buckets and scans report every stored entry exactly once, with its stored length, in a
/// bucket of its namespace; entries of other namespaces are not reported there.
pub fn scans_report_every_entry_once<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "scans";
    let space = ns("scan");
    let other = ns("scan-other");
    let mut want = HashMap::new();
    for i in 0..40u64 {
        let d = digest(10_000 + i);
        let f = sample_frame(&d, (i as usize * 37) % 3000, i);
        put(store, CLAUSE, &space, &d, &f);
        want.insert(d, f.len() as u64);
    }
    put(
        store,
        CLAUSE,
        &other,
        &digest(10_000),
        &sample_frame(&digest(10_000), 5, 0),
    );
    let mut seen = HashMap::new();
    for (bucket, items) in items_of(store, CLAUSE, &space) {
        assert_eq!(bucket.namespace(), &space);
        for item in items {
            if let ItemKind::Entry(d) = item.kind {
                assert!(
                    seen.insert(d, item.stored_len).is_none(),
                    "housekeeping contract broken ({CLAUSE}): entry {space}/{d} was reported twice"
                );
            }
        }
    }
    for (d, len) in &want {
        match seen.get(d) {
            Some(got) => assert_eq!(
                got, len,
                "housekeeping contract broken ({CLAUSE}): entry {space}/{d} reported with {got} \
                 bytes, {len} were stored"
            ),
            None => panic!(
                "housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} was not reported"
            ),
        }
    }
    assert_eq!(
        seen.len(),
        want.len(),
        "housekeeping contract broken ({CLAUSE}): entries never stored in {space} were reported"
    );
}

/// A scan stops when its visitor breaks.
pub fn scans_stop_when_told<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "scans stop when told";
    let space = ns("scan-stop");
    // Enough entries that some bucket holds several, whatever the store's bucketing.
    for i in 0..300u64 {
        let d = digest(20_000 + i);
        put(store, CLAUSE, &space, &d, &sample_frame(&d, 10, i));
    }
    let buckets: Vec<Bucket> = items_of(store, CLAUSE, &space)
        .into_iter()
        .filter(|(_, items)| items.len() > 1)
        .map(|(b, _)| b)
        .collect();
    let Some(bucket) = buckets.first() else {
        eprintln!("note: the store puts every entry in a bucket of its own; nothing to stop");
        return;
    };
    let mut calls = 0;
    store
        .scan_bucket(bucket, &mut |_| {
            calls += 1;
            ControlFlow::Break(())
        })
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({CLAUSE}): scan failed: {e}"));
    assert_eq!(
        calls, 1,
        "housekeeping contract broken ({CLAUSE}): the visitor broke but was called {calls} times"
    );
}

/// `remove_item` of a scanned entry removes it (`true`), after which a get misses and a
/// second removal is `false`.
pub fn remove_item_removes_the_scanned_version<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "conditional removal";
    let space = ns("remove");
    let d = digest(30_000);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 100, 1));
    let Some((bucket, item)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} not scanned");
    };
    let removed = store.remove_item(&bucket, &item).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): remove_item failed: {e}")
    });
    assert!(
        removed,
        "housekeeping contract broken ({CLAUSE}): remove_item of the scanned version returned false"
    );
    assert!(
        matches!(store.get(&space, &d, u64::MAX), Ok(None)),
        "housekeeping contract broken ({CLAUSE}): {space}/{d} is still readable after remove_item"
    );
    let again = store.remove_item(&bucket, &item).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): second remove_item failed: {e}")
    });
    assert!(
        !again,
        "housekeeping contract broken ({CLAUSE}): a second remove_item returned true"
    );
}

/// `remove_item` of a version that was since replaced by a put returns `false` and leaves
/// the newer frame readable.
pub fn remove_item_spares_a_replaced_entry<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "conditional removal spares newer puts";
    let space = ns("replaced");
    let d = digest(31_000);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 100, 1));
    let Some((bucket, old)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} not scanned");
    };
    let newer = sample_frame(&d, 100, 2);
    put(store, CLAUSE, &space, &d, &newer);
    let removed = store.remove_item(&bucket, &old).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): remove_item failed: {e}")
    });
    assert!(
        !removed,
        "housekeeping contract broken ({CLAUSE}): remove_item of a replaced version returned true"
    );
    match store.get(&space, &d, u64::MAX) {
        Ok(Some(got)) => assert!(
            got == newer,
            "housekeeping contract broken ({CLAUSE}): {space}/{d} holds other bytes than the newer put"
        ),
        other => panic!(
            "housekeeping contract broken ({CLAUSE}): the newer put of {space}/{d} is gone: {other:?}"
        ),
    }
}

/// `read_item` of the entry `d` of `space`, which must be there.
fn read_item_of<S: Housekeeping + ?Sized>(
    store: &S,
    clause: &str,
    space: &Namespace,
    d: &Digest,
) -> (Bucket, Item, Vec<u8>) {
    match store.read_item(space, d, u64::MAX) {
        Ok(Some(read)) => read,
        Ok(None) => {
            panic!(
                "housekeeping contract broken ({clause}): read_item of stored {space}/{d} missed"
            )
        }
        Err(e) => panic!("housekeeping contract broken ({clause}): read_item failed: {e}"),
    }
}

fn replace<S: Housekeeping + ?Sized>(
    store: &S,
    clause: &str,
    bucket: &Bucket,
    item: &Item,
    frame: &[u8],
) -> bool {
    store.replace_item(bucket, item, frame).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({clause}): replace_item failed: {e}")
    })
}

/// Asserts that `(space, d)` reads as `want` (`None`: a miss) and that its bucket holds no
/// temporary object: a replacement, done or refused, leaves none behind.
fn assert_holds<S: Housekeeping + ?Sized>(
    store: &S,
    clause: &str,
    space: &Namespace,
    d: &Digest,
    want: Option<&[u8]>,
    what: &str,
) {
    match store.get(space, d, u64::MAX) {
        Ok(got) => assert!(
            got.as_deref() == want,
            "housekeeping contract broken ({clause}): {space}/{d} does not hold {what} \
             (holds {:?} bytes)",
            got.map(|g| g.len())
        ),
        Err(e) => panic!("housekeeping contract broken ({clause}): get of {space}/{d} failed: {e}"),
    }
    let temps: Vec<ItemKind> = items_of(store, clause, space)
        .into_values()
        .flatten()
        .map(|i| i.kind)
        .filter(|k| matches!(k, ItemKind::Temp { .. }))
        .collect();
    assert!(
        temps.is_empty(),
        "housekeeping contract broken ({clause}): temporary objects left behind: {temps:?}"
    );
}

/// `read_item` returns the stored bytes with the entry's bucket and the version a scan
/// reports; a missing entry is `None`; the limit bounds it as it bounds a get.
pub fn read_item_reports_the_version_read<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "versioned reads";
    let space = ns("read-item");
    let (d, missing) = (digest(35_000), digest(35_001));
    let frame = sample_frame(&d, 300, 1);
    put(store, CLAUSE, &space, &d, &frame);
    let (bucket, item, bytes) = read_item_of(store, CLAUSE, &space, &d);
    assert!(
        bytes == frame,
        "housekeeping contract broken ({CLAUSE}): read_item returned other bytes than stored"
    );
    let Some((scanned_bucket, scanned)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} not scanned");
    };
    assert_eq!(
        (&bucket, item.kind, item.stored_len, item.version),
        (
            &scanned_bucket,
            scanned.kind,
            scanned.stored_len,
            scanned.version
        ),
        "housekeeping contract broken ({CLAUSE}): read_item and a scan disagree on {space}/{d}"
    );
    assert!(
        matches!(store.read_item(&space, &missing, u64::MAX), Ok(None)),
        "housekeeping contract broken ({CLAUSE}): read_item of a missing entry is not None"
    );
    match store.read_item(&space, &d, frame.len() as u64 - 1) {
        Err(e) if e.kind() == ErrorKind::TooLarge => {}
        other => panic!(
            "housekeeping contract broken ({CLAUSE}): read_item below the entry's length \
             returned {:?}, expected ErrorKind::TooLarge",
            other.map(|o| o.map(|(_, _, b)| b.len()))
        ),
    }
}

/// `replace_item` of the version read (or scanned) replaces it (`true`): a get returns the
/// new frame, whose version differs; the old item then replaces nothing (`false`).
pub fn replace_item_replaces_the_version_read<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "conditional replacement";
    let space = ns("replace");
    let d = digest(36_000);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 400, 1));
    let (bucket, item, _) = read_item_of(store, CLAUSE, &space, &d);
    let second = sample_frame(&d, 150, 2);
    assert!(
        replace(store, CLAUSE, &bucket, &item, &second),
        "housekeeping contract broken ({CLAUSE}): replace_item of the version read returned false"
    );
    assert_holds(store, CLAUSE, &space, &d, Some(&second), "the replacement");
    let (_, after, _) = read_item_of(store, CLAUSE, &space, &d);
    assert_ne!(
        after.version, item.version,
        "housekeeping contract broken ({CLAUSE}): a replacement kept the entry's version"
    );
    let third = sample_frame(&d, 150, 3);
    assert!(
        !replace(store, CLAUSE, &bucket, &item, &third),
        "housekeeping contract broken ({CLAUSE}): a replaced version was replaced again"
    );
    assert_holds(
        store,
        CLAUSE,
        &space,
        &d,
        Some(&second),
        "the first replacement",
    );
    // A scanned item names a version just as well.
    let Some((bucket, scanned)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): replaced entry {space}/{d} not scanned");
    };
    assert!(
        replace(store, CLAUSE, &bucket, &scanned, &third),
        "housekeeping contract broken ({CLAUSE}): replace_item of the scanned version returned false"
    );
    assert_holds(
        store,
        CLAUSE,
        &space,
        &d,
        Some(&third),
        "the second replacement",
    );
}

/// A put after the read wins: `replace_item` of the version read returns `false` and the
/// newer frame stays readable.
pub fn replace_item_spares_a_newer_put<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "conditional replacement spares newer puts";
    let space = ns("replace-newer");
    let d = digest(37_000);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 400, 1));
    let (bucket, item, _) = read_item_of(store, CLAUSE, &space, &d);
    let newer = sample_frame(&d, 400, 2);
    put(store, CLAUSE, &space, &d, &newer);
    assert!(
        !replace(store, CLAUSE, &bucket, &item, &sample_frame(&d, 100, 3)),
        "housekeeping contract broken ({CLAUSE}): replace_item replaced a newer put"
    );
    assert_holds(store, CLAUSE, &space, &d, Some(&newer), "the newer put");
}

/// An entry removed after the read stays removed: `replace_item` returns `false` and does
/// not bring it back.
pub fn replace_item_leaves_a_removed_entry_removed<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "conditional replacement of a removed entry";
    let space = ns("replace-removed");
    let (a, b) = (digest(38_000), digest(38_001));
    for d in [a, b] {
        put(store, CLAUSE, &space, &d, &sample_frame(&d, 400, 1));
    }
    let (bucket_a, item_a, _) = read_item_of(store, CLAUSE, &space, &a);
    let (bucket_b, item_b, _) = read_item_of(store, CLAUSE, &space, &b);
    let removed = store
        .remove(&space, &a)
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({CLAUSE}): remove failed: {e}"));
    assert!(
        removed,
        "housekeeping contract broken ({CLAUSE}): remove found no entry"
    );
    let removed = store.remove_item(&bucket_b, &item_b).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): remove_item failed: {e}")
    });
    assert!(
        removed,
        "housekeeping contract broken ({CLAUSE}): remove_item of the version read returned false"
    );
    for (d, bucket, item) in [(a, bucket_a, item_a), (b, bucket_b, item_b)] {
        assert!(
            !replace(store, CLAUSE, &bucket, &item, &sample_frame(&d, 100, 2)),
            "housekeeping contract broken ({CLAUSE}): replace_item of a removed entry returned true"
        );
        assert_holds(store, CLAUSE, &space, &d, None, "nothing");
    }
}

/// `touch` sets the last-use time that scans report (to the second), counts only existing
/// entries, and does not change the entry's version.
pub fn touch_sets_the_last_use_time<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "touch";
    let space = ns("touch");
    let d = digest(32_000);
    let missing = digest(32_001);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 100, 1));
    let Some((_, before)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} not scanned");
    };
    for when in [
        UNIX_EPOCH + Duration::from_millis(1_234_567_890_500),
        UNIX_EPOCH + Duration::from_secs(86_400),
        SystemTime::now() + Duration::from_secs(3600),
    ] {
        let n = store
            .touch(&space, &[(d, when), (missing, when)])
            .unwrap_or_else(|e| {
                panic!("housekeeping contract broken ({CLAUSE}): touch failed: {e}")
            });
        assert_eq!(
            n, 1,
            "housekeeping contract broken ({CLAUSE}): touch of one existing and one missing entry reported {n}"
        );
        let Some((_, after)) = find_entry(store, CLAUSE, &space, &d) else {
            panic!(
                "housekeeping contract broken ({CLAUSE}): touched entry {space}/{d} not scanned"
            );
        };
        let got = after.accessed.unwrap_or_else(|| {
            panic!(
                "housekeeping contract broken ({CLAUSE}): touched entry reports no last-use time"
            )
        });
        let off = got.duration_since(when).unwrap_or_else(|e| e.duration());
        assert!(
            off < Duration::from_secs(1),
            "housekeeping contract broken ({CLAUSE}): touched to {when:?}, scanned as {got:?}"
        );
        assert_eq!(
            after.version, before.version,
            "housekeeping contract broken ({CLAUSE}): touch changed the entry's version"
        );
    }
}

/// When a store vouches for a bucket's stamp before and after a put into that bucket, the
/// two differ.
pub fn stamps_change_when_items_change<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "stamps";
    let space = ns("stamps");
    let d = digest(33_000);
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 100, 1));
    let Some((bucket, _)) = find_entry(store, CLAUSE, &space, &d) else {
        panic!("housekeeping contract broken ({CLAUSE}): stored entry {space}/{d} not scanned");
    };
    let stamp_now = || {
        let mut found = None;
        store
            .buckets(&mut |info| {
                if info.bucket == bucket {
                    found = info.stamp;
                    return ControlFlow::Break(());
                }
                ControlFlow::Continue(())
            })
            .unwrap_or_else(|e| {
                panic!("housekeeping contract broken ({CLAUSE}): buckets failed: {e}")
            });
        found
    };
    let before = stamp_now();
    put(store, CLAUSE, &space, &d, &sample_frame(&d, 120, 2));
    let after = stamp_now();
    match (before, after) {
        (Some(b), Some(a)) => assert_ne!(
            a, b,
            "housekeeping contract broken ({CLAUSE}): bucket {bucket} kept stamp {b:#x} across a put"
        ),
        _ => eprintln!("note: the store did not vouch for the stamps of {bucket}; not compared"),
    }
}

fn lock_in_thread<S: Housekeeping + ?Sized>(store: &S, target: LockTarget<'_>) -> bool {
    thread::scope(|s| {
        s.spawn(|| {
            store
                .lock(target, false)
                .unwrap_or_else(|e| {
                    panic!("housekeeping contract broken (locks): lock failed: {e}")
                })
                .is_some()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// A named lock held by one `HeldLock` cannot be taken without waiting by another, in
/// another thread; it can once the first is dropped; a blocked waiter gets it then.
pub fn named_locks_exclude_each_other<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "locks";
    let name = state("lock");
    let target = LockTarget::Named(&name);
    let held = store
        .lock(target, false)
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({CLAUSE}): lock failed: {e}"));
    assert!(
        held.is_some(),
        "housekeeping contract broken ({CLAUSE}): a free lock was refused"
    );
    assert!(
        !lock_in_thread(store, target),
        "housekeeping contract broken ({CLAUSE}): a held lock was taken again"
    );
    let other = state("lock-other");
    assert!(
        lock_in_thread(store, LockTarget::Named(&other)),
        "housekeeping contract broken ({CLAUSE}): another name's lock was refused"
    );
    // A waiter blocks until the holder lets go.
    thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            let got = store.lock(target, true);
            let _ = tx.send(());
            got.map(|l| l.is_some())
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "housekeeping contract broken ({CLAUSE}): a waiting lock returned while the lock was held"
        );
        drop(held);
        let got = waiter
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        assert!(
            matches!(got, Ok(true)),
            "housekeeping contract broken ({CLAUSE}): the waiter did not get the released lock: {got:?}"
        );
    });
    assert!(
        lock_in_thread(store, target),
        "housekeeping contract broken ({CLAUSE}): a released lock stayed held"
    );
}

/// An entry lock excludes another on the same entry, not on another entry; a missing entry
/// cannot be locked.
pub fn entry_locks_exclude_each_other<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "entry locks";
    let space = ns("entry-lock");
    let (a, b, missing) = (digest(34_000), digest(34_001), digest(34_002));
    put(store, CLAUSE, &space, &a, &sample_frame(&a, 10, 1));
    put(store, CLAUSE, &space, &b, &sample_frame(&b, 10, 2));
    let held = store
        .lock(LockTarget::Entry(&space, &a), false)
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({CLAUSE}): lock failed: {e}"));
    assert!(
        held.is_some(),
        "housekeeping contract broken ({CLAUSE}): a free entry lock was refused"
    );
    assert!(
        !lock_in_thread(store, LockTarget::Entry(&space, &a)),
        "housekeeping contract broken ({CLAUSE}): a held entry lock was taken again"
    );
    assert!(
        lock_in_thread(store, LockTarget::Entry(&space, &b)),
        "housekeeping contract broken ({CLAUSE}): another entry's lock was refused"
    );
    assert!(
        !lock_in_thread(store, LockTarget::Entry(&space, &missing)),
        "housekeeping contract broken ({CLAUSE}): a missing entry was locked"
    );
    drop(held);
    assert!(
        lock_in_thread(store, LockTarget::Entry(&space, &a)),
        "housekeeping contract broken ({CLAUSE}): a released entry lock stayed held"
    );
}

/// State written is read back exactly, replaced by a later write, absent before any write,
/// and never reported as an entry.
pub fn state_round_trips<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "state";
    let name = state("round-trip");
    let never = state("never-written");
    let read = |n: &StateName| {
        store.read_state(n, 1 << 20).unwrap_or_else(|e| {
            panic!("housekeeping contract broken ({CLAUSE}): read_state failed: {e}")
        })
    };
    assert_eq!(
        read(&never),
        None,
        "housekeeping contract broken ({CLAUSE}): unwritten state is not absent"
    );
    for body in [&b"first"[..], &[7u8; 5000][..], b"", b"last"] {
        store.write_state(&name, body).unwrap_or_else(|e| {
            panic!("housekeeping contract broken ({CLAUSE}): write_state failed: {e}")
        });
        assert_eq!(
            read(&name).as_deref(),
            Some(body),
            "housekeeping contract broken ({CLAUSE}): state did not read back as written"
        );
    }
    let mut entries = 0;
    store
        .buckets(&mut |info| {
            if info.bucket.namespace().as_str().contains("state") {
                entries += 1;
            }
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("housekeeping contract broken ({CLAUSE}): buckets failed: {e}"));
    assert_eq!(
        entries, 0,
        "housekeeping contract broken ({CLAUSE}): state shows up as buckets"
    );
}

/// `read_state` with a limit below the blob's length is an [`ErrorKind::TooLarge`] error.
pub fn read_state_respects_the_limit<S: Housekeeping + ?Sized>(store: &S) {
    const CLAUSE: &str = "bounded state reads";
    let name = state("limit");
    store.write_state(&name, &[1u8; 1000]).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): write_state failed: {e}")
    });
    match store.read_state(&name, 999) {
        Err(e) if e.kind() == ErrorKind::TooLarge => {}
        other => panic!(
            "housekeeping contract broken ({CLAUSE}): read of a 1000-byte blob with limit 999 \
             returned {:?}, expected ErrorKind::TooLarge",
            other.map(|o| o.map(|v| v.len()))
        ),
    }
    let got = store.read_state(&name, 1000).unwrap_or_else(|e| {
        panic!("housekeeping contract broken ({CLAUSE}): read_state failed: {e}")
    });
    assert_eq!(got.map(|v| v.len()), Some(1000));
}
