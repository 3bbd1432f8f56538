//! The lifetime counters `stats` shows: summed over every process that used the directory
//! (programs through the library, and the command's own runs), kept across runs, zeroed by
//! `stats --zero`.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use hoard::Cache;
use serde_json::Value;

use crate::{Env, backdate, days, entry_path, noise, text};

/// The ten lifetime counters, in the order of the JSON schema.
const COUNTERS: [&str; 10] = [
    "hits",
    "misses",
    "inserts",
    "evictions",
    "recompressions",
    "corrupt",
    "dropped_events",
    "cleanups",
    "temps_swept",
    "errors",
];

/// `stats --json`'s `counters` object.
fn counters(env: &Env) -> Value {
    env.run(&["stats", "--json"]).expect_code(0).json()["counters"].clone()
}

fn n(counters: &Value, name: &str) -> u64 {
    counters[name]
        .as_u64()
        .unwrap_or_else(|| panic!("{name} is not a count: {counters}"))
}

/// Where a re-executed test binary finds the cache directory it must work on.
const CHILD_DIR: &str = "HOARD_TEST_COUNTERS_CHILD_DIR";
/// And which workload, as `TAG,INSERTS,HITS,MISSES`.
const CHILD_LOAD: &str = "HOARD_TEST_COUNTERS_CHILD_LOAD";

/// What a program using the cache does: `inserts` puts, `hits` gets of what it put and
/// `misses` gets of keys nobody put, through the library with its eviction worker on (the
/// default), which merges the counts when the cache is dropped.
fn workload(dir: &Path, tag: &str, inserts: u64, hits: u64, misses: u64) {
    let cache = Cache::builder(dir).build().expect("the cache opens");
    assert!(cache.worker().is_some(), "the worker runs");
    for i in 0..inserts {
        assert!(cache.put(&cache.key(format!("{tag}-{i}")), &text(i, 2000)));
    }
    for i in 0..hits {
        let key = cache.key(format!("{tag}-{}", i % inserts));
        assert!(cache.get(&key).is_some(), "a hit");
    }
    for i in 0..misses {
        assert!(cache.get(&cache.key(format!("{tag}-absent-{i}"))).is_none());
    }
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (hits, misses, inserts));
}

/// Runs in two roles. Run by the test harness, it is an ordinary test: one program's
/// counts, through the library in this process, reach `hoard stats`. Re-executed by
/// [`programs_in_two_processes_add_up`] with [`CHILD_DIR`] set, it is one of those programs.
#[test]
fn a_program_s_counts_reach_stats() {
    if let (Ok(dir), Ok(load)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_LOAD)) {
        let parts: Vec<&str> = load.split(',').collect();
        let num = |i: usize| parts[i].parse::<u64>().expect("a count");
        workload(Path::new(&dir), parts[0], num(1), num(2), num(3));
        return;
    }
    let env = Env::new();
    workload(&env.dir(), "solo", 4, 9, 2);
    let c = counters(&env);
    assert_eq!(
        (n(&c, "hits"), n(&c, "misses"), n(&c, "inserts")),
        (9, 2, 4),
        "{c}"
    );
    assert!(c["since_unix_ms"].as_i64().is_some_and(|t| t > 0), "{c}");
}

#[test]
fn programs_in_two_processes_add_up() {
    let env = Env::new();
    // Both programs at once, each its own process with its own worker.
    let spawn = |load: &str| {
        Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "counters::a_program_s_counts_reach_stats"])
            .env(CHILD_DIR, env.dir())
            .env(CHILD_LOAD, load)
            .output()
            .expect("the child runs")
    };
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| spawn("a,5,11,3"));
        let b = scope.spawn(|| spawn("b,7,2,13"));
        (a.join().expect("no panic"), b.join().expect("no panic"))
    });
    for (name, out) in [("a", &a), ("b", &b)] {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child {name}: {stdout}");
        // The child ran the test in its program role, not zero tests.
        assert!(stdout.contains("1 passed"), "child {name}: {stdout}");
    }
    let c = counters(&env);
    assert_eq!(
        (n(&c, "hits"), n(&c, "misses"), n(&c, "inserts")),
        (11 + 2, 3 + 13, 5 + 7),
        "{c}"
    );
    assert_eq!(n(&c, "dropped_events"), 0, "{c}");
    // The command's own runs are processes like any other.
    env.run(&["get", "a-0"]).expect_code(0);
    env.run(&["get", "nobody-put-this"]).expect_code(1);
    env.run_with_stdin(&["put", "c-0"], b"more").expect_code(0);
    let after = counters(&env);
    assert_eq!(
        (n(&after, "hits"), n(&after, "misses"), n(&after, "inserts")),
        (14, 17, 13),
        "{after}"
    );
    assert_eq!(after["since_unix_ms"], c["since_unix_ms"]);
    // Looking does not count: stats twice in a row shows the same.
    assert_eq!(counters(&env)["hits"], after["hits"]);
}

