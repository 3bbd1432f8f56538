//! The adaptive format's conversions (see [`Adaptive`]): passes that make idle entries
//! cold (zstd at a high level) and keep the fast entries within their budget, and the
//! conversion of an entry that became hot back into the fast format.
//!
//! Every conversion is a recompression's: the entry's lock tried once (a busy entry is left
//! for later), the entry read with its version, verified, decoded, re-encoded, and swapped
//! in only while it is still the version read ([`Housekeeping::replace_item`]), so a newer
//! put always wins and a crash at any point leaves the old frame or the new one.
//!
//! A pass knows an entry is cold without reading it from the `adaptive-cold` state: the
//! version of every entry a pass found or made cold. An entry at another version (a put
//! since, or never seen) counts as fast, which is what a put writes.
//!
//! [`Adaptive`]: crate::Adaptive
//! [`Housekeeping::replace_item`]: hoard_core::Housekeeping::replace_item

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use hoard_core::{Bucket, Digest, ItemKind, LockTarget, Namespace, Result};

use super::recompress::Rule;
use super::{Janitor, dur_ms};
use crate::janitor::Recompressed;
use crate::janitor::recompress::UsageUpdate;
use crate::sidecar::{self, Cold};
use crate::table::DigestHash;

/// What a pass of the adaptive format did ([`Janitor::adapt`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdaptReport {
    /// Entries made cold (re-encoded with the cold codec).
    pub made_cold: u64,
    /// Entries looked at but left as they were: locked by another process, replaced
    /// meanwhile, already cold, or not made smaller.
    pub skipped: u64,
    /// Entries found failing verification (removed).
    pub corrupt: u64,
    /// Stored bytes of the entries made cold, before.
    pub bytes_before: u64,
    /// Stored bytes of the entries made cold, after.
    pub bytes_after: u64,
    /// Stored bytes of the namespace's entries in the fast format after the pass (entries
    /// not known to be cold count as fast).
    pub fast_bytes: u64,
    /// Stored bytes of the namespace's entries known to be cold after the pass.
    pub cold_bytes: u64,
    /// The budget of the fast entries, in bytes.
    pub budget: u64,
}

/// An entry a pass may make cold.
struct Candidate {
    last_use_ms: i64,
    digest: Digest,
    stored_len: u64,
    bucket: Bucket,
}

impl Janitor {
    /// Runs a pass of the adaptive format over the entries of `ns`, under the `adaptive`
    /// lock (tried once: `Ok(None)` if another process is running a pass): every entry not
    /// used for [`Adaptive::cold_after`] is made cold, and then, while the fast entries
    /// take more than their budget, the least recently used of them too. The use counts of
    /// the entries made cold start again from zero (if the `usage` lock is free; otherwise
    /// they keep their counts). Does nothing without [`WorkerConfig::adaptive`] and
    /// [`Codecs::adaptive`](crate::Codecs::adaptive).
    ///
    /// [`Adaptive::cold_after`]: crate::Adaptive::cold_after
    /// [`WorkerConfig::adaptive`]: crate::WorkerConfig::adaptive
    pub fn adapt(&self, ns: &Namespace) -> Result<Option<AdaptReport>> {
        let Some((report, made_cold)) = self.adapt_pass(ns)? else {
            return Ok(None);
        };
        if !made_cold.is_empty() {
            match self.merge_usage_with(ns, &UsageUpdate::default().reset(&made_cold)) {
                Ok(Some(_)) => {}
                Ok(None) => tracing::debug!(
                    "the \"usage\" lock is held by another process; the entries made cold \
                     keep their use counts"
                ),
                Err(e) => self.error("cannot reset the use counts of cold entries", &e),
            }
        }
        self.merge_after_operation();
        Ok(Some(report))
    }

