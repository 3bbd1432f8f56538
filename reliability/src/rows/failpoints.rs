//! Crash-at-every-failpoint rows: a child process dies of SIGKILL right before each system
//! call of an operation in turn, through hoard-fs's crash failpoint (`Faults::arm_crash`,
//! feature `fault-injection`). Row `failpoints`: put, cleanup and recompression;
//! `failpoints-adaptive`: the adaptive format's conversions (a pass making two idle LZ4
//! entries cold, zstd 19; a zstd-19 entry made hot, LZ4); `failpoints-chunked`: a put and
//! a get of a value above the chunking threshold (a chunked frame, encoded and decoded on
//! several threads).
//!
//! For each operation a probe child first counts the calls N it makes on a freshly seeded
//! cache; then for every n in 1..=N, `runs` times each, a child on a fresh copy of that
//! cache dies right before call n. After every kill, from the parent: every key reads back
//! right or as a miss (I1), every entry file is a valid frame for its name, every key takes
//! a new put at once (I6), the janitor's sweep leaves no temp file (I3), and nothing beside
//! the cache roots changed (I5).

use std::fs::FileTimes;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard::{Cache, Codec, Durability, FsStore, Lz4, Zstd};
use hoard_fs::layout::{STATE_DIR, TEMP_PREFIX};

use super::{Reads, arena, clean_exit, containment, open, put_and_read, sweep};
use crate::child::FAILPOINT_KEYS;
use crate::inspect::{Canary, scan};
use crate::proc::Proc;
use crate::row::{Row, RowResult, Tier};
use crate::value::{self, NAMESPACE, Stamp};

/// Length of the values of the chunked operations: above 512 KiB, so stored chunked.
pub(crate) const CHUNKED_LEN: usize = 700 << 10;

/// Kills per failpoint in the CI tier.
const RUNS: u64 = 20;

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![
        Box::new(Failpoints {
            name: "failpoints",
            title: "crash: sigkill at every failpoint",
            ops: &["put", "cleanup", "recompress"],
            setup: "put at durability full, cleanup with limits of half the keys and task \
                    timeout 0, recompress of one entry then all to identity",
        }),
        Box::new(Failpoints {
            name: "failpoints-adaptive",
            title: "crash: sigkill at every failpoint of adaptive conversions",
            ops: &["cold", "hot"],
            setup: "cold: a pass of the adaptive format making two LZ4 entries idle for two \
                    hours zstd-19 (state, usage and counter writes included); hot: a pass \
                    then a zstd-19 entry made LZ4",
        }),
        Box::new(Failpoints {
            name: "failpoints-chunked",
            title: "crash: sigkill at every failpoint of chunked frames",
            ops: &["put-chunked", "get-chunked"],
            setup: "put-chunked: a fresh key of 700 KiB at zstd 3 (chunked, encoded on the \
                    cores) at durability full; get-chunked: a hit of a 700 KiB chunked entry \
                    (decoded on the cores), checked",
        }),
    ]
}

struct Failpoints {
    name: &'static str,
    title: &'static str,
    /// The operations, as the `failpoint` child role names them.
    ops: &'static [&'static str],
    /// What each operation does, for the report.
    setup: &'static str,
}

impl Row for Failpoints {
    fn name(&self) -> &str {
        self.name
    }

    fn title(&self) -> &str {
        self.title
    }

    fn run(&self, tier: &Tier) -> RowResult {
        match run(self, tier) {
            Ok(r) | Err(r) => r,
        }
    }
}

/// A temp directory in memory where there is a tmpfs: a SIGKILL loses nothing the page
/// cache holds, so the disk adds only waiting to thousands of runs.
fn scratch() -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix("hoard-reliability-failpoints-")
        .tempdir_in("/dev/shm")
        .or_else(|_| arena("failpoints"))
        .map_err(|e| e.to_string())
}

/// Seeds a fresh cache at `root` (removing what was there): [`FAILPOINT_KEYS`] entries,
/// the sidecar state of one cleanup, and a dead writer's temp file for key 0; then what
/// `op` starts from (see [`seed_for`]).
#[expect(
    clippy::disallowed_methods,
    reason = "the harness discards the previous run's cache wholesale, as a fresh machine would"
)]
fn seed(root: &Path, op: &str) -> Result<(), String> {
    match std::fs::remove_dir_all(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot remove {}: {e}", root.display())),
    }
    let cache = open(root, Durability::None)?;
    for k in 0..FAILPOINT_KEYS {
        let stamp = Stamp {
            key: k,
            writer: value::HARNESS,
            seq: 0,
        };
        let len = 64 + (k as usize * 997) % 20_000;
        cache
            .try_put(&value::key(&cache, k), &value::make(stamp, len))
            .map_err(|e| format!("seeding: {e}"))?;
    }
    sweep(root)?;
    let store = hoard::FsStore::open(root).map_err(|e| e.to_string())?;
    let e0 = store.entry_path(cache.namespace(), value::key(&cache, 0).digest());
    if let (Some(shard), Some(name)) = (e0.parent(), e0.file_name().and_then(|n| n.to_str())) {
        let path = shard.join(format!(".tmp-{name}-00000000000000aa"));
        let f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        f.set_modified(SystemTime::now() - Duration::from_secs(7200))
            .map_err(|e| e.to_string())?;
    }
    seed_for(root, op)
}

