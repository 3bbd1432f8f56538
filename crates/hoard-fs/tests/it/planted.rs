//! Files planted at entry paths that cannot be frames of their size (a sparse gigabyte, a
//! header declaring far more than the file holds): refused from their fixed header, without
//! reading the rest. Peak memory is measured in a child process (this test binary run
//! again for one test), so that no other test's allocations count.

#[cfg(unix)]
use std::io::Write;
#[cfg(unix)]
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::process::Command;

use hoard_core::frame::{self, HEADER_LEN};
use hoard_core::{ErrorKind, HasherId, Key, Store};
#[cfg(unix)]
use hoard_fs::FsStore;

use crate::{digest, fresh, ns};

/// Set in the child: `<root>|<digest seed>|<limit>`.
#[cfg(unix)]
const CHILD_ENV: &str = "HOARD_FS_PLANTED_CHILD";

#[cfg(unix)]
const GIB: u64 = 1 << 30;

/// The bound on the child's peak memory growth for one refused read.
#[cfg(unix)]
const GROWTH_BOUND_KIB: u64 = 16 << 10;

/// Creates a sparse file of `len` bytes at the entry path of `seed`, starting with `head`.
#[cfg(unix)]
fn plant(store: &FsStore, seed: u8, head: &[u8], len: u64) -> PathBuf {
    let path = store.entry_path(&ns("n"), &digest(seed));
    std::fs::create_dir_all(path.parent().expect("shard")).expect("mkdir");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(head).expect("write the head");
    f.set_len(len).expect("sparse file");
    path
}

/// A valid frame's fixed header for `seed`, declaring `payload_len` payload bytes after
/// offset 96 and `version`.
fn header(seed: u8, version: u16, payload_len: u64) -> Vec<u8> {
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
    let key = Key::new(HasherId::Sha256, digest(seed));
    let mut head = frame::encode(&key, &Plain, b"", 0).expect("an empty frame encodes");
    head.truncate(HEADER_LEN);
    head[8..10].copy_from_slice(&version.to_le_bytes());
    head[24..32].copy_from_slice(&payload_len.to_le_bytes());
    head[32..40].copy_from_slice(&payload_len.to_le_bytes());
    head
}

/// Reads the entry of `seed` in a child process; returns the error kind it reported (or
/// `hit` / `miss`) and how much its peak resident memory grew, in KiB.
#[cfg(unix)]
fn read_in_child(root: &Path, seed: u8, limit: u64) -> (String, u64) {
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["planted::child_reads_one_entry", "--exact", "--nocapture"])
        .env(CHILD_ENV, format!("{}|{seed}|{limit}", root.display()))
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("planted-read "))
        .unwrap_or_else(|| panic!("no result line in {stdout}"));
    let (outcome, grew) = line.split_once(' ').expect("two fields");
    (outcome.to_owned(), grew.parse().expect("KiB"))
}

#[cfg(unix)]
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// The child side of [`read_in_child`]; does nothing in an ordinary test run.
#[cfg(unix)]
#[test]
fn child_reads_one_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let root = PathBuf::from(parts.next().expect("root"));
    let seed: u8 = parts.next().expect("seed").parse().expect("seed");
    let limit: u64 = parts.next().expect("limit").parse().expect("limit");
    let store = FsStore::open(&root).expect("open");
    let before = vm_hwm_kib();
    let outcome = match store.get(&ns("n"), &digest(seed), limit) {
        Ok(Some(_)) => "hit".to_owned(),
        Ok(None) => "miss".to_owned(),
        Err(e) => format!("{:?}", e.kind()),
    };
    let grew = vm_hwm_kib().saturating_sub(before);
    println!("planted-read {outcome} {grew}");
}

#[cfg(unix)]
#[test]
fn a_sparse_gigabyte_is_refused_from_its_header() {
    let (dir, store) = fresh();
    let root = dir.path().join("cache");
    let limit = frame::max_frame_len(GIB);
    let cases: [(&str, Vec<u8>, u64, &str); 4] = [
        ("1 GiB of zeros", Vec::new(), GIB, "Corrupt"),
        ("16 GiB of zeros", Vec::new(), 16 * GIB, "TooLarge"),
        (
            "a header declaring 16 GiB in 1 GiB",
            header(3, 1, 16 * GIB),
            GIB,
            "Corrupt",
        ),
        (
            "a header declaring 1 PiB in 16 GiB",
            header(4, 1, 1 << 50),
            16 * GIB,
            "TooLarge",
        ),
    ];
    for (seed, (what, head, len, want)) in cases.iter().enumerate() {
        let seed = seed as u8 + 1;
        plant(&store, seed, head, *len);
        let (outcome, grew) = read_in_child(&root, seed, limit);
        assert_eq!(outcome, *want, "{what}");
        assert!(
            grew < GROWTH_BOUND_KIB,
            "{what}: peak memory grew {grew} KiB"
        );
        // Without a limit, the header alone still refuses the file.
        let (outcome, grew) = read_in_child(&root, seed, u64::MAX);
        assert_eq!(outcome, "Corrupt", "{what}, no limit");
        assert!(
            grew < GROWTH_BOUND_KIB,
            "{what}, no limit: peak memory grew {grew} KiB"
        );
    }
}

#[test]
fn large_entries_are_judged_by_their_header_and_small_ones_passed_whole() {
    let (_dir, store) = fresh();
    let n = ns("n");
    // An intact 1 MiB frame: read whole, byte for byte.
    let key = Key::new(HasherId::Sha256, digest(10));
    let mut big = header(10, 1, 1 << 20);
    big.extend((0..1u32 << 20).map(|i| (i % 251) as u8));
    store.put(&n, key.digest(), &big).expect("put");
    assert_eq!(
        store.get(&n, key.digest(), u64::MAX).expect("get"),
        Some(big.clone())
    );
    // One byte more or less than it declares: refused from its header.
    for len in [big.len() - 1, big.len() + 1] {
        let mut other = big.clone();
        other.resize(len, 0);
        store.put(&n, key.digest(), &other).expect("put");
        let err = store.get(&n, key.digest(), u64::MAX).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
        assert!(err.to_string().contains("truncated or extended"), "{err}");
        assert!(
            err.path() == Some(store.entry_path(&n, key.digest()).as_path()),
            "{err}"
        );
    }
    // A newer format version declares a layout this build cannot judge: the store returns
    // the bytes, and the frame's checksum decides (here damage, so Corrupt).
    let newer = header(10, hoard_core::frame::FORMAT_VERSION + 1, 7);
    let mut bytes = newer.clone();
    bytes.resize(1 << 20, 0);
    store.put(&n, key.digest(), &bytes).expect("put");
    let got = store.get(&n, key.digest(), u64::MAX).expect("read whole");
    assert_eq!(got.as_deref().map(<[u8]>::len), Some(1 << 20));
    // Small files are read whole, for the parse to judge: the store moves opaque bytes.
    store.put(&n, key.digest(), b"not a frame").expect("put");
    assert_eq!(
        store
            .get(&n, key.digest(), u64::MAX)
            .expect("get")
            .as_deref(),
        Some(&b"not a frame"[..])
    );
}
