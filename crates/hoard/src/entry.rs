//! [`ModuleCacheEntry`]: wasmtime's entry handle, keyed by compiler name and version.

use std::fmt;
use std::hash::Hash;

use hoard_key::KeyBuilder;

use crate::cache::{Cache, bridged_key};

/// The key domain of [`ModuleCacheEntry::get_data_raw`].
const RAW_DOMAIN: &str = "hoard.entry.raw";

/// A cache handle for one compiler, as wasmtime's `ModuleCacheEntry::new(compiler, cache)`:
/// every value it stores is keyed by the compiler's name and version as well as by the state,
/// so two compilers, or two versions of one compiler, never see each other's values.
///
/// [`Cache::get_data`] and [`Cache::get_data_raw`] key by the state alone: after a compiler
/// upgrade they would serve the old compiler's output for an unchanged state. wasmtime files
/// its entries under `<compiler>-<version>`; this handle puts both into the key instead (after
/// the cache's namespace), so all compilers share one directory, one eviction worker and one
/// size limit, and an old compiler's entries simply stop being used and age out. A value is
/// only ever returned to a handle with the same name and version: a different one is a miss,
/// never the other compiler's bytes, because every read verifies the full key.
///
/// The version should change whenever the output may: wasmtime uses its git revision (and in
/// debug builds also the executable's modification time). A handle made with no cache
/// (`None`, as wasmtime's) computes every value.
///
/// ```
/// use hoard::{Cache, ModuleCacheEntry};
///
/// fn compile(wasm: &&[u8]) -> Result<Vec<u8>, String> {
///     Ok(wasm.iter().map(|b| b ^ 0x5a).collect())
/// }
///
/// let dir = tempfile::tempdir()?;
/// let cache = Cache::open(dir.path().join("cache"))?;
/// let entry = ModuleCacheEntry::new("cranelift", "0.120.0", Some(&cache));
/// let code = entry.get_data(&b"\0asm"[..], compile)?;
/// assert_eq!(entry.get_data(&b"\0asm"[..], compile)?, code); // a hit
///
/// // The next compiler version does not see the old version's value.
/// let upgraded = ModuleCacheEntry::new("cranelift", "0.121.0", Some(&cache));
/// upgraded.get_data(&b"\0asm"[..], compile)?;
/// assert_eq!((cache.stats().hits, cache.stats().misses), (1, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ModuleCacheEntry {
    compiler: String,
    version: String,
    keyed: Option<Keyed>,
}

/// The cache and the two pre-hashed key prefixes of a handle.
struct Keyed {
    cache: Cache,
    data_prefix: KeyBuilder,
    raw_prefix: KeyBuilder,
}

impl Clone for Keyed {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            data_prefix: self.data_prefix.fork(),
            raw_prefix: self.raw_prefix.fork(),
        }
    }
}

impl ModuleCacheEntry {
    /// A handle for `compiler` at `version` on `cache`; with `None`, nothing is cached.
    ///
    /// The name and version are hashed into every key with their lengths, so
    /// (`"a-b"`, `"c"`) and (`"a"`, `"b-c"`) are different compilers.
    pub fn new(compiler: &str, version: &str, cache: Option<&Cache>) -> Self {
        let keyed = cache.map(|cache| {
            let prefix = |domain: &str| {
                let mut b = cache.prefix(domain);
                b.str(compiler).str(version);
                b
            };
            Keyed {
                data_prefix: prefix(cache.serialization().entry_key_domain()),
                raw_prefix: prefix(RAW_DOMAIN),
                cache: cache.clone(),
            }
        });
        Self {
            compiler: compiler.to_owned(),
            version: version.to_owned(),
            keyed,
        }
    }

    /// The compiler name this handle keys by.
    pub fn compiler(&self) -> &str {
        &self.compiler
    }

    /// The compiler version this handle keys by.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The cache behind the handle; `None` for a handle made without one.
    pub fn cache(&self) -> Option<&Cache> {
        self.keyed.as_ref().map(|k| &k.cache)
    }

    /// [`Cache::get_data`] keyed by this handle's compiler too: the value for `state`, from
    /// the cache or from `compute(&state)`, serialized with the cache's
    /// [`Serialization`](crate::Serialization).
    ///
    /// Never fails because of the cache: a failure is a counted miss. `compute`'s error is
    /// returned as is and nothing is cached. A cached value that no longer deserializes is
    /// recomputed and overwritten. The state is hashed with `std::hash::Hash` (see
    /// [`Cache::key_of`] for what that means across Rust versions).
    pub fn get_data<T, U, E>(&self, state: T, compute: fn(&T) -> Result<U, E>) -> Result<U, E>
    where
        T: Hash,
        U: serde::Serialize + serde::de::DeserializeOwned,
    {
        match &self.keyed {
            Some(k) => {
                let key = bridged_key(k.data_prefix.fork(), &state);
                k.cache.data_at(&key, state, compute)
            }
            None => compute(&state),
        }
    }

    /// [`Cache::get_data_raw`] keyed by this handle's compiler too: like
    /// [`get_data`](Self::get_data) with caller-provided serialization. `serialize` returning
    /// `None` skips caching; `deserialize` returning `None` is a miss and the value is
    /// recomputed.
    ///
    /// Its keys differ from `get_data`'s, so the two never read each other's bytes.
    pub fn get_data_raw<T, U, E>(
        &self,
        state: T,
        compute: fn(&T) -> Result<U, E>,
        serialize: fn(&T, &U) -> Option<Vec<u8>>,
        deserialize: fn(&T, Vec<u8>) -> Option<U>,
    ) -> Result<U, E>
    where
        T: Hash,
    {
        match &self.keyed {
            Some(k) => {
                let key = bridged_key(k.raw_prefix.fork(), &state);
                k.cache
                    .data_raw_at(&key, state, compute, serialize, deserialize)
            }
            None => compute(&state),
        }
    }
}

impl fmt::Debug for ModuleCacheEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleCacheEntry")
            .field("compiler", &self.compiler)
            .field("version", &self.version)
            .field("cache", &self.cache())
            .finish()
    }
}
