//! Another user attacking a shared cache, insecure roots, the umask, and hostile namespaces
//! and keys.
//!
//! The attacker is a real second uid: this test binary re-executed under `setpriv --reuid
//! 65534 --regid 65534 --clear-groups` (root ignores permission bits, so an attacker running
//! as root would prove nothing). It can write where a group-shared cache lets its group
//! write, and plants symlinks to a victim tree it cannot write itself, statically at every
//! level of the layout and in a tight swap loop racing puts and cleanups. The victim tree's
//! fingerprint (content, mode, owner, size, mtime, ctime) must never change, and nothing may
//! appear beside the cache root.

// On Windows only the hostile labels and keys and the linked root run: the attacker is a
// second uid, and modes, owners and the umask have no Windows meaning (the Windows store
// checks no ACL; see ARCHITECTURE.md, "Windows").
#[cfg(unix)]
use std::collections::BTreeMap;
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::{Child, Command, Stdio};
#[cfg(unix)]
use std::sync::Arc;
#[cfg(unix)]
use std::time::{Duration, Instant, SystemTime};

#[cfg(unix)]
use hoard::evict::{Janitor, Limits, ManualClock, WorkerConfig};
use hoard::{Cache, CacheBuilder, ErrorKind, FsStore, StoreExt};
#[cfg(unix)]
use hoard::{Housekeeping, Identity};
use proptest::prelude::*;

#[cfg(unix)]
const ATTACKER_ENV: &str = "HOARD_IT_ATTACKER";
#[cfg(unix)]
const NOBODY: u32 = 65534;

#[cfg(unix)]
/// What a fingerprint records of a path: everything a write, truncation, chmod, chown,
/// utimes, link or unlink changes.
type Print = BTreeMap<PathBuf, Node>;

#[cfg(unix)]
/// Mode, uid, gid, size, mtime (s, ns), ctime (s, ns) and content of one path.
type Node = (u32, u32, u32, u64, i64, i64, i64, i64, Vec<u8>);

#[cfg(unix)]
fn fingerprint(dir: &Path) -> Print {
    let mut out = Print::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let md = std::fs::symlink_metadata(&d).expect("stat");
        out.insert(d.clone(), row(&md, Vec::new()));
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            let md = std::fs::symlink_metadata(&p).expect("stat");
            if md.is_dir() {
                stack.push(p);
            } else {
                let body = if md.is_file() {
                    std::fs::read(&p).expect("read")
                } else {
                    Vec::new()
                };
                out.insert(p, row(&md, body));
            }
        }
    }
    out
}

#[cfg(unix)]
fn row(md: &std::fs::Metadata, body: Vec<u8>) -> Node {
    (
        md.mode(),
        md.uid(),
        md.gid(),
        md.len(),
        md.mtime(),
        md.mtime_nsec(),
        md.ctime(),
        md.ctime_nsec(),
        body,
    )
}

#[cfg(unix)]
/// The paths whose fingerprint differs between `before` and `after`.
fn changed(before: &Print, after: &Print) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = before
        .iter()
        .filter(|(p, v)| after.get(*p) != Some(v))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(after.keys().filter(|p| !before.contains_key(*p)).cloned());
    out
}

/// Names directly in `dir` other than `skip`.
fn names_beside(dir: &Path, skip: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != skip)
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
/// An arena the attacker can traverse, a victim tree in it that the attacker cannot write,
/// and a cache root shared with the attacker's group (root-owned, `2770`, group 65534).
struct Arena {
    dir: tempfile::TempDir,
    victim: PathBuf,
    root: PathBuf,
}

#[cfg(unix)]
fn arena() -> Arena {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let victim = dir.path().join("victim");
    std::fs::create_dir_all(victim.join("sub")).expect("mkdir");
    for (name, body) in [
        ("a", "precious a"),
        ("b", "precious b"),
        ("sub/c", "precious c"),
    ] {
        plant(&victim.join(name), body.as_bytes());
        std::fs::set_permissions(victim.join(name), std::fs::Permissions::from_mode(0o644))
            .expect("chmod");
    }
    let root = dir.path().join("cache");
    std::fs::create_dir(&root).expect("mkdir root");
    std::os::unix::fs::chown(&root, Some(0), Some(NOBODY)).expect("chown");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o2770)).expect("chmod");
    Arena { dir, victim, root }
}

