//! [`WorkerConfig`] and [`Limits`]: the ancestor's worker settings, with its defaults, plus
//! hoard's own.

use std::time::Duration;

/// The soft limits a cleanup enforces and the targets it shrinks to.
///
/// A cleanup deletes entries only when the cache holds **more** than `count` entries or
/// **more** than `bytes` bytes; it then deletes until both the count and the size are at
/// most their `*_percent_if_deleting` share of the limit (wasmtime-cache's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// `file-count-soft-limit`: most entries before a cleanup deletes (default 65,536).
    pub count: u64,
    /// `files-total-size-soft-limit`: most bytes before a cleanup deletes (default 512 MiB).
    pub bytes: u64,
    /// `file-count-limit-percent-if-deleting`, 0 to 100 (default 70).
    pub count_percent_if_deleting: u8,
    /// `files-total-size-limit-percent-if-deleting`, 0 to 100 (default 70).
    pub bytes_percent_if_deleting: u8,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            count: 65_536,
            bytes: 512 << 20,
            count_percent_if_deleting: 70,
            bytes_percent_if_deleting: 70,
        }
    }
}

impl Limits {
    /// Limits of `count` entries and `bytes` bytes, shrinking to 70% of each.
    pub fn new(count: u64, bytes: u64) -> Self {
        Self {
            count,
            bytes,
            ..Self::default()
        }
    }

    /// Sets both percentages (values above 100 count as 100).
    #[must_use]
    pub fn percent_if_deleting(mut self, count: u8, bytes: u8) -> Self {
        self.count_percent_if_deleting = count.min(100);
        self.bytes_percent_if_deleting = bytes.min(100);
        self
    }

    /// Whether `entries` and `bytes` exceed a soft limit.
    pub fn exceeded_by(&self, entries: u64, bytes: u64) -> bool {
        entries > self.count || bytes > self.bytes
    }

    /// The entry count a cleanup shrinks to.
    pub fn count_target(&self) -> u64 {
        share(self.count, self.count_percent_if_deleting)
    }

    /// The total size a cleanup shrinks to.
    pub fn bytes_target(&self) -> u64 {
        share(self.bytes, self.bytes_percent_if_deleting)
    }
}

fn share(total: u64, percent: u8) -> u64 {
    let percent = u128::from(percent.min(100));
    // At most `total`, so it fits.
    (u128::from(total) * percent / 100) as u64
}

/// The adaptive format's policy (see [`WorkerConfig::adaptive`]): which entries are cold
/// and stored small, which are hot and stored fast, and how much disk the fast ones may
/// take.
///
/// Puts write the fast format (the cache's codec; the facade's is identity) so that
/// a miss never waits for zstd. The worker then:
/// - makes **cold** every entry not used for [`cold_after`](Self::cold_after): its last use,
///   the later of its access and modification times (the same time cleanups evict by), is
///   that old. Cold entries are re-encoded with zstd at [`cold_level`](Self::cold_level)
///   (zstd decodes level 19 about as fast as level 3, so a cold entry used again costs
///   what a default cache's hit does), and their use count starts again from zero;
/// - makes **hot** again an entry stored cold that is used [`hot_uses`](Self::hot_uses)
///   times since it was made cold (counted across processes, as popular entries are),
///   re-encoding it in the fast format, as long as the fast entries stay within the
///   budget;
/// - keeps the entries stored fast within [`hot_budget_percent`](Self::hot_budget_percent)
///   of the size limit ([`Limits::bytes`]): beyond it, the least recently used fast entries
///   are made cold before their time, and no entry is made hot.
///
/// It looks for cold entries at most once per [`period`](Self::period), not in the first
/// period of a worker (a short-lived process never does) and not at its stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Adaptive {
    /// Time without use after which an entry is made cold (default 1 hour).
    pub cold_after: Duration,
    /// Uses since it was made cold after which an entry is made hot (default 8).
    pub hot_uses: u64,
    /// Most bytes the entries stored fast may take, as a share of
    /// [`Limits::bytes`] (0 to 100; default 20).
    pub hot_budget_percent: u8,
    /// The zstd level of cold entries (default 19).
    pub cold_level: i32,
    /// Least time between two passes looking for cold entries (default 5 minutes).
    pub period: Duration,
}

impl Default for Adaptive {
    fn default() -> Self {
        Self {
            cold_after: Duration::from_secs(60 * 60),
            hot_uses: 8,
            hot_budget_percent: 20,
            cold_level: 19,
            period: Duration::from_secs(5 * 60),
        }
    }
}

