//! [`Janitor`]: every maintenance operation, run synchronously on the caller's thread. The
//! [`Worker`](crate::Worker) runs the same operations in the background; the `hoard`
//! command calls them directly.
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
//! Last use is the later of an entry's access and modification times. A time more than
//! [`WorkerConfig::allowed_clock_drift`] in the future counts as older than any other (so
//! a file stamped in 2100 cannot become immortal); a missing time counts as just as old.
//! Equal times are broken by digest, smallest first, so the outcome is deterministic.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::frame::{self, Frame};
use hoard_core::{
    Bucket, Codec, CodecId, Digest, Error, ErrorKind, HeldLock, Housekeeping, Item, ItemKind, Key,
    LockTarget, Namespace, Result,
};

use crate::clock::{Clock, SystemClock};
use crate::config::{Limits, WorkerConfig};
use crate::sidecar::{self, Accounting, BucketRecord, Marker, Tally, Usage};
use crate::stats::{Counters, EvictStats, LIFETIME_COUNTERS, Lifetime, SharedStats};

/// The codecs the worker reads entries with and recompresses popular entries into.
#[derive(Clone, Default)]
pub struct Codecs {
    decoders: Vec<Arc<dyn Codec>>,
    optimized: Option<Arc<dyn Codec>>,
}

impl fmt::Debug for Codecs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Codecs")
            .field(
                "decoders",
                &self.decoders.iter().map(|c| c.id()).collect::<Vec<_>>(),
            )
            .field(
                "optimized",
                &self.optimized.as_ref().map(|c| (c.id(), c.level())),
            )
            .finish()
    }
}

impl Codecs {
    /// No codecs: nothing can be recompressed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a codec entries may be stored with.
    #[must_use]
    pub fn decoder(mut self, codec: Arc<dyn Codec>) -> Self {
        if !self.decoders.iter().any(|d| d.id() == codec.id()) {
            self.decoders.push(codec);
        }
        self
    }

    /// The codec, at its optimized level, that entries used
    /// [`WorkerConfig::usage_threshold`] times are recompressed into. Only entries stored
    /// with the same codec at a lower level are recompressed; it is also a decoder.
    #[must_use]
    pub fn optimized(mut self, codec: Arc<dyn Codec>) -> Self {
        self = self.decoder(Arc::clone(&codec));
        self.optimized = Some(codec);
        self
    }

    fn decoder_for(&self, id: CodecId) -> Option<&dyn Codec> {
        self.decoders
            .iter()
            .find(|d| d.id() == id)
            .map(|d| d.as_ref())
    }
}

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

/// What a recompression of many entries did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecompressReport {
    /// Entries rewritten with the requested codec and level.
    pub recompressed: u64,
    /// Entries already at the requested codec and level, locked by another process,
    /// gone, larger than the maximum entry size, or in a codec that cannot be decoded here.
    pub skipped: u64,
    /// Entries found failing verification (removed).
    pub corrupt: u64,
    /// Stored bytes before, of the entries rewritten.
    pub bytes_before: u64,
    /// Stored bytes after, of the entries rewritten.
    pub bytes_after: u64,
}

/// The outcome of one recompression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recompressed {
    /// Rewritten.
    Done {
        /// Stored bytes before.
        before: u64,
        /// Stored bytes after.
        after: u64,
    },
    /// Left as it was (see [`RecompressReport::skipped`]).
    Skipped,
    /// The entry failed verification and was removed.
    Corrupt,
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

/// Whether a recompression may replace an entry, and when it should.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// The worker's rule: the same codec at a lower level, and only if the result is
    /// smaller.
    Upgrade,
    /// An operator's request: anything not already exactly at the target.
    Exactly,
}

/// Synchronous maintenance of one store.
pub struct Janitor {
    store: Arc<dyn Housekeeping>,
    clock: Arc<dyn Clock>,
    config: WorkerConfig,
    codecs: Codecs,
    pub(crate) counters: Arc<Counters>,
    /// The lifetime counters already added to the shared totals: the next merge adds what
    /// was counted since. Held across a whole merge, so that the worker thread and an
    /// explicit operation on another thread never add the same counts twice.
    merged: Mutex<Lifetime>,
}

impl fmt::Debug for Janitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Janitor")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .field("config", &self.config)
            .field("codecs", &self.codecs)
            .finish_non_exhaustive()
    }
}

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

