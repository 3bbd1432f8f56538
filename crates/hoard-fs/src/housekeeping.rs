//! [`Housekeeping`] for [`FsStore`]: buckets are shard directories, last use is the file's
//! access time, locks are `flock`s, state lives in `<root>/state/`.
//!
//! Everything is resolved from the root descriptor without following symlinks, and only
//! names of hoard's own patterns (see [`layout`](crate::layout)) are reported or removed.

use std::ffi::CStr;
use std::ops::ControlFlow;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hoard_core::{
    Bucket, BucketInfo, Digest, Error, ErrorKind, HeldLock, Housekeeping, Item, ItemKind,
    LockTarget, Namespace, Result, StateName,
};
use rustix::fs::{
    AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags, Stat, Timespec, Timestamps,
};
use rustix::io::Errno;

use crate::io::Sys;
use crate::layout::{self, EntryName, LAYOUT_DIR, LOCK_SUFFIX, STATE_DIR, TEMP_PREFIX};
use crate::names::{namespace_dir, parse_namespace_dir};
use crate::{Contents, Durability, FsStore, TempGuard, c_path, io_err, time_of};

/// A directory modified this recently may be modified again within the same timestamp tick
/// without its mtime changing (coarse kernel clocks, 1-2 s on some filesystems), so its
/// stamp is not trusted yet.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// State temp files older than this are leftovers of a crashed writer.
const STALE_STATE_TEMP: Duration = Duration::from_secs(60 * 60);

fn stat_time(secs: i64, nanos: i64) -> Option<SystemTime> {
    time_of(secs, nanos)
}

#[allow(
    clippy::unnecessary_cast,
    reason = "stat field widths differ between targets"
)]
fn mtime_of(st: &Stat) -> (i64, i64) {
    (st.st_mtime as i64, st.st_mtime_nsec as i64)
}

#[allow(
    clippy::unnecessary_cast,
    reason = "stat field widths differ between targets"
)]
fn atime_of(st: &Stat) -> (i64, i64) {
    (st.st_atime as i64, st.st_atime_nsec as i64)
}

/// A 64-bit mix (splitmix64's finalizer): spreads the fields of a stamp or version.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Identity of one file version: inode, size and modification time. A put renames a new
/// inode into place; touching changes only the access time.
#[allow(
    clippy::unnecessary_cast,
    reason = "stat field widths differ between targets"
)]
fn version_of(st: &Stat) -> u128 {
    let (s, ns) = mtime_of(st);
    let low = mix(s as u64 ^ mix(ns as u64 ^ mix(st.st_size as u64)));
    (u128::from(st.st_ino as u64) << 64) | u128::from(low)
}

/// The stamp of a directory, or `None` while its mtime is too fresh to vouch for.
#[allow(
    clippy::unnecessary_cast,
    reason = "stat field widths differ between targets"
)]
fn stamp_of(st: &Stat) -> Option<u128> {
    let (s, ns) = mtime_of(st);
    let modified = stat_time(s, ns)?;
    let settled = SystemTime::now().checked_sub(RACY_WINDOW)?;
    if modified >= settled {
        return None;
    }
    let low = mix(s as u64 ^ mix(ns as u64 ^ mix(st.st_dev as u64)));
    Some((u128::from(st.st_ino as u64) << 64) | u128::from(low))
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

fn is_file(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::RegularFile
}

fn timespec(t: SystemTime) -> Timespec {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: d.subsec_nanos().into(),
        },
        Err(before) => {
            let d = before.duration();
            let mut secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let mut nanos = i64::from(d.subsec_nanos());
            if nanos > 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            Timespec {
                tv_sec: secs,
                tv_nsec: nanos,
            }
        }
    }
}

impl FsStore {
    fn state_name_of(name: &StateName) -> &str {
        name.as_str()
    }

