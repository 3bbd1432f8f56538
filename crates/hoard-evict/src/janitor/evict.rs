//! Explicit evictions: by age and by namespace, sweeping stale temp files on the way.

use std::ops::ControlFlow;
use std::time::Duration;

use hoard_core::{Item, ItemKind, LockTarget, Namespace, Result};

use super::{Janitor, dur_ms, to_ms};
use crate::lock::{self, MERGE_LOCK_WAIT};
use crate::sidecar;
use crate::stats::Counters;

/// What an explicit eviction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvictReport {
    /// Entries evicted.
    pub evicted: u64,
    /// Bytes evicted.
    pub evicted_bytes: u64,
    /// Stale temp files swept.
    pub temps_swept: u64,
}

impl Janitor {
    /// Evicts every entry (of every namespace) last used more than `age` ago, and sweeps
    /// stale temp files. Waits for any running cleanup, for at most
    /// [`OPERATION_LOCK_WAIT`]: a `cleanup` lock held longer is an
    /// [`ErrorKind::Busy`](hoard_core::ErrorKind::Busy) error naming it, and nothing is done.
    ///
    /// [`OPERATION_LOCK_WAIT`]: crate::OPERATION_LOCK_WAIT
    pub fn evict_older_than(&self, age: Duration) -> Result<EvictReport> {
        let report = {
            let _lock = self.lock_cleanup_for_operation()?;
            let now_ms = self.now_ms();
            let cutoff = now_ms.saturating_sub(dur_ms(age));
            self.evict_where(None, |j, item| j.last_use_ms(item, now_ms) < cutoff)
        };
        self.merge_after_operation();
        report
    }

    /// Evicts every entry of namespace `ns` (and its stale temp files) and forgets its use
    /// counts. Waits for any running cleanup, for at most [`OPERATION_LOCK_WAIT`]: a
    /// `cleanup` lock held longer is an [`ErrorKind::Busy`](hoard_core::ErrorKind::Busy)
    /// error naming it, and nothing is done. The use counts are forgotten only if the
    /// `usage` lock is free within [`MERGE_LOCK_WAIT`]; otherwise they stay (they are
    /// advisory: an entry that is gone is never recompressed) and a warning says so.
    ///
    /// [`OPERATION_LOCK_WAIT`]: crate::OPERATION_LOCK_WAIT
    /// [`MERGE_LOCK_WAIT`]: crate::MERGE_LOCK_WAIT
    pub fn evict_namespace(&self, ns: &Namespace) -> Result<EvictReport> {
        let report = self.evict_namespace_locked(ns);
        self.merge_after_operation();
        report
    }

    fn evict_namespace_locked(&self, ns: &Namespace) -> Result<EvictReport> {
        let _lock = self.lock_cleanup_for_operation()?;
        let report = self.evict_where(Some(ns), |_, _| true)?;
        let usage_lock = lock::lock_within(
            self.store.as_ref(),
            LockTarget::Named(&sidecar::usage_lock()),
            MERGE_LOCK_WAIT,
        )?;
        if usage_lock.is_some() {
            let mut usage = self.load_usage();
            usage.records.remove(ns);
            self.save_usage(&usage);
        } else {
            tracing::warn!(
                namespace = %ns,
                "the \"usage\" lock is held by another process: the namespace's use counts \
                 are kept"
            );
        }
        Ok(report)
    }

    fn evict_where(
        &self,
        only: Option<&Namespace>,
        evict: impl Fn(&Self, &Item) -> bool,
    ) -> Result<EvictReport> {
        let now_ms = self.now_ms();
        let stale_before = now_ms.saturating_sub(dur_ms(self.config.task_timeout));
        let buckets = self.buckets_of(only)?;
        let mut report = EvictReport::default();
        let mut acct = self.load_accounting();
        for bucket in &buckets {
            let mut victims = Vec::new();
            let mut stale = Vec::new();
            self.store.scan_bucket(bucket, &mut |item| {
                match item.kind {
                    ItemKind::Entry(_) if evict(self, &item) => victims.push(item),
                    ItemKind::Temp { .. }
                        if item.modified.map_or(i64::MIN, to_ms) <= stale_before =>
                    {
                        stale.push(item);
                    }
                    _ => {}
                }
                ControlFlow::Continue(())
            })?;
            let (n, b) = self.remove_all(bucket, &victims);
            let (t, _) = self.remove_all(bucket, &stale);
            report.evicted += n;
            report.evicted_bytes += b;
            report.temps_swept += t;
            if n + t > 0 {
                acct.buckets.remove(bucket);
            }
        }
        Counters::add(&self.counters.evictions, report.evicted);
        Counters::add(&self.counters.temps_swept, report.temps_swept);
        self.save_accounting(&acct);
        Ok(report)
    }
}
