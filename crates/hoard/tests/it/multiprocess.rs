//! Real processes writing and reading the same keys at once.

use std::process::Command;

use hoard::Cache;

const KEYS: u32 = 16;
/// Rounds of puts per writer: fewer on Windows, where the 150 rounds took over a minute
/// under Wine.
const ROUNDS: u32 = if cfg!(windows) { 20 } else { 150 };
const CHILD_ENV: &str = "HOARD_IT_MULTIPROCESS_CHILD";

/// The value writer `w` stores for key `k` in round `r`: self-describing, so a reader can
/// tell a whole value of this key from anything else.
fn value(k: u32, w: u32, r: u32) -> Vec<u8> {
    let len = 100 + ((k * 37 + r * 13 + w * 7) % 5000) as usize;
    let mut v = Vec::with_capacity(12 + len);
    for x in [k, w, r] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend((0..len).map(|i| (k as usize * 31 + w as usize * 17 + r as usize * 7 + i) as u8));
    v
}

fn check(k: u32, got: &[u8]) {
    assert!(
        got.len() >= 12,
        "short value for key {k}: {} bytes",
        got.len()
    );
    let field = |i: usize| u32::from_le_bytes(got[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let (gk, w, r) = (field(0), field(1), field(2));
    assert_eq!(gk, k, "key {k} returned the value of key {gk}");
    assert_eq!(
        got,
        value(k, w, r),
        "key {k}: value of writer {w} round {r} is damaged"
    );
}

fn key(cache: &Cache, k: u32) -> hoard::Key {
    cache.key(format!("hot key {k}"))
}

/// Entry point of the child processes that `two_processes_write_the_same_keys` starts: it
/// does nothing unless that test set the environment variable.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let dir = parts.next().expect("dir");
    let writer: u32 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("writer id");
    let rounds: u32 = parts.next().and_then(|s| s.parse().ok()).expect("rounds");
    let cache = Cache::open(dir).expect("open cache");
    let mut rng = fastrand::Rng::with_seed(u64::from(writer));
    for r in 0..rounds {
        for k in 0..KEYS {
            cache
                .try_put(&key(&cache, k), &value(k, writer, r))
                .expect("put never fails");
            let probe = rng.u32(..KEYS);
            if let Some(got) = cache.try_get(&key(&cache, probe)).expect("get never fails") {
                check(probe, &got);
            }
        }
    }
}

#[test]
fn two_processes_write_the_same_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("cache");
    let cache = Cache::open(&root).expect("open");
    let exe = std::env::current_exe().expect("test binary");
    let children: Vec<_> = (1..=2)
        .map(|w| {
            Command::new(&exe)
                .args([
                    "multiprocess::child_process_entry",
                    "--exact",
                    "--nocapture",
                ])
                .env(CHILD_ENV, format!("{}|{w}|{ROUNDS}", root.display()))
                .spawn()
                .expect("spawn child")
        })
        .collect();
    // Read alongside the writers until they are done.
    let mut reads = 0u64;
    let mut pending = children;
    while !pending.is_empty() {
        for k in 0..KEYS {
            if let Some(got) = cache
                .try_get(&key(&cache, k))
                .expect("parent get never fails")
            {
                check(k, &got);
                reads += 1;
            }
        }
        let mut still = Vec::new();
        for mut child in pending {
            match child.try_wait().expect("wait") {
                Some(status) => assert!(status.success(), "a writer failed: {status}"),
                None => still.push(child),
            }
        }
        pending = still;
    }
    for k in 0..KEYS {
        let got = cache.get(&key(&cache, k)).expect("every key was written");
        check(k, &got);
    }
    let s = cache.stats();
    assert_eq!((s.corrupt, s.errors), (0, 0));
    assert!(reads > 0);
    let leftovers = walk_count(&root, ".tmp-");
    assert_eq!(leftovers, 0, "temp files left behind");
}

fn walk_count(dir: &std::path::Path, prefix: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let ft = e.file_type().expect("type");
        if ft.is_dir() {
            n += walk_count(&e.path(), prefix);
        } else if e.file_name().to_string_lossy().starts_with(prefix) {
            n += 1;
        }
    }
    n
}
