#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`frame`]: the entry frame, byte by byte, with encode and verify.
//! - [`id`]: the on-disk hasher and codec ids.
//! - [`read`]: the one verified read every reader shares ([`read::read_entry`],
//!   [`VerifiedFrame`], the [`Decoders`] registry, and the [`Disposition`] of a failure).
//! - [`housekeeping`]: the [`Housekeeping`] trait a store offers to the eviction worker, and
//!   its vocabulary ([`Bucket`], [`Item`], [`StateName`], [`LockTarget`], [`HeldLock`]).
//! - [`lease`]: the [`Lease`] a store may offer on a key ([`Store::lease`]), so that a
//!   fleet sharing the store computes the key once.
//! - The traits live at the crate root: [`KeyHasher`], [`Codec`], [`Store`], [`StoreExt`].

pub mod error;
pub mod frame;
pub mod housekeeping;
pub mod id;
pub mod key;
pub mod lease;
pub mod read;
mod traits;

pub use error::{Error, ErrorKind, Result};
pub use housekeeping::{
    Bucket, BucketInfo, HeldLock, Housekeeping, Item, ItemKind, LockTarget, StateName,
};
pub use id::{CodecId, HasherId, PLUGIN_RANGE_START, PluginId};
pub use key::{DIGEST_LEN, Digest, Key, NAMESPACE_MAX_LEN, Namespace};
pub use lease::Lease;
pub use read::{
    Decoders, Disposition, Expected, Rejected, StoredFrame, VerifiedFrame, VerifiedView,
};
pub use traits::{Codec, EntryInfo, HashState, KeyHasher, Store, StoreExt, listing_not_supported};
