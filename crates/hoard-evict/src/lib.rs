#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`Worker`]: the background thread; [`Janitor`]: the same operations, synchronous.
//! - [`WorkerConfig`] and [`Limits`]: the settings (wasmtime-cache's worker keys and
//!   defaults, plus hoard's); [`Adaptive`]: the adaptive format's policy.
//! - [`Clock`]: injectable time ([`SystemClock`], [`ManualClock`]).
//! - [`lock`]: the bounded lock waits ([`lock_within`], [`OPERATION_LOCK_WAIT`],
//!   [`MERGE_LOCK_WAIT`]): no lock another process holds can hang a cache.
//! - [`EvictStats`]: the counters of this process; [`SharedStats`]: the lifetime counters of
//!   every process that used the store.
//!
//! The store is any [`Housekeeping`](hoard_core::Housekeeping) implementation: this crate
//! never names a concrete store, and never touches a file itself.

mod clock;
mod config;
mod janitor;
pub mod lock;
mod sidecar;
mod stats;
mod table;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Adaptive, Limits, WorkerConfig};
pub use janitor::{
    AdaptReport, CleanupReport, Codecs, EvictReport, Janitor, RecompressReport, Recompressed,
    Survey, UsageUpdate, read_named_counters, read_shared_stats, zero_named_counters,
};
pub use lock::{MERGE_LOCK_WAIT, OPERATION_LOCK_WAIT, busy_error, lock_within};
pub use stats::{CounterSource, Counts, EvictStats, SharedStats};
pub use worker::Worker;
