//! Authenticated caches (`auth-key-file`, `CacheBuilder::auth_key_file` / `auth_keys`):
//! signed round trips on every read path, what a keyed reader refuses (no MAC, another key,
//! a forged tag or payload under a valid checksum), rotation, key-less readers, the key
//! file's checks and errors, and that no key ever shows in `Debug` or an error.

#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hoard::frame::{self, Frame, MacKeys};
use hoard::{Cache, CacheBuilder, CacheConfig, ErrorKind, Identity, Key};

const KEY_A: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const KEY_B: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";

/// Writes a key file of `lines` with `mode` (Unix; Windows has no modes and hoard checks
/// none there); returns its path.
fn key_file(dir: &Path, name: &str, lines: &[&str], mode: u32) -> PathBuf {
    let path = dir.join(name);
    #[expect(
        clippy::disallowed_methods,
        reason = "a test fixture outside any cache"
    )]
    std::fs::write(&path, lines.join("\n") + "\n").expect("write key file");
    #[cfg(unix)]
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    #[cfg(not(unix))]
    let _ = mode;
    path
}

fn keyed(dir: &Path, key: &Path) -> Cache {
    CacheBuilder::new(dir.join("cache"))
        .codec(Identity)
        .without_worker()
        .auth_key_file(key)
        .build()
        .expect("build keyed cache")
}

fn keyless(dir: &Path) -> Cache {
    CacheBuilder::new(dir.join("cache"))
        .codec(Identity)
        .without_worker()
        .build()
        .expect("build key-less cache")
}

/// The stored frame of `key`.
fn stored(cache: &Cache, key: &Key) -> Vec<u8> {
    cache
        .store()
        .get(cache.namespace(), key.digest(), u64::MAX)
        .expect("read")
        .expect("present")
}

#[test]
fn a_keyed_cache_signs_and_serves_its_entries_on_every_read_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = key_file(dir.path(), "a.key", &["# the signing key", KEY_A], 0o600);
    let cache = keyed(dir.path(), &a);
    let small = cache.key("small");
    let large = cache.key("large");
    let big = vec![7u8; 2 << 20];
    assert!(cache.put(&small, b"value"));
    assert!(cache.put(&large, &big));
    let f = stored(&cache, &small);
    let header = Frame::parse(&f).expect("parse").header().clone();
    assert_eq!(
        header.mac.map(|m| m.key_id),
        cache.mac_keys().map(MacKeys::signing_key_id)
    );
    assert_eq!(cache.get(&small).as_deref(), Some(&b"value"[..]));
    let mapped = cache.get_mapped(&large).expect("mapped hit");
    // Windows reads instead of mapping (see `Cache::get_mapped`).
    assert_eq!(mapped.is_mapped(), cfg!(unix));
    assert_eq!(&mapped[..], &big[..]);
    assert_eq!(cache.get_or_compute(&small, || b"other".to_vec()), b"value");
    let s = cache.stats();
    assert_eq!((s.hits, s.unauthenticated_entries), (3, 0));
}

#[test]
fn without_a_key_nothing_changes_and_signed_entries_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = keyless(dir.path());
    let key = plain.key("k");
    assert!(plain.put(&key, b"plain"));
    let bytes = stored(&plain, &key);
    let h = Frame::parse(&bytes).expect("parse").header().clone();
    assert!(h.mac.is_none());
    assert_eq!(h.version, frame::FORMAT_VERSION_1);
    // Byte-identical to an unsigned encode with the same creation time.
    let again = frame::encode(&key, &Identity, b"plain", h.created_unix_ms).expect("encode");
    assert_eq!(bytes, again);
    // A key-less reader reads a signed entry (its MAC unchecked).
    let a = key_file(dir.path(), "a.key", &[KEY_A], 0o600);
    let signer = keyed(dir.path(), &a);
    let signed = signer.key("signed");
    assert!(signer.put(&signed, b"signed"));
    assert_eq!(plain.get(&signed).as_deref(), Some(&b"signed"[..]));
}

#[test]
fn unsigned_foreign_and_forged_entries_are_unauthenticated_misses_left_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = key_file(dir.path(), "a.key", &[KEY_A], 0o600);
    let b = key_file(dir.path(), "b.key", &[KEY_B], 0o600);
    let reader = keyed(dir.path(), &a);
    let plain = keyless(dir.path());
    let other = keyed(dir.path(), &b);

    // Written without the key, and with another key.
    let k1 = reader.key("no-mac");
    assert!(plain.put(&k1, b"poison"));
    let k2 = reader.key("wrong-key");
    assert!(other.put(&k2, b"poison"));
    // Signed by the reader's key, then tampered with and resealed: what a writer that can
    // compute checksums but lacks the key can do.
    let k3 = reader.key("forged-tag");
    let k4 = reader.key("forged-payload");
    let big = reader.key("forged-mapped");
    for (k, v) in [(&k3, &b"genuine"[..]), (&k4, b"genuine")] {
        assert!(reader.put(k, v));
    }
    assert!(reader.put(&big, &vec![1u8; 2 << 20]));
    let forge = |k: &Key, edit: &dyn Fn(&mut Vec<u8>, usize)| {
        let good = stored(&reader, k);
        let at = Frame::parse(&good)
            .expect("parse")
            .header()
            .mac
            .clone()
            .expect("mac")
            .at;
        let forged = hoard_testkit::reseal(good, |bytes| edit(bytes, at));
        reader
            .store()
            .put(reader.namespace(), k.digest(), &forged)
            .expect("plant");
    };
    forge(&k3, &|b, at| b[at + 4] ^= 1);
    forge(&k4, &|b, _| *b.last_mut().expect("payload") = b'X');
    forge(&big, &|b, _| *b.last_mut().expect("payload") = 9);

    for k in [&k1, &k2, &k3, &k4] {
        assert_eq!(reader.get(k), None);
        let err = reader.try_get(k).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    }
    assert!(reader.get_mapped(&big).is_none(), "a forged mapped entry");
    let s = reader.stats();
    assert_eq!((s.hits, s.unauthenticated_entries, s.corrupt), (0, 9, 0));
    // Left in place: the writers without the key still read their own entries.
    assert_eq!(plain.get(&k1).as_deref(), Some(&b"poison"[..]));
    assert_eq!(other.get(&k2).as_deref(), Some(&b"poison"[..]));
    // A miss computes, and the put replaces the entry with a signed one.
    assert_eq!(reader.get_or_compute(&k1, || b"fresh".to_vec()), b"fresh");
    assert_eq!(reader.get(&k1).as_deref(), Some(&b"fresh"[..]));
}

