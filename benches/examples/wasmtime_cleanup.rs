//! Why wasmtime-cache's worker cleans at most once per process: puts entries through
//! `wasmtime_internal_cache` with a short cleanup interval and prints, batch by batch, the
//! entries, `.stats` files and `.cleanup.wip-<pid>` lock files in the cache directory.
//!
//! ```text
//! cargo run --release -p hoard-bench --example wasmtime_cleanup [-- --entries N --limit L --interval-ms I]
//! ```
//!
//! Three runs, each in a fresh directory:
//! 1. one process puts every batch: the first insert's event runs a cleanup (of one entry) and
//!    creates `.cleanup.wip-<pid>`; nothing removes that file, so every later attempt's
//!    `create_new` of the same name fails and the cache grows past its limit;
//! 2. a child process per batch: each new pid's lock name is free, its cleanup runs and
//!    removes the expired locks of earlier pids, and the cache stays near its limit;
//! 3. one process, a burst of puts with no pause: update events beyond the worker's queue
//!    (`worker_event_queue_size`, 16 by default, sent with `try_send`) are dropped, which
//!    shows as entries without a `.stats` file.
//!
//! The pauses below are the point of the experiment (lock expiry is judged by mtime against
//! the cleanup interval), not synchronisation.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

struct Opts {
    entries: usize,
    limit: u64,
    interval: Duration,
}

struct State {
    id: u64,
}

impl std::hash::Hash for State {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id.hash(h);
    }
}

fn compute(s: &State) -> Result<Vec<u8>, ()> {
    let mut v = vec![0u8; 2048];
    v[..8].copy_from_slice(&s.id.to_le_bytes());
    Ok(v)
}

#[expect(
    clippy::ptr_arg,
    reason = "wasmtime's serializer receives `&U`, and U is Vec<u8>"
)]
fn serialize(_: &State, v: &Vec<u8>) -> Option<Vec<u8>> {
    Some(v.clone())
}

fn deserialize(_: &State, v: Vec<u8>) -> Option<Vec<u8>> {
    Some(v)
}

fn open(dir: &Path, opts: &Opts) -> wasmtime_internal_cache::Cache {
    let mut config = wasmtime_internal_cache::CacheConfig::new();
    config
        .with_directory(dir)
        .with_file_count_soft_limit(opts.limit)
        .with_cleanup_interval(opts.interval);
    wasmtime_internal_cache::Cache::new(config).expect("a valid cache configuration")
}

fn put(cache: &wasmtime_internal_cache::Cache, ids: std::ops::Range<u64>) {
    for id in ids {
        let entry = wasmtime_internal_cache::ModuleCacheEntry::new("probe", Some(cache));
        entry
            .get_data_raw(&State { id }, compute, serialize, deserialize)
            .expect("compute never fails");
    }
}

/// (entries, `.stats` files, lock files as `name (age)`).
fn census(dir: &Path) -> (usize, usize, Vec<String>) {
    let (mut entries, mut stats) = (0, 0);
    let mut locks = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                stack.push(path);
            } else if name.starts_with(".cleanup.wip-") {
                let age = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                locks.push(format!("{name} ({} ms old)", age.as_millis()));
            } else if name.ends_with(".stats") {
                stats += 1;
            } else if !name.contains('.') {
                entries += 1;
            }
        }
    }
    locks.sort();
    (entries, stats, locks)
}

fn show(step: &str, dir: &Path) {
    let (entries, stats, locks) = census(dir);
    println!(
        "{step:<22} {entries:>7} {stats:>7}  {}",
        if locks.is_empty() {
            "-".to_owned()
        } else {
            locks.join(", ")
        }
    );
}

fn header(title: &str, opts: &Opts) {
    println!(
        "\n{title} (limit {} entries, cleanup interval {:?}, pid {})\n{:<22} {:>7} {:>7}  lock files",
        opts.limit,
        opts.interval,
        std::process::id(),
        "after",
        "entries",
        ".stats"
    );
}

fn settle(opts: &Opts) {
    // Long enough for the worker to drain its queue and for the last lock to expire.
    std::thread::sleep(opts.interval + opts.interval / 2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut opts = Opts {
        entries: 200,
        limit: 20,
        interval: Duration::from_millis(200),
    };
    let mut child: Option<(PathBuf, u64, u64)> = None;
    while let Some(a) = args.next() {
        let num = |v: Option<String>| -> u64 {
            v.and_then(|v| v.parse().ok())
                .expect("a number after the flag")
        };
        match a.as_str() {
            "--entries" => opts.entries = num(args.next()) as usize,
            "--limit" => opts.limit = num(args.next()),
            "--interval-ms" => opts.interval = Duration::from_millis(num(args.next())),
            "--child" => {
                let dir = PathBuf::from(args.next().expect("--child DIR FIRST COUNT"));
                let first = num(args.next());
                let count = num(args.next());
                child = Some((dir, first, count));
            }
            other => panic!("unknown argument {other:?}"),
        }
    }
    if let Some((dir, first, count)) = child {
        let cache = open(&dir, &opts);
        put(&cache, first..first + count);
        // The worker is a detached thread: give it time to handle this process's events
        // before the process (and the thread) ends.
        settle(&opts);
        return;
    }
    let batches = 10u64;
    let per = (opts.entries as u64 / batches).max(1);

    let temp = tempfile::tempdir().expect("a temp dir");
    let one = temp.path().join("one-process");
    std::fs::create_dir_all(&one).expect("create the cache dir");
    header("1. one process", &opts);
    let cache = open(&one, &opts);
    for b in 0..batches {
        put(&cache, b * per..(b + 1) * per);
        settle(&opts);
        show(&format!("batch {}", b + 1), &one);
    }
    drop(cache);

    let many = temp.path().join("process-per-batch");
    std::fs::create_dir_all(&many).expect("create the cache dir");
    header("2. a child process per batch", &opts);
    let exe = std::env::current_exe().expect("this program's path");
    for b in 0..batches {
        let status = Command::new(&exe)
            .arg("--limit")
            .arg(opts.limit.to_string())
            .arg("--interval-ms")
            .arg(opts.interval.as_millis().to_string())
            .arg("--child")
            .arg(&many)
            .arg((b * per).to_string())
            .arg(per.to_string())
            .status()
            .expect("run the child");
        assert!(status.success(), "child failed: {status}");
        show(&format!("batch {} (child)", b + 1), &many);
    }

    let burst = temp.path().join("burst");
    std::fs::create_dir_all(&burst).expect("create the cache dir");
    header("3. one process, one burst", &opts);
    let cache = open(&burst, &opts);
    put(&cache, 0..opts.entries as u64);
    settle(&opts);
    show(&format!("{} puts", opts.entries), &burst);
}
