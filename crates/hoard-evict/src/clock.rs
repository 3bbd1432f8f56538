//! [`Clock`]: where the worker gets the time, so that tests can drive it.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// The wall clock the worker reads: file times are wall-clock times, so this is
/// `SystemTime`, not `Instant`.
///
/// Every timing decision of hoard-evict (the cleanup interval, the task timeout, the clock
/// drift allowance, last-use times written by [`Housekeeping::touch`]) reads this clock, so a
/// test can inject a [`ManualClock`] and step time instead of sleeping.
///
/// [`Housekeeping::touch`]: hoard_core::Housekeeping::touch
pub trait Clock: Send + Sync + Debug + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that only moves when told: for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<SystemTime>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SystemTime) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `to` (backwards too).
    pub fn set(&self, to: SystemTime) {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }

    /// Moves the clock forward by `by` (saturating at the largest representable time).
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = now.checked_add(by) {
            *now = t;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .now
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}
