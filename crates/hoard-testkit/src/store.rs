//! The [`Store`] conformance suite.
//!
//! [`run_all`] runs every check on a fresh store; each check is also a public function, so a
//! test can run one at a time. A check panics with a message that starts with
//! `store contract broken (<clause>)`, naming the clause of the [`Store`] contract that
//! failed, then says what was asked and what came back.
//!
//! The frames the checks store are real ones, built with [`hoard_core::frame::encode`] from
//! [`noise`] payloads, though the contract treats them as opaque bytes. Every
//! check works in namespaces of its own (`hoard-testkit.<check>`) and first removes the keys
//! it needs absent, so the checks may also run one after another, or again, on a single store
//! as long as nothing else writes to those namespaces. They leave their entries behind.
//!
//! Stores that cannot list (whose [`Store::list`] returns
//! [`ErrorKind::NotSupportedByStore`]) pass the listing checks, which then print a note to
//! standard error and return.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use hoard_core::frame;
use hoard_core::{
    DIGEST_LEN, Digest, EntryInfo, ErrorKind, HasherId, Key, Namespace, Result, Store,
};

use crate::noise;
use crate::support::{Plain, difference, digest, panic_message};

/// A limit comfortably above every frame the checks store.
pub(crate) const LIMIT: u64 = frame::max_frame_len(2 << 20);

/// Creation time written in every frame (a fixed instant keeps the frames deterministic).
const CREATED_UNIX_MS: u64 = 1_700_000_000_000;

/// Runs every check, each on a fresh store from `make`.
///
/// The listing checks pass (with a note on standard error) if the store cannot list. For a
/// store in a temporary directory, let `make` return a small wrapper store that owns both the
/// store and the directory's guard, so that each directory lives exactly as long as its check.
pub fn run_all<S: Store>(make: impl Fn() -> S) {
    run_all_with_item_limit(make, u64::MAX);
}

/// [`run_all`] for a store with a documented item limit (memcached's 1 MiB, say): frames
/// up to `item_limit` bytes must behave as for any store, and the larger frame of
/// [`put_then_get_returns_the_frame`] must be refused with [`ErrorKind::TooLarge`] and stay
/// absent (see [`put_then_get_up_to`]).
pub fn run_all_with_item_limit<S: Store>(make: impl Fn() -> S, item_limit: u64) {
    absent_key_is_none(&make());
    put_then_get_up_to(&make(), item_limit);
    put_replaces(&make());
    namespaces_are_isolated(&make());
    digests_are_isolated(&make());
    remove_deletes(&make());
    get_respects_the_limit(&make());
    list_reports_each_entry_once(&make());
    list_stops_when_told(&make());
    concurrent_puts_are_atomic(&make());
    many_keys_from_many_threads(&make());
}

/// A namespace of the testkit's own.
fn ns(name: &str) -> Namespace {
    Namespace::new(&format!("hoard-testkit.{name}")).expect("testkit namespaces are valid")
}

/// A real frame for `digest` (a SHA-256 key) holding `payload`, identity coded and stamped
/// with a fixed creation time: the frames the checks store. For tests that need a valid frame
/// without a codec crate.
///
/// ```
/// use hoard_core::{Digest, HasherId, Key, frame::Frame};
///
/// let d = Digest::from_bytes([1; 32]);
/// let f = hoard_testkit::store::frame_for(&d, b"abc");
/// let header = Frame::parse(&f)?.verify_for(&Key::new(HasherId::Sha256, d), 3)?;
/// assert_eq!(header.decoded_len, 3);
/// # Ok::<(), hoard_core::Error>(())
/// ```
pub fn frame_for(digest: &Digest, payload: &[u8]) -> Vec<u8> {
    let key = Key::new(HasherId::Sha256, *digest);
    frame::encode(&key, &Plain, payload, CREATED_UNIX_MS)
        .expect("an identity frame of a valid key always encodes")
}

/// A frame with a payload of `len` bytes that no other call with another `seed` repeats.
pub(crate) fn sample_frame(digest: &Digest, len: usize, seed: u64) -> Vec<u8> {
    frame_for(digest, &noise(len, seed))
}

