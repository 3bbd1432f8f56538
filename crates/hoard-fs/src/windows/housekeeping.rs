//! [`Housekeeping`] for [`FsStore`] on Windows: buckets are shard directories, last use is
//! the file's last access time, locks are `LockFileEx` locks, state lives in `<root>/state/`,
//! as in the Unix store.
//!
//! Everything is resolved through a [`Chain`] of held directories without following
//! symlinks or junctions, and only names of hoard's own patterns (see
//! [`layout`](crate::layout)) are reported or removed.
#![expect(
    clippy::disallowed_methods,
    reason = "the Windows store has no rustix seam: it renames and removes through std"
)]

use std::fs::{FileTimes, OpenOptions};
use std::io;
use std::ops::ControlFlow;
use std::os::windows::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hoard_core::{
    Bucket, BucketInfo, Digest, Error, ErrorKind, HeldLock, Housekeeping, Item, ItemKind,
    LockTarget, Namespace, Result, StateName,
};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE,
};

use super::sys::{self, Info};
use super::{Chain, FsStore, Refused, inspect, io_err, open_for_times};
use crate::layout::{self, EntryName, LAYOUT_DIR, LOCK_SUFFIX, STATE_DIR, TEMP_PREFIX};
use crate::names::{namespace_dir, parse_namespace_dir};
use crate::{Contents, Durability};

/// A directory modified this recently may be modified again within the same timestamp tick
/// without its last write time changing, so its stamp is not trusted yet.
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// State temp files older than this are leftovers of a crashed writer.
const STALE_STATE_TEMP: Duration = Duration::from_secs(60 * 60);

/// A 64-bit mix (splitmix64's finalizer): spreads the fields of a stamp or version.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Identity of one file version: file index, size and last write time. A put renames a new
/// file into place; touching changes only the access time.
fn version_of(info: &Info) -> u128 {
    let low = mix(info.modified ^ mix(info.size ^ mix(u64::from(info.volume))));
    (u128::from(info.index) << 64) | u128::from(low)
}

/// The stamp of a directory, or `None` while its last write time is too fresh to vouch for.
fn stamp_of(info: &Info) -> Option<u128> {
    let modified = info.modified_time()?;
    let settled = SystemTime::now().checked_sub(RACY_WINDOW)?;
    if modified >= settled {
        return None;
    }
    let low = mix(info.modified ^ mix(u64::from(info.volume)));
    Some((u128::from(info.index) << 64) | u128::from(low))
}

/// The item a file of kind `kind` with information `info` is.
fn item_of(kind: ItemKind, info: &Info) -> Item {
    Item::new(
        kind,
        info.size,
        info.modified_time(),
        info.accessed_time(),
        version_of(info),
    )
}

