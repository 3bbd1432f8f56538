//! Resource-exhaustion rows: a full disk (bytes and inodes), a read-only remount, and a
//! child under `ulimit -n` or `ulimit -f`.
//!
//! The disk-full rows put from the harness itself into a small tmpfs, with the eviction
//! janitor making room now and then as the worker would, and check after every failed put
//! that it left no temp file (I3). The limit rows run a child with the limit applied before
//! exec and hold it to: puts fail cleanly (an error, no panic), gets of existing entries
//! still work, nothing is left behind, descriptors return to their baseline (I4).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoard::evict::{Janitor, Limits as EvictLimits, WorkerConfig};
use hoard::{Cache, FsStore, Housekeeping, Identity};

use super::{Reads, arena, clean_exit, containment, range_arg};
use crate::inspect::{Canary, scan};
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};
use crate::sys::{self, Limits, Mount};
use crate::value::{self, NAMESPACE, Read, Stamp};

/// The exhaustion rows.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(Full {
            name: "full-bytes",
            title: "disk full: 1 MiB tmpfs",
            options: "size=1m",
            size: 1 << 20,
            count: 16,
        }),
        Box::new(Full {
            name: "full-inodes",
            title: "disk full: 16-inode tmpfs",
            options: "size=16m,nr_inodes=16",
            size: 16 << 20,
            count: 1,
        }),
        Box::new(ReadOnly),
        Box::new(NoFile),
        Box::new(FileSize),
    ]
}

fn failed(why: String) -> RowResult {
    let mut r = RowResult::ran();
    r.violation(why);
    r
}

/// An arena with a tmpfs mounted at `arena/mnt` and a canary beside the cache root in it.
struct TmpfsArena {
    // Field order is drop order: unmount before the temp directory goes.
    mount: Mount,
    canary: Canary,
    root: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl TmpfsArena {
    /// `canary_inside`: plant the canary in the mount beside the root (it costs 5 inodes),
    /// or beside the mount point; either way everything beside the root is fingerprinted.
    fn new(row: &str, options: &str, canary_inside: bool) -> Result<Self, RowResult> {
        if let Some(why) = sys::cannot_mount() {
            return Err(RowResult::not_run(why));
        }
        let dir = arena(row).map_err(failed)?;
        let point = dir.path().join("mnt");
        std::fs::create_dir(&point)
            .map_err(|e| failed(format!("cannot create the mount point: {e}")))?;
        let mount = Mount::tmpfs(&point, options)
            .map_err(|e| RowResult::not_run(format!("cannot mount a tmpfs: {e}")))?;
        let root = point.join("cache");
        let arena_of_canary = if canary_inside {
            point.as_path()
        } else {
            dir.path()
        };
        let canary = Canary::plant(arena_of_canary, &root)
            .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
        Ok(Self {
            mount,
            canary,
            root,
            _dir: dir,
        })
    }
}

/// Used bytes of the filesystem at `path`, and its size.
fn usage(path: &Path) -> (u64, u64) {
    match rustix::fs::statvfs(path) {
        Ok(s) => (
            (s.f_blocks - s.f_bfree) * s.f_frsize,
            s.f_blocks * s.f_frsize,
        ),
        Err(_) => (0, 0),
    }
}

fn identity_cache(root: &Path) -> Result<Cache, String> {
    Cache::builder(root)
        .namespace(NAMESPACE)
        .codec(Identity)
        .without_worker()
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))
}

fn janitor(root: &Path, limits: EvictLimits) -> Result<Janitor, String> {
    let store = FsStore::open(root).map_err(|e| format!("cannot open the store: {e}"))?;
    Ok(Janitor::new(
        Arc::new(store) as Arc<dyn Housekeeping>,
        WorkerConfig::new().limits(limits),
    ))
}

/// A disk-full row: ≥ 1,000 puts into a tiny tmpfs.
struct Full {
    name: &'static str,
    title: &'static str,
    options: &'static str,
    size: u64,
    /// The entry limit of the janitor that makes room now and then.
    count: u64,
}