fn put<S: Store + ?Sized>(store: &S, clause: &str, ns: &Namespace, d: &Digest, frame: &[u8]) {
    if let Err(e) = store.put(ns, d, frame) {
        panic!(
            "store contract broken ({clause}): put of a {}-byte frame under {ns}/{d} failed: {e} ({})",
            frame.len(),
            e.kind()
        );
    }
}

fn get<S: Store + ?Sized>(
    store: &S,
    clause: &str,
    ns: &Namespace,
    d: &Digest,
    limit: u64,
) -> Option<Vec<u8>> {
    store.get(ns, d, limit).unwrap_or_else(|e| {
        panic!(
            "store contract broken ({clause}): get of {ns}/{d} with limit {limit} failed: {e} ({})",
            e.kind()
        )
    })
}

fn remove<S: Store + ?Sized>(store: &S, clause: &str, ns: &Namespace, d: &Digest) -> bool {
    store.remove(ns, d).unwrap_or_else(|e| {
        panic!(
            "store contract broken ({clause}): remove of {ns}/{d} failed: {e} ({})",
            e.kind()
        )
    })
}

/// Asserts that `(ns, d)` holds exactly `want`.
fn expect_frame<S: Store + ?Sized>(
    store: &S,
    clause: &str,
    ns: &Namespace,
    d: &Digest,
    want: &[u8],
    when: &str,
) {
    match get(store, clause, ns, d, LIMIT) {
        Some(got) => assert!(
            got == want,
            "store contract broken ({clause}): get of {ns}/{d} {when} returned {}",
            difference(&got, want)
        ),
        None => panic!(
            "store contract broken ({clause}): get of {ns}/{d} {when} returned nothing, \
             expected a {}-byte frame",
            want.len()
        ),
    }
    // The verified read's view (`Store::get_frame`, provided or overridden): the same
    // frame, split (if at all) exactly where its header says the payload starts.
    match store.get_frame(ns, d, LIMIT) {
        Ok(Some(got)) => {
            if let (head, Some(_)) = got.parts() {
                let at = hoard_core::frame::payload_offset_of(want);
                assert!(
                    at == Some(head.len()),
                    "store contract broken ({clause}): get_frame of {ns}/{d} {when} split \
                     the frame after {} bytes, not at its payload offset {at:?}",
                    head.len()
                );
            }
            let got = got.into_bytes();
            assert!(
                got == want,
                "store contract broken ({clause}): get_frame of {ns}/{d} {when} returned {}",
                difference(&got, want)
            );
        }
        other => panic!(
            "store contract broken ({clause}): get_frame of {ns}/{d} {when} returned \
             {other:?}, expected the {}-byte frame get returns",
            want.len()
        ),
    }
}

fn expect_none<S: Store + ?Sized>(store: &S, clause: &str, ns: &Namespace, d: &Digest, when: &str) {
    if let Some(got) = get(store, clause, ns, d, LIMIT) {
        panic!(
            "store contract broken ({clause}): get of {ns}/{d} {when} returned a {}-byte value, \
             expected nothing",
            got.len()
        );
    }
}

/// A miss is `Ok(None)`: in a namespace never written to, and in one that holds other
/// entries.
pub fn absent_key_is_none<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "misses are Ok(None)";
    let never = ns("absent-never-written");
    expect_none(
        store,
        CLAUSE,
        &never,
        &digest(1),
        "in a namespace never written to",
    );
    expect_none(
        store,
        CLAUSE,
        &never,
        &digest(1),
        "in a namespace never written to, with limit 0",
    );
    let space = ns("absent");
    put(
        store,
        CLAUSE,
        &space,
        &digest(2),
        &sample_frame(&digest(2), 100, 2),
    );
    expect_none(
        store,
        CLAUSE,
        &space,
        &digest(3),
        "of a digest never written, in a namespace with other entries",
    );
}

/// Put then get returns the exact frame, for payloads of 0, 1, 4 KiB and 1 MiB + 7 bytes
/// (frames of 96 bytes to just over 1 MiB, some with a page-aligned payload).
pub fn put_then_get_returns_the_frame<S: Store + ?Sized>(store: &S) {
    put_then_get_up_to(store, u64::MAX);
}

