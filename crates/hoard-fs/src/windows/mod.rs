//! [`FsStore`] on Windows: the layout, names and contract of the Unix store, on Windows
//! semantics.
//!
//! Windows has no `openat`: paths are resolved from the root's path. Containment comes
//! from handles instead: every directory from the root down to the one an operation works
//! in is opened, in order, with `FILE_FLAG_OPEN_REPARSE_POINT` (a symlink or junction is
//! opened itself, never followed) and checked to be a real directory, and the handles are
//! held without `FILE_SHARE_DELETE` until the operation ends, so that none of them can be
//! renamed, removed or replaced by a junction meanwhile. The root is checked to be the
//! directory the store opened (volume serial and file index). The last component is opened
//! with `FILE_FLAG_OPEN_REPARSE_POINT` too and refused if it is a reparse point. See
//! ARCHITECTURE.md, "Platforms", for what this does and does not check.
#![expect(
    clippy::disallowed_methods,
    reason = "the Windows store has no rustix seam: it creates, renames and removes through std"
)]

mod housekeeping;
pub(crate) mod sys;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::ops::ControlFlow;
use std::os::windows::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoard_core::{Digest, EntryInfo, Error, ErrorKind, Namespace, Result, Store, frame};
use windows_sys::Win32::Storage::FileSystem::{
    FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT, FILE_LIST_DIRECTORY,
    FILE_READ_ATTRIBUTES, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
    FILE_WRITE_ATTRIBUTES, SYNCHRONIZE,
};

use self::sys::Info;
use crate::layout::{self, EntryName, LAYOUT_DIR};
use crate::names::{namespace_dir, parse_namespace_dir};
use crate::{CACHEDIR_TAG, CACHEDIR_TAG_BODY, Contents, Durability, EAGER_READ_MAX, FsOptions};

/// The share mode of every file the store opens: readers, writers and renames or deletes of
/// the name all go on, so that an entry stays readable while it is replaced or removed.
const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// The filesystem store: one file per entry under `<root>/v1/<namespace>/<shard>/<digest>`.
///
/// Every path below the root is resolved without following a symlink or junction at any
/// component: on Windows, every directory on the way is opened with
/// `FILE_FLAG_OPEN_REPARSE_POINT`, checked, and held open without `FILE_SHARE_DELETE` for the
/// length of the operation (see ARCHITECTURE.md, "Platforms"), so nothing planted in the
/// cache can redirect a read, write or delete outside it. See the crate docs for the write
/// and read paths.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    /// Volume serial and file index of the root as opened: every operation checks that the
    /// root's path still names this directory.
    root_id: (u32, u64),
    options: FsOptions,
}

/// Why a path below the root could not be opened.
#[derive(Debug)]
pub(crate) enum Refused {
    /// A component does not exist.
    Missing,
    /// A component is a symlink, junction or other reparse point.
    Reparse,
    /// A directory component is a file.
    NotDir,
    /// The root's path names another directory than the one the store opened.
    Replaced,
    /// Anything else.
    Io(io::Error),
}

impl From<io::Error> for Refused {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => Self::Missing,
            io::ErrorKind::NotADirectory => Self::NotDir,
            _ => Self::Io(e),
        }
    }
}

/// The directories from the root down to one below it, each held open (without
/// `FILE_SHARE_DELETE`) and checked to be a real directory: while a chain lives, its path
/// resolves to exactly these directories.
pub(crate) struct Chain {
    held: Vec<File>,
    path: PathBuf,
}

