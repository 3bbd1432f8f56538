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
//!    once per [`usage_merge_period`](crate::WorkerConfig::usage_merge_period)), with the
//!    resets of the entries put since ([`Worker::record_put`]) and the outcomes of its
//!    previous attempts, and recompresses the entries past the threshold that no process
//!    has settled yet; an attempt that found the entry's lock busy, lost to a newer put or
//!    failed is retried at the next merges (at most three times without a new use, and
//!    again at any later use);
//! 3. with the adaptive format ([`WorkerConfig::adaptive`](crate::WorkerConfig::adaptive)),
//!    runs a pass making idle entries cold at most once per
//!    [`Adaptive::period`](crate::Adaptive::period) (not in the worker's first period, not
//!    at stop); the entries past the threshold above are made hot instead of recompressed;
//! 4. runs a cleanup if one is due: after inserts, or after hits while the cache is known to
//!    be over its limits (or its state is not known yet), at most once per cleanup interval
//!    across processes;
//! 5. adds what this process counted since its last merge (hits, misses, inserts,
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

use crate::janitor::{Janitor, Recompressed, UsageUpdate, to_ms};
use crate::lock::MERGE_LOCK_WAIT;
use crate::stats::{Counters, EvictStats};
use crate::table::{CountMap, DigestHash, HitTable, count_map};

/// Retry delay (clock time) after a cleanup could not run because another process held the
/// cleanup lock.
const BUSY_RETRY: Duration = Duration::from_secs(60);

