//! The circuit breaker: after `threshold` consecutive failures the remote is bypassed for a
//! cool-down, then one probe is let through; its outcome closes or reopens the breaker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether an operation may go to the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Go ahead.
    Go,
    /// Go ahead: the single probe after a cool-down.
    Probe,
    /// Do not: the breaker is open (or another probe is in flight).
    Bypass,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    Probing,
}

/// A breaker shared by every thread using one remote.
#[derive(Debug)]
pub(crate) struct Breaker {
    state: Mutex<State>,
    threshold: u32,
    cooldown: Duration,
}

/// What [`Breaker::failure`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tripped {
    /// The breaker opened now.
    Yes,
    /// It was already open, or failures are still under the threshold.
    No,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: Mutex::new(State::Closed { failures: 0 }),
            threshold: threshold.max(1),
            cooldown,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is a plain enum, valid whatever a panicking holder did.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn admit(&self, now: Instant) -> Admit {
        if self.cooldown.is_zero() {
            return Admit::Go;
        }
        let mut state = self.state();
        match *state {
            State::Closed { .. } => Admit::Go,
            State::Open { until } if now >= until => {
                *state = State::Probing;
                Admit::Probe
            }
            State::Open { .. } | State::Probing => Admit::Bypass,
        }
    }

    pub(crate) fn success(&self) {
        *self.state() = State::Closed { failures: 0 };
    }

    pub(crate) fn failure(&self, now: Instant) -> Tripped {
        if self.cooldown.is_zero() {
            return Tripped::No;
        }
        let mut state = self.state();
        let open = State::Open {
            until: now + self.cooldown,
        };
        match *state {
            State::Closed { failures } if failures + 1 >= self.threshold => {
                *state = open;
                Tripped::Yes
            }
            State::Closed { failures } => {
                *state = State::Closed {
                    failures: failures + 1,
                };
                Tripped::No
            }
            State::Probing => {
                *state = open;
                Tripped::Yes
            }
            State::Open { .. } => Tripped::No,
        }
    }

    /// Opens the breaker until `until` without counting a failure: another process found
    /// the remote failing (the shared state in the cache directory), or is probing it.
    pub(crate) fn defer(&self, until: Instant) {
        if !self.cooldown.is_zero() {
            *self.state() = State::Open { until };
        }
    }

    /// Whether the breaker currently bypasses the remote.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.state(), State::Closed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_probes_once_after_the_cooldown_and_closes_on_success() {
        let b = Breaker::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.admit(t0), Admit::Go);
        assert_eq!(b.failure(t0), Tripped::No);
        assert_eq!(b.admit(t0), Admit::Go);
        assert_eq!(b.failure(t0), Tripped::Yes);
        assert!(b.is_open());
        assert_eq!(b.admit(t0 + Duration::from_secs(9)), Admit::Bypass);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(b.admit(later), Admit::Probe);
        assert_eq!(b.admit(later), Admit::Bypass, "one probe at a time");
        assert_eq!(b.failure(later), Tripped::Yes, "a failed probe reopens");
        assert_eq!(b.admit(later + Duration::from_secs(5)), Admit::Bypass);
        assert_eq!(b.admit(later + Duration::from_secs(10)), Admit::Probe);
        b.success();
        assert!(!b.is_open());
        assert_eq!(b.admit(later), Admit::Go);
    }

    #[test]
    fn a_success_resets_the_count_and_a_zero_cooldown_never_opens() {
        let b = Breaker::new(2, Duration::from_secs(1));
        let t = Instant::now();
        b.failure(t);
        b.success();
        assert_eq!(b.failure(t), Tripped::No);
        let off = Breaker::new(1, Duration::ZERO);
        assert_eq!(off.failure(t), Tripped::No);
        assert_eq!(off.admit(t), Admit::Go);
        off.defer(t + Duration::from_secs(5));
        assert_eq!(off.admit(t), Admit::Go, "a zero cool-down never bypasses");
    }

    #[test]
    fn a_deferral_bypasses_until_its_end_then_probes() {
        let b = Breaker::new(1, Duration::from_secs(10));
        let t = Instant::now();
        b.defer(t + Duration::from_secs(3));
        assert_eq!(b.admit(t + Duration::from_secs(2)), Admit::Bypass);
        assert_eq!(b.admit(t + Duration::from_secs(3)), Admit::Probe);
    }
}
