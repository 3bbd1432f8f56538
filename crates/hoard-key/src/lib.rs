#![doc = include_str!("../README.md")]
//!
//! # Contents
//! - [`Sha256`] (always) and `Blake3` (feature `blake3`): the [`KeyHasher`]s; [`by_id`]
//!   finds the one a frame names.
//! - [`KeyBuilder`]: the portable key encoding, part of the on-disk format.
//! - [`HashBridge`]: a [`std::hash::Hasher`] for `T: Hash` states, not portable.
//!
//! # Features
//! No feature is on by default; the `hoard` facade picks.
//! - `blake3`: BLAKE3 key hashing (`Blake3`, [`HasherId::Blake3`]).

#[cfg(feature = "blake3")]
mod blake3;
mod bridge;
mod builder;
mod sha256;

use hoard_core::{HasherId, KeyHasher};

#[cfg(feature = "blake3")]
pub use crate::blake3::Blake3;
pub use crate::bridge::HashBridge;
pub use crate::builder::KeyBuilder;
pub use crate::sha256::Sha256;

/// The built-in hasher recorded as `id`, if it is compiled into this build.
///
/// [`HasherId::Sha256`] is always available; [`HasherId::Blake3`] needs the `blake3`
/// feature; plugin ids are never built in.
pub fn by_id(id: HasherId) -> Option<Box<dyn KeyHasher>> {
    match id {
        HasherId::Sha256 => Some(Box::new(Sha256)),
        #[cfg(feature = "blake3")]
        HasherId::Blake3 => Some(Box::new(Blake3)),
        _ => None,
    }
}
