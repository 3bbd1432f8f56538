//! Counters of a [`RemoteStore`](crate::RemoteStore) ([`RemoteStats`]) and of a
//! [`TieredStore`](crate::TieredStore) ([`TierStats`]), kept with relaxed atomics.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($(#[$meta:meta])* $snapshot:ident, $atomics:ident { $($(#[$doc:meta])* $field:ident,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $snapshot {
            $($(#[$doc])* pub $field: u64,)*
        }

        impl $snapshot {
            /// Every counter with its name, in declaration order (for reports).
            pub fn fields(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($field), self.$field),)*]
            }
        }

        /// Counter by counter (saturating): the counters of several stores together, as
        /// [`ShardedStore::stats`](crate::ShardedStore::stats) sums its servers'.
        impl std::ops::Add for $snapshot {
            type Output = Self;

            fn add(self, other: Self) -> Self {
                Self { $($field: self.$field.saturating_add(other.$field),)* }
            }
        }

        #[derive(Debug, Default)]
        pub(crate) struct $atomics {
            $(pub(crate) $field: AtomicU64,)*
        }

        impl $atomics {
            pub(crate) fn snapshot(&self) -> $snapshot {
                $snapshot { $($field: self.$field.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    /// What one [`RemoteStore`](crate::RemoteStore) did in this process.
    ///
    /// Every get is exactly one of hit, miss, too large, failed or bypassed; every put is one
    /// of stored, failed, bypassed or skipped as too large.
    RemoteStats, RemoteCounters {
        /// Gets that returned a value.
        hits,
        /// Gets the remote answered with "not found".
        misses,
        /// Gets of a value longer than the read's limit: refused with
        /// [`ErrorKind::TooLarge`](hoard_core::ErrorKind::TooLarge), and not fetched where
        /// the backend tells the length first (Redis under a limit below its item limit, S3).
        too_large,
        /// Gets that failed (an error or a timeout).
        get_failures,
        /// Frames stored.
        puts,
        /// Puts that failed (an error or a timeout).
        put_failures,
        /// Puts not sent because the frame is larger than the backend's item limit.
        skipped_too_large,
        /// Removals that reached the remote.
        removes,
        /// Removals that failed.
        remove_failures,
        /// Operations abandoned after the per-operation timeout (also counted as failures).
        timeouts,
        /// Operations not sent because the circuit breaker was open.
        bypassed,
        /// Times the circuit breaker opened.
        breaker_trips,
        /// Bytes received in hits.
        bytes_read,
        /// Bytes sent in puts.
        bytes_written,
        /// Connection checks that failed: the server refused the connection, or did not
        /// accept it or answer within the connect timeout (the operation is counted as
        /// failed too; a check that timed out also counts in `timeouts`).
        connect_failures,
        /// Operations sent as the one probe after a cool-down (this process's own breaker's,
        /// or the probe this process claimed in the cache directory's shared state).
        probes,
        /// Leases taken ([`Store::lease`](hoard_core::Store::lease), Redis): this process
        /// computes the key for the fleet.
        lease_wins,
        /// Lease requests another holder had (a waiting process asks again as it waits, so
        /// one wait may count several).
        lease_losses,
        /// Lease requests that failed (an error, a timeout or the breaker open; the key is
        /// then computed without a lease).
        lease_failures,
    }
}

counters! {
    /// What one [`TieredStore`](crate::TieredStore) did in this process.
    TierStats, TierCounters {
        /// Gets answered by the local store.
        local_hits,
        /// Gets the local store missed and the remote answered with a valid frame.
        remote_hits,
        /// Gets neither tier could answer.
        misses,
        /// Remote values that failed verification (damaged, truncated, another key's frame):
        /// not served, not copied to the local store.
        remote_rejected,
        /// Intact remote frames this reader cannot use (a codec it lacks, a newer frame
        /// format, a declared size above its cap): misses, neither copied into the local
        /// store nor removed from the remote (another reader may use them).
        remote_undecodable,
        /// Intact remote frames an authenticated reader (whose decoders carry MAC keys)
        /// refuses: no MAC, another key's, or a forged tag. Misses, never copied into the
        /// local store, and left in the remote (a reader without the key, or with another
        /// one, may use them).
        remote_unauthenticated,
        /// Remote hits copied into the local store.
        backfills,
        /// Copies into the local store that failed.
        backfill_failures,
        /// Remote hits not copied because a put or removal of the entry (or of another entry
        /// of its lock stripe) in this process went through while the get ran: the newer
        /// local state stands.
        backfills_superseded,
        /// Frames written to the remote (write-through, or by the write-back thread).
        remote_writes,
        /// Remote writes that failed (counted; the local put still stands).
        remote_write_failures,
        /// Frames queued for the write-back thread.
        queued,
        /// Frames not queued because the write-back queue was full.
        dropped,
    }
}

impl RemoteCounters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
