//! The n-th-call fault loop through the facade and the eviction janitor: put, get (also of
//! a damaged entry, which the facade removes), get_or_compute, cleanup (with evictions and
//! stale temp files), eviction by age, the temp sweep, recompression and opening, each
//! with every injected errno, once and persistently, failing call n = 1, 2, ... until the
//! operation no longer reaches it.
//!
//! After every run, with the faults off: nothing panicked, every key reads back right or as
//! a miss through a fault-free cache, a fault-free cleanup leaves no temp file, and nothing
//! beside the root changed. The store-level loop (every `Store` and `Housekeeping` method)
//! is in hoard-fs's tests; the reliability harness runs this one with bigger caches.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard::evict::{Codecs, Janitor, Limits, ManualClock, WorkerConfig};
use hoard::{Cache, Codec, Error, FsOptions, FsStore, Housekeeping, Identity, Key, Zstd};
use hoard_fs::fault::{self, Fault, Faults, Injected, Persistence};

/// Keys seeded before every run: few, because a cleanup's calls grow with the shards it
/// visits and the loop runs every call count (the harness's row runs bigger caches).
const SEEDED: u32 = 4;
/// The key a put adds.
const FRESH: u32 = 50;
/// The seeded key whose entry is damaged on disk.
const DAMAGED: u32 = 3;

fn value(k: u32, generation: u32) -> Vec<u8> {
    format!("value {k} generation {generation};")
        .into_bytes()
        .repeat(40 + k as usize * 7)
}

fn key(cache: &Cache, k: u32) -> Key {
    cache.key(format!("fault-loop key {k}"))
}

/// A temp directory in memory where there is a tmpfs: the faults are injected, not the
/// disk's, and thousands of runs with real fsyncs would take minutes.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    match tempfile::tempdir_in(shm) {
        Ok(d) if shm.is_dir() => d,
        _ => tempfile::tempdir().expect("tempdir"),
    }
}

struct World {
    dir: tempfile::TempDir,
    root: PathBuf,
    fresh_root: PathBuf,
    faults: Arc<Faults>,
    store: Arc<FsStore>,
    cache: Cache,
    before: Vec<(PathBuf, Vec<u8>)>,
}

fn plain_cache(root: &Path) -> Cache {
    Cache::builder(root)
        .without_worker()
        .build()
        .expect("fault-free cache")
}

fn world(faults: &Arc<Faults>) -> World {
    let dir = scratch();
    let root = dir.path().join("cache");
    let fresh_root = dir.path().join("fresh/cache");
    let canary = dir.path().join("canary");
    std::fs::create_dir(&canary).expect("mkdir canary");
    plant(&canary.join("precious"), b"nothing may touch this", None);
    let seeder = plain_cache(&root);
    for k in 0..SEEDED {
        assert!(seeder.put(&key(&seeder, k), &value(k, 0)));
    }
    // Sidecar state of an earlier cleanup.
    sweeper(&fs_arc(&root), Duration::from_secs(0))
        .cleanup_now()
        .expect("a first cleanup");
    let fs = FsStore::open(&root).expect("open");
    // A damaged entry, a dead writer's temp file (two hours old) and a live writer's.
    let damaged = fs.entry_path(seeder.namespace(), key(&seeder, DAMAGED).digest());
    plant(&damaged, b"not a frame", None);
    let e0 = fs.entry_path(seeder.namespace(), key(&seeder, 0).digest());
    let name = e0.file_name().and_then(|n| n.to_str()).expect("name");
    let shard = e0.parent().expect("shard");
    plant(
        &shard.join(format!(".tmp-{name}-00000000000000aa")),
        b"dead",
        Some(SystemTime::now() - Duration::from_secs(7200)),
    );
    plant(
        &shard.join(format!(".tmp-{name}-00000000000000bb")),
        b"live",
        None,
    );
    let store = Arc::new(
        FsStore::open_with_faults(&root, FsOptions::new(), Arc::clone(faults))
            .expect("open with faults disarmed"),
    );
    let cache = hoard::CacheBuilder::with_store(Arc::clone(&store))
        .namespace(seeder.namespace().as_str())
        .build()
        .expect("faulted cache");
    let before = beside(dir.path(), &root, &fresh_root);
    World {
        dir,
        root,
        fresh_root,
        faults: Arc::clone(faults),
        store,
        cache,
        before,
    }
}

