//! Child processes, child side: `hoard-reliability child <role> key=value...`.
//!
//! Roles:
//! - `writer`: puts self-describing values of varied sizes under random keys of its range,
//!   `puts` of them or until stopped (or killed); with `ack=1` it prints `ack <key> <seq>`
//!   after each put that returned success, which is what the power rows hold it to. With
//!   `cut=<path>` it prints `late <key> <seq>` instead once that file exists: the parent
//!   creates it just before cutting power, so such a put may have returned after the cut.
//! - `owner`: the only writer of the keys of its range: puts fresh versions of them (with
//!   increasing sequence numbers) and after each put reads one of them back, which must be
//!   the last version it acknowledged: an older one is a rollback (`rollback ...` lines and
//!   the `rollbacks` count). It ends with `last <key> <seq>` for each key it wrote.
//! - `reader`: gets random keys of its range and judges every hit until stopped.
//! - `cleaner`: runs the eviction janitor's cleanup with tight limits (and, with
//!   `recompress=1`, recompression to alternating codecs; with `upgrade=1`, the worker's
//!   recompression of each key of `keys=` to zstd level 19) until stopped; with `once=1` it
//!   waits for `go` and runs one cleanup.
//! - `nofile`: run under `ulimit -n`; exhausts its descriptors and puts and gets with 0 to 3
//!   of them free.
//! - `fsize`: run under `ulimit -f`; puts values on both sides of the limit and reads large
//!   existing entries.
//! - `holder`: takes the lock `lock=` (`counters`, `cleanup`, `usage`, or `entry`: the
//!   entry lock of key `key=`), says `ready` and holds it until its stdin ends; the parent
//!   stops it (SIGSTOP) meanwhile, as Ctrl-Z would.
//! - `lockuser`: `rounds=` times, opens the cache with its eviction worker, puts `puts=`
//!   values under keys of `keys=` and gets as many keys of `read=`, syncs the worker and
//!   drops the cache, timing each step: the slowest open, get or put and the slowest sync
//!   or drop are in its result (µs).
//! - `lockcleaner`: runs each explicit operation once through a cache's worker
//!   (recompressions, a cleanup with tight limits, evictions by age and by namespace,
//!   zeroing the counters), timing each; a busy lock is counted, not an error, and so are
//!   the entries recompression skipped.
//! - `failpoint`: opens the cache at `dir=` through hoard-fs's fault seam, arms the crash
//!   failpoint at call `n=` and runs one operation `op=` (`put`, `cleanup` or `recompress`,
//!   see [`failpoint_op`]): it dies of SIGKILL right before that call. With `n=0` nothing
//!   crashes and it reports `result calls=<N>`, the calls the operation makes (the probe).
//! - `planted`: opens the cache at `dir=` and reads the key named `key=` once (the
//!   `planted` row's files); reports the outcome (see `rows::planted::outcome`), the read's
//!   time in µs and this process's peak resident memory (VmHWM) in KiB.
//! - `remote-get`: one get through a cache with a Redis tier, reporting its peak memory (see
//!   [`crate::rows::remote_huge::child`]).
//! - `remote-miss`: opens a cache (with a Redis tier at default settings when given a
//!   port), misses once and drops it, reporting the time and the remote counters (see
//!   [`crate::rows::remote_dead::child`]).
//! - `flight`: `get_or_compute`s keys after `go`, counting its computations in a shared
//!   file; with `hang=1` blocks inside one until killed (see
//!   [`crate::rows::flight::child`]).
//! - `lease`: the same with a cache directory of its own and a Redis remote tier taking
//!   leases (see [`crate::rows::lease::child`]).
//!
//! Every role prints `ready` once its cache is open and `result k=v ...` at the end, and
//! stops when its stdin reaches end of file (the parent closed it or died).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hoard::evict::{Adaptive, Codecs, Janitor, Limits, Recompressed, WorkerConfig};
use hoard::{
    Cache, CacheBuilder, Durability, FsOptions, FsStore, Housekeeping, Identity, LockTarget, Lz4,
    Namespace, StateName, Zstd,
};
use hoard_fs::fault::Faults;

use crate::sys;
use crate::value::{self, NAMESPACE, Read, Stamp};