impl Chain {
    /// The path of `name` in the innermost directory.
    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The innermost directory's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// `GetFileInformationByHandle` of the innermost directory.
    pub(crate) fn info(&self) -> io::Result<Info> {
        match self.held.last() {
            Some(dir) => sys::info(dir),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    /// Descends into the subdirectory `name`, which must be a real directory.
    pub(crate) fn descend(&mut self, name: &str) -> std::result::Result<(), Refused> {
        let path = self.path.join(name);
        let dir = open_dir_handle(&path)?;
        check_dir(&dir)?;
        self.held.push(dir);
        self.path = path;
        Ok(())
    }

    /// Goes back up one level.
    pub(crate) fn ascend(&mut self) {
        if self.held.len() > 1 {
            self.held.pop();
            self.path.pop();
        }
    }

    /// The names in the innermost directory.
    pub(crate) fn names(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.path)? {
            // Names that are not Unicode are never hoard's own.
            if let Ok(name) = entry?.file_name().into_string() {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// Opens a directory (or whatever sits at `path`) itself, never what a reparse point there
/// points to, held without `FILE_SHARE_DELETE` so that it cannot be renamed or removed while
/// the handle lives.
fn open_dir_handle(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .access_mode(FILE_LIST_DIRECTORY | FILE_READ_ATTRIBUTES | SYNCHRONIZE)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

fn check_dir(dir: &File) -> std::result::Result<Info, Refused> {
    let info = sys::info(dir).map_err(Refused::Io)?;
    if info.is_reparse_point() {
        Err(Refused::Reparse)
    } else if !info.is_dir() {
        Err(Refused::NotDir)
    } else {
        Ok(info)
    }
}

/// Opens `path` itself (a reparse point is opened, not followed; a directory opens too),
/// with `access` and every sharing mode, for its attributes and times.
fn open_nofollow(path: &Path, access: u32) -> io::Result<(File, Info)> {
    let file = OpenOptions::new()
        .access_mode(access)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let info = sys::info(&file)?;
    Ok((file, info))
}

/// [`open_nofollow`] with attribute access only: enough for `GetFileInformationByHandle`,
/// and no sharing conflict with anyone.
pub(crate) fn inspect(path: &Path) -> io::Result<Info> {
    open_nofollow(path, FILE_READ_ATTRIBUTES | SYNCHRONIZE).map(|(_, info)| info)
}

/// [`open_nofollow`] with the right to set times.
pub(crate) fn open_for_times(path: &Path) -> io::Result<(File, Info)> {
    open_nofollow(
        path,
        FILE_READ_ATTRIBUTES | FILE_WRITE_ATTRIBUTES | SYNCHRONIZE,
    )
}

pub(crate) fn io_err(message: impl Into<String>, path: &Path, e: io::Error) -> Error {
    Error::io(message.into(), path, e)
}

impl FsStore {
    /// Opens (creating if needed) a cache directory with the default [`FsOptions`].
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, FsOptions::default())
    }

    /// Opens (creating if needed) a cache directory.
    ///
    /// The root is refused with [`ErrorKind::Insecure`] if it is a symlink, junction or other
    /// reparse point. On Windows its owner and access control list are not checked, and
    /// `group_shared` changes nothing: files and directories inherit the access control list
    /// of the directory the cache is created in (see ARCHITECTURE.md, "Platforms"). A
    /// `CACHEDIR.TAG` is written so that backup tools skip the cache.
    pub fn open_with(root: impl AsRef<Path>, options: FsOptions) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        if root.as_os_str().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "cache directory path is empty",
            ));
        }
        match std::fs::symlink_metadata(&root) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::create_dir_all(&root)
                .map_err(|e| io_err("cannot create cache directory", &root, e))?,
            Err(e) => return Err(io_err("cannot inspect cache directory", &root, e)),
        }
        let dir =
            open_dir_handle(&root).map_err(|e| io_err("cannot open cache directory", &root, e))?;
        let info =
            sys::info(&dir).map_err(|e| io_err("cannot inspect cache directory", &root, e))?;
        if info.is_reparse_point() {
            return Err(Error::new(
                ErrorKind::Insecure,
                "cache directory is a symlink or junction; point hoard at the real directory",
            )
            .with_path(&root));
        }
        if !info.is_dir() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "cache directory is not a directory",
            )
            .with_path(&root));
        }
        let store = Self {
            root,
            root_id: (info.volume, info.index),
            options,
        };
        drop(dir);
        store.write_tag()?;
        store.ensure_dir(&[LAYOUT_DIR])?;
        Ok(store)
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The options the store was opened with.
    pub fn options(&self) -> FsOptions {
        self.options
    }

    /// Where the entry for `(ns, digest)` lives (whether or not it exists).
    pub fn entry_path(&self, ns: &Namespace, digest: &Digest) -> PathBuf {
        let name = EntryName::new(digest);
        self.root
            .join(LAYOUT_DIR)
            .join(&*namespace_dir(ns))
            .join(name.shard())
            .join(name.as_str())
    }

    pub(crate) fn join(&self, parts: &[&str]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(parts);
        p
    }

    fn write_tag(&self) -> Result<()> {
        let chain = self.ensure_dir(&[])?;
        let path = chain.join(CACHEDIR_TAG);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .share_mode(SHARE_ALL)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(&path)
        {
            Ok(mut f) => f
                .write_all(CACHEDIR_TAG_BODY)
                .map_err(|e| io_err("cannot write cache directory tag", &path, e)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            // A read-only cache still serves hits.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(io_err("cannot create cache directory tag", &path, e)),
        }
    }

    /// Opens the root and the directories `parts` below it as a [`Chain`], creating
    /// missing ones if `create`.
    pub(crate) fn chain(
        &self,
        parts: &[&str],
        create: bool,
    ) -> std::result::Result<Chain, Refused> {
        let root = open_dir_handle(&self.root)?;
        let info = check_dir(&root)?;
        if (info.volume, info.index) != self.root_id {
            return Err(Refused::Replaced);
        }
        let mut chain = Chain {
            held: vec![root],
            path: self.root.clone(),
        };
        for part in parts {
            match chain.descend(part) {
                Err(Refused::Missing) if create => {
                    match std::fs::create_dir(chain.join(part)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Refused::Io(e)),
                    }
                    chain.descend(part)?;
                }
                other => other?,
            }
        }
        Ok(chain)
    }

    /// The error for a [`Refused`] chain or file at `shown`, `what` naming it.
    pub(crate) fn refused(&self, refused: Refused, what: &str, shown: &Path) -> Error {
        match refused {
            Refused::Reparse => Error::new(
                ErrorKind::Insecure,
                format!("a symlink or junction sits on the path of a {what}"),
            )
            .with_path(shown),
            Refused::Replaced => Error::new(
                ErrorKind::Insecure,
                "the cache directory's path now names another directory",
            )
            .with_path(&self.root),
            Refused::NotDir => Error::new(
                ErrorKind::InvalidInput,
                format!("a file sits on the path of a {what}"),
            )
            .with_path(shown),
            Refused::Missing => io_err(
                format!("cannot open {what}"),
                shown,
                io::Error::from(io::ErrorKind::NotFound),
            ),
            Refused::Io(e) => io_err(format!("cannot open {what}"), shown, e),
        }
    }

    /// Opens (creating missing levels) the directories `parts` below the root.
    pub(crate) fn ensure_dir(&self, parts: &[&str]) -> Result<Chain> {
        self.chain(parts, true)
            .map_err(|r| self.refused(r, "cache directory", &self.join(parts)))
    }

    /// Opens `parts` beneath the root without following symlinks or junctions and reads
    /// it: a state file, named by `what` in errors.
    pub(crate) fn read_beneath(
        &self,
        parts: &[&str],
        limit: u64,
        what: &str,
        shown: &dyn Fn() -> PathBuf,
    ) -> Result<Option<Vec<u8>>> {
        let read = self.read_file_beneath(parts, limit, what, shown, Contents::Opaque)?;
        Ok(read.map(|(bytes, _)| bytes))
    }

    /// Opens `parts` beneath the root without following symlinks or junctions and reads
    /// it, as the Unix store does: absent is `Ok(None)`, a reparse point on the path is
    /// [`ErrorKind::Insecure`], the file must be a regular file of at most `limit` bytes,
    /// and a large [`Contents::Frame`] is judged by its header first. The file is opened
    /// with every sharing mode, so a put or removal of the name goes on while it is read.
    /// Returns the bytes with the information of the handle they were read through.
    pub(crate) fn read_file_beneath(
        &self,
        parts: &[&str],
        limit: u64,
        what: &str,
        shown: &dyn Fn() -> PathBuf,
        contents: Contents,
    ) -> Result<Option<(Vec<u8>, Info)>> {
        let Some((last, dirs)) = parts.split_last() else {
            return Ok(None);
        };
        let chain = match self.chain(dirs, false) {
            Ok(chain) => chain,
            Err(Refused::Missing | Refused::NotDir) => return Ok(None),
            Err(r) => return Err(self.refused(r, what, &shown())),
        };
        let file = OpenOptions::new()
            .read(true)
            .share_mode(SHARE_ALL)
            .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
            .open(chain.join(last));
        let file = match file {
            Ok(file) => file,
            Err(e) => {
                return match Refused::from(e) {
                    Refused::Missing | Refused::NotDir => Ok(None),
                    r => Err(self.refused(r, what, &shown())),
                };
            }
        };
        let info =
            sys::info(&file).map_err(|e| io_err(format!("cannot inspect {what}"), &shown(), e))?;
        if info.is_reparse_point() {
            return Err(self.refused(Refused::Reparse, what, &shown()));
        }
        if !info.is_file() {
            return Err(Error::corrupt(format!("{what} is not a regular file")).with_path(shown()));
        }
        let size = info.size;
        if size > limit {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("{what} is {size} bytes, above the {limit}-byte read limit"),
            )
            .with_path(shown()));
        }
        let mut buf = if contents == Contents::Frame && size > EAGER_READ_MAX {
            let mut head = Vec::with_capacity(frame::HEADER_LEN);
            (&file)
                .take(frame::HEADER_LEN as u64)
                .read_to_end(&mut head)
                .map_err(|e| io_err(format!("cannot read {what}"), &shown(), e))?;
            frame::check_prefix(&head, size).map_err(|e| e.with_path(shown()))?;
            head
        } else {
            Vec::new()
        };
        let rest = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_sub(buf.len());
        buf.try_reserve_exact(rest).map_err(|_| {
            Error::new(
                ErrorKind::TooLarge,
                format!("cannot allocate {size} bytes for a {what}"),
            )
            .with_path(shown())
        })?;
        // Exactly the size the handle reported (see the Unix store's `read_to_capacity`).
        (&file)
            .take(rest as u64)
            .read_to_end(&mut buf)
            .map_err(|e| io_err(format!("cannot read {what}"), &shown(), e))?;
        Ok(Some((buf, info)))
    }

    /// Writes `bytes` to a fresh temp file in `chain`'s directory and renames it over
    /// `target` (see [`rename_replacing`]); the temp file is removed on any failure.
    pub(crate) fn replace_atomically(
        &self,
        chain: &Chain,
        temp_name: &dyn Fn(u64) -> String,
        target: &str,
        bytes: &[u8],
        shown: &Path,
        what: &str,
    ) -> Result<()> {
        let (temp, file) = self.write_fresh_temp(chain, temp_name, bytes, shown)?;
        // Kept open across the rename only for the flush after it: an open handle on the new
        // entry keeps the next put from replacing it where renames lack POSIX semantics.
        let file = (self.options.durability == Durability::Full).then_some(file);
        let temp_path = chain.join(&temp);
        if let Err(e) = rename_replacing(&temp_path, &chain.join(target)) {
            drop(file);
            let _ = std::fs::remove_file(&temp_path);
            return Err(io_err(format!("cannot move {what} into place"), shown, e));
        }
        match file {
            Some(file) => self.sync_after_rename(&file, shown),
            None => Ok(()),
        }
    }

    /// For [`Durability::Full`], flushes the file again after its rename, which makes NTFS
    /// write its metadata. Windows documents no directory flush an unprivileged process can
    /// call, so the rename's own durability is NTFS's journal's (see ARCHITECTURE.md).
    pub(crate) fn sync_after_rename(&self, file: &File, shown: &Path) -> Result<()> {
        if self.options.durability == Durability::Full {
            file.sync_all()
                .map_err(|e| io_err("cannot sync cache entry", shown, e))?;
        }
        Ok(())
    }

    /// Writes `bytes` to a fresh temp file in `chain`'s directory, synced as the durability
    /// asks, and returns its name with its handle (kept for the flush after the rename).
    /// Nothing is left behind on failure.
    pub(crate) fn write_fresh_temp(
        &self,
        chain: &Chain,
        temp_name: &dyn Fn(u64) -> String,
        bytes: &[u8],
        shown: &Path,
    ) -> Result<(String, File)> {
        let mut attempts = 0;
        loop {
            let temp = temp_name(fastrand::u64(..));
            let path = chain.join(&temp);
            let file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .share_mode(SHARE_ALL)
                .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
                .open(&path)
            {
                Ok(file) => file,
                Err(e) if attempts < 3 && e.kind() == io::ErrorKind::AlreadyExists => {
                    attempts += 1;
                    continue;
                }
                Err(e) => return Err(io_err("cannot create temporary entry file", shown, e)),
            };
            let written = (&file)
                .write_all(bytes)
                .map_err(|e| io_err("cannot write temporary entry file", shown, e))
                .and_then(|()| {
                    match self.options.durability {
                        Durability::None => Ok(()),
                        Durability::Data => file.sync_data(),
                        Durability::Full => file.sync_all(),
                    }
                    .map_err(|e| io_err("cannot sync temporary entry file", shown, e))
                });
            if let Err(e) = written {
                drop(file);
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
            return Ok((temp, file));
        }
    }
}

