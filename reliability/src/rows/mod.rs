//! The rows of the matrix, one module per family, and what they share.
//!
//! To add a row: a type implementing [`Row`] in a module here (or a new one), listed in
//! [`all`]. Rows get a fresh temp directory from [`arena`], open the harness's own cache
//! handle with [`open`], judge reads with [`Reads`], plant a [`Canary`] for invariant I5,
//! and sweep stale temp files with the eviction janitor through [`sweep`].

mod concurrency;
mod corruption;
mod crash;
mod exhaust;
pub(crate) mod failpoints;
pub(crate) mod flight;
mod io_errors;
pub(crate) mod lease;
mod locks;
pub(crate) mod planted;
mod poisoning;
mod power;
mod remote;
pub(crate) mod remote_dead;
pub(crate) mod remote_huge;
mod security;

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hoard::evict::{Janitor, WorkerConfig};
use hoard::{Cache, Durability, FsStore, Housekeeping};

use crate::inspect::Canary;
use crate::proc::Finished;
use crate::row::{Row, RowResult};
use crate::value::{self, NAMESPACE, Read, Stamp};

/// Every row, in the order they run.
pub(crate) fn all() -> Vec<Box<dyn Row>> {
    let mut rows: Vec<Box<dyn Row>> = vec![Box::new(crash::Crash)];
    rows.extend(failpoints::rows());
    rows.extend(power::rows());
    rows.extend(exhaust::rows());
    rows.extend(concurrency::rows());
    rows.extend(flight::rows());
    rows.extend(lease::rows());
    rows.extend(locks::rows());
    rows.extend(io_errors::rows());
    rows.extend(security::rows());
    rows.extend(corruption::rows());
    rows.extend(planted::rows());
    rows.extend(remote::rows());
    rows.extend(remote_huge::rows());
    rows.extend(remote_dead::rows());
    rows.extend(poisoning::rows());
    rows
}

/// A fresh temp directory for one row. Declare it before any [`Mount`](crate::sys::Mount)
/// inside it, so that the mount is dropped (unmounted) first.
pub(crate) fn arena(row: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("hoard-reliability-{row}-"))
        .tempdir()
        .map_err(|e| format!("cannot create a temp directory: {e}"))
}

/// The harness's own handle on the cache at `root`: no eviction worker (rows run the
/// janitor explicitly), zstd, `durability`.
pub(crate) fn open(root: &Path, durability: Durability) -> Result<Cache, String> {
    Cache::builder(root)
        .namespace(NAMESPACE)
        .durability(durability)
        .without_worker()
        .build()
        .map_err(|e| format!("cannot open the cache at {}: {e}", root.display()))
}

/// The eviction janitor's sweep of stale temp files, with a task timeout of zero so that
/// every temp file counts as a dead writer's: only while no writer runs. Returns how many
/// it swept.
pub(crate) fn sweep(root: &Path) -> Result<u64, String> {
    let store = FsStore::open(root).map_err(|e| format!("cannot open the store: {e}"))?;
    let config = WorkerConfig::new().task_timeout(Duration::ZERO);
    let janitor = Janitor::new(Arc::new(store) as Arc<dyn Housekeeping>, config);
    janitor
        .cleanup_now()
        .map(|r| r.temps_swept)
        .map_err(|e| format!("cleanup failed: {e}"))
}

/// Reads of many keys, judged.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Verified hits.
    pub(crate) good: u64,
    /// Misses.
    pub(crate) misses: u64,
    /// Hits with wrong bytes or of the wrong key (I1 violations).
    pub(crate) wrong: u64,
    /// Hits shorter than their value (I1 violations).
    pub(crate) short: u64,
    /// Damaged entries that verification turned into misses.
    pub(crate) corrupt: u64,
    /// Other errors (misses for callers).
    pub(crate) errors: u64,
    /// The first few violations and errors (not caught damage), for the report.
    pub(crate) details: Vec<String>,
}

impl Reads {
    /// Judges one read of key `k`; returns the stamp of a good hit.
    pub(crate) fn add(&mut self, k: u32, r: Read) -> Option<Stamp> {
        let mut detail = |what: String| {
            if self.details.len() < 4 {
                self.details.push(format!("key {k}: {what}"));
            }
        };
        match r {
            Read::Good(s) => {
                self.good += 1;
                return Some(s);
            }
            Read::Miss => self.misses += 1,
            Read::Short => {
                self.short += 1;
                detail("short read".to_owned());
            }
            Read::Wrong(why) => {
                self.wrong += 1;
                detail(why);
            }
            // Caught by verification: a miss for the caller. Rows that must not see any
            // count it as a bad file or a read error themselves.
            Read::Corrupt(_) => self.corrupt += 1,
            Read::Error(why) => {
                self.errors += 1;
                detail(why);
            }
        }
        None
    }

    /// Reads every key of `keys` and judges it.
    pub(crate) fn all(cache: &Cache, keys: Range<u32>) -> Self {
        let mut r = Self::default();
        for k in keys {
            r.add(k, value::read_back(cache, k));
        }
        r
    }

    /// Wrong plus short hits: the I1 violations.
    pub(crate) fn violations(&self) -> u64 {
        self.wrong + self.short
    }
}

/// Adds the containment figure (I5) of `canary` to `res`.
pub(crate) fn containment(res: &mut RowResult, canary: &Canary) {
    let changes = canary.changes();
    res.zero(changes.len() as u64, "changes outside the root");
    for c in changes.iter().take(3) {
        res.violation(c.clone());
    }
}

/// Records a violation unless the child exited cleanly.
pub(crate) fn clean_exit(res: &mut RowResult, f: &Finished, role: &str) {
    if !f.ok() {
        res.violation(f.describe(role));
    }
}

/// `lo..hi` as a child argument.
pub(crate) fn range_arg(r: &Range<u32>) -> String {
    format!("{}..{}", r.start, r.end)
}

/// Puts a fresh value for key `k` from the harness and reads it back: invariant I6 (no
/// leftover blocks a key). Returns why it failed, if it did.
pub(crate) fn put_and_read(cache: &Cache, k: u32, seq: u64, len: usize) -> Result<Stamp, String> {
    let stamp = Stamp {
        key: k,
        writer: value::HARNESS,
        seq,
    };
    cache
        .try_put(&value::key(cache, k), &value::make(stamp, len))
        .map_err(|e| format!("put of key {k} failed: {e}"))?;
    match value::read_back(cache, k) {
        Read::Good(s) if s == stamp => Ok(s),
        other => Err(format!("key {k} read back as {other:?} right after a put")),
    }
}