#[test]
fn rotation_accepts_the_old_key_and_signs_with_the_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = key_file(dir.path(), "old.key", &[KEY_A], 0o600);
    let rotated = key_file(
        dir.path(),
        "rotated.key",
        &[KEY_B, "", "# retiring", KEY_A],
        0o400,
    );
    let before = keyed(dir.path(), &old);
    let k_old = before.key("old");
    assert!(before.put(&k_old, b"old"));
    let after = keyed(dir.path(), &rotated);
    assert_eq!(after.get(&k_old).as_deref(), Some(&b"old"[..]));
    let k_new = after.key("new");
    assert!(after.put(&k_new, b"new"));
    let id = Frame::parse(&stored(&after, &k_new))
        .expect("parse")
        .header()
        .mac
        .as_ref()
        .map(|m| m.key_id);
    assert_eq!(id, after.mac_keys().map(MacKeys::signing_key_id));
    assert_ne!(id, before.mac_keys().map(MacKeys::signing_key_id));
    // A reader with only the old key does not accept the new key's entries.
    assert_eq!(before.get(&k_new), None);
    assert_eq!(before.stats().unauthenticated_entries, 1);
}

#[test]
fn key_files_are_checked_and_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let build = |path: &Path| {
        CacheBuilder::new(dir.path().join("cache"))
            .without_worker()
            .auth_key_file(path)
            .build()
            .expect_err("refused")
    };
    // Modes are Unix's; the Windows build checks no ACLs (see `read_auth_key_file`).
    #[cfg(unix)]
    for mode in [0o640, 0o604, 0o660] {
        let path = key_file(dir.path(), &format!("open-{mode:o}.key"), &[KEY_A], mode);
        let err = build(&path);
        assert_eq!(err.kind(), ErrorKind::Insecure, "{err}");
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(&format!("{mode:04o}")), "{text}");
    }
    let missing = build(&dir.path().join("missing.key"));
    assert_eq!(missing.kind(), ErrorKind::Config);
    assert!(missing.to_string().contains("missing.key"), "{missing}");
    let bad = key_file(dir.path(), "bad.key", &["# ok", KEY_A, &KEY_B[..60]], 0o600);
    let err = build(&bad);
    assert_eq!(err.kind(), ErrorKind::Config);
    let text = err.to_string();
    assert!(
        text.contains("line 3") && text.contains("bad.key"),
        "{text}"
    );
    assert!(!text.contains("b2b2") && !text.contains("a1a1"), "{text}");
    let empty = key_file(dir.path(), "empty.key", &["# nothing"], 0o600);
    assert!(build(&empty).to_string().contains("no key"));

    // Through a configuration file: the key, and an error naming it.
    let good = key_file(dir.path(), "good.key", &[KEY_A], 0o600);
    let text = format!(
        "[cache]\ndirectory = {:?}\nauth-key-file = {:?}\n",
        dir.path().join("cache"),
        good
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("parse");
    assert_eq!(config.auth_key_file.as_deref(), Some(good.as_path()));
    let cache = Cache::from_config(&config).expect("open");
    assert!(cache.mac_keys().is_some());
    let err = CacheConfig::from_toml_str("[cache]\nauth-key-file = \"key\"\n", None)
        .expect_err("relative");
    assert!(err.to_string().contains("auth-key-file"), "{err}");
}

#[test]
fn keys_never_show_in_debug_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = key_file(dir.path(), "a.key", &[KEY_A], 0o600);
    let keys = MacKeys::new([[0xa1; 32]]).expect("key");
    let builder = CacheBuilder::new(dir.path().join("c2")).auth_keys(keys.clone());
    let cache = keyed(dir.path(), &a);
    let shown = format!(
        "{builder:?} {cache:?} {keys:?} {:?} {:?}",
        cache.mac_keys(),
        CacheBuilder::new(dir.path()).auth_key_file(&a)
    );
    for needle in ["a1a1", "161, 161", "0xa1, 0xa1"] {
        assert!(!shown.contains(needle), "{needle} in {shown}");
    }
}

#[test]
fn a_bad_key_file_never_falls_back_to_a_key_less_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A key file it cannot use: readable by others on Unix, malformed on Windows (which
    // checks no modes).
    #[cfg(unix)]
    let open = key_file(dir.path(), "open.key", &[KEY_A], 0o644);
    #[cfg(not(unix))]
    let open = key_file(dir.path(), "open.key", &[&KEY_A[..60]], 0o644);
    let plain = keyless(dir.path());
    let k = plain.key("planted");
    assert!(plain.put(&k, b"poison"));
    // build_or_uncached never fails, but with a key file it cannot use it serves nothing.
    let fallback = CacheBuilder::new(dir.path().join("cache"))
        .without_worker()
        .auth_key_file(&open)
        .build_or_uncached();
    assert_eq!(fallback.get(&k), None);
    assert!(!fallback.put(&k, b"value"));
}