fn fs_arc(root: &Path) -> Arc<dyn Housekeeping> {
    Arc::new(FsStore::open(root).expect("open"))
}

/// A janitor whose clock runs `ahead` of the real one: a sweep with it counts every temp
/// file as a dead writer's.
fn sweeper(store: &Arc<dyn Housekeeping>, ahead: Duration) -> Janitor {
    let clock = Arc::new(ManualClock::new(SystemTime::now() + ahead));
    Janitor::new(
        Arc::clone(store),
        WorkerConfig::new().task_timeout(Duration::from_secs(60)),
    )
    .with_clock(clock)
}

fn plant(path: &Path, body: &[u8], modified: Option<SystemTime>) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(body).expect("write");
    if let Some(t) = modified {
        f.set_modified(t).expect("set mtime");
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn beside(base: &Path, root: &Path, fresh: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files(base)
        .into_iter()
        .filter(|p| !p.starts_with(root) && !p.starts_with(fresh))
        .map(|p| {
            let body = std::fs::read(&p).expect("read");
            (p, body)
        })
        .collect()
}

fn temps(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".tmp-"))
        })
        .collect()
}

fn janitor(w: &World, limits: Limits, codecs: bool) -> Janitor {
    let config = WorkerConfig::new()
        .limits(limits)
        .task_timeout(Duration::from_secs(600));
    let j = Janitor::new(Arc::clone(&w.store) as Arc<dyn Housekeeping>, config);
    if codecs {
        let zstd: Arc<dyn Codec> = Arc::new(Zstd::new(3).expect("level"));
        let best: Arc<dyn Codec> = Arc::new(Zstd::new(19).expect("level"));
        j.with_codecs(
            Codecs::new()
                .decoder(zstd)
                .decoder(Arc::new(Identity))
                .optimized(best),
        )
    } else {
        j
    }
}

struct Op {
    name: &'static str,
    /// Runs the operation; `Ok(false)` when a best-effort call returned a wrong value.
    run: fn(&World) -> Result<bool, Error>,
}

fn ops() -> Vec<Op> {
    vec![
        Op {
            name: "open",
            run: |w| {
                let store = FsStore::open_with_faults(
                    &w.fresh_root,
                    FsOptions::new(),
                    Arc::clone(&w.faults),
                )?;
                hoard::CacheBuilder::with_store(store).build()?;
                Ok(true)
            },
        },
        Op {
            name: "put",
            run: |w| {
                w.cache.try_put(&key(&w.cache, FRESH), &value(FRESH, 1))?;
                w.cache.try_put(&key(&w.cache, 1), &value(1, 1))?;
                Ok(true)
            },
        },
        Op {
            name: "get (a good and a damaged entry)",
            run: |w| {
                let good = w.cache.try_get(&key(&w.cache, 2))?;
                if good.is_some_and(|v| v != value(2, 0)) {
                    return Ok(false);
                }
                // Damage is a miss or an error (and the entry goes), never a value.
                let damaged = w.cache.try_get(&key(&w.cache, DAMAGED));
                Ok(!matches!(damaged, Ok(Some(_))))
            },
        },
        Op {
            name: "get_or_compute (best effort)",
            run: |w| {
                let got = w
                    .cache
                    .get_or_compute(&key(&w.cache, FRESH), || value(FRESH, 1));
                let hit = w.cache.get_or_compute(&key(&w.cache, 2), || value(2, 0));
                Ok(got == value(FRESH, 1) && hit == value(2, 0))
            },
        },
        Op {
            name: "cleanup (evicting)",
            run: |w| {
                janitor(w, Limits::new(2, 1 << 30), false).cleanup_now()?;
                Ok(true)
            },
        },
        Op {
            name: "evict older than",
            run: |w| {
                janitor(w, Limits::default(), false).evict_older_than(Duration::ZERO)?;
                Ok(true)
            },
        },
        Op {
            name: "sweep (cleanup under the limits)",
            run: |w| {
                janitor(w, Limits::default(), false).cleanup_now()?;
                Ok(true)
            },
        },
        Op {
            name: "recompress (one entry, then all)",
            run: |w| {
                let j = janitor(w, Limits::default(), true);
                j.recompress(w.cache.namespace(), key(&w.cache, 2).digest())?;
                j.recompress_all(&Identity, None)?;
                Ok(true)
            },
        },
    ]
}