/// [`put_then_get_returns_the_frame`] for a store that refuses frames over `item_limit`
/// bytes: those puts must fail with [`ErrorKind::TooLarge`] and leave nothing to get.
pub fn put_then_get_up_to<S: Store + ?Sized>(store: &S, item_limit: u64) {
    const CLAUSE: &str = "a put is visible to later gets";
    let space = ns("put-get");
    let sizes = [0, 1, 4096, (1 << 20) + 7];
    let frames: Vec<(Digest, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let d = digest(100 + i as u64);
            let f = sample_frame(&d, len, 100 + i as u64);
            (d, f)
        })
        .collect();
    let (fit, over): (Vec<_>, Vec<_>) = frames
        .into_iter()
        .partition(|(_, f)| f.len() as u64 <= item_limit);
    for (d, f) in &fit {
        put(store, CLAUSE, &space, d, f);
        expect_frame(store, CLAUSE, &space, d, f, "right after its put");
    }
    for (d, f) in &over {
        remove(store, CLAUSE, &space, d);
        match store.put(&space, d, f) {
            Err(e) if e.kind() == ErrorKind::TooLarge => {}
            other => panic!(
                "store contract broken (item limit): put of a {}-byte frame, over the store's \
                 {item_limit}-byte item limit, returned {other:?}; expected ErrorKind::TooLarge",
                f.len()
            ),
        }
        if let Some(got) = get(store, CLAUSE, &space, d, LIMIT) {
            panic!(
                "store contract broken (item limit): a refused {}-byte put left {} bytes under \
                 {space}/{d}",
                f.len(),
                got.len()
            );
        }
    }
    for (d, f) in &fit {
        expect_frame(store, CLAUSE, &space, d, f, "after puts of other digests");
    }
}

/// A second put replaces the first, whether the new frame is shorter or longer.
pub fn put_replaces<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "a put replaces any previous frame";
    let space = ns("replace");
    let d = digest(200);
    let first = sample_frame(&d, 4096, 200);
    let shorter = sample_frame(&d, 100, 201);
    let longer = sample_frame(&d, 8192, 202);
    put(store, CLAUSE, &space, &d, &first);
    put(store, CLAUSE, &space, &d, &shorter);
    expect_frame(
        store,
        CLAUSE,
        &space,
        &d,
        &shorter,
        "after a shorter frame replaced it",
    );
    put(store, CLAUSE, &space, &d, &longer);
    expect_frame(
        store,
        CLAUSE,
        &space,
        &d,
        &longer,
        "after a longer frame replaced it",
    );
    put(store, CLAUSE, &space, &d, &longer);
    expect_frame(
        store,
        CLAUSE,
        &space,
        &d,
        &longer,
        "after the same frame was put again",
    );
}

/// The same digest in different namespaces names different entries: put, replace and remove
/// in one leave the others alone. The namespaces include two that differ only in letter case
/// and one that extends another.
pub fn namespaces_are_isolated<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "namespaces are isolated";
    let spaces = [
        ns("isolation"),
        ns("Isolation"),
        ns("isolation-2"),
        ns("isolation.2"),
    ];
    let d = digest(300);
    let frames: Vec<Vec<u8>> = (0..spaces.len() as u64)
        .map(|i| sample_frame(&d, 200 + i as usize, 300 + i))
        .collect();
    for space in &spaces {
        remove(store, CLAUSE, space, &d);
    }
    put(store, CLAUSE, &spaces[0], &d, &frames[0]);
    for other in &spaces[1..] {
        expect_none(
            store,
            CLAUSE,
            other,
            &d,
            &format!("after a put of the same digest in {}", spaces[0]),
        );
    }
    for (space, f) in spaces.iter().zip(&frames).skip(1) {
        put(store, CLAUSE, space, &d, f);
    }
    for (space, f) in spaces.iter().zip(&frames) {
        expect_frame(
            store,
            CLAUSE,
            space,
            &d,
            f,
            "after puts of the same digest in other namespaces",
        );
    }
    assert!(
        remove(store, CLAUSE, &spaces[0], &d),
        "store contract broken ({CLAUSE}): remove of {}/{d} returned false for a stored entry",
        spaces[0]
    );
    for (space, f) in spaces.iter().zip(&frames).skip(1) {
        expect_frame(
            store,
            CLAUSE,
            space,
            &d,
            f,
            &format!("after the same digest was removed from {}", spaces[0]),
        );
    }
}

