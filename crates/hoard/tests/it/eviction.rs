//! The eviction worker on real directories: wiring into `Cache`, LRU with real file times,
//! planted symlinks and foreign files, a read-only workload, and four processes cleaning
//! one directory at once.

use std::fs::FileTimes;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard::evict::{Codecs, Janitor, Limits, ManualClock, WorkerConfig};
use hoard::{Cache, FsStore, Key, Store, Zstd};

const BIG: u64 = 1 << 40;
const CHILD_ENV: &str = "HOARD_IT_CLEANUP_CHILD";

/// A cache whose worker reads `clock`, with `config`.
fn cache_with(root: &Path, config: WorkerConfig, clock: &Arc<ManualClock>) -> Cache {
    Cache::builder(root)
        // Rounds run on `sync` only: the worker's own wake-up is an hour away.
        .worker(
            config
                .low_priority(false)
                .flush_period(Duration::from_secs(3600)),
        )
        .worker_clock(clock.clone())
        .build()
        .expect("cache")
}

/// A cache on `root` without a worker: the test runs the janitor itself.
fn cache_without_worker(root: &Path) -> Cache {
    Cache::builder(root)
        .without_worker()
        .build()
        .expect("cache")
}

/// Puts `b"value"` under the keys of `entry 0` to `entry {n - 1}` and returns the keys.
fn put_entries(cache: &Cache, n: u64) -> Vec<Key> {
    let keys: Vec<Key> = (0..n).map(|i| cache.key(format!("entry {i}"))).collect();
    for k in &keys {
        cache.put(k, b"value");
    }
    keys
}

fn entry_path(root: &Path, cache: &Cache, key: &Key) -> PathBuf {
    FsStore::open(root)
        .expect("store")
        .entry_path(cache.namespace(), key.digest())
}

/// Sets a file's access and modification times, without reading it.
fn set_times(path: &Path, when: SystemTime) {
    let f = std::fs::File::open(path).expect("open to set times");
    f.set_times(FileTimes::new().set_accessed(when).set_modified(when))
        .expect("set times");
}

fn entry_count(root: &Path) -> usize {
    let store = FsStore::open(root).expect("store");
    let mut n = 0;
    store
        .list(&mut |_| {
            n += 1;
            ControlFlow::Continue(())
        })
        .expect("list");
    n
}

/// The name of thread `tid` of this process, `None` once the kernel has reaped it.
fn thread_name(tid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
        .ok()
        .map(|comm| comm.trim_end().to_owned())
}

/// Waits until the kernel has reaped thread `tid`, which a join does not wait for: a join
/// returns when the kernel clears the thread's id word, early in the thread's exit, a moment
/// before the thread leaves `/proc/self/task`. False if it is still there after ten seconds.
fn reaped(tid: u32) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while thread_name(tid).is_some() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
    true
}

#[test]
fn the_builder_starts_a_worker_for_its_own_store_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::open(dir.path().join("a")).expect("cache");
    assert!(cache.worker().is_some());
    let none = Cache::builder(dir.path().join("b"))
        .without_worker()
        .build()
        .expect("cache");
    assert!(none.worker().is_none());
    let store = FsStore::open(dir.path().join("c")).expect("store");
    let plugin = hoard::CacheBuilder::with_store(store)
        .build()
        .expect("cache");
    assert!(plugin.worker().is_none());
    // Other tests' workers may run in this process too: look at this cache's thread only.
    // It names itself once it runs, and a completed round proves it does.
    let worker = cache.worker().expect("worker");
    worker.sync();
    // The thread's kernel id and name come from Linux's `gettid` and `/proc`: elsewhere
    // only `is_running` tells.
    let tid = if cfg!(target_os = "linux") {
        let tid = worker.os_thread_id().expect("the thread has started");
        assert_eq!(thread_name(tid).as_deref(), Some("hoard-evict"));
        Some(tid)
    } else {
        None
    };
    assert!(worker.is_running());
    // The worker lives as long as the last clone.
    let clone = cache.clone();
    drop(cache);
    assert!(clone.worker().is_some_and(|w| w.is_running()));
    if let Some(tid) = tid {
        assert_eq!(thread_name(tid).as_deref(), Some("hoard-evict"));
    }
    drop(clone);
    if let Some(tid) = tid {
        assert!(reaped(tid), "stopped and joined");
    }
}

