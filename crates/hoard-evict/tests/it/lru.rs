//! Scripted LRU scenarios: a cache planted with exact sizes and times, one cleanup, and
//! exactly the expected survivors.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use hoard_evict::{Limits, WorkerConfig};

use crate::{digest, now, ns, setup};

/// When an entry was last used.
#[derive(Clone, Copy, Debug)]
enum T {
    /// This many seconds before "now" (access and modification time alike).
    Ago(u64),
    /// Modified this long ago, accessed that long ago.
    Split { modified: u64, accessed: u64 },
    /// This many seconds after "now".
    Ahead(u64),
    /// Modified this many seconds after "now", accessed that many seconds ago.
    AheadUsed { modified: u64, accessed: u64 },
    /// This many seconds after 1970-01-01.
    Epoch(u64),
    /// This many seconds before 1970-01-01.
    BeforeEpoch(u64),
    /// No times known.
    Unknown,
}

impl T {
    fn times(self) -> (Option<SystemTime>, Option<SystemTime>) {
        let ago = |s: u64| now() - Duration::from_secs(s);
        match self {
            Self::Ago(s) => (Some(ago(s)), Some(ago(s))),
            Self::Split { modified, accessed } => (Some(ago(modified)), Some(ago(accessed))),
            Self::Ahead(s) => {
                let t = now() + Duration::from_secs(s);
                (Some(t), Some(t))
            }
            Self::AheadUsed { modified, accessed } => (
                Some(now() + Duration::from_secs(modified)),
                Some(ago(accessed)),
            ),
            Self::Epoch(s) => {
                let t = SystemTime::UNIX_EPOCH + Duration::from_secs(s);
                (Some(t), Some(t))
            }
            Self::BeforeEpoch(s) => {
                let t = SystemTime::UNIX_EPOCH - Duration::from_secs(s);
                (Some(t), Some(t))
            }
            Self::Unknown => (None, None),
        }
    }
}

/// One entry: id (which also orders ties), namespace, size, last use.
type E = (u8, &'static str, usize, T);

fn run(limits: Limits, entries: &[E], survivors: &[u8]) {
    let config = WorkerConfig::new().limits(limits);
    let (_clock, store, janitor) = setup(config);
    for &(id, space, size, t) in entries {
        let (m, a) = t.times();
        store.put_with_times(&ns(space), &digest(id), &vec![0; size], m, a);
    }
    let report = janitor.cleanup_now().expect("cleanup");
    let left: BTreeSet<u8> = store
        .keys()
        .into_iter()
        .map(|(_, d)| d.as_bytes()[0])
        .collect();
    let want: BTreeSet<u8> = survivors.iter().copied().collect();
    assert_eq!(left, want, "survivors differ; report {report:?}");
    assert_eq!(
        report.evicted as usize,
        entries.len() - survivors.len(),
        "{report:?}"
    );
    assert_eq!(report.entries_after as usize, survivors.len());
    // A second cleanup right away finds nothing more to do.
    let again = janitor.cleanup_now().expect("cleanup");
    assert_eq!(again.evicted, 0, "{again:?}");
}

/// `n` entries of `size` bytes in namespace "n", entry i used `(n - i) * 60` seconds ago
/// (so higher ids are newer).
fn ladder(n: u8, size: usize) -> Vec<E> {
    (0..n)
        .map(|i| (i, "n", size, T::Ago(u64::from(n - i) * 60)))
        .collect()
}

fn ids(range: std::ops::Range<u8>) -> Vec<u8> {
    range.collect()
}

const BIG: u64 = 1 << 40;

#[test]
fn under_the_count_limit_nothing_goes() {
    run(Limits::new(10, BIG), &ladder(9, 10), &ids(0..9));
}

#[test]
fn at_the_count_limit_nothing_goes() {
    run(Limits::new(10, BIG), &ladder(10, 10), &ids(0..10));
}

#[test]
fn one_over_the_count_limit_shrinks_to_seventy_percent() {
    run(Limits::new(10, BIG), &ladder(11, 10), &ids(4..11));
}

#[test]
fn at_the_size_limit_nothing_goes() {
    run(Limits::new(100, 1000), &ladder(10, 100), &ids(0..10));
}

#[test]
fn over_the_size_limit_shrinks_to_seventy_percent() {
    run(Limits::new(100, 1000), &ladder(11, 100), &ids(4..11));
}

#[test]
fn the_stricter_target_wins_when_both_apply() {
    // 12 entries of 100 bytes: count target 7 (limit 10), size target 1050 (limit 1500).
    run(Limits::new(10, 1500), &ladder(12, 100), &ids(5..12));
    // Same entries, size binding: count target 70 (limit 100), size target 420 (limit 600).
    run(Limits::new(100, 600), &ladder(12, 100), &ids(8..12));
}

#[test]
fn ties_are_broken_by_digest_smallest_first() {
    let entries: Vec<E> = (0..11).map(|i| (i, "n", 10, T::Ago(300))).collect();
    run(Limits::new(10, BIG), &entries, &ids(4..11));
}

#[test]
fn a_tie_across_the_cut_evicts_exactly_enough() {
    // Two old entries, then five tied at the cut, then four new: 11 entries, 4 must go.
    let mut entries: Vec<E> = vec![(0, "n", 10, T::Ago(900)), (1, "n", 10, T::Ago(800))];
    entries.extend((2..7).map(|i| (i, "n", 10, T::Ago(500))));
    entries.extend((7..11).map(|i| (i, "n", 10, T::Ago(100))));
    run(Limits::new(10, BIG), &entries, &ids(4..11));
}

#[test]
fn a_file_from_the_far_future_counts_as_oldest() {
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::Ahead(100 * 365 * 86_400)));
    run(Limits::new(10, BIG), &entries, &[4, 5, 6, 7, 8, 9, 3]);
}

