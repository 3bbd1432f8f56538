//! Child processes, child side: `hoard-reliability child <role> key=value...`.
//!
//! Roles:
//! - `writer`: puts self-describing values of varied sizes under random keys of its range,
//!   `puts` of them or until stopped (or killed); with `ack=1` it prints `ack <key> <seq>`
//!   after each put that returned success, which is what the power rows hold it to. With
//!   `cut=<path>` it prints `late <key> <seq>` instead once that file exists: the parent
//!   creates it just before cutting power, so such a put may have returned after the cut.
//! - `reader`: gets random keys of its range and judges every hit until stopped.
//! - `cleaner`: runs the eviction janitor's cleanup with tight limits (and, with
//!   `recompress=1`, recompression to alternating codecs) until stopped; with `once=1` it
//!   waits for `go` and runs one cleanup.
//! - `nofile`: run under `ulimit -n`; exhausts its descriptors and puts and gets with 0 to 3
//!   of them free.
//! - `fsize`: run under `ulimit -f`; puts values on both sides of the limit and reads large
//!   existing entries.
//! - `failpoint`: opens the cache at `dir=` through hoard-fs's fault seam, arms the crash
//!   failpoint at call `n=` and runs one operation `op=` (`put`, `cleanup` or `recompress`,
//!   see [`failpoint_op`]): it dies of SIGKILL right before that call. With `n=0` nothing
//!   crashes and it reports `result calls=<N>`, the calls the operation makes (the probe).
//! - `remote-get`: one get through a cache with a Redis tier, reporting its peak memory (see
//!   [`crate::rows::remote_huge::child`]).
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
use std::time::Duration;

use hoard::evict::{Codecs, Janitor, Limits, WorkerConfig};
use hoard::{
    Cache, CacheBuilder, Durability, FsOptions, FsStore, Housekeeping, Identity, Namespace, Zstd,
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
        "reader" => reader(&opts),
        "cleaner" => cleaner(&opts),
        "nofile" => nofile(&opts),
        "fsize" => fsize(&opts),
        "failpoint" => failpoint(&opts),
        "remote-get" => crate::rows::remote_huge::child(&opts.0),
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
    /// `worker=1` for the default eviction worker.
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
    let codecs = Codecs::new()
        .decoder(Arc::new(zstd))
        .decoder(Arc::new(Identity));
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
    let targets: Vec<Arc<dyn hoard::Codec>> = vec![
        Arc::new(Zstd::new(1).map_err(|e| e.to_string())?),
        Arc::new(Identity),
        Arc::new(Zstd::new(6).map_err(|e| e.to_string())?),
    ];
    let stop = stop_flag();
    say("ready");
    let (mut cleanups, mut evicted, mut swept, mut recompressed, mut corrupt, mut errors) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
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
        ("corrupt", corrupt),
        ("errors", errors),
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
