//! What only Windows shows: linked roots, junctions, sharing modes and byte-range locks.
//! The planted-symlink tests of `attacks` and `housekeeping` run here too, with
//! `symlink_file` / `symlink_dir` links (see `plant_link`).

use std::io::Read;
use std::path::Path;

use hoard_core::{ErrorKind, Housekeeping, LockTarget, StateName, Store};
use hoard_fs::FsStore;

use crate::housekeeping::plant;
use crate::{digest, fresh, ns};

#[test]
fn linked_roots_are_refused_and_a_file_root_is_invalid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let link = dir.path().join("link");
    if !crate::plant_link(&real, &link) {
        return;
    }
    let err = FsStore::open(&link).expect_err("a symlinked root is refused");
    assert_eq!(err.kind(), ErrorKind::Insecure);
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(err.to_string().contains("link"), "{err}");
    FsStore::open(&real).expect("the real directory is accepted");

    let file = dir.path().join("file");
    plant(&file, b"");
    assert_eq!(
        FsStore::open(&file).map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput)
    );
}

/// Whether the file system in `dir` replaces a file that is open: POSIX rename semantics
/// (NTFS on Windows 10 1607 and later) do; Wine and FAT answer `ERROR_ACCESS_DENIED`.
fn replaces_open_files(dir: &Path) -> bool {
    let (from, to) = (dir.join("probe-from"), dir.join("probe-to"));
    plant(&from, b"new");
    plant(&to, b"old");
    let _open = std::fs::File::open(&to).expect("open");
    #[expect(
        clippy::disallowed_methods,
        reason = "a probe of the file system, outside any cache"
    )]
    let replaced = std::fs::rename(&from, &to).is_ok();
    if !replaced {
        println!("this file system cannot replace an open file (no POSIX rename semantics)");
    }
    replaced
}

#[test]
fn an_entry_open_in_a_reader_is_replaced_or_kept_whole() {
    let (dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"old").expect("put");
    // std's default sharing mode includes FILE_SHARE_DELETE, as the store's readers use.
    let mut reader = std::fs::File::open(store.entry_path(&n, &digest(1))).expect("open");
    let put = store.put(&n, &digest(1), b"new");
    let expected: &[u8] = if replaces_open_files(dir.path()) {
        put.expect("put over an open entry");
        b"new"
    } else {
        // Held open longer than the put's retries last: the put fails and changes nothing.
        let err = put.expect_err("no replacing an open file here");
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        b"old"
    };
    assert_eq!(
        store.get(&n, &digest(1), 100).expect("get").as_deref(),
        Some(expected)
    );
    let mut held = Vec::new();
    reader.read_to_end(&mut held).expect("read");
    assert_eq!(held, b"old", "the reader keeps the version it opened");
    drop(reader);
    let leftovers: Vec<_> = crate::files_below(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An entry open in a reader is removed all the same.
    let mut second = std::fs::File::open(store.entry_path(&n, &digest(1))).expect("open");
    assert!(store.remove(&n, &digest(1)).expect("remove an open entry"));
    assert_eq!(store.get(&n, &digest(1), 100).expect("get"), None);
    held.clear();
    second.read_to_end(&mut held).expect("read");
    assert_eq!(held, expected);
    drop(second);
    store
        .put(&n, &digest(1), b"again")
        .expect("put after the removal");
}

#[test]
fn locks_exclude_each_other_and_never_block_readers() {
    let (dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"entry").expect("put");
    let entry = LockTarget::Entry(&n, &digest(1));
    let held = store.lock(entry, false).expect("lock").expect("free");
    assert!(store.lock(entry, false).expect("lock").is_none());
    // Windows enforces byte-range locks on reads: the lock covers a byte far past the end,
    // so the locked entry reads as ever, through the store and through any other handle.
    assert_eq!(
        store.get(&n, &digest(1), 100).expect("get").as_deref(),
        Some(&b"entry"[..])
    );
    let mut direct = Vec::new();
    std::fs::File::open(store.entry_path(&n, &digest(1)))
        .and_then(|mut f| f.read_to_end(&mut direct))
        .expect("read past the lock");
    assert_eq!(direct, b"entry");
    // A locked entry is an open one: a put replaces it where open files can be replaced
    // (the lock stays with the old file), and fails, changing nothing, elsewhere.
    let put = store.put(&n, &digest(1), b"newer");
    assert_eq!(put.is_ok(), replaces_open_files(dir.path()), "{put:?}");
    drop(held);
    assert!(store.lock(entry, false).expect("lock").is_some());

    let name = StateName::new("cleanup-marker").expect("valid");
    let named = store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    assert!(
        store
            .lock(LockTarget::Named(&name), false)
            .expect("lock")
            .is_none()
    );
    drop(named);
    assert!(
        store
            .lock(LockTarget::Named(&name), true)
            .expect("lock")
            .is_some()
    );
}

/// Set in the child of [`a_lock_dies_with_its_holder`]: the cache root.
const LOCK_CHILD_ENV: &str = "HOARD_FS_LOCK_CHILD";

/// The child side of [`a_lock_dies_with_its_holder`]; does nothing in an ordinary run. It
/// takes the named lock and exits without releasing it.
#[test]
fn child_takes_a_lock_and_dies() {
    let Ok(root) = std::env::var(LOCK_CHILD_ENV) else {
        return;
    };
    let store = FsStore::open(&root).expect("open");
    let name = StateName::new("cleanup-marker").expect("valid");
    let held = store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    println!("child-locked");
    std::mem::forget(held);
    std::process::exit(0);
}

#[test]
fn a_lock_dies_with_its_holder() {
    let (dir, store) = fresh();
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([
            "windows::child_takes_a_lock_and_dies",
            "--exact",
            "--nocapture",
        ])
        .env(LOCK_CHILD_ENV, dir.path().join("cache"))
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child-locked"),
        "child: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The child is gone, its lock never released by it: Windows released it.
    let name = StateName::new("cleanup-marker").expect("valid");
    assert!(
        store
            .lock(LockTarget::Named(&name), false)
            .expect("lock")
            .is_some()
    );
}