    /// The `v1/` directory; `None` if it does not exist. A symlink or file in its place is
    /// an [`ErrorKind::Insecure`] error, as for listings.
    fn open_top(&self) -> Result<Option<OwnedFd>> {
        match self.open_dir(&[LAYOUT_DIR]) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => Err(Error::new(
                ErrorKind::Insecure,
                "a symlink or file sits where the cache's entry directory should be",
            )
            .with_path(self.join(&[LAYOUT_DIR]))),
            Err(e) => Err(io_err(
                "cannot open cache directory",
                &self.join(&[LAYOUT_DIR]),
                e,
            )),
        }
    }

    /// A bucket's directory; `None` if it is missing or not a real directory (a symlink
    /// planted there is not ours to follow).
    fn open_bucket(&self, bucket: &Bucket) -> Result<Option<OwnedFd>> {
        let parts = [
            LAYOUT_DIR,
            &*namespace_dir(bucket.namespace()),
            bucket.name(),
        ];
        match self.open_dir(&parts) {
            Ok(fd) => Ok(Some(fd)),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => Ok(None),
            Err(e) => Err(io_err("cannot open cache directory", &self.join(&parts), e)),
        }
    }

    /// Moves the entry `name` of `dir` aside under a fresh temp name and checks the
    /// version of what it moved: a rename is atomic, so what is checked is exactly what
    /// left the entry's name, and a put that lands in the meantime is never touched.
    /// `None` if there was no entry.
    fn move_aside(
        &self,
        dir: BorrowedFd<'_>,
        name: &EntryName,
        version: u128,
        shown: &Path,
    ) -> Result<Option<Aside>> {
        let sys = self.sys();
        let grave = name.temp_name(fastrand::u64(..));
        match sys.renameat(dir, name.as_str(), &grave, RenameFlags::empty()) {
            Ok(()) => {}
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_err("cannot move cache entry aside", shown, e)),
        }
        let same = match sys.statat(dir, &grave, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => is_file(&st) && version_of(&st) == version,
            Err(_) => false,
        };
        Ok(Some(Aside { grave, same }))
    }

    /// Moves an entry that [`move_aside`](Self::move_aside) took back to its name, unless a
    /// newer put already took the name, in which case the moved one is the older and goes.
    fn put_back(
        &self,
        dir: BorrowedFd<'_>,
        aside: &Aside,
        name: &EntryName,
        shown: &Path,
    ) -> Result<()> {
        let sys = self.sys();
        match sys.renameat(dir, &aside.grave, name.as_str(), RenameFlags::NOREPLACE) {
            Ok(()) => Ok(()),
            Err(Errno::EXIST) => {
                let _ = sys.unlinkat(dir, &aside.grave);
                Ok(())
            }
            // No renameat2 here: a plain rename, which may replace a put that landed in
            // the last microseconds with an equally valid older frame of the same key.
            Err(Errno::INVAL | Errno::NOSYS) => sys
                .renameat(dir, &aside.grave, name.as_str(), RenameFlags::empty())
                .map_err(|e| io_err("cannot move cache entry back", shown, e)),
            Err(e) => Err(io_err("cannot move cache entry back", shown, e)),
        }
    }

    fn remove_entry_if(
        &self,
        dir: &OwnedFd,
        bucket: &Bucket,
        digest: &Digest,
        item: &Item,
    ) -> Result<bool> {
        let name = EntryName::new(digest);
        let shown = self.entry_path(bucket.namespace(), digest);
        let dir = dir.as_fd();
        let Some(aside) = self.move_aside(dir, &name, item.version, &shown)? else {
            return Ok(false);
        };
        if !aside.same {
            self.put_back(dir, &aside, &name, &shown)?;
            return Ok(false);
        }
        match self.sys().unlinkat(dir, &aside.grave) {
            Ok(()) | Err(Errno::NOENT) => Ok(true),
            Err(e) => Err(io_err("cannot remove cache entry", &shown, e)),
        }
    }

    /// Replaces the entry `digest` of `dir` with `frame` if it is still `item`'s version:
    /// the new frame is written to a temp file first (synced as the durability asks), then
    /// the entry is moved aside and checked as for a removal; only the checked version is
    /// swapped out, and the new frame moves in with `RENAME_NOREPLACE`, so that a put that
    /// lands at the name in between (newer than both frames) wins.
    fn replace_entry_if(
        &self,
        dir: &OwnedFd,
        bucket: &Bucket,
        digest: &Digest,
        item: &Item,
        frame: &[u8],
    ) -> Result<bool> {
        let name = EntryName::new(digest);
        let shown = self.entry_path(bucket.namespace(), digest);
        let sys = self.sys();
        let dir = dir.as_fd();
        // Written before the entry is touched, so that it is away from its name for no
        // longer than a stat and two renames.
        let temp = self.write_fresh_temp(dir, &|nonce| name.temp_name(nonce), frame, &shown)?;
        let mut ours = TempGuard {
            sys,
            dir,
            name: &temp,
            armed: true,
        };
        let Some(aside) = self.move_aside(dir, &name, item.version, &shown)? else {
            return Ok(false);
        };
        if !aside.same {
            self.put_back(dir, &aside, &name, &shown)?;
            return Ok(false);
        }
        let moved = match sys.renameat(dir, &temp, name.as_str(), RenameFlags::NOREPLACE) {
            // No renameat2 here: a plain rename, with the same microseconds of exposure
            // as moving an entry back in `put_back`.
            Err(Errno::INVAL | Errno::NOSYS) => {
                sys.renameat(dir, &temp, name.as_str(), RenameFlags::empty())
            }
            other => other,
        };
        match moved {
            Ok(()) => {}
            // A newer put took the name: the checked version is older than it, and goes
            // (ours goes with the guard).
            Err(Errno::EXIST) => {
                let _ = sys.unlinkat(dir, &aside.grave);
                return Ok(false);
            }
            Err(e) => {
                let _ = self.put_back(dir, &aside, &name, &shown);
                return Err(io_err(
                    "cannot move replacement entry into place",
                    &shown,
                    e,
                ));
            }
        }
        ours.armed = false;
        // Best effort: the swap is done; a leftover is a temp file that cleanup sweeps.
        let _ = sys.unlinkat(dir, &aside.grave);
        if self.options.durability == Durability::Full {
            sys.fsync(dir)
                .map_err(|e| io_err("cannot sync cache directory", &shown, e))?;
        }
        Ok(true)
    }

    fn state_dir(&self) -> Result<OwnedFd> {
        self.ensure_dir(&[STATE_DIR])
    }

    /// Removes temp files of state writes that crashed long ago.
    fn sweep_state_temps(&self, dir: &OwnedFd) {
        let Ok(names) = self.read_dir(dir, &self.join(&[STATE_DIR])) else {
            return;
        };
        let Some(cutoff) = SystemTime::now().checked_sub(STALE_STATE_TEMP) else {
            return;
        };
        for (name, _) in names {
            let Some(text) = name.to_str().ok() else {
                continue;
            };
            if !is_state_temp(text) {
                continue;
            }
            let Ok(st) = self
                .sys()
                .statat(dir.as_fd(), c_path(&name), AtFlags::SYMLINK_NOFOLLOW)
            else {
                continue;
            };
            let (s, ns) = mtime_of(&st);
            if is_file(&st) && stat_time(s, ns).is_some_and(|m| m < cutoff) {
                let _ = self.sys().unlinkat(dir.as_fd(), c_path(&name));
            }
        }
    }
}

