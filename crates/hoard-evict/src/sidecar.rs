//! The worker's sidecar state, stored through [`Housekeeping::write_state`]: the cleanup
//! marker, the per-bucket accounting, the shared use counts and the lifetime counters.
//!
//! Every blob is an envelope: magic `hoardst1` (8 bytes), a kind tag (u32), the payload
//! length (u64), the payload, then XXH3-64 of everything before it (u64); all integers
//! little-endian. A blob that fails any check, of any kind, is treated as absent: state is
//! an optimisation, never a source of truth the cache depends on.
//!
//! [`Housekeeping::write_state`]: hoard_core::Housekeeping::write_state

use std::collections::{BTreeMap, HashMap};

use hoard_core::{Bucket, DIGEST_LEN, Digest, Namespace, StateName};

use crate::stats::{LIFETIME_COUNTERS, Lifetime};
use crate::table::DigestHash;
use twox_hash::XxHash3_64;

const MAGIC: &[u8; 8] = b"hoardst1";
const ENVELOPE: usize = 8 + 4 + 8 + 8;

/// The largest state blob read back (a million usage records would be about 45 MB; the
/// usage state is capped far below that).
pub(crate) const READ_LIMIT: u64 = 64 << 20;

/// Kind tags, never reused.
const MARKER_KIND: u32 = 1;
const ACCOUNTING_KIND: u32 = 2;
const USAGE_KIND: u32 = 3;
const COUNTERS_KIND: u32 = 4;
const NAMED_COUNTERS_KIND: u32 = 5;
const COLD_KIND: u32 = 6;

/// The largest counters blob read back: a valid one is under 200 bytes, and anything much
/// larger is not ours (treated as absent and replaced, never allocated for).
pub(crate) const COUNTERS_READ_LIMIT: u64 = 64 << 10;

pub(crate) fn marker_name() -> StateName {
    StateName::new("cleanup-marker").expect("a valid state name")
}

pub(crate) fn accounting_name() -> StateName {
    StateName::new("accounting").expect("a valid state name")
}

pub(crate) fn usage_name() -> StateName {
    StateName::new("usage").expect("a valid state name")
}

pub(crate) fn counters_name() -> StateName {
    StateName::new("counters").expect("a valid state name")
}

pub(crate) fn named_counters_name() -> StateName {
    StateName::new("named-counters").expect("a valid state name")
}

/// The named lock held while adding to the lifetime counters (read, add, write).
pub(crate) fn counters_lock() -> StateName {
    StateName::new("counters").expect("a valid state name")
}

/// The named lock held by a cleanup (and by the explicit eviction operations).
pub(crate) fn cleanup_lock() -> StateName {
    StateName::new("cleanup").expect("a valid state name")
}

pub(crate) fn cold_name() -> StateName {
    StateName::new("adaptive-cold").expect("a valid state name")
}

/// The named lock held by a pass of the adaptive format looking for cold entries.
pub(crate) fn adaptive_lock() -> StateName {
    StateName::new("adaptive").expect("a valid state name")
}

/// The named lock held while merging use counts.
pub(crate) fn usage_lock() -> StateName {
    StateName::new("usage").expect("a valid state name")
}

fn seal(kind: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENVELOPE + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let sum = XxHash3_64::oneshot(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

fn open(kind: u32, blob: &[u8]) -> Option<&[u8]> {
    if blob.len() < ENVELOPE || &blob[..8] != MAGIC {
        return None;
    }
    let (body, sum) = blob.split_at(blob.len() - 8);
    if XxHash3_64::oneshot(body).to_le_bytes() != sum {
        return None;
    }
    let mut r = Reader(&body[8..]);
    if r.u32()? != kind {
        return None;
    }
    let len = usize::try_from(r.u64()?).ok()?;
    (r.0.len() == len).then_some(r.0)
}

/// A cursor over a payload; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// A namespace name of a record list grouped by namespace: `last` again (shared, not
    /// re-validated) when the name repeats it, else the name checked anew.
    fn namespace(&mut self, last: Option<&Namespace>) -> Option<Namespace> {
        let name = self.short_str()?;
        match last {
            Some(ns) if ns.as_str() == name => Some(ns.clone()),
            _ => Namespace::new(name).ok(),
        }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.take(16)?.try_into().ok()?))
    }
    fn short_str(&mut self) -> Option<&'a str> {
        let n = usize::from(self.u8()?);
        std::str::from_utf8(self.take(n)?).ok()
    }
    fn digest(&mut self) -> Option<Digest> {
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(self.take(DIGEST_LEN)?);
        Some(Digest::from_bytes(d))
    }
}

