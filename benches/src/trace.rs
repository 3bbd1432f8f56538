//! Trace replay: a skewed (Zipf) key popularity over a working set larger than the cache's
//! limit, with the eviction worker running. This is where the eviction policy and the cost
//! of bookkeeping show: hit rate, evictions and latency over time.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use hoard::StoreExt;
use hoard::evict::{Limits, WorkerConfig};
use serde::Serialize;

use crate::workload::Source;

/// The shape of a trace.
#[derive(Clone, Debug, Serialize)]
pub struct TraceConfig {
    /// Distinct keys (the working set).
    pub keys: usize,
    /// Requests replayed.
    pub requests: usize,
    /// Zipf exponent of key popularity (1.0 is the classic skew of build caches).
    pub zipf_s: f64,
    /// Entries the cache may hold before a cleanup (its soft count limit).
    pub limit_entries: u64,
    /// Smallest and largest value, in bytes.
    pub value_sizes: (usize, usize),
    /// Windows the report is cut into.
    pub windows: usize,
    /// The worker's cleanup interval during the replay.
    pub cleanup_interval: Duration,
    /// Simulated compile time per byte of a miss, in nanoseconds (a miss recomputes).
    pub compute_ns_per_byte: u64,
}

impl TraceConfig {
    /// The default trace: 4,000 keys of 4-64 KiB, a limit of a quarter of them, 40,000
    /// requests (scaled by `scale`).
    pub fn standard(scale: f64) -> Self {
        Self {
            keys: 4000,
            requests: ((40_000.0 * scale) as usize).max(1000),
            zipf_s: 1.0,
            limit_entries: 1000,
            value_sizes: (4 << 10, 64 << 10),
            windows: 10,
            cleanup_interval: Duration::from_millis(200),
            compute_ns_per_byte: 20,
        }
    }
}

/// Figures of one window of the replay.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Window {
    /// Requests in the window.
    pub requests: usize,
    /// Share of requests that were hits.
    pub hit_rate: f64,
    /// Median latency of a hit, µs.
    pub hit_p50_us: f64,
    /// 99th percentile latency of a hit, µs.
    pub hit_p99_us: f64,
    /// Median latency of a miss (compute + put), µs.
    pub miss_p50_us: f64,
    /// Entries in the cache at the end of the window.
    pub entries: u64,
    /// Evictions so far (wasmtime-cache: inserts so far less the entries present).
    pub evictions: u64,
    /// Cleanups so far (wasmtime-cache: cleanup locks seen, see [`CleanupWatch`]).
    pub cleanups: u64,
    /// Bytes the entries present at the end of the window occupy (file sizes, headers
    /// included; side files, state and directories not counted).
    pub stored_bytes: u64,
    /// What the same entries would occupy as hoard frames with zstd-3 payloads (the
    /// all-zstd-3 cache the adaptive format's disk target is stated against), where the
    /// contender can say which entries it holds.
    pub zstd3_bytes: Option<u64>,
}

impl Window {
    /// `stored_bytes` over `zstd3_bytes`: the disk the contender's formats cost against an
    /// all-zstd-3 cache of the same entries.
    pub fn disk_vs_zstd3(&self) -> Option<f64> {
        self.zstd3_bytes
            .filter(|&z| z > 0)
            .map(|z| self.stored_bytes as f64 / z as f64)
    }
}

/// The disk figures of a cache once its worker has settled after the replay.
#[derive(Clone, Debug, Serialize)]
pub struct Settled {
    /// How long the harness waited for the stored bytes to stop changing, ms.
    pub waited_ms: u64,
    /// Entries present.
    pub entries: u64,
    /// Bytes they occupy (as [`Window::stored_bytes`]).
    pub stored_bytes: u64,
    /// The same entries as an all-zstd-3 cache (as [`Window::zstd3_bytes`]).
    pub zstd3_bytes: u64,
}

/// One contender's replay.
#[derive(Clone, Debug, Serialize)]
pub struct TraceResult {
    /// Who replayed it.
    pub contender: String,
    /// Per window.
    pub windows: Vec<Window>,
    /// Hit rate over the whole replay.
    pub hit_rate: f64,
    /// Events the worker dropped (`None` where the contender does not count them:
    /// wasmtime-cache only logs a drop).
    pub dropped_events: Option<u64>,
    /// Entries at the end.
    pub final_entries: u64,
    /// How the contender ran, where its figures need it to be read right.
    pub note: Option<String>,
    /// Disk use once the worker had settled after the replay (hoard contenders only).
    pub settled: Option<Settled>,
}