#[test]
fn a_file_slightly_in_the_future_counts_as_newest() {
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::Ahead(3600)));
    run(Limits::new(10, BIG), &entries, &ids(4..11));
}

/// Mirrors wasmtime-cache's `test_on_update_cleanup_future_files`, scenarios 1 and 2: a
/// file exactly `allowed-clock-drift-for-files-from-future` ahead is still recent, one
/// second more is from the far future.
#[test]
fn the_allowed_drift_itself_is_recent_and_one_second_more_is_not() {
    let day = 86_400;
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::Ahead(day)));
    run(Limits::new(10, BIG), &entries, &ids(4..11));
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::Ahead(day + 1)));
    run(Limits::new(10, BIG), &entries, &[3, 4, 5, 6, 7, 8, 9]);
}

/// Mirrors wasmtime-cache's `test_on_update_cleanup_future_files`, scenario 5: a module
/// file dated beyond the allowed drift whose `.stats` file was written just now is "a
/// legitimate file" and kept. hoard's last use is the access time the worker writes: an
/// entry from the far future used recently counts as used then.
#[test]
fn a_file_from_the_far_future_used_recently_is_kept() {
    let mut entries = ladder(10, 10);
    entries.push((
        10,
        "n",
        10,
        T::AheadUsed {
            modified: 100 * 86_400,
            accessed: 1,
        },
    ));
    run(Limits::new(10, BIG), &entries, &ids(4..11));
    // Used long ago, it is as old as that use.
    let mut entries = ladder(10, 10);
    entries.push((
        10,
        "n",
        10,
        T::AheadUsed {
            modified: 100 * 86_400,
            accessed: 10_000,
        },
    ));
    run(Limits::new(10, BIG), &entries, &ids(3..10));
}

#[test]
fn a_file_from_1970_counts_as_oldest() {
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::Epoch(0)));
    entries.push((11, "n", 10, T::Epoch(1)));
    run(Limits::new(10, BIG), &entries, &ids(3..10));
}

#[test]
fn a_file_from_before_1970_counts_as_oldest() {
    let mut entries = ladder(10, 10);
    entries.push((10, "n", 10, T::BeforeEpoch(86_400)));
    run(Limits::new(10, BIG), &entries, &ids(3..10));
}