/// Merges at which an entry whose conversion was busy or failed is tried again without a
/// new use of it (a new use always brings another attempt).
pub(crate) const RETRIES: u8 = 3;

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
    /// Entries put since the last round, whose use counts start again.
    resets: Mutex<Vec<Digest>>,
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
            resets: Mutex::new(Vec::new()),
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

    /// Reports an insert: a cleanup check is due at the worker's next round. Prefer
    /// [`record_put`](Self::record_put), which also resets the entry's use count.
    pub fn record_insert(&self) {
        Counters::add(&self.shared.janitor.counters.inserts, 1);
        self.shared.inserted.store(true, Ordering::Relaxed);
    }

    /// Reports a put of `digest` (in the worker's namespace): an insert, and, as
    /// wasmtime-cache's fresh stats file on every update, its use count starts again from
    /// zero at the worker's next merge, so uses of an older value never make a new one
    /// popular. Uses recorded before the put that the worker has not applied yet may count
    /// after the reset. Takes a mutex the worker holds only to swap a list (the put path,
    /// not the hit path); when more resets wait than the event table holds, the reset is
    /// dropped and counted in [`Counts::dropped_events`](crate::Counts::dropped_events).
    pub fn record_put(&self, digest: &Digest) {
        self.record_insert();
        let s = &*self.shared;
        if s.janitor.usage_threshold() == 0 {
            return;
        }
        let cap = usize::try_from(s.janitor.config().event_capacity).unwrap_or(usize::MAX);
        let mut resets = s.resets.lock().unwrap_or_else(PoisonError::into_inner);
        if resets.len() < cap.max(1) {
            resets.push(*digest);
        } else {
            Counters::add(&s.janitor.counters.dropped_events, 1);
        }
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
        self.shared.janitor.cancelled.store(true, Ordering::Relaxed);
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
    /// Entries put since the last merge, whose shared counts start again.
    resets: Vec<Digest>,
    /// Entries whose conversion this process settled since the last merge.
    settled: Vec<Digest>,
    /// Entries whose conversion was busy or failed, with the attempts made so far.
    retry: HashMap<Digest, u8, DigestHash>,
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
    /// When the adaptive format's last pass ran (ms); the worker's start before the first.
    last_adapt_ms: i64,
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
        resets: Vec::new(),
        settled: Vec::new(),
        retry: HashMap::with_hasher(DigestHash),
        touched: HashMap::with_hasher(DigestHash),
        touch_batch: Vec::new(),
        cap,
        last_merge_ms: i64::MIN,
        last_counters_ms: i64::MIN,
        next_check_ms: i64::MIN,
        over_or_unknown: true,
        inserted: false,
        last_adapt_ms: to_ms(shared.janitor.clock().now()),
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
    let counting = janitor.usage_threshold() > 0;
    let mut hits = 0u64;
    if counting {
        // Before the table is drained: the uses drained below count after the reset.
        let mut resets = shared.resets.lock().unwrap_or_else(PoisonError::into_inner);
        for d in resets.drain(..) {
            local.pending.remove(&d);
            local.retry.remove(&d);
            local.resets.push(d);
        }
    }
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
    let work = !local.pending.is_empty()
        || !local.resets.is_empty()
        || !local.settled.is_empty()
        || !local.retry.is_empty();
    if counting && work && (forced || now_ms.saturating_sub(local.last_merge_ms) >= merge_period) {
        merge(shared, local, now_ms);
    }
    if shared.inserted.swap(false, Ordering::Relaxed) {
        local.inserted = true;
    }
    if let Some(policy) = config.adaptive
        && !last
    {
        let period = i64::try_from(policy.period.as_millis()).unwrap_or(i64::MAX);
        if now_ms.saturating_sub(local.last_adapt_ms) >= period {
            adapt(shared, local, now_ms);
        }
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
    let mut uses: Vec<(Digest, u32)> = local.pending.iter().map(|(d, n)| (*d, *n)).collect();
    uses.extend(
        local
            .retry
            .keys()
            .filter(|d| !local.pending.contains_key(*d))
            .map(|d| (*d, 0)),
    );
    let update = UsageUpdate::new(&uses)
        .settled(&local.settled)
        .reset(&local.resets);
    match janitor.merge_usage_with(&shared.namespace, &update) {
        Ok(Some(candidates)) => {
            local.pending.clear();
            local.resets.clear();
            local.settled.clear();
            local.last_merge_ms = now_ms;
            let mut retry = std::mem::take(&mut local.retry);
            for d in candidates {
                let outcome = janitor.convert_popular(&shared.namespace, &d);
                settle(janitor, local, &mut retry, d, outcome);
            }
            // Entries no longer candidates (settled or reset elsewhere) are not retried.
            retry.clear();
        }
        // Another process is merging: keep everything for the next round.
        Ok(None) => {}
        Err(e) => {
            janitor.error("cannot merge use counts", &e);
            local.last_merge_ms = now_ms;
        }
    }
}

/// Records the outcome of one conversion attempt: settled for good, or another attempt at
/// the next merges (at most [`RETRIES`] without a new use).
fn settle(
    janitor: &Janitor,
    local: &mut Local,
    tried: &mut HashMap<Digest, u8, DigestHash>,
    d: Digest,
    outcome: Result<Recompressed>,
) {
    let again = match outcome {
        Ok(Recompressed::Busy) => true,
        Ok(_) => false,
        Err(e) => {
            janitor.error("cannot recompress a cache entry", &e);
            true
        }
    };
    if again {
        let attempts = tried.remove(&d).unwrap_or(0).saturating_add(1);
        if attempts <= RETRIES {
            local.retry.insert(d, attempts);
        }
    } else {
        local.settled.push(d);
    }
}

/// A pass of the adaptive format; the use counts of the entries it made cold are reset at
/// the next merge.
fn adapt(shared: &Shared, local: &mut Local, now_ms: i64) {
    let janitor = &shared.janitor;
    match janitor.adapt_pass(&shared.namespace) {
        Ok(Some((report, made_cold))) => {
            local.last_adapt_ms = now_ms;
            if report.made_cold > 0 {
                tracing::debug!(?report, "entries made cold");
            }
            for d in made_cold {
                local.pending.remove(&d);
                local.retry.remove(&d);
                local.resets.push(d);
            }
        }
        // Another process is running one (over its namespace): try again in a period.
        Ok(None) => local.last_adapt_ms = now_ms,
        Err(e) => {
            janitor.error("the adaptive format's pass failed", &e);
            local.last_adapt_ms = now_ms;
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
