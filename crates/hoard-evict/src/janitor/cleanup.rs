//! Cleanups: the accounting, the cut to the limits by last use, stale temp sweeping, and
//! the survey that reads the accounting.
//!
//! # How a cleanup works
//! 1. **Accounting.** For each bucket the store lists, the per-bucket record saved by the
//!    last cleanup is reused when the bucket's stamp still matches (no entry added, removed
//!    or replaced since); other buckets are scanned, and stale temp files found there are
//!    swept. The totals cost one stamp per bucket plus a scan of the buckets that changed,
//!    not a scan of every entry. The whole accounting is rebuilt after
//!    [`WorkerConfig::reconcile_interval`].
//! 2. **Under the soft limits**, that is all.
//! 3. **Over them**, last-use times are needed, and they change without touching a bucket's
//!    stamp, so every bucket is scanned once, keeping 24 bytes per entry (last use, a
//!    tie-breaker, size). Entries larger than the size target are evicted at once: they
//!    can never fit, and keeping them would flush everything else. The rest are sorted by
//!    last use, oldest first, and the cut that brings both the count and the size to their
//!    targets gives a threshold; a second pass over the buckets holding entries at or below
//!    it removes exactly those entries, each only if it is still the version scanned.
//!
//! Last use is the later of an entry's access and modification times, leaving out a time
//! more than [`WorkerConfig::allowed_clock_drift`] in the future: an entry written by a
//! machine whose clock runs days ahead but used here recently counts as used then (as in
//! wasmtime-cache, whose recent `.stats` file vouches for a module file from the future).
//! An entry with no time left (both missing, or both beyond the drift) counts as older than
//! any other, so a file stamped in 2100 cannot become immortal. A temp file is stale once
//! it is [`WorkerConfig::task_timeout`] old, that age included, or dated beyond the drift.
//! Equal times are broken by digest, smallest first, so the outcome is deterministic.
//!
//! [`WorkerConfig::reconcile_interval`]: crate::WorkerConfig::reconcile_interval
//! [`WorkerConfig::allowed_clock_drift`]: crate::WorkerConfig::allowed_clock_drift
//! [`WorkerConfig::task_timeout`]: crate::WorkerConfig::task_timeout

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use hoard_core::{Bucket, Digest, ItemKind, Namespace, Result};

use super::{Janitor, dur_ms, to_ms};
use crate::config::Limits;
use crate::sidecar::{self, Accounting, BucketRecord, Marker};
use crate::stats::Counters;

/// What a cleanup found and did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CleanupReport {
    /// Entries before the cleanup.
    pub entries_before: u64,
    /// Bytes before the cleanup.
    pub bytes_before: u64,
    /// Entries after the cleanup (as far as this cleanup knows: others may have written).
    pub entries_after: u64,
    /// Bytes after the cleanup.
    pub bytes_after: u64,
    /// Entries this cleanup evicted.
    pub evicted: u64,
    /// Bytes this cleanup evicted.
    pub evicted_bytes: u64,
    /// Stale temp files swept.
    pub temps_swept: u64,
    /// Buckets whose items were scanned.
    pub buckets_scanned: u64,
    /// Buckets in the store.
    pub buckets: u64,
}

/// Entries and bytes per namespace, as a [`Janitor::survey`] measured them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Survey {
    /// Entries in all namespaces.
    pub entries: u64,
    /// Bytes in all namespaces.
    pub bytes: u64,
    /// `(entries, bytes)` of each namespace.
    pub namespaces: BTreeMap<Namespace, (u64, u64)>,
}

/// The first eight bytes of a digest, big-endian: orders like the digest.
fn tie_of(d: &Digest) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&d.as_bytes()[..8]);
    u64::from_be_bytes(b)
}

/// The sort key of an entry for LRU: last use (ms), then digest.
type LruKey = (i64, u64);

impl Janitor {
    pub(crate) fn read_marker(&self) -> Option<Marker> {
        self.load_sidecar(&sidecar::marker_name(), "cleanup marker", Marker::decode)
    }

    /// When the next scheduled cleanup is due, per `marker`: a marker from further in the
    /// future than the allowed drift is garbage and makes a cleanup due now.
    pub(crate) fn due_ms(&self, marker: Option<&Marker>, now_ms: i64) -> i64 {
        match marker {
            Some(m)
                if m.started_ms
                    <= now_ms.saturating_add(dur_ms(self.config.allowed_clock_drift)) =>
            {
                m.started_ms
                    .saturating_add(dur_ms(self.config.cleanup_interval))
            }
            _ => i64::MIN,
        }
    }