#[test]
fn future_and_1970_files_together_go_first() {
    let mut entries = ladder(8, 10);
    entries.push((8, "n", 10, T::Ahead(10 * 86_400)));
    entries.push((9, "n", 10, T::Epoch(0)));
    entries.push((10, "n", 10, T::Unknown));
    // 11 entries, 4 go: the three timeless or untimely ones, then the oldest real one.
    run(Limits::new(10, BIG), &entries, &ids(1..8));
}

#[test]
fn an_entry_larger_than_the_whole_limit_does_not_flush_the_cache() {
    let mut entries = ladder(5, 100);
    // The newest entry is larger than the whole size limit.
    entries.push((5, "n", 5000, T::Ago(1)));
    run(Limits::new(100, 1000), &entries, &ids(0..5));
}

#[test]
fn an_entry_larger_than_the_target_goes_alone_when_it_cannot_fit() {
    // Size limit 1000, target 700; an 800-byte entry plus four of 100 = 1200 > 1000.
    let mut entries = ladder(4, 100);
    entries.push((4, "n", 800, T::Ago(1)));
    run(Limits::new(100, 1000), &entries, &ids(0..4));
}

#[test]
fn an_old_large_entry_goes_first_by_age() {
    // 600 bytes old + six of 100 new = 1200 > 1000: evicting the old one reaches 600 <= 700.
    let mut entries: Vec<E> = vec![(0, "n", 600, T::Ago(10_000))];
    entries.extend((1..7).map(|i| (i, "n", 100, T::Ago(100 - u64::from(i)))));
    run(Limits::new(100, 1000), &entries, &ids(1..7));
}

#[test]
fn the_later_of_access_and_modification_is_the_last_use() {
    let mut entries = ladder(10, 10);
    // Written long ago but read recently: survives.
    entries[0].3 = T::Split {
        modified: 100_000,
        accessed: 1,
    };
    // Accessed long ago (a noatime mount) but written recently: survives too.
    entries[1].3 = T::Split {
        modified: 2,
        accessed: 100_000,
    };
    entries.push((10, "n", 10, T::Ago(30)));
    run(Limits::new(10, BIG), &entries, &[0, 1, 6, 7, 8, 9, 10]);
}

#[test]
fn zero_percent_empties_the_cache() {
    run(
        Limits::new(10, BIG).percent_if_deleting(0, 0),
        &ladder(11, 10),
        &[],
    );
}

#[test]
fn one_hundred_percent_shrinks_to_the_limit_itself() {
    run(
        Limits::new(10, BIG).percent_if_deleting(100, 100),
        &ladder(13, 10),
        &ids(3..13),
    );
}

#[test]
fn least_recently_used_is_global_across_namespaces() {
    let entries: Vec<E> = (0..12u8)
        .map(|i| {
            let space = if i % 2 == 0 { "even-1.0" } else { "odd-2.0" };
            (i, space, 10, T::Ago(u64::from(12 - i) * 60))
        })
        .collect();
    run(Limits::new(10, BIG), &entries, &ids(5..12));
}

#[test]
fn entries_spread_over_many_buckets() {
    // Ids 0..=255 land in sixteen buckets; ages interleave them.
    let entries: Vec<E> = (0..=255u8)
        .map(|i| (i, "n", 10, T::Ago(u64::from(i.reverse_bits()) + 1)))
        .collect();
    // 256 entries, limit 100, target 70: the 70 with the smallest reversed bits survive.
    let survivors: Vec<u8> = (0..=255u8).filter(|i| i.reverse_bits() < 70).collect();
    run(Limits::new(100, BIG), &entries, &survivors);
}

#[test]
fn a_zero_count_limit_evicts_everything() {
    run(Limits::new(0, BIG), &ladder(3, 10), &[]);
}

#[test]
fn an_empty_cache_is_left_alone() {
    run(Limits::new(0, 0), &[], &[]);
}

#[test]
fn sizes_decide_when_counts_are_fine() {
    // Few, large entries: limit 1000 bytes, target 700; sizes 400, 300, 200, 100 (newest last).
    let entries: Vec<E> = vec![
        (0, "n", 400, T::Ago(40)),
        (1, "n", 300, T::Ago(30)),
        (2, "n", 200, T::Ago(20)),
        (3, "n", 150, T::Ago(10)),
    ];
    run(Limits::new(100, 1000), &entries, &[1, 2, 3]);
}