fn put_short_str(out: &mut Vec<u8>, s: &str) {
    // Namespaces are at most 100 bytes and bucket names 16: both fit a length byte.
    let len = u8::try_from(s.len()).expect("namespace and bucket names are short");
    out.push(len);
    out.extend_from_slice(s.as_bytes());
}

/// The cleanup marker: when the last scheduled cleanup started, and what the cache held
/// after the last cleanup.
///
/// Payload: start time (i64, ms since the epoch), entries (u64), bytes (u64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) started_ms: i64,
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
}

impl Marker {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(24);
        p.extend_from_slice(&self.started_ms.to_le_bytes());
        p.extend_from_slice(&self.entries.to_le_bytes());
        p.extend_from_slice(&self.bytes.to_le_bytes());
        seal(MARKER_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(MARKER_KIND, blob)?);
        let m = Self {
            started_ms: r.i64()?,
            entries: r.u64()?,
            bytes: r.u64()?,
        };
        r.0.is_empty().then_some(m)
    }
}

/// What one bucket held when it was last scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BucketRecord {
    /// The stamp the scan returned; `None` means "rescan next time".
    pub(crate) stamp: Option<u128>,
    pub(crate) entries: u64,
    pub(crate) bytes: u64,
    /// When the oldest temp file left in the bucket becomes stale (ms), or `i64::MAX`.
    pub(crate) temp_due_ms: i64,
}

/// Per-bucket accounting, and when it was last rebuilt from scratch.
///
/// Payload: reconciled-at (i64 ms), record count (u32), then per record: namespace (u8
/// length + bytes), bucket name (u8 length + bytes), stamp flag (u8) and stamp (u128),
/// entries (u64), bytes (u64), temp due time (i64 ms).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Accounting {
    pub(crate) reconciled_ms: i64,
    pub(crate) buckets: BTreeMap<Bucket, BucketRecord>,
}

