//! [`InMemory`]: a complete [`Store`] and [`Housekeeping`] held in memory, for the tests of
//! code that *uses* stores (the eviction worker, tiers, the facade).
//!
//! It is not a mock: it keeps both contracts (the testkit's own tests run
//! [`store::run_all`](crate::store::run_all) and
//! [`housekeeping::run_all`](crate::housekeeping::run_all) on it), and is small enough to read.
//! What a test needs beyond the traits is here too:
//!
//! - **Exact times.** Puts record the time of an injectable clock ([`InMemory::with_clock`]);
//!   [`InMemory::put_with_times`] stores an entry with any modification and last-use times,
//!   and [`InMemory::put_temp`] leaves a temporary object behind, as a crashed put would.
//! - **Inspection without side effects.** [`InMemory::entry`], [`InMemory::keys`],
//!   [`InMemory::temp_count`] and [`InMemory::state`] read without counting or failing;
//!   [`InMemory::set_state`] writes state behind the store's back (damaged state, say).
//! - **Counters** of what was asked of it ([`InMemory::counts`]) and **injected failures**
//!   per operation ([`InMemory::fail`]).
//! - **Stores that cannot vouch for stamps**: [`InMemory::without_stamps`].
//!
//! # Layout
//! A bucket is a namespace and the first hex digit of the digest (16 buckets per namespace),
//! named by that digit ([`InMemory::bucket_of`]). Stamps and versions come from counters
//! that only grow, so a stamp never lies and a version is never reused. Buckets are visited
//! in descending order, the reverse of [`Bucket`]'s canonical order, so that a caller that
//! relies on an order the contract does not promise shows up. Locks are in-process: they
//! die with their holder's [`HeldLock`], and a waiting [`Housekeeping::lock`] blocks on a
//! condition variable. State blobs live beside the entries and are never listed.
//!
//! ```
//! use std::ops::ControlFlow;
//! use std::time::{Duration, SystemTime};
//!
//! use hoard_core::{Digest, Housekeeping, Namespace, Store};
//! use hoard_testkit::InMemory;
//! use hoard_testkit::memory::Op;
//!
//! let noon = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let store = InMemory::new().with_clock(move || noon);
//! let ns = Namespace::new("example")?;
//! let d = Digest::from_bytes([0xab; 32]);
//!
//! // A store moves opaque bytes; the caller verifies frames.
//! store.put(&ns, &d, b"any bytes")?;
//! assert_eq!(store.get(&ns, &d, 1024)?.as_deref(), Some(&b"any bytes"[..]));
//! assert_eq!(store.entry(&ns, &d).map(|e| e.modified), Some(Some(noon)));
//!
//! // The entry sits in the bucket of its digest's first hex digit.
//! let bucket = InMemory::bucket_of(&ns, &d);
//! assert_eq!(bucket.name(), "a");
//! let mut items = Vec::new();
//! store.scan_bucket(&bucket, &mut |item| {
//!     items.push(item);
//!     ControlFlow::Continue(())
//! })?;
//! assert_eq!(items.len(), 1);
//! assert_eq!(store.counts().scans, 1);
//!
//! // Injected failures, per operation.
//! store.fail(Op::Get, true);
//! assert!(store.get(&ns, &d, 1024).is_err());
//! store.fail(Op::Get, false);
//! assert!(store.get(&ns, &d, 1024)?.is_some());
//! # Ok::<(), hoard_core::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use hoard_core::{
    Bucket, BucketInfo, DIGEST_LEN, Digest, EntryInfo, Error, ErrorKind, HeldLock, Housekeeping,
    Item, ItemKind, LockTarget, Namespace, Result, StateName, Store,
};

/// An operation of [`InMemory`] that [`InMemory::fail`] can make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// [`Store::get`].
    Get,
    /// [`Store::put`].
    Put,
    /// [`Store::remove`].
    Remove,
    /// [`Store::list`].
    List,
    /// [`Housekeeping::buckets`].
    Buckets,
    /// [`Housekeeping::scan_bucket`].
    ScanBucket,
    /// [`Housekeeping::remove_item`].
    RemoveItem,
    /// [`Housekeeping::touch`].
    Touch,
    /// [`Housekeeping::lock`].
    Lock,
    /// [`Housekeeping::read_state`].
    ReadState,
    /// [`Housekeeping::write_state`].
    WriteState,
    /// [`Housekeeping::read_item`].
    ReadItem,
    /// [`Housekeeping::replace_item`].
    ReplaceItem,
}