/// Digests that differ in a single bit (in the first, second, middle or last byte) name
/// different entries.
pub fn digests_are_isolated<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "digests are isolated";
    let space = ns("digests");
    let base = *digest(400).as_bytes();
    let mut digests = vec![Digest::from_bytes(base)];
    for (byte, bit) in [
        (0, 0x80),
        (0, 0x01),
        (1, 0x01),
        (DIGEST_LEN / 2, 0x10),
        (DIGEST_LEN - 1, 0x01),
    ] {
        let mut b = base;
        b[byte] ^= bit;
        digests.push(Digest::from_bytes(b));
    }
    let frames: Vec<Vec<u8>> = digests
        .iter()
        .enumerate()
        .map(|(i, d)| sample_frame(d, 300 + i, 400 + i as u64))
        .collect();
    for d in &digests {
        remove(store, CLAUSE, &space, d);
    }
    put(store, CLAUSE, &space, &digests[0], &frames[0]);
    for d in &digests[1..] {
        expect_none(
            store,
            CLAUSE,
            &space,
            d,
            &format!("after a put of {}, one bit away", digests[0]),
        );
    }
    for (d, f) in digests.iter().zip(&frames).skip(1) {
        put(store, CLAUSE, &space, d, f);
    }
    for (d, f) in digests.iter().zip(&frames) {
        expect_frame(
            store,
            CLAUSE,
            &space,
            d,
            f,
            "after puts of digests one bit away",
        );
    }
    remove(store, CLAUSE, &space, &digests[0]);
    for (d, f) in digests.iter().zip(&frames).skip(1) {
        expect_frame(
            store,
            CLAUSE,
            &space,
            d,
            f,
            &format!("after {}, one bit away, was removed", digests[0]),
        );
    }
}

/// `remove` returns `true` for a stored entry and `false` once it is gone (or was never
/// there); the entry is no longer returned, and a new put of the same key works.
pub fn remove_deletes<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "remove deletes and reports whether there was an entry";
    let space = ns("remove");
    let d = digest(500);
    // Clears what an earlier run on the same store left; the second remove meets no entry.
    remove(store, CLAUSE, &space, &d);
    assert!(
        !remove(store, CLAUSE, &space, &d),
        "store contract broken ({CLAUSE}): remove of {space}/{d}, which holds no entry, \
         returned true"
    );
    let f = sample_frame(&d, 1000, 500);
    put(store, CLAUSE, &space, &d, &f);
    assert!(
        remove(store, CLAUSE, &space, &d),
        "store contract broken ({CLAUSE}): remove of {space}/{d} returned false for a stored entry"
    );
    expect_none(store, CLAUSE, &space, &d, "after its remove");
    assert!(
        !remove(store, CLAUSE, &space, &d),
        "store contract broken ({CLAUSE}): a second remove of {space}/{d} returned true"
    );
    let again = sample_frame(&d, 700, 501);
    put(store, CLAUSE, &space, &d, &again);
    expect_frame(
        store,
        CLAUSE,
        &space,
        &d,
        &again,
        "put again after its remove",
    );
}

