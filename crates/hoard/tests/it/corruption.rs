//! Damaged, truncated, extended, swapped and hostile entries on disk are misses, never other
//! bytes, and the bad entry is removed; a resealed one (checksum intact) whose payload does
//! not decode is undecodable: counted and left in place.

use std::path::Path;

use hoard::{Cache, ErrorKind, Key, frame};

use crate::{cache_in, peak_heap_during};

fn overwrite(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("rewrite entry");
    f.write_all(bytes).expect("write entry");
}

/// Where the entry lives: every test creates its cache at `<tempdir>/cache`.
fn entry_path(dir: &tempfile::TempDir, cache: &Cache, key: &Key) -> std::path::PathBuf {
    hoard::FsStore::open(dir.path().join("cache"))
        .expect("reopen store")
        .entry_path(cache.namespace(), key.digest())
}

/// Stores `data`, then for every bit (or the given bits) of the stored file: flips it on
/// disk, reads, and checks the read is a miss that removed the entry.
fn flips_are_misses(len: usize, bits: impl Iterator<Item = usize>) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let data = hoard_testkit::artifact(len, len as u64);
    let key = cache.key(format!("entry of {len} bytes"));
    assert!(cache.put(&key, &data));
    let path = entry_path(&dir, &cache, &key);
    let good = std::fs::read(&path).expect("stored entry");
    let mut checked = 0;
    for bit in bits {
        let bit = bit % (good.len() * 8);
        let mut bad = good.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        overwrite(&path, &bad);
        let got = cache.try_get(&key);
        assert!(
            matches!(&got, Err(e) if e.kind() == ErrorKind::Corrupt),
            "{len}-byte entry, bit {bit} flipped: {got:?}"
        );
        assert!(
            !path.exists(),
            "the damaged entry was not removed (bit {bit})"
        );
        checked += 1;
    }
    overwrite(&path, &good);
    assert_eq!(cache.get(&key), Some(data), "the intact entry still reads");
    assert_eq!(cache.stats().corrupt, checked as u64);
    checked
}

#[test]
#[cfg_attr(
    windows,
    ignore = "minutes under Wine; frame verification is the same on every platform, and the \
              Windows store's reads are covered by the other corruption tests"
)]
fn every_single_bit_flip_of_small_entries_is_a_miss() {
    for len in [0, 1, 100, 4096] {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache_in(&dir);
        let key = cache.key(b"probe");
        cache.put(&key, &hoard_testkit::artifact(len, len as u64));
        let bits = std::fs::metadata(entry_path(&dir, &cache, &key))
            .expect("entry")
            .len() as usize
            * 8;
        assert_eq!(flips_are_misses(len, 0..bits), bits);
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "minutes under Wine; frame verification is the same on every platform, and the \
              Windows store's reads are covered by the other corruption tests"
)]
fn ten_thousand_random_flips_of_a_one_mebibyte_entry_are_misses() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let n = flips_are_misses(
        1 << 20,
        std::iter::repeat_with(move || rng.usize(..)).take(10_000),
    );
    assert_eq!(n, 10_000);
}

#[test]
fn truncated_and_extended_entries_are_misses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let data = hoard_testkit::artifact(200_000, 3);
    let key = cache.key(b"t");
    cache.put(&key, &data);
    let path = entry_path(&dir, &cache, &key);
    let good = std::fs::read(&path).expect("entry");
    let cuts: Vec<usize> = (0..200)
        .chain((200..good.len()).step_by(997))
        .chain([good.len() - 1])
        .collect();
    for cut in cuts {
        overwrite(&path, &good[..cut]);
        assert_eq!(cache.get(&key), None, "cut at {cut}");
        assert!(!path.exists());
    }
    for extra in [1usize, 7, 4096] {
        let mut longer = good.clone();
        longer.extend(std::iter::repeat_n(0u8, extra));
        overwrite(&path, &longer);
        assert_eq!(cache.get(&key), None, "{extra} bytes appended");
    }
    overwrite(&path, &good);
    assert_eq!(cache.get(&key), Some(data));
}