impl Op {
    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// What [`InMemory`] holds for one entry or temporary object, as [`InMemory::entry`]
/// returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stored {
    /// The stored bytes (a frame, for entries the caller put).
    pub bytes: Vec<u8>,
    /// When it was written.
    pub modified: Option<SystemTime>,
    /// When it was last used.
    pub accessed: Option<SystemTime>,
    /// Its version (see [`Item::version`]).
    pub version: u128,
}

/// How often each operation of an [`InMemory`] succeeded, as [`InMemory::counts`] returns
/// it. The inspection and planting methods ([`InMemory::entry`],
/// [`InMemory::put_with_times`], ...) are not counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Gets answered (hits and misses), [`Housekeeping::read_item`]'s included.
    pub gets: u64,
    /// Puts stored.
    pub puts: u64,
    /// Removals answered (whether or not there was an entry).
    pub removes: u64,
    /// Scans of a bucket.
    pub scans: u64,
    /// Items [`Housekeeping::remove_item`] removed.
    pub removed_items: u64,
    /// Entries [`Housekeeping::replace_item`] replaced.
    pub replaced_items: u64,
    /// Entries whose last-use time [`Housekeeping::touch`] set.
    pub touched: u64,
    /// State blobs written.
    pub state_writes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    gets: AtomicU64,
    puts: AtomicU64,
    removes: AtomicU64,
    scans: AtomicU64,
    removed_items: AtomicU64,
    replaced_items: AtomicU64,
    touched: AtomicU64,
    state_writes: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<(Namespace, Digest), Stored>,
    temps: BTreeMap<(Namespace, Digest, u64), Stored>,
    /// Per bucket: how often an item was added, removed or replaced. Kept when a bucket
    /// empties, so a stamp is never repeated.
    stamps: HashMap<Bucket, u128>,
    state: HashMap<StateName, Vec<u8>>,
    last_version: u128,
}

impl Inner {
    /// Records a change in the bucket of `(ns, digest)` and returns a fresh version.
    fn changed(&mut self, ns: &Namespace, digest: &Digest) -> u128 {
        *self
            .stamps
            .entry(InMemory::bucket_of(ns, digest))
            .or_default() += 1;
        self.last_version += 1;
        self.last_version
    }

    fn stamp(&self, bucket: &Bucket) -> u128 {
        self.stamps.get(bucket).copied().unwrap_or(0)
    }
}

/// The locks held, by name; waiters sleep on `freed`.
#[derive(Debug, Default)]
struct Locks {
    held: Mutex<HashSet<LockName>>,
    freed: Condvar,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LockName {
    Named(StateName),
    Entry(Namespace, Digest),
}

/// Keeps a lock held; dropping it releases the lock and wakes the waiters.
struct LockGuard {
    locks: Arc<Locks>,
    name: LockName,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.remove(&self.name);
        drop(held);
        self.locks.freed.notify_all();
    }
}

type ClockFn = dyn Fn() -> SystemTime + Send + Sync;

/// A [`Store`] and [`Housekeeping`] in memory: see the [module documentation](self).
pub struct InMemory {
    inner: Mutex<Inner>,
    locks: Arc<Locks>,
    clock: Box<ClockFn>,
    stamps: bool,
    failing: AtomicU32,
    counters: Counters,
}

impl fmt::Debug for InMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.inner();
        f.debug_struct("InMemory")
            .field("entries", &inner.entries.len())
            .field("temps", &inner.temps.len())
            .field("states", &inner.state.len())
            .field("stamps", &self.stamps)
            .finish_non_exhaustive()
    }
}

impl Default for InMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemory {
    /// An empty store on the system clock, vouching for its stamps.
    pub fn new() -> Self {
        Self {
            inner: Mutex::default(),
            locks: Arc::default(),
            clock: Box::new(SystemTime::now),
            stamps: true,
            failing: AtomicU32::new(0),
            counters: Counters::default(),
        }
    }

    /// Reads the time from `now` (the modification and last-use times of puts), so that a
    /// test can drive it (a manual clock's `now`, say).
    #[must_use]
    pub fn with_clock(mut self, now: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Box::new(now);
        self
    }

    /// Never vouches for a bucket's stamp (reports `None`), like a store on a filesystem
    /// whose timestamps are too coarse.
    #[must_use]
    pub fn without_stamps(mut self) -> Self {
        self.stamps = false;
        self
    }

