//! I/O-error rows: the n-th-call fault loop of hoard-fs's I/O seam (feature
//! `fault-injection`) through the facade and the eviction janitor, on bigger caches than
//! the facade's test of the same loop.
//!
//! For each operation (open, put at each durability, get of good and damaged entries,
//! cleanup evicting and sweeping, eviction by age, recompression; row `io-errors-chunked`:
//! a put and a get of a chunked frame; row `io-errors-adaptive`: a pass of the adaptive
//! format making two idle entries cold, and a cold entry made hot) and each of EIO, ENOSPC,
//! EDQUOT, EROFS, EACCES, EMFILE, EXDEV, ENOENT and EINTR, once and persistently, call
//! n = 1, 2, ... fails until the operation no longer reaches it. After every run, faults
//! off: nothing panicked, every key reads back right or as a miss, EINTR was retried where
//! the seam's policy says so, a cleanup leaves no temp file, and nothing beside the root
//! changed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard::evict::{Adaptive, Codecs, Janitor, Limits, ManualClock, WorkerConfig};
use hoard::{
    Cache, CacheBuilder, Codec, Durability, FsOptions, FsStore, Housekeeping, Identity, Lz4, Zstd,
};
use hoard_fs::fault::{self, Fault, Faults, Injected, Persistence};

use super::arena;
use crate::inspect::{Canary, scan};
use crate::row::{Row, RowResult, Tier};
use crate::rows::failpoints::CHUNKED_LEN;
use crate::value::{self, NAMESPACE, Read, Stamp};

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(IoErrors {
            name: "io-errors",
            title: "i/o errors: n-th call loop",
            ops,
        }),
        Box::new(IoErrors {
            name: "io-errors-chunked",
            title: "i/o errors: n-th call loop, chunked frames",
            ops: chunked_ops,
        }),
        Box::new(IoErrors {
            name: "io-errors-adaptive",
            title: "i/o errors: n-th call loop, adaptive conversions",
            ops: adaptive_ops,
        }),
    ]
}

struct IoErrors {
    name: &'static str,
    title: &'static str,
    ops: fn() -> Vec<Op>,
}

impl Row for IoErrors {
    fn name(&self) -> &str {
        self.name
    }

    fn title(&self) -> &str {
        self.title
    }

    fn run(&self, tier: &Tier) -> RowResult {
        run(tier, (self.ops)())
    }
}

/// What a world holds beyond the common seed, for an operation that starts from it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extra {
    None,
    /// Key 3 a chunked entry of [`CHUNKED_LEN`] bytes.
    Chunked,
    /// Keys 3 and 5 in LZ4 (the adaptive format's fast format), last used two hours ago.
    IdleFast,
    /// Key 3 at zstd 19 (the adaptive format's cold format).
    Cold,
}