/// What a contender tells the replay at the end of a window.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    /// Entries present.
    pub entries: u64,
    /// Evictions so far.
    pub evictions: u64,
    /// Cleanups so far.
    pub cleanups: u64,
    /// Bytes the entries present occupy.
    pub stored_bytes: u64,
    /// The ids of the entries present, where the contender can tell.
    pub present: Option<Vec<usize>>,
}

/// Sizes of each id's value as a hoard frame with a zstd-3 payload (header included),
/// computed once per id, outside the timed requests.
struct Zstd3Sizes<'a> {
    source: &'a Source,
    cfg: &'a TraceConfig,
    sizes: std::collections::HashMap<usize, u64>,
    compressor: zstd::bulk::Compressor<'static>,
}

impl<'a> Zstd3Sizes<'a> {
    fn new(source: &'a Source, cfg: &'a TraceConfig) -> io::Result<Self> {
        Ok(Self {
            source,
            cfg,
            sizes: std::collections::HashMap::new(),
            compressor: zstd::bulk::Compressor::new(3)?,
        })
    }

    fn total(&mut self, ids: &[usize]) -> io::Result<u64> {
        let mut total = 0;
        for &id in ids {
            total += match self.sizes.get(&id) {
                Some(&n) => n,
                None => {
                    let value = self.source.value(size_of(self.cfg, id), id as u64);
                    let n = FRAME_HEADER + self.compressor.compress(&value)?.len() as u64;
                    self.sizes.insert(id, n);
                    n
                }
            };
        }
        Ok(total)
    }
}

/// Bytes of a hoard frame's fixed header (every trace value is below the chunking size,
/// so a frame is this header and one payload).
const FRAME_HEADER: u64 = 96;