impl Accounting {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(12 + self.buckets.len() * 64);
        p.extend_from_slice(&self.reconciled_ms.to_le_bytes());
        p.extend_from_slice(
            &u32::try_from(self.buckets.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (b, r) in self.buckets.iter().take(u32::MAX as usize) {
            put_short_str(&mut p, b.namespace().as_str());
            put_short_str(&mut p, b.name());
            p.push(u8::from(r.stamp.is_some()));
            p.extend_from_slice(&r.stamp.unwrap_or(0).to_le_bytes());
            p.extend_from_slice(&r.entries.to_le_bytes());
            p.extend_from_slice(&r.bytes.to_le_bytes());
            p.extend_from_slice(&r.temp_due_ms.to_le_bytes());
        }
        seal(ACCOUNTING_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(ACCOUNTING_KIND, blob)?);
        let reconciled_ms = r.i64()?;
        let n = r.u32()?;
        let mut buckets = BTreeMap::new();
        for _ in 0..n {
            let ns = Namespace::new(r.short_str()?).ok()?;
            let bucket = Bucket::new(ns, r.short_str()?).ok()?;
            let has = r.u8()?;
            let stamp = r.u128()?;
            let rec = BucketRecord {
                stamp: match has {
                    0 => None,
                    1 => Some(stamp),
                    _ => return None,
                },
                entries: r.u64()?,
                bytes: r.u64()?,
                temp_due_ms: r.i64()?,
            };
            buckets.insert(bucket, rec);
        }
        r.0.is_empty().then_some(Self {
            reconciled_ms,
            buckets,
        })
    }
}

/// Use counts shared by every process: per entry, the uses counted since it was last put
/// (or, in the adaptive format, last made cold), and whether its conversion is settled.
///
/// Payload: record count (u32), then per record: namespace (u8 length + bytes), digest (32
/// bytes), uses (u32), flags (u8: bit 1 = settled: the entry was found in, or converted to,
/// the format its use count asks for; bit 0 = "claimed", written by older builds, which
/// handed each entry to one recompression attempt only: read and dropped, so that such
/// entries get another attempt).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Per namespace, so that merging thousands of counts does not copy the namespace for
    /// each.
    pub(crate) records: HashMap<Namespace, HashMap<Digest, UsageRecord, DigestHash>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UsageRecord {
    pub(crate) uses: u32,
    /// The entry's conversion is done: no process needs to look at it again until a put or
    /// a cold conversion resets the record.
    pub(crate) settled: bool,
}

/// [`UsageRecord::settled`] in the flags byte.
const SETTLED: u8 = 1 << 1;
/// Older builds' "claimed" bit: accepted, then dropped.
const CLAIMED_BY_OLDER_BUILDS: u8 = 1 << 0;

/// Most records the shared usage state keeps; beyond it the least used are forgotten
/// (about 3 MB of state).
pub(crate) const USAGE_CAP: usize = 65_536;

impl Usage {
    pub(crate) fn len(&self) -> usize {
        self.records.values().map(HashMap::len).sum()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let n = self.len();
        let mut p = Vec::with_capacity(4 + n * 50);
        p.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
        for (ns, records) in &self.records {
            for (d, r) in records {
                put_short_str(&mut p, ns.as_str());
                p.extend_from_slice(d.as_bytes());
                p.extend_from_slice(&r.uses.to_le_bytes());
                p.push(if r.settled { SETTLED } else { 0 });
            }
        }
        seal(USAGE_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(USAGE_KIND, blob)?);
        let n = r.u32()?;
        let mut records: HashMap<Namespace, HashMap<Digest, UsageRecord, DigestHash>> =
            HashMap::new();
        let mut last: Option<Namespace> = None;
        for _ in 0..n {
            let ns = r.namespace(last.as_ref())?;
            let d = r.digest()?;
            let uses = r.u32()?;
            let flags = r.u8()?;
            if flags & !(SETTLED | CLAIMED_BY_OLDER_BUILDS) != 0 {
                return None;
            }
            let settled = flags & SETTLED != 0;
            records
                .entry(ns.clone())
                .or_default()
                .insert(d, UsageRecord { uses, settled });
            last = Some(ns);
        }
        r.0.is_empty().then_some(Self { records })
    }

    /// Forgets the least used records beyond [`USAGE_CAP`]; returns how many.
    pub(crate) fn trim(&mut self) -> usize {
        let excess = self.len().saturating_sub(USAGE_CAP);
        if excess == 0 {
            return 0;
        }
        let mut uses: Vec<u32> = self
            .records
            .values()
            .flat_map(|m| m.values().map(|r| r.uses))
            .collect();
        let (_, cut, _) = uses.select_nth_unstable(excess - 1);
        let cut = *cut;
        let mut removed = 0;
        for records in self.records.values_mut() {
            records.retain(|_, r| {
                if removed < excess && r.uses <= cut {
                    removed += 1;
                    false
                } else {
                    true
                }
            });
        }
        self.records.retain(|_, m| !m.is_empty());
        removed
    }
}

/// The entries the adaptive format's passes found or made cold, each with the version it
/// had then: an entry still at that version is cold without being read again.
///
/// Payload: record count (u32), then per record: namespace (u8 length + bytes), digest (32
/// bytes), version (u128). At most [`COLD_CAP`] records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cold {
    pub(crate) records: HashMap<Namespace, HashMap<Digest, u128, DigestHash>>,
}

/// Most records of the cold state (about 14 MB); entries beyond it are read again by each
/// pass that finds them idle.
pub(crate) const COLD_CAP: usize = 262_144;

impl Cold {
    pub(crate) fn len(&self) -> usize {
        self.records.values().map(HashMap::len).sum()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let n = self.len().min(COLD_CAP);
        let mut p = Vec::with_capacity(4 + n * 60);
        p.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
        let all = self
            .records
            .iter()
            .flat_map(|(ns, records)| records.iter().map(move |(d, v)| (ns, d, v)));
        for (ns, d, v) in all.take(n) {
            put_short_str(&mut p, ns.as_str());
            p.extend_from_slice(d.as_bytes());
            p.extend_from_slice(&v.to_le_bytes());
        }
        seal(COLD_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(COLD_KIND, blob)?);
        let n = r.u32()?;
        let mut records: HashMap<Namespace, HashMap<Digest, u128, DigestHash>> = HashMap::new();
        let mut last: Option<Namespace> = None;
        for _ in 0..n {
            let ns = r.namespace(last.as_ref())?;
            let d = r.digest()?;
            let version = r.u128()?;
            records.entry(ns.clone()).or_default().insert(d, version);
            last = Some(ns);
        }
        r.0.is_empty().then_some(Self { records })
    }
}