    /// Runs a cleanup to the configured limits now, waiting for any other cleanup to end
    /// (see [`cleanup_with`](Self::cleanup_with)).
    pub fn cleanup_now(&self) -> Result<CleanupReport> {
        self.cleanup_with(self.config.limits)
    }

    /// Runs a cleanup to `limits` now, waiting for any other cleanup to end, for at most
    /// [`OPERATION_LOCK_WAIT`]: a `cleanup` lock held longer (by a stopped process, say) is
    /// an [`ErrorKind::Busy`](hoard_core::ErrorKind::Busy) error naming it, and nothing is
    /// done.
    ///
    /// [`OPERATION_LOCK_WAIT`]: crate::OPERATION_LOCK_WAIT
    pub fn cleanup_with(&self, limits: Limits) -> Result<CleanupReport> {
        let report = {
            let _lock = self.lock_cleanup_for_operation()?;
            self.cleanup_locked(limits, true)
        };
        // A failed cleanup may still have evicted some entries: merge either way.
        self.merge_after_operation();
        report
    }

    /// Runs a cleanup if one is due across every process sharing the store (the marker is
    /// older than [`WorkerConfig::cleanup_interval`]) and no other is running; `Ok(None)`
    /// otherwise.
    ///
    /// [`WorkerConfig::cleanup_interval`]: crate::WorkerConfig::cleanup_interval
    pub fn cleanup_if_due(&self) -> Result<Option<CleanupReport>> {
        let Some(_lock) = self.try_lock_cleanup()? else {
            return Ok(None);
        };
        let now_ms = self.now_ms();
        if self.due_ms(self.read_marker().as_ref(), now_ms) > now_ms {
            return Ok(None);
        }
        self.cleanup_locked(self.config.limits, true).map(Some)
    }

    /// A cleanup, with the cleanup lock held.
    fn cleanup_locked(&self, limits: Limits, mark: bool) -> Result<CleanupReport> {
        let now_ms = self.now_ms();
        if mark {
            // Claim the interval first, so that other processes skip it even if this
            // cleanup dies halfway; totals are filled in at the end.
            let previous = self.read_marker();
            let claim = Marker {
                started_ms: now_ms,
                entries: previous.map_or(0, |m| m.entries),
                bytes: previous.map_or(0, |m| m.bytes),
            };
            if let Err(e) = self
                .store
                .write_state(&sidecar::marker_name(), &claim.encode())
            {
                self.error("cannot write the cleanup marker", &e);
            }
        }
        Counters::add(&self.counters.cleanups, 1);
        let mut acct = self.load_accounting();
        let mut report = CleanupReport::default();
        let buckets = self.refresh(&mut acct, now_ms, &mut report)?;
        let (entries, bytes) = totals(&acct);
        report.entries_before = entries;
        report.bytes_before = bytes;
        report.entries_after = entries;
        report.bytes_after = bytes;
        if limits.exceeded_by(entries, bytes) {
            self.evict_lru(&buckets, &mut acct, limits, now_ms, &mut report)?;
            let (entries, bytes) = totals(&acct);
            report.entries_after = entries;
            report.bytes_after = bytes;
        }
        self.save_accounting(&acct);
        Counters::set(&self.counters.entries, report.entries_after);
        Counters::set(&self.counters.bytes, report.bytes_after);
        if mark {
            let done = Marker {
                started_ms: now_ms,
                entries: report.entries_after,
                bytes: report.bytes_after,
            };
            if let Err(e) = self
                .store
                .write_state(&sidecar::marker_name(), &done.encode())
            {
                self.error("cannot write the cleanup marker", &e);
            }
        }
        tracing::debug!(?report, "cleanup finished");
        Ok(report)
    }

    /// Every bucket in canonical order, with the accounting brought up to date: matching
    /// stamps reused, other buckets scanned (sweeping stale temps), vanished ones dropped.
    fn refresh(
        &self,
        acct: &mut Accounting,
        now_ms: i64,
        report: &mut CleanupReport,
    ) -> Result<Vec<Bucket>> {
        let reconcile = now_ms.saturating_sub(acct.reconciled_ms)
            >= dur_ms(self.config.reconcile_interval)
            || acct.reconciled_ms > now_ms;
        if reconcile {
            acct.buckets.clear();
            acct.reconciled_ms = now_ms;
        }
        let mut listed = Vec::new();
        self.store.buckets(&mut |info| {
            listed.push((info.bucket, info.stamp));
            ControlFlow::Continue(())
        })?;
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut fresh = BTreeMap::new();
        for (bucket, stamp) in &listed {
            let reuse = acct
                .buckets
                .get(bucket)
                .filter(|r| r.stamp.is_some() && r.stamp == *stamp && r.temp_due_ms > now_ms);
            let record = match reuse {
                Some(r) => *r,
                None => {
                    report.buckets_scanned += 1;
                    self.scan_for_accounting(bucket, now_ms, report)?
                }
            };
            fresh.insert(bucket.clone(), record);
        }
        acct.buckets = fresh;
        report.buckets = listed.len() as u64;
        Ok(listed.into_iter().map(|(b, _)| b).collect())
    }

