//! A small in-memory `Housekeeping` store: entries with exact times, temp objects, stamps
//! that never lie, blocking and non-blocking locks, and counters of what was asked of it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::SystemTime;

use hoard_core::{
    Bucket, BucketInfo, Digest, EntryInfo, ErrorKind, HeldLock, Housekeeping, Item, ItemKind,
    LockTarget, Namespace, Result, StateName, Store,
};
use hoard_evict::{Clock, ManualClock};

#[derive(Clone, Debug)]
pub(crate) struct MemEntry {
    pub(crate) bytes: Vec<u8>,
    pub(crate) modified: Option<SystemTime>,
    pub(crate) accessed: Option<SystemTime>,
    pub(crate) version: u128,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<(Namespace, Digest), MemEntry>,
    temps: BTreeMap<(Namespace, Digest, u64), MemEntry>,
    stamps: HashMap<Bucket, u128>,
    state: HashMap<StateName, Vec<u8>>,
    next_version: u128,
}

#[derive(Debug, Default)]
struct Locks {
    held: Mutex<HashSet<String>>,
    freed: Condvar,
}

struct LockGuard {
    locks: Arc<Locks>,
    key: String,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(&self.key);
        self.locks.freed.notify_all();
    }
}

#[derive(Debug)]
pub(crate) struct MemStore {
    inner: Mutex<Inner>,
    locks: Arc<Locks>,
    clock: Arc<ManualClock>,
    pub(crate) scans: AtomicU64,
    pub(crate) touches: AtomicU64,
    pub(crate) puts: AtomicU64,
    /// State blobs written.
    pub(crate) state_writes: AtomicU64,
    /// When set, every state write fails with an I/O error.
    pub(crate) failing_state_writes: AtomicBool,
    /// When set, stamps are never vouched for.
    pub(crate) no_stamps: bool,
}

/// The bucket of a digest: its first hex digit.
pub(crate) fn bucket_name(d: &Digest) -> String {
    format!("{:x}", d.as_bytes()[0] >> 4)
}

impl MemStore {
    pub(crate) fn new(clock: Arc<ManualClock>) -> Self {
        Self {
            inner: Mutex::default(),
            locks: Arc::default(),
            clock,
            scans: AtomicU64::new(0),
            touches: AtomicU64::new(0),
            puts: AtomicU64::new(0),
            state_writes: AtomicU64::new(0),
            failing_state_writes: AtomicBool::new(false),
            no_stamps: false,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(inner: &mut Inner, ns: &Namespace, d: &Digest) -> u128 {
        inner.next_version += 1;
        let v = inner.next_version;
        let b = Bucket::new(ns.clone(), &bucket_name(d)).expect("valid bucket");
        *inner.stamps.entry(b).or_default() += 1;
        v
    }

    /// Puts `len` bytes under `(ns, d)` with the given times.
    pub(crate) fn plant(
        &self,
        ns: &Namespace,
        d: &Digest,
        len: usize,
        modified: Option<SystemTime>,
        accessed: Option<SystemTime>,
    ) {
        let mut inner = self.inner();
        let version = Self::bump(&mut inner, ns, d);
        inner.entries.insert(
            (ns.clone(), *d),
            MemEntry {
                bytes: vec![0; len],
                modified,
                accessed,
                version,
            },
        );
    }

    /// Plants a temp object for `(ns, d)` written at `modified`.
    pub(crate) fn plant_temp(&self, ns: &Namespace, d: &Digest, nonce: u64, modified: SystemTime) {
        let mut inner = self.inner();
        let version = Self::bump(&mut inner, ns, d);
        inner.temps.insert(
            (ns.clone(), *d, nonce),
            MemEntry {
                bytes: vec![1; 10],
                modified: Some(modified),
                accessed: Some(modified),
                version,
            },
        );
    }

    pub(crate) fn entry(&self, ns: &Namespace, d: &Digest) -> Option<MemEntry> {
        self.inner().entries.get(&(ns.clone(), *d)).cloned()
    }

    pub(crate) fn digests(&self) -> Vec<(Namespace, Digest)> {
        self.inner().entries.keys().cloned().collect()
    }

    pub(crate) fn temp_count(&self) -> usize {
        self.inner().temps.len()
    }

    pub(crate) fn state(&self, name: &str) -> Option<Vec<u8>> {
        self.inner()
            .state
            .get(&StateName::new(name).expect("valid"))
            .cloned()
    }

    pub(crate) fn set_state(&self, name: &str, bytes: &[u8]) {
        self.inner()
            .state
            .insert(StateName::new(name).expect("valid"), bytes.to_vec());
    }
}

impl Store for MemStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        match self.inner().entries.get(&(ns.clone(), *digest)) {
            Some(e) if e.bytes.len() as u64 > limit => Err(hoard_core::Error::new(
                ErrorKind::TooLarge,
                "entry above the read limit",
            )),
            Some(e) => Ok(Some(e.bytes.clone())),
            None => Ok(None),
        }
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        let now = Some(self.clock.now());
        let mut inner = self.inner();
        let version = Self::bump(&mut inner, ns, digest);
        inner.entries.insert(
            (ns.clone(), *digest),
            MemEntry {
                bytes: frame.to_vec(),
                modified: now,
                accessed: now,
                version,
            },
        );
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let mut inner = self.inner();
        let had = inner.entries.remove(&(ns.clone(), *digest)).is_some();
        if had {
            Self::bump(&mut inner, ns, digest);
        }
        Ok(had)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        let all: Vec<_> = self.inner().entries.clone().into_iter().collect();
        for ((ns, d), e) in all {
            let info = EntryInfo::new(ns, d, e.bytes.len() as u64, e.modified, e.accessed);
            if visit(info).is_break() {
                break;
            }
        }
        Ok(())
    }
}

