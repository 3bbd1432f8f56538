//! [`ModuleCache`]: compiled modules in a hoard cache, verified before wasmtime loads them.

use std::hash::Hash;

use hoard::{Cache, HashBridge, Key};
use wasmtime::{Engine, Module};

/// The field that keeps this crate's module keys apart from every other key of the cache.
const MODULE_KIND: &str = "hoard-wasmtime.module";

/// A cache of compiled modules: [`load_or_compile`](Self::load_or_compile) returns the
/// [`Module`] for a Wasm binary, deserialized from the cache when an entry for this binary
/// and this engine's compilation settings is there, compiled and stored otherwise.
///
/// # Keys
/// The key is the cache's namespace, the Wasm bytes and
/// [`Engine::precompile_compatibility_hash`] (target, Cranelift flags, tunables, Wasm
/// features and wasmtime's version): two engines whose compiled code could differ never share
/// an entry, and an engine only ever deserializes what an engine with equal settings
/// compiled. The compatibility hash is a `std::hash::Hash`, so keys may also change with the
/// Rust toolchain: a miss, never a wrong hit (see [`Cache::key_of`]).
///
/// # Reads
/// A hit is hoard's verified read (checksum, length and full key checked before the value is
/// decoded; a damaged entry is removed and is a miss), then [`Module::deserialize`], which
/// copies the code once into memory it makes executable. That is the cheapest path wasmtime
/// allows for bytes that must be checked first: [`Module::deserialize_file`] maps a file that
/// must be exactly the artifact (a hoard entry starts with its frame header) and reads its
/// pages lazily, after any check could have looked at them; [`Module::deserialize_raw`]
/// borrows memory that must outlive the `Module`, and on hosts with virtual memory refuses
/// native code (it serves Pulley and custom code memory). For the fastest hits give the cache
/// the identity codec (`CacheBuilder::codec(hoard::Identity)`): compiled code compresses about
/// 3:1 with zstd, but then every hit decompresses it.
///
/// # Trust
/// `Module::deserialize` runs whatever machine code it is given. This cache feeds it only
/// bytes that a verified hoard entry under this crate's key holds, and only
/// [`load_or_compile`](Self::load_or_compile) writes such entries, with the unmodified output
/// of [`Engine::precompile_module`]. That makes the bytes trustworthy exactly as far as the
/// cache's store is: everyone who can write to it can run code in this process. hoard refuses
/// a cache directory that another user owns or can write; a remote tier (facade feature
/// `remote`) extends the trust to everyone with write access to the remote. hoard's checksum
/// catches damage, not forgery.
#[derive(Clone, Debug)]
pub struct ModuleCache {
    cache: Cache,
}

impl ModuleCache {
    /// A module cache storing its entries in `cache` (beside anything else the cache holds).
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The hoard cache behind it: its [`Cache::stats`] count this cache's hits and misses.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The key of `wasm` compiled by `engine`.
    pub fn key(&self, engine: &Engine, wasm: &[u8]) -> Key {
        let mut fields = self.cache.key_builder();
        fields.str(MODULE_KIND).bytes(wasm);
        let mut bridge = HashBridge::new(fields);
        engine.precompile_compatibility_hash().hash(&mut bridge);
        bridge.into_key()
    }

    /// The module for `wasm`, loaded from the cache or compiled by `engine` (and then cached).
    ///
    /// The cache never makes this fail: a miss, a damaged entry (removed by hoard and counted
    /// in [`Stats::corrupt`](hoard::Stats::corrupt)) or an entry this engine refuses to
    /// deserialize (logged, then overwritten) is a compilation. Errors are compilation
    /// errors of `wasm`.
    pub fn load_or_compile(&self, engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Module> {
        let key = self.key(engine, wasm);
        if let Some(bytes) = self.cache.get(&key) {
            match deserialize(engine, &bytes) {
                Ok(module) => return Ok(module),
                Err(err) => tracing::warn!(
                    %key,
                    namespace = %self.cache.namespace(),
                    error = %err,
                    "a cached module does not deserialize in this engine; recompiling"
                ),
            }
        }
        let compiled = engine.precompile_module(wasm)?;
        self.cache.put(&key, &compiled);
        deserialize(engine, &compiled)
    }
}

/// `Module::deserialize` of bytes that came from `Engine::precompile_module`.
#[expect(
    unsafe_code,
    reason = "Module::deserialize is unsafe: it trusts its input to be compiled code"
)]
fn deserialize(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Module> {
    // SAFETY: `Module::deserialize` is sound for the unmodified output of
    // `Engine::precompile_module` or `Module::serialize` of any wasmtime version (an
    // incompatible one is an `Err`). Both callers pass such output: `load_or_compile` either
    // the `Vec` that `precompile_module` just returned, or the value of a hoard entry under
    // this crate's key. hoard returns an entry only after its frame parsed, its XXH3-128
    // checksum over header and payload held, the key recorded in it equalled the full key
    // asked for (this crate's kind field, the Wasm bytes, the engine's compatibility hash)
    // and it decoded to exactly its declared length; so the bytes are those a put of that key
    // stored, and only `load_or_compile` puts under it, with `precompile_module`'s output.
    // The checksum detects damage, not forgery: whoever can write the cache's store could
    // also put forged code under the key, which is why hoard refuses cache directories other
    // users own or can write, and why `ModuleCache`'s docs say that a cache's writers are
    // trusted with this process.
    unsafe { Module::deserialize(engine, compiled) }
}