#[test]
fn evictions_by_gc_and_evict_show_in_the_next_stats() {
    let env = Env::new();
    let cache = env.cache();
    for i in 0..20 {
        assert!(cache.put(&cache.key(format!("k{i}")), &noise(i, 3000)));
    }
    let before = counters(&env);
    assert_eq!(n(&before, "evictions"), 0);
    let gc = env
        .run(&["gc", "--max-files", "10", "--json"])
        .expect_code(0)
        .json();
    let evicted = gc["evicted"].as_u64().expect("a count");
    assert_eq!(evicted, 13, "down to 70% of 10: {gc}");
    let c = counters(&env);
    assert_eq!(n(&c, "evictions"), evicted, "{c}");
    assert_eq!(n(&c, "cleanups"), 1, "{c}");

    // Two of the seven left are old: `evict --older-than` adds them.
    let left: Vec<u64> = (0..20)
        .filter(|i| cache.get(&cache.key(format!("k{i}"))).is_some())
        .collect();
    assert_eq!(left.len(), 7);
    for i in &left[..2] {
        backdate(&entry_path(&env, &format!("k{i}")), days(40));
    }
    let r = env
        .run(&["evict", "--older-than", "30d", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(r["evicted"], 2);
    assert_eq!(n(&counters(&env), "evictions"), evicted + 2);

    // A corrupt entry removed by `verify --repair` is counted as corrupt.
    let victim = entry_path(&env, &format!("k{}", left[2]));
    let mut bytes = std::fs::read(&victim).expect("readable");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    File::create(&victim)
        .and_then(|mut f| f.write_all(&bytes))
        .expect("the entry is damaged");
    env.run(&["verify", "--repair"]).expect_code(0);
    let c = counters(&env);
    assert_eq!(n(&c, "corrupt"), 1, "{c}");

    // So are the entries `recompress` rewrites.
    let r = env
        .run(&["recompress", "--level", "1", "--json"])
        .expect_code(0)
        .json();
    let rewritten = r["recompressed"].as_u64().expect("a count");
    assert_eq!(rewritten, 4, "{r}");
    assert_eq!(n(&counters(&env), "recompressions"), rewritten);
}

#[test]
fn damaged_counters_read_as_none_and_restart_from_zero() {
    let env = Env::new();
    env.run_with_stdin(&["put", "k"], b"value").expect_code(0);
    env.run(&["get", "k"]).expect_code(0);
    assert_eq!(n(&counters(&env), "hits"), 1);
    let state = env.dir().join("state").join("counters");
    let valid = std::fs::read(&state).expect("the counters are on disk");
    let garbage: [&[u8]; 4] = [
        b"",
        b"not counters at all",
        &valid[..valid.len() / 2],
        &vec![0xa5; 1 << 20],
    ];
    for (i, bad) in garbage.iter().enumerate() {
        File::create(&state)
            .and_then(|mut f| f.write_all(bad))
            .expect("the state is replaced");
        let r = env.run(&["stats", "--json"]).expect_code(0);
        assert!(r.stderr.is_empty(), "garbage {i}: {}", r.stderr);
        let c = r.json()["counters"].clone();
        assert_eq!(c["since_unix_ms"], Value::Null, "garbage {i}: {c}");
        for name in COUNTERS {
            assert_eq!(n(&c, name), 0, "garbage {i}: {c}");
        }
        let t = env.run(&["stats"]).expect_code(0).stdout();
        assert!(t.contains("counters       none recorded yet"), "{t}");
        // The next process to merge starts them over.
        env.run(&["get", "k"]).expect_code(0);
        let c = counters(&env);
        assert_eq!(
            (n(&c, "hits"), n(&c, "inserts")),
            (1, 0),
            "garbage {i}: {c}"
        );
        assert!(c["since_unix_ms"].is_i64(), "garbage {i}: {c}");
    }
}

#[test]
fn stats_zero_reports_then_zeroes() {
    let env = Env::new();
    env.run_with_stdin(&["put", "k"], b"value").expect_code(0);
    env.run(&["get", "k"]).expect_code(0);
    env.run(&["get", "other"]).expect_code(1);
    let before = counters(&env);

    let j = env
        .run(&["stats", "--zero", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(j["counters_zeroed"], true);
    assert_eq!(j["counters"], before, "what they held, read under the lock");
    let zeroed = counters(&env);
    for name in COUNTERS {
        assert_eq!(n(&zeroed, name), 0, "{zeroed}");
    }
    let since = zeroed["since_unix_ms"].as_i64().expect("a time");
    assert!(since >= before["since_unix_ms"].as_i64().expect("a time"));
    assert_eq!(
        env.run(&["stats", "--json"]).expect_code(0).json()["counters_zeroed"],
        false
    );

    // Counting resumes from zero.
    env.run(&["get", "k"]).expect_code(0);
    let t = env.run(&["stats", "-z"]).expect_code(0).stdout();
    assert!(
        t.contains("\n  hits            1  (100.0% of lookups)\n"),
        "{t}"
    );
    assert!(t.contains("counters zeroed"), "{t}");
    assert_eq!(n(&counters(&env), "hits"), 0);

    // Nothing to zero where there is no cache; nothing is created.
    let empty = Env::new();
    let r = empty.run(&["stats", "--zero", "--json"]).expect_code(0);
    assert_eq!(r.json()["counters_zeroed"], false);
    assert!(r.stderr.contains("no counters to zero"), "{}", r.stderr);
    assert!(!empty.dir().exists());
}
