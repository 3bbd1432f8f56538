//! Bounded lock waits: no lock another process holds can hang a cache.
//!
//! A cross-process lock (`state/counters.lock`, `state/cleanup.lock`, `state/usage.lock` and
//! the entry locks of recompression, for hoard-fs's store) is held by whoever took it until
//! it lets go or dies. A holder that is stopped (Ctrl-Z, SIGSTOP, a debugger) or that is
//! another user's process in a group-shared cache never lets go, so this crate never waits
//! for a lock without a limit: every lock is taken with [`lock_within`], which polls a
//! try-lock ([`Housekeeping::lock`] with `wait == false`) until a deadline.
//!
//! The bounds:
//! - **None (one try)** for everything the worker does on its own: scheduled cleanups, use
//!   count merges, recompression of popular entries, scheduled counter merges. A busy lock
//!   skips the work; the next round retries it.
//! - [`MERGE_LOCK_WAIT`] (250 ms) for the merges of the lifetime counters a program or the
//!   `hoard` command waits for: [`Worker::sync`](crate::Worker::sync),
//!   [`Worker::stop`](crate::Worker::stop) (so a cache's drop, at process exit),
//!   [`Janitor::merge_stats`](crate::Janitor::merge_stats), and the merge at the end of an
//!   explicit operation, and for the use counts [`Janitor::evict_namespace`] forgets.
//! - [`OPERATION_LOCK_WAIT`] (2 s) for an operator's explicit operations:
//!   [`Janitor::cleanup_now`], [`Janitor::cleanup_with`], [`Janitor::evict_older_than`],
//!   [`Janitor::evict_namespace`], [`Janitor::zero_stats`] and
//!   [`zero_named_counters`](crate::zero_named_counters). When the bound passes they fail
//!   with an [`ErrorKind::Busy`] error naming the lock (see [`busy_error`]).
//!
//! Gets and puts take no lock at all: a held lock costs a program at most
//! [`MERGE_LOCK_WAIT`] when its cache is dropped, and never fails a get or a put.
//!
//! The counts a merge could not add are kept in memory and added by the next merge, in
//! this process; at [`Worker::stop`](crate::Worker::stop) there is no next merge, so they
//! are lost: the worker logs how many at `warn` level. Use counts a busy `usage` lock kept
//! from the shared state wait in memory the same way (and are lost at exit, as they always
//! were); a skipped cleanup is retried by the next round or the next process.
//!
//! [`Janitor::cleanup_now`]: crate::Janitor::cleanup_now
//! [`Janitor::cleanup_with`]: crate::Janitor::cleanup_with
//! [`Janitor::evict_older_than`]: crate::Janitor::evict_older_than
//! [`Janitor::evict_namespace`]: crate::Janitor::evict_namespace
//! [`Janitor::zero_stats`]: crate::Janitor::zero_stats

use std::time::{Duration, Instant};

use hoard_core::{Error, ErrorKind, HeldLock, Housekeeping, LockTarget, Result};

/// How long an operator's explicit operation (a cleanup, an eviction, zeroing the lifetime
/// counters) waits for a lock another process holds before it fails as busy.
pub const OPERATION_LOCK_WAIT: Duration = Duration::from_secs(2);

/// How long a merge of the lifetime counters that someone waits for (at
/// [`Worker::sync`](crate::Worker::sync) and [`Worker::stop`](crate::Worker::stop), in
/// [`Janitor::merge_stats`](crate::Janitor::merge_stats), after an explicit operation)
/// waits for the `counters` lock before it leaves the counts for the next merge: the most a
/// held lock adds to dropping a cache.
pub const MERGE_LOCK_WAIT: Duration = Duration::from_millis(250);

/// The first pause between two tries; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(1);

/// The longest pause between two tries: a lock freed meanwhile is taken at most this late.
const MAX_PAUSE: Duration = Duration::from_millis(20);

/// Takes the lock `target` of `store`, trying again (with a short, growing pause) until it
/// is free or `bound` has passed (real time, not a [`Clock`](crate::Clock): this is about
/// how long a caller is kept waiting). `Ok(None)`: another holder kept it all along.
/// `Duration::ZERO` tries once.
///
/// Only try-locks are used ([`Housekeeping::lock`] with `wait == false`), so a holder that
/// never lets go (a stopped process) costs at most `bound`. Unlike a blocking lock, waiters
/// are not queued: a lock that is taken again at once by others may be missed; the bounds
/// here are far longer than any merge or cleanup's hold of a lock.
pub fn lock_within(
    store: &dyn Housekeeping,
    target: LockTarget<'_>,
    bound: Duration,
) -> Result<Option<HeldLock>> {
    let deadline = Instant::now().checked_add(bound);
    let mut pause = FIRST_PAUSE;
    loop {
        if let Some(held) = store.lock(target, false)? {
            return Ok(Some(held));
        }
        let now = Instant::now();
        let left = match deadline {
            Some(deadline) if deadline > now => deadline - now,
            Some(_) => return Ok(None),
            // A bound too far to represent: as good as waiting for ever, one pause at a time.
            None => MAX_PAUSE,
        };
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// The error of an operation that could not take `target` within its bound:
/// [`ErrorKind::Busy`], the message naming the lock (`the "cleanup" lock is held by
/// another process`), and the lock's path when the store has one
/// ([`Housekeeping::lock_path`]), so that a tool can say `busy: /c/state/cleanup.lock is
/// held by another process`.
pub fn busy_error(store: &dyn Housekeeping, target: LockTarget<'_>) -> Error {
    let what = match target {
        LockTarget::Named(name) => format!("the \"{name}\" lock"),
        LockTarget::Entry(ns, digest) => format!("the lock of entry {ns}/{digest}"),
        _ => "a lock".to_owned(),
    };
    let err = Error::new(
        ErrorKind::Busy,
        format!("{what} is held by another process"),
    );
    match store.lock_path(target) {
        Some(path) => err.with_path(path),
        None => err,
    }
}

/// [`lock_within`], with a held lock as a [`busy_error`].
pub(crate) fn lock_or_busy(
    store: &dyn Housekeeping,
    target: LockTarget<'_>,
    bound: Duration,
) -> Result<HeldLock> {
    lock_within(store, target, bound)?.ok_or_else(|| busy_error(store, target))
}
