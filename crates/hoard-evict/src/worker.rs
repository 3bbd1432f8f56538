//! [`Worker`]: the background thread that applies hit events, merges use counts,
//! recompresses popular entries and runs scheduled cleanups.
//!
//! Callers report hits with [`Worker::record_hit`] (a `try_lock` and a counter bump in a
//! pre-allocated table: no blocking, no allocation, no I/O) and inserts with
//! [`Worker::record_insert`] (two atomics). The thread wakes every
//! [`WorkerConfig::flush_period`](crate::WorkerConfig::flush_period), or early when the
//! table fills up, and then:
//! 1. drains the table and writes last-use times ([`Housekeeping::touch`], at most once per
//!    entry per [`touch_granularity`](crate::WorkerConfig::touch_granularity));
//! 2. merges this process's use counts into the shared usage state (under a lock, at most
//!    once per [`usage_merge_period`](crate::WorkerConfig::usage_merge_period)) and
//!    recompresses the entries that reached the threshold and that this process claimed;
//! 3. runs a cleanup if one is due: after inserts, or after hits while the cache is known to
//!    be over its limits (or its state is not known yet), at most once per cleanup interval
//!    across processes;
//! 4. adds what this process counted since its last merge (hits, misses, inserts,
//!    evictions...) to the lifetime counters shared by every process (under a lock, at most
//!    once per [`usage_merge_period`](crate::WorkerConfig::usage_merge_period), and at every
//!    [`Worker::sync`] and [`Worker::stop`]): see [`SharedStats`](crate::SharedStats).
//!
//! No lock is waited for without a limit (see [`crate::lock`]): the scheduled work of a
//! round tries each lock once and skips the work if another process holds it; the merge at
//! [`Worker::sync`] and [`Worker::stop`] waits at most
//! [`MERGE_LOCK_WAIT`](crate::MERGE_LOCK_WAIT).
//!
//! [`Housekeeping::touch`]: hoard_core::Housekeeping::touch

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use hoard_core::{Digest, Error, ErrorKind, Namespace, Result};

use crate::janitor::{Janitor, to_ms};
use crate::lock::MERGE_LOCK_WAIT;
use crate::stats::{Counters, EvictStats};
use crate::table::{CountMap, DigestHash, HitTable, count_map};

/// Retry delay (clock time) after a cleanup could not run because another process held the
/// cleanup lock.
const BUSY_RETRY: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Control {
    stop: bool,
    poke: bool,
    requested: u64,
    completed: u64,
    exited: bool,
}

struct Shared {
    janitor: Janitor,
    namespace: Namespace,
    table: HitTable,
    control: Mutex<Control>,
    wake: Condvar,
    done: Condvar,
    inserted: AtomicBool,
    /// The worker thread's kernel id, set by the thread as it starts.
    os_thread_id: OnceLock<u32>,
}