/// What an operation of the other rows starts from: `cold`, keys 3 and 5 in LZ4 (the fast
/// format) last used two hours ago; `hot`, key 3 at zstd 19 (the cold format);
/// `get-chunked`, key 1 a chunked entry of [`CHUNKED_LEN`] bytes.
fn seed_for(root: &Path, op: &str) -> Result<(), String> {
    let rewrite = |codec: Arc<dyn Codec>, k: u32, len: usize| -> Result<Cache, String> {
        let cache = Cache::builder(root)
            .namespace(NAMESPACE)
            .codec_arc(codec)
            .without_worker()
            .build()
            .map_err(|e| format!("seeding {op}: {e}"))?;
        let stamp = Stamp {
            key: k,
            writer: value::HARNESS,
            seq: 0,
        };
        cache
            .try_put(&value::key(&cache, k), &value::make(stamp, len))
            .map_err(|e| format!("seeding {op}: {e}"))?;
        Ok(cache)
    };
    let len = |k: u32| 64 + (k as usize * 997) % 20_000;
    match op {
        "cold" => {
            let store = FsStore::open(root).map_err(|e| e.to_string())?;
            let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
            for k in [3, 5] {
                let cache = rewrite(Arc::new(Lz4), k, len(k))?;
                let path = store.entry_path(cache.namespace(), value::key(&cache, k).digest());
                let f =
                    std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                f.set_times(
                    FileTimes::new()
                        .set_accessed(two_hours_ago)
                        .set_modified(two_hours_ago),
                )
                .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        "hot" => {
            let zstd = Zstd::new(19).map_err(|e| e.to_string())?;
            rewrite(Arc::new(zstd), 3, len(3))?;
        }
        "get-chunked" => {
            let zstd = Zstd::new(3).map_err(|e| e.to_string())?;
            rewrite(Arc::new(zstd), 1, CHUNKED_LEN)?;
        }
        _ => {}
    }
    Ok(())
}

/// What the checks after one run found wrong.
#[derive(Default)]
struct Tally {
    wrong: u64,
    read_errors: u64,
    bad_files: u64,
    blocked: u64,
    temps_left: u64,
    canary: u64,
    /// State temp files the sweep left because they were fresh (informative).
    state_temps: u64,
}

impl Tally {
    fn total(&self) -> u64 {
        self.wrong
            + self.read_errors
            + self.bad_files
            + self.blocked
            + self.temps_left
            + self.canary
    }
}

/// Sets the modification time of every state temp file under `root` two hours back;
/// returns how many there were.
fn age_state_temps(root: &Path) -> u64 {
    let Ok(dir) = std::fs::read_dir(root.join(STATE_DIR)) else {
        return 0;
    };
    let old = SystemTime::now() - Duration::from_secs(2 * 3600);
    let mut n = 0;
    for e in dir.flatten() {
        if !e.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        n += 1;
        // A failure leaves the file fresh, which the check after the next sweep reports.
        if let Ok(f) = std::fs::File::options().write(true).open(e.path()) {
            let _ = f.set_modified(old);
        }
    }
    n
}

/// The checks after one run, added to `t`; details go to `res`.
fn check(root: &Path, canary: &Canary, seq: u64, t: &mut Tally, res: &mut RowResult, what: &str) {
    let cache = match open(root, Durability::None) {
        Ok(c) => c,
        Err(e) => {
            t.read_errors += 1;
            res.violation(format!("{what}: {e}"));
            return;
        }
    };
    let keys = 0..FAILPOINT_KEYS + 1;
    let reads = Reads::all(&cache, keys.clone());
    t.wrong += reads.violations();
    t.read_errors += reads.corrupt + reads.errors;
    for d in reads.details {
        res.violation(format!("{what}: {d}"));
    }
    let s = scan(root);
    t.bad_files += s.bad.len() as u64;
    for p in s.bad.iter().take(2) {
        res.violation(format!("{what}: not a valid frame: {}", p.display()));
    }
    // Before the sweep: a dead writer's leftovers must not block its key.
    for k in keys {
        if let Err(e) = put_and_read(&cache, k, seq, 64 + (k as usize * 389) % 9000) {
            t.blocked += 1;
            res.violation(format!("{what}: {e}"));
        }
    }
    if let Err(e) = sweep(root) {
        t.temps_left += 1;
        res.violation(format!("{what}: {e}"));
    }
    let after = scan(root);
    let left = after.temps.len() as u64;
    t.temps_left += left;
    if left > 0 {
        res.violation(format!("{what}: {left} entry temp files after the sweep"));
    }
    // A state write's temp file is only swept once an hour old (hoard-fs's
    // STALE_STATE_TEMP), since a live cleaner in another process may own it: age what a
    // killed cleanup left by two hours and hold the next sweep to removing it.
    let aged = age_state_temps(root);
    t.state_temps += aged;
    if aged > 0 {
        if let Err(e) = sweep(root) {
            t.temps_left += 1;
            res.violation(format!("{what}: {e}"));
        }
        let still = scan(root).state_temps;
        t.temps_left += still;
        if still > 0 {
            res.violation(format!(
                "{what}: {still} state temp files after a sweep of stale ones"
            ));
        }
    }
    let changes = canary.changes();
    t.canary += changes.len() as u64;
    for c in changes.iter().take(2) {
        res.violation(format!("{what}: {c}"));
    }
}

fn run(row: &Failpoints, tier: &Tier) -> Result<RowResult, RowResult> {
    let mut res = RowResult::ran();
    let fail = |why: String| {
        let mut r = RowResult::ran();
        r.violation(why);
        r
    };
    let dir = scratch().map_err(fail)?;
    // Every run's cache lives in `area`, which the canary beside it skips.
    let area = dir.path().join("area");
    let root = area.join("cache");
    std::fs::create_dir_all(&area).map_err(|e| fail(format!("cannot create the area: {e}")))?;
    let canary = Canary::plant(dir.path(), &area)
        .map_err(|e| fail(format!("cannot plant the canary: {e}")))?;
    let runs = tier.count(RUNS);
    let (mut failpoints, mut total_runs, mut kills, mut unreached) = (0u64, 0u64, 0u64, 0u64);
    let mut t = Tally::default();
    let mut per_op = Vec::new();
    let mut seq = 1u64;
    let dir_arg = root.display().to_string();
    for &op in row.ops {
        seed(&root, op).map_err(fail)?;
        let mut probe = Proc::spawn(
            "failpoint",
            &[
                ("dir", dir_arg.clone()),
                ("op", op.to_owned()),
                ("n", "0".to_owned()),
            ],
            None,
        )
        .map_err(fail)?;
        let f = probe.finish(Duration::from_secs(60));
        if !f.ok() {
            return Err(fail(f.describe("failpoint probe")));
        }
        let calls = f.result().get("calls").copied().unwrap_or(0);
        if calls == 0 {
            return Err(fail(format!("the {op} probe counted no calls")));
        }
        per_op.push(format!("{op} {calls}"));
        failpoints += calls;
        for n in 1..=calls {
            for r in 0..runs {
                seed(&root, op).map_err(fail)?;
                let args = [
                    ("dir", dir_arg.clone()),
                    ("op", op.to_owned()),
                    ("n", n.to_string()),
                ];
                let mut child = Proc::spawn("failpoint", &args, None).map_err(fail)?;
                let f = child.finish(Duration::from_secs(60));
                total_runs += 1;
                if f.killed() {
                    kills += 1;
                } else {
                    // It must not fail; finishing before call n means the count varied.
                    clean_exit(&mut res, &f, "failpoint");
                    unreached += 1;
                }
                seq += 1;
                check(
                    &root,
                    &canary,
                    seq,
                    &mut t,
                    &mut res,
                    &format!("{op} call {n} run {r}"),
                );
            }
        }
    }
    res.info(row.ops.len() as u64, "operations")
        .info(failpoints, "failpoints")
        .info(runs, "runs each")
        .info(total_runs, "runs")
        .info(kills, "kills observed")
        .zero(t.wrong, "wrong reads")
        .zero(t.read_errors, "read errors")
        .zero(t.bad_files, "bad files")
        .zero(t.blocked, "keys blocked")
        .info(t.state_temps, "fresh state temps aged")
        .zero(t.temps_left, "temp files left")
        .zero(t.total(), "violations");
    containment(&mut res, &canary);
    res.note(format!(
        "{} state temp files of killed cleanups survived the sweep while fresh (swept \
         only once an hour old, by design); aged by two hours, the next sweep removed them",
        t.state_temps
    ));
    res.note(format!(
        "calls per operation (failpoints): {}; {unreached} runs ended before their call \
         (not killed); {}; {} keys",
        per_op.join(", "),
        row.setup,
        FAILPOINT_KEYS
    ));
    Ok(res)
}
