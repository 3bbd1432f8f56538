//! The n-th-call fault loop over every operation of `FsStore` (Store and Housekeeping):
//! for each injected errno, once and persistently, call n = 1, 2, ... fails until the
//! operation completes without reaching it. After every run, with the faults off: no
//! panic, every key reads back as one of the frames stored for it or as a miss, a sweep
//! of temp files leaves none, and nothing beside the root changed.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard_core::{
    Bucket, Error, ErrorKind, Housekeeping, Item, ItemKind, LockTarget, StateName, Store, StoreExt,
};
use hoard_fs::fault::{self, Fault, Faults, Injected, Persistence};
use hoard_fs::{Durability, FsOptions, FsStore};

use crate::{digest, files_below, ns};

/// Keys seeded in every world, each with frame `old(k)`.
const SEEDED: u8 = 6;
/// A key no world holds before the operation.
const FRESH: u8 = 100;

fn old(k: u8) -> Vec<u8> {
    format!("old frame of key {k}")
        .into_bytes()
        .repeat(usize::from(k) + 1)
}

fn new(k: u8) -> Vec<u8> {
    format!("new frame of key {k}").into_bytes().repeat(300)
}

/// One run's directory: the cache root, a canary tree beside it, the store under test
/// (opened through the faults) and its controller.
struct World {
    dir: tempfile::TempDir,
    root: PathBuf,
    /// Where the "open (new root)" case creates a cache.
    fresh_root: PathBuf,
    faults: Arc<Faults>,
    store: FsStore,
    canary: Vec<(PathBuf, Vec<u8>)>,
}

fn world(durability: Durability, faults: &Arc<Faults>) -> World {
    let dir = scratch();
    let canary = dir.path().join("canary");
    std::fs::create_dir(&canary).expect("mkdir canary");
    crate::housekeeping::plant(canary.join("precious"), b"nothing may touch this");
    let root = dir.path().join("cache");
    let fresh_root = dir.path().join("fresh/new/cache");
    let faults = Arc::clone(faults);
    // Seeded without fsyncs, which would dominate the loop's run time.
    let seeder = FsStore::open(&root).expect("open");
    for k in 0..SEEDED {
        seeder.put(&ns("n"), &digest(k), &old(k)).expect("seed");
    }
    let store = FsStore::open_with_faults(
        &root,
        FsOptions::new().durability(durability),
        Arc::clone(&faults),
    )
    .expect("open without faults armed");
    // A temp file of a dead writer, and sidecar state.
    let shard = store.entry_path(&ns("n"), &digest(0));
    let shard = shard.parent().expect("shard");
    let name = shard.join(format!(
        ".tmp-{}-00000000000000ab",
        store
            .entry_path(&ns("n"), &digest(0))
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
    ));
    crate::housekeeping::plant(&name, b"half a frame");
    store
        .write_state(&state("usage"), b"sidecar state")
        .expect("state");
    let canary = snapshot(dir.path(), &root, &fresh_root);
    World {
        dir,
        root,
        fresh_root,
        faults,
        store,
        canary,
    }
}

/// A temp directory, in memory where there is a tmpfs: the faults here are injected, not
/// the disk's, and thousands of runs with fsyncs on a real disk would take minutes.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let in_memory = shm.is_dir() && tempfile::tempdir_in(shm).is_ok();
    if in_memory {
        tempfile::tempdir_in(shm).expect("tempdir in /dev/shm")
    } else {
        tempfile::tempdir().expect("tempdir")
    }
}

fn state(name: &str) -> StateName {
    StateName::new(name).expect("valid state name")
}

/// Every file beside the roots (not below them) with its bytes.
fn snapshot(base: &Path, root: &Path, fresh_root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_below(base)
        .into_iter()
        .filter(|p| !base.join(p).starts_with(root) && !base.join(p).starts_with(fresh_root))
        .map(|p| {
            let body = std::fs::read(base.join(&p)).expect("read");
            (p, body)
        })
        .collect()
}

fn temps_below(root: &Path) -> Vec<PathBuf> {
    if !root.exists() {
        return Vec::new();
    }
    files_below(root)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".tmp-"))
        })
        .collect()
}

/// What one operation returned, reduced to what the checks need.
enum Got {
    Done,
    Read(Option<Vec<u8>>),
}

