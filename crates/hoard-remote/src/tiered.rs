//! [`TieredStore`]: a local store in front of a remote one, with backfill and a write
//! policy.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use hoard_core::read::{Expected, VerifiedFrame};
use hoard_core::{Digest, EntryInfo, Error, ErrorKind, Namespace, Result, Store};

use crate::stats::{RemoteCounters, TierCounters, TierStats};

/// The default capacity of the write-back queue, in frames.
pub const DEFAULT_WRITE_BACK_QUEUE: usize = 256;

/// When a [`TieredStore`] writes a put to the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WritePolicy {
    /// Before the put returns (the caller waits for the remote, at most one timeout).
    Through,
    /// In the background: the frame is queued for a writer thread, and dropped (counted in
    /// [`TierStats::dropped`]) when `queue` frames are already waiting.
    Back {
        /// Frames the queue holds at most.
        queue: usize,
    },
    /// Never: the remote is only read (backfill still fills the local store).
    LocalOnly,
}

impl WritePolicy {
    /// The lowercase name used in configuration files (`write-through`, `write-back`,
    /// `local-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Through => "write-through",
            Self::Back { .. } => "write-back",
            Self::LocalOnly => "local-only",
        }
    }
}

/// Whether the tier may change the remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RemoteAccess {
    /// Puts follow the [`WritePolicy`]; removals of damaged entries reach the remote too.
    ReadWrite,
    /// Nothing is ever written to or removed from the remote, whatever the write policy: for
    /// consumers that must not publish (CI jobs building untrusted changes).
    ReadOnly,
}

/// A local store (usually hoard-fs's `FsStore`) in front of a remote one.
///
/// - **Get**: the local store; on a miss (or a local failure), the remote. A remote frame is
///   checked before it is used (parsed, checksum verified, and recording the digest asked
///   for): a damaged or swapped remote value is counted in [`TierStats::remote_rejected`],
///   removed from the remote unless it is read-only, and reported as a miss. A good one is
///   copied into the local store (backfill) and returned. Every remote failure is a miss.
/// - **Put**: the local store, then the remote by the [`WritePolicy`]. A remote failure is
///   counted, never returned; the put fails only if no tier took the frame.
/// - **Remove**: both tiers (the remote only when writable). Under [`WritePolicy::Back`] the
///   remote removal waits until the frames queued before it are written, so that a put
///   still in the queue cannot bring the entry back.
/// - **List**: the local store only: it is what the eviction worker and the operator manage.
///   The remote's size is managed by the backend (Redis `maxmemory-policy`, memcached's LRU,
///   S3 lifecycle rules).
pub struct TieredStore {
    inner: Arc<Tiers>,
    queue: Option<WriteBack>,
}

struct Tiers {
    local: Arc<dyn Store>,
    remote: Arc<dyn Store>,
    policy: WritePolicy,
    access: RemoteAccess,
    counters: TierCounters,
    /// Frames queued and written (or failed), for [`TieredStore::flush`] and removals.
    queue_progress: Mutex<QueueProgress>,
    drained: Condvar,
}

/// How far the write-back thread got. Jobs are sent under this lock, so the first `written`
/// jobs sent are exactly the ones the thread has finished (the channel is FIFO).
#[derive(Default)]
struct QueueProgress {
    /// Jobs sent to the writer thread.
    sent: u64,
    /// Jobs it finished (written or failed).
    written: u64,
}

struct WriteBack {
    sender: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

struct Job {
    ns: Namespace,
    digest: Digest,
    frame: Vec<u8>,
}

impl fmt::Debug for TieredStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TieredStore")
            .field("local", &self.inner.local)
            .field("remote", &self.inner.remote)
            .field("policy", &self.inner.policy)
            .field("access", &self.inner.access)
            .finish_non_exhaustive()
    }
}

impl TieredStore {
    /// `local` in front of `remote`. A [`WritePolicy::Back`] starts the writer thread (a
    /// zero queue is taken as 1); it is stopped, after writing what is queued, when the
    /// store is dropped.
    pub fn new(
        local: Arc<dyn Store>,
        remote: Arc<dyn Store>,
        policy: WritePolicy,
        access: RemoteAccess,
    ) -> Result<Self> {
        let inner = Arc::new(Tiers {
            local,
            remote,
            policy,
            access,
            counters: TierCounters::default(),
            queue_progress: Mutex::default(),
            drained: Condvar::new(),
        });
        let queue = match (policy, access) {
            (WritePolicy::Back { queue }, RemoteAccess::ReadWrite) => {
                let (sender, receiver) = std::sync::mpsc::sync_channel(queue.max(1));
                let tiers = Arc::clone(&inner);
                let thread = std::thread::Builder::new()
                    .name("hoard-write-back".to_owned())
                    .spawn(move || tiers.write_back(&receiver))
                    .map_err(|e| {
                        Error::new(
                            ErrorKind::Io,
                            format!("cannot start the remote write-back thread: {e}"),
                        )
                        .with_source(e)
                    })?;
                Some(WriteBack {
                    sender: Some(sender),
                    thread: Some(thread),
                })
            }
            _ => None,
        };
        Ok(Self { inner, queue })
    }

    /// This tier's counters so far (the remote store keeps its own).
    pub fn stats(&self) -> TierStats {
        self.inner.counters.snapshot()
    }

    /// The local store.
    pub fn local(&self) -> &Arc<dyn Store> {
        &self.inner.local
    }

