//! Integration tests of `FsStore` through its public API, on real directories.

mod attacks;
#[cfg(unix)]
mod faults;
#[cfg(unix)]
mod frames;
mod housekeeping;
mod planted;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoard_core::{Digest, ErrorKind, Namespace, Store, StoreExt};
use hoard_fs::{Durability, FsOptions, FsStore};

pub(crate) fn ns(name: &str) -> Namespace {
    Namespace::new(name).expect("valid namespace")
}

pub(crate) fn digest(seed: u8) -> Digest {
    Digest::from_bytes(std::array::from_fn(|i| {
        seed.wrapping_mul(31).wrapping_add(i as u8)
    }))
}

pub(crate) fn fresh() -> (tempfile::TempDir, FsStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = FsStore::open(dir.path().join("cache")).expect("open");
    (dir, store)
}

/// Plants a symbolic link for a test: see [`hoard_testkit::plant_link`].
pub(crate) use hoard_testkit::plant_link;

/// Every file below `root`, relative, sorted.
pub(crate) fn files_below(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read_dir") {
            let e = e.expect("entry");
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                walk(&e.path(), root, out);
            } else {
                out.push(
                    e.path()
                        .strip_prefix(root)
                        .expect("below root")
                        .to_path_buf(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
fn conformance() {
    let base = tempfile::tempdir().expect("tempdir");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    hoard_testkit::store::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FsStore::open(base.path().join(format!("c{n}"))).expect("open")
    });
}

#[test]
fn conformance_with_full_durability() {
    let base = tempfile::tempdir().expect("tempdir");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    hoard_testkit::store::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FsStore::open_with(
            base.path().join(format!("c{n}")),
            FsOptions::new().durability(Durability::Full),
        )
        .expect("open")
    });
}

#[test]
fn layout_is_versioned_sharded_and_tagged() {
    let (dir, store) = fresh();
    let d = digest(1);
    store.put(&ns("wasmtime-1.0"), &d, b"frame").expect("put");
    let path = store.entry_path(&ns("wasmtime-1.0"), &d);
    assert!(path.is_file());
    let rel = path
        .strip_prefix(dir.path().join("cache"))
        .expect("inside root");
    let parts: Vec<_> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(parts.len(), 4, "{parts:?}");
    assert_eq!(parts[0], "v1");
    assert_eq!(parts[1], "wasmtime-1.0");
    assert_eq!(parts[2].len(), 2);
    assert_eq!(parts[3].len(), 43);
    assert_eq!(
        parts[2],
        format!("{:02x}", d.as_bytes()[0]),
        "the shard is the first byte in hex"
    );
    let tag = std::fs::read_to_string(dir.path().join("cache/CACHEDIR.TAG")).expect("tag");
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
}

#[cfg(unix)]
#[test]
fn modes_are_private_whatever_the_umask() {
    // The umask is the whole process's: alone, the change reaches no other test.
    hoard_testkit::process::alone("modes_are_private_whatever_the_umask", || {
        let old = rustix_umask(0);
        let (dir, store) = fresh();
        store.put(&ns("n"), &digest(2), b"x").expect("put");
        rustix_umask(old);
        let entry = store.entry_path(&ns("n"), &digest(2));
        assert_eq!(mode(&entry), 0o600);
        let mut p = entry.parent().map(Path::to_path_buf);
        while let Some(d) = p {
            if d == dir.path() {
                break;
            }
            assert_eq!(mode(&d), 0o700, "{}", d.display());
            p = d.parent().map(Path::to_path_buf);
        }
        assert_eq!(mode(&dir.path().join("cache/CACHEDIR.TAG")), 0o600);
    });
}

#[cfg(unix)]
#[test]
fn group_sharing_uses_group_modes() {
    // The umask is the whole process's: alone, no other test changes it meanwhile.
    hoard_testkit::process::alone("group_sharing_uses_group_modes", || {
        let old = rustix_umask(0o022);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FsStore::open_with(dir.path().join("c"), FsOptions::new().group_shared(true))
            .expect("open");
        store.put(&ns("n"), &digest(2), b"x").expect("put");
        rustix_umask(old);
        assert_eq!(mode(&store.entry_path(&ns("n"), &digest(2))), 0o640);
        assert_eq!(mode(&dir.path().join("c/v1/n")), 0o2770);
        // The root itself too, though the umask narrowed what mkdir made of it.
        assert_eq!(mode(&dir.path().join("c")), 0o2770);
        assert_eq!(mode(&dir.path().join("c/v1")), 0o2770);
    });
}

#[cfg(unix)]
#[allow(
    clippy::unnecessary_cast,
    reason = "a mode is a u32 on Linux and a u16 on macOS: the casts are needed on one of them"
)]
fn rustix_umask(mask: u32) -> u32 {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(mask as rustix::fs::RawMode)).bits()
        as u32
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

