//! Integration tests of hoard-evict through its public API, on hoard-testkit's in-memory
//! store (`InMemory`), whose times are exact, driven by a `ManualClock`: no sleeps anywhere.

mod adaptive;
mod counters;
mod locks;
mod lru;
mod ops;
mod worker;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hoard_core::{Digest, Namespace, StateName};
use hoard_evict::{Clock, Janitor, ManualClock, WorkerConfig};
use hoard_testkit::InMemory;

/// 2025-01-01T00:00:00Z: the tests' "now".
pub(crate) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600)
}

pub(crate) fn ns(name: &str) -> Namespace {
    Namespace::new(name).expect("valid namespace")
}

/// A digest that sorts (and breaks ties) by `id`: its first byte. Buckets are its first hex
/// digit, so ids 0x00..0x0f share one bucket and 0x10.. fall in others.
pub(crate) fn digest(id: u8) -> Digest {
    let mut b = [0x77u8; 32];
    b[0] = id;
    Digest::from_bytes(b)
}

pub(crate) fn state(name: &str) -> StateName {
    StateName::new(name).expect("valid state name")
}

/// An in-memory store whose puts read `clock`.
pub(crate) fn store_on(clock: &Arc<ManualClock>) -> InMemory {
    let clock = Arc::clone(clock);
    InMemory::new().with_clock(move || clock.now())
}

pub(crate) fn setup(config: WorkerConfig) -> (Arc<ManualClock>, Arc<InMemory>, Janitor) {
    let clock = Arc::new(ManualClock::new(now()));
    let store = Arc::new(store_on(&clock));
    let janitor = Janitor::new(store.clone(), config).with_clock(clock.clone());
    (clock, store, janitor)
}
