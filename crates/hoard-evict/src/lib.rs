#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`Worker`]: the background thread; [`Janitor`]: the same operations, synchronous.
//! - [`WorkerConfig`] and [`Limits`]: the settings (wasmtime-cache's worker keys and
//!   defaults, plus hoard's).
//! - [`Clock`]: injectable time ([`SystemClock`], [`ManualClock`]).
//! - [`EvictStats`]: the counters of this process; [`SharedStats`]: the lifetime counters of
//!   every process that used the store.
//!
//! The store is any [`Housekeeping`](hoard_core::Housekeeping) implementation: this crate
//! never names a concrete store, and never touches a file itself.

mod clock;
mod config;
mod janitor;
mod sidecar;
mod stats;
mod table;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Limits, WorkerConfig};
pub use janitor::{
    CleanupReport, Codecs, EvictReport, Janitor, RecompressReport, Recompressed, Survey,
    read_named_counters, read_shared_stats, zero_named_counters,
};
pub use stats::{CounterSource, Counts, EvictStats, SharedStats};
pub use worker::Worker;