/// `get` with a limit below the stored length is an [`ErrorKind::TooLarge`] error; a limit
/// equal to it, or far above it (`u64::MAX`), returns the frame; a miss is `Ok(None)` whatever
/// the limit.
pub fn get_respects_the_limit<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "bounded gets";
    let space = ns("limit");
    for (i, payload) in [1000usize, 64 * 1024].into_iter().enumerate() {
        let d = digest(600 + i as u64);
        let f = sample_frame(&d, payload, 600 + i as u64);
        let len = f.len() as u64;
        put(store, CLAUSE, &space, &d, &f);
        for limit in [len - 1, len / 2, 0] {
            match store.get(&space, &d, limit) {
                Err(e) => assert!(
                    e.kind() == ErrorKind::TooLarge,
                    "store contract broken ({CLAUSE}): get of the {len}-byte frame {space}/{d} \
                     with limit {limit} failed with {:?} ({e}), expected ErrorKind::TooLarge",
                    e.kind()
                ),
                Ok(Some(got)) => panic!(
                    "store contract broken ({CLAUSE}): get of the {len}-byte frame {space}/{d} \
                     with limit {limit} returned {} bytes, expected an ErrorKind::TooLarge error",
                    got.len()
                ),
                Ok(None) => panic!(
                    "store contract broken ({CLAUSE}): get of the {len}-byte frame {space}/{d} \
                     with limit {limit} returned nothing, expected an ErrorKind::TooLarge error"
                ),
            }
        }
        for limit in [len, len + 1, u64::MAX] {
            match get(store, CLAUSE, &space, &d, limit) {
                Some(got) => assert!(
                    got == f,
                    "store contract broken ({CLAUSE}): get of {space}/{d} with limit {limit} \
                     returned {}",
                    difference(&got, &f)
                ),
                None => panic!(
                    "store contract broken ({CLAUSE}): get of the {len}-byte frame {space}/{d} \
                     with limit {limit} returned nothing"
                ),
            }
        }
    }
    let absent = digest(699);
    for limit in [0, 1, u64::MAX] {
        if let Some(got) = get(store, "misses are Ok(None)", &space, &absent, limit) {
            panic!(
                "store contract broken (misses are Ok(None)): get of {space}/{absent}, never \
                 written, with limit {limit} returned {} bytes",
                got.len()
            );
        }
    }
}

/// Every entry, or `None` (after a note on standard error) if the store cannot list.
fn listing<S: Store + ?Sized>(store: &S, check: &str) -> Option<Vec<EntryInfo>> {
    let mut entries = Vec::new();
    let result = store.list(&mut |e| {
        entries.push(e);
        ControlFlow::Continue(())
    });
    match result {
        Ok(()) => Some(entries),
        Err(e) if e.kind() == ErrorKind::NotSupportedByStore => {
            eprintln!("hoard-testkit: {check} skipped: the store cannot list ({e})");
            None
        }
        Err(e) => panic!(
            "store contract broken (listing): list failed: {e} ({}); a store that cannot list \
             must return ErrorKind::NotSupportedByStore",
            e.kind()
        ),
    }
}

/// `list` reports every entry exactly once with its namespace, digest and `stored_len` (the
/// frame's length), after replacements and removals. Entries outside the check's
/// namespaces are ignored. Skipped if the store cannot list.
pub fn list_reports_each_entry_once<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "listing";
    let spaces = [ns("list-a"), ns("list-b")];
    if listing(store, "list_reports_each_entry_once").is_none() {
        return;
    }
    let mut expected: HashMap<(Namespace, Digest), u64> = HashMap::new();
    for i in 0..12u64 {
        let space = &spaces[(i % 2) as usize];
        // Every digest goes into both namespaces, with a frame of its own in each.
        let d = digest(700 + i / 2);
        let f = sample_frame(&d, (i * 1000 + 3) as usize, 700 + i);
        put(store, CLAUSE, space, &d, &f);
        expected.insert((space.clone(), d), f.len() as u64);
    }
    let replaced = digest(701);
    let f = sample_frame(&replaced, 20_000, 799);
    put(store, CLAUSE, &spaces[0], &replaced, &f);
    expected.insert((spaces[0].clone(), replaced), f.len() as u64);
    let removed = digest(702);
    remove(store, CLAUSE, &spaces[1], &removed);
    expected.remove(&(spaces[1].clone(), removed));

    let Some(entries) = listing(store, "list_reports_each_entry_once") else {
        panic!("store contract broken ({CLAUSE}): list worked once, then said it is not supported");
    };
    let mut seen: HashSet<(Namespace, Digest)> = HashSet::new();
    for e in entries
        .into_iter()
        .filter(|e| spaces.contains(&e.namespace))
    {
        let id = (e.namespace.clone(), e.digest);
        let Some(&len) = expected.get(&id) else {
            panic!(
                "store contract broken ({CLAUSE}): list reported {}/{}, which is not stored \
                 (removed, or never written)",
                e.namespace, e.digest
            );
        };
        assert!(
            seen.insert(id),
            "store contract broken ({CLAUSE}): list reported {}/{} more than once",
            e.namespace,
            e.digest
        );
        assert!(
            e.stored_len == len,
            "store contract broken ({CLAUSE}): list reported {}/{} with stored_len {}, but its \
             frame is {len} bytes",
            e.namespace,
            e.digest,
            e.stored_len
        );
    }
    let mut missing: Vec<String> = expected
        .keys()
        .filter(|id| !seen.contains(*id))
        .map(|(space, d)| format!("{space}/{d}"))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "store contract broken ({CLAUSE}): list did not report {} stored entries: {}",
        missing.len(),
        missing.join(", ")
    );
}