    /// The bucket an entry (or temporary object) of `ns` and `digest` belongs to: the
    /// digest's first hex digit.
    pub fn bucket_of(ns: &Namespace, digest: &Digest) -> Bucket {
        let name = format!("{:x}", digest.as_bytes()[0] >> 4);
        Bucket::new(ns.clone(), &name).expect("one hex digit is a valid bucket name")
    }

    /// Makes every later call of `op` fail with an [`ErrorKind::Io`] error (`failing`), or
    /// work again (`!failing`).
    pub fn fail(&self, op: Op, failing: bool) {
        if failing {
            self.failing.fetch_or(op.bit(), Ordering::Relaxed);
        } else {
            self.failing.fetch_and(!op.bit(), Ordering::Relaxed);
        }
    }

    /// How often each operation succeeded so far.
    pub fn counts(&self) -> Counts {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counts {
            gets: get(&c.gets),
            puts: get(&c.puts),
            removes: get(&c.removes),
            scans: get(&c.scans),
            removed_items: get(&c.removed_items),
            replaced_items: get(&c.replaced_items),
            touched: get(&c.touched),
            state_writes: get(&c.state_writes),
        }
    }

    /// Stores `bytes` under `(ns, digest)` with the given times, as a put would (new
    /// version, bucket stamp changed), but neither counted nor subject to [`fail`](Self::fail).
    pub fn put_with_times(
        &self,
        ns: &Namespace,
        digest: &Digest,
        bytes: &[u8],
        modified: Option<SystemTime>,
        accessed: Option<SystemTime>,
    ) {
        let mut inner = self.inner();
        let version = inner.changed(ns, digest);
        inner.entries.insert(
            (ns.clone(), *digest),
            Stored {
                bytes: bytes.to_vec(),
                modified,
                accessed,
                version,
            },
        );
    }

    /// Leaves a temporary object for `(ns, digest)` told apart by `nonce`, written (and last
    /// used) at `modified`: what a put in progress, or one that crashed, leaves. Scans report
    /// it as [`ItemKind::Temp`]; only [`Housekeeping::remove_item`] removes it.
    pub fn put_temp(
        &self,
        ns: &Namespace,
        digest: &Digest,
        nonce: u64,
        bytes: &[u8],
        modified: SystemTime,
    ) {
        let mut inner = self.inner();
        let version = inner.changed(ns, digest);
        inner.temps.insert(
            (ns.clone(), *digest, nonce),
            Stored {
                bytes: bytes.to_vec(),
                modified: Some(modified),
                accessed: Some(modified),
                version,
            },
        );
    }

    /// The entry under `(ns, digest)`, if any.
    pub fn entry(&self, ns: &Namespace, digest: &Digest) -> Option<Stored> {
        self.inner().entries.get(&(ns.clone(), *digest)).cloned()
    }

    /// Every entry's namespace and digest, in order.
    pub fn keys(&self) -> Vec<(Namespace, Digest)> {
        self.inner().entries.keys().cloned().collect()
    }

    /// How many temporary objects the store holds.
    pub fn temp_count(&self) -> usize {
        self.inner().temps.len()
    }

    /// The state blob `name`, if any.
    pub fn state(&self, name: &StateName) -> Option<Vec<u8>> {
        self.inner().state.get(name).cloned()
    }

    /// Replaces the state blob `name`, neither counted nor subject to [`fail`](Self::fail).
    pub fn set_state(&self, name: &StateName, bytes: &[u8]) {
        self.inner().state.insert(name.clone(), bytes.to_vec());
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every change is one insert or remove under the lock: the maps stay consistent
        // whatever a panicking holder did.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `read` of the entry `ns/digest`, under the lock, counted as one get; `TooLarge` if the
    /// entry is over `limit`.
    fn read_entry<T>(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
        read: impl FnOnce(&Stored) -> T,
    ) -> Result<Option<T>> {
        let found = match self.inner().entries.get(&(ns.clone(), *digest)) {
            Some(e) if e.bytes.len() as u64 > limit => {
                return Err(too_large(
                    format!("entry {ns}/{digest}"),
                    e.bytes.len(),
                    limit,
                ));
            }
            found => found.map(read),
        };
        bump(&self.counters.gets, 1);
        Ok(found)
    }

    /// Fails with an injected error if `op` is set to fail.
    fn check(&self, op: Op, what: impl FnOnce() -> String) -> Result<()> {
        if self.failing.load(Ordering::Relaxed) & op.bit() == 0 {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Io,
            format!("{} failed: injected failure of the in-memory store", what()),
        ))
    }