/// Runs the child role named by `args[0]` with the `key=value` arguments that follow.
pub(crate) fn main(args: &[String]) -> ExitCode {
    let Some((role, rest)) = args.split_first() else {
        eprintln!("child: no role given");
        return ExitCode::from(2);
    };
    let opts = match Opts::parse(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("child {role}: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = match role.as_str() {
        "writer" => writer(&opts),
        "owner" => owner(&opts),
        "reader" => reader(&opts),
        "cleaner" => cleaner(&opts),
        "nofile" => nofile(&opts),
        "fsize" => fsize(&opts),
        "failpoint" => failpoint(&opts),
        "planted" => planted(&opts),
        "holder" => holder(&opts),
        "lockuser" => lockuser(&opts),
        "lockcleaner" => lockcleaner(&opts),
        "remote-get" => crate::rows::remote_huge::child(&opts.0),
        "remote-miss" => crate::rows::remote_dead::child(&opts.0),
        "flight" => crate::rows::flight::child(&opts.0),
        "lease" => crate::rows::lease::child(&opts.0),
        other => Err(format!("unknown role `{other}`")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("child {role}: {e}");
            ExitCode::from(3)
        }
    }
}

/// The `key=value` arguments of a child.
struct Opts(BTreeMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut map = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| format!("argument `{a}` is not key=value"))?;
            map.insert(k.to_owned(), v.to_owned());
        }
        Ok(Self(map))
    }

    fn str(&self, key: &str) -> Result<&str, String> {
        self.0
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| format!("missing argument `{key}=`"))
    }

    fn num(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("`{key}={v}` is not a number")),
        }
    }

    fn flag(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| v == "1")
    }

    fn dir(&self) -> Result<PathBuf, String> {
        self.str("dir").map(PathBuf::from)
    }

    /// `keys=lo..hi`.
    fn keys(&self, key: &str) -> Result<std::ops::Range<u32>, String> {
        let text = self.str(key)?;
        let (lo, hi) = text
            .split_once("..")
            .ok_or_else(|| format!("`{key}={text}` is not lo..hi"))?;
        let lo: u32 = lo.parse().map_err(|_| format!("bad range `{text}`"))?;
        let hi: u32 = hi.parse().map_err(|_| format!("bad range `{text}`"))?;
        if lo >= hi {
            return Err(format!("empty range `{text}`"));
        }
        Ok(lo..hi)
    }

    /// The cache the role works on: `durability=`, `codec=` (`zstd` or `identity`),
    /// `worker=1` for the default eviction worker, `threshold=N` for one that recompresses
    /// entries used N times, merging use counts every few milliseconds.
    fn cache(&self) -> Result<Cache, String> {
        let durability = match self.0.get("durability").map(String::as_str) {
            None | Some("none") => Durability::None,
            Some("data") => Durability::Data,
            Some("full") => Durability::Full,
            Some(other) => return Err(format!("unknown durability `{other}`")),
        };
        let mut b = Cache::builder(self.dir()?)
            .namespace(NAMESPACE)
            .durability(durability);
        b = match self.0.get("codec").map(String::as_str) {
            None | Some("zstd") => b,
            Some("identity") => b.codec(Identity),
            Some(other) => return Err(format!("unknown codec `{other}`")),
        };
        if !self.flag("worker") {
            b = b.without_worker();
        } else if self.0.contains_key("threshold") {
            let fast = Duration::from_millis(20);
            b = b.worker(
                WorkerConfig::new()
                    .usage_threshold(self.num("threshold", 0)?)
                    .flush_period(fast)
                    .usage_merge_period(fast),
            );
        }
        b.build().map_err(|e| format!("cannot open the cache: {e}"))
    }
}

/// A flag set when stdin reaches end of file: the parent wants the child to stop.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&flag);
    std::thread::spawn(move || {
        let mut line = String::new();
        let stdin = std::io::stdin();
        let mut lock = stdin.lock();
        while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
        f.store(true, Ordering::Relaxed);
    });
    flag
}

