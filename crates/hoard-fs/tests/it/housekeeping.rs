//! `FsStore` as `Housekeeping`: the testkit suite, then what only a real directory shows:
//! stamps of settled directories, temp files, foreign names and planted symlinks.

use std::fs::FileTimes;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, SystemTime};

use hoard_core::{Bucket, Housekeeping, Item, ItemKind, LockTarget, StateName, Store};
use hoard_fs::FsStore;

use crate::{digest, fresh, ns};

#[test]
fn conformance() {
    let base = tempfile::tempdir().expect("tempdir");
    let counter = std::sync::atomic::AtomicUsize::new(0);
    hoard_testkit::housekeeping::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        FsStore::open(base.path().join(format!("c{n}"))).expect("open")
    });
}

fn scan(store: &FsStore, bucket: &Bucket) -> (Option<u128>, Vec<Item>) {
    let mut items = Vec::new();
    let stamp = store
        .scan_bucket(bucket, &mut |i| {
            items.push(i);
            ControlFlow::Continue(())
        })
        .expect("scan");
    (stamp, items)
}

fn all_buckets(store: &FsStore) -> Vec<(Bucket, Option<u128>)> {
    let mut out = Vec::new();
    store
        .buckets(&mut |b| {
            out.push((b.bucket, b.stamp));
            ControlFlow::Continue(())
        })
        .expect("buckets");
    out.sort();
    out
}

/// Sets a path's modification time (directories included) without following a symlink at
/// the last component: only used on real files and directories the test made.
fn backdate(path: &Path, age: Duration) {
    let when = SystemTime::now() - age;
    #[cfg(unix)]
    let f = std::fs::File::open(path).expect("open to backdate");
    // A directory opens only with FILE_FLAG_BACKUP_SEMANTICS (0x0200_0000), and setting
    // times needs FILE_WRITE_ATTRIBUTES (0x100).
    #[cfg(windows)]
    let f = {
        use std::os::windows::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .access_mode(0x100)
            .custom_flags(0x0200_0000)
            .open(path)
            .expect("open to backdate")
    };
    f.set_times(FileTimes::new().set_modified(when).set_accessed(when))
        .expect("set times");
}

#[test]
fn settled_directories_get_stamps_that_change_with_their_entries() {
    let (_dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"one").expect("put");
    let shard = store.entry_path(&n, &digest(1));
    let shard = shard.parent().expect("shard");
    // Fresh directories are not vouched for: their mtime may not have ticked yet.
    assert_eq!(all_buckets(&store)[0].1, None);
    backdate(shard, Duration::from_secs(3600));
    let (bucket, before) = all_buckets(&store).remove(0);
    let before = before.expect("a settled directory has a stamp");
    let (scanned, items) = scan(&store, &bucket);
    assert_eq!(scanned, Some(before));
    assert_eq!(items.len(), 1);
    // Touching does not change the stamp; a put does.
    store
        .touch(&n, &[(digest(1), SystemTime::now())])
        .expect("touch");
    assert_eq!(all_buckets(&store)[0].1, Some(before));
    store.put(&n, &digest(1), b"two").expect("put again");
    backdate(shard, Duration::from_secs(1800));
    let after = all_buckets(&store)[0].1.expect("settled again");
    assert_ne!(after, before);
}