#[cfg(unix)]
impl Arena {
    /// What no attack may change: the victim tree's fingerprint and the names beside the
    /// cache root.
    fn outside(&self) -> (Print, Vec<String>) {
        (
            fingerprint(&self.victim),
            names_beside(self.dir.path(), "cache"),
        )
    }

    /// Asserts that nothing outside the cache root has changed since `before`.
    fn assert_outside_unchanged(&self, (before, beside): &(Print, Vec<String>)) {
        let after = fingerprint(&self.victim);
        assert!(
            after == *before,
            "the victim tree changed: {:?}",
            changed(before, &after)
        );
        assert_eq!(names_beside(self.dir.path(), "cache"), *beside);
    }
}

#[cfg(unix)]
fn plant(path: &Path, body: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(body).expect("write");
}

#[cfg(unix)]
fn shared_cache(root: &Path) -> Cache {
    CacheBuilder::new(root)
        .group_shared(true)
        .without_worker()
        .build()
        .expect("a root-owned cache shared with group 65534")
}

#[cfg(unix)]
fn value(k: u32, generation: u32) -> Vec<u8> {
    format!("value {k}.{generation} ")
        .into_bytes()
        .repeat(30 + k as usize)
}

#[cfg(unix)]
/// Whether `v` is a value the victim stored for key `k`, of any generation: a swap that
/// moves an entry aside and back can bring an older one back, which is still this key's.
fn is_value_of(k: u32, v: &[u8]) -> bool {
    let text = String::from_utf8_lossy(v);
    let Some(rest) = text.strip_prefix(&format!("value {k}.")) else {
        return false;
    };
    let generation = rest.split(' ').next().and_then(|g| g.parse().ok());
    generation.is_some_and(|g| value(k, g) == v)
}

#[cfg(unix)]
fn key(cache: &Cache, k: u32) -> hoard::Key {
    cache.key(format!("security key {k}"))
}

#[cfg(unix)]
/// Why the attacker cannot run here, if it cannot.
fn cannot_attack() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("needs root to run an attacker as uid 65534".to_owned());
    }
    let exe = std::env::current_exe().ok()?;
    let probe = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "test",
            "-x",
        ])
        .arg(&exe)
        .status();
    match probe {
        Err(e) => Some(format!("setpriv (util-linux) is not available: {e}")),
        Ok(s) if !s.success() => Some(format!(
            "uid 65534 cannot execute the test binary {}",
            exe.display()
        )),
        Ok(_) => None,
    }
}

