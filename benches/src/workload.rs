//! The data the harness caches: compiled code, either generated or read from a corpus.

use std::io;
use std::path::Path;

/// Bytes at the start of each value that name its entry (see [`Source::value`]): two
/// little-endian u64s, mostly zero bytes for the ids and sizes of a run, which cost zstd-3
/// a few bytes per entry (the `salt_barely_changes_compression` test bounds it).
pub const SALT_LEN: usize = 16;

/// Where entry contents come from.
#[derive(Debug)]
pub enum Source {
    /// `hoard_testkit::artifact`: a deterministic generator shaped like x86-64 object code
    /// (repeated instruction sequences, relocations, symbol tables, some noise). Checked
    /// against real binaries with the compression ratios in the report: see the crate docs.
    Generated,
    /// Bytes of real files (binaries, libraries), concatenated; values are slices of it.
    Corpus(Vec<u8>),
}

impl Source {
    /// Reads up to `budget` bytes of regular files below `dir` (symlinks are not followed),
    /// largest files first so that values come from whole binaries.
    pub fn corpus(dir: &Path, budget: usize) -> io::Result<Self> {
        let mut files = Vec::new();
        collect(dir, &mut files, 0)?;
        files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut pool = Vec::new();
        for (path, _) in files {
            if pool.len() >= budget {
                break;
            }
            if let Ok(bytes) = std::fs::read(&path) {
                let take = bytes.len().min(budget - pool.len());
                pool.extend_from_slice(&bytes[..take]);
            }
        }
        if pool.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no readable regular files below {}", dir.display()),
            ));
        }
        Ok(Self::Corpus(pool))
    }

    /// The value for entry `id` of `len` bytes, deterministic. Every `(len, id)` gets bytes of
    /// its own: the generator is seeded from both, a corpus slice starts at an offset drawn
    /// from both, and the first [`SALT_LEN`] bytes are overwritten with `id` and `len`
    /// (little-endian u64s), so two entries of a run never hold the same bytes even where a
    /// corpus repeats itself (zero padding, duplicate files). Content-addressed peers can
    /// deduplicate nothing, and no entry is served from a page or CPU cache warmed by
    /// another. Values shorter than [`SALT_LEN`] carry a truncated salt and may repeat.
    pub fn value(&self, len: usize, id: u64) -> Vec<u8> {
        let mix = mix(id, len);
        let mut v = match self {
            Self::Generated => hoard_testkit::artifact(len, mix),
            Self::Corpus(pool) => {
                let start = (mix % pool.len() as u64) as usize;
                let mut v = Vec::with_capacity(len);
                let mut at = start;
                while v.len() < len {
                    let take = (len - v.len()).min(pool.len() - at);
                    v.extend_from_slice(&pool[at..at + take]);
                    at = 0;
                }
                v
            }
        };
        let mut salt = [0u8; SALT_LEN];
        salt[..8].copy_from_slice(&id.to_le_bytes());
        salt[8..].copy_from_slice(&(len as u64).to_le_bytes());
        let n = len.min(SALT_LEN);
        v[..n].copy_from_slice(&salt[..n]);
        v
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Generated => "generated compiled-code-like data (hoard_testkit::artifact), \
                                a distinct value per entry"
                .to_owned(),
            Self::Corpus(pool) => format!(
                "slices of a corpus of {} bytes of real files, a distinct value per entry \
                 (the first {SALT_LEN} bytes name it)",
                pool.len()
            ),
        }
    }
}

/// SplitMix64's output function over `id` and `len`: a generator seed and corpus offset that
/// differ between entries.
fn mix(id: u64, len: usize) -> u64 {
    let mut z = id
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add((len as u64).rotate_left(29));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn collect(dir: &Path, out: &mut Vec<(std::path::PathBuf, u64)>, depth: usize) -> io::Result<()> {
    if depth > 8 {
        return Ok(());
    }
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let Ok(m) = e.path().symlink_metadata() else {
            continue;
        };
        if m.is_file() && m.len() > 0 {
            out.push((e.path(), m.len()));
        } else if m.is_dir() {
            let _ = collect(&e.path(), out, depth + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The entries of a small run laid out as `hoard-bench` lays them out: a warm-up of 1 KiB
    /// entries, then each size with its own id range, then the trace's keys at their sizes.
    fn small_run() -> Vec<(usize, u64)> {
        let mut entries: Vec<(usize, u64)> = (0..64).map(|i| (1 << 10, (1 << 40) + i)).collect();
        for (i, (size, ops)) in [(1usize << 10, 64u64), (4 << 10, 32), (64 << 10, 8)]
            .into_iter()
            .enumerate()
        {
            entries.extend((0..ops).map(|op| (size, i as u64 * 1_000_000 + op)));
        }
        entries.extend((0..64u64).map(|id| (4096 + 37 * id as usize, id)));
        entries
    }

    fn assert_distinct(source: &Source) {
        let entries = small_run();
        let mut seen = HashSet::new();
        for &(len, id) in &entries {
            let v = source.value(len, id);
            assert_eq!(v.len(), len);
            assert_eq!(v, source.value(len, id), "entry {id} is not deterministic");
            assert!(
                seen.insert(v),
                "entry {id} of {len} bytes repeats another entry's bytes"
            );
        }
    }

    #[test]
    fn generated_entries_are_distinct() {
        assert_distinct(&Source::Generated);
    }

    #[test]
    fn corpus_entries_are_distinct_even_in_a_repetitive_corpus() {
        // Without the salt every slice of these pools would be the same bytes.
        assert_distinct(&Source::Corpus(vec![0; 256 << 10]));
        assert_distinct(&Source::Corpus(b"\x55\x48\x89\xe5".repeat(1000)));
    }

    #[test]
    fn salt_barely_changes_compression() {
        for (len, id) in [
            (1usize << 10, 7u64),
            (64 << 10, 2_000_003),
            (1 << 20, 3_000_001),
        ] {
            let salted = Source::Generated.value(len, id);
            let mut plain = hoard_testkit::artifact(len, mix(id, len));
            let size = |v: &[u8]| zstd::bulk::compress(v, 3).expect("zstd compresses").len();
            let grown = size(&salted).abs_diff(size(&plain));
            assert!(
                grown <= 16,
                "{len} bytes: the salt changed zstd-3 output by {grown} bytes"
            );
            plain[..SALT_LEN].copy_from_slice(&salted[..SALT_LEN]);
            assert_eq!(
                plain, salted,
                "the salt touches only the first {SALT_LEN} bytes"
            );
        }
    }
}