#[test]
fn temp_files_are_items_and_foreign_names_are_not() {
    let (_dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"entry").expect("put");
    let entry = store.entry_path(&n, &digest(1));
    let shard = entry.parent().expect("shard");
    let name = entry.file_name().and_then(|s| s.to_str()).expect("name");
    let temp = format!(".tmp-{name}-00000000000000ab");
    plant(shard.join(&temp), b"half");
    for foreign in [
        ".nfs000000001",
        "README",
        // Spelled differently even where case does not count (Windows).
        &format!(".tmp-{name}-00000000000000AC"),
        &format!("{name}x"),
    ] {
        plant(shard.join(foreign), b"not ours");
    }
    let buckets = all_buckets(&store);
    assert_eq!(buckets.len(), 1);
    let (_, items) = scan(&store, &buckets[0].0);
    let mut kinds: Vec<ItemKind> = items.iter().map(|i| i.kind).collect();
    kinds.sort_by_key(|k| matches!(k, ItemKind::Temp { .. }));
    assert_eq!(
        kinds,
        [
            ItemKind::Entry(digest(1)),
            ItemKind::Temp {
                digest: digest(1),
                nonce: 0xab
            }
        ]
    );
    for item in &items {
        assert!(store.remove_item(&buckets[0].0, item).expect("remove"));
    }
    let mut left: Vec<String> = std::fs::read_dir(shard)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left.len(), 4, "{left:?}");
    assert!(
        left.iter()
            .all(|n| !n.starts_with(".tmp-") || n.ends_with("AC"))
    );
}

/// Creates a file with `body` (`std::fs::write` is reserved to hoard-fs's library code).
pub(crate) fn plant(path: impl AsRef<Path>, body: &[u8]) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    f.write_all(body).expect("write");
}

#[test]
fn locks_and_state_live_in_the_state_directory() {
    let (dir, store) = fresh();
    let name = StateName::new("cleanup-marker").expect("valid");
    store.write_state(&name, b"marker").expect("write");
    let lock = store
        .lock(LockTarget::Named(&name), false)
        .expect("lock")
        .expect("free");
    let state = dir.path().join("cache/state");
    assert!(state.join("cleanup-marker").is_file());
    assert!(state.join("cleanup-marker.lock").is_file());
    drop(lock);
    // A symlink planted at a state name is refused, never followed.
    let victim = dir.path().join("victim");
    plant(&victim, b"precious");
    let evil = StateName::new("evil").expect("valid");
    if !crate::plant_link(&victim, state.join("evil")) {
        return;
    }
    assert!(store.read_state(&evil, 1 << 20).is_err());
    store
        .write_state(&evil, b"mine")
        .expect("write replaces the link");
    assert_eq!(std::fs::read(&victim).expect("read"), b"precious");
    assert_eq!(
        store.read_state(&evil, 100).expect("read").as_deref(),
        Some(&b"mine"[..])
    );
}

#[test]
fn symlinked_buckets_and_entries_are_neither_scanned_nor_touched() {
    let (dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"real").expect("put");
    let victim = dir.path().join("victim");
    std::fs::create_dir(&victim).expect("mkdir");
    plant(victim.join("a"), b"precious");
    let entry = store.entry_path(&n, &digest(2));
    std::fs::create_dir_all(entry.parent().expect("shard")).expect("mkdir");
    if !crate::plant_link(victim.join("a"), &entry) {
        return;
    }
    // A link under a real shard name (one no entry uses), and under a real namespace name.
    let used = store.entry_path(&n, &digest(1));
    let used = used
        .parent()
        .and_then(|p| p.file_name())
        .expect("shard name");
    let free = if used == "ff" { "fe" } else { "ff" };
    if !crate::plant_link(&victim, dir.path().join("cache/v1/n").join(free)) {
        return;
    }
    if !crate::plant_link(&victim, dir.path().join("cache/v1/evil")) {
        return;
    }
    let before = std::fs::metadata(victim.join("a")).expect("stat");
    let mut seen = 0;
    for (bucket, _) in all_buckets(&store) {
        assert_ne!(bucket.name(), free);
        assert_ne!(bucket.namespace().as_str(), "evil");
        let (_, items) = scan(&store, &bucket);
        for item in items {
            assert_eq!(item.kind, ItemKind::Entry(digest(1)));
            seen += 1;
        }
    }
    assert_eq!(seen, 1);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
    store
        .touch(&n, &[(digest(2), old)])
        .expect("touch sets the link's own times");
    assert!(
        store
            .lock(LockTarget::Entry(&n, &digest(2)), false)
            .expect("lock")
            .is_none()
    );
    let after = std::fs::metadata(victim.join("a")).expect("stat");
    assert_eq!(before.accessed().ok(), after.accessed().ok());
    assert_eq!(std::fs::read(victim.join("a")).expect("read"), b"precious");
}

