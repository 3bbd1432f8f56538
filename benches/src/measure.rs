//! Interleaved measurement: every contender does operation `i` before any does `i + 1`, so
//! that the machine's noise spreads evenly over them (so compare ratios within one run).

use std::io;
use std::time::Instant;

use serde::Serialize;

use crate::contenders::{Contender, disk_use};
use crate::workload::Source;

/// Latency figures of one operation kind, in microseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    /// Operations measured.
    pub samples: usize,
    /// Median.
    pub median_us: f64,
    /// 99th percentile (nearest rank).
    pub p99_us: f64,
    /// Mean.
    pub mean_us: f64,
    /// Throughput at the median, in MB/s of uncompressed bytes.
    pub mb_per_s: f64,
}

impl Latency {
    fn from_samples(mut us: Vec<f64>, bytes: usize) -> Self {
        if us.is_empty() {
            return Self::default();
        }
        us.sort_by(f64::total_cmp);
        let at = |q: f64| us[((us.len() as f64 * q).ceil() as usize).clamp(1, us.len()) - 1];
        let median = at(0.5);
        Self {
            samples: us.len(),
            median_us: median,
            p99_us: at(0.99),
            mean_us: us.iter().sum::<f64>() / us.len() as f64,
            mb_per_s: if median > 0.0 {
                bytes as f64 / median
            } else {
                0.0
            },
        }
    }
}

/// One contender at one size.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// Contender name.
    pub contender: String,
    /// Value size in bytes.
    pub size: usize,
    /// Puts of new entries (the miss path).
    pub put: Latency,
    /// Gets of stored entries (the hit path).
    pub get: Latency,
    /// Logical bytes stored divided by the growth of the files' sizes (the codec's ratio,
    /// headers and indexes included).
    pub compression_ratio: f64,
    /// Growth of allocated disk blocks during the puts (file system overhead included).
    pub disk_bytes: u64,
    /// Gets that returned nothing or wrong bytes (must be 0).
    pub wrong_reads: usize,
}

/// Puts `count` small entries (ids from `first_id`, each with its own value) into every
/// contender, unmeasured, so that measured puts find the directories a long-lived cache
/// already has (shards, index levels, content directories) instead of paying a `mkdir` that
/// a cache pays once in its life.
pub fn warm_up(
    contenders: &mut [Box<dyn Contender>],
    source: &Source,
    first_id: u64,
    count: usize,
    mut tick: impl FnMut(),
) -> io::Result<()> {
    for id in first_id..first_id + count as u64 {
        let value = source.value(1 << 10, id);
        for c in contenders.iter_mut() {
            c.put(id, &value)?;
        }
        tick();
    }
    Ok(())
}

