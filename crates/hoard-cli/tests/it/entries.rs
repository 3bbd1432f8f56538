//! `put`, `get`, `rm`, `inspect`: one entry by KEY, and the exit statuses around them.

use crate::{Env, entry_path, noise, s, text};

#[test]
fn put_and_get_round_trip_files_and_stdin() {
    let env = Env::new();
    let data = text(1, 100_000);
    let file = env.file("input", &data);
    let r = env.run(&["put", "k1", s(&file)]).expect_code(0);
    assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
    assert_eq!(env.run(&["get", "k1"]).expect_code(0).stdout, data);

    let piped = noise(2, 5000);
    env.run_with_stdin(&["put", "k2"], &piped).expect_code(0);
    env.run_with_stdin(&["put", "k3", "-"], b"third")
        .expect_code(0);
    env.run_with_stdin(&["put", "empty"], b"").expect_code(0);
    assert_eq!(env.run(&["get", "k2"]).expect_code(0).stdout, piped);
    assert_eq!(env.run(&["get", "k3"]).expect_code(0).stdout, b"third");
    assert!(env.run(&["get", "empty"]).expect_code(0).stdout.is_empty());

    // A later put replaces the value.
    env.run_with_stdin(&["put", "k3"], b"fourth").expect_code(0);
    assert_eq!(env.run(&["get", "k3"]).expect_code(0).stdout, b"fourth");
}

#[test]
fn the_command_and_the_library_see_the_same_entries() {
    let env = Env::new();
    env.run_with_stdin(&["put", "from the command"], b"one")
        .expect_code(0);
    let cache = env.cache();
    assert_eq!(
        cache.get(&cache.key("from the command")),
        Some(b"one".to_vec())
    );
    assert!(cache.put(&cache.key("from the library"), b"two"));
    assert_eq!(
        env.run(&["get", "from the library"]).expect_code(0).stdout,
        b"two"
    );
    // The digest `inspect` shows is the library's key for the same string.
    let r = env
        .run(&["inspect", "--json", "from the library"])
        .expect_code(0);
    assert_eq!(
        r.json()["digest"],
        cache.key("from the library").digest().to_hex()
    );
}

#[test]
fn a_miss_is_exit_1_with_nothing_written() {
    let env = Env::new();
    // No cache directory yet: a miss, and the directory is not created.
    let out = env.path("out");
    let r = env.run(&["get", "absent", "-o", s(&out)]).expect_code(1);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("miss") && r.stderr.contains("\"absent\""),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "no output file on a miss");
    assert!(!env.dir().exists(), "reading must not create the cache");

    env.run_with_stdin(&["put", "present"], b"x").expect_code(0);
    let r = env.run(&["get", "absent"]).expect_code(1);
    assert!(r.stdout.is_empty());
    // -q: the status says it all.
    let r = env.run(&["-q", "get", "absent"]).expect_code(1);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn get_writes_to_a_file_and_rm_removes() {
    let env = Env::new();
    env.run_with_stdin(&["put", "k"], b"value").expect_code(0);
    let out = env.path("out");
    let r = env.run(&["get", "k", "--output", s(&out)]).expect_code(0);
    assert!(r.stdout.is_empty());
    assert_eq!(std::fs::read(&out).expect("written"), b"value");

    let path = entry_path(&env, "k");
    assert!(path.is_file());
    let r = env.run(&["rm", "k"]).expect_code(0);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(!path.exists());
    env.run(&["get", "k"]).expect_code(1);
    // Removing what is not there is not a failure; it says so.
    let r = env.run(&["rm", "k"]).expect_code(0);
    assert!(r.stderr.contains("nothing to remove"), "{}", r.stderr);
}

#[test]
fn namespaces_separate_entries() {
    let env = Env::new();
    env.run_with_stdin(&["--namespace", "tool-2.0", "put", "k"], b"ns value")
        .expect_code(0);
    env.run(&["get", "k"]).expect_code(1);
    let r = env
        .run(&["--namespace", "tool-2.0", "get", "k"])
        .expect_code(0);
    assert_eq!(r.stdout, b"ns value");
    let cache = env.cache_in("tool-2.0");
    assert_eq!(cache.get(&cache.key("k")), Some(b"ns value".to_vec()));
    let r = env
        .run(&["--namespace", "../etc", "get", "k"])
        .expect_code(2);
    assert!(r.stderr.contains("namespace"), "{}", r.stderr);
}