/// An operation: name, durability of the store, what the world holds, and the operation.
type Op = (&'static str, Durability, Extra, OpFn);

/// One operation under the loop; returns whether best-effort results were right.
type OpFn = fn(&World) -> hoard::Result<bool>;

struct World {
    root: PathBuf,
    fresh: PathBuf,
    faults: Arc<Faults>,
    store: Arc<FsStore>,
    cache: Cache,
    keys: u32,
    canary: Canary,
    _dir: tempfile::TempDir,
}

fn stamp(k: u32, seq: u64) -> Stamp {
    Stamp {
        key: k,
        writer: value::HARNESS,
        seq,
    }
}

fn plain(root: &Path) -> Result<Cache, String> {
    super::open(root, Durability::None)
}

fn world(
    keys: u32,
    durability: Durability,
    extra: Extra,
    faults: &Arc<Faults>,
) -> Result<World, String> {
    let dir = scratch()?;
    // Both roots in one area, which the canary beside it skips.
    let area = dir.path().join("area");
    let root = area.join("cache");
    let fresh = area.join("fresh");
    let seeder = plain(&root)?;
    for k in 0..keys {
        let len = 64 + (k as usize * 997) % 20_000;
        seeder
            .try_put(&value::key(&seeder, k), &value::make(stamp(k, 0), len))
            .map_err(|e| format!("seeding: {e}"))?;
    }
    // A damaged entry, a dead writer's temp file, and the sidecar state of a cleanup.
    let fs = FsStore::open(&root).map_err(|e| e.to_string())?;
    let damaged = fs.entry_path(seeder.namespace(), value::key(&seeder, 1).digest());
    write(&damaged, b"damaged", None)?;
    let e0 = fs.entry_path(seeder.namespace(), value::key(&seeder, 0).digest());
    if let (Some(shard), Some(name)) = (e0.parent(), e0.file_name().and_then(|n| n.to_str())) {
        let old = SystemTime::now() - Duration::from_secs(7200);
        write(
            &shard.join(format!(".tmp-{name}-00000000000000aa")),
            b"dead",
            Some(old),
        )?;
    }
    sweeper(&root, Duration::ZERO)?
        .cleanup_now()
        .map_err(|e| format!("first cleanup: {e}"))?;
    seed_extra(&root, extra)?;
    let store = Arc::new(
        FsStore::open_with_faults(
            &root,
            FsOptions::new().durability(durability),
            Arc::clone(faults),
        )
        .map_err(|e| e.to_string())?,
    );
    let cache = CacheBuilder::with_store(Arc::clone(&store))
        .namespace(NAMESPACE)
        .build()
        .map_err(|e| e.to_string())?;
    let canary = Canary::plant(dir.path(), &area).map_err(|e| format!("canary: {e}"))?;
    Ok(World {
        root,
        fresh,
        faults: Arc::clone(faults),
        store,
        cache,
        keys,
        canary,
        _dir: dir,
    })
}

/// Rewrites the keys `extra` asks for.
fn seed_extra(root: &Path, extra: Extra) -> Result<(), String> {
    let rewrite = |codec: Arc<dyn Codec>, k: u32, len: usize| -> Result<Cache, String> {
        let cache = Cache::builder(root)
            .namespace(NAMESPACE)
            .codec_arc(codec)
            .without_worker()
            .build()
            .map_err(|e| e.to_string())?;
        cache
            .try_put(&value::key(&cache, k), &value::make(stamp(k, 0), len))
            .map_err(|e| format!("seeding: {e}"))?;
        Ok(cache)
    };
    let len = |k: u32| 64 + (k as usize * 997) % 20_000;
    let zstd = |level| Zstd::new(level).map_err(|e| e.to_string());
    match extra {
        Extra::None => {}
        Extra::Chunked => {
            rewrite(Arc::new(zstd(3)?), 3, CHUNKED_LEN)?;
        }
        Extra::IdleFast => {
            let fs = FsStore::open(root).map_err(|e| e.to_string())?;
            let old = SystemTime::now() - Duration::from_secs(2 * 3600);
            for k in [3, 5] {
                let cache = rewrite(Arc::new(Lz4), k, len(k))?;
                let path = fs.entry_path(cache.namespace(), value::key(&cache, k).digest());
                std::fs::File::open(&path)
                    .and_then(|f| {
                        f.set_times(
                            std::fs::FileTimes::new()
                                .set_accessed(old)
                                .set_modified(old),
                        )
                    })
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        Extra::Cold => {
            rewrite(Arc::new(zstd(19)?), 3, len(3))?;
        }
    }
    Ok(())
}

/// A temp directory in memory where there is a tmpfs: the faults are injected, not the
/// disk's, and tens of thousands of runs would otherwise wait on the disk.
fn scratch() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("hoard-reliability-io-errors-")
        .tempdir_in("/dev/shm")
        .or_else(|_| arena("io-errors"))
        .map_err(|e| e.to_string())
}

fn write(path: &Path, body: &[u8], modified: Option<SystemTime>) -> Result<(), String> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(body).map_err(|e| e.to_string())?;
    if let Some(t) = modified {
        f.set_modified(t).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// A janitor on a fault-free store whose clock runs `ahead`: with two hours, every temp
/// file counts as a dead writer's.
fn sweeper(root: &Path, ahead: Duration) -> Result<Janitor, String> {
    let store: Arc<dyn Housekeeping> = Arc::new(FsStore::open(root).map_err(|e| e.to_string())?);
    Ok(Janitor::new(
        store,
        WorkerConfig::new().task_timeout(Duration::from_secs(60)),
    )
    .with_clock(Arc::new(ManualClock::new(SystemTime::now() + ahead))))
}

fn janitor(w: &World, limits: Limits) -> Janitor {
    let zstd: Arc<dyn Codec> = Arc::new(Zstd::new(3).expect("level 3 is valid"));
    let best: Arc<dyn Codec> = Arc::new(Zstd::new(19).expect("level 19 is valid"));
    Janitor::new(
        Arc::clone(&w.store) as Arc<dyn Housekeeping>,
        WorkerConfig::new()
            .limits(limits)
            .task_timeout(Duration::from_secs(600)),
    )
    .with_codecs(
        Codecs::new()
            .decoder(zstd)
            .decoder(Arc::new(Identity))
            .optimized(best),
    )
}

/// A janitor of the adaptive format (LZ4 fast, zstd 19 cold) whose entries go cold after
/// `cold_after`.
fn adaptive_janitor(w: &World, cold_after: Duration) -> Janitor {
    let cold: Arc<dyn Codec> = Arc::new(Zstd::new(19).expect("level 19 is valid"));
    Janitor::new(
        Arc::clone(&w.store) as Arc<dyn Housekeeping>,
        WorkerConfig::new()
            .task_timeout(Duration::from_secs(600))
            .adaptive(Adaptive::new().cold_after(cold_after)),
    )
    .with_codecs(
        Codecs::new()
            .decoder(Arc::new(Identity))
            .decoder(Arc::new(Zstd::new(3).expect("level 3 is valid")))
            .adaptive(Arc::new(Lz4), cold),
    )
}

fn chunked_ops() -> Vec<Op> {
    vec![
        ("put chunked", Durability::Full, Extra::None, |w| {
            let fresh = w.keys;
            w.cache.try_put(
                &value::key(&w.cache, fresh),
                &value::make(stamp(fresh, 1), CHUNKED_LEN),
            )?;
            Ok(true)
        }),
        ("get chunked", Durability::None, Extra::Chunked, |w| {
            // A failed read is an error or a miss, never a wrong value.
            Ok(match w.cache.try_get(&value::key(&w.cache, 3))? {
                Some(v) => matches!(value::check(3, &v), value::Verdict::Good(_)),
                None => true,
            })
        }),
    ]
}

fn adaptive_ops() -> Vec<Op> {
    vec![
        ("make cold", Durability::None, Extra::IdleFast, |w| {
            adaptive_janitor(w, Duration::from_secs(3600)).adapt(w.cache.namespace())?;
            Ok(true)
        }),
        ("make hot", Durability::None, Extra::Cold, |w| {
            let j = adaptive_janitor(w, Duration::from_secs(86_400));
            j.adapt(w.cache.namespace())?;
            j.make_hot(w.cache.namespace(), value::key(&w.cache, 3).digest())?;
            Ok(true)
        }),
    ]
}

fn ops() -> Vec<Op> {
    fn put(w: &World) -> hoard::Result<bool> {
        let fresh = w.keys;
        w.cache.try_put(
            &value::key(&w.cache, fresh),
            &value::make(stamp(fresh, 1), 5000),
        )?;
        w.cache
            .try_put(&value::key(&w.cache, 2), &value::make(stamp(2, 1), 300))?;
        Ok(true)
    }
    vec![
        ("open", Durability::None, Extra::None, |w| {
            let store =
                FsStore::open_with_faults(&w.fresh, FsOptions::new(), Arc::clone(&w.faults))?;
            CacheBuilder::with_store(store).build()?;
            Ok(true)
        }),
        ("put", Durability::None, Extra::None, put),
        ("put data", Durability::Data, Extra::None, put),
        ("put full", Durability::Full, Extra::None, put),
        ("get", Durability::None, Extra::None, |w| {
            for k in [0, 3] {
                if let Some(v) = w.cache.try_get(&value::key(&w.cache, k))?
                    && !matches!(value::check(k, &v), value::Verdict::Good(_))
                {
                    return Ok(false);
                }
            }
            // Key 1 is damaged: an error or a miss (and the file goes), never a value.
            Ok(!matches!(
                w.cache.try_get(&value::key(&w.cache, 1)),
                Ok(Some(_))
            ))
        }),
        ("get_or_compute", Durability::None, Extra::None, |w| {
            let k = 4;
            let want = value::make(stamp(k, 0), 64 + (k as usize * 997) % 20_000);
            let got = w
                .cache
                .get_or_compute(&value::key(&w.cache, k), || want.clone());
            Ok(got == want)
        }),
        ("cleanup", Durability::None, Extra::None, |w| {
            janitor(w, Limits::new(u64::from(w.keys / 2), 1 << 30)).cleanup_now()?;
            Ok(true)
        }),
        ("evict by age", Durability::None, Extra::None, |w| {
            janitor(w, Limits::default()).evict_older_than(Duration::ZERO)?;
            Ok(true)
        }),
        ("sweep", Durability::None, Extra::None, |w| {
            janitor(w, Limits::default()).cleanup_now()?;
            Ok(true)
        }),
        ("recompress", Durability::None, Extra::None, |w| {
            let j = janitor(w, Limits::default());
            j.recompress(w.cache.namespace(), value::key(&w.cache, 3).digest())?;
            j.recompress_all(&Identity, None)?;
            Ok(true)
        }),
    ]
}

/// Checks one run; returns the violations.
fn check(w: &World, f: Fault, got: std::thread::Result<hoard::Result<bool>>) -> Vec<String> {
    let mut bad = Vec::new();
    let first = w.faults.first_failed_call();
    match got {
        Err(_) => bad.push("panicked".to_owned()),
        Ok(Ok(false)) => bad.push("a wrong value".to_owned()),
        Ok(Err(e)) if first.is_none() => bad.push(format!("failed without a fault: {e}")),
        Ok(Err(e))
            if f.errno == Injected::Eintr
                && f.persistence == Persistence::Once
                && first.is_some_and(fault::retries_eintr) =>
        {
            bad.push(format!("EINTR on {first:?} reported, not retried: {e}"));
        }
        Ok(_) => {}
    }
    match plain(&w.root) {
        Ok(reader) => {
            for k in 0..=w.keys {
                match value::read_back(&reader, k) {
                    Read::Short | Read::Wrong(_) => bad.push(format!("key {k} read back wrong")),
                    Read::Error(e) => bad.push(format!("key {k} unreadable: {e}")),
                    _ => {}
                }
            }
        }
        Err(e) => bad.push(e),
    }
    match sweeper(&w.root, Duration::from_secs(7200)).map(|j| j.cleanup_now()) {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => bad.push(format!("fault-free cleanup failed: {e}")),
        Err(e) => bad.push(e),
    }
    let left = scan(&w.root).temps.len();
    if left > 0 {
        bad.push(format!("{left} temp files after cleanup"));
    }
    bad.extend(w.canary.changes());
    bad
}

fn run(tier: &Tier, ops: Vec<Op>) -> RowResult {
    let mut res = RowResult::ran();
    // A cleanup's calls grow with the shards it visits and the loop runs every call count,
    // so the cost grows with the square of the keys: the soak tier doubles them, not ten
    // times.
    let keys = if tier.soak { 24 } else { 12 };
    let (mut runs, mut faulted, mut violations, mut state_temps) = (0u64, 0u64, 0u64, 0u64);
    let mut per_op = Vec::new();
    for (name, durability, extra, op) in ops {
        let mut op_faulted = 0;
        for errno in Injected::ALL {
            for persistence in Persistence::ALL {
                let faults = Faults::new();
                let mut setup_failed = None;
                let explored = fault::explore(&faults, errno, persistence, |f| {
                    let w = match world(keys, durability, extra, &faults) {
                        Ok(w) => w,
                        Err(e) => {
                            setup_failed = Some(e);
                            return;
                        }
                    };
                    faults.arm(f);
                    let got = catch_unwind(AssertUnwindSafe(|| op(&w)));
                    faults.disarm();
                    for v in check(&w, f, got) {
                        violations += 1;
                        res.violation(format!(
                            "{name} {} {} call {}: {v}",
                            errno,
                            persistence.name(),
                            f.nth
                        ));
                    }
                    state_temps += scan(&w.root).state_temps;
                });
                if let Some(e) = setup_failed {
                    res.violation(format!("{name}: setup failed: {e}"));
                    return res;
                }
                runs += explored.runs;
                faulted += explored.faulted_runs;
                op_faulted += explored.faulted_runs;
            }
        }
        per_op.push(format!("{name} {}", op_faulted / 18));
    }
    res.info(faulted, "faulted runs")
        .info(runs, "runs")
        .zero(violations, "violations")
        .note(format!(
            "{keys} keys; calls per operation (each x 9 errnos x once/persistent): {}",
            per_op.join(", ")
        ))
        .note(format!(
            "{state_temps} state temp files left by persistent faults (swept by the next state write once an hour old)"
        ));
    res
}