#[test]
fn hits_record_last_use_and_popular_entries_are_recompressed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let cache = cache_with(
        &root,
        WorkerConfig::new().usage_threshold(3).optimized_level(19),
        &clock,
    );
    let data = hoard_testkit::artifact(64 << 10, 3);
    let key = cache.key(b"popular");
    assert!(cache.put(&key, &data));
    let path = entry_path(&root, &cache, &key);
    let level = || {
        let bytes = std::fs::read(&path).expect("entry");
        hoard::frame::Frame::parse(&bytes)
            .expect("valid")
            .header()
            .level
    };
    let before = std::fs::metadata(&path).expect("stat").len();
    assert_eq!(level(), 3);
    let worker = cache.worker().expect("worker");
    let later = SystemTime::now() + Duration::from_secs(3600);
    clock.set(later);
    for _ in 0..2 {
        assert_eq!(cache.get(&key).as_deref(), Some(&data[..]));
    }
    worker.sync();
    assert_eq!(level(), 3);
    let atime = std::fs::metadata(&path)
        .expect("stat")
        .accessed()
        .expect("atime");
    assert_eq!(
        atime, later,
        "the hit's last use is the worker's clock time"
    );
    assert_eq!(cache.get(&key).as_deref(), Some(&data[..]));
    worker.sync();
    assert_eq!(level(), 19);
    assert!(std::fs::metadata(&path).expect("stat").len() < before);
    assert_eq!(cache.get(&key).as_deref(), Some(&data[..]));
    let s = worker.stats();
    assert_eq!(
        (s.hits, s.recompressions, s.inserts, s.errors),
        (4, 1, 1, 0)
    );
}

/// Real entries with planted times: far future, 1970, an entry larger than the limit.
#[test]
fn lru_on_real_files_with_untimely_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let now = SystemTime::now();
    let clock = Arc::new(ManualClock::new(now));
    let cache = Cache::builder(&root)
        .without_worker()
        .codec(hoard::Identity)
        .build()
        .expect("cache");
    let mut keys = Vec::new();
    for i in 0..10u64 {
        let key = cache.key(format!("entry {i}"));
        assert!(cache.put(&key, &[7u8; 100]));
        set_times(
            &entry_path(&root, &cache, &key),
            now - Duration::from_secs(1000 - i * 10),
        );
        keys.push(key);
    }
    let future = cache.key(b"from 2100");
    cache.put(&future, &[1u8; 100]);
    set_times(
        &entry_path(&root, &cache, &future),
        now + Duration::from_secs(75 * 365 * 86_400),
    );
    let epoch = cache.key(b"from 1970");
    cache.put(&epoch, &[2u8; 100]);
    set_times(&entry_path(&root, &cache, &epoch), SystemTime::UNIX_EPOCH);
    let huge = cache.key(b"huge and new");
    cache.put(&huge, &[3u8; 5000]);
    let store = Arc::new(FsStore::open(&root).expect("store"));
    let janitor = Janitor::new(store, WorkerConfig::new()).with_clock(clock);
    // 13 entries, 6,500 bytes: over 10 entries and 3,000 bytes; shrink to 7 and 2,100.
    let report = janitor
        .cleanup_with(Limits::new(10, 3000))
        .expect("cleanup");
    assert_eq!(report.evicted, 6, "{report:?}");
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(cache.get(key).is_some(), i >= 3, "entry {i}");
    }
    for gone in [&future, &epoch, &huge] {
        assert!(cache.get(gone).is_none());
    }
    assert_eq!(entry_count(&root), 7);
}