/// Milliseconds since the epoch, negative before it, saturating.
pub(crate) fn to_ms(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

fn dur_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
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
    /// A janitor for `store` with `config`, the system clock and no codecs.
    pub fn new(store: Arc<dyn Housekeeping>, config: WorkerConfig) -> Self {
        Self {
            store,
            clock: Arc::new(SystemClock),
            config,
            codecs: Codecs::new(),
            counters: Arc::new(Counters::default()),
            merged: Mutex::new([0; LIFETIME_COUNTERS]),
        }
    }

    /// Uses `clock` for every timing decision.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `codecs` to read and recompress entries.
    #[must_use]
    pub fn with_codecs(mut self, codecs: Codecs) -> Self {
        self.codecs = codecs;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Housekeeping> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

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
    fn merge_after_operation(&self) {
        if let Err(e) = self.merge_counters(true) {
            self.error("cannot add to the lifetime counters", &e);
        }
    }

    fn now_ms(&self) -> i64 {
        to_ms(self.clock.now())
    }

    /// An entry's last use for LRU (see the module docs).
    fn last_use_ms(&self, item: &Item, now_ms: i64) -> i64 {
        let newest = match (item.accessed, item.modified) {
            (Some(a), Some(m)) => to_ms(a.max(m)),
            (Some(t), None) | (None, Some(t)) => to_ms(t),
            (None, None) => return i64::MIN,
        };
        if newest > now_ms.saturating_add(dur_ms(self.config.allowed_clock_drift)) {
            i64::MIN
        } else {
            newest
        }
    }

    fn lock_cleanup(&self, wait: bool) -> Result<Option<HeldLock>> {
        self.store
            .lock(LockTarget::Named(&sidecar::cleanup_lock()), wait)
    }

    fn load_accounting(&self) -> Accounting {
        self.load_sidecar(
            &sidecar::accounting_name(),
            "accounting state",
            Accounting::decode,
        )
        .unwrap_or_default()
    }

    /// A sidecar decoded with `decode`; `None` when it is absent, damaged or unreadable, all
    /// of which the worker rebuilds from the entries (a sidecar is never the only record).
    fn load_sidecar<T>(
        &self,
        name: &hoard_core::StateName,
        what: &str,
        decode: fn(&[u8]) -> Option<T>,
    ) -> Option<T> {
        match self.store.read_state(name, sidecar::READ_LIMIT) {
            Ok(Some(blob)) => decode(&blob),
            Ok(None) => None,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the {what}; treating it as absent");
                None
            }
        }
    }

    fn save_accounting(&self, acct: &Accounting) {
        if let Err(e) = self
            .store
            .write_state(&sidecar::accounting_name(), &acct.encode())
        {
            self.error("cannot save the accounting state", &e);
        }
    }

    pub(crate) fn read_marker(&self) -> Option<Marker> {
        self.load_sidecar(&sidecar::marker_name(), "cleanup marker", Marker::decode)
    }

    pub(crate) fn error(&self, what: &str, e: &Error) {
        Counters::add(&self.counters.errors, 1);
        tracing::warn!(error = %e, "{what}");
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

    /// Runs a cleanup to the configured limits now, waiting for any other cleanup to end.
    pub fn cleanup_now(&self) -> Result<CleanupReport> {
        self.cleanup_with(self.config.limits)
    }

    /// Runs a cleanup to `limits` now, waiting for any other cleanup to end.
    pub fn cleanup_with(&self, limits: Limits) -> Result<CleanupReport> {
        let report = {
            let _lock = self.lock_cleanup(true)?;
            self.cleanup_locked(limits, true)
        };
        // A failed cleanup may still have evicted some entries: merge either way.
        self.merge_after_operation();
        report
    }

    /// Runs a cleanup if one is due across every process sharing the store (the marker is
    /// older than [`WorkerConfig::cleanup_interval`]) and no other is running; `Ok(None)`
    /// otherwise.
    pub fn cleanup_if_due(&self) -> Result<Option<CleanupReport>> {
        let Some(_lock) = self.lock_cleanup(false)? else {
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
                    if written < stale_before
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
        let count_target = limits.count_target();
        let (estimate, _) = totals(acct);
        let mut keys: Vec<(LruKey, u64)> =
            Vec::with_capacity(usize::try_from(estimate).unwrap_or(0));
        let mut lowest: Vec<Option<LruKey>> = Vec::with_capacity(buckets.len());
        // Pass 1: last-use keys of everything; entries that can never fit go at once.
        for bucket in buckets {
            let mut oversized = Vec::new();
            let mut low: Option<LruKey> = None;
            let mut record = BucketRecord {
                stamp: None,
                entries: 0,
                bytes: 0,
                temp_due_ms: acct.buckets.get(bucket).map_or(i64::MAX, |r| r.temp_due_ms),
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
            acct.buckets.insert(bucket.clone(), record);
            lowest.push(low);
        }
        report.buckets_scanned += buckets.len() as u64;
        let mut count = keys.len() as u64;
        let mut bytes: u64 = keys.iter().map(|(_, len)| len).sum();
        if count > count_target || bytes > bytes_target {
            keys.sort_unstable_by_key(|(k, _)| *k);
            let mut cut = None;
            for (key, len) in &keys {
                if count <= count_target && bytes <= bytes_target {
                    break;
                }
                count -= 1;
                bytes -= len;
                cut = Some(*key);
            }
            drop(keys);
            if let Some(cut) = cut {
                self.evict_up_to(buckets, &lowest, cut, acct, now_ms, report)?;
            }
        }
        Counters::add(&self.counters.evictions, report.evicted);
        Ok(())
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

    /// Removes `items` (each only if unchanged); returns how many and their bytes.
    fn remove_all(&self, bucket: &Bucket, items: &[Item]) -> (u64, u64) {
        let (mut n, mut bytes) = (0, 0);
        for item in items {
            match self.store.remove_item(bucket, item) {
                Ok(true) => {
                    n += 1;
                    bytes += item.stored_len;
                }
                Ok(false) => {}
                Err(e) => self.error("cannot evict a cache entry", &e),
            }
        }
        (n, bytes)
    }

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
        let mut buckets = Vec::new();
        self.store.buckets(&mut |info| {
            if only.is_none_or(|ns| info.bucket.namespace() == ns) {
                buckets.push(info.bucket);
            }
            ControlFlow::Continue(())
        })?;
        buckets.sort();
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

    /// Rewrites every entry (of `only`, or of every namespace) that is not already stored
    /// with `codec` at its level. Each entry is locked while it is rewritten, decoded in
    /// memory (at most [`WorkerConfig::max_entry_size`]), encoded, and put back through the
    /// store's atomic put.
    pub fn recompress_all(
        &self,
        codec: &dyn Codec,
        only: Option<&Namespace>,
    ) -> Result<RecompressReport> {
        let report = self.recompress_each(codec, only);
        self.merge_after_operation();
        report
    }

    fn recompress_each(
        &self,
        codec: &dyn Codec,
        only: Option<&Namespace>,
    ) -> Result<RecompressReport> {
        let mut buckets = Vec::new();
        self.store.buckets(&mut |info| {
            if only.is_none_or(|ns| info.bucket.namespace() == ns) {
                buckets.push(info.bucket);
            }
            ControlFlow::Continue(())
        })?;
        buckets.sort();
        let mut report = RecompressReport::default();
        for bucket in &buckets {
            let mut digests = Vec::new();
            self.store.scan_bucket(bucket, &mut |item| {
                if let ItemKind::Entry(d) = item.kind {
                    digests.push(d);
                }
                ControlFlow::Continue(())
            })?;
            for d in &digests {
                match self.recompress_with(bucket.namespace(), d, codec, Rule::Exactly)? {
                    Recompressed::Done { before, after } => {
                        report.recompressed += 1;
                        report.bytes_before += before;
                        report.bytes_after += after;
                    }
                    Recompressed::Skipped => report.skipped += 1,
                    Recompressed::Corrupt => report.corrupt += 1,
                }
            }
        }
        Ok(report)
    }

    /// Recompresses one entry at the optimized level if it is stored with the optimized
    /// codec at a lower level and the result is smaller (what the worker does for popular
    /// entries). Without an optimized codec, skips.
    pub fn recompress(&self, ns: &Namespace, digest: &Digest) -> Result<Recompressed> {
        let Some(codec) = self.codecs.optimized.clone() else {
            return Ok(Recompressed::Skipped);
        };
        self.recompress_with(ns, digest, codec.as_ref(), Rule::Upgrade)
    }

    fn recompress_with(
        &self,
        ns: &Namespace,
        digest: &Digest,
        codec: &dyn Codec,
        rule: Rule,
    ) -> Result<Recompressed> {
        // The lock is on the entry's current version: another process recompressing the
        // same entry makes this one skip, and neither ever writes in place.
        let Some(_lock) = self.store.lock(LockTarget::Entry(ns, digest), false)? else {
            return Ok(Recompressed::Skipped);
        };
        let limit = frame::max_frame_len(self.config.max_entry_size);
        let stored = match self.store.get(ns, digest, limit) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(Recompressed::Skipped),
            Err(e) if e.kind() == ErrorKind::TooLarge => return Ok(Recompressed::Skipped),
            Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Insecure) => {
                return self.found_corrupt(ns, digest, &e);
            }
            Err(e) => return Err(e),
        };
        let parsed = match Frame::parse(&stored) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::Corrupt => return self.found_corrupt(ns, digest, &e),
            Err(_) => return Ok(Recompressed::Skipped),
        };
        let hasher = parsed.header().hasher;
        let header = match parsed.verify_for(&Key::new(hasher, *digest), self.config.max_entry_size)
        {
            Ok(h) => h,
            Err(e) if e.kind() == ErrorKind::Corrupt => return self.found_corrupt(ns, digest, &e),
            Err(_) => return Ok(Recompressed::Skipped),
        };
        let wanted = match rule {
            Rule::Upgrade => header.codec == codec.id() && header.level < codec.level(),
            Rule::Exactly => header.codec != codec.id() || header.level != codec.level(),
        };
        if !wanted {
            return Ok(Recompressed::Skipped);
        }
        let Some(decoder) = self
            .codecs
            .decoder_for(header.codec)
            .or_else(|| (codec.id() == header.codec).then_some(codec))
        else {
            return Ok(Recompressed::Skipped);
        };
        let data = match parsed.decode(decoder) {
            Ok(d) => d,
            Err(e) if e.kind() == ErrorKind::Corrupt => return self.found_corrupt(ns, digest, &e),
            Err(_) => return Ok(Recompressed::Skipped),
        };
        let fresh = frame::encode(&header.key(), codec, &data, header.created_unix_ms)?;
        drop(data);
        let (before, after) = (stored.len() as u64, fresh.len() as u64);
        if matches!(rule, Rule::Upgrade) && after >= before {
            return Ok(Recompressed::Skipped);
        }
        self.store.put(ns, digest, &fresh)?;
        Counters::add(&self.counters.recompressions, 1);
        Ok(Recompressed::Done { before, after })
    }

    fn found_corrupt(&self, ns: &Namespace, digest: &Digest, e: &Error) -> Result<Recompressed> {
        Counters::add(&self.counters.corrupt, 1);
        tracing::warn!(namespace = %ns, %digest, error = %e, "removing a cache entry that failed verification");
        if let Err(e) = self.store.remove(ns, digest) {
            self.error("cannot remove a bad cache entry", &e);
        }
        Ok(Recompressed::Corrupt)
    }

    pub(crate) fn load_usage(&self) -> Usage {
        self.load_sidecar(&sidecar::usage_name(), "usage state", Usage::decode)
            .unwrap_or_default()
    }

    pub(crate) fn save_usage(&self, usage: &Usage) {
        if let Err(e) = self
            .store
            .write_state(&sidecar::usage_name(), &usage.encode())
        {
            self.error("cannot save the usage state", &e);
        }
    }

    /// Adds `uses` of entries of `ns` to the use counts shared by every process, and
    /// returns the entries that reached [`WorkerConfig::usage_threshold`] and are now
    /// claimed by this caller for recompression. `Ok(None)` if another process is merging
    /// right now (try again later).
    pub fn merge_usage(
        &self,
        ns: &Namespace,
        uses: &[(Digest, u32)],
    ) -> Result<Option<Vec<Digest>>> {
        let Some(_lock) = self
            .store
            .lock(LockTarget::Named(&sidecar::usage_lock()), false)?
        else {
            return Ok(None);
        };
        let mut usage = self.load_usage();
        let threshold = self.config.usage_threshold;
        let mut claimed = Vec::new();
        let records = usage.records.entry(ns.clone()).or_default();
        for (d, n) in uses {
            let r = records.entry(*d).or_default();
            r.uses = r.uses.saturating_add(*n);
            if threshold > 0 && !r.claimed && u64::from(r.uses) >= threshold {
                r.claimed = true;
                claimed.push(*d);
            }
        }
        usage.trim();
        self.save_usage(&usage);
        Ok(Some(claimed))
    }
}

fn totals(acct: &Accounting) -> (u64, u64) {
    acct.buckets.values().fold((0u64, 0u64), |(n, b), r| {
        (n.saturating_add(r.entries), b.saturating_add(r.bytes))
    })
}
