#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`contenders`]: hoard's configurations, its peers and the plain-file floor, behind one
//!   trait.
//! - [`workload`]: the data (generated compiled-code-like bytes, or a corpus of real files).
//! - [`measure`]: interleaved measurement and latency statistics.
//! - [`report`]: the table, the performance targets, JSON and SVG.
//! - [`trace`]: Zipf trace replay with the eviction worker running.

pub mod contenders;
pub mod measure;
pub mod report;
pub mod trace;
pub mod workload;

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The codec a benchmark case uses, for hoard and its baseline alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// zstd at a level.
    Zstd(i32),
    /// LZ4 block format.
    Lz4,
    /// No compression.
    Identity,
}

impl Codec {
    /// A short name for reports (`zstd-3`, `lz4`, `identity`).
    pub fn name(self) -> String {
        match self {
            Self::Zstd(level) => format!("zstd-{level}"),
            Self::Lz4 => "lz4".to_owned(),
            Self::Identity => "identity".to_owned(),
        }
    }

    /// The same codec as a hoard codec.
    pub fn hoard(self) -> hoard::Result<std::sync::Arc<dyn hoard::Codec>> {
        Ok(match self {
            Self::Zstd(level) => std::sync::Arc::new(hoard::Zstd::new(level)?),
            Self::Lz4 => std::sync::Arc::new(hoard::Lz4),
            Self::Identity => std::sync::Arc::new(hoard::Identity),
        })
    }
}

/// The naive way to cache one artifact: compress with a reused context, write a temp file
/// and rename it over a known path; read the path back and decompress in one call into a
/// buffer of the known size. No key hashing, no header, no checksum, no safety checks: the
/// floor hoard is measured against.
pub struct Baseline {
    codec: Codec,
    dir: PathBuf,
    path: PathBuf,
    temp: PathBuf,
    decoded_len: usize,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    decompressor: zstd::bulk::Decompressor<'static>,
    scratch: Vec<u8>,
}

impl Baseline {
    /// A baseline storing its one entry in `dir`.
    pub fn new(codec: Codec, dir: &Path) -> io::Result<Self> {
        let compressor = match codec {
            Codec::Zstd(level) => Some(zstd::bulk::Compressor::new(level)?),
            _ => None,
        };
        Ok(Self {
            codec,
            dir: dir.to_path_buf(),
            path: dir.join("baseline-entry"),
            temp: dir.join("baseline-entry.tmp"),
            decoded_len: 0,
            compressor,
            decompressor: zstd::bulk::Decompressor::new()?,
            scratch: Vec::new(),
        })
    }

    /// The directory the entry lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Compresses `data` and stores it: temp file, write, rename (no fsync).
    pub fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.scratch.clear();
        match (self.codec, self.compressor.as_mut()) {
            (Codec::Zstd(_), Some(c)) => {
                self.scratch
                    .reserve(zstd::zstd_safe::compress_bound(data.len()));
                c.compress_to_buffer(data, &mut self.scratch)?;
            }
            (Codec::Lz4, _) => {
                self.scratch = lz4_flex::block::compress(data);
            }
            _ => self.scratch.extend_from_slice(data),
        }
        let mut f = File::create(&self.temp)?;
        f.write_all(&self.scratch)?;
        drop(f);
        #[expect(
            clippy::disallowed_methods,
            reason = "the baseline is the plain-file floor hoard is measured against"
        )]
        std::fs::rename(&self.temp, &self.path)?;
        self.decoded_len = data.len();
        Ok(())
    }

    /// Reads the entry back: `fs::read` of the known path and one bulk decompression.
    pub fn get(&mut self) -> io::Result<Vec<u8>> {
        let stored = std::fs::read(&self.path)?;
        match self.codec {
            Codec::Zstd(_) => {
                let mut out = Vec::with_capacity(self.decoded_len);
                self.decompressor.decompress_to_buffer(&stored, &mut out)?;
                Ok(out)
            }
            Codec::Lz4 => {
                let mut out = vec![0u8; self.decoded_len];
                lz4_flex::block::decompress_into(&stored, &mut out)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                Ok(out)
            }
            Codec::Identity => Ok(stored),
        }
    }

    /// Bytes the entry occupies on disk.
    pub fn stored_len(&self) -> io::Result<u64> {
        Ok(std::fs::metadata(&self.path)?.len())
    }
}

/// Where benchmarks put their files: `HOARD_BENCH_DIR`, or the system temp directory.
pub fn bench_root() -> PathBuf {
    std::env::var_os("HOARD_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

/// The median of criterion's estimate for the benchmark with directory `id` under
/// `target/criterion`, in nanoseconds, if criterion has written it.
pub fn criterion_median_ns(criterion_dir: &Path, id: &str) -> Option<f64> {
    let text = std::fs::read_to_string(criterion_dir.join(id).join("new/estimates.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}
