#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`RemoteConfig`] (`config`): which backend, where, timeouts, breaker, item limit.
//! - [`RemoteStore`] (`remote`): the [`Store`](hoard_core::Store) on OpenDAL.
//! - [`ShardedStore`] (`sharded`): one remote over several servers, keys placed by
//!   rendezvous hashing of their digests.
//! - [`TieredStore`] (`tiered`): a local store in front of a remote one.
//! - [`RemoteStats`], [`TierStats`] (`stats`): their counters.
//! - [`Clock`] (`clock`): where the circuit breaker reads the time; [`ManualClock`] for tests.
//! - `memcached` (private): the memcached client (meta protocol, `TCP_NODELAY`).
//! - `breaker` (private): the circuit breaker; `shared` (private): its state shared by the
//!   processes of one cache directory.

mod breaker;
mod clock;
mod config;
mod memcached;
mod remote;
mod resp;
mod sharded;
mod shared;
mod socket;
mod stats;
mod tiered;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{
    Backend, Credentials, DEFAULT_CONNECT_TIMEOUT, DEFAULT_COOLDOWN, DEFAULT_PREFIX,
    DEFAULT_TIMEOUT, MEMCACHED_DEFAULT_MAX_ITEM, PASSWORD_ENV, PREFIX_MAX_LEN,
    REDIS_DEFAULT_MAX_ITEM, RemoteConfig, S3_DEFAULT_MAX_ITEM, USERNAME_ENV,
};
pub use remote::RemoteStore;
pub use sharded::ShardedStore;
pub use stats::{RemoteStats, TierStats};
pub use tiered::{DEFAULT_WRITE_BACK_QUEUE, RemoteAccess, TieredStore, WritePolicy};