/// Zipf sampler over `0..n` by inverse CDF.
struct Zipf {
    cdf: Vec<f64>,
    rng: fastrand::Rng,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for v in &mut cdf {
            *v /= total;
        }
        Self {
            cdf,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn next(&mut self) -> usize {
        let u = self.rng.f64();
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn size_of(cfg: &TraceConfig, id: usize) -> usize {
    let (lo, hi) = cfg.value_sizes;
    // A fixed, spread-out size per key.
    lo + (id.wrapping_mul(2_654_435_761) % (hi - lo + 1))
}

fn spin(ns: u64) {
    let until = Instant::now() + Duration::from_nanos(ns);
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1]
}

/// Replays the trace through hoard's default configuration (from
/// [`hoard_builder`](crate::contenders::hoard_builder), given `threads`) with its worker
/// limited to `cfg.limit_entries` entries.
pub fn replay_hoard(
    dir: &Path,
    source: &Source,
    cfg: &TraceConfig,
    threads: usize,
) -> io::Result<TraceResult> {
    let quiet = cfg.cleanup_interval * 3;
    replay_hoard_as("hoard", dir, source, cfg, threads, quiet, |b| b)
}

/// [`replay_hoard`] under another `name`, with `configure` applied to the builder after the
/// run's settings and the trace's worker limits (for example an adaptive format). After the
/// replay the harness waits for the worker to settle (the stored bytes and entries unchanged
/// for `quiet`, at most a minute) and records [`TraceResult::settled`].
pub fn replay_hoard_as(
    name: &str,
    dir: &Path,
    source: &Source,
    cfg: &TraceConfig,
    threads: usize,
    quiet: Duration,
    configure: impl FnOnce(hoard::CacheBuilder) -> hoard::CacheBuilder,
) -> io::Result<TraceResult> {
    let mut worker = WorkerConfig::default();
    worker.limits = Limits::new(cfg.limit_entries, u64::MAX / 4);
    worker.cleanup_interval = cfg.cleanup_interval;
    worker.flush_period = Duration::from_millis(20);
    let cache = configure(crate::contenders::hoard_builder(dir, threads).worker(worker))
        .build()
        .map_err(io::Error::other)?;
    let ids = std::cell::RefCell::new(std::collections::HashMap::new());
    let probe = || {
        let w = cache.worker().map(|w| {
            w.sync();
            w.stats()
        });
        let listed = cache.store().entries().unwrap_or_default();
        let ids = ids.borrow();
        Probe {
            entries: listed.len() as u64,
            evictions: w.as_ref().map_or(0, |s| s.evictions),
            cleanups: w.as_ref().map_or(0, |s| s.cleanups),
            stored_bytes: listed.iter().map(|e| e.stored_len).sum(),
            present: Some(
                listed
                    .iter()
                    .filter_map(|e| ids.get(&e.digest).copied())
                    .collect(),
            ),
        }
    };
    let mut sizes = Zstd3Sizes::new(source, cfg)?;
    let mut result = replay(
        name,
        cfg,
        source,
        &mut sizes,
        |id, value| {
            let key = cache.key((id as u64).to_le_bytes());
            ids.borrow_mut().insert(*key.digest(), id);
            match cache.get(&key) {
                Some(v) => Ok((true, v.len())),
                None => {
                    let v = value();
                    cache.put(&key, &v);
                    Ok((false, v.len()))
                }
            }
        },
        || Ok(()),
        &probe,
    )?;
    let started = Instant::now();
    let (mut last, mut steady_since) = (probe(), Instant::now());
    while steady_since.elapsed() < quiet && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(cfg.cleanup_interval);
        let now = probe();
        if now.stored_bytes != last.stored_bytes || now.entries != last.entries {
            steady_since = Instant::now();
        }
        last = now;
    }
    result.settled = Some(Settled {
        waited_ms: started.elapsed().as_millis() as u64,
        entries: last.entries,
        stored_bytes: last.stored_bytes,
        zstd3_bytes: sizes.total(last.present.as_deref().unwrap_or_default())?,
    });
    result.dropped_events = cache.worker().map(|w| w.stats().dropped_events);
    Ok(result)
}

/// The adaptive format's settings for the trace replay: its defaults (an hour without use
/// makes an entry cold, a pass every five minutes) scaled down to the replay, which lasts
/// seconds: an entry unused for ten cleanup intervals is made cold, passes run every five.
/// With it, the time the harness waits for the worker to settle after the replay: long
/// enough for every entry to go cold and two passes to run.
pub fn trace_adaptive(cfg: &TraceConfig) -> (hoard::evict::Adaptive, Duration) {
    let policy = hoard::evict::Adaptive::new()
        .cold_after(cfg.cleanup_interval * 10)
        .period(cfg.cleanup_interval * 5);
    (policy, policy.cold_after + policy.period * 2)
}

/// How [`replay_wasmtime`] treats the cleanup lock of wasmtime-cache's worker.
///
/// The worker (src/worker.rs of wasmtime-internal-cache 48.0.10) tries a cleanup on every
/// insert's event (`handle_on_cache_update`, lines 402-435) by taking the lock
/// `<dir>/.cleanup.wip-<pid>` in `acquire_task_fs_lock` (lines 783-852): it gives up if any
/// `.cleanup.wip-*` file is younger than `cleanup_interval`, and otherwise creates its own
/// with `create_new`. Nothing removes a lock but a later cleanup that finds it expired
/// (`list_cache_contents`, lines 604-618, and the deletions at 512-533), and that cleanup
/// needs the lock first: once a process has cleaned, its own `.cleanup.wip-<pid>` exists,
/// `create_new` fails with `AlreadyExists` (a `warn!`, line 844) and that process never
/// cleans the directory again. A cache used by short-lived processes is cleaned by the next
/// process (another pid, another lock name) that inserts after the interval; a long-lived
/// process cleans once, at its first insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WasmtimeLock {
    /// The library as it is, in this one long-lived process: the worker cleans once.
    AsIs,
    /// After each request the harness deletes the worker's lock once it has expired, as the
    /// cleanup of the next process to use the directory would: the worker then cleans at most
    /// once per `cleanup_interval`, as configured.
    Released,
}

/// Counts wasmtime-cache's cleanups by its lock file, and releases an expired lock if asked.
/// Each cleanup creates `.cleanup.wip-<pid>` afresh, so a lock with a new name or mtime is
/// one more cleanup (checked after every request, more often than one can start).
#[derive(Debug)]
pub struct CleanupWatch {
    dir: std::path::PathBuf,
    interval: Duration,
    lock: WasmtimeLock,
    seen: Option<(std::ffi::OsString, std::time::SystemTime)>,
    cleanups: u64,
}

