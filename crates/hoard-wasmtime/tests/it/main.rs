//! Integration tests of hoard-wasmtime: real modules compiled by a real wasmtime, cached in
//! real directories.

mod incremental;
mod module;

use hoard::{Cache, Key};
use wasmtime::{Engine, Instance, Module, Store};

/// The WASI preview1 adapters wasmtime ships: real compiler output of real code (17-52 KiB).
pub(crate) const ADAPTERS: [&[u8]; 3] = [
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
    wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER,
];

/// A module of `functions` exported functions `f0`, `f1`, ...: `fI(x)` is a loop that adds
/// `x * (I + salt(I))` a few times, so each function's code depends on its constant, and
/// changing `salt` for one function changes exactly that function.
pub(crate) fn module_with(functions: usize, salt: impl Fn(usize) -> i64) -> Vec<u8> {
    let mut text = String::from("(module\n");
    for i in 0..functions {
        let c = i as i64 + salt(i);
        text.push_str(&format!(
            "(func (export \"f{i}\") (param $x i64) (result i64) (local $n i64) (local $acc i64)
               (local.set $n (i64.const 4))
               (block $done (loop $again
                 (br_if $done (i64.eqz (local.get $n)))
                 (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $x) (i64.const {c}))))
                 (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                 (br $again)))
               (local.get $acc))\n"
        ));
    }
    text.push(')');
    wat::parse_str(&text).expect("the generated module parses")
}

/// What `fI(x)` of [`module_with`] returns.
pub(crate) fn expected(i: usize, x: i64, salt: i64) -> i64 {
    4 * x * (i as i64 + salt)
}

/// Calls `fI(x)` of an instance of `module`.
pub(crate) fn call(engine: &Engine, module: &Module, i: usize, x: i64) -> i64 {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).expect("instantiates");
    let f = instance
        .get_typed_func::<i64, i64>(&mut store, &format!("f{i}"))
        .expect("exported");
    f.call(&mut store, x).expect("runs")
}

/// A cache at `<dir>/cache` with the default settings (zstd).
pub(crate) fn cache_in(dir: &tempfile::TempDir) -> Cache {
    Cache::open(dir.path().join("cache")).expect("open cache")
}

/// The file of the entry for `key` in a cache made by [`cache_in`].
pub(crate) fn entry_path(dir: &tempfile::TempDir, cache: &Cache, key: &Key) -> std::path::PathBuf {
    hoard::FsStore::open(dir.path().join("cache"))
        .expect("reopen store")
        .entry_path(cache.namespace(), key.digest())
}