/// What `name` in shard directory `shard` is: an entry or temp file of that shard, or
/// nothing of ours.
fn item_kind(name: &str, shard: &str) -> Option<ItemKind> {
    if let Some(entry) = EntryName::parse(name) {
        return (entry.shard() == shard).then(|| ItemKind::Entry(*entry.digest()));
    }
    let (entry, nonce) = layout::parse_temp(name)?;
    (entry.shard() == shard).then(|| ItemKind::Temp {
        digest: *entry.digest(),
        nonce,
    })
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

/// An entry moved aside by `FsStore::move_aside`: its temp path, and whether it is the
/// version that was asked for.
struct Aside {
    grave: PathBuf,
    same: bool,
}

fn is_missing(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl FsStore {
    /// A bucket's directories; `None` if one is missing or not a real directory (a link
    /// planted there is not ours to follow).
    fn open_bucket(&self, bucket: &Bucket) -> Result<Option<Chain>> {
        let parts = [
            LAYOUT_DIR,
            &*namespace_dir(bucket.namespace()),
            bucket.name(),
        ];
        match self.chain(&parts, false) {
            Ok(chain) => Ok(Some(chain)),
            Err(Refused::Missing | Refused::NotDir | Refused::Reparse) => Ok(None),
            Err(r) => Err(self.refused(r, "cache directory", &self.join(&parts))),
        }
    }

    /// Moves the entry `name` aside under a fresh temp name and checks the version of what
    /// it moved (see the Unix store's `move_aside`). `None` if there was no entry.
    fn move_aside(
        &self,
        chain: &Chain,
        name: &EntryName,
        version: u128,
        shown: &Path,
    ) -> Result<Option<Aside>> {
        let grave = chain.join(&name.temp_name(fastrand::u64(..)));
        match std::fs::rename(chain.join(name.as_str()), &grave) {
            Ok(()) => {}
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(io_err("cannot move cache entry aside", shown, e)),
        }
        let same = inspect(&grave).is_ok_and(|info| info.is_file() && version_of(&info) == version);
        Ok(Some(Aside { grave, same }))
    }

    /// Moves an entry that [`move_aside`](Self::move_aside) took back to its name, unless a
    /// newer put already took the name, in which case the moved one is the older and goes.
    fn put_back(&self, chain: &Chain, aside: &Aside, name: &EntryName, shown: &Path) -> Result<()> {
        match sys::rename_noreplace(&aside.grave, &chain.join(name.as_str())) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = std::fs::remove_file(&aside.grave);
                Ok(())
            }
            Err(e) => Err(io_err("cannot move cache entry back", shown, e)),
        }
    }

    fn remove_entry_if(
        &self,
        chain: &Chain,
        ns: &Namespace,
        digest: &Digest,
        item: &Item,
    ) -> Result<bool> {
        let name = EntryName::new(digest);
        let shown = self.entry_path(ns, digest);
        let Some(aside) = self.move_aside(chain, &name, item.version, &shown)? else {
            return Ok(false);
        };
        if !aside.same {
            self.put_back(chain, &aside, &name, &shown)?;
            return Ok(false);
        }
        match std::fs::remove_file(&aside.grave) {
            Ok(()) => Ok(true),
            Err(e) if is_missing(&e) => Ok(true),
            Err(e) => Err(io_err("cannot remove cache entry", &shown, e)),
        }
    }

    /// Replaces the entry `digest` with `frame` if it is still `item`'s version, as the Unix
    /// store does: the new frame is written first, the entry is moved aside and checked,
    /// and the new frame moves in without replacing a put that landed meanwhile.
    fn replace_entry_if(
        &self,
        chain: &Chain,
        ns: &Namespace,
        digest: &Digest,
        item: &Item,
        frame: &[u8],
    ) -> Result<bool> {
        let name = EntryName::new(digest);
        let shown = self.entry_path(ns, digest);
        let (temp, file) =
            self.write_fresh_temp(chain, &|nonce| name.temp_name(nonce), frame, &shown)?;
        // Kept open only for the flush after the rename (see `replace_atomically`).
        let file = (self.options.durability == Durability::Full).then_some(file);
        let temp = chain.join(&temp);
        let discard = |file: Option<std::fs::File>| {
            drop(file);
            let _ = std::fs::remove_file(&temp);
        };
        let aside = match self.move_aside(chain, &name, item.version, &shown) {
            Ok(Some(aside)) => aside,
            Ok(None) => {
                discard(file);
                return Ok(false);
            }
            Err(e) => {
                discard(file);
                return Err(e);
            }
        };
        if !aside.same {
            discard(file);
            self.put_back(chain, &aside, &name, &shown)?;
            return Ok(false);
        }
        match sys::rename_noreplace(&temp, &chain.join(name.as_str())) {
            Ok(()) => {}
            // A newer put took the name: the checked version is older than it, and goes.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                discard(file);
                let _ = std::fs::remove_file(&aside.grave);
                return Ok(false);
            }
            Err(e) => {
                discard(file);
                let _ = self.put_back(chain, &aside, &name, &shown);
                return Err(io_err(
                    "cannot move replacement entry into place",
                    &shown,
                    e,
                ));
            }
        }
        // Best effort: the swap is done; a leftover is a temp file that cleanup sweeps.
        let _ = std::fs::remove_file(&aside.grave);
        if let Some(file) = file {
            self.sync_after_rename(&file, &shown)?;
        }
        Ok(true)
    }

    /// Removes temp files of state writes that crashed long ago.
    fn sweep_state_temps(&self, chain: &Chain) {
        let Ok(names) = chain.names() else {
            return;
        };
        let Some(cutoff) = SystemTime::now().checked_sub(STALE_STATE_TEMP) else {
            return;
        };
        for name in names {
            if !is_state_temp(&name) {
                continue;
            }
            let path = chain.join(&name);
            let Ok(info) = inspect(&path) else {
                continue;
            };
            if info.is_file() && info.modified_time().is_some_and(|m| m < cutoff) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }

    fn lock_file_name(name: &StateName) -> String {
        format!("{}{LOCK_SUFFIX}", name.as_str())
    }
}