impl Shared {
    fn control(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The background maintenance thread of one cache (one store and namespace).
///
/// Stopped and joined by [`stop`](Self::stop) or when dropped. Every explicit operation is
/// available through [`janitor`](Self::janitor), on the caller's thread.
pub struct Worker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("namespace", &self.shared.namespace)
            .field("janitor", &self.shared.janitor)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the worker thread for the entries of `namespace`, maintaining `janitor`'s
    /// store with its configuration, clock and codecs.
    pub fn start(janitor: Janitor, namespace: Namespace) -> Result<Self> {
        let capacity = janitor.config().event_capacity.max(1);
        let shared = Arc::new(Shared {
            table: HitTable::new(capacity, Arc::clone(&janitor.counters)),
            janitor,
            namespace,
            control: Mutex::new(Control::default()),
            wake: Condvar::new(),
            done: Condvar::new(),
            inserted: AtomicBool::new(false),
            os_thread_id: OnceLock::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("hoard-evict".to_owned())
            .spawn(move || run(&thread_shared))
            .map_err(|e| {
                Error::new(ErrorKind::Io, "cannot start the eviction worker thread").with_source(e)
            })?;
        Ok(Self {
            shared,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Reports a hit of `digest` (in the worker's namespace). Never blocks, never
    /// allocates; if the event table is full the event is dropped and counted.
    pub fn record_hit(&self, digest: &Digest) {
        let s = &*self.shared;
        if s.table.record(digest) {
            return;
        }
        // Full: wake the worker so that it drains sooner. `notify_one` takes no lock.
        s.wake.notify_one();
    }

    /// Reports an insert: a cleanup check is due at the worker's next round.
    pub fn record_insert(&self) {
        Counters::add(&self.shared.janitor.counters.inserts, 1);
        self.shared.inserted.store(true, Ordering::Relaxed);
    }

    /// Reports a miss (counted only).
    pub fn record_miss(&self) {
        Counters::add(&self.shared.janitor.counters.misses, 1);
    }

    /// Reports an entry that failed verification and was removed by the caller (counted
    /// only).
    pub fn record_corrupt(&self) {
        Counters::add(&self.shared.janitor.counters.corrupt, 1);
    }

    /// The counters of this worker (in this process), with hits and dropped events from
    /// the event table. The totals of every process are
    /// [`Janitor::shared_stats`](crate::Janitor::shared_stats).
    pub fn stats(&self) -> EvictStats {
        self.shared.janitor.counters.snapshot()
    }

    /// The explicit operations, run on the caller's thread (they share the worker's
    /// counters).
    pub fn janitor(&self) -> &Janitor {
        &self.shared.janitor
    }

    /// The namespace whose hits this worker records.
    pub fn namespace(&self) -> &Namespace {
        &self.shared.namespace
    }

    /// Runs a round now and waits for it: every event recorded before the call has been
    /// applied when this returns (a cleanup run, if one was due and no other process was
    /// running one, and the counters merged into the shared lifetime counters, unless
    /// another process held their lock for all of [`MERGE_LOCK_WAIT`]: the next merge then
    /// adds them). Returns at once if the worker has stopped.
    ///
    /// [`MERGE_LOCK_WAIT`]: crate::MERGE_LOCK_WAIT
    pub fn sync(&self) {
        let s = &*self.shared;
        let mut c = s.control();
        if c.exited {
            return;
        }
        c.requested += 1;
        let target = c.requested;
        s.wake.notify_one();
        while c.completed < target && !c.exited {
            c = s.done.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The kernel's id of the worker thread (on Linux its `gettid`, the name of its entry
    /// under `/proc/self/task/`), once the thread has started: after a [`sync`](Self::sync)
    /// it is known. `None` before that, and on systems without such an id.
    ///
    /// For diagnostics and tests: it tells this worker's thread apart from those of the other
    /// caches in the process, which all carry the same name, `hoard-evict`.
    pub fn os_thread_id(&self) -> Option<u32> {
        self.shared.os_thread_id.get().copied()
    }

    /// Whether the worker thread is still running.
    pub fn is_running(&self) -> bool {
        !self.shared.control().exited
    }

    /// Stops the thread after a last round (pending hits applied, counters merged) and
    /// joins it. The last merge waits at most [`MERGE_LOCK_WAIT`] for the `counters` lock:
    /// if another process holds it all along (a stopped process, say), this process's
    /// unmerged counts are lost, and a warning says how many. Use counts not merged yet
    /// are lost too (as when the `usage` lock is busy).
    ///
    /// [`MERGE_LOCK_WAIT`]: crate::MERGE_LOCK_WAIT
    pub fn stop(&self) {
        {
            let mut c = self.shared.control();
            c.stop = true;
        }
        self.shared.wake.notify_one();
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle
            && h.join().is_err()
        {
            tracing::warn!("the eviction worker thread panicked");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// State only the worker thread touches.
struct Local {
    spare: CountMap,
    /// Uses not yet merged into the shared usage state.
    pending: HashMap<Digest, u32, DigestHash>,
    /// When each recently touched entry was last touched (ms).
    touched: HashMap<Digest, i64, DigestHash>,
    touch_batch: Vec<(Digest, SystemTime)>,
    cap: usize,
    last_merge_ms: i64,
    /// When the counters were last merged into the shared lifetime counters (ms).
    last_counters_ms: i64,
    /// When a cleanup check is next worth making (ms); `i64::MIN`: now.
    next_check_ms: i64,
    /// Whether the cache is over its limits or its state is not known yet.
    over_or_unknown: bool,
    inserted: bool,
}

fn lower_priority() {
    // Best effort: on Linux the nice value is per thread, so this lowers only the worker.
    #[cfg(unix)]
    if let Err(e) = rustix::process::nice(10) {
        tracing::debug!(error = %e, "cannot lower the eviction worker's priority");
    }
}

fn run(shared: &Shared) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(tid) = u32::try_from(rustix::thread::gettid().as_raw_nonzero().get()) {
        // The thread runs once, so the cell is empty here.
        let _ = shared.os_thread_id.set(tid);
    }
    let config = shared.janitor.config();
    if config.low_priority {
        lower_priority();
    }
    let cap = usize::try_from(config.event_capacity)
        .unwrap_or(usize::MAX)
        .max(1);
    let mut local = Local {
        spare: count_map(shared.table.per_shard()),
        pending: HashMap::with_hasher(DigestHash),
        touched: HashMap::with_hasher(DigestHash),
        touch_batch: Vec::new(),
        cap,
        last_merge_ms: i64::MIN,
        last_counters_ms: i64::MIN,
        next_check_ms: i64::MIN,
        over_or_unknown: true,
        inserted: false,
    };
    let period = config.flush_period;
    loop {
        let (target, stop) = {
            let mut c = shared.control();
            if !(c.stop || c.poke || c.requested > c.completed) {
                c = shared
                    .wake
                    .wait_timeout(c, period)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            c.poke = false;
            (c.requested, c.stop)
        };
        let forced = stop || target > shared.control().completed;
        round(shared, &mut local, forced, stop);
        let mut c = shared.control();
        c.completed = c.completed.max(target);
        if stop {
            c.exited = true;
        }
        shared.done.notify_all();
        if stop {
            return;
        }
    }
}

/// One round; `forced` by `sync` or `stop`, `last` at `stop`.
fn round(shared: &Shared, local: &mut Local, forced: bool, last: bool) {
    let janitor = &shared.janitor;
    let config = janitor.config();
    let now = janitor.clock().now();
    let now_ms = to_ms(now);
    let granularity = i64::try_from(config.touch_granularity.as_millis()).unwrap_or(i64::MAX);
    let counting = config.usage_threshold > 0;
    let mut hits = 0u64;
    let mut dropped = 0u64;
    let Local {
        spare,
        pending,
        touched,
        touch_batch,
        cap,
        ..
    } = local;
    shared.table.drain(spare, |d, n| {
        hits += u64::from(n);
        if counting {
            if let Some(p) = pending.get_mut(d) {
                *p = p.saturating_add(n);
            } else if pending.len() < *cap * 4 {
                pending.insert(*d, n);
            } else {
                dropped += u64::from(n);
            }
        }
        let fresh = touched
            .get(d)
            .is_some_and(|&t| t <= now_ms && now_ms - t < granularity);
        if !fresh {
            if touched.len() >= *cap * 4 {
                touched.clear();
            }
            touched.insert(*d, now_ms);
            touch_batch.push((*d, now));
        }
    });
    if dropped > 0 {
        tracing::debug!(
            dropped,
            "use counts dropped: too many entries waiting to be merged"
        );
    }
    if !local.touch_batch.is_empty() {
        if let Err(e) = janitor.store().touch(&shared.namespace, &local.touch_batch) {
            janitor.error("cannot record the use of cache entries", &e);
        }
        local.touch_batch.clear();
    }
    let merge_period = i64::try_from(config.usage_merge_period.as_millis()).unwrap_or(i64::MAX);
    if counting
        && !local.pending.is_empty()
        && (forced || now_ms.saturating_sub(local.last_merge_ms) >= merge_period)
    {
        merge(shared, local, now_ms);
    }
    if shared.inserted.swap(false, Ordering::Relaxed) {
        local.inserted = true;
    }
    let wanted = local.inserted || (hits > 0 && local.over_or_unknown);
    if wanted && now_ms >= local.next_check_ms {
        check_cleanup(shared, local, now_ms);
    }
    // Last, so that what this round's cleanup evicted is in the same merge.
    if forced || now_ms.saturating_sub(local.last_counters_ms) >= merge_period {
        merge_counters(janitor, local, now_ms, forced, last);
    }
}

/// Adds the counts since the last merge to the shared lifetime counters. A scheduled merge
/// skips a lock another process holds (the next round retries); `sync` and `stop` wait
/// for it, for at most [`MERGE_LOCK_WAIT`], so that their callers see the counts merged
/// unless the lock's holder is stuck. What the `last` merge (at `stop`) could not add is
/// lost, and logged.
fn merge_counters(janitor: &Janitor, local: &mut Local, now_ms: i64, forced: bool, last: bool) {
    let bound = if forced {
        MERGE_LOCK_WAIT
    } else {
        Duration::ZERO
    };
    match janitor.merge_counters(bound) {
        Ok(true) => local.last_counters_ms = now_ms,
        Ok(false) if last => tracing::warn!(
            lost = janitor.unmerged_total(),
            "the \"counters\" lock is held by another process: the counts of this process \
             that were not merged yet are lost"
        ),
        Ok(false) => {}
        Err(e) => {
            janitor.error("cannot add to the lifetime counters", &e);
            // Not before the next period: a failing store is not hammered every round.
            local.last_counters_ms = now_ms;
        }
    }
}

fn merge(shared: &Shared, local: &mut Local, now_ms: i64) {
    let janitor = &shared.janitor;
    let uses: Vec<(Digest, u32)> = local.pending.iter().map(|(d, n)| (*d, *n)).collect();
    match janitor.merge_usage(&shared.namespace, &uses) {
        Ok(Some(claimed)) => {
            local.pending.clear();
            local.last_merge_ms = now_ms;
            for d in claimed {
                if let Err(e) = janitor.recompress(&shared.namespace, &d) {
                    janitor.error("cannot recompress a cache entry", &e);
                }
            }
        }
        // Another process is merging: keep the counts for the next round.
        Ok(None) => {}
        Err(e) => {
            janitor.error("cannot merge use counts", &e);
            local.last_merge_ms = now_ms;
        }
    }
}

fn check_cleanup(shared: &Shared, local: &mut Local, now_ms: i64) {
    let janitor = &shared.janitor;
    let config = janitor.config();
    let interval = i64::try_from(config.cleanup_interval.as_millis()).unwrap_or(i64::MAX);
    let retry =
        i64::try_from(BUSY_RETRY.min(config.cleanup_interval).as_millis()).unwrap_or(i64::MAX);
    match janitor.cleanup_if_due() {
        Ok(Some(report)) => {
            local.inserted = false;
            local.over_or_unknown = config
                .limits
                .exceeded_by(report.entries_after, report.bytes_after);
            local.next_check_ms = now_ms.saturating_add(interval);
        }
        Ok(None) => {
            // Not due, or another process is cleaning: learn what the last cleanup saw.
            let marker = janitor.read_marker();
            let due = janitor.due_ms(marker.as_ref(), now_ms);
            match marker {
                Some(m) if due > now_ms => {
                    local.over_or_unknown = config.limits.exceeded_by(m.entries, m.bytes);
                    local.next_check_ms = due;
                }
                _ => local.next_check_ms = now_ms.saturating_add(retry),
            }
        }
        Err(e) => {
            janitor.error("cleanup failed", &e);
            local.next_check_ms = now_ms.saturating_add(retry);
        }
    }
}