/// The values key `k` may hold after any operation (besides a miss).
fn allowed(k: u32) -> Vec<Vec<u8>> {
    match k {
        FRESH => vec![value(FRESH, 1)],
        1 => vec![value(1, 0), value(1, 1)],
        DAMAGED => Vec::new(),
        k => vec![value(k, 0)],
    }
}

fn check(
    op: &Op,
    w: &World,
    f: Fault,
    got: std::thread::Result<Result<bool, Error>>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let mut note = |what: String| bad.push(format!("{} {f:?}: {what}", op.name));
    match got {
        Err(_) => note("panicked".to_owned()),
        Ok(Ok(false)) => note("returned a wrong value".to_owned()),
        Ok(Err(e)) if w.faults.first_failed_call().is_none() => {
            note(format!("failed without a fault: {e}"));
        }
        Ok(Err(e))
            if f.errno == Injected::Eintr
                && f.persistence == Persistence::Once
                && w.faults
                    .first_failed_call()
                    .is_some_and(fault::retries_eintr) =>
        {
            note(format!(
                "EINTR on {:?} was not retried: {e}",
                w.faults.first_failed_call()
            ));
        }
        Ok(_) => {}
    }
    // Every key right or a miss, through a fault-free cache.
    let reader = plain_cache(&w.root);
    for k in (0..SEEDED).chain([FRESH]) {
        match reader.try_get(&key(&reader, k)) {
            Ok(None) => {}
            Ok(Some(v)) if allowed(k).contains(&v) => {}
            Ok(Some(v)) => note(format!("key {k} read back {} wrong bytes", v.len())),
            Err(e) if k == DAMAGED => drop(e),
            Err(e) => note(format!("key {k} unreadable: {e}")),
        }
    }
    // A fault-free cleanup that counts every temp file as stale leaves none.
    let fs = fs_arc(&w.root);
    if let Err(e) = sweeper(&fs, Duration::from_secs(7200)).cleanup_now() {
        note(format!("fault-free cleanup failed: {e}"));
    }
    let left = temps(&w.root.join("v1"));
    if !left.is_empty() {
        note(format!("temp files after cleanup: {left:?}"));
    }
    // State temps of writes whose own cleanup failed too are swept by the next state write
    // once an hour old.
    let state_temps = temps(&w.root.join("state"));
    for t in &state_temps {
        let f = std::fs::File::options()
            .write(true)
            .open(t)
            .expect("open state temp");
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .expect("backdate");
    }
    if !state_temps.is_empty() {
        let _ = sweeper(&fs, Duration::ZERO).cleanup_now();
        let left = temps(&w.root.join("state"));
        if !left.is_empty() {
            note(format!("old state temps survived: {left:?}"));
        }
    }
    if beside(w.dir.path(), &w.root, &w.fresh_root) != w.before {
        note("something beside the root changed".to_owned());
    }
    bad
}

#[test]
fn every_call_of_put_get_cleanup_recompress_and_open_fails_cleanly() {
    let mut figures: BTreeMap<&str, u64> = BTreeMap::new();
    let mut violations = Vec::new();
    for op in ops() {
        for errno in Injected::ALL {
            for persistence in Persistence::ALL {
                let faults = Faults::new();
                let explored = fault::explore(&faults, errno, persistence, |f| {
                    let w = world(&faults);
                    faults.arm(f);
                    let got = catch_unwind(AssertUnwindSafe(|| (op.run)(&w)));
                    faults.disarm();
                    violations.extend(check(&op, &w, f, got));
                });
                *figures.entry(op.name).or_default() += explored.faulted_runs;
            }
        }
    }
    for (name, runs) in &figures {
        println!("{name}: {runs} faulted runs (9 errnos x once/persistent)");
    }
    assert!(violations.is_empty(), "{violations:#?}");
    for (name, runs) in figures {
        assert!(runs >= 18 * 3, "{name}: only {runs} faulted runs");
    }
}