impl FsStore {
    /// The frame of the entry `(ns, digest)`, as the Unix store's `map_frame` returns it for
    /// the facade's `Cache::get_mapped`: on Windows always read ([`FrameBytes::Read`], as
    /// [`get_frame`](Store::get_frame) reads it), never mapped. A mapped file cannot be
    /// renamed over or deleted on Windows while the map lives, which would make every put
    /// of a mapped key fail; reading keeps puts and removals working. `map_from` is ignored.
    ///
    /// [`FrameBytes::Read`]: crate::FrameBytes::Read
    pub fn map_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
        _map_from: u64,
    ) -> Result<Option<crate::FrameBytes>> {
        Ok(self
            .get_frame(ns, digest, limit)?
            .map(crate::FrameBytes::Read))
    }
}

impl Store for FsStore {
    fn get(&self, ns: &Namespace, digest: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
        let name = EntryName::new(digest);
        let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard(), name.as_str()];
        let read = self.read_file_beneath(
            &parts,
            limit,
            "cache entry",
            &|| self.entry_path(ns, digest),
            Contents::Frame,
        )?;
        Ok(read.map(|(bytes, _)| bytes))
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let name = EntryName::new(digest);
        let chain = self.ensure_dir(&[LAYOUT_DIR, &*namespace_dir(ns), name.shard()])?;
        let shown = self.entry_path(ns, digest);
        self.replace_atomically(
            &chain,
            &|nonce| name.temp_name(nonce),
            name.as_str(),
            frame,
            &shown,
            "entry",
        )
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let name = EntryName::new(digest);
        let shown = self.entry_path(ns, digest);
        let chain = match self.chain(&[LAYOUT_DIR, &*namespace_dir(ns), name.shard()], false) {
            Ok(chain) => chain,
            // Nothing is removed through a symlinked directory, and saying so keeps a
            // caller from taking the entry for gone.
            Err(Refused::Reparse) => {
                return Err(Error::new(
                    ErrorKind::Insecure,
                    "a symlink sits on the path of a cache entry; nothing is removed through it",
                )
                .with_path(shown));
            }
            Err(Refused::Missing | Refused::NotDir) => return Ok(false),
            Err(r) => return Err(self.refused(r, "cache directory", &shown)),
        };
        remove_name(&chain.join(name.as_str()))
            .map_err(|e| io_err("cannot remove cache entry", &shown, e))
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
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
            let flow = self.list_namespace(&mut chain, &ns, visit);
            chain.ascend();
            if flow?.is_break() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl FsStore {
    /// The `v1/` directory; `None` if it does not exist. A symlink, junction or file in its
    /// place is an [`ErrorKind::Insecure`] error.
    pub(crate) fn open_top(&self) -> Result<Option<Chain>> {
        match self.chain(&[LAYOUT_DIR], false) {
            Ok(chain) => Ok(Some(chain)),
            Err(Refused::Missing) => Ok(None),
            Err(Refused::Reparse | Refused::NotDir) => Err(Error::new(
                ErrorKind::Insecure,
                "a symlink or file sits where the cache's entry directory should be",
            )
            .with_path(self.join(&[LAYOUT_DIR]))),
            Err(r) => Err(self.refused(r, "cache directory", &self.join(&[LAYOUT_DIR]))),
        }
    }

    fn list_namespace(
        &self,
        chain: &mut Chain,
        ns: &Namespace,
        visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let names = chain
            .names()
            .map_err(|e| io_err("cannot list cache directory", chain.path(), e))?;
        for shard in names {
            if !layout::is_shard_name(&shard) || chain.descend(&shard).is_err() {
                continue;
            }
            let flow = self.list_shard(chain, ns, &shard, visit);
            chain.ascend();
            if flow?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn list_shard(
        &self,
        chain: &Chain,
        ns: &Namespace,
        shard: &str,
        visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>> {
        let names = chain
            .names()
            .map_err(|e| io_err("cannot list cache directory", chain.path(), e))?;
        for name in names {
            let Some(entry) = EntryName::parse(&name).filter(|n| n.shard() == shard) else {
                continue;
            };
            let info = match inspect(&chain.join(&name)) {
                Ok(info) => info,
                // Removed by another process since the directory was read.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("cannot inspect cache entry", chain.path(), e)),
            };
            if !info.is_file() {
                continue;
            }
            let found = EntryInfo::new(
                ns.clone(),
                *entry.digest(),
                info.size,
                info.modified_time(),
                info.accessed_time(),
            );
            if visit(found).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}

/// How many times [`rename_replacing`] tries a rename over a file that is open.
const RENAME_ATTEMPTS: u32 = 64;

/// The longest pause between two attempts of [`rename_replacing`].
const RENAME_PAUSE_MAX: Duration = Duration::from_millis(20);

/// Renames `from` over the file `to` with std's `fs::rename`: a rename by handle with POSIX
/// semantics where the file system has them (NTFS on Windows 10 1607 and later), under which
/// a file that readers hold open (with `FILE_SHARE_DELETE`, as every reader of the store
/// does) is replaced like on Unix, else `MoveFileExW` with `MOVEFILE_REPLACE_EXISTING`.
/// Without POSIX semantics (FAT, older Windows, Wine) a file that is open cannot be
/// replaced (`ERROR_ACCESS_DENIED`). Readers hold an entry for the length of one read, so
/// the rename is tried again after a pause that doubles from 100 µs up to
/// [`RENAME_PAUSE_MAX`], [`RENAME_ATTEMPTS`] times in all (about 1.2 s), before the put
/// fails; the old entry then stays whole. A directory in the way fails at once.
fn rename_replacing(from: &Path, to: &Path) -> io::Result<()> {
    let mut pause = Duration::from_micros(100);
    for _ in 1..RENAME_ATTEMPTS {
        match std::fs::rename(from, to) {
            Err(e)
                if e.kind() == io::ErrorKind::PermissionDenied
                    && !std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir()) =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(RENAME_PAUSE_MAX);
            }
            other => return other,
        }
    }
    std::fs::rename(from, to)
}

/// Removes the name `path` in a held directory: a file, or a symlink or junction itself
/// (never what it points to; a directory link needs `RemoveDirectoryW`). `Ok(false)` if
/// there was nothing.
fn remove_name(path: &Path) -> io::Result<bool> {
    // Where deletes lack POSIX semantics (Wine, FAT, Windows before 10 1903), a file that is
    // open stays under its name until its last handle closes, and a put to the name fails
    // meanwhile: an entry is moved to a temp name first, which frees the name at once (a
    // grave that cannot go yet is a temp file that cleanup sweeps later).
    if let Some(entry) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(EntryName::parse)
    {
        let grave = path.with_file_name(entry.temp_name(fastrand::u64(..)));
        match std::fs::rename(path, &grave) {
            Ok(()) => return std::fs::remove_file(&grave).map(|()| true).or(Ok(true)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            // A link or directory in the way: removed (or refused) below.
            Err(_) => {}
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => match inspect(path) {
            Ok(info) if info.is_reparse_point() && info.has_dir_attribute() => {
                std::fs::remove_dir(path).map(|()| true)
            }
            _ => Err(e),
        },
    }
}
