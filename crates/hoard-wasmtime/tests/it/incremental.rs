//! `IncrementalCache`: Cranelift's incremental compilation cache on hoard, on real modules.

use std::sync::Arc;

use hoard_wasmtime::IncrementalCache;
use wasmtime::{Config, Engine, Module};

use crate::{ADAPTERS, cache_in, call, expected, module_with};

fn engine_with(cache: &IncrementalCache) -> Engine {
    let mut config = Config::new();
    config
        .enable_incremental_compilation(Arc::new(cache.clone()))
        .expect("incremental compilation");
    Engine::new(&config).expect("engine")
}

/// A module of 24 functions, then the same module with one function changed: the second
/// compilation takes everything else from the cache and compiles only the changed function,
/// and both modules compute their own results. (Cranelift also looks up wasmtime's
/// trampolines, one per exported function; ours are all alike, so the first compilation
/// already hits on all but one of them.)
#[test]
fn a_one_function_change_recompiles_only_that_function() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = IncrementalCache::new(cache_in(&dir));
    let engine = engine_with(&store);
    let before = module_with(24, |_| 0);
    let after = module_with(24, |i| if i == 17 { 1000 } else { 0 });

    let old = Module::new(&engine, &before).expect("compiles");
    let first = store.cache().stats();
    assert!(first.inserts > 24, "every function stored: {first:?}");
    assert_eq!(first.misses, first.inserts, "{first:?}");

    let new = Module::new(&engine, &after).expect("compiles");
    let second = store.cache().stats();
    let lookups = first.hits + first.misses;
    assert_eq!(
        (second.hits - first.hits, second.misses - first.misses),
        (lookups - 1, 1),
        "all but the changed function come from the cache: {second:?}"
    );
    assert_eq!(
        second.inserts - first.inserts,
        1,
        "only the changed one is compiled"
    );
    for i in [0, 16, 17, 18, 23] {
        assert_eq!(call(&engine, &old, i, 7), expected(i, 7, 0));
        let salt = if i == 17 { 1000 } else { 0 };
        assert_eq!(call(&engine, &new, i, 7), expected(i, 7, salt));
    }
}

/// Compiling the adapter modules wasmtime ships again, in the same engine and in a second
/// engine on the same directory (a later run of the program), takes their functions from
/// the cache. Not all of them: with wasmtime 48, 14 of the adapters' 479 lookups get a new
/// Cranelift key at every compilation (so they always miss, and add an entry each time);
/// hoard can only cache what Cranelift asks for under the same key.
#[test]
fn recompiling_real_modules_takes_their_functions_from_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = IncrementalCache::new(cache_in(&dir));
    let engine = engine_with(&first);
    let compile_all = |engine: &Engine| {
        for wasm in ADAPTERS {
            Module::new(engine, wasm).expect("compiles");
        }
    };
    compile_all(&engine);
    let s = first.cache().stats();
    assert!(
        s.inserts > 100,
        "the adapters have hundreds of functions: {s:?}"
    );
    let lookups = s.hits + s.misses;
    let mostly_hits = |hits: u64, misses: u64| {
        assert_eq!(hits + misses, lookups, "the same lookups");
        assert!(hits >= lookups * 95 / 100, "{hits} hits, {misses} misses");
    };
    compile_all(&engine);
    let again = first.cache().stats();
    mostly_hits(again.hits - s.hits, again.misses - s.misses);

    let later = IncrementalCache::new(cache_in(&dir));
    compile_all(&engine_with(&later));
    let s = later.cache().stats();
    mostly_hits(s.hits, s.misses);
    assert_eq!(s.inserts, s.misses, "{s:?}");
}

/// Every stored function damaged by one flipped bit: each is a corrupt miss that Cranelift
/// compiles again, and the module computes the right results (Cranelift itself does not check
/// its cached values; hoard's frame does).
#[test]
fn damaged_cached_functions_are_misses_that_recompile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = IncrementalCache::new(cache_in(&dir));
    let engine = engine_with(&store);
    let wasm = module_with(6, |_| 0);
    Module::new(&engine, &wasm).expect("compiles");
    let first = store.cache().stats();
    let stored = first.inserts;
    let mut damaged = 0;
    for entry in walk(&dir.path().join("cache").join("v1")) {
        let mut bytes = std::fs::read(&entry).expect("entry");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x10;
        std::fs::File::create(&entry)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &bytes))
            .expect("plant the flipped bit");
        damaged += 1;
    }
    assert_eq!(damaged, stored);
    let module = Module::new(&engine, &wasm).expect("recompiles");
    let s = store.cache().stats();
    // Each damaged entry is read once, removed and compiled again; lookups after that hit
    // the new entry, as they did the first time.
    assert_eq!(
        (s.hits, s.corrupt, s.inserts),
        (2 * first.hits, stored, 2 * stored),
        "{s:?}"
    );
    for i in 0..6 {
        assert_eq!(call(&engine, &module, i, -3), expected(i, -3, 0));
    }
}

/// The regular files below `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
