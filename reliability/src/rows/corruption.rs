//! Corruption rows, at the counts the facade's tests leave to the harness.
//!
//! - `corruption`: every single-bit flip of entries up to 4 KiB, at least 100,000 random
//!   flips of larger entries, truncation at many offsets, another key's valid entry copied
//!   under this name: each must be a miss that removed the file (detected), never other
//!   bytes.
//! - `bad-files`: decompression bombs, declared (a header claiming 8 GiB) and actual (1 GiB
//!   of zeros in a few KiB, and a zstd frame asking for a 2 GiB window): a miss in under a
//!   second, with the process's peak resident memory at most the cap + 16 MiB above where
//!   it started (VmHWM, reset through `/proc/self/clear_refs`); FIFOs, directories, symlinks
//!   to `/dev/zero` and 10 GiB sparse files at entry paths: misses in under 100 ms; garbage
//!   of every kind in every sidecar file: cleanups still run and count right.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoard::evict::Limits;
use hoard::{Cache, ErrorKind, FsStore, Key};

use super::arena;
use crate::row::{Row, RowResult, Tier};

/// The rows of this module.
pub(crate) fn rows() -> Vec<Box<dyn Row>> {
    vec![Box::new(Flips), Box::new(BadFiles)]
}

struct Flips;
struct BadFiles;

impl Row for Flips {
    fn name(&self) -> &str {
        "corruption"
    }

    fn title(&self) -> &str {
        "corruption: flips, cuts, swaps"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        flips(tier).unwrap_or_else(failed)
    }
}

impl Row for BadFiles {
    fn name(&self) -> &str {
        "bad-files"
    }

    fn title(&self) -> &str {
        "bombs and bad files"
    }

    fn run(&self, tier: &Tier) -> RowResult {
        bad_files(tier).unwrap_or_else(failed)
    }
}

fn failed(why: String) -> RowResult {
    let mut r = RowResult::ran();
    r.violation(why);
    r
}

fn overwrite(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut f = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn entry_path(root: &Path, cache: &Cache, key: &Key) -> Result<PathBuf, String> {
    let fs = FsStore::open(root).map_err(|e| e.to_string())?;
    Ok(fs.entry_path(cache.namespace(), key.digest()))
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    // Half compressible text, half noise: zstd keeps some of both.
    (0..len)
        .map(|i| {
            if i % 2 == 0 {
                b'a' + (i % 7) as u8
            } else {
                rng.u8(..)
            }
        })
        .collect()
}

/// Tallies of damaged reads.
#[derive(Default)]
struct Tally {
    tried: u64,
    detected: u64,
    wrong: u64,
    kept: u64,
}

/// Writes `bad` over the entry of `key`, reads, and judges: a miss that removed the file
/// is detected; a hit with `good`'s bytes is tolerated only when `bad` decodes to them
/// (never for a flip, which the checksum covers); anything else is wrong.
fn judge(
    cache: &Cache,
    key: &Key,
    path: &Path,
    bad: &[u8],
    want: &[u8],
    t: &mut Tally,
) -> Result<(), String> {
    overwrite(path, bad)?;
    t.tried += 1;
    match cache.try_get(key) {
        Ok(Some(v)) if v == want => t.wrong += 1,
        Ok(Some(_)) => t.wrong += 1,
        Ok(None) => t.wrong += 1,
        Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::TooLarge) => {
            if path.exists() {
                t.kept += 1;
            } else {
                t.detected += 1;
            }
        }
        Err(_) => t.wrong += 1,
    }
    Ok(())
}