#[test]
fn another_keys_entry_under_this_name_is_a_miss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let (a, b) = (cache.key(b"a"), cache.key(b"b"));
    cache.put(&a, b"value of a");
    cache.put(&b, b"value of b");
    let (pa, pb) = (entry_path(&dir, &cache, &a), entry_path(&dir, &cache, &b));
    let b_bytes = std::fs::read(&pb).expect("b");
    overwrite(&pa, &b_bytes);
    assert_eq!(
        cache.try_get(&a).map_err(|e| e.kind()),
        Err(ErrorKind::Corrupt)
    );
    assert!(!pa.exists());
    assert_eq!(cache.get(&b).as_deref(), Some(&b"value of b"[..]));
    // The same entry copied into another namespace is caught too: the namespace is in the key.
    let other = Cache::builder(dir.path().join("cache"))
        .namespace("other")
        .build()
        .expect("other");
    let other_b = other.key(b"b");
    assert_ne!(other_b, b);
    let in_other = entry_path(&dir, &other, &other_b);
    std::fs::create_dir_all(in_other.parent().expect("parent")).expect("mkdir");
    overwrite(&in_other, &b_bytes);
    assert_eq!(
        other.try_get(&other_b).map_err(|e| e.kind()),
        Err(ErrorKind::Corrupt)
    );
}

#[test]
fn a_multi_gigabyte_declaration_is_a_miss_without_allocating() {
    // The heap figures are the whole process's: alone, no other test adds to them.
    hoard_testkit::process::alone(
        "corruption::a_multi_gigabyte_declaration_is_a_miss_without_allocating",
        || {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = cache_in(&dir);
            let key = cache.key(b"liar");
            cache.put(&key, &hoard_testkit::artifact(10_000, 4));
            let path = entry_path(&dir, &cache, &key);
            let good = std::fs::read(&path).expect("entry");
            let liar = hoard_testkit::reseal(good, |b| {
                b[24..32].copy_from_slice(&(8u64 << 30).to_le_bytes())
            });
            overwrite(&path, &liar);
            let (got, peak) = peak_heap_during(|| cache.try_get(&key));
            assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::TooLarge));
            assert!(peak < 1 << 20, "peak heap {peak} bytes");
        },
    );
}

#[test]
fn a_planted_sparse_gigabyte_is_a_miss_read_no_further_than_its_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let key = cache.key(b"sparse");
    cache.put(&key, b"value");
    let path = entry_path(&dir, &cache, &key);
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(1 << 30))
        .expect("a sparse gigabyte");
    let started = std::time::Instant::now();
    let (got, peak) = peak_heap_during(|| cache.try_get(&key));
    assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::Corrupt));
    assert!(peak < 1 << 20, "peak heap {peak} bytes");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(!path.exists(), "the planted file was removed");
    assert_eq!((cache.stats().corrupt, cache.stats().errors), (1, 0));
}

#[test]
#[expect(
    clippy::disallowed_methods,
    reason = "the test moves a shard away to plant a symlink in its place"
)]
fn a_symlinked_shard_is_a_miss_that_removes_nothing_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let key = cache.key(b"behind a link");
    cache.put(&key, b"value");
    let path = entry_path(&dir, &cache, &key);
    let shard = path.parent().expect("shard");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(shard, &elsewhere).expect("move the shard");
    if !crate::plant_link(&elsewhere, shard) {
        return;
    }
    for round in 1..=2 {
        let got = cache.try_get(&key);
        assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::Insecure));
        // The removal was refused, and counted: nothing was removed.
        assert_eq!(cache.stats().errors, round);
        assert!(shard.is_symlink());
        assert!(elsewhere.join(path.file_name().expect("name")).exists());
    }
}