/// Whether `name` is a temp file of a state write: `.tmp-<state name>-<16 hex digits>`.
fn is_state_temp(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
        return false;
    };
    let Some((state, nonce)) = rest.rsplit_once('-') else {
        return false;
    };
    nonce.len() == 16
        && nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && StateName::new(state).is_ok()
}

/// An entry moved aside by `FsStore::move_aside`: its temp name, and whether it is the
/// version that was asked for.
struct Aside {
    grave: String,
    same: bool,
}

/// The item a file of kind `kind` with status `st` is.
fn item_of(kind: ItemKind, st: &Stat) -> Item {
    let (ms, mns) = mtime_of(st);
    let (as_, ans) = atime_of(st);
    Item::new(
        kind,
        u64::try_from(st.st_size).unwrap_or(0),
        stat_time(ms, mns),
        stat_time(as_, ans),
        version_of(st),
    )
}

/// Takes an exclusive `flock` on `fd`; `None` if `wait` is false and another holds it. The
/// lock lives as long as the descriptor, which the returned guard owns.
fn lock_file(
    sys: Sys<'_>,
    fd: OwnedFd,
    wait: bool,
    shown: &std::path::Path,
) -> Result<Option<HeldLock>> {
    let operation = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    match sys.flock(fd.as_fd(), operation) {
        Ok(()) => Ok(Some(HeldLock::new(fd))),
        Err(Errno::WOULDBLOCK) if !wait => Ok(None),
        Err(e) => Err(io_err("cannot lock", shown, e)),
    }
}