/// An operation of the store under test, run while the fault is armed.
struct Op {
    name: &'static str,
    durability: Durability,
    /// Frames each key may hold afterwards besides `old(k)` (and a miss).
    may_hold: fn(u8) -> Vec<Vec<u8>>,
    /// Whether the operation may lose seeded keys other than those it targets.
    run: fn(&World) -> Result<Got, Error>,
    /// What a read must return when it succeeds.
    expect_read: Option<Vec<u8>>,
}

fn nothing_new(_: u8) -> Vec<Vec<u8>> {
    Vec::new()
}

/// What `replace_item` swaps in for key `k` (a recompression's result, say).
fn replacement(k: u8) -> Vec<u8> {
    format!("replacement frame of key {k}")
        .into_bytes()
        .repeat(200)
}

fn replacement_for_1(k: u8) -> Vec<Vec<u8>> {
    if k == 1 {
        vec![replacement(1)]
    } else {
        Vec::new()
    }
}

/// A put between the read and the replacement wins: key 2 may hold the newer put, never
/// the replacement.
fn new_for_2(k: u8) -> Vec<Vec<u8>> {
    if k == 2 { vec![new(2)] } else { Vec::new() }
}

fn new_for_0_and_fresh(k: u8) -> Vec<Vec<u8>> {
    if k == 0 || k == FRESH {
        vec![new(k)]
    } else {
        Vec::new()
    }
}

/// The first bucket the store lists, if the (faulted) listing shows one.
fn first_bucket(w: &World) -> Result<Option<Bucket>, Error> {
    let mut found = None;
    w.store.buckets(&mut |b| {
        found = Some(b.bucket);
        ControlFlow::Break(())
    })?;
    Ok(found)
}

fn items_of(w: &World, bucket: &Bucket) -> Vec<Item> {
    let mut items = Vec::new();
    w.store
        .scan_bucket(bucket, &mut |i| {
            items.push(i);
            ControlFlow::Continue(())
        })
        .expect("scan without faults");
    items
}

fn put(w: &World, k: u8) -> Result<Got, Error> {
    w.store
        .put(&ns("n"), &digest(k), &new(k))
        .map(|()| Got::Done)
}