impl Row for Full {
    fn name(&self) -> &str {
        self.name
    }

    fn title(&self) -> &str {
        self.title
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match self.fill(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

const FULL_KEYS: u32 = 64;

impl Full {
    fn fill(&self, tier: &Tier) -> Result<RowResult, RowResult> {
        let a = TmpfsArena::new(self.name, self.options, self.count > 1)?;
        let point = a.mount.point().to_path_buf();
        let cache = identity_cache(&a.root).map_err(failed)?;
        // Evict down to half the mount when asked, as the worker would; run once now so that
        // the lock and state files exist before space runs out.
        let janitor =
            janitor(&a.root, EvictLimits::new(self.count, self.size / 2)).map_err(failed)?;
        let _ = janitor.cleanup_now();
        let mut rng = tier.rng(self.name);
        let puts = tier.count(1000);
        let mut res = RowResult::ran();
        let (mut stored, mut temps_after_failure, mut cleanups, mut over) =
            (0u64, 0u64, 0u64, 0u64);
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut peak = 0u64;
        // The sequence number of the last successful put of every key.
        let mut expected: BTreeMap<u32, u64> = BTreeMap::new();
        let mut reads = Reads::default();
        for i in 0..puts {
            let k = rng.u32(0..FULL_KEYS);
            let stamp = Stamp {
                key: k,
                writer: value::HARNESS,
                seq: i,
            };
            let data = value::make(stamp, value::size(&mut rng, 512, 192 << 10));
            match cache.try_put(&value::key(&cache, k), &data) {
                Ok(()) => {
                    stored += 1;
                    expected.insert(k, i);
                }
                Err(e) => {
                    *errors.entry(sys::error_class(&e)).or_default() += 1;
                    let left = scan(&a.root).temps.len() as u64;
                    if left > 0 {
                        temps_after_failure += left;
                        res.violation(format!("put {i} failed ({e}) and left {left} temp file(s)"));
                    }
                }
            }
            let (used, total) = usage(&point);
            peak = peak.max(used);
            if used > total {
                over += 1;
            }
            if i % 50 == 49 && janitor.cleanup_now().is_ok() {
                cleanups += 1;
            }
            if i % 10 == 9 {
                let k = rng.u32(0..FULL_KEYS);
                judge(&mut reads, &cache, k, expected.get(&k).copied());
            }
        }
        for k in 0..FULL_KEYS {
            judge(&mut reads, &cache, k, expected.get(&k).copied());
        }
        for d in &reads.details {
            res.violation(d.clone());
        }
        let left = scan(&a.root);
        let failures: u64 = errors.values().sum();
        let why: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
        res.info(puts, "puts")
            .info(stored, "stored")
            .info(failures, "failed")
            .info(cleanups, "cleanups")
            .zero(reads.violations(), "wrong reads")
            .zero(temps_after_failure, "temp files after failed puts")
            .zero(left.temps.len() as u64, "temp files left")
            .zero(over, "times usage exceeded the mount");
        containment(&mut res, &a.canary);
        res.note(format!(
            "failures: {}; peak usage {} KiB of {} KiB; {} verified hits, {} misses",
            if why.is_empty() {
                "none".to_owned()
            } else {
                why.join(", ")
            },
            peak >> 10,
            usage(&point).1 >> 10,
            reads.good,
            reads.misses
        ));
        if failures == 0 {
            res.violation("no put failed: the mount never filled up, so the row tested nothing");
        }
        Ok(res)
    }
}

/// Reads key `k`, whose last successful put had sequence number `expected`: a hit must be
/// that put (eviction may have made it a miss; an older value would be a lost update).
fn judge(reads: &mut Reads, cache: &Cache, k: u32, expected: Option<u64>) {
    let read = value::read_back(cache, k);
    let stale = match (&read, expected) {
        (Read::Good(s), Some(e)) => s.seq != e,
        (Read::Good(_), None) => true,
        _ => false,
    };
    if stale {
        reads.add(
            k,
            Read::Wrong(format!("key {k} read {read:?}, expected seq {expected:?}")),
        );
    } else {
        reads.add(k, read);
    }
}

/// Read-only remount: gets still hit, puts fail cleanly.
struct ReadOnly;

impl Row for ReadOnly {
    fn name(&self) -> &str {
        "readonly"
    }

    fn title(&self) -> &str {
        "read-only remount"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match readonly(tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

fn readonly(tier: &Tier) -> Result<RowResult, RowResult> {
    const KEYS: u32 = 64;
    let a = TmpfsArena::new("readonly", "size=32m", true)?;
    let mut rng = tier.rng("readonly");
    let mut res = RowResult::ran();
    // A cache opened while the filesystem was writable, and another opened after.
    let before = Cache::builder(&a.root)
        .namespace(NAMESPACE)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    for k in 0..KEYS {
        let stamp = Stamp {
            key: k,
            writer: value::HARNESS,
            seq: 1,
        };
        let data = value::make(stamp, value::size(&mut rng, 24, 64 << 10));
        before
            .try_put(&value::key(&before, k), &data)
            .map_err(|e| failed(format!("cannot populate: {e}")))?;
    }
    a.mount.remount("ro").map_err(failed)?;
    let after = Cache::builder(&a.root).namespace(NAMESPACE).build();
    let mut caches = vec![("opened before", before)];
    match after {
        Ok(c) => caches.push(("opened after", c)),
        Err(e) => {
            res.violation(format!("a read-only cache does not open: {e}"));
        }
    }
    let puts = tier.count(200);
    let (mut refused, mut accepted) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut reads = Reads::default();
    for (_, cache) in &caches {
        for k in 0..KEYS {
            reads.add(k, value::read_back(cache, k));
        }
        for i in 0..puts {
            let k = rng.u32(0..KEYS);
            let stamp = Stamp {
                key: k,
                writer: value::HARNESS,
                seq: 2 + i,
            };
            match cache.try_put(&value::key(cache, k), &value::make(stamp, 4096)) {
                Ok(()) => accepted += 1,
                Err(e) => {
                    refused += 1;
                    *errors.entry(sys::error_class(&e)).or_default() += 1;
                }
            }
            // The plain API turns the failure into `false`, without panicking.
            if cache.put(&value::key(cache, k), &value::make(stamp, 100)) {
                accepted += 1;
            }
        }
    }
    // Eviction on a read-only cache must fail or do nothing, never panic.
    let cleanup = janitor(&a.root, EvictLimits::new(1, 1)).map(|j| j.cleanup_now());
    drop(caches);
    a.mount.remount("rw").map_err(failed)?;
    for d in &reads.details {
        res.violation(d.clone());
    }
    let gets = reads.good + reads.misses + reads.wrong + reads.short + reads.corrupt + reads.errors;
    let left = scan(&a.root);
    res.info(gets, "gets")
        .info(reads.good, "hits")
        .zero(gets - reads.good, "gets that did not hit")
        .zero(reads.violations(), "wrong reads")
        .info(refused, "puts refused")
        .zero(accepted, "puts accepted")
        .zero(left.temps.len() as u64, "temp files left");
    containment(&mut res, &a.canary);
    let why: Vec<String> = errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
    res.note(format!(
        "refusals: {}; a cleanup on the read-only cache returned {}",
        why.join(", "),
        match cleanup {
            Ok(Ok(r)) => format!("ok ({} evicted)", r.evicted),
            Ok(Err(e)) => format!("an error ({e})"),
            Err(e) => format!("an error opening the store ({e})"),
        }
    ));
    Ok(res)
}

/// Runs a limit child (`nofile` or `fsize`) against a cache the harness filled first.
struct Limited<'a> {
    row: &'a str,
    role: &'a str,
    limits: Limits,
    /// Existing entries: keys `0..existing`, sizes in `sizes`.
    existing: u32,
    sizes: (usize, usize),
    /// Keys the child puts.
    fresh: std::ops::Range<u32>,
    extra: Vec<(&'a str, String)>,
}

struct LimitedRun {
    dir: tempfile::TempDir,
    root: std::path::PathBuf,
    canary: Canary,
    finished: crate::proc::Finished,
}

impl Limited<'_> {
    fn run(&self, tier: &Tier) -> Result<LimitedRun, RowResult> {
        let dir = arena(self.row).map_err(failed)?;
        let root = dir.path().join("cache");
        let canary = Canary::plant(dir.path(), &root)
            .map_err(|e| failed(format!("cannot plant the canary: {e}")))?;
        let cache = identity_cache(&root).map_err(failed)?;
        let mut rng = tier.rng(self.row);
        for k in 0..self.existing {
            let stamp = Stamp {
                key: k,
                writer: value::HARNESS,
                seq: 0,
            };
            let data = value::make(stamp, value::size(&mut rng, self.sizes.0, self.sizes.1));
            cache
                .try_put(&value::key(&cache, k), &data)
                .map_err(|e| failed(format!("cannot populate: {e}")))?;
        }
        drop(cache);
        let mut args = vec![
            ("dir", root.display().to_string()),
            ("codec", "identity".to_owned()),
            ("keys", range_arg(&(0..self.existing))),
            ("new", range_arg(&self.fresh)),
            ("seed", rng.u64(..).to_string()),
        ];
        args.extend(self.extra.iter().cloned());
        let mut child = Proc::spawn(self.role, &args, Some(self.limits)).map_err(failed)?;
        child.wait_ready(Duration::from_secs(20)).map_err(failed)?;
        let finished = child.finish(Duration::from_secs(120));
        Ok(LimitedRun {
            dir,
            root,
            canary,
            finished,
        })
    }
}

/// After a limit child: every put it acknowledged reads back right, every other fresh key
/// is a miss, nothing is left behind. Returns (verified, wrong).
fn check_after(run: &LimitedRun, fresh: std::ops::Range<u32>, res: &mut RowResult) -> (u64, u64) {
    let acked: Vec<u32> = run
        .finished
        .lines
        .iter()
        .filter_map(|l| l.strip_prefix("ack "))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect();
    let cache = match identity_cache(&run.root) {
        Ok(c) => c,
        Err(e) => {
            res.violation(e);
            return (0, 0);
        }
    };
    let (mut verified, mut wrong) = (0, 0);
    for k in fresh {
        match (value::read_back(&cache, k), acked.contains(&k)) {
            (Read::Good(_), true) | (Read::Miss, false) => verified += 1,
            (other, was_acked) => {
                wrong += 1;
                res.violation(format!(
                    "key {k} (acknowledged: {was_acked}) reads as {other:?}"
                ));
            }
        }
    }
    (verified, wrong)
}

/// `ulimit -n 16`.
struct NoFile;

impl Row for NoFile {
    fn name(&self) -> &str {
        "ulimit-nofile"
    }

    fn title(&self) -> &str {
        "ulimit -n 16"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        let fresh = 1000..1032;
        let l = Limited {
            row: "ulimit-nofile",
            role: "nofile",
            limits: Limits {
                nofile: Some(16),
                fsize: None,
            },
            existing: 32,
            sizes: (64, 8 << 10),
            fresh: fresh.clone(),
            extra: Vec::new(),
        };
        let run = match l.run(tier) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let mut res = RowResult::ran();
        clean_exit(&mut res, &run.finished, "nofile");
        let r = run.finished.result();
        let get = |k: &str| r.get(k).copied().unwrap_or(0);
        let sum = |what: &str| (0..4).map(|f| get(&format!("f{f}_{what}"))).sum::<u64>();
        let (verified, wrong_after) = check_after(&run, fresh, &mut res);
        let left = scan(&run.root);
        // With two or more descriptors free, a get of an existing entry must hit.
        let gets_free = get("f2_get_hit")
            + get("f2_get_miss")
            + get("f2_get_err")
            + get("f3_get_hit")
            + get("f3_get_miss")
            + get("f3_get_err");
        let hits_free = get("f2_get_hit") + get("f3_get_hit");
        res.info(sum("put_ok") + sum("put_err"), "puts")
            .info(sum("put_err"), "failed cleanly")
            .info(sum("get_hit"), "hits")
            .zero(gets_free - hits_free, "gets missed with fds free")
            .zero(sum("wrong") + wrong_after, "wrong reads")
            .zero(get("fds_after").abs_diff(get("fds_before")), "fds leaked")
            .zero(
                left.temps.len() as u64 + left.foreign.len() as u64,
                "files left behind",
            );
        containment(&mut res, &run.canary);
        res.note(format!(
            "the child filled its table with {} spare descriptors, then freed 0-3 of them per \
             phase; with 0 free: {} puts failed, {} gets failed; {verified} keys checked after",
            get("filled"),
            get("f0_put_err"),
            get("f0_get_err") + get("f0_get_miss"),
        ));
        if r.is_empty() {
            res.violation("the child reported nothing");
        }
        drop(run.dir);
        res
    }
}

/// `ulimit -f` (RLIMIT_FSIZE, with SIGXFSZ ignored).
struct FileSize;

const FSIZE_LIMIT: u64 = 16 << 10;

impl Row for FileSize {
    fn name(&self) -> &str {
        "ulimit-fsize"
    }

    fn title(&self) -> &str {
        "ulimit -f 16 KiB"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        let puts = u32::try_from(tier.count(200)).unwrap_or(u32::MAX);
        let fresh = 1000..1000 + puts;
        let l = Limited {
            row: "ulimit-fsize",
            role: "fsize",
            limits: Limits {
                nofile: None,
                fsize: Some(FSIZE_LIMIT),
            },
            existing: 16,
            sizes: (32 << 10, 256 << 10),
            fresh: fresh.clone(),
            extra: vec![
                ("min", (1 << 10).to_string()),
                ("max", (64 << 10).to_string()),
            ],
        };
        let run = match l.run(tier) {
            Ok(r) => r,
            Err(r) => return r,
        };
        let mut res = RowResult::ran();
        clean_exit(&mut res, &run.finished, "fsize");
        let r = run.finished.result();
        let get = |k: &str| r.get(k).copied().unwrap_or(0);
        let (_, wrong_after) = check_after(&run, fresh.clone(), &mut res);
        let left = scan(&run.root);
        let oversized = scan_sizes_over(&run.root, fresh, FSIZE_LIMIT);
        res.info(u64::from(puts), "puts")
            .info(get("put_ok"), "stored")
            .info(get("put_efbig"), "failed with EFBIG")
            .zero(get("put_other"), "failed otherwise")
            .info(get("hits"), "large entries read")
            .zero(get("reads") - get("hits"), "gets that did not hit")
            .zero(get("wrong") + get("short") + wrong_after, "wrong reads")
            .zero(left.temps.len() as u64, "temp files left")
            .zero(oversized, "new files over the limit");
        containment(&mut res, &run.canary);
        if get("put_efbig") == 0 || get("put_ok") == 0 {
            res.violation("the limit did not split the puts into stored and refused ones");
        }
        if r.is_empty() {
            res.violation("the child reported nothing");
        }
        drop(run.dir);
        res
    }
}

/// Entry files of keys in `fresh` (the child's) that are larger than `limit`.
fn scan_sizes_over(root: &Path, fresh: std::ops::Range<u32>, limit: u64) -> u64 {
    let Ok(cache) = identity_cache(root) else {
        return 0;
    };
    let ours: std::collections::HashSet<[u8; 32]> = fresh
        .map(|k| *value::key(&cache, k).digest().as_bytes())
        .collect();
    let mut n = 0;
    let _ = cache.store().list(&mut |info| {
        if ours.contains(info.digest.as_bytes()) && info.stored_len > limit {
            n += 1;
        }
        std::ops::ControlFlow::Continue(())
    });
    n
}
