#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`Cache`] and [`CacheBuilder`]: the cache and its settings.
//! - [`Mapped`]: what [`Cache::get_mapped`] returns, a verified value served from a memory
//!   map of a large stored entry where that is safe, owned otherwise.
//! - [`ModuleCacheEntry`]: wasmtime's entry handle, keyed by compiler name and version: what
//!   a program that caches a compiler's output (as wasmtime's `get_data` callers do) should
//!   use instead of [`Cache::get_data`], which keys by the state alone.
//! - [`Stats`]: in-process counters.
//! - [`Turn`] (`flight`): single-flight, one computation per key across processes
//!   ([`Cache::single_flight`]).
//! - [`Serialization`]: how `get_data` stores values.
//! - [`units`]: the unit syntax of configuration files (`"512Mi"`, `"30d"`), for tools.
//! - [`evict`]: the eviction worker (hoard-evict) that [`CacheBuilder::worker`] configures and
//!   [`Cache::worker`] exposes.
//!
//! The plugin API ([`Store`], [`Housekeeping`] and its vocabulary ([`Bucket`], [`Item`],
//! [`LockTarget`], [`HeldLock`], [`StateName`], ...), [`Codec`], [`KeyHasher`], the [`frame`]
//! and the verified [`read`]) and the built-in implementations are re-exported, so most users
//! and plugin authors depend on this crate alone. A plugin's tests add `hoard-testkit` as a
//! dev-dependency: its conformance suites (`store::run_all`, `housekeeping::run_all`,
//! `codec::run_all`, `hasher::run_all`) check a plugin against every rule of its trait's
//! contract, and its `InMemory` is the reference `Store + Housekeeping`. A store that
//! implements [`Housekeeping`] gets the eviction worker through
//! [`CacheBuilder::with_maintained_store`]; [`CacheBuilder::build`] checks plugin codecs and
//! hashers (id, round trip, one format per id). Plugin ids and how to claim one: [`id`].
//!
//! # Features
//! - `zstd` (default): zstd compression, level 3 by default.
//! - `lz4`: the LZ4 codec.
//! - `blake3`: the BLAKE3 key hasher.
//! - `remote`: a remote tier on Redis, memcached or S3 behind the local cache
//!   ([`CacheBuilder::remote`], `[cache.remote]` in configuration files; the [`remote`]
//!   module re-exports hoard-remote).
//! - `bincode`: bincode serialization for `get_data` (unmaintained upstream; see
//!   [`Serialization`]).

mod auth;
mod cache;
mod config;
mod entry;
mod flight;
/// Writing a plugin: a store, `Housekeeping`, a codec, the conformance suites, plugin ids
/// and the benchmark harness (every example runs as a doctest).
pub mod guide;
/// The guard of [`Cache::get_mapped`].
mod mapped;
mod serial;
mod stats;
#[cfg(feature = "remote")]
mod tier;
pub mod units;
mod validate;
mod worker_config;

pub use auth::read_auth_key_file;
pub use cache::{
    Cache, CacheBuilder, DEFAULT_MAX_ENTRY_SIZE, DEFAULT_NAMESPACE, DEFAULT_ZSTD_LEVEL,
};
pub use config::{CacheConfig, Percent, write_default_config};
pub use entry::ModuleCacheEntry;
pub use flight::{DEFAULT_SINGLE_FLIGHT_WAIT, STRIPES as SINGLE_FLIGHT_STRIPES, Turn};
pub use mapped::Mapped;
pub use serial::Serialization;
pub use stats::Stats;
#[cfg(feature = "remote")]
pub use tier::{
    DEFAULT_LEASE_TTL, RemoteLifetime, RemoteSettings, RemoteTier, remote_lifetime_stats,
    zero_remote_stats,
};

pub use hoard_core::{
    Bucket, BucketInfo, Codec, CodecId, DIGEST_LEN, Decoders, Digest, Disposition, EntryInfo,
    Error, ErrorKind, Expected, HashState, HasherId, HeldLock, Housekeeping, Item, ItemKind, Key,
    KeyHasher, Lease, LockTarget, NAMESPACE_MAX_LEN, Namespace, PLUGIN_RANGE_START, Rejected,
    Result, StateName, Store, StoreExt, StoredFrame, VerifiedFrame, VerifiedView, frame,
    housekeeping, id, listing_not_supported, read,
};
/// The eviction worker: [`WorkerConfig`](evict::WorkerConfig), [`Worker`](evict::Worker),
/// [`Janitor`](evict::Janitor) and the clocks.
pub use hoard_evict as evict;
pub use hoard_fs::{Durability, FrameBytes, FsOptions, FsStore, Mapping};
pub use hoard_key::{HashBridge, KeyBuilder, Sha256};
/// The remote tier (feature `remote`): [`RemoteConfig`](remote::RemoteConfig),
/// [`RemoteStore`](remote::RemoteStore), [`TieredStore`](remote::TieredStore) and their
/// settings and counters.
#[cfg(feature = "remote")]
pub use hoard_remote as remote;

#[cfg(feature = "blake3")]
pub use hoard_key::Blake3;

pub use hoard_codec::Identity;
#[cfg(feature = "lz4")]
pub use hoard_codec::Lz4;
#[cfg(feature = "zstd")]
pub use hoard_codec::Zstd;
/// Every codec compiled into this build, as the [`Decoders`] registry readers use.
pub use hoard_codec::builtin as builtin_decoders;
