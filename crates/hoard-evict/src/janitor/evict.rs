//! Explicit evictions: by age and by namespace, sweeping stale temp files on the way.

use std::ops::ControlFlow;
use std::time::Duration;

use hoard_core::{Item, ItemKind, LockTarget, Namespace, Result};

use super::{Janitor, dur_ms, to_ms};
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
    /// stale temp files. Waits for any running cleanup.
    pub fn evict_older_than(&self, age: Duration) -> Result<EvictReport> {
        let report = {
            let _lock = self.lock_cleanup(true)?;
            let now_ms = self.now_ms();
            let cutoff = now_ms.saturating_sub(dur_ms(age));
            self.evict_where(None, |j, item| j.last_use_ms(item, now_ms) < cutoff)
        };
        self.merge_after_operation();
        report
    }

    /// Evicts every entry of namespace `ns` (and its stale temp files) and forgets its use
    /// counts. Waits for any running cleanup.
    pub fn evict_namespace(&self, ns: &Namespace) -> Result<EvictReport> {
        let report = self.evict_namespace_locked(ns);
        self.merge_after_operation();
        report
    }

    fn evict_namespace_locked(&self, ns: &Namespace) -> Result<EvictReport> {
        let _lock = self.lock_cleanup(true)?;
        let report = self.evict_where(Some(ns), |_, _| true)?;
        let usage_lock = self
            .store
            .lock(LockTarget::Named(&sidecar::usage_lock()), true)?;
        if usage_lock.is_some() {
            let mut usage = self.load_usage();
            usage.records.remove(ns);
            self.save_usage(&usage);
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
                        if item.modified.map_or(i64::MIN, to_ms) < stale_before =>
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