/// Prints one line to the parent; `false` once the parent stopped listening.
fn say(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

fn result(pairs: &[(&str, u64)]) {
    let mut line = String::from("result");
    for (k, v) in pairs {
        let _ = write!(line, " {k}={v}");
    }
    say(&line);
}

fn writer(o: &Opts) -> Result<(), String> {
    let cache = o.cache()?;
    let keys = o.keys("keys")?;
    let id = u32::try_from(o.num("writer", 0)?).map_err(|_| "writer id too large".to_owned())?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    let (min, max) = (o.num("min", 24)? as usize, o.num("max", 64 << 10)? as usize);
    let (puts, seq0, ack) = (o.num("puts", 0)?, o.num("seq0", 0)?, o.flag("ack"));
    let cut = o.0.get("cut").map(PathBuf::from);
    let stop = stop_flag();
    say("ready");
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut i = 0u64;
    while (puts == 0 || i < puts) && !stop.load(Ordering::Relaxed) {
        let k = rng.u32(keys.clone());
        let stamp = Stamp {
            key: k,
            writer: id,
            seq: seq0 + i,
        };
        let data = value::make(stamp, value::size(&mut rng, min, max));
        match cache.try_put(&value::key(&cache, k), &data) {
            Ok(()) => {
                ok += 1;
                // Checked after the put returned: if the file is absent now, the parent had not
                // yet begun the cut, so the put completed before it.
                let late = cut.as_ref().is_some_and(|p| p.exists());
                let word = if late { "late" } else { "ack" };
                if ack && !say(&format!("{word} {k} {}", stamp.seq)) {
                    break;
                }
            }
            Err(e) => {
                failed += 1;
                say(&format!("fail {k} {}: {e}", sys::error_class(&e)));
            }
        }
        i += 1;
    }
    result(&[("puts", ok), ("failed", failed)]);
    Ok(())
}

/// What an owner's reads of its own keys found.
#[derive(Default)]
struct OwnerTally {
    checks: u64,
    current: u64,
    rollbacks: u64,
    misses: u64,
    wrong: u64,
    errors: u64,
}

impl OwnerTally {
    /// Judges a read of key `k`, whose last acknowledged put (by `owner`) was `want`.
    fn judge(&mut self, k: u32, owner: u32, want: u64, read: Read) {
        self.checks += 1;
        match read {
            Read::Good(s) if s.writer == owner && s.seq == want => self.current += 1,
            Read::Good(s) if s.writer == owner && s.seq < want => {
                self.rollbacks += 1;
                if self.rollbacks <= 3 {
                    say(&format!(
                        "rollback key {k}: read seq {} after seq {want} was acknowledged",
                        s.seq
                    ));
                }
            }
            Read::Good(s) => {
                self.wrong += 1;
                if self.wrong <= 3 {
                    say(&format!(
                        "wrong key {k}: read writer {} seq {}, the last put was seq {want}",
                        s.writer, s.seq
                    ));
                }
            }
            // For the moment an eviction or a recompression has the entry aside.
            Read::Miss => self.misses += 1,
            Read::Short | Read::Wrong(_) => {
                self.wrong += 1;
                if self.wrong <= 3 {
                    say(&format!("wrong key {k}: {read:?}"));
                }
            }
            Read::Corrupt(why) | Read::Error(why) => {
                self.errors += 1;
                if self.errors <= 3 {
                    say(&format!("error key {k}: {why}"));
                }
            }
        }
    }
}

fn owner(o: &Opts) -> Result<(), String> {
    let cache = o.cache()?;
    let keys = o.keys("keys")?;
    let id = u32::try_from(o.num("writer", 0)?).map_err(|_| "writer id too large".to_owned())?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    let (min, max) = (o.num("min", 24)? as usize, o.num("max", 64 << 10)? as usize);
    let puts = o.num("puts", 0)?;
    let stop = stop_flag();
    say("ready");
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut tally = OwnerTally::default();
    let mut seq = 0u64;
    while (puts == 0 || seq < puts) && !stop.load(Ordering::Relaxed) {
        seq += 1;
        let k = rng.u32(keys.clone());
        let stamp = Stamp {
            key: k,
            writer: id,
            seq,
        };
        let data = value::make(stamp, value::size(&mut rng, min, max));
        match cache.try_put(&value::key(&cache, k), &data) {
            Ok(()) => {
                ok += 1;
                last.insert(k, seq);
            }
            Err(e) => {
                failed += 1;
                say(&format!("fail {k} {}: {e}", sys::error_class(&e)));
            }
        }
        let k = rng.u32(keys.clone());
        if let Some(&want) = last.get(&k) {
            tally.judge(k, id, want, value::read_back(&cache, k));
        }
    }
    for (&k, &want) in &last {
        tally.judge(k, id, want, value::read_back(&cache, k));
    }
    let worker_recompressions = cache.worker().map_or(0, |w| {
        w.sync();
        w.stats().recompressions
    });
    for (k, seq) in &last {
        say(&format!("last {k} {seq}"));
    }
    result(&[
        ("puts", ok),
        ("failed", failed),
        ("checks", tally.checks),
        ("current", tally.current),
        ("rollbacks", tally.rollbacks),
        ("misses", tally.misses),
        ("wrong", tally.wrong),
        ("errors", tally.errors),
        ("worker_recompressions", worker_recompressions),
    ]);
    Ok(())
}

#[derive(Default)]
struct ReadTally {
    reads: u64,
    hits: u64,
    misses: u64,
    wrong: u64,
    short: u64,
    corrupt: u64,
    errors: u64,
}

impl ReadTally {
    fn add(&mut self, r: &Read) {
        self.reads += 1;
        match r {
            Read::Miss => self.misses += 1,
            Read::Good(_) => self.hits += 1,
            Read::Short => self.short += 1,
            Read::Wrong(why) => {
                self.wrong += 1;
                if self.wrong <= 3 {
                    say(&format!("wrong {why}"));
                }
            }
            Read::Corrupt(why) => {
                self.corrupt += 1;
                if self.corrupt <= 3 {
                    say(&format!("corrupt {why}"));
                }
            }
            Read::Error(why) => {
                self.errors += 1;
                if self.errors <= 3 {
                    say(&format!("error {why}"));
                }
            }
        }
    }

    fn pairs(&self) -> [(&'static str, u64); 7] {
        [
            ("reads", self.reads),
            ("hits", self.hits),
            ("misses", self.misses),
            ("wrong", self.wrong),
            ("short", self.short),
            ("corrupt", self.corrupt),
            ("errors", self.errors),
        ]
    }
}

fn reader(o: &Opts) -> Result<(), String> {
    let cache = o.cache()?;
    let keys = o.keys("keys")?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    let stop = stop_flag();
    say("ready");
    let mut tally = ReadTally::default();
    while !stop.load(Ordering::Relaxed) {
        tally.add(&value::read_back(&cache, rng.u32(keys.clone())));
    }
    result(&tally.pairs());
    Ok(())
}

fn janitor(o: &Opts) -> Result<Janitor, String> {
    let store = FsStore::open(o.dir()?).map_err(|e| format!("cannot open the store: {e}"))?;
    let limits = Limits::new(o.num("count", 8)?, o.num("bytes", 256 << 10)?);
    let config = WorkerConfig::new().limits(limits);
    let zstd = Zstd::new(3).map_err(|e| e.to_string())?;
    let mut codecs = Codecs::new()
        .decoder(Arc::new(zstd))
        .decoder(Arc::new(Identity));
    if o.flag("upgrade") {
        // The worker's codec for popular entries, at the facade's default optimized level.
        codecs = codecs.optimized(Arc::new(Zstd::new(19).map_err(|e| e.to_string())?));
    }
    Ok(Janitor::new(Arc::new(store) as Arc<dyn Housekeeping>, config).with_codecs(codecs))
}

fn cleaner(o: &Opts) -> Result<(), String> {
    let janitor = janitor(o)?;
    let ns = Namespace::new(NAMESPACE).map_err(|e| e.to_string())?;
    if o.flag("once") {
        say("ready");
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let r = janitor
            .cleanup_now()
            .map_err(|e| format!("cleanup failed: {e}"))?;
        result(&[
            ("evicted", r.evicted),
            ("before", r.entries_before),
            ("after", r.entries_after),
        ]);
        return Ok(());
    }
    let recompress = o.flag("recompress");
    // The keys whose entries the worker's rule upgrades (`upgrade=1`), named by a cache of
    // the same directory.
    let upgrades: Vec<hoard::Key> = if o.flag("upgrade") {
        let cache = o.cache()?;
        o.keys("keys")?.map(|k| value::key(&cache, k)).collect()
    } else {
        Vec::new()
    };
    let targets: Vec<Arc<dyn hoard::Codec>> = vec![
        Arc::new(Zstd::new(1).map_err(|e| e.to_string())?),
        Arc::new(Identity),
        Arc::new(Zstd::new(6).map_err(|e| e.to_string())?),
    ];
    let stop = stop_flag();
    say("ready");
    let (mut cleanups, mut evicted, mut swept, mut recompressed, mut corrupt, mut errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut upgraded = 0u64;
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        match janitor.cleanup_now() {
            Ok(r) => {
                cleanups += 1;
                evicted += r.evicted;
                swept += r.temps_swept;
            }
            Err(e) => {
                errors += 1;
                say(&format!("error cleanup: {e}"));
            }
        }
        if recompress {
            let target = &targets[i % targets.len()];
            match janitor.recompress_all(target.as_ref(), Some(&ns)) {
                Ok(r) => {
                    recompressed += r.recompressed;
                    corrupt += r.corrupt;
                }
                Err(e) => {
                    errors += 1;
                    say(&format!("error recompress: {e}"));
                }
            }
        }
        for key in &upgrades {
            match janitor.recompress(&ns, key.digest()) {
                Ok(Recompressed::Done { .. }) => upgraded += 1,
                Ok(Recompressed::Corrupt) => corrupt += 1,
                Ok(_) => {}
                Err(e) => {
                    errors += 1;
                    say(&format!("error upgrade: {e}"));
                }
            }
        }
        i += 1;
        // Pacing, not synchronisation: on two cores a cleaner spinning flat out would
        // starve the writers it is meant to race.
        std::thread::sleep(Duration::from_millis(3));
    }
    result(&[
        ("cleanups", cleanups),
        ("evicted", evicted),
        ("swept", swept),
        ("recompressed", recompressed),
        ("upgraded", upgraded),
        ("corrupt", corrupt),
        ("errors", errors),
    ]);
    Ok(())
}

/// Blocks until stdin reaches end of file: the parent wants the child to stop.
fn wait_for_stop() {
    let mut line = String::new();
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    while matches!(lock.read_line(&mut line), Ok(n) if n > 0) {
        line.clear();
    }
}

fn holder(o: &Opts) -> Result<(), String> {
    let store = FsStore::open(o.dir()?).map_err(|e| format!("cannot open the store: {e}"))?;
    let which = o.str("lock")?;
    let held = if which == "entry" {
        let cache = o.cache()?;
        let k = u32::try_from(o.num("key", 0)?).map_err(|_| "key too large".to_owned())?;
        let key = value::key(&cache, k);
        store.lock(LockTarget::Entry(cache.namespace(), key.digest()), false)
    } else {
        let name = StateName::new(which).map_err(|e| e.to_string())?;
        store.lock(LockTarget::Named(&name), false)
    }
    .map_err(|e| format!("cannot take the {which} lock: {e}"))?
    .ok_or_else(|| format!("the {which} lock is held already"))?;
    say("ready");
    wait_for_stop();
    drop(held);
    result(&[("held", 1)]);
    Ok(())
}

/// Microseconds, saturating.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn lockuser(o: &Opts) -> Result<(), String> {
    let keys = o.keys("keys")?;
    let read = o.keys("read")?;
    let id = u32::try_from(o.num("writer", 0)?).map_err(|_| "writer id too large".to_owned())?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    let (rounds, puts) = (o.num("rounds", 4)?, o.num("puts", 40)?);
    say("ready");
    let (mut ok, mut failed, mut seq) = (0u64, 0u64, 0u64);
    let (mut slowest_rw, mut slowest_exit) = (Duration::ZERO, Duration::ZERO);
    let mut tally = ReadTally::default();
    for _ in 0..rounds {
        let started = Instant::now();
        let cache = o.cache()?;
        slowest_rw = slowest_rw.max(started.elapsed());
        for _ in 0..puts {
            let k = rng.u32(keys.clone());
            let stamp = Stamp {
                key: k,
                writer: id,
                seq,
            };
            seq += 1;
            let data = value::make(stamp, value::size(&mut rng, 24, 16 << 10));
            let started = Instant::now();
            let put = cache.try_put(&value::key(&cache, k), &data);
            slowest_rw = slowest_rw.max(started.elapsed());
            match put {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    say(&format!("fail {k} {}: {e}", sys::error_class(&e)));
                }
            }
            let started = Instant::now();
            let got = value::read_back(&cache, rng.u32(read.clone()));
            slowest_rw = slowest_rw.max(started.elapsed());
            tally.add(&got);
        }
        let started = Instant::now();
        if let Some(worker) = cache.worker() {
            worker.sync();
        }
        slowest_exit = slowest_exit.max(started.elapsed());
        let started = Instant::now();
        drop(cache);
        slowest_exit = slowest_exit.max(started.elapsed());
    }
    let mut pairs = vec![
        ("puts", ok),
        ("failed", failed),
        ("slowest_rw_us", micros(slowest_rw)),
        ("slowest_exit_us", micros(slowest_exit)),
    ];
    pairs.extend(tally.pairs());
    result(&pairs);
    Ok(())
}