/// The lifetime counters shared by every process, and since when.
///
/// Payload: created-or-zeroed-at (i64 ms), updated-at (i64 ms), counter count (u32), then
/// that many counters (u64 each) in [`Lifetime`]'s order. A later version only appends
/// counters: a blob with fewer reads the missing ones as zero, and the counters this
/// version does not know are kept in `later` and written back unchanged, so that an older
/// process merging its counts never drops a newer one's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) since_ms: i64,
    pub(crate) updated_ms: i64,
    pub(crate) counts: Lifetime,
    pub(crate) later: Vec<u64>,
}

impl Tally {
    /// Zero counters, created at `now_ms`.
    pub(crate) fn new(now_ms: i64) -> Self {
        Self {
            since_ms: now_ms,
            updated_ms: now_ms,
            counts: [0; LIFETIME_COUNTERS],
            later: Vec::new(),
        }
    }

    /// Adds `delta` to each counter (saturating: a counter pinned at the maximum is more
    /// honest than one that wrapped to zero).
    pub(crate) fn add(&mut self, delta: &Lifetime) {
        for (c, d) in self.counts.iter_mut().zip(delta) {
            *c = c.saturating_add(*d);
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let n = LIFETIME_COUNTERS + self.later.len();
        let mut p = Vec::with_capacity(20 + n * 8);
        p.extend_from_slice(&self.since_ms.to_le_bytes());
        p.extend_from_slice(&self.updated_ms.to_le_bytes());
        p.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
        for c in self
            .counts
            .iter()
            .chain(&self.later)
            .take(u32::MAX as usize)
        {
            p.extend_from_slice(&c.to_le_bytes());
        }
        seal(COUNTERS_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(COUNTERS_KIND, blob)?);
        let since_ms = r.i64()?;
        let updated_ms = r.i64()?;
        let n = usize::try_from(r.u32()?).ok()?;
        // The declared count must match the bytes present before anything is allocated.
        if r.0.len() != n.checked_mul(8)? {
            return None;
        }
        let mut t = Self {
            since_ms,
            updated_ms,
            counts: [0; LIFETIME_COUNTERS],
            later: Vec::with_capacity(n.saturating_sub(LIFETIME_COUNTERS)),
        };
        for i in 0..n {
            let c = r.u64()?;
            match t.counts.get_mut(i) {
                Some(slot) => *slot = c,
                None => t.later.push(c),
            }
        }
        r.0.is_empty().then_some(t)
    }
}

/// The most named counters kept: a source with more is not one of hoard's.
pub(crate) const NAMED_COUNTERS_CAP: usize = 1024;

/// Whether `name` may name a named counter: 1 to 64 bytes of `[a-z0-9_.]`.
pub(crate) fn valid_counter_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
}

/// The named lifetime counters (those a [`CounterSource`](crate::CounterSource) adds),
/// kept beside the [`Tally`] under the same lock, merged and zeroed with it.
///
/// Payload: counter count (u32, at most [`NAMED_COUNTERS_CAP`]), then per counter, in name
/// order: name (u8 length + bytes, see [`valid_counter_name`]), value (u64).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct NamedTally {
    pub(crate) counts: BTreeMap<String, u64>,
}

