//! `ModuleCache`: hits, misses, damage on disk and engine settings, on real modules.

use hoard::{Cache, Identity};
use hoard_wasmtime::ModuleCache;
use wasmtime::{Config, Engine, OptLevel};

use crate::{ADAPTERS, cache_in, call, entry_path, expected, module_with};

fn engine_at(level: OptLevel) -> Engine {
    let mut config = Config::new();
    config.cranelift_opt_level(level);
    Engine::new(&config).expect("engine")
}

#[test]
fn a_second_load_is_a_hit_and_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = ModuleCache::new(cache_in(&dir));
    let engine = Engine::default();
    let wasm = module_with(8, |_| 0);
    let first = modules.load_or_compile(&engine, &wasm).expect("compiles");
    let second = modules.load_or_compile(&engine, &wasm).expect("loads");
    let s = modules.cache().stats();
    assert_eq!((s.hits, s.misses, s.inserts), (1, 1, 1));
    for i in 0..8 {
        assert_eq!(call(&engine, &first, i, 3), expected(i, 3, 0));
        assert_eq!(call(&engine, &second, i, 3), expected(i, 3, 0));
    }
    // Another cache on the directory (another process, say) hits too.
    let again = ModuleCache::new(cache_in(&dir));
    let third = again.load_or_compile(&engine, &wasm).expect("loads");
    assert_eq!(again.cache().stats().hits, 1);
    assert_eq!(call(&engine, &third, 7, -5), expected(7, -5, 0));
}

#[test]
fn the_adapter_modules_wasmtime_ships_are_hits_the_second_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = ModuleCache::new(cache_in(&dir));
    let engine = Engine::default();
    for wasm in ADAPTERS {
        let compiled = modules.load_or_compile(&engine, wasm).expect("compiles");
        let loaded = modules.load_or_compile(&engine, wasm).expect("loads");
        let names =
            |m: &wasmtime::Module| m.exports().map(|e| e.name().to_owned()).collect::<Vec<_>>();
        assert_eq!(names(&compiled), names(&loaded));
        assert!(!names(&loaded).is_empty());
    }
    let s = modules.cache().stats();
    assert_eq!((s.hits, s.misses, s.inserts), (3, 3, 3));
}

/// Flips one bit at a time in the stored entry (frame header, key, the compiled code, the
/// last byte), with zstd and with the identity codec (where the bit lands in the machine code
/// itself): each is a miss that removes the entry and recompiles, and the module computes the
/// right results.
#[test]
fn a_flipped_bit_on_disk_is_a_miss_that_recompiles() {
    for codec in ["zstd", "identity"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = match codec {
            "zstd" => cache_in(&dir),
            _ => Cache::builder(dir.path().join("cache"))
                .codec(Identity)
                .build()
                .expect("identity cache"),
        };
        let modules = ModuleCache::new(cache);
        let engine = Engine::default();
        let wasm = module_with(16, |_| 0);
        modules.load_or_compile(&engine, &wasm).expect("compiles");
        let key = modules.key(&engine, &wasm);
        let path = entry_path(&dir, modules.cache(), &key);
        let good = std::fs::read(&path).expect("stored entry");
        let bits = [
            0,
            8 * 60,
            8 * good.len() / 2 + 3,
            8 * good.len() * 3 / 4,
            8 * good.len() - 1,
        ];
        for (n, bit) in bits.into_iter().enumerate() {
            let mut bad = std::fs::read(&path).expect("entry");
            bad[bit / 8] ^= 1 << (bit % 8);
            std::fs::File::create(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, &bad))
                .expect("plant the flipped bit");
            let module = modules.load_or_compile(&engine, &wasm).expect("recompiles");
            for i in [0, 9, 15] {
                assert_eq!(
                    call(&engine, &module, i, 11),
                    expected(i, 11, 0),
                    "{codec}, bit {bit}"
                );
            }
            let s = modules.cache().stats();
            assert_eq!(
                s.corrupt,
                n as u64 + 1,
                "{codec}, bit {bit}: a corrupt miss"
            );
            assert_eq!(s.hits, 0, "{codec}, bit {bit}");
            // Recompiled and stored again: the same bytes as before the damage.
            assert_eq!(std::fs::read(&path).ok().map(|b| b.len()), Some(good.len()));
        }
        let module = modules.load_or_compile(&engine, &wasm).expect("loads");
        assert_eq!(modules.cache().stats().hits, 1, "{codec}: intact again");
        assert_eq!(call(&engine, &module, 3, 2), expected(3, 2, 0));
    }
}

#[test]
fn another_engine_configuration_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = ModuleCache::new(cache_in(&dir));
    let fast = engine_at(OptLevel::Speed);
    let plain = engine_at(OptLevel::None);
    let wasm = module_with(4, |_| 0);
    assert_ne!(modules.key(&fast, &wasm), modules.key(&plain, &wasm));
    let a = modules
        .load_or_compile(&fast, &wasm)
        .expect("compiles at speed");
    let b = modules
        .load_or_compile(&plain, &wasm)
        .expect("compiles at none");
    let s = modules.cache().stats();
    assert_eq!((s.hits, s.misses, s.inserts), (0, 2, 2));
    modules.load_or_compile(&fast, &wasm).expect("hit");
    modules.load_or_compile(&plain, &wasm).expect("hit");
    assert_eq!(modules.cache().stats().hits, 2);
    assert_eq!(call(&fast, &a, 2, 5), call(&plain, &b, 2, 5));
    // Another engine with the same settings shares the entries.
    let same = engine_at(OptLevel::None);
    modules.load_or_compile(&same, &wasm).expect("hit");
    assert_eq!(modules.cache().stats().hits, 3);
}

#[test]
fn another_module_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = ModuleCache::new(cache_in(&dir));
    let engine = Engine::default();
    let old = module_with(4, |_| 0);
    let new = module_with(4, |i| if i == 2 { 100 } else { 0 });
    modules.load_or_compile(&engine, &old).expect("compiles");
    let module = modules.load_or_compile(&engine, &new).expect("compiles");
    assert_eq!(modules.cache().stats().hits, 0);
    assert_eq!(call(&engine, &module, 2, 1), expected(2, 1, 100));
}

/// An intact entry this engine refuses (here: code compiled with fuel metering, which
/// wasmtime will not load into an engine without it, stored under this engine's key) is
/// recompiled and overwritten. (Code of another opt level would load: wasmtime counts opt
/// levels as compatible; the key tells them apart all the same.)
#[test]
fn an_entry_the_engine_refuses_is_recompiled_and_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let modules = ModuleCache::new(cache_in(&dir));
    let engine = Engine::default();
    let metered = {
        let mut config = Config::new();
        config.consume_fuel(true);
        Engine::new(&config).expect("engine with fuel")
    };
    let wasm = module_with(4, |_| 0);
    let foreign = metered.precompile_module(&wasm).expect("compiles");
    assert!(modules.cache().put(&modules.key(&engine, &wasm), &foreign));
    let module = modules.load_or_compile(&engine, &wasm).expect("recompiles");
    assert_eq!(call(&engine, &module, 3, 3), expected(3, 3, 0));
    let s = modules.cache().stats();
    assert_eq!((s.hits, s.inserts), (1, 2), "read, refused, replaced");
    modules.load_or_compile(&engine, &wasm).expect("loads");
    assert_eq!(modules.cache().stats().hits, 2);
    let compiled = engine.precompile_module(&wasm).expect("compiles");
    assert_eq!(
        modules.cache().get(&modules.key(&engine, &wasm)),
        Some(compiled)
    );
}
