//! Recompression of one entry (the worker's, for popular entries) or of many (an
//! operator's), and the use counts shared by every process that pick the popular entries.

use std::ops::ControlFlow;

use hoard_core::frame;
use hoard_core::read::{self, Disposition};
use hoard_core::{Codec, Digest, Error, ItemKind, LockTarget, Namespace, Result};

use super::Janitor;
use crate::sidecar::{self, Usage};
use crate::stats::Counters;

/// What a recompression of many entries did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecompressReport {
    /// Entries rewritten with the requested codec and level.
    pub recompressed: u64,
    /// Entries already at the requested codec and level, locked by another process,
    /// gone, larger than the maximum entry size, in a codec that cannot be decoded here, or
    /// replaced or removed while they were being recompressed (the newer put stays).
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
    /// Left as it was, for good: already at the target, not made smaller, gone, too large,
    /// or in a codec this build cannot decode (see [`RecompressReport::skipped`]).
    Skipped,
    /// Left as it was for now: another process held the entry's lock, or the entry was
    /// replaced or removed while it was being re-encoded (the newer version stays). Worth
    /// another attempt later; counted in [`RecompressReport::skipped`] by the operations
    /// over many entries.
    Busy,
    /// The entry failed verification and was removed.
    Corrupt,
}

/// Whether a recompression may replace an entry, and when it should.
#[derive(Clone, Copy, Debug)]
pub(super) enum Rule {
    /// The worker's rule: the same codec at a lower level, and only if the result is
    /// smaller.
    Upgrade,
    /// An operator's request: anything not already exactly at the target.
    Exactly,
    /// The adaptive format's cold conversion: anything not already the target codec at the
    /// target level or higher, and only if the result is smaller.
    Cold,
    /// The adaptive format's hot conversion: anything not exactly at the target, if the
    /// result takes at most this many bytes (the room left in the budget).
    Hot(u64),
}

/// One conversion: its outcome, and the entry as it was read (when it was).
pub(super) struct Converted {
    pub(super) outcome: Recompressed,
    pub(super) read: Option<(hoard_core::Bucket, hoard_core::Item)>,
}

impl Converted {
    fn only(outcome: Recompressed) -> Self {
        Self {
            outcome,
            read: None,
        }
    }
}

