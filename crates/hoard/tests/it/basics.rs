//! The default path end to end: keys, get / put / remove, get-or-compute, get_data.

use hoard::{Cache, CodecId, ErrorKind, HasherId, Identity, Namespace, StoreExt};

use crate::cache_in;

#[test]
fn miss_then_hit_with_the_default_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let data = hoard_testkit::artifact(100_000, 1);
    let key = cache.key(b"module-1");
    assert_eq!(cache.get(&key), None);
    let mut computed = 0;
    let got = cache.get_or_compute(&key, || {
        computed += 1;
        data.clone()
    });
    assert_eq!(got, data);
    let again = cache.get_or_compute(&key, || {
        computed += 1;
        Vec::new()
    });
    assert_eq!(again, data);
    assert_eq!(computed, 1, "the second call is a hit");
    let s = cache.stats();
    assert_eq!(
        (s.hits, s.misses, s.inserts, s.corrupt, s.errors),
        (1, 2, 1, 0, 0)
    );

    // The default is SHA-256 + zstd-3, and the stored entry is compressed.
    let found = cache
        .store()
        .get_verified(cache.namespace(), &key, u64::MAX)
        .expect("read")
        .expect("present");
    assert_eq!(found.header().hasher, HasherId::Sha256);
    assert_eq!(found.header().codec, CodecId::Zstd);
    assert_eq!(found.header().level, 3);
    assert!(
        found.as_bytes().len() < data.len() / 2,
        "artifact data compresses"
    );
}

#[test]
fn keys_depend_on_namespace_and_input_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Cache::builder(dir.path().join("c"))
        .namespace("a")
        .build()
        .expect("a");
    let a2 = Cache::builder(dir.path().join("c"))
        .namespace("a")
        .build()
        .expect("a2");
    let b = Cache::builder(dir.path().join("c"))
        .namespace("b")
        .build()
        .expect("b");
    assert_eq!(a.key(b"x"), a2.key(b"x"));
    assert_ne!(a.key(b"x"), b.key(b"x"));
    assert_ne!(a.key(b"x"), a.key(b"y"));
    assert_ne!(
        a.key(b"x"),
        a.key_of(&b"x"[..]),
        "bytes and Hash keys are separate domains"
    );
    a.put(&a.key(b"x"), b"from a");
    assert_eq!(b.get(&b.key(b"x")), None, "namespaces do not share entries");
    assert_eq!(a2.get(&a2.key(b"x")).as_deref(), Some(&b"from a"[..]));
}

#[test]
fn invalid_namespaces_are_refused_and_labels_are_hashed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Cache::builder(dir.path())
        .namespace("../evil")
        .build()
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("../evil"), "{err}");
    let labelled = Cache::builder(dir.path().join("c"))
        .namespace_label("../evil/\0 ns")
        .build()
        .expect("hashed label");
    assert!(labelled.namespace().as_str().starts_with("h-"));
    assert!(Namespace::new(labelled.namespace().as_str()).is_ok());
    let plain = Cache::builder(dir.path().join("c"))
        .namespace_label("cranelift-0.120.0")
        .build()
        .expect("plain label");
    assert_eq!(plain.namespace().as_str(), "cranelift-0.120.0");
}

#[test]
fn entries_of_other_codecs_remain_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plain = Cache::builder(dir.path().join("c"))
        .codec(Identity)
        .build()
        .expect("identity");
    let data = hoard_testkit::artifact(50_000, 2);
    let key = plain.key(b"k");
    assert!(plain.put(&key, &data));
    let default = Cache::open(dir.path().join("c")).expect("default");
    assert_eq!(default.get(&key), Some(data));
}

#[test]
fn values_above_the_maximum_entry_size_are_computed_but_not_cached() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Cache::builder(dir.path().join("c"))
        .max_entry_size(1000)
        .build()
        .expect("build");
    let key = cache.key(b"big");
    let v = cache.get_or_compute(&key, || vec![7; 1001]);
    assert_eq!(v.len(), 1001);
    assert_eq!(cache.get(&key), None);
    assert_eq!(cache.stats().oversized, 1);
    assert_eq!(
        cache.try_put(&key, &[0; 1001]).map_err(|e| e.kind()),
        Err(ErrorKind::TooLarge)
    );
    assert!(cache.put(&key, &[1; 1000]));
}

