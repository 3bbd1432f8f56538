//! [`IncrementalCache`]: Cranelift's incremental compilation cache on a hoard cache.

use std::borrow::Cow;

use hoard::{Cache, Key};
use wasmtime::CacheStore;

/// The field that keeps this crate's incremental-compilation keys apart from every other key
/// of the cache.
const INCREMENTAL_KIND: &str = "hoard-wasmtime.incremental";

/// [`wasmtime::CacheStore`] on a hoard cache, for
/// [`Config::enable_incremental_compilation`](wasmtime::Config::enable_incremental_compilation):
/// Cranelift stores each compiled function under a hash of its code and the target, and
/// reuses it when a function compiles to the same code again, so recompiling a module after a
/// change to a few functions compiles only those.
///
/// Cranelift's values are its own serialization of compiled code, and it does not check them:
/// a value that still parses after a flipped bit would be used as it is. Behind hoard, every
/// value is verified (checksum, length, full key) before Cranelift sees it, and a damaged one
/// is removed and is a miss, so Cranelift recompiles that function. Cranelift's key already
/// holds its version and the target's flags; hoard keys it by the cache's namespace too.
///
/// Lookups and inserts are the facade's [`Cache::get`] and [`Cache::put`]: they never fail,
/// they are counted in [`Cache::stats`] (a hit is a function Cranelift did not compile), and
/// the entries share the cache's eviction worker and limits with everything else in it.
#[derive(Clone, Debug)]
pub struct IncrementalCache {
    cache: Cache,
}

impl IncrementalCache {
    /// An incremental compilation cache storing its entries in `cache`.
    pub fn new(cache: Cache) -> Self {
        Self { cache }
    }

    /// The hoard cache behind it.
    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// The hoard key of Cranelift's key `key`.
    pub fn key(&self, key: &[u8]) -> Key {
        let mut fields = self.cache.key_builder();
        fields.str(INCREMENTAL_KIND).bytes(key);
        fields.finish()
    }
}

impl CacheStore for IncrementalCache {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        self.cache.get(&self.key(key)).map(Cow::Owned)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> bool {
        self.cache.put(&self.key(key), &value)
    }
}
