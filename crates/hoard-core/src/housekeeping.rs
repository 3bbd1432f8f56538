//! The [`Housekeeping`] trait: what a maintenance worker (hoard-evict) needs from a store
//! beyond [`Store`]: per-bucket listings with last-use times, conditional removal and
//! replacement, recording use, advisory locks, and small sidecar state.
//!
//! The vocabulary types ([`Bucket`], [`Item`], [`StateName`], [`LockTarget`], [`HeldLock`])
//! carry no I/O; stores fill them in. The facade `hoard` re-exports all of them, so a plugin
//! depends on `hoard` alone; its tests add `hoard-testkit` as a dev-dependency for the
//! conformance suites (`hoard_testkit::store::run_all`, `hoard_testkit::housekeeping::run_all`)
//! and for `InMemory`, the reference implementation of both traits.
//!
//! # `#[non_exhaustive]` types in an implementation
//! [`LockTarget`], [`ItemKind`] and [`ErrorKind`] may gain variants in a minor release.
//! A store matches the ones it knows and answers the rest with an error of kind
//! [`ErrorKind::NotSupportedByStore`] naming what it was asked (for a lock target it cannot
//! lock, say); it never panics and never treats an unknown variant as one it knows. A caller
//! (the worker) treats an unknown [`ItemKind`] it is shown as something to leave alone.

use std::any::Any;
use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{Digest, EntryInfo, Error, ErrorKind, Namespace, Result, Store};

/// Longest accepted bucket name, in bytes.
pub const BUCKET_NAME_MAX_LEN: usize = 16;

/// Longest accepted state name, in bytes.
pub const STATE_NAME_MAX_LEN: usize = 64;

/// A unit of accounting inside a store: a namespace and a store-chosen name (for hoard-fs's
/// `FsStore`, one shard directory).
///
/// Buckets order by namespace, then name: the canonical order in which a worker visits them.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    namespace: Namespace,
    name: Box<str>,
}

impl Bucket {
    /// A bucket of `namespace` named `name`: 1 to 16 characters of `[A-Za-z0-9_-]`.
    pub fn new(namespace: Namespace, name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= BUCKET_NAME_MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "invalid bucket name {name:?}: use 1 to {BUCKET_NAME_MAX_LEN} characters of [A-Za-z0-9_-]"
                ),
            ));
        }
        Ok(Self {
            namespace,
            name: name.into(),
        })
    }

    /// The namespace the bucket belongs to.
    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The store-chosen name within the namespace.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bucket({}/{})", self.namespace, self.name)
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A bucket and its current stamp, as [`Housekeeping::buckets`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BucketInfo {
    /// The bucket.
    pub bucket: Bucket,
    /// A value that changes whenever an item of the bucket is added, removed or replaced, or
    /// `None` when the store cannot vouch for it right now (see the trait's contract).
    pub stamp: Option<u128>,
}

impl BucketInfo {
    /// Describes a bucket (the struct is `#[non_exhaustive]`).
    pub fn new(bucket: Bucket, stamp: Option<u128>) -> Self {
        Self { bucket, stamp }
    }
}

/// What a listed item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemKind {
    /// A stored entry.
    Entry(Digest),
    /// A put in progress, or the leftover of one that crashed: the store's own temporary
    /// object for the entry `digest`, told apart from others by `nonce`.
    Temp {
        /// The entry the temporary object was written for.
        digest: Digest,
        /// What makes this temporary object's name unique.
        nonce: u64,
    },
}

/// One item of a bucket, as [`Housekeeping::scan_bucket`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Item {
    /// An entry or a temporary object.
    pub kind: ItemKind,
    /// Bytes the item occupies (header included for entries).
    pub stored_len: u64,
    /// When the item was last written, if the store knows.
    pub modified: Option<SystemTime>,
    /// When the item was last used (read, or set by [`Housekeeping::touch`]), if the store
    /// knows.
    pub accessed: Option<SystemTime>,
    /// Identifies this version of the item: it changes when the entry is replaced by a put,
    /// and stays the same when it is only touched.
    pub version: u128,
}

impl Item {
    /// Describes an item (the struct is `#[non_exhaustive]`).
    pub fn new(
        kind: ItemKind,
        stored_len: u64,
        modified: Option<SystemTime>,
        accessed: Option<SystemTime>,
        version: u128,
    ) -> Self {
        Self {
            kind,
            stored_len,
            modified,
            accessed,
            version,
        }
    }

    /// The entry's description for [`Store::list`]-style consumers, or `None` for a
    /// temporary object.
    pub fn entry_info(&self, namespace: &Namespace) -> Option<EntryInfo> {
        match self.kind {
            ItemKind::Entry(digest) => Some(EntryInfo::new(
                namespace.clone(),
                digest,
                self.stored_len,
                self.modified,
                self.accessed,
            )),
            ItemKind::Temp { .. } => None,
        }
    }
}