    fn vouched(&self, stamp: u128) -> Option<u128> {
        self.stamps.then_some(stamp)
    }
}

/// The digests of bucket `name` (one hex digit) span a contiguous range.
fn digest_range(bucket: &Bucket) -> Option<(Digest, Digest)> {
    if bucket.name().len() != 1 {
        return None;
    }
    let nibble = u8::from_str_radix(bucket.name(), 16).ok()?;
    if bucket.name() != format!("{nibble:x}") {
        return None;
    }
    let mut lo = [0u8; DIGEST_LEN];
    let mut hi = [0xffu8; DIGEST_LEN];
    lo[0] = nibble << 4;
    hi[0] = (nibble << 4) | 0x0f;
    Some((Digest::from_bytes(lo), Digest::from_bytes(hi)))
}

fn too_large(what: String, len: usize, limit: u64) -> Error {
    Error::new(
        ErrorKind::TooLarge,
        format!("{what} is {len} bytes, above the {limit}-byte limit of this read"),
    )
}

impl Store for InMemory {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        self.check(Op::Get, || format!("get of {ns}/{digest}"))?;
        self.read_entry(ns, digest, limit, |e| e.bytes.clone())
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        self.check(Op::Put, || format!("put of {ns}/{digest}"))?;
        let now = Some((self.clock)());
        self.put_with_times(ns, digest, frame, now, now);
        bump(&self.counters.puts, 1);
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        self.check(Op::Remove, || format!("remove of {ns}/{digest}"))?;
        let mut inner = self.inner();
        let had = inner.entries.remove(&(ns.clone(), *digest)).is_some();
        if had {
            inner.changed(ns, digest);
        }
        bump(&self.counters.removes, 1);
        Ok(had)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        self.check(Op::List, || "listing".to_owned())?;
        // A snapshot, so that the visitor may call the store.
        let all: Vec<EntryInfo> = self
            .inner()
            .entries
            .iter()
            .map(|((ns, d), e)| {
                EntryInfo::new(ns.clone(), *d, e.bytes.len() as u64, e.modified, e.accessed)
            })
            .collect();
        for info in all {
            if visit(info).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl Housekeeping for InMemory {
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
        self.check(Op::Buckets, || "listing the buckets".to_owned())?;
        let infos: Vec<BucketInfo> = {
            let inner = self.inner();
            let occupied: BTreeSet<Bucket> = inner
                .entries
                .keys()
                .map(|(ns, d)| Self::bucket_of(ns, d))
                .chain(inner.temps.keys().map(|(ns, d, _)| Self::bucket_of(ns, d)))
                .collect();
            occupied
                .into_iter()
                .rev()
                .map(|b| {
                    let stamp = self.vouched(inner.stamp(&b));
                    BucketInfo::new(b, stamp)
                })
                .collect()
        };
        for info in infos {
            if visit(info).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn scan_bucket(
        &self,
        bucket: &Bucket,
        visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Result<Option<u128>> {
        self.check(Op::ScanBucket, || format!("scan of bucket {bucket}"))?;
        let (stamp, items) = {
            let inner = self.inner();
            let stamp = self.vouched(inner.stamp(bucket));
            let mut items = Vec::new();
            if let Some((lo, hi)) = digest_range(bucket) {
                let ns = bucket.namespace();
                for ((_, d), e) in inner.entries.range((ns.clone(), lo)..=(ns.clone(), hi)) {
                    items.push(Item::new(
                        ItemKind::Entry(*d),
                        e.bytes.len() as u64,
                        e.modified,
                        e.accessed,
                        e.version,
                    ));
                }
                let temps = (ns.clone(), lo, 0)..=(ns.clone(), hi, u64::MAX);
                for ((_, d, nonce), e) in inner.temps.range(temps) {
                    let kind = ItemKind::Temp {
                        digest: *d,
                        nonce: *nonce,
                    };
                    items.push(Item::new(
                        kind,
                        e.bytes.len() as u64,
                        e.modified,
                        e.accessed,
                        e.version,
                    ));
                }
            }
            (stamp, items)
        };
        bump(&self.counters.scans, 1);
        for item in items {
            if visit(item).is_break() {
                break;
            }
        }
        Ok(stamp)
    }

    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
        self.check(Op::RemoveItem, || {
            format!("removal of {:?} in {bucket}", item.kind)
        })?;
        let ns = bucket.namespace();
        let mut inner = self.inner();
        let removed = match item.kind {
            ItemKind::Entry(d) if Self::bucket_of(ns, &d) == *bucket => {
                let key = (ns.clone(), d);
                let current = inner.entries.get(&key).map(|e| e.version);
                current == Some(item.version) && inner.entries.remove(&key).is_some()
            }
            ItemKind::Temp { digest, nonce } if Self::bucket_of(ns, &digest) == *bucket => {
                let key = (ns.clone(), digest, nonce);
                let current = inner.temps.get(&key).map(|e| e.version);
                current == Some(item.version) && inner.temps.remove(&key).is_some()
            }
            // Another bucket's item, or a kind this store never reports.
            _ => false,
        };
        if removed {
            if let ItemKind::Entry(d) | ItemKind::Temp { digest: d, .. } = item.kind {
                inner.changed(ns, &d);
            }
            bump(&self.counters.removed_items, 1);
        }
        Ok(removed)
    }

    fn read_item(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<(Bucket, Item, Vec<u8>)>> {
        self.check(Op::ReadItem, || format!("versioned read of {ns}/{digest}"))?;
        // Bytes and version under one lock: the item is exactly the version read.
        self.read_entry(ns, digest, limit, |e| {
            let item = Item::new(
                ItemKind::Entry(*digest),
                e.bytes.len() as u64,
                e.modified,
                e.accessed,
                e.version,
            );
            (Self::bucket_of(ns, digest), item, e.bytes.clone())
        })
    }

    fn replace_item(&self, bucket: &Bucket, item: &Item, frame: &[u8]) -> Result<bool> {
        self.check(Op::ReplaceItem, || {
            format!("replacement of {:?} in {bucket}", item.kind)
        })?;
        let ItemKind::Entry(d) = item.kind else {
            return Ok(false);
        };
        let ns = bucket.namespace();
        if Self::bucket_of(ns, &d) != *bucket {
            return Ok(false);
        }
        let now = Some((self.clock)());
        let mut inner = self.inner();
        let key = (ns.clone(), d);
        if inner.entries.get(&key).map(|e| e.version) != Some(item.version) {
            return Ok(false);
        }
        let version = inner.changed(ns, &d);
        inner.entries.insert(
            key,
            Stored {
                bytes: frame.to_vec(),
                modified: now,
                accessed: now,
                version,
            },
        );
        bump(&self.counters.replaced_items, 1);
        Ok(true)
    }

    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
        self.check(Op::Touch, || {
            format!("touch of {} entries of {ns}", used.len())
        })?;
        let mut inner = self.inner();
        let mut set = 0;
        for (d, when) in used {
            if let Some(e) = inner.entries.get_mut(&(ns.clone(), *d)) {
                e.accessed = Some(*when);
                set += 1;
            }
        }
        bump(&self.counters.touched, set);
        Ok(set)
    }

    fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>> {
        self.check(Op::Lock, || format!("lock {target:?}"))?;
        let name = match target {
            LockTarget::Named(n) => LockName::Named(n.clone()),
            LockTarget::Entry(ns, d) => {
                if !self.inner().entries.contains_key(&(ns.clone(), *d)) {
                    return Ok(None);
                }
                LockName::Entry(ns.clone(), *d)
            }
            other => {
                return Err(Error::new(
                    ErrorKind::NotSupportedByStore,
                    format!("the in-memory store has no lock {other:?}"),
                ));
            }
        };
        let mut held = self
            .locks
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while held.contains(&name) {
            if !wait {
                return Ok(None);
            }
            held = self
                .locks
                .freed
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
        held.insert(name.clone());
        Ok(Some(HeldLock::new(LockGuard {
            locks: Arc::clone(&self.locks),
            name,
        })))
    }

    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
        self.check(Op::ReadState, || format!("read of state {name}"))?;
        match self.inner().state.get(name) {
            Some(b) if b.len() as u64 > limit => {
                Err(too_large(format!("state {name}"), b.len(), limit))
            }
            found => Ok(found.cloned()),
        }
    }

    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
        self.check(Op::WriteState, || format!("write of state {name}"))?;
        self.set_state(name, bytes);
        bump(&self.counters.state_writes, 1);
        Ok(())
    }
}