fn lockcleaner(o: &Opts) -> Result<(), String> {
    let limits = Limits::new(o.num("count", 8)?, o.num("bytes", 256 << 10)?);
    let cache = Cache::builder(o.dir()?)
        .namespace(NAMESPACE)
        .worker(WorkerConfig::new().limits(limits))
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let janitor = cache
        .worker()
        .ok_or_else(|| "the cache has no worker".to_owned())?
        .janitor();
    let ns = Namespace::new(NAMESPACE).map_err(|e| e.to_string())?;
    let other = Namespace::new("reliability-other").map_err(|e| e.to_string())?;
    let fast = Zstd::new(1).map_err(|e| e.to_string())?;
    let strong = Zstd::new(6).map_err(|e| e.to_string())?;
    say("ready");
    let (mut ops, mut busy, mut errors, mut skipped) = (0u64, 0u64, 0u64, 0u64);
    let mut slowest = Duration::ZERO;
    let mut time = |name: &str, op: &mut dyn FnMut() -> hoard::Result<u64>| {
        let started = Instant::now();
        let outcome = op();
        slowest = slowest.max(started.elapsed());
        ops += 1;
        match outcome {
            Ok(n) => skipped += n,
            Err(e) if e.kind() == hoard::ErrorKind::Busy => busy += 1,
            Err(e) => {
                errors += 1;
                say(&format!("error {name}: {e}"));
            }
        }
    };
    // Recompressions first, while every seeded entry is still there (the cleanup evicts).
    time("recompress", &mut || {
        janitor.recompress_all(&fast, Some(&ns)).map(|r| r.skipped)
    });
    time("recompress", &mut || {
        janitor
            .recompress_all(&strong, Some(&ns))
            .map(|r| r.skipped)
    });
    time("cleanup", &mut || janitor.cleanup_now().map(|_| 0));
    time("evict by age", &mut || {
        janitor
            .evict_older_than(Duration::from_secs(86_400))
            .map(|_| 0)
    });
    time("evict by namespace", &mut || {
        janitor.evict_namespace(&other).map(|_| 0)
    });
    time("zero", &mut || janitor.zero_stats().map(|_| 0));
    let started = Instant::now();
    drop(cache);
    let exit = started.elapsed();
    result(&[
        ("ops", ops),
        ("busy", busy),
        ("errors", errors),
        ("skipped", skipped),
        ("slowest_op_us", micros(slowest)),
        ("slowest_exit_us", micros(exit)),
    ]);
    Ok(())
}

