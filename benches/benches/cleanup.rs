//! The eviction worker at scale: cleanup of caches of 10k, 100k (and, on request, 1M) small
//! entries, peak memory, and the worker's CPU per hit, each beside the ancestor's way.
//!
//! `cargo bench -p hoard-bench --bench cleanup` runs 10k and 100k entries;
//! `cargo bench -p hoard-bench --bench cleanup -- --sizes 10000,100000,1000000` adds 1M
//! (about 1 GB of disk: use a tmpfs, `HOARD_BENCH_DIR=/dev/shm`). Every measurement runs in
//! a fresh child process (this binary, re-executed), so that its peak memory (`VmHWM`) is
//! its own.
//!
//! Rows, per cache size:
//! - `floor`: `read_dir` + `stat` of every entry, nothing kept: the cost of looking.
//! - `ancestor scan`: what wasmtime-cache does per cleanup: a recursive walk that stats every
//!   file by path and collects path, mtime and size of all of them, then sorts.
//! - `hoard reconcile`: a cleanup that rebuilds the per-bucket accounting from scratch (a full
//!   scan, `reconcile_interval` = 0), under the limits.
//! - `hoard steady`: a cleanup under the limits with the accounting of the previous one: a
//!   stamp per bucket, no entry is looked at.
//! - `hoard evict 30%`: a cleanup over the count limit, down to 70% (two passes and the
//!   unlinks).
//!
//! Then the worker under a hit-heavy load: CPU time of the worker thread (from
//! `/proc/self/task/<tid>/schedstat`) per hit, for hits over 1,000 hot entries and over
//! 100,000 distinct ones, beside wasmtime-cache's worker for the same hits (its queue
//! raised so that it drops nothing).

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard::evict::{Janitor, Limits, WorkerConfig};
use hoard::{Cache, Digest, FsStore, HasherId, Key, Namespace, Store};
use hoard_bench::bench_root;

const CHILD_ENV: &str = "HOARD_BENCH_CLEANUP_CHILD";
const BIG: u64 = 1 << 50;

/// Peak resident memory of this process so far, in KiB.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (ns) a thread of this process has run, by thread id.
fn thread_cpu_ns(tid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Ids of this process's threads other than the calling one.
fn other_threads() -> Vec<String> {
    let me = std::fs::read_link("/proc/thread-self")
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().into_owned()))
                .filter(|t| *t != me)
                .collect()
        })
        .unwrap_or_default()
}

fn digest_of(i: u64) -> Digest {
    let mut b = [0u8; 32];
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5bd1_e995;
    for chunk in b.chunks_mut(8) {
        x ^= x >> 29;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 32;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    Digest::from_bytes(b)
}

/// A cache of `n` identity-coded entries of 64 bytes each, in namespace `bench`.
fn build(root: &Path, n: u64) {
    let store = FsStore::open(root).expect("store");
    let ns = Namespace::new("bench").expect("valid");
    let payload = [0x5au8; 64];
    let started = Instant::now();
    for i in 0..n {
        let d = digest_of(i);
        let frame = hoard::frame::encode(
            &Key::new(HasherId::Sha256, d),
            &hoard::Identity,
            &payload,
            1_700_000_000_000,
        )
        .expect("frame");
        store.put(&ns, &d, &frame).expect("put");
        if i > 0 && i % 100_000 == 0 {
            eprintln!("  built {i} entries in {:.1?}", started.elapsed());
        }
    }
}

/// `read_dir` + `stat` of every entry below `v1/`, nothing kept.
fn floor_scan(root: &Path) -> u64 {
    let mut n = 0;
    for ns in std::fs::read_dir(root.join("v1")).expect("v1") {
        for shard in std::fs::read_dir(ns.expect("ns").path()).expect("ns dir") {
            for e in std::fs::read_dir(shard.expect("shard").path()).expect("shard dir") {
                let e = e.expect("entry");
                n += black_box(e.metadata().expect("stat").len()) / u64::MAX + 1;
            }
        }
    }
    n
}

/// wasmtime-cache's cleanup walk: recursive, every path stat'ed, everything collected and
/// sorted by modification time.
fn ancestor_scan(root: &Path) -> u64 {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, std::time::SystemTime, u64)>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let path = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&path).expect("stat");
            if m.is_dir() {
                walk(&path, out);
            } else {
                out.push((path, m.modified().expect("mtime"), m.len()));
            }
        }
    }
    let mut all = Vec::new();
    walk(&root.join("v1"), &mut all);
    all.sort_by_key(|e| std::cmp::Reverse(e.1));
    black_box(&all);
    all.len() as u64
}

