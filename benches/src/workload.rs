//! The data the harness caches: compiled code, either generated or read from a corpus.

use std::io;
use std::path::Path;

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

    /// The value for entry `id` of `len` bytes: distinct per id, deterministic.
    pub fn value(&self, len: usize, id: u64) -> Vec<u8> {
        match self {
            Self::Generated => hoard_testkit::artifact(len, id % 8),
            Self::Corpus(pool) => {
                let start = (id as usize).wrapping_mul(7919 * 4096) % pool.len();
                pool.iter().cycle().skip(start).take(len).copied().collect()
            }
        }
    }

    /// A short description for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Generated => {
                "generated compiled-code-like data (hoard_testkit::artifact)".to_owned()
            }
            Self::Corpus(pool) => format!("corpus of {} bytes of real files", pool.len()),
        }
    }
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