impl Adaptive {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the time without use after which an entry is made cold.
    #[must_use]
    pub fn cold_after(mut self, idle: Duration) -> Self {
        self.cold_after = idle;
        self
    }

    /// Sets the uses after which a cold entry is made hot (at least 1).
    #[must_use]
    pub fn hot_uses(mut self, uses: u64) -> Self {
        self.hot_uses = uses.max(1);
        self
    }

    /// Sets the share of the size limit the fast entries may take (values above 100 count
    /// as 100).
    #[must_use]
    pub fn hot_budget_percent(mut self, percent: u8) -> Self {
        self.hot_budget_percent = percent.min(100);
        self
    }

    /// Sets the zstd level of cold entries.
    #[must_use]
    pub fn cold_level(mut self, level: i32) -> Self {
        self.cold_level = level;
        self
    }

    /// Sets the least time between two passes looking for cold entries.
    #[must_use]
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// The budget in bytes of the fast entries under `limits`.
    pub fn hot_budget(&self, limits: &Limits) -> u64 {
        share(limits.bytes, self.hot_budget_percent)
    }
}

/// Settings of the eviction worker. Every key of wasmtime-cache's worker is here with the
/// same default; the rest are hoard's own.
///
/// | field | ancestor key | default |
/// |---|---|---|
/// | [`limits`](Self::limits) | `file-count-soft-limit`, `files-total-size-soft-limit`, `*-percent-if-deleting` | 65,536 entries, 512 MiB, 70%, 70% |
/// | [`cleanup_interval`](Self::cleanup_interval) | `cleanup-interval` | 1 hour |
/// | [`usage_threshold`](Self::usage_threshold) | `optimized-compression-usage-counter-threshold` | 256 |
/// | [`optimized_level`](Self::optimized_level) | `optimized-compression-level` | 20 |
/// | [`task_timeout`](Self::task_timeout) | `optimizing-compression-task-timeout` | 30 minutes |
/// | [`allowed_clock_drift`](Self::allowed_clock_drift) | `allowed-clock-drift-for-files-from-future` | 1 day |
/// | [`event_capacity`](Self::event_capacity) | `worker-event-queue-size` (see the field) | 4,096 |
/// | [`flush_period`](Self::flush_period) | | 1 second |
/// | [`usage_merge_period`](Self::usage_merge_period) | | 1 minute |
/// | [`touch_granularity`](Self::touch_granularity) | | 1 minute |
/// | [`reconcile_interval`](Self::reconcile_interval) | | 1 day |
/// | [`max_entry_size`](Self::max_entry_size) | | 1 GiB |
/// | [`low_priority`](Self::low_priority) | | `true` |
/// | [`adaptive`](Self::adaptive) | (`codec = "adaptive"` in the facade) | off |
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// The soft limits and shrink targets of cleanups.
    pub limits: Limits,
    /// Least time between two scheduled cleanups of one cache directory, across every
    /// process that uses it.
    pub cleanup_interval: Duration,
    /// Uses (hits, summed across processes) after which an entry is recompressed at
    /// [`optimized_level`](Self::optimized_level); 0 turns recompression off.
    pub usage_threshold: u64,
    /// The level popular entries are recompressed at, with the cache's codec (ignored for
    /// codecs without levels).
    pub optimized_level: i32,
    /// Age at which a temp file is a crashed writer's leftover and is swept (exactly this
    /// old included, as in wasmtime-cache).
    pub task_timeout: Duration,
    /// How far in the future a file time may lie and still count as recent; a time beyond
    /// it is left out of the entry's last use (an entry with no other time counts as older
    /// than any other).
    pub allowed_clock_drift: Duration,
    /// Distinct entries whose hits can wait for the worker at once. Hits of an entry
    /// already waiting are coalesced into one count and never dropped; a hit of a new entry
    /// when the table is full is dropped and counted in
    /// [`Counts::dropped_events`](crate::Counts::dropped_events). The ancestor's
    /// `worker-event-queue-size` counted single events (16 by default); the facade maps it
    /// to at least 4,096 distinct entries here.
    pub event_capacity: u64,
    /// How often the worker thread wakes to apply pending events (real time; tests call
    /// [`Worker::sync`](crate::Worker::sync) instead of waiting).
    pub flush_period: Duration,
    /// Least clock time between two merges of this process's use counts into the shared
    /// usage state.
    pub usage_merge_period: Duration,
    /// An entry's last-use time is written at most once per this much clock time, however
    /// often it is hit.
    pub touch_granularity: Duration,
    /// Per-bucket accounting older than this is rebuilt by a full scan even when its stamps
    /// still match.
    pub reconcile_interval: Duration,
    /// Largest decoded entry the worker recompresses (memory of a recompression is about
    /// twice this plus the stored frame).
    pub max_entry_size: u64,
    /// Lower the worker thread's scheduling priority (best effort; Linux and other Unix).
    pub low_priority: bool,
    /// The adaptive format's policy, or `None` (the default) for none. With it, the use
    /// counts pick hot entries by [`Adaptive::hot_uses`] instead of
    /// [`usage_threshold`](Self::usage_threshold), and popular entries are not
    /// recompressed at [`optimized_level`](Self::optimized_level): the conversions need
    /// [`Codecs::adaptive`](crate::Codecs::adaptive).
    pub adaptive: Option<Adaptive>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            cleanup_interval: Duration::from_secs(60 * 60),
            usage_threshold: 256,
            optimized_level: 20,
            task_timeout: Duration::from_secs(30 * 60),
            allowed_clock_drift: Duration::from_secs(24 * 60 * 60),
            event_capacity: 4096,
            flush_period: Duration::from_secs(1),
            usage_merge_period: Duration::from_secs(60),
            touch_granularity: Duration::from_secs(60),
            reconcile_interval: Duration::from_secs(24 * 60 * 60),
            max_entry_size: 1 << 30,
            low_priority: true,
            adaptive: None,
        }
    }
}