fn janitor(root: &Path, config: WorkerConfig) -> Janitor {
    Janitor::new(Arc::new(FsStore::open(root).expect("store")), config)
}

/// Runs one measurement in this process; prints `RESULT <ms> <VmHWM KiB> <detail>`.
fn child(task: &str, root: &Path, n: u64) {
    let started = Instant::now();
    let detail = match task {
        "floor" => format!("{} entries", floor_scan(root)),
        "ancestor" => format!("{} files", ancestor_scan(root)),
        "reconcile" => {
            let j = janitor(root, WorkerConfig::new().reconcile_interval(Duration::ZERO));
            let r = j.cleanup_with(Limits::new(BIG, BIG)).expect("cleanup");
            format!(
                "{} entries, {} buckets scanned",
                r.entries_after, r.buckets_scanned
            )
        }
        "steady" => {
            let j = janitor(root, WorkerConfig::new());
            let r = j.cleanup_with(Limits::new(BIG, BIG)).expect("cleanup");
            format!(
                "{} entries, {} buckets scanned",
                r.entries_after, r.buckets_scanned
            )
        }
        "evict" => {
            let j = janitor(root, WorkerConfig::new());
            let r = j.cleanup_with(Limits::new(n - 1, BIG)).expect("cleanup");
            format!("{} evicted, {} left", r.evicted, r.entries_after)
        }
        "hits-hoard" | "hits-hoard-distinct" => return hits_hoard(root, task, n),
        "hits-ancestor" | "hits-ancestor-distinct" => return hits_ancestor(root, task, n),
        other => panic!("unknown task {other}"),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    println!("RESULT {ms:.1} {} {detail}", vm_hwm_kib());
}

/// `hits` hits over `keys` entries through `Cache::get`; the worker thread's CPU per hit.
fn hits_hoard(root: &Path, task: &str, hits: u64) {
    let keys = if task.ends_with("distinct") {
        hits
    } else {
        1000
    };
    let cache = Cache::builder(root)
        .codec(hoard::Identity)
        .worker(
            WorkerConfig::new()
                .event_capacity(1 << 16)
                .limits(Limits::new(BIG, BIG)),
        )
        .build()
        .expect("cache");
    let ks: Vec<Key> = (0..keys).map(|i| cache.key(i.to_le_bytes())).collect();
    for k in &ks {
        cache.put(k, &[0x33; 64]);
    }
    let worker = cache.worker().expect("worker");
    worker.sync();
    let tid = other_threads()
        .into_iter()
        .find(|t| {
            std::fs::read_to_string(format!("/proc/self/task/{t}/comm"))
                .is_ok_and(|c| c.trim() == "hoard-evict")
        })
        .expect("the worker thread");
    let before = thread_cpu_ns(&tid);
    let started = Instant::now();
    let mut x = 0x1234_5678_u64;
    for _ in 0..hits {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let k = &ks[((x >> 33) % keys) as usize];
        black_box(cache.get(k).expect("hit"));
    }
    let caller = started.elapsed();
    worker.sync();
    let worker_ns = thread_cpu_ns(&tid) - before;
    let s = worker.stats();
    println!(
        "RESULT {:.1} {} worker {:.3} µs/hit, caller {:.2} µs/hit, dropped {}",
        caller.as_secs_f64() * 1e3,
        vm_hwm_kib(),
        worker_ns as f64 / 1e3 / hits as f64,
        caller.as_secs_f64() * 1e6 / hits as f64,
        s.dropped_events
    );
}

#[derive(Hash)]
struct AncestorState(u64);

fn ancestor_compute(_: &AncestorState) -> Result<Vec<u8>, ()> {
    Ok(vec![0x33; 64])
}

#[expect(
    clippy::ptr_arg,
    reason = "wasmtime's serializer receives `&U`, and U is Vec<u8>"
)]
fn ancestor_serialize(_: &AncestorState, v: &Vec<u8>) -> Option<Vec<u8>> {
    Some(v.clone())
}

fn ancestor_deserialize(_: &AncestorState, v: Vec<u8>) -> Option<Vec<u8>> {
    Some(v)
}