/// Takes the lock of an open lock file or entry; `None` if `wait` is false and another
/// holds it. The lock lives as long as the handle, which the returned guard owns.
fn lock_file(file: std::fs::File, wait: bool, shown: &Path) -> Result<Option<HeldLock>> {
    match sys::lock(&file, wait) {
        Ok(true) => Ok(Some(HeldLock::new(file))),
        Ok(false) => Ok(None),
        Err(e) => Err(io_err("cannot lock", shown, e)),
    }
}

impl Housekeeping for FsStore {
    fn buckets(&self, visit: &mut dyn FnMut(BucketInfo) -> ControlFlow<()>) -> Result<()> {
        let Some(mut chain) = self.open_top()? else {
            return Ok(());
        };
        let top = self.join(&[LAYOUT_DIR]);
        for ns_name in chain
            .names()
            .map_err(|e| io_err("cannot list cache directory", &top, e))?
        {
            let Some(ns) = parse_namespace_dir(&ns_name) else {
                continue;
            };
            if chain.descend(&ns_name).is_err() {
                continue;
            }
            let shards = chain
                .names()
                .map_err(|e| io_err("cannot list cache directory", chain.path(), e));
            let mut stop = false;
            for shard in shards? {
                if !layout::is_shard_name(&shard) {
                    continue;
                }
                let info = match inspect(&chain.join(&shard)) {
                    Ok(info) => info,
                    Err(e) if is_missing(&e) => continue,
                    Err(e) => {
                        return Err(io_err("cannot inspect cache directory", chain.path(), e));
                    }
                };
                if !info.is_dir() {
                    continue;
                }
                let bucket = Bucket::new(ns.clone(), &shard)?;
                if visit(BucketInfo::new(bucket, stamp_of(&info))).is_break() {
                    stop = true;
                    break;
                }
            }
            chain.ascend();
            if stop {
                return Ok(());
            }
        }
        Ok(())
    }

    fn scan_bucket(
        &self,
        bucket: &Bucket,
        visit: &mut dyn FnMut(Item) -> ControlFlow<()>,
    ) -> Result<Option<u128>> {
        let Some(chain) = self.open_bucket(bucket)? else {
            return Ok(None);
        };
        let stamp = chain
            .info()
            .map_err(|e| io_err("cannot inspect cache directory", chain.path(), e))?;
        let stamp = stamp_of(&stamp);
        let names = chain
            .names()
            .map_err(|e| io_err("cannot list cache directory", chain.path(), e))?;
        for name in names {
            let Some(kind) = item_kind(&name, bucket.name()) else {
                continue;
            };
            let info = match inspect(&chain.join(&name)) {
                Ok(info) => info,
                // Removed by another process since the directory was read.
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err(io_err("cannot inspect cache entry", chain.path(), e)),
            };
            if !info.is_file() {
                continue;
            }
            if visit(item_of(kind, &info)).is_break() {
                break;
            }
        }
        Ok(stamp)
    }