#[test]
fn remove_and_fallible_compute() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let key = cache.key(b"r");
    let failed: Result<Vec<u8>, &str> = cache.get_or_try_compute(&key, || Err("compiler error"));
    assert_eq!(failed, Err("compiler error"));
    assert_eq!(cache.get(&key), None, "a failed computation caches nothing");
    assert_eq!(
        cache.get_or_try_compute::<()>(&key, || Ok(b"ok".to_vec())),
        Ok(b"ok".to_vec())
    );
    assert!(cache.remove(&key));
    assert!(!cache.remove(&key));
    assert_eq!(cache.get(&key), None);
}

#[derive(Hash)]
struct ModuleState<'a> {
    wasm: &'a [u8],
    opt_level: u8,
}

fn compile(state: &ModuleState<'_>) -> Result<Vec<u64>, String> {
    if state.wasm.is_empty() {
        return Err("empty module".to_owned());
    }
    Ok(state
        .wasm
        .iter()
        .map(|&b| u64::from(b) << state.opt_level)
        .collect())
}

#[expect(
    clippy::ptr_arg,
    reason = "get_data_raw hands the serializer `&U`, and U is Vec<u64>"
)]
fn serialize(_: &ModuleState<'_>, v: &Vec<u64>) -> Option<Vec<u8>> {
    Some(v.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn deserialize(_: &ModuleState<'_>, bytes: Vec<u8>) -> Option<Vec<u64>> {
    if !bytes.len().is_multiple_of(8) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    )
}

#[test]
fn wasmtime_shaped_get_data_and_get_data_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let state = || ModuleState {
        wasm: b"\0asm\x01",
        opt_level: 2,
    };
    let first = cache.get_data(state(), compile).expect("compiles");
    let second = cache.get_data(state(), compile).expect("cached");
    assert_eq!(first, second);
    assert_eq!(cache.stats().hits, 1);
    let err = cache.get_data(
        ModuleState {
            wasm: b"",
            opt_level: 0,
        },
        compile,
    );
    assert_eq!(err, Err("empty module".to_owned()));

    let raw1 = cache
        .get_data_raw(state(), compile, serialize, deserialize)
        .expect("raw");
    let raw2 = cache
        .get_data_raw(state(), compile, serialize, deserialize)
        .expect("raw hit");
    assert_eq!(raw1, first);
    assert_eq!(raw2, first);
    assert_eq!(cache.stats().hits, 2);

    // A value that no longer deserializes is recomputed and overwritten.
    fn bad(_: &ModuleState<'_>, _: Vec<u8>) -> Option<Vec<u64>> {
        None
    }
    let raw3 = cache
        .get_data_raw(state(), compile, serialize, bad)
        .expect("recomputed");
    assert_eq!(raw3, first);
    assert_eq!(cache.stats().undecodable, 1);
}

#[test]
fn a_key_builder_gives_portable_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let mut a = cache.key_builder();
    a.str("cranelift").u64(120).bytes(b"wasm");
    let mut b = cache.key_builder();
    b.str("cranelift").u64(120).bytes(b"wasm");
    assert_eq!(a.finish(), b.finish());
}

// Modes have no Windows meaning: the Windows store checks no owner or ACL.
#[cfg(unix)]
#[test]
fn an_insecure_directory_fails_build_with_a_clear_message() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("open");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let err = hoard::CacheBuilder::new(&root)
        .build()
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Insecure);
    assert!(
        err.to_string().contains(&root.display().to_string()),
        "{err}"
    );
}

#[test]
fn clones_share_counters_and_threads_share_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let c = cache.clone();
            s.spawn(move || {
                for i in 0..50u8 {
                    let key = c.key([t, i]);
                    let v = c.get_or_compute(&key, || vec![t ^ i; usize::from(i) * 10]);
                    assert_eq!(v, vec![t ^ i; usize::from(i) * 10]);
                }
            });
        }
    });
    assert_eq!(cache.stats().inserts, 200);
}
