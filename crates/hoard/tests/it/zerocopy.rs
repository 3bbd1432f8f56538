//! No extra copies: a stored (identity) value is read straight into the buffer a hit
//! returns, `get_mapped` serves large stored values of a private cache from a memory map,
//! and every such read is verified before it is handed out. Peak heap of one get is
//! measured with the counting allocator of `main.rs`.

use std::io::{Read, Seek, SeekFrom, Write};

use hoard::{Cache, CacheBuilder, ErrorKind, Identity, Key};

use crate::peak_heap_during;

/// Whether the filesystem store maps large entries here: the Windows store reads them (a
/// mapped file could not be replaced or removed there while the map lives).
const MAPS: bool = cfg!(unix);

/// A value large enough to be mapped (more than 1 MiB).
const LARGE: usize = 3 << 20;
/// A value above the filesystem store's one-read limit (64 KiB) but too small to map.
const MEDIUM: usize = 100_000;

fn identity_cache(dir: &tempfile::TempDir) -> Cache {
    CacheBuilder::new(dir.path().join("cache"))
        .codec(Identity)
        .without_worker()
        .build()
        .expect("open cache")
}

fn entry_path(dir: &tempfile::TempDir, cache: &Cache, key: &Key) -> std::path::PathBuf {
    hoard::FsStore::open(dir.path().join("cache"))
        .expect("reopen store")
        .entry_path(cache.namespace(), key.digest())
}

/// Flips one bit of the file at `at` bytes from its start, in place.
fn flip(path: &std::path::Path, at: u64) {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open entry");
    let mut b = [0u8];
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.read_exact(&mut b).expect("read a byte");
    b[0] ^= 0x10;
    f.seek(SeekFrom::Start(at)).expect("seek");
    f.write_all(&b).expect("write it back");
}

#[test]
fn large_stored_values_are_mapped_and_smaller_ones_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = identity_cache(&dir);
    for (len, mapped) in [
        (10_000, false),
        (MEDIUM, false),
        (1 << 20, false),
        (LARGE, true),
    ] {
        let key = cache.key(len.to_string());
        let value = hoard_testkit::artifact(len, len as u64);
        assert!(cache.put(&key, &value));
        let hit = cache.get_mapped(&key).expect("a hit");
        assert_eq!(&hit[..], &value[..], "{len} bytes");
        assert_eq!(hit.is_mapped(), mapped && MAPS, "{len} bytes");
        assert_eq!(cache.get(&key).as_deref(), Some(&value[..]), "{len} bytes");
        assert_eq!(hit.into_vec(), value);
    }
    let s = cache.stats();
    assert_eq!((s.hits, s.misses, s.corrupt, s.errors), (8, 0, 0, 0));
    assert_eq!(
        cache.get_mapped(&cache.key("absent")).map(|m| m.len()),
        None
    );
    assert_eq!(cache.stats().misses, 1);
}

#[test]
fn compressed_values_come_back_owned_in_the_same_guard() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = crate::cache_in(&dir);
    for len in [MEDIUM, LARGE] {
        let key = cache.key(len.to_string());
        let value = hoard_testkit::artifact(len, 9);
        assert!(cache.put(&key, &value));
        let hit = cache.get_mapped(&key).expect("a hit");
        assert!(!hit.is_mapped());
        assert_eq!(&hit[..], &value[..]);
    }
}

#[test]
fn a_flipped_bit_is_a_miss_on_the_mapped_and_the_read_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = identity_cache(&dir);
    let mut corrupt = 0;
    // Header, first and last payload byte; each read path: mapped (`get_mapped` of a large
    // value), read into its own buffer (`get_mapped` and `get` of the others, `get` of the
    // large one).
    for (len, use_mapped) in [
        (LARGE, true),
        (LARGE, false),
        (MEDIUM, true),
        (MEDIUM, false),
        (10_000, true),
    ] {
        let value = hoard_testkit::artifact(len, 3);
        let offset = if len >= 16 << 10 { 4096 } else { 96 };
        for at in [20, offset, offset + len as u64 - 1] {
            let key = cache.key(format!("{len} {use_mapped} {at}"));
            assert!(cache.put(&key, &value));
            let path = entry_path(&dir, &cache, &key);
            flip(&path, at);
            let err = if use_mapped {
                cache.try_get_mapped(&key).map(|m| m.map(|m| m.len()))
            } else {
                cache.try_get(&key).map(|v| v.map(|v| v.len()))
            };
            assert_eq!(
                err.map_err(|e| e.kind()),
                Err(ErrorKind::Corrupt),
                "{len} bytes, bit flipped at {at}, mapped {use_mapped}"
            );
            assert!(!path.exists(), "the damaged entry was removed");
            corrupt += 1;
            assert_eq!(cache.stats().corrupt, corrupt);
        }
    }
    assert_eq!(cache.stats().hits, 0);
}