#[cfg(unix)]
/// Starts this binary as uid/gid 65534 running [`attacker_entry`] in `mode`.
fn attacker(mode: &str, root: &Path, victim: &Path) -> Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(exe)
        .args(["--exact", "security::attacker_entry", "--nocapture"])
        .env(
            ATTACKER_ENV,
            format!("{mode}|{}|{}", root.display(), victim.display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the attacker")
}

#[cfg(unix)]
/// The attacker's side; does nothing unless a test set the environment variable.
#[test]
fn attacker_entry() {
    let Ok(spec) = std::env::var(ATTACKER_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (Some(mode), Some(root), Some(victim)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("bad attacker spec {spec:?}");
    };
    assert_eq!(rustix::process::geteuid().as_raw(), NOBODY, "not uid 65534");
    let (root, victim) = (Path::new(root), Path::new(victim));
    match mode {
        "plant" => attack::plant_everywhere(root, victim),
        "swap" => attack::swap_forever(root, victim),
        other => panic!("unknown attacker mode {other}"),
    }
}

#[cfg(unix)]
mod attack {
    //! What the attacker does, with the permissions of uid/gid 65534 only.

    use std::path::{Path, PathBuf};

    fn dirs(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    #[expect(
        clippy::disallowed_methods,
        reason = "the attacker clears a name to plant a link in its place"
    )]
    fn replace_with_link(target: &Path, at: &Path) {
        if at.is_dir() && !at.is_symlink() {
            let aside = at.with_extension("attacker-moved");
            let _ = std::fs::rename(at, aside);
        } else {
            let _ = std::fs::remove_file(at);
        }
        let _ = std::os::unix::fs::symlink(target, at);
    }

    /// Symlinks to the victim at every level: entry names, temp names, a shard, a
    /// namespace, state files, lock files and state temps.
    pub(super) fn plant_everywhere(root: &Path, victim: &Path) {
        let v1 = root.join("v1");
        for ns in dirs(&v1) {
            for (i, shard) in dirs(&ns).into_iter().enumerate() {
                if i == 0 {
                    replace_with_link(victim, &shard);
                    continue;
                }
                for (j, entry) in dirs(&shard).into_iter().enumerate() {
                    let name = entry
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let temp = shard.join(format!(".tmp-{name}-00000000000000{j:02x}"));
                    let _ = std::os::unix::fs::symlink(victim.join("b"), temp);
                    if j % 2 == 0 {
                        replace_with_link(&victim.join("a"), &entry);
                    }
                }
            }
        }
        let _ = std::os::unix::fs::symlink(victim, v1.join("evil"));
        let _ = std::fs::create_dir_all(v1.join("other"));
        let _ = std::os::unix::fs::symlink(victim, v1.join("other/00"));
        let state = root.join("state");
        for name in [
            "accounting",
            "usage",
            "cleanup-marker",
            "cleanup.lock",
            "usage.lock",
        ] {
            replace_with_link(&victim.join("sub/c"), &state.join(name));
        }
        let _ =
            std::os::unix::fs::symlink(victim.join("a"), state.join(".tmp-usage-00000000000000ff"));
    }

    /// Swaps directories and entries for links to the victim and back, as fast as it can,
    /// until killed.
    #[expect(
        clippy::disallowed_methods,
        reason = "the attacker's swap loop renames and removes inside the cache"
    )]
    pub(super) fn swap_forever(root: &Path, victim: &Path) {
        let mut rng = fastrand::Rng::with_seed(7);
        loop {
            let mut targets = vec![root.join("v1"), root.join("state")];
            for ns in dirs(&root.join("v1")) {
                for shard in dirs(&ns) {
                    targets.extend(dirs(&shard).into_iter().take(4));
                    targets.push(shard);
                }
                targets.push(ns);
            }
            for _ in 0..200 {
                let Some(t) = targets.get(rng.usize(..targets.len().max(1))) else {
                    break;
                };
                if t.is_symlink() {
                    continue;
                }
                let aside = t.with_extension("attacker-swap");
                if std::fs::rename(t, &aside).is_err() {
                    continue;
                }
                let link_to = if aside.is_dir() {
                    victim.to_path_buf()
                } else {
                    victim.join("a")
                };
                let _ = std::os::unix::fs::symlink(&link_to, t);
                std::thread::yield_now();
                let _ = std::fs::remove_file(t);
                let _ = std::fs::rename(&aside, t);
            }
        }
    }
}

#[cfg(unix)]
/// Everything the victim does: reads, puts, cleanups evicting and sweeping, recompression,
/// last-use updates. Returns the wrong reads seen (hits with bytes other than the key's).
fn victim_round(cache: &Cache, root: &Path, generation: u32, keys: u32) -> Vec<String> {
    let mut wrong = Vec::new();
    for k in 0..keys {
        if let Some(v) = cache.get(&key(cache, k))
            && !is_value_of(k, &v)
        {
            wrong.push(format!("key {k}: {} wrong bytes", v.len()));
        }
        cache.put(&key(cache, k), &value(k, generation));
    }
    let Ok(store) = FsStore::open_with(root, hoard::FsOptions::new().group_shared(true)) else {
        return wrong;
    };
    let store: Arc<dyn Housekeeping> = Arc::new(store);
    let ahead = Arc::new(ManualClock::new(
        SystemTime::now() + Duration::from_secs(7200),
    ));
    let evicting = Janitor::new(
        Arc::clone(&store),
        WorkerConfig::new().limits(Limits::new(u64::from(keys / 2), 1 << 30)),
    );
    let _ = evicting.cleanup_now();
    let _ = Janitor::new(Arc::clone(&store), WorkerConfig::new())
        .with_clock(ahead)
        .cleanup_now();
    let _ = evicting.recompress_all(&Identity, None);
    let used: Vec<_> = (0..keys)
        .map(|k| (*key(cache, k).digest(), SystemTime::UNIX_EPOCH))
        .collect();
    let _ = store.touch(cache.namespace(), &used);
    let _ = evicting.merge_usage(cache.namespace(), &[(*key(cache, 0).digest(), 3)]);
    wrong
}