/// The same load on wasmtime-cache; its worker is unnamed: every thread but this one.
fn hits_ancestor(root: &Path, task: &str, hits: u64) {
    let keys = if task.ends_with("distinct") {
        hits
    } else {
        1000
    };
    std::fs::create_dir_all(root).expect("dir");
    let mut config = wasmtime_internal_cache::CacheConfig::new();
    config
        .with_directory(root)
        .with_worker_event_queue_size(4 * hits + 1000);
    let cache = wasmtime_internal_cache::Cache::new(config).expect("ancestor cache");
    let entry = || wasmtime_internal_cache::ModuleCacheEntry::new("hoard-bench", Some(&cache));
    let get = |i: u64| {
        entry()
            .get_data_raw(
                &AncestorState(i),
                ancestor_compute,
                ancestor_serialize,
                ancestor_deserialize,
            )
            .expect("value")
    };
    for i in 0..keys {
        get(i);
    }
    let settle = || {
        // The queue drains asynchronously: wait until the worker's CPU time stops moving.
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now: u64 = other_threads().iter().map(|t| thread_cpu_ns(t)).sum();
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settle();
    let started = Instant::now();
    let mut x = 0x1234_5678_u64;
    for _ in 0..hits {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        black_box(get((x >> 33) % keys));
    }
    let caller = started.elapsed();
    let worker_ns = settle() - before;
    println!(
        "RESULT {:.1} {} worker {:.3} µs/hit, caller {:.2} µs/hit",
        caller.as_secs_f64() * 1e3,
        vm_hwm_kib(),
        worker_ns as f64 / 1e3 / hits as f64,
        caller.as_secs_f64() * 1e6 / hits as f64,
    );
}

/// Runs `task` in a child process; returns (ms, VmHWM KiB, detail).
fn measure(task: &str, root: &Path, n: u64) -> (f64, u64, String) {
    let exe = std::env::current_exe().expect("bench binary");
    let out = Command::new(exe)
        .env(CHILD_ENV, format!("{task}|{}|{n}", root.display()))
        .output()
        .expect("child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{task} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .expect("result line");
    let mut parts = line.splitn(3, ' ');
    let ms = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let kib = parts.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    (ms, kib, parts.next().unwrap_or("").to_owned())
}

fn row(label: &str, (ms, kib, detail): (f64, u64, String)) {
    println!(
        "{label:<28} {ms:>11.1} {:>10.1} {detail}",
        kib as f64 / 1024.0
    );
    let _ = std::io::stdout().flush();
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let mut p = spec.splitn(3, '|');
        let task = p.next().expect("task").to_owned();
        let root = PathBuf::from(p.next().expect("root"));
        let n = p.next().and_then(|v| v.parse().ok()).expect("n");
        child(&task, &root, n);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<u64> = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || vec![10_000, 100_000],
            |s| s.split(',').filter_map(|v| v.parse().ok()).collect(),
        );
    let hits: u64 = args
        .iter()
        .position(|a| a == "--hits")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let base = tempfile::tempdir_in(bench_root()).expect("bench directory");
    println!("cache directory: {}", base.path().display());
    println!("{:<28} {:>11} {:>10} detail", "case", "ms", "VmHWM MiB");
    for &n in &sizes {
        let root = base.path().join(format!("c{n}"));
        eprintln!("building {n} entries...");
        build(&root, n);
        // Directories modified in the last two seconds get no stamp (their mtime may not
        // have ticked yet): let them settle, as they would between two real cleanups.
        std::thread::sleep(Duration::from_millis(2100));
        println!("-- {n} entries");
        row("floor (readdir+stat)", measure("floor", &root, n));
        row("ancestor scan", measure("ancestor", &root, n));
        row("hoard reconcile (full)", measure("reconcile", &root, n));
        std::thread::sleep(Duration::from_millis(2100));
        row("hoard steady (accounting)", measure("steady", &root, n));
        row("hoard steady (again)", measure("steady", &root, n));
        row("hoard evict 30%", measure("evict", &root, n));
    }
    println!("-- worker under a hit-heavy load ({hits} hits of 64-byte entries)");
    for (label, task, n) in [
        ("hoard, 1000 hot keys", "hits-hoard", hits),
        (
            "hoard, all distinct",
            "hits-hoard-distinct",
            hits.min(100_000),
        ),
        ("ancestor, 1000 hot keys", "hits-ancestor", hits.min(50_000)),
        (
            "ancestor, all distinct",
            "hits-ancestor-distinct",
            hits.min(20_000),
        ),
    ] {
        let root = base.path().join(task);
        row(label, measure(task, &root, n));
    }
}