#[test]
fn a_zstd_bomb_is_a_miss_within_the_cap() {
    // The heap figures are the whole process's: alone, no other test adds to them.
    hoard_testkit::process::alone("corruption::a_zstd_bomb_is_a_miss_within_the_cap", || {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tempdir");
        let cap: u64 = 1 << 20;
        let cache = Cache::builder(dir.path().join("cache"))
            .max_entry_size(cap)
            .build()
            .expect("build");
        let key = cache.key(b"bomb");
        cache.put(&key, &vec![0u8; cap as usize]);
        let path = entry_path(&dir, &cache, &key);
        let honest = std::fs::read(&path).expect("entry");

        // 1 GiB of zeros in a few dozen KiB, in place of the honest 1 MiB payload.
        let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).expect("encoder");
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            enc.write_all(&zeros).expect("compress");
        }
        let bomb_payload = enc.finish().expect("finish");
        // The honest 1 MiB is chunked: the bomb's header is an unchunked (version 1) one.
        let mut bomb = honest[..frame::HEADER_LEN].to_vec();
        bomb.extend_from_slice(&bomb_payload);
        let bomb = hoard_testkit::reseal(bomb, |b| {
            b[8..10].copy_from_slice(&1u16.to_le_bytes());
            b[10..12].copy_from_slice(&(frame::HEADER_LEN as u16).to_le_bytes());
            b[20..24].copy_from_slice(&0u32.to_le_bytes());
            b[32..40].copy_from_slice(&(bomb_payload.len() as u64).to_le_bytes());
        });
        overwrite(&path, &bomb);
        let (got, peak) = peak_heap_during(|| cache.try_get(&key));
        assert_eq!(got.map_err(|e| e.kind()), Err(ErrorKind::Corrupt));
        let limit = cap as usize + bomb.len() + (16 << 20);
        assert!(peak < limit, "peak heap {peak} bytes, limit {limit}");
        // Its checksum holds (resealed): not damage but a payload the codec refuses, so it
        // is undecodable, counted and left in place (each read of it stays within the cap).
        assert_eq!(cache.stats().undecodable_entries, 1);
        assert!(path.exists(), "an undecodable entry is left in place");
    });
}

#[test]
fn a_bomb_in_one_chunk_is_a_miss_within_the_cap() {
    // The heap figures are the whole process's: alone, no other test adds to them.
    hoard_testkit::process::alone(
        "corruption::a_bomb_in_one_chunk_is_a_miss_within_the_cap",
        || {
            use std::io::Write;
            let cap: u64 = 1 << 20;
            // 1 GiB of zeros in a few dozen KiB.
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 19).expect("encoder");
            let zeros = vec![0u8; 1 << 20];
            for _ in 0..1024 {
                enc.write_all(&zeros).expect("compress");
            }
            let bomb_payload = enc.finish().expect("finish");
            for threads in [1, 4] {
                let dir = tempfile::tempdir().expect("tempdir");
                let cache = Cache::builder(dir.path().join("cache"))
                    .max_entry_size(cap)
                    .threads(threads)
                    .build()
                    .expect("build");
                let key = cache.key(b"bomb");
                cache.put(&key, &hoard_testkit::artifact(cap as usize, 5));
                let path = entry_path(&dir, &cache, &key);
                let honest = std::fs::read(&path).expect("entry");
                let bomb = with_chunk_replaced(&honest, 2, &bomb_payload);
                overwrite(&path, &bomb);
                let (got, peak) = peak_heap_during(|| cache.try_get(&key));
                assert_eq!(
                    got.map_err(|e| e.kind()),
                    Err(ErrorKind::Corrupt),
                    "{threads} threads"
                );
                let limit = cap as usize + bomb.len() + (16 << 20);
                assert!(peak < limit, "peak heap {peak} bytes, limit {limit}");
                // Resealed, so undecodable rather than corrupt: counted, left in place.
                assert_eq!(cache.stats().undecodable_entries, 1, "{threads} threads");
                assert!(path.exists(), "an undecodable entry is left in place");
            }
        },
    );
}

/// A chunked frame whose chunk `index` is replaced by `payload`, table and checksum fixed.
fn with_chunk_replaced(frame_bytes: &[u8], index: usize, payload: &[u8]) -> Vec<u8> {
    let parsed = frame::Frame::parse(frame_bytes).expect("an intact frame");
    let header = parsed.header();
    let chunks = header.chunks.as_ref().expect("a chunked frame");
    assert!(index < chunks.count(), "chunk {index} exists");
    let mut out = frame_bytes[..header.payload_offset].to_vec();
    let mut rest = parsed.payload();
    for (i, &stored) in chunks.stored_lens().iter().enumerate() {
        let (chunk, tail) = rest.split_at(stored as usize);
        rest = tail;
        let (bytes, len) = if i == index {
            (payload, payload.len())
        } else {
            (chunk, chunk.len())
        };
        out.extend_from_slice(bytes);
        let at = frame::HEADER_LEN + 8 + 4 * i;
        out[at..at + 4].copy_from_slice(&(len as u32).to_le_bytes());
    }
    let payload_len = (out.len() - header.payload_offset) as u64;
    hoard_testkit::reseal(out, |b| {
        b[32..40].copy_from_slice(&payload_len.to_le_bytes());
    })
}