/// Descriptors open in this process (the listing's own descriptor included, every time).
fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

fn nofile(o: &Opts) -> Result<(), String> {
    let cache = o.cache()?;
    let existing = o.keys("keys")?;
    let fresh = o.keys("new")?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    say("ready");
    let before = open_fds();
    let mut fillers = Vec::new();
    let fill = |fillers: &mut Vec<std::fs::File>| {
        while let Ok(f) = std::fs::File::open("/dev/null") {
            fillers.push(f);
        }
    };
    fill(&mut fillers);
    let mut pairs: Vec<(String, u64)> = vec![("filled".to_owned(), fillers.len() as u64)];
    let mut next = fresh.start;
    for free in [0usize, 1, 2, 3] {
        let released = free.min(fillers.len());
        fillers.truncate(fillers.len() - released);
        let (mut put_ok, mut put_err, mut hit, mut miss, mut err, mut bad) = (0, 0, 0, 0, 0, 0);
        for _ in 0..8 {
            if next < fresh.end {
                let stamp = Stamp {
                    key: next,
                    writer: 0,
                    seq: u64::from(next),
                };
                let data = value::make(stamp, value::size(&mut rng, 64, 8 << 10));
                match cache.try_put(&value::key(&cache, next), &data) {
                    Ok(()) => {
                        put_ok += 1;
                        say(&format!("ack {next} {}", stamp.seq));
                    }
                    Err(e) => {
                        put_err += 1;
                        say(&format!("fail {next} {}", sys::error_class(&e)));
                    }
                }
                next += 1;
            }
            match value::read_back(&cache, rng.u32(existing.clone())) {
                Read::Good(_) => hit += 1,
                Read::Miss => miss += 1,
                Read::Corrupt(_) | Read::Error(_) => err += 1,
                Read::Short | Read::Wrong(_) => bad += 1,
            }
        }
        for (k, v) in [
            ("put_ok", put_ok),
            ("put_err", put_err),
            ("get_hit", hit),
            ("get_miss", miss),
            ("get_err", err),
            ("wrong", bad),
        ] {
            pairs.push((format!("f{free}_{k}"), v));
        }
        fill(&mut fillers);
    }
    drop(fillers);
    let after = open_fds();
    pairs.push(("fds_before".to_owned(), before));
    pairs.push(("fds_after".to_owned(), after));
    let borrowed: Vec<(&str, u64)> = pairs.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    result(&borrowed);
    Ok(())
}