impl WorkerConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the soft limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the cleanup interval.
    #[must_use]
    pub fn cleanup_interval(mut self, interval: Duration) -> Self {
        self.cleanup_interval = interval;
        self
    }

    /// Sets the usage threshold for recompression (0: never recompress).
    #[must_use]
    pub fn usage_threshold(mut self, uses: u64) -> Self {
        self.usage_threshold = uses;
        self
    }

    /// Sets the optimized compression level.
    #[must_use]
    pub fn optimized_level(mut self, level: i32) -> Self {
        self.optimized_level = level;
        self
    }

    /// Sets the task timeout (stale temp files).
    #[must_use]
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = timeout;
        self
    }

    /// Sets the allowed clock drift for files from the future.
    #[must_use]
    pub fn allowed_clock_drift(mut self, drift: Duration) -> Self {
        self.allowed_clock_drift = drift;
        self
    }

    /// Sets the capacity of the event table (at least 1).
    #[must_use]
    pub fn event_capacity(mut self, entries: u64) -> Self {
        self.event_capacity = entries.max(1);
        self
    }

    /// Sets how often the worker thread wakes.
    #[must_use]
    pub fn flush_period(mut self, period: Duration) -> Self {
        self.flush_period = period;
        self
    }

    /// Sets the least time between merges of use counts.
    #[must_use]
    pub fn usage_merge_period(mut self, period: Duration) -> Self {
        self.usage_merge_period = period;
        self
    }

    /// Sets the granularity of last-use times.
    #[must_use]
    pub fn touch_granularity(mut self, granularity: Duration) -> Self {
        self.touch_granularity = granularity;
        self
    }

    /// Sets the reconciliation interval.
    #[must_use]
    pub fn reconcile_interval(mut self, interval: Duration) -> Self {
        self.reconcile_interval = interval;
        self
    }

    /// Sets the largest decoded entry that is recompressed.
    #[must_use]
    pub fn max_entry_size(mut self, bytes: u64) -> Self {
        self.max_entry_size = bytes;
        self
    }

    /// Sets whether the worker thread lowers its priority.
    #[must_use]
    pub fn low_priority(mut self, low: bool) -> Self {
        self.low_priority = low;
        self
    }

    /// Turns the adaptive format's conversions on with `policy`.
    #[must_use]
    pub fn adaptive(mut self, policy: Adaptive) -> Self {
        self.adaptive = Some(policy);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_shares_of_the_limits() {
        let l = Limits::new(100, 1000);
        assert_eq!((l.count_target(), l.bytes_target()), (70, 700));
        assert!(!l.exceeded_by(100, 1000));
        assert!(l.exceeded_by(101, 0));
        assert!(l.exceeded_by(0, 1001));
        let l = Limits::new(u64::MAX, u64::MAX).percent_if_deleting(200, 0);
        assert_eq!((l.count_target(), l.bytes_target()), (u64::MAX, 0));
    }
}