#[cfg(unix)]
#[test]
fn symlinks_planted_by_another_user_at_every_level_redirect_nothing() {
    if let Some(why) = cannot_attack() {
        println!("not run: {why}");
        return;
    }
    let a = arena();
    let before = a.outside();
    let cache = shared_cache(&a.root);
    let wrong = victim_round(&cache, &a.root, 0, 24);
    assert!(wrong.is_empty(), "{wrong:?}");
    let out = attacker("plant", &a.root, &a.victim)
        .wait_with_output()
        .expect("attacker");
    assert!(
        out.status.success(),
        "attacker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let planted = std::fs::read_dir(a.root.join("v1"))
        .expect("v1")
        .flatten()
        .filter(|e| e.path().is_symlink())
        .count();
    assert!(planted >= 1, "the attacker planted nothing");
    for generation in 1..=3 {
        let wrong = victim_round(&cache, &a.root, generation, 24);
        assert!(wrong.is_empty(), "round {generation}: {wrong:?}");
    }
    a.assert_outside_unchanged(&before);
}

#[cfg(unix)]
#[test]
fn a_swap_loop_racing_puts_and_cleanups_never_escapes_the_root() {
    if let Some(why) = cannot_attack() {
        println!("not run: {why}");
        return;
    }
    let a = arena();
    let before = a.outside();
    let cache = shared_cache(&a.root);
    victim_round(&cache, &a.root, 0, 16);
    let mut swapper = attacker("swap", &a.root, &a.victim);
    let started = Instant::now();
    let mut wrong = Vec::new();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        rounds += 1;
        wrong.extend(victim_round(&cache, &a.root, rounds, 16));
    }
    let _ = swapper.kill();
    let status = swapper.wait().expect("attacker");
    assert!(
        status.code().is_none(),
        "the attacker stopped early: {status}"
    );
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(rounds >= 2, "only {rounds} victim rounds");
    a.assert_outside_unchanged(&before);
}

#[test]
fn insecure_roots_are_refused_and_best_effort_still_computes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    // Modes and owners: Unix only (the Windows store checks no ACL).
    #[cfg(unix)]
    for (name, mode, word) in [
        ("world", 0o777, "world-writable"),
        ("group", 0o770, "group-writable"),
    ] {
        let p = dir.path().join(name);
        std::fs::create_dir(&p).expect("mkdir");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        cases.push((p, word));
    }
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    #[cfg(unix)]
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let link = dir.path().join("link");
    if crate::plant_link(&real, &link) {
        cases.push((link, "symlink"));
    }
    #[cfg(unix)]
    if rustix::process::geteuid().is_root() {
        let theirs = dir.path().join("theirs");
        std::fs::create_dir(&theirs).expect("mkdir");
        std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        cases.push((theirs, "owned by uid 65534"));
    } else {
        println!("not run (one case): chown to another user needs root");
    }
    for (root, word) in cases {
        let err = CacheBuilder::new(&root).build().expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");
        let text = err.to_string();
        assert!(
            text.contains(word) && text.contains(&root.display().to_string()),
            "{text}"
        );
        let cache = CacheBuilder::new(&root).build_or_uncached();
        let k = cache.key(b"input");
        let mut computed = 0;
        for _ in 0..2 {
            let v = cache.get_or_compute(&k, || {
                computed += 1;
                b"the computed value".to_vec()
            });
            assert_eq!(v, b"the computed value");
        }
        assert_eq!(computed, 2, "nothing is cached, everything is computed");
        assert!(cache.stats().errors >= 2);
        let target = if root.is_symlink() {
            real.clone()
        } else {
            root.clone()
        };
        assert_eq!(
            std::fs::read_dir(&target).expect("read_dir").count(),
            0,
            "{} was written to",
            root.display()
        );
    }
}

