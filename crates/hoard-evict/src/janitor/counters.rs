//! This process's counters and the lifetime counters shared by every process that used
//! the store (see [`SharedStats`]).

use std::sync::PoisonError;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{Error, ErrorKind, HeldLock, LockTarget, Result};

use super::Janitor;
use crate::sidecar::{self, Tally};
use crate::stats::{EvictStats, LIFETIME_COUNTERS, SharedStats};

/// The time `ms` milliseconds after the epoch (before it if negative).
fn from_ms(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .unwrap_or(UNIX_EPOCH)
}

impl Tally {
    fn to_stats(&self) -> SharedStats {
        SharedStats::new(
            from_ms(self.since_ms),
            from_ms(self.updated_ms),
            &self.counts,
        )
    }
}

impl Janitor {
    /// The counters of this janitor's operations in this process (hits and misses only
    /// count when a [`Worker`](crate::Worker) reports them). The totals of every process
    /// are [`shared_stats`](Self::shared_stats).
    pub fn stats(&self) -> EvictStats {
        self.counters.snapshot()
    }

    /// The lifetime counters of every process that used the store, as last merged (a
    /// running worker merges about once per
    /// [`WorkerConfig::usage_merge_period`], so they may lag that much behind it).
    ///
    /// `Ok(None)` when there are none yet, or when the stored counters are damaged or not
    /// hoard's (they then restart from zero at the next merge). An error means the state
    /// could not be read at all (I/O, or a symlink in its place).
    ///
    /// [`WorkerConfig::usage_merge_period`]: crate::WorkerConfig::usage_merge_period
    pub fn shared_stats(&self) -> Result<Option<SharedStats>> {
        Ok(self.load_tally()?.map(|t| t.to_stats()))
    }

    /// Adds what this process counted since its last merge to the lifetime counters
    /// shared by every process, waiting for another process's merge to end. The worker
    /// does this on its own (see [`SharedStats`]); so do the explicit operations here.
    ///
    /// On failure nothing is marked as merged: the counts are added by the next merge.
    pub fn merge_stats(&self) -> Result<()> {
        self.merge_counters(true).map(|_| ())
    }

    /// Zeroes the lifetime counters shared by every process (ccache's `-z`): their
    /// `since` becomes now. Returns the totals they held (`None` if there were none), read
    /// under the same lock, so that a caller that reports and zeroes (a periodic
    /// `hoard stats --zero`) loses no count in between. What this process counted and had
    /// not merged yet is dropped with them; other processes add what they count from their
    /// next merge on.
    pub fn zero_stats(&self) -> Result<Option<SharedStats>> {
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let _lock = self.lock_counters(true)?.ok_or_else(|| {
            Error::new(
                ErrorKind::Io,
                "the store did not grant the named lock \"counters\" that guards the lifetime counters",
            )
        })?;
        // An unreadable state is overwritten too: zeroing is what the operator asked for.
        let before = match self.load_tally() {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the lifetime counters; zeroing them anyway");
                None
            }
        };
        self.store.write_state(
            &sidecar::counters_name(),
            &Tally::new(self.now_ms()).encode(),
        )?;
        *merged = self.counters.lifetime();
        Ok(before.map(|t| t.to_stats()))
    }

    fn lock_counters(&self, wait: bool) -> Result<Option<HeldLock>> {
        self.store
            .lock(LockTarget::Named(&sidecar::counters_lock()), wait)
    }

    /// The shared lifetime counters; `Ok(None)` when absent, damaged, larger than any blob
    /// of ours or not a regular file: all of which the next merge replaces. An error (I/O)
    /// means they could not be read, and must not be overwritten by a merge.
    fn load_tally(&self) -> Result<Option<Tally>> {
        match self
            .store
            .read_state(&sidecar::counters_name(), sidecar::COUNTERS_READ_LIMIT)
        {
            Ok(Some(blob)) => {
                let tally = Tally::decode(&blob);
                if tally.is_none() {
                    tracing::debug!("the lifetime counters are damaged; they restart from zero");
                }
                Ok(tally)
            }
            Ok(None) => Ok(None),
            Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::TooLarge) => {
                tracing::debug!(error = %e, "the lifetime counters are not usable; they restart from zero");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Adds the counts since the last merge to the shared lifetime counters, under the
    /// `counters` lock (read, add, write). `Ok(false)`: `wait` was false and another
    /// process held the lock; nothing was merged.
    pub(crate) fn merge_counters(&self, wait: bool) -> Result<bool> {
        let mut merged = self.merged.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.counters.lifetime();
        let mut delta = [0u64; LIFETIME_COUNTERS];
        for ((d, c), m) in delta.iter_mut().zip(&current).zip(merged.iter()) {
            *d = c.saturating_sub(*m);
        }
        if delta.iter().all(|&d| d == 0) {
            return Ok(true);
        }
        let Some(_lock) = self.lock_counters(wait)? else {
            return Ok(false);
        };
        let now_ms = self.now_ms();
        let mut tally = self.load_tally()?.unwrap_or_else(|| Tally::new(now_ms));
        tally.add(&delta);
        tally.updated_ms = now_ms;
        self.store
            .write_state(&sidecar::counters_name(), &tally.encode())?;
        *merged = current;
        Ok(true)
    }

    /// After an explicit operation: its counts go to the shared totals now, so that the
    /// next `hoard stats` shows them even if this process runs on. Best effort.
    pub(super) fn merge_after_operation(&self) {
        if let Err(e) = self.merge_counters(true) {
            self.error("cannot add to the lifetime counters", &e);
        }
    }
}