/// The name of a piece of sidecar state or of a named lock: 1 to 64 characters of
/// `[a-z0-9-]` (no dot, so a store may add its own suffixes without collisions).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateName(Box<str>);

impl StateName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self> {
        let ok = !name.is_empty()
            && name.len() <= STATE_NAME_MAX_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "invalid state name {name:?}: use 1 to {STATE_NAME_MAX_LEN} characters of [a-z0-9-]"
                ),
            ));
        }
        Ok(Self(name.into()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateName({:?})", self.0)
    }
}

impl fmt::Display for StateName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`Housekeeping::lock`] locks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockTarget<'a> {
    /// A named lock shared by every process using the store (cleanup, usage merging).
    Named(&'a StateName),
    /// The current version of one entry (recompression).
    Entry(&'a Namespace, &'a Digest),
}

/// A lock taken with [`Housekeeping::lock`]; dropping it releases the lock.
pub struct HeldLock {
    _guard: Box<dyn Any + Send + Sync>,
}

impl HeldLock {
    /// Wraps whatever keeps the lock held (an open, locked file, say); the lock is released
    /// when `guard` is dropped.
    ///
    /// `guard` must be `'static + Send + Sync` (`Any` implies `'static`): it cannot borrow the
    /// store, since the lock may outlive the call that took it. Own what the release needs:
    /// a file descriptor, or an `Arc` of the store's lock table and the name to clear in the
    /// guard's `Drop` (as `hoard_testkit::InMemory` does). A `MutexGuard` borrows its mutex,
    /// so it cannot be the guard.
    pub fn new(guard: impl Any + Send + Sync) -> Self {
        Self {
            _guard: Box::new(guard),
        }
    }
}

impl fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HeldLock")
    }
}

/// The maintenance capability of a store, on top of [`Store`]: what the eviction worker
/// needs to keep a store bounded and useful without ever reading or writing outside its
/// own names.
///
/// # Contract
/// - **Buckets.** [`buckets`](Self::buckets) visits every bucket that may hold items, each
///   once, in any order. A bucket's `stamp`, when `Some`, changes whenever an item is added
///   to, removed from or replaced in the bucket; a store that cannot vouch for a stamp at the
///   moment (a timestamp too fresh to be trusted, say) reports `None`, and one that never can
///   always does. Touching an entry does not change its bucket's stamp.
/// - **Scans.** [`scan_bucket`](Self::scan_bucket) visits the items of one bucket (entries
///   and temporary objects of the store's own naming, nothing else) until told to stop, and
///   returns the bucket's stamp as it was *before* the scan: if a later `buckets` call
///   reports the same `Some` stamp, the bucket still holds exactly the items the scan saw
///   (their access times aside). A missing bucket scans as empty. Entries of a bucket belong
///   to the bucket's namespace.
/// - **Versions.** An item's `version` changes when the entry is replaced by a put and not
///   when it is touched or read.
/// - **Conditional removal.** [`remove_item`](Self::remove_item) removes the item only if
///   it is still the version that was scanned and returns `Ok(true)`; if it is gone or was
///   replaced in the meantime, it returns `Ok(false)` and the newer entry stays readable
///   (a reader may see a miss for the moment of the check, never a wrong frame).
/// - **Versioned reads and conditional replacement.** [`read_item`](Self::read_item)
///   returns an entry's bytes (bounded by `limit` as [`Store::get`] is), its bucket, and the
///   [`Item`] of exactly the version those bytes are: never the version of a put that
///   landed during the read. [`replace_item`](Self::replace_item) replaces the entry an
///   `item` (scanned or read) names with a new frame only if the entry is still exactly
///   that version, and returns `Ok(true)`; if it was replaced, removed or is not that
///   version, it returns `Ok(false)`, the caller's frame is dropped and the entry stays as
///   it is (readers may see a miss for the moment of the check, as for removal). A newer
///   put always wins, including one that lands while the replacement runs. Readers see
///   the old frame or the new one, never a mix; the replacement is a new version and
///   changes the bucket's stamp. So a caller that reads with `read_item`, derives a frame
///   from the bytes and replaces with the item it read never rolls back a newer put.
/// - **Use.** [`touch`](Self::touch) sets the last-use time of existing entries (precision
///   of at least one second) and skips missing ones; it never changes an entry's contents,
///   version or bucket stamp.
/// - **Locks.** [`lock`](Self::lock) takes an advisory lock shared by every process using
///   the same store, released when the [`HeldLock`] is dropped or its holder dies. With
///   `wait == false` a lock held by anyone else (another process, or another `HeldLock` in
///   this one) is `Ok(None)`; with `wait == true` the call blocks until the lock is free. An
///   entry lock on a missing entry is `Ok(None)`. Callers that must not hang on a stopped
///   holder poll with `wait == false` until a deadline (hoard-evict's `lock_within`);
///   [`lock_path`](Self::lock_path) names the lock in their "busy" messages.
/// - **State.** [`write_state`](Self::write_state) replaces a small named blob atomically;
///   [`read_state`](Self::read_state) returns it, `Ok(None)` if absent, and never returns
///   or allocates more than `limit` bytes (a larger blob is [`ErrorKind::TooLarge`]). State
///   lives apart from entries: listings never report it. Callers treat unparsable state as
///   absent.
/// - **Containment.** As for [`Store`]: nothing outside the store's own space is read,
///   written, touched or removed; names that are not the store's own (foreign files,
///   `.nfs*` files, symlinks) are neither reported nor removed.
pub trait Housekeeping: Store {
    /// Calls `visit` for every bucket, with its current stamp, until it returns
    /// [`ControlFlow::Break`].
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()>;