impl CleanupWatch {
    /// A watch over the cache in `dir`, whose cleanup interval is `interval`.
    pub fn new(dir: &Path, interval: Duration, lock: WasmtimeLock) -> Self {
        Self {
            dir: dir.to_path_buf(),
            interval,
            lock,
            seen: None,
            cleanups: 0,
        }
    }

    /// Cleanups seen so far.
    pub fn cleanups(&self) -> u64 {
        self.cleanups
    }

    /// Looks at the lock; under [`WasmtimeLock::Released`] deletes it once expired.
    pub fn check(&mut self) -> io::Result<()> {
        for e in std::fs::read_dir(&self.dir)? {
            let e = e?;
            let name = e.file_name();
            if !name.to_string_lossy().starts_with(".cleanup.wip-") {
                continue;
            }
            let Ok(mtime) = e.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if self.seen.as_ref() != Some(&(name.clone(), mtime)) {
                self.cleanups += 1;
                self.seen = Some((name, mtime));
            }
            let expired = mtime.elapsed().is_ok_and(|age| age >= self.interval);
            if self.lock == WasmtimeLock::Released && expired {
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the harness stands in for the next wasmtime process, whose \
                              cleanup deletes an expired lock of another pid"
                )]
                std::fs::remove_file(e.path())?;
            }
        }
        Ok(())
    }
}

/// Replays the trace through wasmtime's cache with the same count limit and interval, its
/// cleanup lock treated as `lock` says.
pub fn replay_wasmtime(
    dir: &Path,
    source: &Source,
    cfg: &TraceConfig,
    lock: WasmtimeLock,
) -> io::Result<TraceResult> {
    std::fs::create_dir_all(dir)?;
    let mut config = wasmtime_internal_cache::CacheConfig::new();
    config
        .with_directory(dir)
        .with_file_count_soft_limit(cfg.limit_entries)
        .with_cleanup_interval(cfg.cleanup_interval);
    let cache = wasmtime_internal_cache::Cache::new(config).map_err(io::Error::other)?;
    let watch = std::cell::RefCell::new(CleanupWatch::new(dir, cfg.cleanup_interval, lock));
    let inserts = std::cell::Cell::new(0u64);
    let (name, note) = match lock {
        WasmtimeLock::AsIs => (
            "wasmtime-cache",
            "one long-lived process, as the library is: its worker cleans a directory at \
             most once per process (the .cleanup.wip-<pid> lock it creates is never removed \
             by that process; see benches/README.md), so after its first insert it keeps \
             every entry and its hit rate is not comparable with a cache held to the limit",
        ),
        WasmtimeLock::Released => (
            "wasmtime-cache, lock released",
            "the harness deletes the worker's expired .cleanup.wip-<pid> lock after each \
             request, as the next process's cleanup would: the worker cleans at most once per \
             interval, as configured",
        ),
    };
    let mut sizes = Zstd3Sizes::new(source, cfg)?;
    let mut result = replay(
        name,
        cfg,
        source,
        &mut sizes,
        |id, value| {
            let entry = wasmtime_internal_cache::ModuleCacheEntry::new("hoard-bench", Some(&cache));
            let hits = cache.cache_hits();
            // The value is made only on a miss, inside `compute`, as hoard's replay does.
            let state = TraceState { id, make: value };
            let got = entry
                .get_data_raw(&state, trace_compute, trace_serialize, trace_deserialize)
                .map_err(|()| io::Error::other("wasmtime-cache did not compute"))?;
            let hit = cache.cache_hits() > hits;
            if !hit {
                inserts.set(inserts.get() + 1);
            }
            Ok((hit, got.len()))
        },
        || watch.borrow_mut().check(),
        || {
            let (entries, stored_bytes) = count_entries(dir);
            Probe {
                entries,
                evictions: inserts.get().saturating_sub(entries),
                cleanups: watch.borrow().cleanups(),
                stored_bytes,
                present: None,
            }
        },
    )?;
    result.note = Some(note.to_owned());
    Ok(result)
}

/// wasmtime's key is the id; `make` rides along so that the `fn` pointer `compute` can
/// recompute the value without capturing anything (the `Hash` impl ignores it).
struct TraceState<'a> {
    id: usize,
    make: &'a dyn Fn() -> Vec<u8>,
}

