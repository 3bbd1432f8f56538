//! The bridge from [`CacheConfig`]'s worker keys to the eviction worker's [`WorkerConfig`].

use hoard_evict::{Limits, WorkerConfig};

use crate::config::CacheConfig;

/// The fewest distinct entries the worker's hit table holds. wasmtime-cache's
/// `worker-event-queue-size` (default 16) sized a queue of single events that was drained as
/// they came; hoard's table coalesces repeated hits of an entry and is drained once a second,
/// so it needs room for the distinct entries hit in that time. A larger setting is honoured.
const MIN_EVENT_CAPACITY: u64 = 4096;

impl From<&CacheConfig> for WorkerConfig {
    /// Every worker key of the configuration, with hoard's own worker settings at their
    /// defaults; the maximum recompressed entry size is the cache's `max-entry-size`.
    fn from(c: &CacheConfig) -> Self {
        let limits = Limits::new(c.file_count_soft_limit, c.files_total_size_soft_limit)
            .percent_if_deleting(
                c.file_count_limit_percent_if_deleting.get(),
                c.files_total_size_limit_percent_if_deleting.get(),
            );
        let config = WorkerConfig::new()
            .limits(limits)
            .cleanup_interval(c.cleanup_interval)
            .usage_threshold(c.optimized_compression_usage_counter_threshold)
            .optimized_level(c.optimized_compression_level)
            .task_timeout(c.optimizing_compression_task_timeout)
            .allowed_clock_drift(c.allowed_clock_drift_for_files_from_future)
            .event_capacity(c.worker_event_queue_size.max(MIN_EVENT_CAPACITY))
            .max_entry_size(c.max_entry_size);
        if c.adaptive {
            config.adaptive(c.adaptive_policy)
        } else {
            config
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Percent;

    #[test]
    fn every_worker_key_is_carried_over() {
        let c = CacheConfig {
            file_count_soft_limit: 10,
            files_total_size_soft_limit: 2000,
            file_count_limit_percent_if_deleting: Percent::new(50).expect("valid"),
            files_total_size_limit_percent_if_deleting: Percent::new(60).expect("valid"),
            cleanup_interval: Duration::from_secs(5),
            optimized_compression_usage_counter_threshold: 7,
            optimized_compression_level: 19,
            optimizing_compression_task_timeout: Duration::from_secs(9),
            allowed_clock_drift_for_files_from_future: Duration::from_secs(11),
            worker_event_queue_size: 100_000,
            max_entry_size: 1234,
            ..CacheConfig::default()
        };
        let w = WorkerConfig::from(&c);
        assert_eq!(
            (
                w.limits.count,
                w.limits.bytes,
                w.limits.count_target(),
                w.limits.bytes_target()
            ),
            (10, 2000, 5, 1200)
        );
        assert_eq!(w.cleanup_interval, Duration::from_secs(5));
        assert_eq!((w.usage_threshold, w.optimized_level), (7, 19));
        assert_eq!(w.task_timeout, Duration::from_secs(9));
        assert_eq!(w.allowed_clock_drift, Duration::from_secs(11));
        assert_eq!((w.event_capacity, w.max_entry_size), (100_000, 1234));
        // The ancestor's default queue of 16 becomes the table's minimum.
        assert_eq!(
            WorkerConfig::from(&CacheConfig::default()).event_capacity,
            MIN_EVENT_CAPACITY
        );
        assert_eq!(
            WorkerConfig::from(&CacheConfig::default()).limits,
            Limits::default()
        );
        assert_eq!(WorkerConfig::from(&CacheConfig::default()).adaptive, None);
        let policy = hoard_evict::Adaptive::new().hot_uses(3);
        let adaptive = CacheConfig {
            adaptive: true,
            adaptive_policy: policy,
            ..CacheConfig::default()
        };
        assert_eq!(WorkerConfig::from(&adaptive).adaptive, Some(policy));
    }
}
