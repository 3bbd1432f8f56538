//! `ls` and `stats`: looking at the whole cache without changing it.

use std::time::{Duration, SystemTime};

use crate::{Env, backdate, days, entry_path, s, text};

#[test]
fn ls_lists_every_entry_with_its_header_fields() {
    let env = Env::new();
    let cache = env.cache();
    let other = env.cache_in("other-1.0");
    assert!(cache.put(&cache.key("a"), &text(1, 10_000)));
    assert!(cache.put(&cache.key("b"), &text(2, 20_000)));
    assert!(other.put(&other.key("c"), b"tiny"));

    let j = env.run(&["ls", "--json"]).expect_code(0).json();
    assert_eq!(j["directory"], s(&env.dir()));
    let entries = j["entries"].as_array().expect("a list");
    assert_eq!(entries.len(), 3);
    // Sorted by namespace, then digest.
    let order: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["namespace"].as_str().expect("ns"),
                e["digest"].as_str().expect("digest"),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(order, sorted);
    let c = entries
        .iter()
        .find(|e| e["namespace"] == "other-1.0")
        .expect("listed");
    assert_eq!(c["digest"], other.key("c").digest().to_hex());
    assert_eq!(c["status"], "ok");
    assert_eq!(c["decoded_bytes"], 4);
    assert_eq!(
        (c["codec"].as_str(), c["level"].as_i64()),
        (Some("zstd"), Some(3))
    );
    let path = std::path::PathBuf::from(c["path"].as_str().expect("a path"));
    assert_eq!(
        c["stored_bytes"],
        std::fs::metadata(&path).expect("exists").len()
    );
    for field in ["created_unix_ms", "modified_unix_ms", "last_used_unix_ms"] {
        assert!(c[field].as_i64().is_some_and(|t| t > 0), "{field}: {c}");
    }

    let t = env.run(&["ls"]).expect_code(0).stdout();
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0].starts_with("NAMESPACE") && lines[0].contains("LAST USED"),
        "{t}"
    );
    assert_eq!(lines.len(), 5, "{t}");
    assert!(lines[4].starts_with("3 entries:"), "{t}");

    let j = env
        .run(&["--namespace", "other-1.0", "ls", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(j["entries"].as_array().map(Vec::len), Some(1));
}

#[test]
fn ls_of_a_missing_cache_is_empty_and_creates_nothing() {
    let env = Env::new();
    let r = env.run(&["ls"]).expect_code(0);
    assert_eq!(r.stdout(), "0 entries: 0 B stored, 0 B decoded\n");
    let j = env.run(&["ls", "--json"]).expect_code(0).json();
    assert_eq!(j["entries"], serde_json::json!([]));
    let j = env.run(&["stats", "--json"]).expect_code(0).json();
    assert_eq!(j["entries"], 0);
    assert!(!env.dir().exists());
}

#[test]
fn looking_is_not_using_last_use_times_stay() {
    let env = Env::new();
    env.run_with_stdin(&["put", "old"], &text(5, 5000))
        .expect_code(0);
    let path = entry_path(&env, "old");
    backdate(&path, days(40));
    let accessed = || {
        std::fs::metadata(&path)
            .and_then(|m| m.accessed())
            .expect("a time")
    };
    let before = accessed();
    for args in [&["ls"][..], &["stats"], &["verify"], &["inspect", "old"]] {
        env.run(args).expect_code(0);
        assert_eq!(
            accessed(),
            before,
            "`hoard {}` moved the last use",
            args.join(" ")
        );
    }
    // A get is a use.
    env.run(&["get", "old"]).expect_code(0);
    let after = accessed();
    assert!(
        SystemTime::now().duration_since(after).unwrap_or_default() < Duration::from_secs(600),
        "a hit did not count as a use"
    );
}

#[test]
fn stats_summarises_sizes_limits_namespaces_and_ages() {
    let env = Env::new();
    let config = env.file(
        "stats.toml",
        b"[cache]\nfile-count-soft-limit = \"1K\"\nfiles-total-size-soft-limit = \"10Mi\"\n",
    );
    let cache = env.cache();
    let other = env.cache_in("other-1.0");
    let mut decoded = 0;
    for i in 0..6u64 {
        let v = text(i, 40_000);
        decoded += v.len() as u64;
        assert!(cache.put(&cache.key(format!("k{i}")), &v));
    }
    assert!(other.put(&other.key("x"), b"0123456789"));
    decoded += 10;
    backdate(&entry_path(&env, "k0"), days(10));
    backdate(&entry_path(&env, "k1"), days(10));
    backdate(&entry_path(&env, "k2"), days(100));

    let j = env
        .run(&["--config", s(&config), "stats", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(j["directory"], s(&env.dir()));
    assert_eq!(j["config_file"], s(&config));
    assert_eq!(j["namespace"], serde_json::Value::Null);
    assert_eq!(j["entries"], 7);
    assert_eq!(j["decoded_bytes"], decoded);
    assert_eq!(j["unreadable"], 0);
    let stored = j["stored_bytes"].as_u64().expect("a size");
    let ratio = j["compression_ratio"].as_f64().expect("a ratio");
    assert!((ratio - decoded as f64 / stored as f64).abs() < 1e-9);
    assert!(ratio > 3.0, "{ratio}");
    let names: Vec<&str> = j["namespaces"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|n| n["name"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["default", "other-1.0"]);
    assert_eq!(j["namespaces"][1]["entries"], 1);
    assert_eq!(j["namespaces"][1]["decoded_bytes"], 10);
    let l = &j["limits"];
    assert_eq!(
        (l["max_files"].as_u64(), l["max_size"].as_u64()),
        (Some(1000), Some(10 << 20))
    );
    assert_eq!(l["files_percent_if_deleting"], 70);
    assert_eq!(l["max_entry_size"], 1u64 << 30);
    assert_eq!(l["cleanup_interval_secs"], 3600);
    let ages: Vec<(&str, u64)> = j["age_histogram"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            (
                c["label"].as_str().expect("a label"),
                c["entries"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        ages,
        [
            ("< 1 hour", 4),
            ("1 hour - 1 day", 0),
            ("1 - 7 days", 0),
            ("7 - 30 days", 2),
            ("30 - 90 days", 0),
            ("> 90 days", 1),
        ]
    );
    let histogram_bytes: u64 = j["age_histogram"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["stored_bytes"].as_u64().expect("a size"))
        .sum();
    assert_eq!(histogram_bytes, stored);
    for counter in [
        "hits",
        "misses",
        "inserts",
        "evictions",
        "recompressions",
        "corrupt",
        "dropped_events",
    ] {
        assert!(j["process_counters"][counter].is_u64(), "{counter}");
    }

    let t = env
        .run(&["--config", s(&config), "stats"])
        .expect_code(0)
        .stdout();
    for needle in [
        "entries        7 of 1,000 allowed (0.7%)",
        "of 10.0 MiB allowed",
        "compression ratio",
        "size by time since last use",
        "> 90 days",
        "█",
        "other-1.0",
    ] {
        assert!(t.contains(needle), "{needle:?} missing from:\n{t}");
    }

    let j = env
        .run(&["--namespace", "other-1.0", "stats", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(
        (j["entries"].as_u64(), j["namespace"].as_str()),
        (Some(1), Some("other-1.0"))
    );
}

/// The codec mix of an adaptive cache (fast entries beside cold ones), by codec and level.
#[test]
fn stats_shows_the_mix_of_formats() {
    let env = Env::new();
    let zstd = env.cache();
    let stored = hoard::Cache::builder(env.dir())
        .codec(hoard::Identity)
        .without_worker()
        .build()
        .expect("the cache opens");
    for i in 0..3u64 {
        assert!(zstd.put(&zstd.key(format!("z{i}")), &text(i, 10_000)));
    }
    assert!(stored.put(&stored.key("s"), &text(9, 10_000)));
    let j = env.run(&["stats", "--json"]).expect_code(0).json();
    let formats: Vec<(&str, i64, u64)> = j["formats"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            (
                f["codec"].as_str().expect("a codec"),
                f["level"].as_i64().expect("a level"),
                f["entries"].as_u64().expect("a count"),
            )
        })
        .collect();
    assert_eq!(formats, [("identity", 0, 1), ("zstd", 3, 3)]);
    let out = env.run(&["stats"]).expect_code(0).stdout();
    assert!(out.contains("formats        2"), "{out}");
    assert!(out.contains("zstd 3"), "{out}");
}