#[test]
fn a_group_shared_cache_is_never_mapped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = CacheBuilder::new(dir.path().join("cache"))
        .codec(Identity)
        .group_shared(true)
        .without_worker()
        .build()
        .expect("a shared cache in our own directory");
    let key = cache.key("shared");
    let value = hoard_testkit::artifact(LARGE, 5);
    assert!(cache.put(&key, &value));
    let hit = cache.get_mapped(&key).expect("a hit");
    assert!(!hit.is_mapped(), "another user's program could truncate it");
    assert_eq!(&hit[..], &value[..]);
}

#[test]
fn a_put_or_removal_leaves_a_mapped_guard_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = identity_cache(&dir);
    let key = cache.key("replaced");
    let old = hoard_testkit::artifact(LARGE, 1);
    let new = hoard_testkit::artifact(LARGE + 4096, 2);
    assert!(cache.put(&key, &old));
    let guard = cache.get_mapped(&key).expect("a hit");
    assert_eq!(guard.is_mapped(), MAPS);
    assert!(cache.put(&key, &new));
    assert_eq!(&guard[..], &old[..], "the put renamed a new file in");
    assert_eq!(cache.get(&key).as_deref(), Some(&new[..]));
    let second = cache.get_mapped(&key).expect("a hit");
    assert!(cache.remove(&key));
    assert_eq!(cache.get(&key), None);
    assert_eq!(&guard[..], &old[..]);
    assert_eq!(
        &second[..],
        &new[..],
        "the removal unlinked the file, unchanged"
    );
}

/// Peak heap of one hit, above what the cache held before it: the returned value, one chunk
/// and a small constant (the head buffer, errors, bookkeeping).
#[test]
fn one_get_holds_the_value_plus_one_chunk_at_most() {
    hoard_testkit::process::alone(
        "zerocopy::one_get_holds_the_value_plus_one_chunk_at_most",
        || {
            const SMALL: usize = 64 << 10;
            let dir = tempfile::tempdir().expect("tempdir");
            let identity = identity_cache(&dir);
            let zstd = CacheBuilder::new(dir.path().join("zstd"))
                .without_worker()
                .threads(1)
                .build()
                .expect("open");
            for len in [MEDIUM, 16 << 20] {
                let value = hoard_testkit::artifact(len, 11);
                let key = identity.key(len.to_string());
                assert!(identity.put(&key, &value));
                // The stored payload is read into the returned buffer: no frame beside it.
                let (got, peak) = peak_heap_during(|| identity.get(&key));
                assert_eq!(got.as_deref(), Some(&value[..]));
                assert!(peak <= len + SMALL, "identity get of {len}: peak {peak}");
                eprintln!("peak heap of one get of {len} bytes: identity {peak}");
                // Mapped: the value is not on the heap at all.
                let (got, peak) = peak_heap_during(|| identity.get_mapped(&key).map(|m| m.len()));
                assert_eq!(got, Some(len));
                if len > 1 << 20 && MAPS {
                    assert!(peak <= SMALL, "mapped get of {len}: peak {peak}");
                }
                eprintln!("peak heap of one get_mapped of {len} bytes: identity {peak}");
                // Compressed: the stored payload and the value. The stored payload is held
                // whole while its chunks decode (it is verified whole before any chunk
                // decodes), so it is within one chunk only when it compresses to one.
                let key = zstd.key(len.to_string());
                assert!(zstd.put(&key, &value));
                let stored = zstd
                    .store()
                    .get(zstd.namespace(), key.digest(), u64::MAX)
                    .expect("read")
                    .expect("present")
                    .len();
                let (got, peak) = peak_heap_during(|| zstd.get(&key));
                assert_eq!(got.as_deref(), Some(&value[..]));
                assert!(
                    peak <= len + stored + SMALL,
                    "zstd get of {len} ({stored} stored): peak {peak}"
                );
                eprintln!("peak heap of one get of {len} bytes: zstd {peak} ({stored} stored)");
            }
        },
    );
}

#[test]
fn a_mapped_guard_crosses_threads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = identity_cache(&dir);
    let key = cache.key("threads");
    let value = hoard_testkit::artifact(LARGE, 6);
    assert!(cache.put(&key, &value));
    let guard = cache.get_mapped(&key).expect("a hit");
    assert_eq!(guard.is_mapped(), MAPS);
    let len = std::thread::scope(|s| s.spawn(|| guard.len()).join().expect("no panic"));
    assert_eq!(len, value.len());
    let moved = std::thread::spawn(move || guard.into_vec())
        .join()
        .expect("no panic");
    assert_eq!(moved, value);
}
