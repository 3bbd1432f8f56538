//! [`Lease`]: a store's promise that one caller, fleet-wide, computes a key (see
//! [`Store::lease`](crate::Store::lease)).

use std::any::Any;
use std::fmt;

/// A lease on one key, taken with [`Store::lease`](crate::Store::lease): while it is held,
/// every other caller asking the same store (in any process, on any machine sharing it) is
/// told the key is leased. It is released when dropped (best effort: a release that cannot
/// reach the store is left to expire), and expires by itself after the time it was taken
/// for, so a holder that crashes frees it.
#[must_use = "the lease is released when it is dropped"]
pub struct Lease {
    _guard: Box<dyn Any + Send + Sync>,
}

impl Lease {
    /// Wraps whatever releases the lease when dropped (a value whose `Drop` deletes the
    /// lease key, say). As for a [`HeldLock`](crate::HeldLock), `guard` owns what the
    /// release needs; it cannot borrow the store.
    pub fn new(guard: impl Any + Send + Sync) -> Self {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lease")
    }
}