/// A victim tree outside the cache, and a fingerprint of it: paths, kinds, contents, modes
/// and times.
fn fingerprint(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let m = std::fs::symlink_metadata(e.path()).expect("stat");
            let rel = e
                .path()
                .strip_prefix(root)
                .expect("below")
                .display()
                .to_string();
            // Not the access time: reading the tree to fingerprint it may change that.
            #[cfg(unix)]
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                m.permissions().mode()
            };
            // Windows has no mode; the read-only attribute is what it keeps there.
            #[cfg(not(unix))]
            let mode = u32::from(m.permissions().readonly());
            let times = format!("{:?} {:o}", m.modified().ok(), mode);
            if m.is_dir() {
                out.push(format!("dir {rel} {times}"));
                walk(&e.path(), root, out);
            } else {
                let body = std::fs::read(e.path()).expect("read");
                out.push(format!("file {rel} {body:?} {times}"));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// Plants a symlink; `false` where this system cannot (Wine), and then plants none after.
#[must_use]
fn link(target: &Path, at: &Path) -> bool {
    crate::plant_link(target, at)
}

fn plant_file(path: &Path, body: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(body).expect("write");
}

#[test]
fn planted_symlinks_and_foreign_files_survive_every_operation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(victim.join("sub")).expect("mkdir");
    for (name, body) in [("a", "precious a"), ("sub/b", "precious b")] {
        plant_file(&victim.join(name), body.as_bytes());
    }
    let old = SystemTime::now() - Duration::from_secs(400 * 86_400);
    set_times(&victim.join("a"), old);
    let print = fingerprint(&victim);
    let cache = cache_without_worker(&root);
    let mut shards = Vec::new();
    for i in 0..40 {
        let key = cache.key(format!("entry {i}"));
        cache.put(&key, b"value");
        let p = entry_path(&root, &cache, &key);
        set_times(&p, old);
        shards.push(p.parent().expect("shard").to_path_buf());
    }
    let ns_dir = root.join("v1").join(cache.namespace().as_str());
    // Links at entry names (an old one, in a used shard), at unused shard names, at
    // namespace names; foreign files and look-alike temp names in a shard.
    let link_key = cache.key(b"link");
    let link_entry = entry_path(&root, &cache, &link_key);
    std::fs::create_dir_all(link_entry.parent().expect("shard")).expect("mkdir");
    let linked = link(&victim.join("a"), &link_entry);
    let used: Vec<String> = shards
        .iter()
        .filter_map(|s| s.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let link_shard = link_entry
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let free: Vec<String> = (0..=255u8)
        .map(|b| format!("{b:02x}"))
        .filter(|s| !used.contains(s) && link_shard.as_ref() != Some(s))
        .take(2)
        .collect();
    if linked {
        for s in &free {
            assert!(link(&victim, &ns_dir.join(s)));
        }
        assert!(link(&victim, &root.join("v1/evil-1.0")));
        assert!(link(&victim.join("sub"), &root.join("v1/other")));
    }
    let name = link_entry
        .file_name()
        .and_then(|n| n.to_str())
        .expect("name");
    let shard = &shards[0];
    let foreign = [
        ".nfs0000000000001234".to_owned(),
        "README".to_owned(),
        "x".to_owned(),
        ".tmp-not-ours".to_owned(),
        format!(".tmp-{name}-00000000DEADBEEF"),
        format!("{name}.bak"),
    ];
    for f in &foreign {
        plant_file(&shard.join(f), b"foreign");
        set_times(&shard.join(f), old);
    }
    plant_file(&root.join("v1/stray-file"), b"foreign");
    let store = Arc::new(FsStore::open(&root).expect("store"));
    let janitor = Janitor::new(store, WorkerConfig::new());
    let limits = Limits::new(0, 0);
    let r = janitor.cleanup_with(limits).expect("cleanup");
    assert_eq!(r.evicted, 40, "{r:?}");
    janitor
        .evict_older_than(Duration::ZERO)
        .expect("evict by age");
    janitor
        .evict_namespace(cache.namespace())
        .expect("evict namespace");
    for ns in ["evil-1.0", "other"] {
        janitor
            .evict_namespace(&hoard::Namespace::new(ns).expect("valid"))
            .expect("evict linked namespace");
    }
    janitor
        .recompress_all(&hoard::Identity, None)
        .expect("recompress");
    janitor.survey().expect("survey");
    assert_eq!(fingerprint(&victim), print, "the victim tree changed");
    if linked {
        assert!(
            std::fs::symlink_metadata(&link_entry)
                .expect("link")
                .file_type()
                .is_symlink()
        );
        for s in &free {
            assert!(
                std::fs::symlink_metadata(ns_dir.join(s))
                    .expect("link")
                    .file_type()
                    .is_symlink()
            );
        }
    }
    for f in &foreign {
        assert_eq!(std::fs::read(shard.join(f)).expect("foreign"), b"foreign");
    }
    assert!(root.join("v1/stray-file").exists());
    assert_eq!(entry_count(&root), 0);
    assert_eq!(janitor.stats().errors, 0);
}

#[test]
fn a_read_only_workload_over_its_limit_is_brought_under_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let filler = cache_without_worker(&root);
    let keys = put_entries(&filler, 60);
    drop(filler);
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let reader = cache_with(
        &root,
        WorkerConfig::new().limits(Limits::new(20, BIG)),
        &clock,
    );
    // Only reads, of ten entries: the worker learns the cache is over its limit and shrinks
    // it to 14 entries, the ten read among them.
    clock.advance(Duration::from_secs(60));
    for k in &keys[..10] {
        assert!(reader.get(k).is_some());
    }
    let worker = reader.worker().expect("worker");
    worker.sync();
    assert_eq!(entry_count(&root), 14);
    for k in &keys[..10] {
        assert!(reader.get(k).is_some(), "a read entry was evicted");
    }
    let s = worker.stats();
    assert_eq!((s.inserts, s.cleanups, s.errors), (0, 1, 0));
}