fn fsize(o: &Opts) -> Result<(), String> {
    let cache = o.cache()?;
    let existing = o.keys("keys")?;
    let fresh = o.keys("new")?;
    let mut rng = fastrand::Rng::with_seed(o.num("seed", 0)?);
    let (min, max) = (
        o.num("min", 1 << 10)? as usize,
        o.num("max", 64 << 10)? as usize,
    );
    say("ready");
    let (mut put_ok, mut efbig, mut put_other) = (0u64, 0u64, 0u64);
    for k in fresh {
        let stamp = Stamp {
            key: k,
            writer: 0,
            seq: u64::from(k),
        };
        let data = value::make(stamp, value::size(&mut rng, min, max));
        match cache.try_put(&value::key(&cache, k), &data) {
            Ok(()) => {
                put_ok += 1;
                say(&format!("ack {k} {}", stamp.seq));
            }
            Err(e) => {
                let class = sys::error_class(&e);
                if class == "EFBIG" {
                    efbig += 1;
                } else {
                    put_other += 1;
                    say(&format!("fail {k} {class}: {e}"));
                }
            }
        }
    }
    let mut tally = ReadTally::default();
    for k in existing {
        tally.add(&value::read_back(&cache, k));
    }
    let mut pairs = vec![
        ("put_ok", put_ok),
        ("put_efbig", efbig),
        ("put_other", put_other),
    ];
    pairs.extend(tally.pairs());
    result(&pairs);
    Ok(())
}

