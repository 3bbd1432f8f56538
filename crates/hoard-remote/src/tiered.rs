//! [`TieredStore`]: a local store in front of a remote one, with backfill and a write
//! policy.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;

use hoard_core::read::{Decoders, Disposition, Expected, VerifiedFrame};
use hoard_core::{Digest, EntryInfo, Error, ErrorKind, Lease, Namespace, Result, Store};

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
///   removed from the remote unless it is read-only, and reported as a miss. An intact frame
///   this build cannot decode (a newer frame format; with [`with_decoders`], a codec not in
///   the reader's registry) is a miss counted in [`TierStats::remote_undecodable`], neither
///   copied nor removed (another build may read it). With MAC keys in those decoders, a
///   frame not signed by one of them is a miss counted in
///   [`TierStats::remote_unauthenticated`], likewise neither copied nor removed. A good one
///   is copied into the local
///   store (backfill) and returned. A remote value over the get's limit is an
///   [`ErrorKind::TooLarge`] error when the local store missed, as the [`Store`] contract
///   asks; every other remote failure is a miss.
/// - **Backfill never overwrites a newer put.** The tier's puts and removals and its
///   backfills take a lock per key (striped) — puts and removals shared, a backfill
///   exclusive — and each bumps the key's generation; a backfill copies only if no put or
///   removal of the key (or of another key of its stripe) went through since the get began
///   (else it is counted in [`TierStats::backfills_superseded`] and the remote frame is
///   still returned: the get overlapped the put). This covers one process. Across
///   processes sharing a local directory, a backfill can still land just after another
///   process's put of the same key: the entry then holds an older but valid frame of that
///   key (the remote's), never wrong bytes, until the next put.
/// - **Put**: the local store, then the remote by the [`WritePolicy`]. A remote failure is
///   counted, never returned; the put fails only if no tier took the frame.
/// - **Remove**: both tiers (the remote only when writable). Under [`WritePolicy::Back`] the
///   remote removal waits until the frames queued before it are written, so that a put
///   still in the queue cannot bring the entry back.
/// - **Lease**: the remote's ([`Store::lease`]), when the tier publishes what it computes
///   (read-write, not local-only; a read-only or local-only tier offers none). Under
///   write-back the lease is released only after the frames queued before its release are
///   written, so that a waiter elsewhere finds the value.
/// - **List**: the local store only: it is what the eviction worker and the operator manage.
///   The remote's size is managed by the backend (Redis `maxmemory-policy`, memcached's LRU,
///   S3 lifecycle rules).
///
/// [`with_decoders`]: Self::with_decoders
pub struct TieredStore {
    inner: Arc<Tiers>,
    queue: Option<WriteBack>,
    /// The codecs the reader can decode; `None` backfills every intact frame.
    decoders: Option<Decoders>,
    /// The reader's maximum decoded entry size (see [`TieredStore::with_max_entry_size`]).
    max_entry_size: u64,
}

/// Lock stripes of the backfill guard: keys hash to one by their digest's first byte.
const STRIPES: usize = 256;

/// One stripe of the backfill guard: the tier's puts and removals hold `lock` shared and
/// bump `generation` when done; a backfill holds it exclusively and copies only if
/// `generation` has not moved since its get began.
#[derive(Default)]
struct Stripe {
    lock: RwLock<()>,
    generation: AtomicU64,
}

