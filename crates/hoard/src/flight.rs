//! Single-flight: processes (and threads) that miss the same key at the same time compute it
//! once. The first to miss takes the key's lock and computes; the others wait for it (at
//! most [`CacheBuilder::single_flight_wait`](crate::CacheBuilder::single_flight_wait), 10 s
//! by default), then read what it stored. A waiter that reaches the bound computes anyway,
//! so a holder that is stopped (Ctrl-Z, a debugger) costs the others at most the bound; a
//! holder that crashes releases the lock at once, since the lock is a
//! [`Housekeeping::lock`] (an `flock` on `FsStore`), which dies with its holder.
//!
//! # Locks
//! The lock of a key is the named lock `flight-<3 hex digits>`: the first 12 bits of its
//! digest, one of [`STRIPES`] stripes (`state/flight-<xyz>.lock` in a cache directory). A
//! named lock through [`Housekeeping`] rather than a lock file per key: a plugin store
//! offers it with the locks it already has, and the directory holds at most 4,096 lock files
//! (never removed, as every named lock), where a file per key would need removing, and
//! removing a lock file that others may be waiting on is the classic `flock` race. The cost
//! is that two keys of one stripe missed at the same time are computed one after the other
//! (the second's holder re-reads its own key, misses, and computes): with 16 computations in
//! flight the chance that any two share a stripe is about 3%.
//!
//! Only try-locks are used, polled as the eviction worker polls its own
//! ([`hoard_evict::lock_within`]: 1 ms pauses doubling to 20 ms), so a released lock is
//! taken within 20 ms. A store without locks (a cache built with
//! [`CacheBuilder::with_store`](crate::CacheBuilder::with_store), or one whose `lock` fails)
//! simply computes.

use std::sync::Arc;
use std::time::Duration;

use hoard_core::{Digest, HeldLock, Housekeeping, LockTarget, StateName};

use crate::cache::{Cache, CacheBuilder};
use crate::stats::Counters;
use hoard_core::Key;

/// The default bound of a wait for another holder of a key's lock.
pub const DEFAULT_SINGLE_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// How many locks keys are spread over.
pub const STRIPES: usize = 4096;

/// The single-flight locks of a cache: its housekept store and the bound of a wait.
#[derive(Debug)]
pub(crate) struct Flight {
    keeper: Arc<dyn Housekeeping>,
    wait: Duration,
}

/// A caller's turn to compute a key it missed, from [`Cache::single_flight`]: hold it while
/// computing and storing the value, then drop it. If [`waited`](Self::waited), another
/// process or thread held the key's lock first: read the key again before computing, it
/// has most likely been stored meanwhile.
///
/// [`Cache::single_flight`]: crate::Cache::single_flight
#[derive(Debug)]
#[must_use = "the turn ends when it is dropped"]
pub struct Turn {
    held: Option<HeldLock>,
    waited: bool,
}

impl Turn {
    /// A turn without a lock: single-flight is off, or the store has no locks.
    pub(crate) fn unlocked() -> Self {
        Self {
            held: None,
            waited: false,
        }
    }

    /// Whether another holder had the key's lock when this turn was asked for (so the
    /// value may be there now).
    pub fn waited(&self) -> bool {
        self.waited
    }

    /// Whether this turn holds the key's lock (`false` after a wait that reached its bound,
    /// or without single-flight).
    pub fn is_locked(&self) -> bool {
        self.held.is_some()
    }
}

impl Flight {
    /// Single-flight on `keeper`'s locks, waiting at most `wait` (zero: off).
    pub(crate) fn new(keeper: Arc<dyn Housekeeping>, wait: Duration) -> Option<Self> {
        (!wait.is_zero()).then_some(Self { keeper, wait })
    }

    /// Takes the turn of the key with `digest`, counting waits in `counters`.
    pub(crate) fn enter(&self, digest: &Digest, counters: &Counters) -> Turn {
        let name = stripe(digest);
        let target = LockTarget::Named(&name);
        match self.keeper.lock(target, false) {
            Ok(Some(held)) => {
                return Turn {
                    held: Some(held),
                    waited: false,
                };
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(lock = %name, error = %e, "no single-flight lock; computing");
                return Turn::unlocked();
            }
        }
        Counters::bump(&counters.flight_waits);
        match hoard_evict::lock_within(self.keeper.as_ref(), target, self.wait) {
            Ok(Some(held)) => Turn {
                held: Some(held),
                waited: true,
            },
            Ok(None) => {
                Counters::bump(&counters.flight_gave_up);
                tracing::debug!(lock = %name, wait = ?self.wait, "single-flight lock still held; computing anyway");
                Turn {
                    held: None,
                    waited: true,
                }
            }
            Err(e) => {
                tracing::debug!(lock = %name, error = %e, "no single-flight lock; computing");
                Turn {
                    held: None,
                    waited: true,
                }
            }
        }
    }
}

impl Cache {
    /// Takes the single-flight turn of `key`, a key this caller just missed and is about to
    /// compute: waits (at most the builder's
    /// [`single_flight_wait`](CacheBuilder::single_flight_wait)) while another process or
    /// thread holds the key's lock, then holds it until the turn is dropped. Keep the turn
    /// while computing and storing the value; if [`Turn::waited`], read the key again first.
    /// [`get_or_compute`](Self::get_or_compute), [`get_data`](Self::get_data) and their
    /// variants do all this; this is for callers that compute in their own way (`hoard
    /// run`). Without a housekept store (a cache built with
    /// [`CacheBuilder::with_store`]) or with a zero wait, the turn is immediate and holds
    /// nothing.
    pub fn single_flight(&self, key: &Key) -> Turn {
        match self.flight_parts() {
            (Some(flight), counters) => flight.enter(key.digest(), counters),
            (None, _) => Turn::unlocked(),
        }
    }

    /// After a turn that waited, the value another holder stored meanwhile (counted in
    /// [`Stats::flight_wait_hits`](crate::Stats::flight_wait_hits)).
    pub(crate) fn after_wait(&self, turn: &Turn, key: &Key) -> Option<Vec<u8>> {
        if !turn.waited() {
            return None;
        }
        let hit = self.get(key)?;
        Counters::bump(&self.flight_parts().1.flight_wait_hits);
        Some(hit)
    }
}

impl CacheBuilder {
    /// How long a miss waits for another process or thread computing the same key before
    /// computing it too (default [`DEFAULT_SINGLE_FLIGHT_WAIT`]; `Duration::ZERO` turns
    /// single-flight off). See [`Cache::single_flight`]. A stopped holder costs a waiter at
    /// most this; a crashed one nothing (its lock dies with it).
    #[must_use]
    pub fn single_flight_wait(mut self, wait: Duration) -> Self {
        self.single_flight_wait = wait;
        self
    }
}

/// The name of the lock of the key with `digest`: `flight-` and the first 12 bits of the
/// digest in lowercase hex.
pub(crate) fn stripe(digest: &Digest) -> StateName {
    let b = digest.as_bytes();
    let bits = (u16::from(b[0]) << 4) | u16::from(b[1] >> 4);
    StateName::new(&format!("flight-{bits:03x}"))
        .expect("flight- and 3 hex digits make a valid state name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_take_the_first_twelve_bits() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[1] = 0xcd;
        assert_eq!(stripe(&Digest::from_bytes(bytes)).as_str(), "flight-abc");
        assert_eq!(
            stripe(&Digest::from_bytes([0xff; 32])).as_str(),
            format!("flight-{:03x}", STRIPES - 1)
        );
    }
}