/// How many keys the failpoints row seeds, and the fresh key a `put` adds (this one).
pub(crate) const FAILPOINT_KEYS: u32 = 12;

/// One operation of the `failpoint` role, run on `store` (opened through `faults`) and the
/// cache over it. Deterministic for a given seeded cache, so that call n is the same step
/// in the probe and in every crash run.
fn failpoint_op(op: &str, store: &Arc<FsStore>, cache: &Cache) -> Result<(), String> {
    let janitor = || -> Result<Janitor, String> {
        let zstd = Zstd::new(3).map_err(|e| e.to_string())?;
        // Tight limits: half the keys go. A task timeout of zero makes the planted temp file
        // a dead writer's, so the sweep step runs too.
        let config = WorkerConfig::new()
            .limits(Limits::new(u64::from(FAILPOINT_KEYS / 2), 1 << 30))
            .task_timeout(Duration::ZERO);
        let codecs = Codecs::new()
            .decoder(Arc::new(zstd))
            .decoder(Arc::new(Identity));
        Ok(Janitor::new(Arc::clone(store) as Arc<dyn Housekeeping>, config).with_codecs(codecs))
    };
    match op {
        "put" => {
            // A fresh key, then a replacement of an existing one.
            for (k, len) in [(FAILPOINT_KEYS, 5000), (2, 300)] {
                let stamp = Stamp {
                    key: k,
                    writer: 1,
                    seq: 1,
                };
                cache
                    .try_put(&value::key(cache, k), &value::make(stamp, len))
                    .map_err(|e| format!("put of key {k}: {e}"))?;
            }
        }
        "cleanup" => {
            janitor()?
                .cleanup_now()
                .map_err(|e| format!("cleanup: {e}"))?;
        }
        "recompress" => {
            let j = janitor()?;
            let ns = cache.namespace();
            j.recompress(ns, value::key(cache, 3).digest())
                .map_err(|e| format!("recompress: {e}"))?;
            j.recompress_all(&Identity, Some(ns))
                .map_err(|e| format!("recompress_all: {e}"))?;
        }
        "cold" | "hot" => {
            // The adaptive format as a cache writes it: LZ4 puts, zstd 19 when cold. Keys
            // 3 and 5 were seeded idle for two hours (cold), or key 3 at zstd 19 (hot).
            let cold_after = if op == "cold" { 3600 } else { 86_400 };
            let config = WorkerConfig::new()
                .adaptive(Adaptive::new().cold_after(Duration::from_secs(cold_after)));
            let codecs = Codecs::new()
                .decoder(Arc::new(Identity))
                .adaptive(
                    Arc::new(Lz4),
                    Arc::new(Zstd::new(19).map_err(|e| e.to_string())?),
                )
                .decoder(Arc::new(Zstd::new(3).map_err(|e| e.to_string())?));
            let j = Janitor::new(Arc::clone(store) as Arc<dyn Housekeeping>, config)
                .with_codecs(codecs);
            let ns = cache.namespace();
            let report = j
                .adapt(ns)
                .map_err(|e| format!("adaptive pass: {e}"))?
                .ok_or("the adaptive lock is held")?;
            if op == "cold" && report.made_cold != 2 {
                return Err(format!(
                    "the pass made {} entries cold, not 2",
                    report.made_cold
                ));
            }
            if op == "hot" {
                let made = j
                    .make_hot(ns, value::key(cache, 3).digest())
                    .map_err(|e| format!("make_hot: {e}"))?;
                if !matches!(made, Recompressed::Done { .. }) {
                    return Err(format!("key 3 was not made hot: {made:?}"));
                }
            }
        }
        "put-chunked" => {
            let k = FAILPOINT_KEYS;
            let stamp = Stamp {
                key: k,
                writer: 1,
                seq: 1,
            };
            cache
                .try_put(
                    &value::key(cache, k),
                    &value::make(stamp, crate::rows::failpoints::CHUNKED_LEN),
                )
                .map_err(|e| format!("put of key {k}: {e}"))?;
        }
        "get-chunked" => match value::read_back(cache, 1) {
            Read::Good(_) => {}
            other => return Err(format!("key 1 read back as {other:?}")),
        },
        other => return Err(format!("unknown operation `{other}`")),
    }
    Ok(())
}