/// Entry point of the children of `four_processes_clean_one_directory_at_once`.
#[test]
fn cleanup_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (root, limit) = spec.split_once('|').expect("dir|limit");
    let limit: u64 = limit.parse().expect("limit");
    let store = Arc::new(FsStore::open(root).expect("store"));
    let janitor = Janitor::new(store, WorkerConfig::new());
    let report = janitor
        .cleanup_with(Limits::new(limit, BIG))
        .expect("cleanup never fails");
    println!(
        "CLEANUP-REPORT evicted={} errors={}",
        report.evicted,
        janitor.stats().errors
    );
}

#[test]
#[cfg_attr(
    windows,
    ignore = "under Wine one cleanup of 1,200 entries outlasts the 2 s the others wait for \
              the cleanup lock (OPERATION_LOCK_WAIT), so they report busy, as designed"
)]
fn four_processes_clean_one_directory_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = cache_without_worker(&root);
    let now = SystemTime::now();
    let total = 1200u64;
    let keys: Vec<Key> = (0..total)
        .map(|i| cache.key(format!("entry {i}")))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        cache.put(k, b"value");
        set_times(
            &entry_path(&root, &cache, k),
            now - Duration::from_secs(10_000 - i as u64),
        );
    }
    let limit = 1000u64;
    let needed = total - limit * 7 / 10;
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(&exe)
                .args(["eviction::cleanup_child_entry", "--exact", "--nocapture"])
                .env(CHILD_ENV, format!("{}|{limit}", root.display()))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a cleaner")
        })
        .collect();
    let mut evicted = 0u64;
    for child in children {
        let out = child.wait_with_output().expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "a cleaner failed: {text}");
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix("CLEANUP-REPORT "))
            .expect("report line");
        let field = |name: &str| -> u64 {
            line.split(' ')
                .find_map(|f| f.strip_prefix(name))
                .and_then(|v| v.parse().ok())
                .expect("field")
        };
        evicted += field("evicted=");
        assert_eq!(field("errors="), 0, "{line}");
    }
    assert!(evicted >= needed, "evicted {evicted}, needed {needed}");
    assert!(
        evicted * 100 <= needed * 105,
        "evicted {evicted}, needed {needed}"
    );
    assert_eq!(entry_count(&root), (total - evicted) as usize);
    // The newest survive.
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(cache.get(k).is_some(), i as u64 >= needed, "entry {i}");
    }
}

#[test]
fn cleanups_survive_entries_vanishing_and_changing_mid_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = cache_without_worker(&root);
    // Fewer on Windows, where 600 entries took half a minute under Wine.
    let keys = put_entries(&cache, if cfg!(windows) { 240 } else { 600 });
    let store = Arc::new(FsStore::open(&root).expect("store"));
    std::thread::scope(|s| {
        let churn = s.spawn(|| {
            for round in 0..3 {
                for (i, k) in keys.iter().enumerate() {
                    if (i + round) % 3 == 0 {
                        cache.try_remove(k).expect("remove");
                    } else {
                        cache.try_put(k, b"again").expect("put");
                    }
                }
            }
        });
        let janitor = Janitor::new(store.clone(), WorkerConfig::new());
        for _ in 0..6 {
            janitor
                .cleanup_with(Limits::new(100, BIG))
                .expect("no error from vanishing files");
            janitor.survey().expect("survey");
        }
        churn.join().expect("churn");
        assert_eq!(janitor.stats().errors, 0);
    });
    let final_count = entry_count(&root);
    let janitor = Janitor::new(store, WorkerConfig::new());
    let r = janitor
        .cleanup_with(Limits::new(100, BIG))
        .expect("cleanup");
    assert!(r.entries_after <= 100, "{r:?} (had {final_count})");
}