impl std::hash::Hash for TraceState<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

fn trace_compute(s: &TraceState<'_>) -> Result<Vec<u8>, ()> {
    Ok((s.make)())
}

#[expect(
    clippy::ptr_arg,
    reason = "wasmtime's serializer receives `&U`, and U is Vec<u8>"
)]
fn trace_serialize(_: &TraceState<'_>, v: &Vec<u8>) -> Option<Vec<u8>> {
    Some(v.clone())
}

fn trace_deserialize(_: &TraceState<'_>, v: Vec<u8>) -> Option<Vec<u8>> {
    Some(v)
}

/// wasmtime-cache's entries below `dir` and their bytes: files whose names (base64url
/// digests) have no dot, unlike `.stats` files, write temps (`.wip-atomic-write-*`) and
/// locks.
fn count_entries(dir: &Path) -> (u64, u64) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_entries(&e.path()),
            Ok(t) if t.is_file() && !e.file_name().to_string_lossy().contains('.') => {
                (1, e.metadata().map_or(0, |m| m.len()))
            }
            _ => (0, 0),
        })
        .fold((0, 0), |(n, b), (m, c)| (n + m, b + c))
}

/// The replay loop shared by every contender: `request(id, value)` answers whether it was a
/// hit; `after()` runs after each request, untimed; `probe()` describes the cache at the end
/// of each window, untimed (the all-zstd-3 sizes of the entries it holds from `sizes`).
fn replay(
    name: &str,
    cfg: &TraceConfig,
    source: &Source,
    sizes: &mut Zstd3Sizes<'_>,
    mut request: impl FnMut(usize, &dyn Fn() -> Vec<u8>) -> io::Result<(bool, usize)>,
    mut after: impl FnMut() -> io::Result<()>,
    mut probe: impl FnMut() -> Probe,
) -> io::Result<TraceResult> {
    let mut zipf = Zipf::new(cfg.keys, cfg.zipf_s, 42);
    let per_window = cfg.requests.div_ceil(cfg.windows.max(1));
    let mut windows = Vec::new();
    let (mut hits_total, mut done) = (0usize, 0usize);
    while done < cfg.requests {
        let n = per_window.min(cfg.requests - done);
        let (mut hit_us, mut miss_us) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let id = zipf.next();
            let len = size_of(cfg, id);
            let compute = || {
                // A miss recomputes: the value, and the time a compiler would take.
                spin(cfg.compute_ns_per_byte * len as u64);
                source.value(len, id as u64)
            };
            let started = Instant::now();
            let (hit, got_len) = request(id, &compute)?;
            let us = started.elapsed().as_secs_f64() * 1e6;
            after()?;
            if got_len != len {
                return Err(io::Error::other(format!(
                    "{name}: key {id} returned {got_len} bytes, expected {len}"
                )));
            }
            if hit {
                hit_us.push(us);
            } else {
                miss_us.push(us);
            }
        }
        done += n;
        hits_total += hit_us.len();
        let Probe {
            entries,
            evictions,
            cleanups,
            stored_bytes,
            present,
        } = probe();
        let zstd3_bytes = present.map(|ids| sizes.total(&ids)).transpose()?;
        windows.push(Window {
            requests: n,
            hit_rate: hit_us.len() as f64 / n as f64,
            hit_p50_us: percentile(&mut hit_us, 0.5),
            hit_p99_us: percentile(&mut hit_us, 0.99),
            miss_p50_us: percentile(&mut miss_us, 0.5),
            entries,
            evictions,
            cleanups,
            stored_bytes,
            zstd3_bytes,
        });
    }
    let final_entries = windows.last().map_or(0, |w| w.entries);
    Ok(TraceResult {
        contender: name.to_owned(),
        windows,
        hit_rate: hits_total as f64 / cfg.requests.max(1) as f64,
        dropped_events: None,
        final_entries,
        note: None,
        settled: None,
    })
}

