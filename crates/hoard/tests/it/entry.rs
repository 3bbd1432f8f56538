//! `ModuleCacheEntry`: wasmtime's entry handle, keyed by compiler name and version.

use hoard::{CacheConfig, ModuleCacheEntry};

use crate::cache_in;

/// What one compiler version makes of a module.
fn compile_v1(wasm: &&str) -> Result<String, String> {
    Ok(format!("v1 code for {wasm}"))
}

/// What the next version makes of the same module: different machine code.
fn compile_v2(wasm: &&str) -> Result<String, String> {
    Ok(format!("v2 code for {wasm}"))
}

fn to_bytes(_: &&str, code: &String) -> Option<Vec<u8>> {
    Some(code.as_bytes().to_vec())
}

fn from_bytes(_: &&str, bytes: Vec<u8>) -> Option<String> {
    String::from_utf8(bytes).ok()
}

/// The compiler-version test: two handles for two versions of one compiler on one cache each
/// get their own value back, through `get_data` and `get_data_raw`, however the calls
/// interleave; the facade's state-only `get_data` would have served v1's code to v2.
#[test]
fn two_compiler_versions_never_see_each_others_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let v1 = ModuleCacheEntry::new("cranelift", "0.120.0", Some(&cache));
    let v2 = ModuleCacheEntry::new("cranelift", "0.121.0", Some(&cache));

    assert_eq!(
        v1.get_data("module.wasm", compile_v1),
        Ok("v1 code for module.wasm".to_owned())
    );
    // v2 misses and computes, though v1's entry for the same state is in the cache.
    assert_eq!(
        v2.get_data("module.wasm", compile_v2),
        Ok("v2 code for module.wasm".to_owned())
    );
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (0, 2, 2));
    for _ in 0..2 {
        // Hits now, each of its own value: the compute functions would give the other's.
        assert_eq!(
            v1.get_data("module.wasm", compile_v2),
            Ok("v1 code for module.wasm".to_owned())
        );
        assert_eq!(
            v2.get_data("module.wasm", compile_v1),
            Ok("v2 code for module.wasm".to_owned())
        );
    }
    assert_eq!(cache.stats().hits, 4);

    let raw =
        |e: &ModuleCacheEntry, compute| e.get_data_raw("raw.wasm", compute, to_bytes, from_bytes);
    assert_eq!(raw(&v1, compile_v1), Ok("v1 code for raw.wasm".to_owned()));
    assert_eq!(raw(&v2, compile_v2), Ok("v2 code for raw.wasm".to_owned()));
    assert_eq!(raw(&v1, compile_v2), Ok("v1 code for raw.wasm".to_owned()));
    assert_eq!(raw(&v2, compile_v1), Ok("v2 code for raw.wasm".to_owned()));
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (6, 4, 4));
}

/// The case: two caches opened from one configuration, one per compiler version (two
/// processes, say), on one directory.
#[test]
fn two_caches_from_one_configuration_keep_compiler_versions_apart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[cache]\ndirectory = '{}'\n",
        dir.path().join("cache").display()
    );
    let config = CacheConfig::from_toml_str(&text, None).expect("config");
    let old = hoard::Cache::from_config(&config).expect("old compiler's cache");
    let new = hoard::Cache::from_config(&config).expect("new compiler's cache");
    let old_entry = ModuleCacheEntry::new("cranelift", "0.120.0", Some(&old));
    let new_entry = ModuleCacheEntry::new("cranelift", "0.121.0", Some(&new));
    old_entry.get_data("module.wasm", compile_v1).expect("v1");
    assert_eq!(
        new_entry.get_data("module.wasm", compile_v2),
        Ok("v2 code for module.wasm".to_owned())
    );
    assert_eq!(new.stats().hits, 0);
    // The same version in the other cache is a hit on the shared directory.
    let old_again = ModuleCacheEntry::new("cranelift", "0.120.0", Some(&new));
    assert_eq!(
        old_again.get_data("module.wasm", compile_v2),
        Ok("v1 code for module.wasm".to_owned())
    );
    assert_eq!(new.stats().hits, 1);
}

/// Names and versions are length-prefixed fields: moving a dash from one to the other is
/// another compiler; the handle's keys are none of the facade's.
#[test]
fn compiler_names_versions_and_key_kinds_are_separate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let a = ModuleCacheEntry::new("cranelift-0", "120", Some(&cache));
    let b = ModuleCacheEntry::new("cranelift", "0-120", Some(&cache));
    let other = ModuleCacheEntry::new("winch", "0.120.0", Some(&cache));
    assert_eq!(a.get_data("m", compile_v1), Ok("v1 code for m".to_owned()));
    assert_eq!(b.get_data("m", compile_v2), Ok("v2 code for m".to_owned()));
    assert_eq!(
        other.get_data("m", compile_v2),
        Ok("v2 code for m".to_owned())
    );
    // get_data_raw of the same handle and the facade's state-only keys: all misses.
    assert_eq!(
        a.get_data_raw("m", compile_v2, to_bytes, from_bytes),
        Ok("v2 code for m".to_owned())
    );
    assert_eq!(
        cache.get_data("m", compile_v2),
        Ok("v2 code for m".to_owned())
    );
    assert_eq!(
        cache.get_data_raw("m", compile_v2, to_bytes, from_bytes),
        Ok("v2 code for m".to_owned())
    );
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.inserts), (0, 6, 6));
    assert_eq!((a.compiler(), a.version()), ("cranelift-0", "120"));
}

/// Without a cache (wasmtime's `ModuleCacheEntry::new(name, None)`), every call computes.
#[test]
fn a_handle_without_a_cache_computes_every_time() {
    let entry = ModuleCacheEntry::new("cranelift", "0.120.0", None);
    assert!(entry.cache().is_none());
    assert_eq!(
        entry.get_data("m", compile_v1),
        Ok("v1 code for m".to_owned())
    );
    assert_eq!(
        entry.get_data("m", compile_v2),
        Ok("v2 code for m".to_owned())
    );
    fn fails(_: &&str) -> Result<String, String> {
        Err("does not compile".to_owned())
    }
    assert_eq!(
        entry.get_data_raw("m", fails, to_bytes, from_bytes),
        Err("does not compile".to_owned())
    );
}