fn ops() -> Vec<Op> {
    vec![
        Op {
            name: "open (existing root)",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                FsStore::open_with_faults(&w.root, FsOptions::new(), Arc::clone(&w.faults))
                    .map(|_| Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "open (new root)",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                FsStore::open_with_faults(&w.fresh_root, FsOptions::new(), Arc::clone(&w.faults))
                    .map(|_| Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "put (new key)",
            durability: Durability::None,
            may_hold: new_for_0_and_fresh,
            run: |w| put(w, FRESH),
            expect_read: None,
        },
        Op {
            name: "put (replace, data durability)",
            durability: Durability::Data,
            may_hold: new_for_0_and_fresh,
            run: |w| put(w, 0),
            expect_read: None,
        },
        Op {
            name: "put (new key, full durability)",
            durability: Durability::Full,
            may_hold: new_for_0_and_fresh,
            run: |w| put(w, FRESH),
            expect_read: None,
        },
        Op {
            name: "get",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| w.store.get(&ns("n"), &digest(3), 1 << 20).map(Got::Read),
            expect_read: Some(old(3)),
        },
        Op {
            name: "remove",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| w.store.remove(&ns("n"), &digest(2)).map(|_| Got::Done),
            expect_read: None,
        },
        Op {
            name: "list",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let listed = w.store.entries()?;
                assert!(
                    listed.len() <= usize::from(SEEDED),
                    "listed {}",
                    listed.len()
                );
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "buckets + scan",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let mut buckets = Vec::new();
                w.store.buckets(&mut |b| {
                    buckets.push(b.bucket);
                    ControlFlow::Continue(())
                })?;
                for b in &buckets {
                    w.store.scan_bucket(b, &mut |_| ControlFlow::Continue(()))?;
                }
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "remove_item (every entry and temp of a bucket)",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let Some(b) = first_bucket(w)? else {
                    return Ok(Got::Done);
                };
                let mut items = Vec::new();
                w.store.scan_bucket(&b, &mut |i| {
                    items.push(i);
                    ControlFlow::Continue(())
                })?;
                for item in &items {
                    w.store.remove_item(&b, item)?;
                }
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "read_item",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let read = w.store.read_item(&ns("n"), &digest(3), 1 << 20)?;
                Ok(Got::Read(read.map(|(_, _, bytes)| bytes)))
            },
            expect_read: Some(old(3)),
        },
        Op {
            name: "replace_item (the version read, full durability)",
            durability: Durability::Full,
            may_hold: replacement_for_1,
            run: |w| {
                if let Some((b, item, _)) = w.store.read_item(&ns("n"), &digest(1), 1 << 20)? {
                    w.store.replace_item(&b, &item, &replacement(1))?;
                }
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "replace_item (after a newer put)",
            durability: Durability::None,
            may_hold: new_for_2,
            run: |w| {
                if let Some((b, item, _)) = w.store.read_item(&ns("n"), &digest(2), 1 << 20)? {
                    put(w, 2)?;
                    let replaced = w.store.replace_item(&b, &item, &replacement(2))?;
                    assert!(!replaced, "a newer put was replaced");
                }
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "touch",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let used: Vec<_> = (0..SEEDED)
                    .map(|k| (digest(k), SystemTime::now() - Duration::from_secs(60)))
                    .collect();
                w.store.touch(&ns("n"), &used).map(|_| Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "lock (named and entry)",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                let a = w.store.lock(LockTarget::Named(&state("cleanup")), true)?;
                let b = w
                    .store
                    .lock(LockTarget::Entry(&ns("n"), &digest(1)), false)?;
                drop((a, b));
                Ok(Got::Done)
            },
            expect_read: None,
        },
        Op {
            name: "read_state",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| w.store.read_state(&state("usage"), 1 << 20).map(Got::Read),
            expect_read: Some(b"sidecar state".to_vec()),
        },
        Op {
            name: "write_state",
            durability: Durability::None,
            may_hold: nothing_new,
            run: |w| {
                w.store
                    .write_state(&state("accounting"), b"new state")
                    .map(|()| Got::Done)
            },
            expect_read: None,
        },
    ]
}

/// Checks one run; returns the violations found.
fn check(
    op: &Op,
    w: &World,
    fault: Fault,
    got: std::thread::Result<Result<Got, Error>>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let mut note = |what: String| bad.push(format!("{} {fault:?}: {what}", op.name));
    let outcome = match got {
        Ok(r) => r,
        Err(_) => {
            note("panicked".to_owned());
            return bad;
        }
    };
    let first = w.faults.first_failed_call();
    match &outcome {
        Ok(Got::Read(Some(bytes))) if op.expect_read.as_deref() != Some(bytes) => {
            note(format!("read {} wrong bytes", bytes.len()));
        }
        Ok(Got::Read(None)) if first.is_none() => note("a miss without a fault".to_owned()),
        Err(e) => {
            if first.is_none() {
                note(format!("failed without a fault: {e}"));
            }
            if matches!(e.kind(), ErrorKind::Io) && e.path().is_none() {
                note(format!("an I/O error names no path: {e}"));
            }
            if fault.errno == Injected::Eintr
                && fault.persistence == Persistence::Once
                && first.is_some_and(fault::retries_eintr)
            {
                note(format!("EINTR on {first:?} was reported, not retried: {e}"));
            }
        }
        _ => {}
    }
    // The failed put's own temp file goes at once when nothing else fails (I3).
    if fault.persistence == Persistence::Once
        && outcome.is_err()
        && (op.name.starts_with("put") || op.name == "write_state")
    {
        let mut left = temps_below(&w.root);
        left.retain(|p| !p.to_string_lossy().ends_with("00000000000000ab"));
        if !left.is_empty() {
            note(format!("a failed write left {left:?}"));
        }
    }
    // Every key: one of its frames or a miss.
    let mut keys: Vec<u8> = (0..SEEDED).collect();
    keys.push(FRESH);
    for k in keys {
        let mut allowed = (op.may_hold)(k);
        if k < SEEDED {
            allowed.push(old(k));
        }
        match w.store.get(&ns("n"), &digest(k), 1 << 20) {
            Ok(None) => {}
            Ok(Some(b)) if allowed.contains(&b) => {}
            Ok(Some(b)) => note(format!("key {k} holds {} unexpected bytes", b.len())),
            Err(e) => note(format!("key {k} unreadable after the run: {e}")),
        }
    }
    // A sweep of every temp file leaves none (cleanup's job, I3/I6).
    let mut buckets = Vec::new();
    if let Err(e) = w.store.buckets(&mut |b| {
        buckets.push(b.bucket);
        ControlFlow::Continue(())
    }) {
        note(format!("cannot list buckets after the run: {e}"));
    }
    for b in &buckets {
        for item in items_of(w, b) {
            if matches!(item.kind, ItemKind::Temp { .. })
                && let Err(e) = w.store.remove_item(b, &item)
            {
                note(format!("cannot sweep a temp file: {e}"));
            }
        }
    }
    let left: Vec<_> = temps_below(&w.root.join("v1"));
    if !left.is_empty() {
        note(format!("temp files survived the sweep: {left:?}"));
    }
    if snapshot(w.dir.path(), &w.root, &w.fresh_root) != w.canary {
        note("something beside the root changed".to_owned());
    }
    bad
}

/// State temp files of writes whose cleanup failed too (persistent faults): swept by the
/// next state write once they are an hour old.
fn sweep_old_state_temps(w: &World) -> usize {
    let state_dir = w.root.join("state");
    let temps = temps_below(&state_dir);
    for t in &temps {
        let f = std::fs::File::options()
            .write(true)
            .open(state_dir.join(t))
            .expect("open state temp");
        f.set_modified(SystemTime::now() - Duration::from_secs(2 * 3600))
            .expect("backdate");
    }
    w.store
        .write_state(&state("usage"), b"sidecar state")
        .expect("state write without faults");
    temps_below(&state_dir).len()
}

#[test]
fn every_call_of_every_store_operation_fails_cleanly() {
    let mut figures: BTreeMap<&str, u64> = BTreeMap::new();
    let mut violations = Vec::new();
    let mut runs = 0u64;
    for op in ops() {
        for errno in Injected::ALL {
            for persistence in Persistence::ALL {
                let faults = Faults::new();
                let explored = fault::explore(&faults, errno, persistence, |f| {
                    let w = world(op.durability, &faults);
                    faults.arm(f);
                    let got = catch_unwind(AssertUnwindSafe(|| (op.run)(&w)));
                    faults.disarm();
                    violations.extend(check(&op, &w, f, got));
                    if persistence == Persistence::Persistent && sweep_old_state_temps(&w) != 0 {
                        violations.push(format!("{} {f:?}: old state temps survived", op.name));
                    }
                });
                runs += explored.runs;
                *figures.entry(op.name).or_default() += explored.faulted_runs;
            }
        }
    }
    for (name, calls) in &figures {
        println!("{name}: {calls} faulted runs over 9 errnos x once/persistent");
    }
    println!("{runs} runs, {} violations", violations.len());
    assert!(violations.is_empty(), "{violations:#?}");
    // The loop really reached into every operation.
    for (name, calls) in figures {
        assert!(calls >= 18, "{name} made {calls} calls over 18 loops");
    }
}

/// The crash failpoint armed beyond the operation's last call only counts (the probe of
/// the reliability harness's failpoints row): the put works, and it counts as many calls
/// as the n-th-call loop fails. Killing at a reached call is exercised by that row, in a
/// child process, since it ends the process.
#[test]
fn a_crash_failpoint_out_of_reach_only_counts_calls() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let faults = Faults::new();
    let store = FsStore::open_with_faults(dir.path().join("c"), FsOptions::new(), faults.clone())
        .expect("open");
    // Once stored, replacing key 1 takes the same calls every time.
    store.put(&ns("n"), &digest(1), b"frame one").expect("put");
    faults.arm_crash(u64::MAX);
    store.put(&ns("n"), &digest(1), b"frame one").expect("put");
    faults.disarm();
    let probed = faults.calls();
    let explored = fault::explore(&faults, Injected::Eio, Persistence::Once, |f| {
        faults.arm(f);
        let _ = store.put(&ns("n"), &digest(1), b"frame one");
        faults.disarm();
    });
    assert!(probed > 3, "a put makes several calls, counted {probed}");
    assert_eq!(probed, explored.faulted_runs);
    // Disarmed, nothing is counted and nothing crashes.
    let before = faults.calls();
    store
        .put(&ns("n"), &digest(3), b"frame three")
        .expect("put");
    assert_eq!(faults.calls(), before);
}
