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
//!
//! # The remote lease
//! With a remote tier whose settings ask for it
//! ([`RemoteSettings::lease`](crate::RemoteSettings::lease), `lease = true` in
//! `[cache.remote]`), the process that took a key's local lock without waiting then asks the
//! store for the key's [`Lease`] ([`Store::lease`]: on Redis `SET NX PX`, on S3 a conditional
//! create), so that one
//! machine of a fleet computes the key. Taken: it computes, stores (the put reaches the
//! remote) and releases it with the turn. Held elsewhere: it waits for the holder's value,
//! looking for the key (a get through the tier, so the remote's value is copied into the
//! local store) and trying the lease again, with pauses from 5 ms doubling to 100 ms, at
//! most the single-flight wait; a lease found free again (its holder failed, or crashed and
//! the lease expired) is taken, and the key computed under it. A remote that fails to
//! answer costs what any remote operation costs (its timeout, connection check and breaker:
//! a dead remote fails at once) and the key is computed. Processes that waited for a local
//! holder do not ask: their local holder had the lease or waited for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hoard_core::{
    Digest, ErrorKind, HeldLock, Housekeeping, Lease, LockTarget, Namespace, StateName, Store,
};

use crate::cache::{Cache, CacheBuilder};
use crate::stats::Counters;
use hoard_core::Key;

/// The default bound of a wait for another holder of a key's lock.
pub const DEFAULT_SINGLE_FLIGHT_WAIT: Duration = Duration::from_secs(10);

/// How many locks keys are spread over.
pub const STRIPES: usize = 4096;

/// The first pause between two looks for a leased key's value.
const LEASE_POLL_FIRST: Duration = Duration::from_millis(5);

/// The longest pause between two looks for a leased key's value.
const LEASE_POLL_MAX: Duration = Duration::from_millis(100);

/// The single-flight locks of a cache: its housekept store and the bound of a wait.
#[derive(Debug)]
pub(crate) struct Flight {
    keeper: Arc<dyn Housekeeping>,
    wait: Duration,
    lease: Option<FleetLease>,
}

/// The remote lease of a cache's keys: the cache's store (the tier), where its entries
/// live, how much a read may return, and for how long a lease is taken.
#[derive(Debug)]
pub(crate) struct FleetLease {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) namespace: Namespace,
    pub(crate) limit: u64,
    pub(crate) ttl: Duration,
}

/// What asking for a lease gave.
enum Asked {
    Won(Lease),
    Lost,
    /// The store offers no lease, or failed to answer: compute without one.
    Without,
}

impl FleetLease {
    fn ask(&self, digest: &Digest, counters: &Counters) -> Asked {
        match self.store.lease(&self.namespace, digest, self.ttl) {
            Ok(Some(lease)) => Asked::Won(lease),
            Ok(None) => Asked::Lost,
            Err(e) if e.kind() == ErrorKind::NotSupportedByStore => {
                tracing::debug!(error = %e, "no remote lease; computing");
                Asked::Without
            }
            Err(e) => {
                Counters::bump(&counters.lease_failures);
                tracing::debug!(error = %e, "cannot take the remote lease; computing");
                Asked::Without
            }
        }
    }

    /// Whether the key's value is there now (locally, or on the remote, whence the tier
    /// copies it into the local store).
    fn stored(&self, digest: &Digest) -> bool {
        matches!(
            self.store.get(&self.namespace, digest, self.limit),
            Ok(Some(_))
        )
    }
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
    /// Released first: the value is stored by then.
    lease: Option<Lease>,
    held: Option<HeldLock>,
    waited: bool,
    /// The wait was for the remote lease's holder (else for the local lock).
    waited_for_lease: bool,
}

impl Turn {
    /// A turn without a lock: single-flight is off, or the store has no locks.
    pub(crate) fn unlocked() -> Self {
        Self {
            lease: None,
            held: None,
            waited: false,
            waited_for_lease: false,
        }
    }

    fn locked(held: Option<HeldLock>, waited: bool) -> Self {
        Self {
            held,
            waited,
            ..Self::unlocked()
        }
    }

    /// Whether this turn holds the key's remote lease: this process computes the key for
    /// every machine sharing the remote (see [`RemoteSettings::lease`]).
    ///
    /// [`RemoteSettings::lease`]: crate::RemoteSettings::lease
    pub fn is_leased(&self) -> bool {
        self.lease.is_some()
    }