#[test]
fn a_frame_from_a_newer_hoard_is_a_miss_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let key = cache.key(b"future");
    cache.put(&key, b"data");
    let path = entry_path(&dir, &cache, &key);
    let newer = hoard_testkit::reseal(std::fs::read(&path).expect("entry"), |b| {
        b[8..10].copy_from_slice(&3u16.to_le_bytes());
    });
    overwrite(&path, &newer);
    assert_eq!(
        cache.try_get(&key).map_err(|e| e.kind()),
        Err(ErrorKind::Unsupported)
    );
    assert!(path.exists(), "a newer hoard's entry is not ours to delete");
    assert_eq!(cache.stats().corrupt, 0);
    // A put replaces it.
    assert!(cache.put(&key, b"data"));
    assert_eq!(cache.get(&key).as_deref(), Some(&b"data"[..]));
}

#[test]
fn garbage_files_at_entry_paths_are_misses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = cache_in(&dir);
    let key = cache.key(b"g");
    cache.put(&key, b"real");
    let path = entry_path(&dir, &cache, &key);
    for garbage in [&b""[..], b"x", &[0u8; 96], &[0xff; 5000]] {
        overwrite(&path, garbage);
        assert_eq!(cache.get(&key), None);
        cache.put(&key, b"real");
    }
    // A byte rewritten in place on a live entry.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    {
        use std::io::{Seek, SeekFrom, Write};
        f.seek(SeekFrom::Start(100)).expect("seek");
        f.write_all(b"Z").expect("poke");
    }
    drop(f);
    assert_eq!(cache.get(&key), None);
}

/// What a bad sidecar file can be: garbage bytes of every kind, and things that are not
/// files at all.
fn plant_bad_state(path: &Path, how: usize) {
    if path.is_dir() && !path.is_symlink() {
        #[expect(
            clippy::disallowed_methods,
            reason = "the test replaces a planted directory"
        )]
        std::fs::remove_dir_all(path).expect("clear");
    } else if path.symlink_metadata().is_ok() {
        #[expect(
            clippy::disallowed_methods,
            reason = "the test replaces a sidecar file"
        )]
        std::fs::remove_file(path).expect("clear");
    }
    match how {
        0 => overwrite(path, b""),
        1 => overwrite(path, &[0xA5; 3000]),
        // The envelope's magic and a kind, then lies: a huge length, no checksum.
        2 => overwrite(
            path,
            b"hoardst1\x02\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f",
        ),
        3 => std::fs::create_dir(path).expect("a directory"),
        // A link to an endless device and a FIFO are Unix file types.
        #[cfg(unix)]
        4 => std::os::unix::fs::symlink("/dev/zero", path).expect("a symlink"),
        #[cfg(unix)]
        5 => {
            let status = std::process::Command::new("mkfifo")
                .arg(path)
                .status()
                .expect("mkfifo");
            assert!(status.success());
        }
        _ => std::fs::File::create(path)
            .expect("create")
            .set_len(10 << 30)
            .expect("a 10 GiB sparse file"),
    }
}

