#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`store`]: the [`Store`](hoard_core::Store) suite.
//! - [`codec`]: the [`Codec`](hoard_core::Codec) suite.
//! - [`hasher`]: the [`KeyHasher`](hoard_core::KeyHasher) suite.
//! - [`housekeeping`]: the [`Housekeeping`](hoard_core::Housekeeping) suite, for stores
//!   that offer maintenance to the eviction worker.
//! - [`memory`]: [`InMemory`], a complete in-memory [`Store`](hoard_core::Store) and
//!   [`Housekeeping`](hoard_core::Housekeeping) for the tests of code that uses stores.
//! - [`servers`]: real Redis, memcached and S3 servers on loopback ports, for remote stores.
//! - [`process`]: one test in a process of its own, for tests that change or measure what
//!   the whole process shares.
//! - Test data at the crate root: [`artifact`] and [`noise`]; hostile frames: [`reseal`]; planted links: [`plant_link`].

pub mod codec;
mod data;
pub mod hasher;
mod hostile;
pub mod housekeeping;
pub mod memory;
pub mod process;
pub mod servers;
pub mod store;
mod support;

pub use data::{artifact, noise};
pub use hostile::{plant_link, reseal};
pub use memory::InMemory;