/// A compressible value of `len` bytes that says which `tag` and `round` it is.
fn compressible(tag: &str, round: u32, len: usize) -> Vec<u8> {
    let line = format!("value {tag} of round {round}: the quick brown fox jumps over it\n");
    let mut out = line.into_bytes().repeat(len / 64 + 1);
    out.truncate(len);
    out
}

/// Issue 13's reproduction, repeated: a large compressible value A, a recompression of the
/// cache at zstd level 19 on one thread, a put of B under the same key on another while
/// it runs. Every get afterwards returns B: the recompression either read B (and rewrote
/// it) or lost the race and left B alone, never rolling back to A.
#[test]
fn a_recompression_never_rolls_back_a_put_made_while_it_runs() {
    const ROUNDS: u32 = 40;
    const LEN: usize = 4 << 20;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("c");
    let cache = cache_without_worker(&root);
    let key = cache.key("recompressed while written");
    let janitor = Janitor::new(
        Arc::new(FsStore::open(&root).expect("store")),
        WorkerConfig::new(),
    )
    .with_codecs(Codecs::new().decoder(Arc::new(Zstd::new(3).expect("level"))));
    let target = Zstd::new(19).expect("level");
    let (mut rewrote, mut lost) = (0, 0);
    for round in 0..ROUNDS {
        let (a, b) = (compressible("A", round, LEN), compressible("B", round, LEN));
        cache.try_put(&key, &a).expect("put A");
        let report = std::thread::scope(|s| {
            let recompressing =
                s.spawn(|| janitor.recompress_all(&target, Some(cache.namespace())));
            cache.try_put(&key, &b).expect("put B");
            recompressing
                .join()
                .expect("the recompression panicked")
                .expect("recompress")
        });
        let got = cache.try_get(&key).expect("get").expect("a hit");
        assert!(
            got == b,
            "round {round}: the get returned {:?}, not B",
            String::from_utf8_lossy(&got[..16])
        );
        rewrote += report.recompressed;
        lost += report.skipped;
    }
    println!("{ROUNDS} rounds: {rewrote} recompressions, {lost} lost to the put, 0 rollbacks");
}

/// The adaptive format on a real directory: puts write the fast format, the worker makes
/// idle entries zstd-19 and used ones fast again, and every hit reads the right value
/// whatever the entry's format.
#[cfg(feature = "zstd")]
#[test]
fn the_adaptive_format_converts_idle_and_used_entries() {
    use hoard::evict::Adaptive;
    use hoard::{CodecId, StoreExt};

    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let hour = Duration::from_secs(3600);
    let cache = Cache::builder(dir.path())
        .adaptive(
            Adaptive::new()
                .cold_after(hour)
                .hot_uses(2)
                .period(Duration::from_secs(60)),
        )
        .worker(WorkerConfig::new().low_priority(false).flush_period(hour))
        .worker_clock(clock.clone())
        .build()
        .expect("cache");
    let fast = CodecId::Identity;
    // One value above the chunking threshold: the cold frame is chunked.
    let values = [
        hoard_testkit::artifact(50_000, 1),
        hoard_testkit::artifact(700 << 10, 2),
    ];
    let keys: Vec<Key> = (0..2).map(|i| cache.key(format!("adaptive {i}"))).collect();
    for (k, v) in keys.iter().zip(&values) {
        assert!(cache.put(k, v));
    }
    let format = |k: &Key| {
        let f = cache
            .store()
            .get_verified(cache.namespace(), k, u64::MAX)
            .expect("read")
            .expect("stored");
        (f.header().codec, f.header().level)
    };
    assert_eq!(format(&keys[0]).0, fast);
    let worker = cache.worker().expect("a worker");
    clock.advance(2 * hour);
    worker.sync();
    assert_eq!(format(&keys[0]), (CodecId::Zstd, 19));
    assert_eq!(format(&keys[1]), (CodecId::Zstd, 19));
    for (k, v) in keys.iter().zip(&values) {
        assert_eq!(cache.get(k).as_deref(), Some(&v[..]), "a cold hit");
    }
    worker.sync();
    assert_eq!(format(&keys[0]).0, CodecId::Zstd, "one use is not hot");
    assert_eq!(cache.get(&keys[0]).as_deref(), Some(&values[0][..]));
    worker.sync();
    assert_eq!(format(&keys[0]).0, fast, "two uses are");
    assert_eq!(format(&keys[1]).0, CodecId::Zstd);
    assert_eq!(cache.get(&keys[0]).as_deref(), Some(&values[0][..]));
    assert_eq!((cache.stats().corrupt, cache.stats().errors), (0, 0));
}