/// `list` stops calling its visitor once it returns [`ControlFlow::Break`], and returns
/// `Ok`. Skipped if the store cannot list.
pub fn list_stops_when_told<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "listing stops at ControlFlow::Break";
    if listing(store, "list_stops_when_told").is_none() {
        return;
    }
    let space = ns("list-break");
    for i in 0..3 {
        let d = digest(800 + i);
        put(store, CLAUSE, &space, &d, &sample_frame(&d, 10, 800 + i));
    }
    let mut calls = 0usize;
    let result = store.list(&mut |_| {
        calls += 1;
        ControlFlow::Break(())
    });
    if let Err(e) = result {
        panic!(
            "store contract broken ({CLAUSE}): list whose visitor broke off failed: {e} ({})",
            e.kind()
        );
    }
    assert!(
        calls == 1,
        "store contract broken ({CLAUSE}): the visitor returned Break on its first call but \
         was called {calls} times"
    );
}

/// Writers and readers of the concurrency check.
const WRITERS: usize = 4;
const PUTS_PER_WRITER: usize = 100;
const READERS: usize = 2;

/// Four threads each put 100 frames (all of distinct lengths and contents, 1 KiB to 40 KiB)
/// under one key while two threads read it: every read is nothing (only before the first put
/// completes) or exactly one of the written frames, never a mix or a prefix; the final value
/// is the last frame of one of the writers (the last completed put wins).
pub fn concurrent_puts_are_atomic<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "atomic puts";
    let space = &ns("concurrent-puts");
    let d = digest(900);
    let frames: Vec<Vec<Vec<u8>>> = (0..WRITERS)
        .map(|w| {
            (0..PUTS_PER_WRITER)
                .map(|i| {
                    let n = w * PUTS_PER_WRITER + i;
                    sample_frame(&d, 1024 + n * 97, 900 + n as u64)
                })
                .collect()
        })
        .collect();
    // Every frame has its own length, so a read is identified by its length alone.
    let by_len: HashMap<usize, (usize, usize)> = frames
        .iter()
        .enumerate()
        .flat_map(|(w, fs)| fs.iter().enumerate().map(move |(i, f)| (f.len(), (w, i))))
        .collect();
    let completed = AtomicUsize::new(0);
    let writers_done = AtomicUsize::new(0);
    let start = Barrier::new(WRITERS + READERS);

    let check_read = |got: Option<Vec<u8>>, completed_before: usize| -> Result<(), String> {
        match got {
            None if completed_before > 0 => Err(format!(
                "a get of {space}/{d} returned nothing after {completed_before} puts had completed"
            )),
            None => Ok(()),
            Some(got) => match by_len.get(&got.len()) {
                Some(&(w, i)) if frames[w][i] == got => Ok(()),
                Some(&(w, i)) => Err(format!(
                    "a get of {space}/{d} returned a mix: {}, compared with put {i} of writer {w}",
                    difference(&got, &frames[w][i])
                )),
                None => Err(format!(
                    "a get of {space}/{d} returned {} bytes, the length of no written frame (a \
                     prefix, a mix or garbage)",
                    got.len()
                )),
            },
        }
    };

    let outcomes: Vec<Result<String, String>> = thread::scope(|s| {
        let mut handles = Vec::new();
        for fs in &frames {
            let (completed, writers_done, start) = (&completed, &writers_done, &start);
            handles.push(s.spawn(move || {
                // Counts this writer as done even if a put fails or panics, so readers stop.
                let _done = DoneGuard(writers_done);
                start.wait();
                for (i, f) in fs.iter().enumerate() {
                    if let Err(e) = store.put(space, &d, f) {
                        return Err(format!("put {i} failed: {e} ({})", e.kind()));
                    }
                    completed.fetch_add(1, Ordering::AcqRel);
                }
                Ok(String::new())
            }));
        }
        for _ in 0..READERS {
            let (completed, writers_done, start, check_read) =
                (&completed, &writers_done, &start, &check_read);
            handles.push(s.spawn(move || {
                start.wait();
                let mut reads = 0usize;
                loop {
                    let finished = writers_done.load(Ordering::Acquire) == WRITERS;
                    let completed_before = completed.load(Ordering::Acquire);
                    let got = store
                        .get(space, &d, LIMIT)
                        .map_err(|e| format!("get failed: {e} ({})", e.kind()))?;
                    check_read(got, completed_before)
                        .map_err(|e| format!("{e} (read {reads} of this reader)"))?;
                    reads += 1;
                    if finished {
                        return Ok(format!("{reads} reads"));
                    }
                }
            }));
        }
        join_all(handles)
            .into_iter()
            .map(|outcome| outcome.and_then(|inner| inner))
            .collect()
    });
    let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "store contract broken ({CLAUSE}), {WRITERS} writers and {READERS} readers on one key: {}",
        failures
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let last = get(store, CLAUSE, space, &d, LIMIT);
    if let Err(e) = check_read(last.clone(), 1) {
        panic!("store contract broken ({CLAUSE}): after all puts completed, {e}");
    }
    let last = last.expect("check_read rejects nothing after a completed put");
    let (w, i) = by_len[&last.len()];
    assert!(
        i == PUTS_PER_WRITER - 1,
        "store contract broken (the last completed put wins): after all puts completed, \
         {space}/{d} holds put {i} of writer {w}, which that writer replaced with later puts"
    );
}

