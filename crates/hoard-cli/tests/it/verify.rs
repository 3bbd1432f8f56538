//! `verify [--repair]`, and what a damaged entry does to `get`.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::{Env, entry_path, text};

/// Flips one bit of the file at `path`, `at` bytes in.
fn flip_bit(path: &Path, at: u64) {
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("the entry opens for writing");
    let mut byte = [0u8];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut byte).expect("read");
    byte[0] ^= 0x10;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&byte).expect("write");
}

#[test]
fn a_flipped_bit_is_a_miss_found_by_verify_and_removed_by_repair() {
    let env = Env::new();
    for i in 0..5 {
        env.run_with_stdin(&["put", &format!("k{i}")], &text(i, 20_000))
            .expect_code(0);
    }
    let one = entry_path(&env, "k1");
    let three = entry_path(&env, "k3");
    // In the payload of one, in the header (the level field) of the other.
    flip_bit(&one, 500);
    flip_bit(&three, 16);

    let r = env.run(&["verify"]).expect_code(1);
    let out = r.stdout();
    assert!(out.contains(&one.display().to_string()), "{out}");
    assert!(out.contains(&three.display().to_string()), "{out}");
    assert!(out.contains("checked 5 entries"), "{out}");
    assert!(out.contains("3 ok, 2 corrupt"), "{out}");
    assert!(
        one.exists() && three.exists(),
        "verify alone removes nothing"
    );

    let j = env.run(&["verify", "--json"]).expect_code(1).json();
    assert_eq!(
        (j["checked"].as_u64(), j["ok"].as_u64()),
        (Some(5), Some(3))
    );
    assert_eq!(
        (j["corrupt"].as_u64(), j["removed"].as_u64()),
        (Some(2), Some(0))
    );
    let problems = j["problems"].as_array().expect("a list");
    assert_eq!(problems.len(), 2);
    for p in problems {
        assert_eq!(p["status"], "corrupt");
        assert_eq!(p["removed"], false);
        assert_eq!(p["namespace"], "default");
        assert!(
            p["reason"].as_str().is_some_and(|r| r.contains("checksum")),
            "{p}"
        );
    }

    // get: a miss (exit 1), nothing on stdout; the cache removes what failed verification.
    let r = env.run(&["get", "k1"]).expect_code(1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("failed verification"), "{}", r.stderr);
    assert!(!one.exists());

    // --repair removes the other one and succeeds.
    let r = env.run(&["verify", "--repair"]).expect_code(0);
    assert!(r.stdout().contains("(removed)"), "{}", r.stdout());
    assert!(!three.exists());
    let r = env.run(&["verify"]).expect_code(0);
    assert!(r.stdout().contains("checked 3 entries"), "{}", r.stdout());
    for k in ["k0", "k2", "k4"] {
        env.run(&["get", k]).expect_code(0);
    }
}

#[test]
fn an_entry_under_another_keys_name_is_corrupt() {
    let env = Env::new();
    env.run_with_stdin(&["put", "a"], b"value of a")
        .expect_code(0);
    env.run_with_stdin(&["put", "b"], b"value of b")
        .expect_code(0);
    let a = entry_path(&env, "a");
    let b = entry_path(&env, "b");
    // Copy a's frame over b's (through the test's own I/O, not the command's).
    let frame = std::fs::read(&a).expect("readable");
    let mut f = std::fs::File::create(&b).expect("writable");
    f.write_all(&frame).expect("written");
    drop(f);
    let j = env.run(&["verify", "--json"]).expect_code(1).json();
    assert_eq!(j["corrupt"], 1);
    assert!(
        j["problems"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("holds key")),
        "{j}"
    );
    env.run(&["get", "b"]).expect_code(1);
    assert_eq!(env.run(&["get", "a"]).expect_code(0).stdout, b"value of a");
}

#[test]
fn verify_on_an_empty_or_missing_cache_succeeds_and_draws_no_progress_off_a_terminal() {
    let env = Env::new();
    let r = env.run(&["verify"]).expect_code(0);
    assert!(r.stdout().contains("checked 0 entries"), "{}", r.stdout());
    assert!(!env.dir().exists());
    let cache = env.cache();
    for i in 0..300 {
        assert!(cache.put(&cache.key(format!("k{i}")), &text(i, 100)));
    }
    let r = env.run(&["verify"]).expect_code(0);
    assert!(r.stdout().contains("checked 300 entries"), "{}", r.stdout());
    // stderr is a pipe here, not a terminal: no progress bar, no escape sequences.
    assert!(r.stderr.is_empty(), "{:?}", r.stderr);
}