/// Puts `ops` fresh entries of `size` bytes (ids from `first_id`, each with its own value:
/// see [`Source::value`]) into each contender, then reads them back `ops` times,
/// interleaving contenders op by op; `tick` is called after each op of each contender (for
/// progress). Values are made between timed operations, one at a time, so that a run at 16
/// MiB holds one value rather than all of them. Disk use is the growth of each contender's
/// directory during the puts.
pub fn run_size(
    contenders: &mut [Box<dyn Contender>],
    source: &Source,
    size: usize,
    ops: usize,
    first_id: u64,
    mut tick: impl FnMut(),
) -> io::Result<Vec<CaseResult>> {
    let n = contenders.len();
    for c in contenders.iter_mut() {
        c.settle()?;
    }
    let disk_before: Vec<(u64, u64)> = contenders.iter().map(|c| disk_use(c.dir())).collect();
    let mut put_us = vec![Vec::with_capacity(ops); n];
    let mut get_us = vec![Vec::with_capacity(ops); n];
    let mut wrong = vec![0usize; n];
    for i in 0..ops {
        let id = first_id + i as u64;
        let value = source.value(size, id);
        for k in 0..n {
            // Rotate who goes first so that no contender always follows the same neighbour.
            let c = (i + k) % n;
            let started = Instant::now();
            contenders[c].put(id, &value)?;
            put_us[c].push(started.elapsed().as_secs_f64() * 1e6);
            tick();
        }
    }
    for i in 0..ops {
        let id = first_id + ((i * 7 + 3) % ops) as u64;
        let value = source.value(size, id);
        for k in 0..n {
            let c = (i + k) % n;
            let started = Instant::now();
            let got = contenders[c].get_view(id)?;
            get_us[c].push(started.elapsed().as_secs_f64() * 1e6);
            if got.as_deref().map(|v| &v[..]) != Some(value.as_slice()) {
                wrong[c] += 1;
            }
            tick();
        }
    }
    for c in contenders.iter_mut() {
        c.settle()?;
    }
    Ok(contenders
        .iter()
        .enumerate()
        .map(|(c, con)| {
            let (stored, blocks) = disk_use(con.dir());
            let stored = stored.saturating_sub(disk_before[c].0);
            let disk = blocks.saturating_sub(disk_before[c].1);
            let logical = (size * ops) as f64;
            CaseResult {
                contender: con.name().to_owned(),
                size,
                put: Latency::from_samples(std::mem::take(&mut put_us[c]), size),
                get: Latency::from_samples(std::mem::take(&mut get_us[c]), size),
                compression_ratio: if stored > 0 {
                    logical / stored as f64
                } else {
                    0.0
                },
                disk_bytes: disk,
                wrong_reads: wrong[c],
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let l = Latency::from_samples((1..=100).map(f64::from).collect(), 1_000_000);
        assert_eq!((l.median_us, l.p99_us, l.samples), (50.0, 99.0, 100));
        assert!((l.mean_us - 50.5).abs() < 1e-9);
        assert!((l.mb_per_s - 20_000.0).abs() < 1e-9);
        assert_eq!(Latency::from_samples(vec![], 1).samples, 0);
    }

    /// Remembers every value put, in memory.
    struct Recorder {
        dir: std::path::PathBuf,
        values: std::collections::HashMap<u64, Vec<u8>>,
    }

    impl Contender for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        fn put(&mut self, id: u64, data: &[u8]) -> io::Result<()> {
            assert!(
                self.values.insert(id, data.to_vec()).is_none(),
                "entry {id} was put twice"
            );
            Ok(())
        }
        fn get(&mut self, id: u64) -> io::Result<Option<Vec<u8>>> {
            Ok(self.values.get(&id).cloned())
        }
        fn dir(&self) -> &std::path::Path {
            &self.dir
        }
        fn disk_note(&self) -> String {
            "nothing on disk".to_owned()
        }
    }

    #[test]
    fn no_two_entries_of_a_run_share_bytes() {
        let dir = tempfile::tempdir().expect("a temp dir");
        for source in [Source::Generated, Source::Corpus(vec![7; 1 << 20])] {
            let mut contenders: Vec<Box<dyn Contender>> = vec![Box::new(Recorder {
                dir: dir.path().to_path_buf(),
                values: std::collections::HashMap::new(),
            })];
            warm_up(&mut contenders, &source, 1 << 40, 20, || {}).expect("in memory");
            let mut ids: Vec<u64> = ((1 << 40)..(1 << 40) + 20).collect();
            for (i, (size, ops)) in [(1usize << 10, 20usize), (64 << 10, 6)]
                .into_iter()
                .enumerate()
            {
                let first = i as u64 * 1_000_000;
                let cases =
                    run_size(&mut contenders, &source, size, ops, first, || {}).expect("in memory");
                assert_eq!(cases[0].wrong_reads, 0);
                ids.extend(first..first + ops as u64);
            }
            let values: std::collections::HashSet<Vec<u8>> = ids
                .iter()
                .map(|&id| contenders[0].get(id).expect("in memory").expect("put"))
                .collect();
            assert_eq!(values.len(), ids.len(), "two entries share their bytes");
        }
    }
}