struct Tiers {
    local: Arc<dyn Store>,
    remote: Arc<dyn Store>,
    policy: WritePolicy,
    access: RemoteAccess,
    counters: TierCounters,
    /// The backfill guard (see [`Stripe`]).
    stripes: Box<[Stripe]>,
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
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
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
        Ok(Self {
            inner,
            queue,
            decoders: None,
            max_entry_size: u64::MAX,
        })
    }

    /// Backfills (and serves) only remote frames whose codec `decoders` holds: the registry
    /// of the reader in front (the facade passes its own). Another frame is a miss counted in
    /// [`TierStats::remote_undecodable`] and stays in the remote for builds that can read
    /// it; copied into the local store it would be a local hit no get could use, until a
    /// put replaced it. Without a registry every intact frame is backfilled. When the
    /// registry's options carry MAC keys ([`FrameOptions::with_mac_keys`]), a remote frame
    /// whose MAC does not verify under them is a miss counted in
    /// [`TierStats::remote_unauthenticated`]: never served, never backfilled, left in the
    /// remote.
    ///
    /// [`FrameOptions::with_mac_keys`]: hoard_core::frame::FrameOptions::with_mac_keys
    #[must_use]
    pub fn with_decoders(mut self, decoders: Decoders) -> Self {
        self.decoders = Some(decoders);
        self
    }

    /// Backfills (and serves) only remote frames that declare at most `bytes` decoded bytes:
    /// the cap of the reader in front (the facade passes its `max_entry_size`). A larger
    /// declaration is a miss counted in [`TierStats::remote_undecodable`], left in the
    /// remote; copied into the local store it would be a local hit the reader always skips.
    /// Without it, any declared size is backfilled.
    #[must_use]
    pub fn with_max_entry_size(mut self, bytes: u64) -> Self {
        self.max_entry_size = bytes;
        self
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

    fn stripe(&self, digest: &Digest) -> &Stripe {
        &self.stripes[usize::from(digest.as_bytes()[0]) % STRIPES]
    }

    /// Runs a change of the local entry `digest` (a put or a removal) under its stripe's
    /// shared lock, then moves the stripe's generation on, so that a backfill that began
    /// before it does not copy over it.
    fn changing_local<T>(&self, digest: &Digest, change: impl FnOnce() -> T) -> T {
        let stripe = self.stripe(digest);
        // The lock guards no data: a panicking holder leaves nothing inconsistent.
        let _shared = stripe.lock.read().unwrap_or_else(PoisonError::into_inner);
        let out = change();
        stripe.generation.fetch_add(1, Ordering::AcqRel);
        out
    }

    /// Copies a verified remote frame into the local store, unless a put or removal of the
    /// entry's stripe went through since `seen` (the generation when the get began).
    fn backfill(&self, ns: &Namespace, digest: &Digest, frame: &[u8], seen: u64) {
        let stripe = self.stripe(digest);
        let _exclusive = stripe.lock.write().unwrap_or_else(PoisonError::into_inner);
        if stripe.generation.load(Ordering::Acquire) != seen {
            RemoteCounters::bump(&self.counters.backfills_superseded);
            return;
        }
        match self.local.put(ns, digest, frame) {
            Ok(()) => RemoteCounters::bump(&self.counters.backfills),
            Err(e) => {
                RemoteCounters::bump(&self.counters.backfill_failures);
                tracing::debug!(error = %e, "cannot copy the remote hit into the local store");
            }
        }
        stripe.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Store for TieredStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let t = &self.inner;
        // Read before the local store: a put that lands after this moves it.
        let seen = t.stripe(digest).generation.load(Ordering::Acquire);
        let local_error = match t.local.get(ns, digest, limit) {
            Ok(Some(frame)) => {
                RemoteCounters::bump(&t.counters.local_hits);
                return Ok(Some(frame));
            }
            Ok(None) => None,
            Err(e) => Some(e),
        };
        let miss = |local_error: Option<Error>| {
            RemoteCounters::bump(&t.counters.misses);
            local_error.map_or(Ok(None), Err)
        };
        let found = match t.remote.get(ns, digest, limit) {
            Ok(found) => found,
            // Over the limit: the contract's answer, unless the local store failed.
            Err(e) if e.kind() == ErrorKind::TooLarge => {
                return miss(Some(local_error.unwrap_or(e)));
            }
            Err(e) => {
                tracing::debug!(error = %e, "remote get failed; a miss");
                None
            }
        };
        let Some(frame) = found else {
            return miss(local_error);
        };
        // The facade verifies again (with its size cap) before it decodes; this check keeps
        // damaged or foreign frames out of the local store.
        let checked = VerifiedFrame::check(frame, Expected::Digest(digest), self.max_entry_size);
        let frame = match checked {
            Ok(frame) => frame,
            Err(rejected) if rejected.disposition() == Disposition::Skip => {
                RemoteCounters::bump(&t.counters.remote_undecodable);
                tracing::debug!(%ns, %digest, error = %rejected, "the remote frame is not for this build; a miss");
                return miss(local_error);
            }
            Err(rejected) => {
                RemoteCounters::bump(&t.counters.remote_rejected);
                tracing::warn!(%ns, %digest, error = %rejected, "the remote returned a damaged or foreign frame; not using it");
                if t.writable()
                    && let Err(e) = t.remote.remove(ns, digest)
                {
                    tracing::debug!(error = %e, "cannot remove the damaged remote value");
                }
                return miss(local_error);
            }
        };
        let codec = frame.header().codec;
        if let Some(decoders) = &self.decoders
            && decoders.get(codec).is_none()
        {
            RemoteCounters::bump(&t.counters.remote_undecodable);
            tracing::debug!(%ns, %digest, %codec, "the remote frame is in a codec this build lacks; a miss");
            return miss(local_error);
        }
        // An authenticated reader copies nothing it would not serve.
        if let Some(keys) = self.decoders.as_ref().and_then(|d| d.options().mac_keys())
            && let Err(rejected) = frame.authenticate(keys)
        {
            RemoteCounters::bump(&t.counters.remote_unauthenticated);
            tracing::warn!(%ns, %digest, error = %rejected, "the remote frame is not signed by this cache's key; not using it");
            return miss(local_error);
        }
        let frame = frame.into_bytes();
        RemoteCounters::bump(&t.counters.remote_hits);
        t.backfill(ns, digest, &frame, seen);
        Ok(Some(frame))
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let t = &self.inner;
        let local = t.changing_local(digest, || t.local.put(ns, digest, frame));
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
        // Both removals under the guard: a backfill of a frame read from the remote before
        // its removal must not bring the entry back locally.
        let (local, remote) = t.changing_local(digest, || {
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
            (local, remote)
        });
        Ok(local? || remote)
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        self.inner.local.list(visit)
    }

    fn lease(
        &self,
        ns: &Namespace,
        digest: &Digest,
        ttl: std::time::Duration,
    ) -> Result<Option<Lease>> {
        let t = &self.inner;
        if !t.writable() || t.policy == WritePolicy::LocalOnly {
            return Err(Error::new(
                ErrorKind::NotSupportedByStore,
                format!("no lease for {ns}/{digest}: this tier does not write to its remote"),
            ));
        }
        let Some(lease) = t.remote.lease(ns, digest, ttl)? else {
            return Ok(None);
        };
        if self.queue.is_none() {
            return Ok(Some(lease));
        }
        Ok(Some(Lease::new(AfterQueued {
            tiers: Arc::clone(&self.inner),
            lease: Some(lease),
        })))
    }
}

/// A remote lease under write-back: released once the frames queued before the release
/// are written.
struct AfterQueued {
    tiers: Arc<Tiers>,
    lease: Option<Lease>,
}

impl Drop for AfterQueued {
    fn drop(&mut self) {
        self.tiers.wait_for_queued_writes();
        drop(self.lease.take());
    }
}