impl Housekeeping for FsStore {
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
        let Some(top) = self.open_top()? else {
            return Ok(());
        };
        for (ns_name, _) in self.read_dir(&top, &self.join(&[LAYOUT_DIR]))? {
            let Some(ns) = ns_name.to_str().ok().and_then(parse_namespace_dir) else {
                continue;
            };
            let Some(nsdir) = self.open_subdir(&top, &ns_name) else {
                continue;
            };
            let ns_path = self.join(&[LAYOUT_DIR, &*namespace_dir(&ns)]);
            for (shard, _) in self.read_dir(&nsdir, &ns_path)? {
                let Some(text) = shard.to_str().ok().filter(|s| layout::is_shard_name(s)) else {
                    continue;
                };
                let st = match self.sys().statat(
                    nsdir.as_fd(),
                    c_path(&shard),
                    AtFlags::SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) => st,
                    Err(Errno::NOENT) => continue,
                    Err(e) => {
                        return Err(io_err("cannot inspect cache directory", &ns_path, e));
                    }
                };
                if !is_dir(&st) {
                    continue;
                }
                let bucket = Bucket::new(ns.clone(), text)?;
                if visit(BucketInfo::new(bucket, stamp_of(&st))).is_break() {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn scan_bucket(
        &self,
        bucket: &Bucket,
        visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Result<Option<u128>> {
        let Some(dir) = self.open_bucket(bucket)? else {
            return Ok(None);
        };
        let path = self.join(&[
            LAYOUT_DIR,
            &*namespace_dir(bucket.namespace()),
            bucket.name(),
        ]);
        let stamp = self
            .sys()
            .fstat(dir.as_fd())
            .map_err(|e| io_err("cannot inspect cache directory", &path, e))?;
        let stamp = stamp_of(&stamp);
        for (name, _) in self.read_dir(&dir, &path)? {
            let Some(kind) = item_kind(&name, bucket.name()) else {
                continue;
            };
            let st = match self
                .sys()
                .statat(dir.as_fd(), c_path(&name), AtFlags::SYMLINK_NOFOLLOW)
            {
                Ok(st) => st,
                // Removed by another process since the directory was read.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err("cannot inspect cache entry", &path, e)),
            };
            if !is_file(&st) {
                continue;
            }
            if visit(item_of(kind, &st)).is_break() {
                break;
            }
        }
        Ok(stamp)
    }

    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
        let Some(dir) = self.open_bucket(bucket)? else {
            return Ok(false);
        };
        match item.kind {
            ItemKind::Entry(digest) => {
                if EntryName::new(&digest).shard() != bucket.name() {
                    return Ok(false);
                }
                self.remove_entry_if(&dir, bucket, &digest, item)
            }
            ItemKind::Temp { digest, nonce } => {
                let name = EntryName::new(&digest);
                if name.shard() != bucket.name() {
                    return Ok(false);
                }
                let temp = name.temp_name(nonce);
                let shown = self.join(&[
                    LAYOUT_DIR,
                    &namespace_dir(bucket.namespace()),
                    bucket.name(),
                    &temp,
                ]);
                match self
                    .sys()
                    .statat(dir.as_fd(), &temp, AtFlags::SYMLINK_NOFOLLOW)
                {
                    Ok(st) if is_file(&st) && version_of(&st) == item.version => {}
                    Ok(_) | Err(Errno::NOENT) => return Ok(false),
                    Err(e) => return Err(io_err("cannot inspect temporary entry file", &shown, e)),
                }
                match self.sys().unlinkat(dir.as_fd(), &temp) {
                    Ok(()) => Ok(true),
                    Err(Errno::NOENT) => Ok(false),
                    Err(e) => Err(io_err("cannot remove temporary entry file", &shown, e)),
                }
            }
            _ => Ok(false),
        }
    }

    fn read_item(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<(Bucket, Item, Vec<u8>)>> {
        let name = EntryName::new(digest);
        let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard(), name.as_str()];
        // The version comes from the `fstat` of the descriptor the bytes are read through,
        // and an entry file is never written after it is renamed into place: the item is
        // exactly the version of these bytes, whatever lands at the name meanwhile. (A
        // stat of the name before and after the read could not tell that the name held
        // another file in between, say a put that an eviction's put-back replaced again.)
        let Some((bytes, st)) = self.read_file_beneath(
            &parts,
            limit,
            "cache entry",
            &|| self.entry_path(ns, digest),
            Contents::Frame,
        )?
        else {
            return Ok(None);
        };
        let bucket = Bucket::new(ns.clone(), name.shard())?;
        Ok(Some((
            bucket,
            item_of(ItemKind::Entry(*digest), &st),
            bytes,
        )))
    }

    fn replace_item(&self, bucket: &Bucket, item: &Item, frame: &[u8]) -> Result<bool> {
        let ItemKind::Entry(digest) = item.kind else {
            return Ok(false);
        };
        if EntryName::new(&digest).shard() != bucket.name() {
            return Ok(false);
        }
        let Some(dir) = self.open_bucket(bucket)? else {
            return Ok(false);
        };
        self.replace_entry_if(&dir, bucket, &digest, item, frame)
    }

    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
        // Sorted by the digest's first byte, which decides the shard, so that each shard
        // directory is opened once per call (grouping compares the shard names themselves).
        let mut order: Vec<&(Digest, SystemTime)> = used.iter().collect();
        order.sort_unstable_by_key(|(d, _)| d.as_bytes()[0]);
        let mut touched = 0;
        let mut current: Option<(String, Option<OwnedFd>)> = None;
        for (digest, when) in order {
            let name = EntryName::new(digest);
            if current.as_ref().is_none_or(|(s, _)| s != name.shard()) {
                let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard()];
                let fd = match self.open_dir(&parts) {
                    Ok(fd) => Some(fd),
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => None,
                    Err(e) => {
                        return Err(io_err("cannot open cache directory", &self.join(&parts), e));
                    }
                };
                current = Some((name.shard().to_owned(), fd));
            }
            let Some((_, Some(dir))) = &current else {
                continue;
            };
            let times = Timestamps {
                last_access: timespec(*when),
                last_modification: Timespec {
                    tv_sec: 0,
                    tv_nsec: rustix::fs::UTIME_OMIT,
                },
            };
            // NOFOLLOW: a symlink planted at an entry name gets its own times set, never
            // its target's.
            match self.sys().utimensat(
                dir.as_fd(),
                name.as_str(),
                &times,
                AtFlags::SYMLINK_NOFOLLOW,
            ) {
                Ok(()) => touched += 1,
                Err(Errno::NOENT) => {}
                Err(e) => {
                    return Err(io_err(
                        "cannot record the use of a cache entry",
                        &self.entry_path(ns, digest),
                        e,
                    ));
                }
            }
        }
        Ok(touched)
    }