    /// Counts a bucket's entries and bytes and sweeps its stale temp files.
    fn scan_for_accounting(
        &self,
        bucket: &Bucket,
        now_ms: i64,
        report: &mut CleanupReport,
    ) -> Result<BucketRecord> {
        let stale_before = now_ms.saturating_sub(dur_ms(self.config.task_timeout));
        let mut record = BucketRecord {
            stamp: None,
            entries: 0,
            bytes: 0,
            temp_due_ms: i64::MAX,
        };
        let mut stale = Vec::new();
        let stamp = self.store.scan_bucket(bucket, &mut |item| {
            match item.kind {
                ItemKind::Entry(_) => {
                    record.entries += 1;
                    record.bytes = record.bytes.saturating_add(item.stored_len);
                }
                ItemKind::Temp { .. } => {
                    let written = item.modified.map_or(i64::MIN, to_ms);
                    // Exactly `task_timeout` old is stale, as in wasmtime-cache
                    // (`elapsed >= timeout`).
                    if written <= stale_before
                        || written > now_ms.saturating_add(dur_ms(self.config.allowed_clock_drift))
                    {
                        stale.push(item);
                    } else {
                        let due = written.saturating_add(dur_ms(self.config.task_timeout));
                        record.temp_due_ms = record.temp_due_ms.min(due);
                    }
                }
                _ => {}
            }
            ControlFlow::Continue(())
        })?;
        let mut swept = 0;
        for item in &stale {
            match self.store.remove_item(bucket, item) {
                Ok(true) => swept += 1,
                Ok(false) => {}
                Err(e) => self.error("cannot sweep a stale temp file", &e),
            }
        }
        report.temps_swept += swept;
        Counters::add(&self.counters.temps_swept, swept);
        // Removing anything changed the bucket after its stamp was taken.
        record.stamp = if swept == 0 { stamp } else { None };
        Ok(record)
    }

    /// Evicts least recently used entries until `limits`' targets hold.
    fn evict_lru(
        &self,
        buckets: &[Bucket],
        acct: &mut Accounting,
        limits: Limits,
        now_ms: i64,
        report: &mut CleanupReport,
    ) -> Result<()> {
        let bytes_target = limits.bytes_target();
        let (estimate, _) = totals(acct);
        let mut keys: Vec<(LruKey, u64)> =
            Vec::with_capacity(usize::try_from(estimate).unwrap_or(0));
        let mut lowest: Vec<Option<LruKey>> = Vec::with_capacity(buckets.len());
        // Pass 1: last-use keys of everything; entries that can never fit go at once.
        for bucket in buckets {
            let temp_due_ms = acct.buckets.get(bucket).map_or(i64::MAX, |r| r.temp_due_ms);
            let (record, low) =
                self.scan_for_lru(bucket, bytes_target, temp_due_ms, now_ms, &mut keys, report)?;
            acct.buckets.insert(bucket.clone(), record);
            lowest.push(low);
        }
        report.buckets_scanned += buckets.len() as u64;
        let cut = lru_cut(&mut keys, limits.count_target(), bytes_target);
        drop(keys);
        if let Some(cut) = cut {
            self.evict_up_to(buckets, &lowest, cut, acct, now_ms, report)?;
        }
        Counters::add(&self.counters.evictions, report.evicted);
        Ok(())
    }