fn failpoint(o: &Opts) -> Result<(), String> {
    let faults = Faults::new();
    let store = Arc::new(
        FsStore::open_with_faults(
            o.dir()?,
            FsOptions::new().durability(Durability::Full),
            Arc::clone(&faults),
        )
        .map_err(|e| format!("cannot open the store: {e}"))?,
    );
    let cache = CacheBuilder::with_store(Arc::clone(&store))
        .namespace(NAMESPACE)
        .build()
        .map_err(|e| format!("cannot open the cache: {e}"))?;
    let op = o.str("op")?;
    // n = 0 never comes: the probe only counts.
    let n = match o.num("n", 0)? {
        0 => u64::MAX,
        n => n,
    };
    faults.arm_crash(n);
    let outcome = failpoint_op(op, &store, &cache);
    faults.disarm();
    outcome?;
    result(&[("calls", faults.calls())]);
    Ok(())
}

fn planted(o: &Opts) -> Result<(), String> {
    use crate::rows::planted::outcome;
    let cache = o.cache()?;
    let key = cache.key(o.str("key")?);
    let started = std::time::Instant::now();
    let got = cache.try_get(&key);
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let outcome = match got {
        Ok(Some(_)) => outcome::HIT,
        Ok(None) => outcome::MISS,
        Err(e) if e.kind() == hoard::ErrorKind::Corrupt => outcome::CORRUPT,
        Err(e) if e.kind() == hoard::ErrorKind::TooLarge => outcome::TOO_LARGE,
        Err(_) => outcome::OTHER,
    };
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .ok_or("no VmHWM in /proc/self/status")?;
    result(&[("outcome", outcome), ("us", us), ("peak_kib", peak)]);
    Ok(())
}