impl NamedTally {
    /// Adds `delta` to the named counters (saturating); names that are not valid, or past
    /// the cap, are dropped.
    pub(crate) fn add(&mut self, delta: &BTreeMap<String, u64>) {
        for (name, d) in delta {
            if !valid_counter_name(name) {
                continue;
            }
            if let Some(c) = self.counts.get_mut(name) {
                *c = c.saturating_add(*d);
            } else if self.counts.len() < NAMED_COUNTERS_CAP {
                self.counts.insert(name.clone(), *d);
            }
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(4 + self.counts.len() * 40);
        let n = self.counts.len().min(NAMED_COUNTERS_CAP);
        p.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
        for (name, value) in self.counts.iter().take(n) {
            put_short_str(&mut p, name);
            p.extend_from_slice(&value.to_le_bytes());
        }
        seal(NAMED_COUNTERS_KIND, &p)
    }

    pub(crate) fn decode(blob: &[u8]) -> Option<Self> {
        let mut r = Reader(open(NAMED_COUNTERS_KIND, blob)?);
        let n = usize::try_from(r.u32()?).ok()?;
        if n > NAMED_COUNTERS_CAP {
            return None;
        }
        let mut counts = BTreeMap::new();
        for _ in 0..n {
            let name = r.short_str()?;
            if !valid_counter_name(name) {
                return None;
            }
            let value = r.u64()?;
            if counts.insert(name.to_owned(), value).is_some() {
                return None;
            }
        }
        r.0.is_empty().then_some(Self { counts })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ns(s: &str) -> Namespace {
        Namespace::new(s).expect("valid")
    }

    #[test]
    fn blobs_round_trip() {
        let m = Marker {
            started_ms: -5,
            entries: 7,
            bytes: 9,
        };
        assert_eq!(Marker::decode(&m.encode()), Some(m));
        let mut a = Accounting {
            reconciled_ms: 42,
            ..Accounting::default()
        };
        a.buckets.insert(
            Bucket::new(ns("a"), "Zz").expect("valid"),
            BucketRecord {
                stamp: Some(u128::MAX),
                entries: 3,
                bytes: 4,
                temp_due_ms: i64::MAX,
            },
        );
        a.buckets.insert(
            Bucket::new(ns("b-1.0"), "_-").expect("valid"),
            BucketRecord {
                stamp: None,
                entries: 0,
                bytes: 0,
                temp_due_ms: -1,
            },
        );
        assert_eq!(Accounting::decode(&a.encode()), Some(a));
        let mut u = Usage::default();
        u.records.entry(ns("x")).or_default().insert(
            Digest::from_bytes([3; 32]),
            UsageRecord {
                uses: 300,
                settled: true,
            },
        );
        assert_eq!(Usage::decode(&u.encode()), Some(u.clone()));
        let mut c = Cold::default();
        c.records
            .entry(ns("x"))
            .or_default()
            .insert(Digest::from_bytes([4; 32]), u128::MAX - 3);
        c.records
            .entry(ns("y"))
            .or_default()
            .insert(Digest::from_bytes([5; 32]), 7);
        assert_eq!(Cold::decode(&c.encode()), Some(c.clone()));
        assert_eq!(Cold::decode(&u.encode()), None);
        // An older build's "claimed" bit reads as not settled: the entry gets another try.
        let mut older = u.encode();
        let flags_at = older.len() - 8 - 1;
        older[flags_at] = CLAIMED_BY_OLDER_BUILDS;
        let body = older.len() - 8;
        let sum = XxHash3_64::oneshot(&older[..body]);
        older[body..].copy_from_slice(&sum.to_le_bytes());
        let read = Usage::decode(&older).expect("an older build's usage state");
        assert_eq!(
            read.records[&ns("x")][&Digest::from_bytes([3; 32])],
            UsageRecord {
                uses: 300,
                settled: false
            }
        );
        let mut t = Tally::new(-7);
        t.updated_ms = 9;
        t.add(&[1, 2, 3, 4, 5, 6, 7, 8, 9, u64::MAX]);
        t.add(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(t.counts, [2, 2, 3, 4, 5, 6, 7, 8, 9, u64::MAX]);
        assert_eq!(Tally::decode(&t.encode()), Some(t.clone()));
        // A blob of one kind is not another.
        assert_eq!(Usage::decode(&m.encode()), None);
        assert_eq!(Tally::decode(&m.encode()), None);
        assert_eq!(Marker::decode(&t.encode()), None);
    }

    /// A tally with `n` counters, as an older (fewer) or newer (more) version writes it.
    fn tally_of(n: u32) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&5i64.to_le_bytes());
        p.extend_from_slice(&6i64.to_le_bytes());
        p.extend_from_slice(&n.to_le_bytes());
        for i in 0..u64::from(n) {
            p.extend_from_slice(&(100 + i).to_le_bytes());
        }
        seal(COUNTERS_KIND, &p)
    }

    #[test]
    fn named_counters_round_trip_and_refuse_damage() {
        let mut t = NamedTally::default();
        let delta: BTreeMap<String, u64> = [
            ("tier.local_hits".to_owned(), 3),
            ("remote.hits".to_owned(), u64::MAX),
            ("Bad Name".to_owned(), 1),
        ]
        .into();
        t.add(&delta);
        t.add(&[("remote.hits".to_owned(), 5)].into());
        assert_eq!(t.counts.len(), 2, "the invalid name is dropped");
        assert_eq!(t.counts["remote.hits"], u64::MAX, "saturates");
        let blob = t.encode();
        assert_eq!(NamedTally::decode(&blob), Some(t.clone()));
        assert_eq!(
            Tally::decode(&blob),
            None,
            "a blob of one kind is not another"
        );
        for cut in 0..blob.len() {
            assert_eq!(NamedTally::decode(&blob[..cut]), None);
        }
    }

    #[test]
    fn counters_of_other_versions_are_kept() {
        // Fewer counters (an older writer): the missing ones are zero.
        let old = Tally::decode(&tally_of(3)).expect("valid");
        assert_eq!(old.counts, [100, 101, 102, 0, 0, 0, 0, 0, 0, 0]);
        assert!(old.later.is_empty());
        // More (a newer writer): kept and written back in place.
        let mut new = Tally::decode(&tally_of(12)).expect("valid");
        assert_eq!(new.later, [110, 111]);
        assert_eq!(new.encode(), tally_of(12));
        new.add(&[1; LIFETIME_COUNTERS]);
        let again = Tally::decode(&new.encode()).expect("valid");
        assert_eq!(
            (again.counts[0], again.later.clone()),
            (101, vec![110, 111])
        );
        // A count that does not match the bytes present is garbage.
        let mut lying = tally_of(2);
        let n_at = ENVELOPE - 8 + 16;
        lying[n_at..n_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let body = lying.len() - 8;
        let sum = XxHash3_64::oneshot(&lying[..body]);
        lying[body..].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(Tally::decode(&lying), None);
    }

    #[test]
    fn trimming_forgets_the_least_used() {
        let mut u = Usage::default();
        for i in 0..(USAGE_CAP + 10) {
            let mut d = [0u8; 32];
            d[..8].copy_from_slice(&(i as u64).to_le_bytes());
            u.records
                .entry(ns(if i % 2 == 0 { "n" } else { "m" }))
                .or_default()
                .insert(
                    Digest::from_bytes(d),
                    UsageRecord {
                        uses: i as u32,
                        settled: false,
                    },
                );
        }
        assert_eq!(u.trim(), 10);
        assert_eq!(u.len(), USAGE_CAP);
        assert!(
            u.records
                .values()
                .flat_map(|m| m.values())
                .all(|r| r.uses >= 10)
        );
        assert_eq!(Usage::decode(&u.encode()).map(|v| v.len()), Some(USAGE_CAP));
    }

    proptest! {
        /// Garbage, and any damage to a valid blob, decodes as absent and never panics.
        #[test]
        fn garbage_is_absent(bytes in proptest::collection::vec(any::<u8>(), 0..300), flip in any::<usize>()) {
            prop_assert_eq!(Marker::decode(&bytes), None);
            let _ = Accounting::decode(&bytes);
            let _ = Usage::decode(&bytes);
            let _ = Cold::decode(&bytes);
            prop_assert_eq!(Tally::decode(&bytes), None);
            let tally = Tally::new(4).encode();
            let mut damaged = tally.clone();
            let at = flip % (damaged.len() * 8);
            damaged[at / 8] ^= 1 << (at % 8);
            prop_assert_eq!(Tally::decode(&damaged), None);
            prop_assert_eq!(Tally::decode(&tally[..tally.len() - 1]), None);
            let blob = Marker { started_ms: 1, entries: 2, bytes: 3 }.encode();
            let mut damaged = blob.clone();
            let at = flip % (damaged.len() * 8);
            damaged[at / 8] ^= 1 << (at % 8);
            prop_assert_eq!(Marker::decode(&damaged), None);
            prop_assert_eq!(Marker::decode(&blob[..blob.len() - 1]), None);
        }
    }
}