fn flips(tier: &Tier) -> Result<RowResult, String> {
    let dir = arena("corruption")?;
    let root = dir.path().join("cache");
    let cache = super::open(&root, hoard::Durability::None)?;
    let mut rng = tier.rng("corruption");
    let mut t = Tally::default();
    let mut exhaustive_bits = 0u64;
    // Exhaustive: every bit of entries whose stored file is at most 4 KiB.
    for (i, len) in [0usize, 1, 17, 300, 1000, 2500, 3900]
        .into_iter()
        .enumerate()
    {
        let key = cache.key(format!("exhaustive {i}"));
        let want = data(len, i as u64);
        cache.try_put(&key, &want).map_err(|e| e.to_string())?;
        let path = entry_path(&root, &cache, &key)?;
        let good = std::fs::read(&path).map_err(|e| e.to_string())?;
        if good.len() > 4096 {
            continue;
        }
        for bit in 0..good.len() * 8 {
            let mut bad = good.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            judge(&cache, &key, &path, &bad, &want, &mut t)?;
            exhaustive_bits += 1;
        }
    }
    // Random flips (1 to 3 bits) of larger entries.
    let random = tier.count(100_000);
    let large: Vec<(Key, Vec<u8>, PathBuf, Vec<u8>)> = [20_000usize, 200_000, 1 << 20]
        .into_iter()
        .enumerate()
        .map(|(i, len)| {
            let key = cache.key(format!("large {i}"));
            let want = data(len, 100 + i as u64);
            cache.try_put(&key, &want).map_err(|e| e.to_string())?;
            let path = entry_path(&root, &cache, &key)?;
            let good = std::fs::read(&path).map_err(|e| e.to_string())?;
            Ok((key, want, path, good))
        })
        .collect::<Result<_, String>>()?;
    for n in 0..random {
        let (key, want, path, good) = &large[n as usize % large.len()];
        let mut bad = good.clone();
        for _ in 0..rng.usize(1..=3) {
            let bit = rng.usize(..good.len() * 8);
            bad[bit / 8] ^= 1 << (bit % 8);
        }
        if bad == *good {
            continue;
        }
        judge(&cache, key, path, &bad, want, &mut t)?;
    }
    // Truncations and extensions.
    let (key, want, path, good) = &large[1];
    let mut cuts: Vec<usize> = (0..300).collect();
    cuts.extend((300..good.len()).step_by(251));
    for cut in &cuts {
        judge(&cache, key, path, &good[..*cut], want, &mut t)?;
    }
    for extra in [1usize, 2, 7, 4096, 70_000] {
        let mut longer = good.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        judge(&cache, key, path, &longer, want, &mut t)?;
    }
    // Another key's valid entry under this name, in both directions and across sizes.
    let mut swaps = 0u64;
    for (a, (ka, wa, pa, _)) in large.iter().enumerate() {
        for (b, (_, _, _, gb)) in large.iter().enumerate() {
            if a != b {
                judge(&cache, ka, pa, gb, wa, &mut t)?;
                swaps += 1;
            }
        }
    }
    let mut res = RowResult::ran();
    res.info(exhaustive_bits, "exhaustive flips")
        .info(random, "random flips")
        .info(cuts.len() as u64 + 5, "cuts")
        .info(swaps, "swaps")
        .info(t.detected, "detected")
        .zero(t.wrong, "wrong or undetected")
        .zero(t.kept, "damaged files kept");
    Ok(res)
}

/// The peak resident memory of this process since the last reset, and a reset, in KiB.
mod hwm {
    pub(super) fn reset() -> bool {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .write(true)
            .open("/proc/self/clear_refs")
            .and_then(|mut f| f.write_all(b"5"))
            .is_ok()
    }