    /// Whether another holder had the key's lock (or its remote lease) when this turn was
    /// asked for (so the value may be there now).
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
        (!wait.is_zero()).then_some(Self {
            keeper,
            wait,
            lease: None,
        })
    }

    /// Takes `lease` after the local lock of a key (see the module's docs).
    #[cfg_attr(
        not(feature = "remote"),
        expect(dead_code, reason = "only a remote tier offers leases")
    )]
    pub(crate) fn with_lease(mut self, lease: Option<FleetLease>) -> Self {
        self.lease = lease;
        self
    }

    /// After a local turn taken without waiting: the key's remote lease, or a wait for the
    /// holder's value (see the module's docs).
    fn lease(&self, turn: &mut Turn, digest: &Digest, counters: &Counters) {
        let Some(fleet) = &self.lease else {
            return;
        };
        match fleet.ask(digest, counters) {
            Asked::Won(lease) => {
                Counters::bump(&counters.lease_wins);
                turn.lease = Some(lease);
                return;
            }
            Asked::Without => return,
            Asked::Lost => Counters::bump(&counters.lease_losses),
        }
        // From here on the caller reads the key again before computing, unless this process
        // takes the lease after all.
        turn.waited = true;
        turn.waited_for_lease = true;
        let deadline = Instant::now() + self.wait;
        let mut pause = LEASE_POLL_FIRST;
        loop {
            let now = Instant::now();
            if now >= deadline {
                Counters::bump(&counters.lease_gave_up);
                tracing::debug!(%digest, wait = ?self.wait, "remote lease still held; computing anyway");
                return;
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(LEASE_POLL_MAX);
            if fleet.stored(digest) {
                return;
            }
            match fleet.ask(digest, counters) {
                Asked::Lost => {}
                Asked::Without => return,
                Asked::Won(lease) => {
                    // The holder stores before it releases: a value stored between the look
                    // and the lease is found here.
                    if fleet.stored(digest) {
                        return;
                    }
                    // Released without a value (failed), or expired (crashed): compute.
                    Counters::bump(&counters.lease_wins);
                    turn.lease = Some(lease);
                    turn.waited = false;
                    return;
                }
            }
        }
    }

    /// Takes the turn of the key with `digest`, counting waits in `counters`.
    pub(crate) fn enter(&self, digest: &Digest, counters: &Counters) -> Turn {
        let name = stripe(digest);
        let target = LockTarget::Named(&name);
        match self.keeper.lock(target, false) {
            Ok(Some(held)) => return Turn::locked(Some(held), false),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(lock = %name, error = %e, "no single-flight lock; computing");
                return Turn::unlocked();
            }
        }
        Counters::bump(&counters.flight_waits);
        match hoard_evict::lock_within(self.keeper.as_ref(), target, self.wait) {
            Ok(Some(held)) => Turn::locked(Some(held), true),
            Ok(None) => {
                Counters::bump(&counters.flight_gave_up);
                tracing::debug!(lock = %name, wait = ?self.wait, "single-flight lock still held; computing anyway");
                Turn::locked(None, true)
            }
            Err(e) => {
                tracing::debug!(lock = %name, error = %e, "no single-flight lock; computing");
                Turn::locked(None, true)
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
    ///
    /// With a remote lease ([`RemoteSettings::lease`]), a turn taken without waiting for a
    /// local holder also asks for the key's lease on the remote: taken
    /// ([`Turn::is_leased`]), the turn holds it too; held by another machine, this waits
    /// (at most the same bound) for that machine's value, and the turn
    /// [`waited`](Turn::waited).
    ///
    /// [`RemoteSettings::lease`]: crate::RemoteSettings::lease
    pub fn single_flight(&self, key: &Key) -> Turn {
        match self.flight_parts() {
            (Some(flight), counters) => {
                let mut turn = flight.enter(key.digest(), counters);
                if !turn.waited {
                    flight.lease(&mut turn, key.digest(), counters);
                }
                turn
            }
            (None, _) => Turn::unlocked(),
        }
    }

    /// After a turn that waited, the value another holder stored meanwhile (counted in
    /// [`Stats::flight_wait_hits`](crate::Stats::flight_wait_hits), or
    /// [`Stats::lease_wait_hits`](crate::Stats::lease_wait_hits) after a wait for the
    /// remote lease).
    pub(crate) fn after_wait(&self, turn: &Turn, key: &Key) -> Option<Vec<u8>> {
        if !turn.waited() {
            return None;
        }
        let hit = self.get(key)?;
        let counters = self.flight_parts().1;
        Counters::bump(if turn.waited_for_lease {
            &counters.lease_wait_hits
        } else {
            &counters.flight_wait_hits
        });
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