    /// Pass 1 over one bucket: appends the LRU key and size of each entry that can fit to
    /// `keys` and evicts those larger than `bytes_target`. Returns the bucket's new record
    /// and its lowest LRU key.
    fn scan_for_lru(
        &self,
        bucket: &Bucket,
        bytes_target: u64,
        temp_due_ms: i64,
        now_ms: i64,
        keys: &mut Vec<(LruKey, u64)>,
        report: &mut CleanupReport,
    ) -> Result<(BucketRecord, Option<LruKey>)> {
        let mut oversized = Vec::new();
        let mut low: Option<LruKey> = None;
        let mut record = BucketRecord {
            stamp: None,
            entries: 0,
            bytes: 0,
            temp_due_ms,
        };
        let stamp = self.store.scan_bucket(bucket, &mut |item| {
            if let ItemKind::Entry(d) = item.kind {
                if item.stored_len > bytes_target {
                    oversized.push(item);
                } else {
                    let key = (self.last_use_ms(&item, now_ms), tie_of(&d));
                    low = Some(low.map_or(key, |l: LruKey| l.min(key)));
                    keys.push((key, item.stored_len));
                    record.entries += 1;
                    record.bytes = record.bytes.saturating_add(item.stored_len);
                }
            }
            ControlFlow::Continue(())
        })?;
        record.stamp = stamp;
        for item in &oversized {
            match self.store.remove_item(bucket, item) {
                Ok(true) => {
                    report.evicted += 1;
                    report.evicted_bytes += item.stored_len;
                    record.stamp = None;
                }
                // Replaced or gone since the scan: count it as it is now, next time.
                Ok(false) => record.stamp = None,
                Err(e) => {
                    self.error("cannot evict a cache entry", &e);
                    record.stamp = None;
                }
            }
        }
        Ok((record, low))
    }

    /// Pass 2: removes every entry whose LRU key is at most `cut`.
    fn evict_up_to(
        &self,
        buckets: &[Bucket],
        lowest: &[Option<LruKey>],
        cut: LruKey,
        acct: &mut Accounting,
        now_ms: i64,
        report: &mut CleanupReport,
    ) -> Result<()> {
        for (bucket, low) in buckets.iter().zip(lowest) {
            if low.is_none_or(|l| l > cut) {
                continue;
            }
            let mut victims = Vec::new();
            self.store.scan_bucket(bucket, &mut |item| {
                if let ItemKind::Entry(d) = item.kind
                    && (self.last_use_ms(&item, now_ms), tie_of(&d)) <= cut
                {
                    victims.push(item);
                }
                ControlFlow::Continue(())
            })?;
            let (n, b) = self.remove_all(bucket, &victims);
            report.evicted += n;
            report.evicted_bytes += b;
            if let Some(r) = acct.buckets.get_mut(bucket) {
                r.entries = r.entries.saturating_sub(n);
                r.bytes = r.bytes.saturating_sub(b);
                r.stamp = None;
            }
        }
        Ok(())
    }

    /// Entries and bytes of every namespace, from the accounting where bucket stamps still
    /// match and by scanning the other buckets. Changes nothing.
    pub fn survey(&self) -> Result<Survey> {
        let acct = self.load_accounting();
        let mut survey = Survey::default();
        let mut listed = Vec::new();
        self.store.buckets(&mut |info| {
            listed.push(info);
            ControlFlow::Continue(())
        })?;
        for info in listed {
            let known = acct
                .buckets
                .get(&info.bucket)
                .filter(|r| r.stamp.is_some() && r.stamp == info.stamp);
            let (n, b) = match known {
                Some(r) => (r.entries, r.bytes),
                None => {
                    let (mut n, mut b) = (0u64, 0u64);
                    self.store.scan_bucket(&info.bucket, &mut |item| {
                        if let ItemKind::Entry(_) = item.kind {
                            n += 1;
                            b = b.saturating_add(item.stored_len);
                        }
                        ControlFlow::Continue(())
                    })?;
                    (n, b)
                }
            };
            survey.entries += n;
            survey.bytes = survey.bytes.saturating_add(b);
            let slot = survey
                .namespaces
                .entry(info.bucket.namespace().clone())
                .or_insert((0, 0));
            slot.0 += n;
            slot.1 = slot.1.saturating_add(b);
        }
        Counters::set(&self.counters.entries, survey.entries);
        Counters::set(&self.counters.bytes, survey.bytes);
        Ok(survey)
    }
}

/// The highest LRU key to evict so that what remains meets both targets; `None` when
/// `keys` already meet them. Sorts `keys` when it has to cut.
fn lru_cut(keys: &mut [(LruKey, u64)], count_target: u64, bytes_target: u64) -> Option<LruKey> {
    let mut count = keys.len() as u64;
    let mut bytes: u64 = keys.iter().map(|(_, len)| len).sum();
    if count <= count_target && bytes <= bytes_target {
        return None;
    }
    keys.sort_unstable_by_key(|(k, _)| *k);
    let mut cut = None;
    for (key, len) in keys.iter() {
        if count <= count_target && bytes <= bytes_target {
            break;
        }
        count -= 1;
        bytes -= len;
        cut = Some(*key);
    }
    cut
}

fn totals(acct: &Accounting) -> (u64, u64) {
    acct.buckets.values().fold((0u64, 0u64), |(n, b), r| {
        (n.saturating_add(r.entries), b.saturating_add(r.bytes))
    })
}
