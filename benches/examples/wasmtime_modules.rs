//! Time to a usable wasmtime `Module` on a warm cache: no cache (Cranelift compiles), wasmtime's
//! own cache (`Config::cache`), and hoard-wasmtime's `ModuleCache` (zstd-3, hoard's default,
//! and identity); then incremental compilation after a one-function change, with
//! hoard-wasmtime's `IncrementalCache` as Cranelift's `CacheStore`, against a full compile.
//!
//! ```text
//! cargo run --release -p hoard-bench --features wasmtime --example wasmtime_modules [-- --runs N]
//! ```
//!
//! Modules: the three WASI preview1 adapters wasmtime ships (real code, 17-52 KiB) and a
//! generated module of 400 small functions. Every cache is warmed with one load first; then
//! the methods are interleaved run by run and the medians printed (milliseconds). Compilation
//! is single-threaded (wasmtime without `parallel-compilation`, as hoard-wasmtime builds it),
//! which is what a cache saves. The caches live under `HOARD_BENCH_DIR` (else the system temp
//! directory), so hits read from the page cache.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard_wasmtime::{IncrementalCache, ModuleCache};
use wasmtime::{Config, Engine, Module};

/// Functions in the generated module, and the one the incremental runs change.
const FUNCTIONS: usize = 400;
const CHANGED: usize = 200;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs = runs_from_args()?;
    let base = match std::env::var_os("HOARD_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let modules: Vec<(&str, Vec<u8>)> = vec![
        (
            "adapter (reactor)",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER
                .to_vec(),
        ),
        (
            "adapter (command)",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER
                .to_vec(),
        ),
        (
            "adapter (proxy)",
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_PROXY_ADAPTER.to_vec(),
        ),
        ("generated (400 fns)", generated(0)?),
    ];

    let plain = Engine::default();
    let wasmtime_cached = {
        let mut cache_config = wasmtime::CacheConfig::new();
        cache_config.with_directory(base.path().join("wasmtime"));
        let mut config = Config::new();
        config.cache(Some(wasmtime::Cache::new(cache_config)?));
        Engine::new(&config)?
    };
    let hoard_zstd = ModuleCache::new(hoard::Cache::open(base.path().join("hoard-zstd"))?);
    let hoard_identity = ModuleCache::new(
        hoard::Cache::builder(base.path().join("hoard-identity"))
            .codec(hoard::Identity)
            .build()?,
    );

    println!("time to a usable Module on a warm cache, median of {runs} runs (ms)\n");
    println!(
        "| module | wasm | compiled | no cache | wasmtime cache | hoard zstd-3 | hoard identity |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, wasm) in &modules {
        // Warm every cache.
        Module::new(&wasmtime_cached, wasm)?;
        hoard_zstd.load_or_compile(&plain, wasm)?;
        hoard_identity.load_or_compile(&plain, wasm)?;
        let compiled = plain.precompile_module(wasm)?.len();
        let mut times = [const { Vec::new() }; 4];
        for _ in 0..runs {
            times[0].push(timed(|| Module::new(&plain, wasm))?);
            times[1].push(timed(|| Module::new(&wasmtime_cached, wasm))?);
            times[2].push(timed(|| hoard_zstd.load_or_compile(&plain, wasm))?);
            times[3].push(timed(|| hoard_identity.load_or_compile(&plain, wasm))?);
        }
        let [none, builtin, zstd, identity] = times.map(median);
        println!(
            "| {name} | {} KiB | {} KiB | {} | {} | {} | {} |",
            wasm.len() / 1024,
            compiled / 1024,
            ms(none),
            with_speedup(builtin, none),
            with_speedup(zstd, none),
            with_speedup(identity, none),
        );
    }
    let (z, i) = (hoard_zstd.cache().stats(), hoard_identity.cache().stats());
    println!(
        "\nhoard hits / misses: zstd-3 {} / {}, identity {} / {} (every timed load a hit)",
        z.hits, z.misses, i.hits, i.misses
    );

    incremental(&base.path().join("incremental"), runs)?;
    Ok(())
}

/// Recompiling the generated module after a change to one function: a full compile against
/// Cranelift's incremental cache on hoard, warmed with the unchanged module. Every run changes
/// the function to a new value, so each compile has exactly that one function to compile.
fn incremental(dir: &Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = IncrementalCache::new(hoard::Cache::open(dir)?);
    let engine = {
        let mut config = Config::new();
        config.enable_incremental_compilation(Arc::new(store.clone()))?;
        Engine::new(&config)?
    };
    let plain = Engine::default();
    Module::new(&engine, generated(0)?)?;
    let warm = store.cache().stats();
    let (mut full, mut cached) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let wasm = generated(run as i64 + 1)?;
        full.push(timed(|| Module::new(&plain, &wasm))?);
        cached.push(timed(|| Module::new(&engine, &wasm))?);
    }
    let s = store.cache().stats();
    let per_run = |n: u64| n as f64 / runs as f64;
    println!(
        "\nincremental compilation after a one-function change, {FUNCTIONS} functions, median of {runs} runs (ms)\n"
    );
    println!(
        "| module | full compile | IncrementalCache (hoard zstd-3) | lookups per compile: hits / misses |"
    );
    println!("|---|---:|---:|---:|");
    println!(
        "| generated ({FUNCTIONS} fns), function {CHANGED} changed | {} | {} | {:.0} / {:.0} |",
        ms(median(full.clone())),
        with_speedup(median(cached), median(full)),
        per_run(s.hits - warm.hits),
        per_run(s.misses - warm.misses),
    );
    Ok(())
}

/// The generated module; with `change` > 0, function [`CHANGED`]'s constant is replaced by
/// one that depends on `change`.
fn generated(change: i64) -> Result<Vec<u8>, wat::Error> {
    let mut text = String::from("(module\n");
    for i in 0..FUNCTIONS {
        // A changed constant far from every other function's, so that the changed function
        // never compiles to the same code as another one (which Cranelift would reuse).
        let c = match (i, change) {
            (CHANGED, 1..) => 1_000_000 + change,
            _ => i as i64,
        };
        text.push_str(&format!(
            "(func (export \"f{i}\") (param $x i64) (param $y i64) (result i64) (local $n i64) (local $acc i64)
               (local.set $n (i64.const 16))
               (block $done (loop $again
                 (br_if $done (i64.eqz (local.get $n)))
                 (local.set $acc (i64.add (local.get $acc) (i64.mul (local.get $x) (i64.const {c}))))
                 (if (i64.gt_s (local.get $acc) (local.get $y))
                   (then (local.set $acc (i64.rem_s (local.get $acc) (i64.add (local.get $y) (i64.const 1))))))
                 (local.set $acc (i64.xor (local.get $acc) (i64.rotl (local.get $x) (local.get $n))))
                 (local.set $n (i64.sub (local.get $n) (i64.const 1)))
                 (br $again)))
               (local.get $acc))\n"
        ));
    }
    text.push(')');
    wat::parse_str(&text)
}

fn timed<T>(f: impl FnOnce() -> wasmtime::Result<T>) -> wasmtime::Result<Duration> {
    let start = Instant::now();
    let out = f()?;
    let elapsed = start.elapsed();
    black_box(out);
    Ok(elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn with_speedup(d: Duration, base: Duration) -> String {
    let x = base.as_secs_f64() / d.as_secs_f64().max(1e-9);
    format!("{} ({x:.0}x)", ms(d))
}

fn runs_from_args() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    let mut runs = 15;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or("--runs takes a positive number")?;
            }
            other => return Err(format!("unknown argument {other:?}; usage: [--runs N]")),
        }
    }
    Ok(runs)
}