    /// Calls `visit` for every item of `bucket` until it returns [`ControlFlow::Break`];
    /// returns the bucket's stamp from before the scan.
    fn scan_bucket(
        &self,
        bucket: &Bucket,
        visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Result<Option<u128>>;

    /// Removes `item` from `bucket` if it is still the version that was scanned.
    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool>;

    /// Reads the entry `(ns, digest)` with at most `limit` bytes, as [`Store::get`] does,
    /// and returns it with its bucket and the item describing the version read; `Ok(None)`
    /// if there is none.
    fn read_item(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<(Bucket, Item, Vec<u8>)>>;

    /// Replaces the entry `item` of `bucket` names with `frame` if the entry is still
    /// exactly that version; `Ok(false)`, changing nothing, if it was replaced, removed or
    /// is not that version (or `item` is not an entry of `bucket`).
    fn replace_item(&self, bucket: &Bucket, item: &Item, frame: &[u8]) -> Result<bool>;

    /// Sets the last-use time of each `(digest, time)` of namespace `ns` that exists;
    /// returns how many were set.
    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64>;

    /// Takes the advisory lock `target`, waiting for it if `wait`.
    fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>>;

    /// Where the lock `target` lives, for messages that must name it (a lock file's path),
    /// or `None` (the default) when the store has nothing an operator could look up.
    /// Does no I/O and never creates anything.
    fn lock_path(&self, target: LockTarget<'_>) -> Option<PathBuf> {
        let _ = target;
        None
    }

    /// The state blob `name`, if there is one, read with at most `limit` bytes.
    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>>;

    /// Replaces the state blob `name` atomically.
    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()>;
}

macro_rules! forward_housekeeping {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<S: Housekeeping + ?Sized> Housekeeping for $ty {
            fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
                (**self).buckets(visit)
            }
            fn scan_bucket(
                &self,
                bucket: &Bucket,
                visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
            ) -> Result<Option<u128>> {
                (**self).scan_bucket(bucket, visit)
            }
            fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
                (**self).remove_item(bucket, item)
            }
            fn read_item(
                &self,
                ns: &Namespace,
                digest: &Digest,
                limit: u64,
            ) -> Result<Option<(Bucket, Item, Vec<u8>)>> {
                (**self).read_item(ns, digest, limit)
            }
            fn replace_item(&self, bucket: &Bucket, item: &Item, frame: &[u8]) -> Result<bool> {
                (**self).replace_item(bucket, item, frame)
            }
            fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
                (**self).touch(ns, used)
            }
            fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>> {
                (**self).lock(target, wait)
            }
            fn lock_path(&self, target: LockTarget<'_>) -> Option<PathBuf> {
                (**self).lock_path(target)
            }
            fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
                (**self).read_state(name, limit)
            }
            fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
                (**self).write_state(name, bytes)
            }
        }
    )*};
}
forward_housekeeping!(Box<S>, Arc<S>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        let ns = Namespace::new("n").expect("valid");
        assert!(Bucket::new(ns.clone(), "ab").is_ok());
        assert!(Bucket::new(ns.clone(), "A-_9").is_ok());
        for bad in ["", ".", "a/b", "..", &"x".repeat(17), "é"] {
            assert!(Bucket::new(ns.clone(), bad).is_err(), "{bad:?}");
        }
        assert!(StateName::new("cleanup-marker").is_ok());
        for bad in ["", "a.lock", "A", "a/b", "..", &"x".repeat(65)] {
            assert!(StateName::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn buckets_order_by_namespace_then_name() {
        let a = Namespace::new("a").expect("valid");
        let b = Namespace::new("b").expect("valid");
        let mut v = [
            Bucket::new(b.clone(), "aa").expect("valid"),
            Bucket::new(a.clone(), "zz").expect("valid"),
            Bucket::new(a, "ab").expect("valid"),
        ];
        v.sort();
        let names: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["a/ab", "a/zz", "b/aa"]);
    }
}