#[cfg(unix)]
#[test]
fn with_umask_000_directories_are_0700_and_files_0600() {
    // The umask is the whole process's: alone, the change reaches no other test.
    hoard_testkit::process::alone(
        "security::with_umask_000_directories_are_0700_and_files_0600",
        || {
            let old = rustix::process::umask(rustix::fs::Mode::empty());
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path().join("deep/cache");
            let cache = Cache::builder(&root).build().expect("open");
            for k in 0..20 {
                cache.put(&key(&cache, k), &value(k, 0));
            }
            let worker = cache.worker().expect("a worker");
            worker.sync();
            let janitor = worker.janitor();
            janitor
                .cleanup_with(Limits::new(5, 1 << 30))
                .expect("cleanup");
            janitor
                .merge_usage(cache.namespace(), &[(*key(&cache, 1).digest(), 1)])
                .expect("usage");
            rustix::process::umask(old);
            let mut seen = (0, 0);
            let mut stack = vec![dir.path().join("deep")];
            while let Some(d) = stack.pop() {
                let mode = std::fs::symlink_metadata(&d).expect("stat").mode() & 0o7777;
                assert_eq!(mode, 0o700, "{}", d.display());
                seen.0 += 1;
                for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                    let md = e.metadata().expect("stat");
                    if md.is_dir() {
                        stack.push(e.path());
                    } else {
                        assert_eq!(md.mode() & 0o7777, 0o600, "{}", e.path().display());
                        seen.1 += 1;
                    }
                }
            }
            assert!(seen.0 >= 5 && seen.1 >= 8, "{seen:?}");
        },
    );
}

/// Labels and keys that have broken path-building code elsewhere.
fn hostile() -> Vec<Vec<u8>> {
    vec![
        b"../".to_vec(),
        b"../../etc".to_vec(),
        b"/".to_vec(),
        b"/etc/passwd".to_vec(),
        b"a/b".to_vec(),
        b".".to_vec(),
        b"..".to_vec(),
        b"".to_vec(),
        b"nul\0inside".to_vec(),
        b"\0".to_vec(),
        vec![b'x'; 10 * 1024],
        vec![0xff, 0xfe, b'/', 0x80],
        "ünïcödé/..".as_bytes().to_vec(),
        b".tmp-x".to_vec(),
        b"state".to_vec(),
        b"CACHEDIR.TAG".to_vec(),
    ]
}

/// Builds a cache in `base/cache` under namespace label `label`, stores `key_input` and
/// checks that the entry, and everything else that appeared, is inside the root.
fn stays_inside(label: &[u8], key_input: &[u8]) -> Result<(), TestCaseError> {
    let base = tempfile::tempdir().expect("tempdir");
    let root = base.path().join("cache");
    let cache = Cache::builder(&root)
        .namespace_label(label)
        .without_worker()
        .build()
        .expect("any label builds");
    let k = cache.key(key_input);
    prop_assert!(cache.put(&k, key_input));
    let got = cache.get(&k);
    prop_assert_eq!(got.as_deref(), Some(key_input));
    let store = FsStore::open(&root).expect("open");
    let path = store.entry_path(cache.namespace(), k.digest());
    let rel = path.strip_prefix(root.join("v1")).expect("entry below v1");
    prop_assert_eq!(rel.components().count(), 3);
    prop_assert!(
        rel.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    );
    prop_assert!(path.is_file());
    prop_assert_eq!(names_beside(base.path(), ""), vec!["cache".to_owned()]);
    let listed = store.entries().expect("list");
    prop_assert_eq!(listed.len(), 1);
    Ok(())
}

#[test]
fn hostile_labels_and_keys_stay_inside_the_root() {
    for label in hostile() {
        for input in hostile() {
            stays_inside(&label, &input).expect("inside");
        }
    }
}

proptest! {
    // Fewer cases on Windows, where creating each case's cache is slow under Wine.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(windows) { 16 } else { 128 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_labels_and_keys_stay_inside_the_root(
        label in proptest::collection::vec(any::<u8>(), 0..300),
        input in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        stays_inside(&label, &input)?;
    }
}