#[test]
#[cfg(unix)]
#[expect(
    clippy::disallowed_methods,
    reason = "the test moves a shard away to plant symlinks, then puts it back"
)]
fn get_through_a_symlinked_shard_says_the_entry_was_left_in_place() {
    let env = Env::new();
    env.run_with_stdin(&["put", "k"], b"value").expect_code(0);
    let entry = entry_path(&env, "k");
    let shard = entry.parent().expect("a shard directory");
    // The shard's real contents moved elsewhere, a symlink to them in its place.
    let elsewhere = env.path("elsewhere");
    std::fs::rename(shard, &elsewhere).expect("move the shard");
    std::os::unix::fs::symlink(&elsewhere, shard).expect("plant the link");
    let moved = elsewhere.join(entry.file_name().expect("a file name"));
    for _ in 0..2 {
        let r = env.run(&["get", "k"]).expect_code(1);
        assert!(r.stdout.is_empty());
        assert!(!r.stderr.contains("was removed"), "{}", r.stderr);
        assert!(r.stderr.contains("left in place"), "{}", r.stderr);
        assert!(r.stderr.contains("symlink"), "{}", r.stderr);
        assert!(
            r.stderr.contains(&entry.display().to_string()),
            "{}",
            r.stderr
        );
        assert!(moved.exists(), "nothing is removed through the link");
        assert!(shard.is_symlink(), "the link itself stays");
    }
    // A symlink at the entry's own name is removed (the link, never its target), and
    // the message says so.
    std::fs::remove_file(shard).expect("remove the planted link");
    std::fs::rename(&elsewhere, shard).expect("put the shard back");
    let target = env.file("target", b"not yours");
    std::fs::remove_file(&entry).expect("clear the entry");
    std::os::unix::fs::symlink(&target, &entry).expect("plant an entry link");
    let r = env.run(&["get", "k"]).expect_code(1);
    assert!(r.stderr.contains("was removed"), "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(&entry).is_err(),
        "the link is gone"
    );
    assert!(target.exists(), "its target stays");
}

/// With `auth-key-file` in the configuration, `verify` reports the entries not signed by
/// the key as `unauthenticated` (left alone, even by `--repair`) and `get` misses them;
/// without the key they verify as before.
#[test]
fn verify_reports_unauthenticated_entries_when_the_configuration_has_a_key() {
    let env = Env::new();
    let key = env.file("hoard.key", format!("{}\n", "5e".repeat(32)).as_bytes());
    // Unix refuses key and configuration files others can read (Windows checks no modes).
    #[cfg(unix)]
    let private = |path: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    };
    #[cfg(not(unix))]
    let private = |_: &std::path::Path| {};
    private(&key);
    let config = env.file(
        "config.toml",
        format!("[cache]\nauth-key-file = {key:?}\n").as_bytes(),
    );
    private(&config);
    let keyed = |args: &[&str], input: Option<&[u8]>| {
        let mut cmd = env.command();
        cmd.env("HOARD_CONFIG", &config)
            .arg("--dir")
            .arg(env.dir())
            .args(args);
        match input {
            None => cmd.output().expect("runs"),
            Some(bytes) => {
                use std::process::Stdio;
                cmd.stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = cmd.spawn().expect("starts");
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(bytes)
                    .expect("input");
                child.wait_with_output().expect("ends")
            }
        }
    };
    env.run_with_stdin(&["put", "plain"], b"unsigned")
        .expect_code(0);
    let out = keyed(&["put", "signed"], Some(b"signed"));
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let out = keyed(&["verify", "--json"], None);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (j["checked"].as_u64(), j["ok"].as_u64()),
        (Some(2), Some(1)),
        "{j}"
    );
    assert_eq!(j["unauthenticated"], 1, "{j}");
    assert_eq!(j["problems"][0]["status"], "unauthenticated", "{j}");
    let text = keyed(&["verify", "--repair"], None);
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(
        shown.contains("not signed by the configured auth key"),
        "{shown}"
    );
    assert!(!shown.contains(&"5e".repeat(4)), "{shown}");

    let get = keyed(&["get", "plain"], None);
    assert_eq!(get.status.code(), Some(1), "{get:?}");
    assert!(get.stdout.is_empty());
    assert_eq!(keyed(&["get", "signed"], None).stdout, b"signed");
    // Without the key both verify, and the unsigned entry was left in place.
    let j = env.run(&["verify", "--json"]).expect_code(0).json();
    assert_eq!(
        (j["ok"].as_u64(), j["unauthenticated"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        env.run(&["get", "plain"]).expect_code(0).stdout,
        b"unsigned"
    );
}