    fn lock(&self, target: LockTarget<'_>, wait: bool) -> Result<Option<HeldLock>> {
        match target {
            LockTarget::Named(name) => {
                let dir = self.state_dir()?;
                let file_name = format!("{}{LOCK_SUFFIX}", Self::state_name_of(name));
                let shown = self.join(&[STATE_DIR, &file_name]);
                let fd = self
                    .sys()
                    .openat(
                        dir.as_fd(),
                        &file_name,
                        // NONBLOCK: a FIFO planted at a lock name must not hang the
                        // open (fstat below then refuses it).
                        OFlags::RDONLY
                            | OFlags::CREATE
                            | OFlags::NOFOLLOW
                            | OFlags::NONBLOCK
                            | OFlags::NOCTTY
                            | OFlags::CLOEXEC,
                        self.options.file_mode(),
                    )
                    .map_err(|e| io_err("cannot open lock file", &shown, e))?;
                let st = self
                    .sys()
                    .fstat(fd.as_fd())
                    .map_err(|e| io_err("cannot inspect lock file", &shown, e))?;
                if !is_file(&st) {
                    return Err(
                        Error::new(ErrorKind::Insecure, "lock file is not a regular file")
                            .with_path(shown),
                    );
                }
                lock_file(self.sys(), fd, wait, &shown)
            }
            LockTarget::Entry(ns, digest) => {
                let name = EntryName::new(digest);
                let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard(), name.as_str()];
                let shown = self.entry_path(ns, digest);
                let fd = match self.open_beneath(
                    &parts,
                    OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
                    Mode::empty(),
                ) {
                    Ok(fd) => fd,
                    Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::XDEV) => {
                        return Ok(None);
                    }
                    Err(e) => return Err(io_err("cannot open cache entry", &shown, e)),
                };
                let st = self
                    .sys()
                    .fstat(fd.as_fd())
                    .map_err(|e| io_err("cannot inspect cache entry", &shown, e))?;
                if !is_file(&st) {
                    return Ok(None);
                }
                lock_file(self.sys(), fd, wait, &shown)
            }
            _ => Err(Error::new(
                ErrorKind::NotSupportedByStore,
                "the filesystem store does not know this kind of lock",
            )),
        }
    }

    /// `state/<name>.lock` under the root for a named lock, the entry's file for an entry
    /// lock.
    fn lock_path(&self, target: LockTarget<'_>) -> Option<std::path::PathBuf> {
        match target {
            LockTarget::Named(name) => Some(self.join(&[
                STATE_DIR,
                &format!("{}{LOCK_SUFFIX}", Self::state_name_of(name)),
            ])),
            LockTarget::Entry(ns, digest) => Some(self.entry_path(ns, digest)),
            _ => None,
        }
    }

    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
        let parts = [STATE_DIR, Self::state_name_of(name)];
        self.read_beneath(&parts, limit, "state file", &|| self.join(&parts))
    }

    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
        let dir = self.state_dir()?;
        let target = Self::state_name_of(name);
        let shown = self.join(&[STATE_DIR, target]);
        self.replace_atomically(
            dir.as_fd(),
            &|nonce| format!("{TEMP_PREFIX}{target}-{nonce:016x}"),
            target,
            bytes,
            &shown,
            "state file",
        )?;
        self.sweep_state_temps(&dir);
        Ok(())
    }
}

/// What `name` in shard directory `shard` is: an entry or temp file of that shard, or
/// nothing of ours.
fn item_kind(name: &CStr, shard: &str) -> Option<ItemKind> {
    let text = name.to_str().ok()?;
    if let Some(entry) = EntryName::parse(text) {
        return (entry.shard() == shard).then(|| ItemKind::Entry(*entry.digest()));
    }
    let (entry, nonce) = layout::parse_temp(text)?;
    (entry.shard() == shard).then(|| ItemKind::Temp {
        digest: *entry.digest(),
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_temp_names() {
        assert!(is_state_temp(".tmp-cleanup-marker-00000000deadbeef"));
        assert!(!is_state_temp(".tmp-cleanup-marker-00000000DEADBEEF"));
        assert!(!is_state_temp(".tmp-Bad-00000000deadbeef"));
        assert!(!is_state_temp("cleanup-marker"));
        assert!(!is_state_temp(".tmp--00000000deadbeef"));
    }

    #[test]
    fn timespecs_before_the_epoch() {
        let t = UNIX_EPOCH - Duration::from_millis(1500);
        let ts = timespec(t);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (-2, 500_000_000));
        assert_eq!(time_of(ts.tv_sec, ts.tv_nsec), Some(t));
    }
}