#[cfg(unix)]
#[test]
fn insecure_roots_are_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let real = dir.path().join("real");
    std::fs::create_dir(&real).expect("mkdir");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).expect("chmod");

    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let err = FsStore::open(&link).expect_err("a symlinked root is refused");
    assert_eq!(err.kind(), ErrorKind::Insecure);
    assert!(err.to_string().contains("symlink"), "{err}");
    assert!(err.to_string().contains("link"), "{err}");

    for (m, word) in [(0o777, "world-writable"), (0o770, "group-writable")] {
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(m)).expect("chmod");
        let err = FsStore::open(&real).expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Insecure);
        assert!(err.to_string().contains(word), "{err}");
    }
    // Group sharing accepts the group-writable one, never the world-writable one.
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o770)).expect("chmod");
    FsStore::open_with(&real, FsOptions::new().group_shared(true)).expect("shared root accepted");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    assert!(FsStore::open_with(&real, FsOptions::new().group_shared(true)).is_err());

    let file = dir.path().join("file");
    std::fs::File::create(&file).expect("create");
    assert_eq!(
        FsStore::open(&file).map(|_| ()).map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput)
    );
}

#[cfg(unix)]
#[test]
fn a_root_owned_by_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        println!("not run: needs root to chown a directory to another user");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::os::unix::fs::chown(&other, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let err = FsStore::open(&other).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Insecure);
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    assert_eq!(std::fs::metadata(&other).expect("stat").uid(), 65534);
}

#[test]
fn a_failed_put_leaves_no_temp_file_and_the_old_entry() {
    let (dir, store) = fresh();
    let n = ns("n");
    // A directory planted at the entry name makes the rename fail.
    store.put(&n, &digest(3), b"old").expect("put");
    let victim = store.entry_path(&n, &digest(4));
    std::fs::create_dir_all(victim.join("inside")).expect("plant dir");
    let err = store
        .put(&n, &digest(4), b"new")
        .expect_err("rename onto a directory fails");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(
        err.to_string().contains(&victim.display().to_string()),
        "{err}"
    );
    let leftovers: Vec<_> = files_below(dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        store.get(&n, &digest(3), 100).expect("get").as_deref(),
        Some(&b"old"[..])
    );
}

#[test]
fn listing_skips_foreign_and_temporary_files() {
    let (dir, store) = fresh();
    let n = ns("n");
    for i in 0..20 {
        store
            .put(&n, &digest(i), &vec![i; usize::from(i)])
            .expect("put");
    }
    let shard = store.entry_path(&n, &digest(0));
    let shard = shard.parent().expect("shard dir");
    for foreign in [".nfs0000123", "README", ".tmp-half", "x"] {
        std::fs::File::create(shard.join(foreign)).expect("create foreign");
    }
    std::fs::create_dir_all(dir.path().join("cache/v1/.hidden/zz")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("cache/v1/n/toolong")).expect("mkdir");
    let mut listed = store.entries().expect("list");
    listed.sort_by_key(|e| e.digest);
    let mut expected: Vec<_> = (0..20).map(digest).collect();
    expected.sort();
    assert_eq!(
        listed.iter().map(|e| e.digest).collect::<Vec<_>>(),
        expected
    );
    for e in &listed {
        assert_eq!(e.namespace, n);
        assert!(e.modified.is_some());
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_at_an_entry_path_does_not_block() {
    let (_dir, store) = fresh();
    let n = ns("n");
    let path = store.entry_path(&n, &digest(5));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let status = std::process::Command::new("mkfifo")
        .arg(&path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let started = std::time::Instant::now();
    let err = store
        .get(&n, &digest(5), 1 << 20)
        .expect_err("a fifo is not an entry");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(store.remove(&n, &digest(5)).expect("remove"));
    store.put(&n, &digest(5), b"ok").expect("put after removal");
}

#[test]
fn an_oversized_file_is_refused_before_reading() {
    let (_dir, store) = fresh();
    let n = ns("n");
    let path = store.entry_path(&n, &digest(6));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let f = std::fs::File::create(&path).expect("create");
    f.set_len(10 << 30).expect("10 GiB sparse file");
    let err = store.get(&n, &digest(6), 1 << 20).expect_err("too large");
    assert_eq!(err.kind(), ErrorKind::TooLarge);
}

#[test]
fn removing_what_is_not_there_is_false() {
    let (_dir, store) = fresh();
    assert!(!store.remove(&ns("never"), &digest(1)).expect("remove"));
    assert_eq!(store.get(&ns("never"), &digest(1), 10).expect("get"), None);
}