#[test]
fn inspect_shows_the_path_and_every_header_field() {
    let env = Env::new();
    let data = text(3, 50_000);
    env.run_with_stdin(&["put", "artifact"], &data)
        .expect_code(0);
    let r = env.run(&["inspect", "--json", "artifact"]).expect_code(0);
    let j = r.json();
    let cache = env.cache();
    let key = cache.key("artifact");
    assert_eq!(j["key"], "artifact");
    assert_eq!(j["namespace"], "default");
    assert_eq!(j["hasher"], "sha256");
    assert_eq!(j["status"], "ok");
    assert_eq!(j["reason"], serde_json::Value::Null);
    let path = std::path::PathBuf::from(j["path"].as_str().expect("a path"));
    assert!(
        path.starts_with(env.dir().join("v1").join("default")),
        "{path:?}"
    );
    let stored = std::fs::metadata(&path).expect("the entry exists").len();
    assert_eq!(j["stored_bytes"], stored);
    assert!(j["modified_unix_ms"].as_i64().is_some_and(|t| t > 0));
    let h = &j["header"];
    assert_eq!(h["version"], 1);
    assert_eq!(h["payload_offset"], 96);
    assert_eq!(h["hasher"], "sha256");
    assert_eq!(h["codec"], "zstd");
    assert_eq!(h["level"], 3);
    assert_eq!(h["flags"], 0);
    assert_eq!(h["decoded_len"], data.len());
    assert_eq!(h["payload_len"], stored - 96);
    assert_eq!(h["digest"], key.digest().to_hex());
    assert_eq!(h["checksum"].as_str().map(str::len), Some(32));
    assert!(h["created_unix_ms"].as_u64().is_some_and(|t| t > 0));

    let t = env.run(&["inspect", "artifact"]).expect_code(0).stdout();
    for label in [
        "path",
        "payload offset",
        "decoded",
        "checksum",
        "created",
        "zstd",
    ] {
        assert!(t.contains(label), "{label} missing from:\n{t}");
    }
    assert!(t.contains("48.8 KiB (50,000 bytes)"), "{t}");

    let r = env.run(&["inspect", "nothing"]).expect_code(1);
    assert!(r.stdout.is_empty());
}

#[test]
fn input_and_output_failures_are_one_line_naming_the_path() {
    let env = Env::new();
    let missing = env.path("no-such-input");
    let r = env.run(&["put", "k", s(&missing)]).expect_code(2);
    assert!(r.one_error_line().contains("no-such-input"), "{}", r.stderr);
    assert!(!env.dir().exists(), "a failed put creates no cache");

    env.run_with_stdin(&["put", "k"], b"v").expect_code(0);
    let bad_out = env.path("no-such-dir/out");
    let r = env.run(&["get", "k", "-o", s(&bad_out)]).expect_code(2);
    assert!(
        r.one_error_line().contains("no-such-dir/out"),
        "{}",
        r.stderr
    );

    // A value above the configured cap is refused before it is read, naming the key's input.
    let config = env.file("small.toml", b"[cache]\nmax-entry-size = \"1Ki\"\n");
    let big = env.file("big", &noise(4, 4096));
    let r = env
        .run(&["--config", s(&config), "put", "big", s(&big)])
        .expect_code(2);
    let line = r.one_error_line();
    assert!(
        line.contains("max-entry-size") && line.contains("big"),
        "{line}"
    );
}

#[test]
fn a_directory_that_is_not_a_cache_is_refused_untouched() {
    let env = Env::new();
    let dir = env.path("documents");
    std::fs::create_dir(&dir).expect("a directory");
    env.file("documents/letter.txt", b"dear");
    for args in [&["ls"][..], &["stats"], &["put", "k", "-"], &["clear"]] {
        let mut cmd = vec!["--dir", dir.to_str().expect("utf-8")];
        cmd.extend_from_slice(args);
        let r = env.run_bare(&cmd).expect_code(2);
        assert!(
            r.one_error_line().contains("not a hoard cache directory"),
            "{}",
            r.stderr
        );
    }
    let names: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(names, ["letter.txt"]);
}

#[test]
fn without_dir_the_environment_and_platform_defaults_apply() {
    let env = Env::new();
    // HOARD_CACHE_DIR.
    let custom = env.path("custom-cache");
    let mut cmd = env.command();
    cmd.env("HOARD_CACHE_DIR", &custom)
        .args(["put", "k", "-"])
        .stdin(std::process::Stdio::null());
    assert_eq!(cmd.status().expect("runs").code(), Some(0));
    assert!(custom.join("v1").join("default").is_dir());
    // The platform directory: $XDG_CACHE_HOME/hoard.
    let r = env.run_bare(&["-v", "ls"]).expect_code(0);
    let expected = env.path("xdg-cache").join("hoard");
    assert!(
        r.stderr.contains(&expected.display().to_string()),
        "{}",
        r.stderr
    );
}
