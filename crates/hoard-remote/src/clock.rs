//! [`Clock`]: where a [`RemoteStore`](crate::RemoteStore) reads the time for its circuit
//! breaker, so that tests can step through cool-downs instead of sleeping through them.

use std::fmt::Debug;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The monotonic clock of the circuit breaker: when it opened, and when its cool-down ends.
///
/// Only the breaker's bookkeeping reads it. The per-operation timeout is real time whatever
/// the clock says: a hung server costs a real timeout. A test injects a [`ManualClock`]
/// with [`RemoteStore::with_clock`](crate::RemoteStore::with_clock) and
/// [`advance`](ManualClock::advance)s it past a cool-down.
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The system's monotonic clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Instant>,
}

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> Self {
        Self {
            now: Mutex::new(Instant::now()),
        }
    }

    /// Moves the clock forward by `by`; a step past the last representable instant leaves it
    /// where it is.
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = now.checked_add(by) {
            *now = t;
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> Instant {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.now(), t0);
        clock.advance(Duration::from_secs(10));
        assert_eq!(clock.now(), t0 + Duration::from_secs(10));
        clock.advance(Duration::MAX);
        assert_eq!(
            clock.now(),
            t0 + Duration::from_secs(10),
            "an overflow is ignored"
        );
        assert!(SystemClock.now() >= t0);
    }
}
