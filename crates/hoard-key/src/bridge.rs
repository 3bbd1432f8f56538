//! [`HashBridge`]: keys from `std::hash::Hash` values, the way wasmtime-cache keys its state.

use std::fmt;
use std::hash::Hasher;

use hoard_core::{DIGEST_LEN, HashState, HasherId, Key};

use crate::KeyBuilder;

/// A [`std::hash::Hasher`] that feeds a [`KeyHasher`](hoard_core::KeyHasher), so a value
/// that implements [`Hash`](std::hash::Hash) can be turned into a [`Key`].
///
/// # Not portable
/// What a `Hash` implementation writes is not a stable format: the standard library's impls
/// may change between Rust versions, integers and `usize` lengths are written in the
/// platform's byte order and width, and a dependency's derived impl changes whenever its
/// fields do. A bridged key is therefore only good for the build that made it (the same
/// trade-off as wasmtime-cache, which keys its cache this way and puts the compiler version
/// in the namespace). Use [`KeyBuilder`] for keys that must survive a toolchain or platform
/// change.
///
/// # Encoding
/// [`HashBridge::new`] keeps everything the builder was fed (prefix, domain, fields), then a
/// marker byte no builder field uses, then the bytes the `Hash` impl writes, unframed. The
/// marker keeps a bridged key distinct from every [`KeyBuilder`] key.
///
/// ```
/// use std::hash::Hash;
/// use hoard_key::{HashBridge, KeyBuilder, Sha256};
///
/// #[derive(Hash)]
/// struct Settings { opt_level: u8, target: &'static str }
///
/// let mut bridge = HashBridge::new(KeyBuilder::new(&Sha256, "my-compiler-1.2.3"));
/// Settings { opt_level: 2, target: "x86_64" }.hash(&mut bridge);
/// let key = bridge.into_key();
/// # let _ = key;
/// ```
pub struct HashBridge {
    hasher: HasherId,
    state: Box<dyn HashState>,
}

impl HashBridge {
    /// A bridge that continues `builder`'s stream (see the type docs for the encoding).
    pub fn new(builder: KeyBuilder) -> Self {
        let (hasher, state) = builder.into_raw_tail();
        Self { hasher, state }
    }

    /// The full key of everything written so far.
    pub fn into_key(self) -> Key {
        Key::new(self.hasher, self.state.finish())
    }
}

impl From<KeyBuilder> for HashBridge {
    fn from(builder: KeyBuilder) -> Self {
        Self::new(builder)
    }
}

impl Hasher for HashBridge {
    fn write(&mut self, bytes: &[u8]) {
        self.state.update(bytes);
    }

    /// The first 8 bytes of the digest of what was written so far, little-endian. The state
    /// is forked, so writing may continue afterwards.
    fn finish(&self) -> u64 {
        let digest = self.state.fork().finish();
        let bytes: &[u8; DIGEST_LEN] = digest.as_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&bytes[..8]);
        u64::from_le_bytes(first)
    }
}

impl fmt::Debug for HashBridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashBridge")
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}