/// Joins scoped threads, turning a panic into its message.
fn join_all<T>(handles: Vec<thread::ScopedJoinHandle<'_, T>>) -> Vec<Result<T, String>> {
    handles
        .into_iter()
        .map(|h| h.join().map_err(|payload| panic_message(payload.as_ref())))
        .collect()
}

/// Marks a writer thread done when it ends, however it ends.
struct DoneGuard<'a>(&'a AtomicUsize);

impl Drop for DoneGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Eight threads each put and read back 50 keys of their own at the same time; afterwards
/// every one of the 400 entries reads back.
pub fn many_keys_from_many_threads<S: Store + ?Sized>(store: &S) {
    const CLAUSE: &str = "concurrent safety";
    const THREADS: u64 = 8;
    const KEYS: u64 = 50;
    let space = ns("many-keys");
    let entry = |t: u64, k: u64| {
        let n = t * KEYS + k;
        let d = digest(10_000 + n);
        let f = sample_frame(&d, 64 + (n as usize * 7) % 1000, 10_000 + n);
        (d, f)
    };
    let start = Barrier::new(THREADS as usize);
    let outcomes = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (entry, start, space) = (&entry, &start, &space);
                s.spawn(move || {
                    start.wait();
                    for k in 0..KEYS {
                        let (d, f) = entry(t, k);
                        put(store, CLAUSE, space, &d, &f);
                        expect_frame(
                            store,
                            CLAUSE,
                            space,
                            &d,
                            &f,
                            "right after its put, while other threads put other keys",
                        );
                    }
                })
            })
            .collect();
        join_all(handles)
    });
    for (t, outcome) in outcomes.into_iter().enumerate() {
        if let Err(message) = outcome {
            panic!("thread {t} of {THREADS}: {message}");
        }
    }
    for t in 0..THREADS {
        for k in 0..KEYS {
            let (d, f) = entry(t, k);
            expect_frame(
                store,
                CLAUSE,
                &space,
                &d,
                &f,
                &format!("after {THREADS} threads each put {KEYS} keys"),
            );
        }
    }
}