    pub(super) fn kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

fn bad_files(tier: &Tier) -> Result<RowResult, String> {
    let mut res = RowResult::ran();
    let dir = arena("bad-files")?;
    let root = dir.path().join("cache");
    let cap: u64 = 64 << 20;
    let cache = Cache::builder(&root)
        .namespace(crate::value::NAMESPACE)
        .max_entry_size(cap)
        .build()
        .map_err(|e| e.to_string())?;
    let (mut slow, mut over_memory, mut hits, mut measured) = (0u64, 0u64, 0u64, 0u64);
    // Bombs: a lying header, a real 1 GiB expansion, a 2 GiB window.
    let key = cache.key(b"bomb");
    cache
        .try_put(&key, &vec![7u8; 1 << 20])
        .map_err(|e| e.to_string())?;
    let path = entry_path(&root, &cache, &key)?;
    let honest = std::fs::read(&path).map_err(|e| e.to_string())?;
    let header = &honest[..hoard::frame::HEADER_LEN];
    let liar = hoard_testkit::reseal(honest.clone(), |b| {
        b[24..32].copy_from_slice(&(8u64 << 30).to_le_bytes());
    });
    let ones = {
        let mut enc = zstd_frame(19, None)?;
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            enc.write_all(&zeros).map_err(|e| e.to_string())?;
        }
        enc.finish().map_err(|e| e.to_string())?
    };
    let window = {
        let mut enc = zstd_frame(1, Some(31))?;
        enc.write_all(&[1u8; 4096]).map_err(|e| e.to_string())?;
        enc.finish().map_err(|e| e.to_string())?
    };
    let mut bombs = vec![("declared 8 GiB", liar)];
    for (what, payload, declared) in [
        ("1 GiB of zeros", &ones, cap),
        ("2 GiB window", &window, 4096u64),
    ] {
        let mut b = header.to_vec();
        b.extend_from_slice(payload);
        bombs.push((
            what,
            hoard_testkit::reseal(b, |h| {
                // The honest 1 MiB entry is chunked; the bombs are single (version 1) payloads.
                h[8..10].copy_from_slice(&1u16.to_le_bytes());
                h[10..12].copy_from_slice(&(hoard::frame::HEADER_LEN as u16).to_le_bytes());
                h[20..24].copy_from_slice(&0u32.to_le_bytes());
                h[24..32].copy_from_slice(&declared.to_le_bytes());
                h[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            }),
        ));
    }
    let rounds = tier.count(3);
    for _ in 0..rounds {
        for (what, bomb) in &bombs {
            overwrite(&path, bomb)?;
            let reset = hwm::reset();
            let base = hwm::kib("VmRSS:");
            let started = Instant::now();
            let got = cache.try_get(&key);
            let took = started.elapsed();
            if matches!(got, Ok(Some(_))) {
                hits += 1;
                res.violation(format!("{what}: a hit"));
            }
            if took > Duration::from_secs(1) {
                slow += 1;
                res.violation(format!("{what}: {took:?}"));
            }
            if let (true, Some(base), Some(peak)) = (reset, base, hwm::kib("VmHWM:")) {
                measured += 1;
                let grew = peak.saturating_sub(base);
                if grew > (cap >> 10) + (16 << 10) {
                    over_memory += 1;
                    res.violation(format!("{what}: peak resident memory grew {grew} KiB"));
                }
            }
        }
    }
    // Wrong file types at entry paths.
    let mut odd_slow = 0u64;
    let mut odd = 0u64;
    for (i, kind) in ["fifo", "dir", "devzero", "sparse"].into_iter().enumerate() {
        for round in 0..tier.count(25) {
            let k = cache.key(format!("odd {i} {round}"));
            let p = entry_path(&root, &cache, &k)?;
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
            }
            match kind {
                "fifo" => crate::sys::run(std::process::Command::new("mkfifo").arg(&p))?,
                "dir" => std::fs::create_dir(&p).map_err(|e| e.to_string())?,
                "devzero" => {
                    std::os::unix::fs::symlink("/dev/zero", &p).map_err(|e| e.to_string())?
                }
                _ => std::fs::File::create(&p)
                    .and_then(|f| f.set_len(10 << 30))
                    .map_err(|e| e.to_string())?,
            }
            let started = Instant::now();
            let got = cache.try_get(&k);
            odd += 1;
            if matches!(got, Ok(Some(_))) {
                hits += 1;
            }
            if started.elapsed() > Duration::from_millis(100) {
                odd_slow += 1;
                res.violation(format!("{kind}: {:?}", started.elapsed()));
            }
        }
    }
    // Garbage in every sidecar file, of every kind; cleanups still count right.
    let (mut sidecar_cases, mut sidecar_bad) = (0u64, 0u64);
    let janitor = cache.worker().ok_or("the cache runs no worker")?.janitor();
    for how in 0..7 {
        janitor.cleanup_now().map_err(|e| e.to_string())?;
        let state = root.join("state");
        let names: Vec<PathBuf> = std::fs::read_dir(&state)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| !p.to_string_lossy().contains(".tmp-"))
            .collect();
        for p in &names {
            garbage(p, how)?;
            sidecar_cases += 1;
        }
        let started = Instant::now();
        let survey = janitor.survey();
        let cleanup = janitor.cleanup_with(Limits::new(1 << 20, 1 << 40));
        let elapsed = started.elapsed();
        let lock_broken = how >= 3;
        let fine = match (&survey, &cleanup) {
            (Ok(s), Ok(c)) => s.entries == c.entries_after,
            (Ok(_), Err(_)) => lock_broken,
            _ => false,
        };
        if !fine || elapsed > Duration::from_secs(5) {
            sidecar_bad += 1;
            res.violation(format!(
                "sidecar garbage kind {how}: survey {survey:?}, cleanup {cleanup:?}, {elapsed:?}"
            ));
        }
        for p in &names {
            clear(p)?;
        }
    }
    res.info(bombs.len() as u64 * rounds, "bombs")
        .info(measured, "memory-measured")
        .info(odd, "odd files")
        .info(sidecar_cases, "bad sidecar files")
        .zero(hits, "hits")
        .zero(slow + odd_slow, "too slow")
        .zero(over_memory, "over cap + 16 MiB")
        .zero(sidecar_bad, "sidecar failures")
        .note(format!(
            "cap {} MiB; memory is this process's VmHWM after a clear_refs reset",
            cap >> 20
        ));
    Ok(res)
}

fn zstd_frame(
    level: i32,
    window_log: Option<u32>,
) -> Result<zstd::stream::Encoder<'static, Vec<u8>>, String> {
    let mut enc = zstd::stream::Encoder::new(Vec::new(), level).map_err(|e| e.to_string())?;
    if let Some(w) = window_log {
        enc.window_log(w).map_err(|e| e.to_string())?;
        enc.long_distance_matching(true)
            .map_err(|e| e.to_string())?;
    }
    Ok(enc)
}

#[expect(
    clippy::disallowed_methods,
    reason = "the row plants garbage in the cache's state"
)]
fn clear(p: &Path) -> Result<(), String> {
    let md = match std::fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if md.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    }
    .map_err(|e| format!("{}: {e}", p.display()))
}

fn garbage(p: &Path, how: usize) -> Result<(), String> {
    clear(p)?;
    let e = |e: std::io::Error| format!("{}: {e}", p.display());
    match how {
        0 => overwrite(p, b""),
        1 => overwrite(p, &[0xA5; 3000]),
        2 => overwrite(
            p,
            b"hoardst1\x02\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f",
        ),
        3 => std::fs::create_dir(p).map_err(e),
        4 => std::os::unix::fs::symlink("/dev/zero", p).map_err(e),
        5 => crate::sys::run(std::process::Command::new("mkfifo").arg(p)),
        _ => std::fs::File::create(p)
            .and_then(|f| f.set_len(10 << 30))
            .map_err(e),
    }
}
