//! How [`Cache::get_data`](crate::Cache::get_data) turns values into bytes.

/// The serialization format of [`Cache::get_data`](crate::Cache::get_data).
///
/// The format is part of the key, so switching formats never feeds one format's bytes to the
/// other: the first call after a switch is a miss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Serialization {
    /// [postcard](https://docs.rs/postcard): compact, `no_std`-friendly, maintained. The
    /// default, as in wasmtime's cache.
    #[default]
    Postcard,
    /// bincode 2.0.1 with its standard configuration (feature `bincode`). bincode is
    /// unmaintained upstream (RUSTSEC-2025-0141); it is offered for users who already store
    /// bincode data, pinned to its last real release.
    #[cfg(feature = "bincode")]
    Bincode,
}

impl Serialization {
    pub(crate) fn key_domain(self) -> &'static str {
        match self {
            Self::Postcard => "hoard.data.postcard",
            #[cfg(feature = "bincode")]
            Self::Bincode => "hoard.data.bincode2",
        }
    }

    /// The key domain of [`ModuleCacheEntry::get_data`](crate::ModuleCacheEntry::get_data).
    pub(crate) fn entry_key_domain(self) -> &'static str {
        match self {
            Self::Postcard => "hoard.entry.postcard",
            #[cfg(feature = "bincode")]
            Self::Bincode => "hoard.entry.bincode2",
        }
    }

    pub(crate) fn serialize<U: serde::Serialize>(self, value: &U) -> Option<Vec<u8>> {
        match self {
            Self::Postcard => postcard::to_stdvec(value).ok(),
            #[cfg(feature = "bincode")]
            Self::Bincode => bincode::serde::encode_to_vec(value, bincode::config::standard()).ok(),
        }
    }

    pub(crate) fn deserialize<U: serde::de::DeserializeOwned>(self, bytes: &[u8]) -> Option<U> {
        match self {
            Self::Postcard => postcard::from_bytes(bytes).ok(),
            #[cfg(feature = "bincode")]
            Self::Bincode => {
                let (value, used) =
                    bincode::serde::decode_from_slice(bytes, bincode::config::standard()).ok()?;
                // Trailing bytes mean the value is not what was stored.
                (used == bytes.len()).then_some(value)
            }
        }
    }
}
