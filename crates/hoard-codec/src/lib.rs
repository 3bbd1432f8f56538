#![doc = include_str!("../README.md")]
//!
//! # Contents
//! - [`Identity`] (always): bytes as they are.
//! - `Zstd` (feature `zstd`): a single zstd frame, pooled contexts, a window limit of
//!   `2^MAX_WINDOW_LOG` bytes.
//! - `Lz4` (feature `lz4`): an LZ4 block as `lz4_flex` writes it, without a size prefix.
//! - [`by_id`]: the codec a frame names, if it is compiled in; [`builtin`]: all of them, as
//!   the [`Decoders`] registry readers decode with.
//!
//! # Features
//! No feature is on by default; the `hoard` facade picks.
//! - `zstd`: the zstd codec, through the zstd C library.
//! - `lz4`: the LZ4 block codec, through the pure-Rust `lz4_flex`.
//!
//! # Bounded decoding
//! Every decoder writes into `out` only after reserving exactly `decoded_len` more bytes,
//! never writes past them, and fails with [`ErrorKind::Corrupt`](hoard_core::ErrorKind) unless
//! the payload decodes to exactly that many; on any error `out` is cut back to its original
//! length. A `decoded_len` that cannot be allocated is
//! [`ErrorKind::TooLarge`](hoard_core::ErrorKind), like in
//! [`frame::decode_payload`](hoard_core::frame::decode_payload).

mod identity;
#[cfg(feature = "lz4")]
mod lz4_codec;
mod reserve;
#[cfg(feature = "zstd")]
mod zstd_codec;

use std::sync::Arc;

use hoard_core::{Codec, CodecId, Decoders};

pub use crate::identity::Identity;
#[cfg(feature = "lz4")]
pub use crate::lz4_codec::Lz4;
#[cfg(feature = "zstd")]
pub use crate::zstd_codec::{MAX_WINDOW_LOG, Zstd};

/// A default instance of the built-in codec recorded as `id`, if it is compiled in.
///
/// [`CodecId::Identity`] is always available, [`CodecId::Zstd`] (at level 3) needs the
/// `zstd` feature and [`CodecId::Lz4`] the `lz4` feature; plugin ids are never built in.
/// Each call makes a new instance: keep it, since a zstd codec carries its pool of contexts.
/// Any level decodes any other level's output, so the default level is right for decoding.
pub fn by_id(id: CodecId) -> Option<Arc<dyn Codec>> {
    match id {
        CodecId::Identity => Some(Arc::new(Identity)),
        #[cfg(feature = "zstd")]
        CodecId::Zstd => Some(Arc::new(Zstd::default())),
        #[cfg(feature = "lz4")]
        CodecId::Lz4 => Some(Arc::new(Lz4)),
        _ => None,
    }
}

/// Every codec compiled into this build, as the registry readers decode entries with.
///
/// Built once per reader and kept: a zstd codec carries its pool of contexts.
pub fn builtin() -> Decoders {
    let mut decoders = Decoders::new();
    for id in CodecId::BUILT_IN {
        if let Some(codec) = by_id(id) {
            decoders.add(codec);
        }
    }
    decoders
}