/// One thread puts fresh frames of a key while another reads it with `read_item` and
/// replaces it with a frame derived from the bytes read, over and over: after the last put,
/// the entry holds that put's frame or one derived from it, never an older one (a rollback),
/// and no temp file is left.
#[test]
fn replacements_racing_puts_never_roll_back() {
    const PUTS: u64 = 1500;
    let (_dir, store) = fresh();
    let (n, d) = (ns("race"), digest(1));
    let frame = |seq: u64| format!("put {seq:08};").into_bytes().repeat(40);
    let derived = |bytes: &[u8]| {
        let mut out = b"R".to_vec();
        out.extend_from_slice(bytes.strip_prefix(b"R").unwrap_or(bytes));
        out
    };
    store.put(&n, &d, &frame(0)).expect("put");
    let done = AtomicBool::new(false);
    let (replaced, refused) = thread::scope(|s| {
        let replacer = s.spawn(|| {
            let (mut replaced, mut refused, mut after) = (0u64, 0u64, 0u64);
            // Twenty rounds after the last put too, so that some replacement happens even
            // where every put lands before the replacement it races (slow file systems).
            loop {
                if done.load(Ordering::Acquire) {
                    if after == 20 {
                        break;
                    }
                    after += 1;
                }
                let Some((bucket, item, bytes)) = store.read_item(&n, &d, 1 << 20).expect("read")
                else {
                    continue;
                };
                if store
                    .replace_item(&bucket, &item, &derived(&bytes))
                    .expect("replace")
                {
                    replaced += 1;
                } else {
                    refused += 1;
                }
            }
            (replaced, refused)
        });
        // Set however the puts end, so that a failed put fails the test instead of leaving
        // the replacer spinning.
        struct Done<'a>(&'a AtomicBool);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _done = Done(&done);
        for seq in 1..=PUTS {
            store.put(&n, &d, &frame(seq)).expect("put");
        }
        drop(_done);
        replacer.join().expect("the replacer panicked")
    });
    println!("{replaced} replacements, {refused} refused (a put came first)");
    let last = store.get(&n, &d, 1 << 20).expect("get").expect("present");
    assert!(
        last.strip_prefix(b"R").unwrap_or(&last) == frame(PUTS),
        "rolled back to {:?}",
        String::from_utf8_lossy(&last[..last.len().min(16)])
    );
    assert!(replaced > 0);
    let (bucket, _) = all_buckets(&store).remove(0);
    let (_, items) = scan(&store, &bucket);
    assert_eq!(items.len(), 1, "{items:?}");
}

#[test]
fn a_planted_symlink_is_neither_read_nor_replaced() {
    let (dir, store) = fresh();
    let n = ns("n");
    store.put(&n, &digest(1), b"entry").expect("put");
    let (bucket, item, _) = store
        .read_item(&n, &digest(1), 1 << 20)
        .expect("read")
        .expect("present");
    let entry = store.entry_path(&n, &digest(1));
    let outside = dir.path().join("outside");
    plant(&outside, b"not ours");
    assert!(store.remove(&n, &digest(1)).expect("remove"));
    if !crate::plant_link(&outside, &entry) {
        return;
    }
    assert!(store.read_item(&n, &digest(1), 1 << 20).is_err());
    assert!(
        !store
            .replace_item(&bucket, &item, b"replacement")
            .expect("replace")
    );
    assert!(
        std::fs::symlink_metadata(&entry)
            .expect("still there")
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&outside).expect("read"), b"not ours");
}