    /// A pass; also returns the entries made cold, whose use counts the caller resets.
    pub(crate) fn adapt_pass(&self, ns: &Namespace) -> Result<Option<(AdaptReport, Vec<Digest>)>> {
        let (Some(policy), Some(codecs)) = (self.config.adaptive, &self.codecs.adaptive) else {
            return Ok(Some((AdaptReport::default(), Vec::new())));
        };
        let Some(_lock) = self
            .store
            .lock(LockTarget::Named(&sidecar::adaptive_lock()), false)?
        else {
            return Ok(None);
        };
        let now_ms = self.now_ms();
        let idle_since = now_ms.saturating_sub(dur_ms(policy.cold_after));
        let budget = policy.hot_budget(&self.config.limits);
        let mut state = self
            .load_sidecar(&sidecar::cold_name(), "adaptive state", Cold::decode)
            .unwrap_or_default();
        let known = state.records.remove(ns).unwrap_or_default();
        // Rebuilt from the scan: entries gone or rewritten drop out.
        let mut cold: HashMap<Digest, u128, DigestHash> = HashMap::with_hasher(DigestHash);
        let mut candidates = Vec::new();
        let mut report = AdaptReport {
            budget,
            ..AdaptReport::default()
        };
        for bucket in self.buckets_of(Some(ns))? {
            self.store.scan_bucket(&bucket, &mut |item| {
                if let ItemKind::Entry(d) = item.kind {
                    if known.get(&d) == Some(&item.version) {
                        cold.insert(d, item.version);
                        report.cold_bytes += item.stored_len;
                    } else {
                        report.fast_bytes += item.stored_len;
                        candidates.push(Candidate {
                            last_use_ms: self.last_use_ms(&item, now_ms),
                            digest: d,
                            stored_len: item.stored_len,
                            bucket: bucket.clone(),
                        });
                    }
                }
                ControlFlow::Continue(())
            })?;
        }
        candidates.sort_by_key(|c| (c.last_use_ms, c.digest));
        let mut made_cold: BTreeMap<Bucket, Vec<(Digest, u64)>> = BTreeMap::new();
        for c in candidates {
            // Oldest first: once one is recent and the budget holds, so are the rest.
            if (c.last_use_ms > idle_since && report.fast_bytes <= budget)
                || self.cancelled.load(Ordering::Relaxed)
            {
                break;
            }
            let converted = match self.convert(ns, &c.digest, codecs.cold.as_ref(), Rule::Cold) {
                Ok(converted) => converted,
                Err(e) => {
                    self.error("cannot make a cache entry cold", &e);
                    continue;
                }
            };
            match converted.outcome {
                Recompressed::Done { before, after } => {
                    report.made_cold += 1;
                    report.bytes_before += before;
                    report.bytes_after += after;
                    report.fast_bytes = report.fast_bytes.saturating_sub(c.stored_len);
                    report.cold_bytes += after;
                    made_cold
                        .entry(c.bucket)
                        .or_default()
                        .push((c.digest, after));
                }
                Recompressed::Busy => report.skipped += 1,
                Recompressed::Corrupt => {
                    report.corrupt += 1;
                    report.fast_bytes = report.fast_bytes.saturating_sub(c.stored_len);
                }
                // Read and left (already cold, or nothing to gain) or gone: either way not
                // a fast entry to look at again until it changes.
                Recompressed::Skipped => {
                    report.skipped += 1;
                    report.fast_bytes = report.fast_bytes.saturating_sub(c.stored_len);
                    if let Some((_, item)) = converted.read {
                        cold.insert(c.digest, item.version);
                        report.cold_bytes += item.stored_len;
                    }
                }
            }
        }
        // The versions of the frames just swapped in: a rescan of their buckets, taking an
        // entry whose size is the new frame's (a put since would almost surely differ; if
        // not, that entry is taken for cold until it changes, which costs nothing but
        // disk).
        let mut reset = Vec::new();
        for (bucket, entries) in &made_cold {
            reset.extend(entries.iter().map(|(d, _)| *d));
            let sizes: HashMap<Digest, u64, DigestHash> = entries.iter().copied().collect();
            let scanned = self.store.scan_bucket(bucket, &mut |item| {
                if let ItemKind::Entry(d) = item.kind
                    && sizes.get(&d) == Some(&item.stored_len)
                {
                    cold.insert(d, item.version);
                }
                ControlFlow::Continue(())
            });
            if let Err(e) = scanned {
                self.error("cannot list the entries made cold", &e);
            }
        }
        if !cold.is_empty() {
            state.records.insert(ns.clone(), cold);
        }
        if let Err(e) = self
            .store
            .write_state(&sidecar::cold_name(), &state.encode())
        {
            self.error("cannot save the adaptive state", &e);
        }
        self.fast_bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ns.clone(), report.fast_bytes);
        Ok(Some((report, reset)))
    }

    /// Makes an entry that became hot fast again: re-encodes it with the fast codec if it
    /// is stored otherwise and the result fits in what is left of the fast entries' budget
    /// (known from the last pass over `ns`). `Busy` when the entry is locked or changed, or
    /// there is no room (or no pass yet to know): worth another attempt later. `Skipped`
    /// without [`WorkerConfig::adaptive`](crate::WorkerConfig::adaptive) and
    /// [`Codecs::adaptive`](crate::Codecs::adaptive), or when the entry is already fast.
    pub fn make_hot(&self, ns: &Namespace, digest: &Digest) -> Result<Recompressed> {
        let (Some(policy), Some(codecs)) = (self.config.adaptive, &self.codecs.adaptive) else {
            return Ok(Recompressed::Skipped);
        };
        let budget = policy.hot_budget(&self.config.limits);
        let fast = self
            .fast_bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ns)
            .copied();
        let Some(fast) = fast else {
            return Ok(Recompressed::Busy);
        };
        let room = budget.saturating_sub(fast);
        if room == 0 {
            // Not worth reading the entry: nothing fits.
            return Ok(Recompressed::Busy);
        }
        let converted = self.convert(ns, digest, codecs.fast.as_ref(), Rule::Hot(room))?;
        if let Recompressed::Done { after, .. } = converted.outcome {
            let mut known = self
                .fast_bytes
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let f = known.entry(ns.clone()).or_default();
            *f = f.saturating_add(after);
        }
        Ok(converted.outcome)
    }
}