/// The replay as text.
pub fn to_text(cfg: &TraceConfig, results: &[TraceResult]) -> String {
    let mut s = format!(
        "\ntrace: {} requests, Zipf s={} over {} keys of {}-{} KiB, limit {} entries, cleanup every {:?}\n",
        cfg.requests,
        cfg.zipf_s,
        cfg.keys,
        cfg.value_sizes.0 >> 10,
        cfg.value_sizes.1 >> 10,
        cfg.limit_entries,
        cfg.cleanup_interval
    );
    for r in results {
        s.push_str(&format!(
            "\n{}: hit rate {:.1}%, {} entries at the end, {} dropped events\n",
            r.contender,
            r.hit_rate * 100.0,
            r.final_entries,
            r.dropped_events
                .map_or_else(|| "uncounted".to_owned(), |n| n.to_string()),
        ));
        if let Some(note) = &r.note {
            s.push_str(&crate::report::wrap(note, "(", " "));
            s.pop();
            s.push_str(")\n");
        }
        s.push_str(&format!(
            "{:>6} {:>8} {:>10} {:>10} {:>10} {:>8} {:>9} {:>8} {:>9} {:>7}\n",
            "window",
            "hits",
            "hit p50",
            "hit p99",
            "miss p50",
            "entries",
            "evictions",
            "cleanups",
            "stored",
            "/zstd-3"
        ));
        for (i, w) in r.windows.iter().enumerate() {
            s.push_str(&format!(
                "{:>6} {:>7.1}% {:>8.1}µs {:>8.1}µs {:>8.1}µs {:>8} {:>9} {:>8} {:>7.1}MB {:>7}\n",
                i + 1,
                w.hit_rate * 100.0,
                w.hit_p50_us,
                w.hit_p99_us,
                w.miss_p50_us,
                w.entries,
                w.evictions,
                w.cleanups,
                w.stored_bytes as f64 / 1e6,
                w.disk_vs_zstd3()
                    .map_or_else(|| "-".to_owned(), |r| format!("{r:.3}"))
            ));
        }
        if let Some(st) = &r.settled {
            s.push_str(&format!(
                "settled after {} ms: {} entries, {:.1} MB stored, {:.3}x an all-zstd-3 cache of them ({:.1} MB)\n",
                st.waited_ms,
                st.entries,
                st.stored_bytes as f64 / 1e6,
                st.stored_bytes as f64 / st.zstd3_bytes.max(1) as f64,
                st.zstd3_bytes as f64 / 1e6
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn lock_at(dir: &Path, pid: u32, age: Duration) -> std::path::PathBuf {
        let path = dir.join(format!(".cleanup.wip-{pid}"));
        let f = std::fs::File::create(&path).expect("create a lock");
        f.set_modified(SystemTime::now() - age)
            .expect("set its mtime");
        path
    }

    #[test]
    fn the_watch_counts_each_new_lock_and_releases_only_expired_ones() {
        let interval = Duration::from_secs(60);
        for lock in [WasmtimeLock::AsIs, WasmtimeLock::Released] {
            let dir = tempfile::tempdir().expect("a temp dir");
            let mut watch = CleanupWatch::new(dir.path(), interval, lock);
            watch.check().expect("no lock yet");
            assert_eq!(watch.cleanups(), 0);
            let fresh = lock_at(dir.path(), 7, Duration::ZERO);
            watch.check().expect("a fresh lock");
            watch.check().expect("the same lock");
            assert_eq!(watch.cleanups(), 1);
            assert!(fresh.exists(), "a fresh lock stays");
            let old = lock_at(dir.path(), 7, interval * 2);
            watch.check().expect("an expired lock");
            assert_eq!(watch.cleanups(), 2, "a new mtime is a new cleanup");
            assert_eq!(old.exists(), lock == WasmtimeLock::AsIs);
        }
    }

    #[test]
    fn only_entries_are_counted() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let module = dir.path().join("modules").join("hoard-bench-48.0.8");
        std::fs::create_dir_all(&module).expect("create the module dir");
        for name in [
            "2G6BEvPExEQhJvjp9E8Whn2kh_KQUr-RuBBFfbNCCaQ",
            "2G6BEvPExEQhJvjp9E8Whn2kh_KQUr-RuBBFfbNCCaQ.stats",
            "fJ-hNtRBP6YXNjfog7aZjTLh1nX4jN3_ncvPMxgg9Lg",
            "fJ-hNtRBP6YXNjfog7aZjTLh1nX4jN3_ncvPMxgg9Lg.wip-atomic-write-mod",
        ] {
            std::fs::File::create(module.join(name)).expect("create a file");
        }
        lock_at(dir.path(), 7, Duration::ZERO);
        assert_eq!(count_entries(dir.path()), (2, 0));
    }
}