impl Housekeeping for MemStore {
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
        let inner = self.inner();
        let mut seen = HashSet::new();
        let names = inner
            .entries
            .keys()
            .map(|(n, d)| (n, d))
            .chain(inner.temps.keys().map(|(n, d, _)| (n, d)));
        for (ns, d) in names {
            seen.insert(Bucket::new(ns.clone(), &bucket_name(d)).expect("valid"));
        }
        let mut infos: Vec<BucketInfo> = seen
            .into_iter()
            .map(|b| {
                let stamp = (!self.no_stamps).then(|| inner.stamps.get(&b).copied().unwrap_or(0));
                BucketInfo::new(b, stamp)
            })
            .collect();
        drop(inner);
        infos.sort_by(|a, b| b.bucket.cmp(&a.bucket));
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
        self.scans.fetch_add(1, Ordering::Relaxed);
        let inner = self.inner();
        let stamp = (!self.no_stamps).then(|| inner.stamps.get(bucket).copied().unwrap_or(0));
        let mut items = Vec::new();
        for ((ns, d), e) in &inner.entries {
            if ns == bucket.namespace() && bucket_name(d) == bucket.name() {
                items.push(Item::new(
                    ItemKind::Entry(*d),
                    e.bytes.len() as u64,
                    e.modified,
                    e.accessed,
                    e.version,
                ));
            }
        }
        for ((ns, d, nonce), e) in &inner.temps {
            if ns == bucket.namespace() && bucket_name(d) == bucket.name() {
                items.push(Item::new(
                    ItemKind::Temp {
                        digest: *d,
                        nonce: *nonce,
                    },
                    e.bytes.len() as u64,
                    e.modified,
                    e.accessed,
                    e.version,
                ));
            }
        }
        drop(inner);
        for item in items {
            if visit(item).is_break() {
                break;
            }
        }
        Ok(stamp)
    }

    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
        let mut inner = self.inner();
        let ns = bucket.namespace().clone();
        let removed = match item.kind {
            ItemKind::Entry(d) => {
                let key = (ns.clone(), d);
                if inner
                    .entries
                    .get(&key)
                    .is_some_and(|e| e.version == item.version)
                {
                    inner.entries.remove(&key);
                    Self::bump(&mut inner, &ns, &d);
                    true
                } else {
                    false
                }
            }
            ItemKind::Temp { digest, nonce } => {
                let key = (ns.clone(), digest, nonce);
                if inner
                    .temps
                    .get(&key)
                    .is_some_and(|e| e.version == item.version)
                {
                    inner.temps.remove(&key);
                    Self::bump(&mut inner, &ns, &digest);
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        Ok(removed)
    }

    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
        let mut inner = self.inner();
        let mut n = 0;
        for (d, t) in used {
            if let Some(e) = inner.entries.get_mut(&(ns.clone(), *d)) {
                e.accessed = Some(*t);
                n += 1;
            }
        }
        self.touches.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>> {
        let key = match target {
            LockTarget::Named(n) => format!("named:{n}"),
            LockTarget::Entry(ns, d) => {
                if !self.inner().entries.contains_key(&(ns.clone(), *d)) {
                    return Ok(None);
                }
                format!("entry:{ns}:{d}")
            }
            _ => return Ok(None),
        };
        let mut held = self.locks.held.lock().unwrap_or_else(|p| p.into_inner());
        while held.contains(&key) {
            if !wait {
                return Ok(None);
            }
            held = self
                .locks
                .freed
                .wait(held)
                .unwrap_or_else(|p| p.into_inner());
        }
        held.insert(key.clone());
        Ok(Some(HeldLock::new(LockGuard {
            locks: Arc::clone(&self.locks),
            key,
        })))
    }

    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
        match self.inner().state.get(name) {
            Some(b) if b.len() as u64 > limit => Err(hoard_core::Error::new(
                ErrorKind::TooLarge,
                "state above the read limit",
            )),
            other => Ok(other.cloned()),
        }
    }

    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
        if self.failing_state_writes.load(Ordering::Relaxed) {
            return Err(hoard_core::Error::new(
                ErrorKind::Io,
                format!("cannot write state {name}: injected failure"),
            ));
        }
        self.state_writes.fetch_add(1, Ordering::Relaxed);
        self.inner().state.insert(name.clone(), bytes.to_vec());
        Ok(())
    }
}

#[test]
fn the_memory_store_keeps_both_contracts() {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    hoard_testkit::store::run_all(|| MemStore::new(Arc::clone(&clock)));
    hoard_testkit::housekeeping::run_all(|| MemStore::new(Arc::clone(&clock)));
}
