//! Integration tests of the `hoard` facade through its public API, on real directories.

mod auth;
mod basics;
mod config;
mod corruption;
mod entry;
mod eviction;
// The fault seam is the Unix store's rustix calls; the Windows store has none to fail.
#[cfg(unix)]
mod faults;
mod flight;
mod guide;
// The lease's tests start redis-server and moto, as the remote tier's do (below).
#[cfg(all(feature = "remote", unix))]
mod lease;
mod locks;
mod multiprocess;
mod plugins;
// The remote tier's tests start redis-server, memcached and moto: Linux programs, which a
// Windows process under Wine cannot start.
#[cfg(all(feature = "remote", unix))]
mod remote;
mod security;
mod zerocopy;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live heap bytes and their peak, so that tests can prove a hostile entry did not
/// make hoard allocate beyond its cap. The figures are the whole process's: a test that
/// reads them runs in a process of its own ([`hoard_testkit::process::alone`]), so that they
/// belong to it under `cargo test` as under nextest.
struct Tracking;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the counters are plain
// atomics and never allocate.
#[expect(
    unsafe_code,
    reason = "a counting global allocator needs `unsafe impl GlobalAlloc`"
)]
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's arguments.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Tracking = Tracking;

/// Runs `f` and returns its result and the peak of live heap bytes above the level at entry
/// (in the whole process: call it from a test that runs alone).
pub(crate) fn peak_heap_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

pub(crate) fn cache_in(dir: &tempfile::TempDir) -> hoard::Cache {
    hoard::Cache::open(dir.path().join("cache")).expect("open cache")
}

/// Plants a symbolic link for a test: see [`hoard_testkit::plant_link`].
pub(crate) use hoard_testkit::plant_link;