impl Janitor {
    /// Rewrites every entry (of `only`, or of every namespace) that is not already stored
    /// with `codec` at its level. Each entry is locked while it is rewritten, decoded in
    /// memory (at most [`WorkerConfig::max_entry_size`]), encoded, and swapped in with
    /// [`Housekeeping::replace_item`] only if it is still the version read, so that a put
    /// made meanwhile is never rolled back (the entry counts as skipped).
    ///
    /// [`Housekeeping::replace_item`]: hoard_core::Housekeeping::replace_item
    /// [`WorkerConfig::max_entry_size`]: crate::WorkerConfig::max_entry_size
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
        let buckets = self.buckets_of(only)?;
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
                    Recompressed::Skipped | Recompressed::Busy => report.skipped += 1,
                    Recompressed::Corrupt => report.corrupt += 1,
                }
            }
        }
        Ok(report)
    }

    /// Recompresses one entry at the optimized level if it is stored with the optimized
    /// codec at a lower level and the result is smaller (what the worker does for popular
    /// entries), and only if it is still the version read when the result is swapped in
    /// (as for [`recompress_all`](Self::recompress_all)). Without an optimized codec, skips.
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
        self.convert(ns, digest, codec, rule).map(|c| c.outcome)
    }

    /// Re-encodes one entry with `codec` if `rule` wants it: under the entry's lock (tried
    /// once), read with its version, verified, decoded, encoded, and swapped in only while
    /// the entry is still the version read.
    pub(super) fn convert(
        &self,
        ns: &Namespace,
        digest: &Digest,
        codec: &dyn Codec,
        rule: Rule,
    ) -> Result<Converted> {
        // The lock is on the entry's current version: another process recompressing the
        // same entry makes this one skip, and neither ever writes in place.
        let Some(_lock) = self.store.lock(LockTarget::Entry(ns, digest), false)? else {
            // No lock: another process holds it, or there is no entry to lock. A get with
            // no room tells them apart without reading (a missing entry is a plain miss;
            // any entry is over a limit of 0).
            return Ok(Converted::only(match self.store.get(ns, digest, 0) {
                Ok(None) => Recompressed::Skipped,
                _ => Recompressed::Busy,
            }));
        };
        // The item is the version of exactly these bytes (`read_versioned`), and the
        // replacement below happens only if the entry is still that version: what is
        // re-encoded is what is replaced, and a put that lands meanwhile wins.
        let read =
            read::read_versioned(self.store.as_ref(), ns, digest, self.config.max_entry_size);
        let (bucket, item, found) = match read {
            Ok(Some(read)) => read,
            Ok(None) => return Ok(Converted::only(Recompressed::Skipped)),
            Err(r) => {
                return self
                    .unreadable(ns, digest, r.into_error())
                    .map(Converted::only);
            }
        };
        let header = found.header().clone();
        let settled = |outcome| Converted {
            outcome,
            read: Some((bucket.clone(), item.clone())),
        };
        let wanted = match rule {
            Rule::Upgrade => header.codec == codec.id() && header.level < codec.level(),
            Rule::Exactly | Rule::Hot(_) => {
                header.codec != codec.id() || header.level != codec.level()
            }
            Rule::Cold => header.codec != codec.id() || header.level < codec.level(),
        };
        if !wanted {
            return Ok(settled(Recompressed::Skipped));
        }
        // An authenticated cache rewrites only what it can vouch for, and signs what it
        // writes: a conversion never turns a signed entry into an unsigned one, nor signs a
        // forgery.
        if let Some(keys) = &self.codecs.mac_keys
            && let Err(r) = found.authenticate(keys)
        {
            tracing::debug!(namespace = %ns, %digest, error = %r, "not rewriting an unauthenticated entry; leaving it in place");
            return Ok(settled(Recompressed::Skipped));
        }
        let decoded = match self.codecs.decoders.get(header.codec) {
            Some(decoder) => found.decode(decoder.as_ref()),
            None if codec.id() == header.codec => found.decode(codec),
            None => return Ok(settled(Recompressed::Skipped)),
        };
        let data = match decoded {
            Ok(d) => d,
            // The frame verified, so it is not damaged: its payload is another codec's
            // under the same id (or the codec has a bug). Never removed as corrupt
            // (`Disposition::Undecodable`); a failure to allocate is skipped likewise.
            Err(e) if matches!(e.disposition(), Disposition::Corrupt | Disposition::Skip) => {
                tracing::debug!(namespace = %ns, %digest, error = %e, "not recompressing an entry that does not decode; leaving it in place");
                return Ok(settled(Recompressed::Skipped));
            }
            Err(e) => return Err(e),
        };
        // On the worker's one thread, signed when the cache has keys.
        let options = match &self.codecs.mac_keys {
            Some(keys) => frame::FrameOptions::new().with_mac_keys(keys.clone()),
            None => frame::FrameOptions::new(),
        };
        let fresh = frame::encode_with(
            &header.key(),
            codec,
            &data,
            header.created_unix_ms,
            &options,
        )?;
        drop(data);
        let (before, after) = (found.as_bytes().len() as u64, fresh.len() as u64);
        match rule {
            Rule::Upgrade | Rule::Cold if after >= before => {
                return Ok(settled(Recompressed::Skipped));
            }
            // No room in the budget now; maybe later.
            Rule::Hot(room) if after > room => return Ok(settled(Recompressed::Busy)),
            _ => {}
        }
        if !self.store.replace_item(&bucket, &item, &fresh)? {
            return Ok(Converted::only(Recompressed::Busy));
        }
        Counters::add(&self.counters.recompressions, 1);
        Ok(settled(Recompressed::Done { before, after }))
    }

    /// What an entry that could not be read or decoded means for a recompression: a corrupt
    /// one is removed, one this build cannot use is skipped, a failed read is an error.
    fn unreadable(&self, ns: &Namespace, digest: &Digest, e: Error) -> Result<Recompressed> {
        match e.disposition() {
            Disposition::Corrupt => self.found_corrupt(ns, digest, &e),
            Disposition::Skip => Ok(Recompressed::Skipped),
            _ => Err(e),
        }
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
    /// returns those of them that reached [`WorkerConfig::usage_threshold`] and are not
    /// settled yet: the entries to recompress now. `Ok(None)` if another process is merging
    /// right now (try again later). Shorthand for [`merge_usage_with`](Self::merge_usage_with)
    /// with uses only.
    ///
    /// [`WorkerConfig::usage_threshold`]: crate::WorkerConfig::usage_threshold
    pub fn merge_usage(
        &self,
        ns: &Namespace,
        uses: &[(Digest, u32)],
    ) -> Result<Option<Vec<Digest>>> {
        self.merge_usage_with(ns, &UsageUpdate::new(uses))
    }

    /// Applies `update` to the use counts of `ns` shared by every process, under their lock
    /// (tried once): first the entries whose conversion is settled, then the resets, then
    /// the uses. Returns the entries named in the uses (a count of 0 asks for another
    /// attempt) whose count reached [`WorkerConfig::usage_threshold`] (in the adaptive
    /// format, [`Adaptive::hot_uses`]) and that are not settled: the entries
    /// to convert now. An entry stays a candidate, at every merge that names it, until some
    /// process reports it settled, so an attempt skipped for a busy lock or failed is
    /// retried (wasmtime-cache retries at every use past the threshold). `Ok(None)` if
    /// another process is merging right now (try again later).
    ///
    /// [`WorkerConfig::usage_threshold`]: crate::WorkerConfig::usage_threshold
    /// [`Adaptive::hot_uses`]: crate::Adaptive::hot_uses
    pub fn merge_usage_with(
        &self,
        ns: &Namespace,
        update: &UsageUpdate<'_>,
    ) -> Result<Option<Vec<Digest>>> {
        let Some(_lock) = self
            .store
            .lock(LockTarget::Named(&sidecar::usage_lock()), false)?
        else {
            return Ok(None);
        };
        let mut usage = self.load_usage();
        let threshold = self.usage_threshold();
        let mut candidates = Vec::new();
        let records = usage.records.entry(ns.clone()).or_default();
        for d in update.settled {
            if let Some(r) = records.get_mut(d) {
                r.settled = true;
            }
        }
        // After the settled ones: a put that raced with a conversion wins, and costs at
        // most one more look at the entry.
        for d in update.reset {
            records.remove(d);
        }
        for (d, n) in update.uses {
            let r = records.entry(*d).or_default();
            r.uses = r.uses.saturating_add(*n);
            if threshold > 0 && !r.settled && u64::from(r.uses) >= threshold {
                candidates.push(*d);
            }
        }
        usage.trim();
        self.save_usage(&usage);
        Ok(Some(candidates))
    }

    /// The use count that makes an entry a candidate for conversion (0: none): the
    /// adaptive format's hot uses when it is on, else the usage threshold.
    pub(crate) fn usage_threshold(&self) -> u64 {
        match self.config.adaptive {
            Some(a) => a.hot_uses,
            None => self.config.usage_threshold,
        }
    }

    /// Converts an entry past the threshold: made hot in the adaptive format, else
    /// recompressed at the optimized level.
    pub(crate) fn convert_popular(&self, ns: &Namespace, digest: &Digest) -> Result<Recompressed> {
        if self.config.adaptive.is_some() {
            self.make_hot(ns, digest)
        } else {
            self.recompress(ns, digest)
        }
    }
}

/// What a merge brings to the use counts shared by every process
/// ([`Janitor::merge_usage_with`]).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct UsageUpdate<'a> {
    /// Uses to add, per entry (0 asks for another look at an entry past the threshold).
    pub uses: &'a [(Digest, u32)],
    /// Entries found in, or converted to, the format their use count asks for: no process
    /// needs to look at them again until they are reset.
    pub settled: &'a [Digest],
    /// Entries rewritten since (a put, or in the adaptive format a cold conversion): their
    /// count starts again from zero, unsettled, as a put's fresh stats file does in
    /// wasmtime-cache.
    pub reset: &'a [Digest],
}

impl<'a> UsageUpdate<'a> {
    /// Uses only.
    pub fn new(uses: &'a [(Digest, u32)]) -> Self {
        Self {
            uses,
            ..Self::default()
        }
    }

    /// Sets the settled entries.
    #[must_use]
    pub fn settled(mut self, settled: &'a [Digest]) -> Self {
        self.settled = settled;
        self
    }

    /// Sets the entries whose counts start again.
    #[must_use]
    pub fn reset(mut self, reset: &'a [Digest]) -> Self {
        self.reset = reset;
        self
    }
}