    /// The remote store.
    pub fn remote(&self) -> &Arc<dyn Store> {
        &self.inner.remote
    }

    /// The write policy.
    pub fn policy(&self) -> WritePolicy {
        self.inner.policy
    }

    /// Whether the remote may be changed.
    pub fn access(&self) -> RemoteAccess {
        self.inner.access
    }

    /// Waits until the write-back queue is empty (every queued frame written or failed);
    /// returns at once for the other policies.
    pub fn flush(&self) {
        let mut progress = self.inner.queue_progress();
        while progress.written < progress.sent {
            progress = self
                .inner
                .drained
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for TieredStore {
    fn drop(&mut self) {
        if let Some(mut wb) = self.queue.take() {
            // Closing the channel ends the thread once it has written what is queued.
            drop(wb.sender.take());
            if let Some(thread) = wb.thread.take()
                && thread.join().is_err()
            {
                tracing::warn!("the remote write-back thread panicked");
            }
        }
    }
}

impl Tiers {
    fn queue_progress(&self) -> std::sync::MutexGuard<'_, QueueProgress> {
        // Two counters, each changed by one statement: valid whatever a panicking holder did.
        self.queue_progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the write-back thread finished every job sent so far (jobs sent later
    /// do not hold it up): then none of them can land after what the caller does next.
    fn wait_for_queued_writes(&self) {
        let mut progress = self.queue_progress();
        let until = progress.sent;
        while progress.written < until {
            progress = self
                .drained
                .wait(progress)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn write_back(&self, receiver: &Receiver<Job>) {
        while let Ok(job) = receiver.recv() {
            self.write_remote(&job.ns, &job.digest, &job.frame);
            self.queue_progress().written += 1;
            self.drained.notify_all();
        }
    }

    fn write_remote(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> bool {
        match self.remote.put(ns, digest, frame) {
            Ok(()) => {
                RemoteCounters::bump(&self.counters.remote_writes);
                true
            }
            Err(e) => {
                RemoteCounters::bump(&self.counters.remote_write_failures);
                tracing::debug!(error = %e, "remote put failed; the local entry stands");
                false
            }
        }
    }

    fn writable(&self) -> bool {
        self.access == RemoteAccess::ReadWrite
    }
}

impl Store for TieredStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let t = &self.inner;
        let local_error = match t.local.get(ns, digest, limit) {
            Ok(Some(frame)) => {
                RemoteCounters::bump(&t.counters.local_hits);
                return Ok(Some(frame));
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        let found = match t.remote.get(ns, digest, limit) {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "remote get failed; a miss");
                None
            }
        };
        let Some(frame) = found else {
            RemoteCounters::bump(&t.counters.misses);
            return local_error.map_or(Ok(None), Err);
        };
        // The facade verifies again (with its size cap) before it decodes; this check keeps
        // damaged or foreign frames out of the local store.
        let checked = VerifiedFrame::check(frame, Expected::Digest(digest), u64::MAX);
        let Ok(frame) = checked.map(VerifiedFrame::into_bytes) else {
            RemoteCounters::bump(&t.counters.remote_rejected);
            RemoteCounters::bump(&t.counters.misses);
            tracing::warn!(%ns, %digest, "the remote returned a damaged or foreign frame; not using it");
            if t.writable()
                && let Err(e) = t.remote.remove(ns, digest)
            {
                tracing::debug!(error = %e, "cannot remove the damaged remote value");
            }
            return local_error.map_or(Ok(None), Err);
        };
        RemoteCounters::bump(&t.counters.remote_hits);
        match t.local.put(ns, digest, &frame) {
            Ok(()) => RemoteCounters::bump(&t.counters.backfills),
            Err(e) => {
                RemoteCounters::bump(&t.counters.backfill_failures);
                tracing::debug!(error = %e, "cannot copy the remote hit into the local store");
            }
        }
        Ok(Some(frame))
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let t = &self.inner;
        let local = t.local.put(ns, digest, frame);
        if !t.writable() {
            return local;
        }
        let remote_took = match t.policy {
            WritePolicy::LocalOnly => false,
            WritePolicy::Through => t.write_remote(ns, digest, frame),
            WritePolicy::Back { .. } => {
                let Some(sender) = self.queue.as_ref().and_then(|q| q.sender.as_ref()) else {
                    return local;
                };
                let job = Job {
                    ns: ns.clone(),
                    digest: *digest,
                    frame: frame.to_vec(),
                };
                // Sent under the lock (`try_send` never blocks), so that `sent` counts jobs
                // in the channel's order.
                let mut progress = t.queue_progress();
                match sender.try_send(job) {
                    Ok(()) => {
                        progress.sent += 1;
                        drop(progress);
                        RemoteCounters::bump(&t.counters.queued);
                        true
                    }
                    Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                        drop(progress);
                        RemoteCounters::bump(&t.counters.dropped);
                        false
                    }
                }
            }
        };
        match local {
            Err(e) if !remote_took => Err(e),
            _ => Ok(()),
        }
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let t = &self.inner;
        let local = t.local.remove(ns, digest);
        let remote = if t.writable() {
            // A put still queued would bring the entry back after this removal.
            t.wait_for_queued_writes();
            t.remote.remove(ns, digest).unwrap_or_else(|e| {
                tracing::debug!(error = %e, "cannot remove the remote copy");
                false
            })
        } else {
            false
        };
        Ok(local? || remote)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        self.inner.local.list(visit)
    }
}