    fn remove_item(&self, bucket: &Bucket, item: &Item) -> Result<bool> {
        let Some(chain) = self.open_bucket(bucket)? else {
            return Ok(false);
        };
        match item.kind {
            ItemKind::Entry(digest) => {
                if EntryName::new(&digest).shard() != bucket.name() {
                    return Ok(false);
                }
                self.remove_entry_if(&chain, bucket.namespace(), &digest, item)
            }
            ItemKind::Temp { digest, nonce } => {
                let name = EntryName::new(&digest);
                if name.shard() != bucket.name() {
                    return Ok(false);
                }
                let path = chain.join(&name.temp_name(nonce));
                match inspect(&path) {
                    Ok(info) if info.is_file() && version_of(&info) == item.version => {}
                    Ok(_) => return Ok(false),
                    Err(e) if is_missing(&e) => return Ok(false),
                    Err(e) => return Err(io_err("cannot inspect temporary entry file", &path, e)),
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => Ok(true),
                    Err(e) if is_missing(&e) => Ok(false),
                    Err(e) => Err(io_err("cannot remove temporary entry file", &path, e)),
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
        // The version comes from the handle the bytes are read through, as on Unix.
        let Some((bytes, info)) = self.read_file_beneath(
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
            item_of(ItemKind::Entry(*digest), &info),
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
        let Some(chain) = self.open_bucket(bucket)? else {
            return Ok(false);
        };
        self.replace_entry_if(&chain, bucket.namespace(), &digest, item, frame)
    }

    fn touch(&self, ns: &Namespace, used: &[(Digest, SystemTime)]) -> Result<u64> {
        // Sorted by shard, so that each shard's directories are opened once per call.
        let mut order: Vec<&(Digest, SystemTime)> = used.iter().collect();
        order.sort_unstable_by_key(|(d, _)| d.as_bytes()[0]);
        let mut touched = 0;
        let mut current: Option<(String, Option<Chain>)> = None;
        for (digest, when) in order {
            let name = EntryName::new(digest);
            if current.as_ref().is_none_or(|(s, _)| s != name.shard()) {
                let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard()];
                let chain = match self.chain(&parts, false) {
                    Ok(chain) => Some(chain),
                    Err(Refused::Missing | Refused::NotDir | Refused::Reparse) => None,
                    Err(r) => return Err(self.refused(r, "cache directory", &self.join(&parts))),
                };
                current = Some((name.shard().to_owned(), chain));
            }
            let Some((_, Some(chain))) = &current else {
                continue;
            };
            // Opened itself: a link planted at an entry name gets its own times set, never
            // its target's.
            let path = chain.join(name.as_str());
            let set = open_for_times(&path)
                .and_then(|(file, _)| file.set_times(FileTimes::new().set_accessed(*when)));
            match set {
                Ok(()) => touched += 1,
                Err(e) if is_missing(&e) => {}
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
                let chain = self.ensure_dir(&[STATE_DIR])?;
                let file_name = Self::lock_file_name(name);
                let shown = self.join(&[STATE_DIR, &file_name]);
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
                    .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
                    .open(chain.join(&file_name))
                    .map_err(|e| io_err("cannot open lock file", &shown, e))?;
                let info =
                    sys::info(&file).map_err(|e| io_err("cannot inspect lock file", &shown, e))?;
                if !info.is_file() {
                    return Err(
                        Error::new(ErrorKind::Insecure, "lock file is not a regular file")
                            .with_path(shown),
                    );
                }
                lock_file(file, wait, &shown)
            }
            LockTarget::Entry(ns, digest) => {
                let name = EntryName::new(digest);
                let shown = self.entry_path(ns, digest);
                let chain = match self
                    .chain(&[LAYOUT_DIR, &*namespace_dir(ns), name.shard()], false)
                {
                    Ok(chain) => chain,
                    Err(Refused::Missing | Refused::NotDir | Refused::Reparse) => return Ok(None),
                    Err(r) => return Err(self.refused(r, "cache entry", &shown)),
                };
                let file = match OpenOptions::new()
                    .read(true)
                    .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
                    .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
                    .open(chain.join(name.as_str()))
                {
                    Ok(file) => file,
                    Err(e) if is_missing(&e) => return Ok(None),
                    Err(e) => return Err(io_err("cannot open cache entry", &shown, e)),
                };
                let info = sys::info(&file)
                    .map_err(|e| io_err("cannot inspect cache entry", &shown, e))?;
                if !info.is_file() {
                    return Ok(None);
                }
                lock_file(file, wait, &shown)
            }
            _ => Err(Error::new(
                ErrorKind::NotSupportedByStore,
                "the filesystem store does not know this kind of lock",
            )),
        }
    }

    /// `state/<name>.lock` under the root for a named lock, the entry's file for an entry
    /// lock.
    fn lock_path(&self, target: LockTarget<'_>) -> Option<PathBuf> {
        match target {
            LockTarget::Named(name) => Some(self.join(&[STATE_DIR, &Self::lock_file_name(name)])),
            LockTarget::Entry(ns, digest) => Some(self.entry_path(ns, digest)),
            _ => None,
        }
    }

    fn read_state(&self, name: &StateName, limit: u64) -> Result<Option<Vec<u8>>> {
        let parts = [STATE_DIR, name.as_str()];
        self.read_beneath(&parts, limit, "state file", &|| self.join(&parts))
    }

    fn write_state(&self, name: &StateName, bytes: &[u8]) -> Result<()> {
        let chain = self.ensure_dir(&[STATE_DIR])?;
        let target = name.as_str();
        let shown = self.join(&[STATE_DIR, target]);
        self.replace_atomically(
            &chain,
            &|nonce| format!("{TEMP_PREFIX}{target}-{nonce:016x}"),
            target,
            bytes,
            &shown,
            "state file",
        )?;
        self.sweep_state_temps(&chain);
        Ok(())
    }
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
    }
}
