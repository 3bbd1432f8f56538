//! The verified read's view of entries: `get_frame` splits a large entry at its payload
//! offset and reads small ones whole, `map_frame` maps only a private cache's entries, and
//! both survive a failure of any of their system calls.

use std::sync::Arc;

use hoard_core::{ErrorKind, HasherId, Key, Store, StoredFrame, frame};
use hoard_fs::fault::{self, Faults, Injected, Persistence};
use hoard_fs::{FrameBytes, FsOptions, FsStore};

use crate::{digest, fresh, ns};

/// A stored-as-is codec, so that the payload is the value.
#[derive(Debug)]
struct Plain;

impl hoard_core::Codec for Plain {
    fn id(&self) -> hoard_core::CodecId {
        hoard_core::CodecId::Identity
    }
    fn level(&self) -> i32 {
        0
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> hoard_core::Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
    fn decode(&self, input: &[u8], _: usize, out: &mut Vec<u8>) -> hoard_core::Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
}

/// A frame of `len` stored bytes for key `seed`.
fn frame_of(seed: u8, len: usize) -> Vec<u8> {
    let key = Key::new(HasherId::Sha256, digest(seed));
    let value: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    frame::encode(&key, &Plain, &value, 0).expect("encodes")
}

#[test]
fn large_entries_come_split_at_the_payload_and_small_ones_whole() {
    let (_dir, store) = fresh();
    for (seed, len, split) in [(1, 1_000, false), (2, 60_000, false), (3, 200_000, true)] {
        let bytes = frame_of(seed, len);
        store.put(&ns("n"), &digest(seed), &bytes).expect("put");
        let got = store
            .get_frame(&ns("n"), &digest(seed), 1 << 20)
            .expect("read")
            .expect("present");
        assert_eq!(got.is_split(), split, "{len} bytes");
        assert_eq!(got.into_bytes(), bytes, "{len} bytes");
    }
    assert_eq!(
        store
            .get_frame(&ns("n"), &digest(3), 1000)
            .map_err(|e| e.kind()),
        Err(ErrorKind::TooLarge)
    );
    assert_eq!(
        store.get_frame(&ns("n"), &digest(9), 1 << 20).ok(),
        Some(None)
    );
}

#[test]
fn only_a_private_caches_large_entries_are_mapped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = frame_of(4, 300_000);
    for (shared, map_from, mapped) in [(false, 0, true), (false, 1 << 20, false), (true, 0, false)]
    {
        let root = dir.path().join(format!("c-{shared}"));
        let store = FsStore::open_with(&root, FsOptions::new().group_shared(shared)).expect("open");
        store.put(&ns("n"), &digest(4), &bytes).expect("put");
        let got = store
            .map_frame(&ns("n"), &digest(4), 1 << 20, map_from)
            .expect("read")
            .expect("present");
        let held = match got {
            FrameBytes::Mapped(map) => {
                assert!(mapped, "shared {shared}, from {map_from}: mapped");
                map.to_vec()
            }
            FrameBytes::Read(frame) => {
                assert!(!mapped, "shared {shared}, from {map_from}: read");
                frame.into_bytes()
            }
        };
        assert_eq!(held, bytes);
    }
}

#[test]
fn a_planted_sparse_gigabyte_is_refused_from_its_first_page_when_mapped() {
    let (_dir, store) = fresh();
    let path = store.entry_path(&ns("n"), &digest(5));
    std::fs::create_dir_all(path.parent().expect("shard")).expect("mkdir");
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(1 << 30))
        .expect("a sparse gigabyte");
    let got = store.map_frame(&ns("n"), &digest(5), 2 << 30, 0);
    assert_eq!(
        got.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::Corrupt)
    );
    let got = store.get_frame(&ns("n"), &digest(5), 2 << 30);
    assert_eq!(
        got.map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::Corrupt)
    );
}

/// The n-th-call loop over both reads of a large entry: every run returns the frame, an
/// error naming the entry, or (for an injected ENOENT at the open) a miss; never a panic or
/// other bytes.
#[test]
fn every_call_of_the_frame_reads_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = frame_of(6, 200_000);
    FsStore::open(dir.path().join("c"))
        .expect("open")
        .put(&ns("n"), &digest(6), &bytes)
        .expect("seed");
    let faults = Faults::new();
    let store =
        FsStore::open_with_faults(dir.path().join("c"), FsOptions::new(), Arc::clone(&faults))
            .expect("open");
    type Read = fn(&FsStore) -> hoard_core::Result<Option<Vec<u8>>>;
    let reads: [(&str, Read); 2] = [
        ("get_frame", |s| {
            Ok(s.get_frame(&ns("n"), &digest(6), 1 << 20)?
                .map(StoredFrame::into_bytes))
        }),
        ("map_frame", |s| {
            Ok(s.map_frame(&ns("n"), &digest(6), 1 << 20, 0)?
                .map(|f| match f {
                    FrameBytes::Mapped(map) => map.to_vec(),
                    FrameBytes::Read(frame) => frame.into_bytes(),
                }))
        }),
    ];
    for (name, read) in reads {
        for errno in Injected::ALL {
            for persistence in Persistence::ALL {
                let explored = fault::explore(&faults, errno, persistence, |f| {
                    faults.arm(f);
                    let got = read(&store);
                    faults.disarm();
                    match got {
                        Ok(Some(b)) => assert_eq!(b, bytes, "{name} {f:?}"),
                        Ok(None) => assert_eq!(f.errno, Injected::Enoent, "{name} {f:?}: a miss"),
                        Err(e) => assert!(e.path().is_some(), "{name} {f:?}: {e}"),
                    }
                });
                assert!(explored.faulted_runs >= 3, "{name} made too few calls");
            }
        }
    }
}