#[test]
fn garbage_in_every_sidecar_file_is_treated_as_absent() {
    use hoard::evict::Limits;
    for how in 0..7 {
        if cfg!(not(unix)) && matches!(how, 4 | 5) {
            // No `/dev/zero` and no FIFO in a Windows file system (see `plant_bad_state`).
            continue;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = cache_in(&dir);
        let keys: Vec<Key> = (0..30).map(|i| cache.key(format!("k{i}"))).collect();
        for k in &keys {
            cache.put(k, &hoard_testkit::artifact(500, 9));
        }
        let worker = cache.worker().expect("worker");
        worker.sync();
        let janitor = worker.janitor();
        janitor
            .cleanup_now()
            .expect("a first cleanup writes the sidecar state");
        let state = dir.path().join("cache/state");
        let mut names: Vec<String> = std::fs::read_dir(&state)
            .expect("state dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.len() >= 3, "{names:?}");
        for name in &names {
            plant_bad_state(&state.join(name), how);
        }
        let started = std::time::Instant::now();
        // Cleanup, usage merging and the survey still work and still count right.
        let limits = Limits::new(20, 1 << 30);
        let report = janitor.cleanup_with(limits).map_err(|e| format!("{e}"));
        let _ = janitor.merge_usage(cache.namespace(), &[(*keys[0].digest(), 2)]);
        let survey = janitor.survey().expect("survey");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "garbage kind {how} stalled the janitor"
        );
        if how < 3 {
            let report = report.expect("cleanup");
            assert_eq!(report.entries_before, 30, "garbage kind {how}");
            assert_eq!(
                report.entries_after,
                limits.count_target(),
                "garbage kind {how}"
            );
        }
        assert!(survey.entries <= 30, "garbage kind {how}: {survey:?}");
        for k in &keys {
            if let Some(v) = cache.get(k) {
                assert_eq!(v, hoard_testkit::artifact(500, 9), "garbage kind {how}");
            }
        }
    }
}

#[test]
fn wrong_file_types_at_entry_paths_are_quick_misses() {
    // The heap figures are the whole process's: alone, no other test adds to them.
    hoard_testkit::process::alone(
        "corruption::wrong_file_types_at_entry_paths_are_quick_misses",
        || {
            let dir = tempfile::tempdir().expect("tempdir");
            let cache = cache_in(&dir);
            let keys: Vec<Key> = (0..4).map(|i| cache.key(format!("odd {i}"))).collect();
            for k in &keys {
                cache.put(k, b"placeholder");
            }
            let paths: Vec<_> = keys.iter().map(|k| entry_path(&dir, &cache, k)).collect();
            for (i, p) in paths.iter().enumerate() {
                #[expect(clippy::disallowed_methods, reason = "the test replaces an entry")]
                std::fs::remove_file(p).expect("clear");
                match i {
                    // A FIFO and a link to an endless device are Unix file types: on
                    // Windows those two entries stay missing.
                    #[cfg(not(unix))]
                    0 | 2 => {}
                    #[cfg(unix)]
                    0 => {
                        let ok = std::process::Command::new("mkfifo")
                            .arg(p)
                            .status()
                            .expect("mkfifo");
                        assert!(ok.success());
                    }
                    1 => std::fs::create_dir(p).expect("a directory"),
                    #[cfg(unix)]
                    2 => std::os::unix::fs::symlink("/dev/zero", p).expect("a symlink"),
                    _ => std::fs::File::create(p)
                        .expect("create")
                        .set_len(10 << 30)
                        .expect("a 10 GiB sparse file"),
                }
            }
            for (k, p) in keys.iter().zip(&paths) {
                let started = std::time::Instant::now();
                let (got, peak) = peak_heap_during(|| cache.try_get(k));
                let took = started.elapsed();
                assert!(!matches!(got, Ok(Some(_))), "{}: {got:?}", p.display());
                assert!(
                    took < std::time::Duration::from_millis(100),
                    "{}: {took:?}",
                    p.display()
                );
                assert!(peak < 1 << 20, "{}: peak heap {peak}", p.display());
            }
            let janitor = cache.worker().expect("worker").janitor();
            let started = std::time::Instant::now();
            janitor.cleanup_now().expect("cleanup");
            janitor
                .recompress_all(&hoard::Identity, None)
                .expect("recompress");
            assert!(started.elapsed() < std::time::Duration::from_secs(5));
            // A put replaces any of them with a real entry.
            for (k, p) in keys.iter().zip(&paths) {
                if p.is_dir() && !p.is_symlink() {
                    continue;
                }
                assert!(cache.put(k, b"real"), "{}", p.display());
                assert_eq!(cache.get(k).as_deref(), Some(&b"real"[..]));
            }
        },
    );
}
