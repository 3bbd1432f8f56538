#![doc = include_str!("../README.md")]
//!
//! # Modules
//! - [`layout`]: where entries, temp files and the tag file live, and which names are
//!   hoard's own.
//! - [`FsStore`] (this module): the store itself.
//! - `housekeeping` (private): [`FsStore`]'s implementation of
//!   [`Housekeeping`](hoard_core::Housekeeping), the eviction worker's view of the store.
//! - `windows` (private, Windows only): the store and its housekeeping on Windows; the
//!   modules above but `layout` are Unix only.

#[cfg(all(unix, feature = "fault-injection"))]
pub mod fault;
#[cfg(unix)]
mod housekeeping;
#[cfg(unix)]
mod io;
pub mod layout;
mod names;
#[cfg(windows)]
mod windows;

#[cfg(unix)]
use std::ffi::{CStr, OsStr};
#[cfg(unix)]
use std::ops::ControlFlow;
#[cfg(unix)]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(unix)]
use std::os::unix::ffi::OsStrExt;
#[cfg(unix)]
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(unix)]
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(unix)]
use hoard_core::{Digest, EntryInfo, Namespace, Store, frame};
use hoard_core::{Error, ErrorKind, Result, StoredFrame};
#[cfg(unix)]
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
#[cfg(unix)]
use rustix::io::Errno;

#[cfg(unix)]
use crate::io::{Io, RealIo, Sys};
#[cfg(unix)]
use crate::layout::{EntryName, LAYOUT_DIR};
#[cfg(unix)]
use crate::names::{namespace_dir, parse_namespace_dir};
#[cfg(windows)]
pub use crate::windows::FsStore;

/// How hard a put works to survive a power cut.
///
/// Whatever the setting, a reader never sees a torn entry as a hit: frames are verified on
/// every read, so a file damaged by a crash is a miss and is removed. The setting decides
/// whether a put that returned `Ok` is still there after the machine loses power.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// No fsync (the ancestor's behaviour and the default): fastest; after a power cut, recent
    /// entries may be missing or damaged, and damaged ones read as misses.
    #[default]
    None,
    /// `fdatasync` the entry before it is renamed into place: an entry that exists after a
    /// power cut is complete, but the rename itself may be lost.
    Data,
    /// `fsync` the entry, rename, then `fsync` the directory: a put that returned `Ok`
    /// survives a power cut. Costs milliseconds per put on most disks.
    Full,
}

impl Durability {
    /// The lowercase name used in configuration files (`none`, `data`, `full`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Data => "data",
            Self::Full => "full",
        }
    }
}

impl std::str::FromStr for Durability {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Self::None),
            "data" => Ok(Self::Data),
            "full" => Ok(Self::Full),
            other => Err(Error::new(
                ErrorKind::Config,
                format!("unknown durability {other:?}: expected \"none\", \"data\" or \"full\""),
            )),
        }
    }
}

/// Options of an [`FsStore`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FsOptions {
    /// Fsync policy of puts.
    pub durability: Durability,
    /// Share the cache with the root directory's group: directories are created `2770` and
    /// files `0640`, and a group-writable root owned by another member of one of our groups is
    /// accepted. Off by default: directories `0700`, files `0600`, and the root must be ours
    /// and writable by nobody else.
    pub group_shared: bool,
}

impl FsOptions {
    /// The defaults: no fsync, private to the current user.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the durability.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets group sharing.
    #[must_use]
    pub fn group_shared(mut self, shared: bool) -> Self {
        self.group_shared = shared;
        self
    }

    #[cfg(unix)]
    fn dir_mode(&self) -> Mode {
        if self.group_shared {
            Mode::from_raw_mode(0o2770)
        } else {
            Mode::from_raw_mode(0o700)
        }
    }

    #[cfg(unix)]
    fn file_mode(&self) -> Mode {
        if self.group_shared {
            Mode::from_raw_mode(0o640)
        } else {
            Mode::from_raw_mode(0o600)
        }
    }
}

/// The filesystem store: one file per entry under `<root>/v1/<namespace>/<shard>/<digest>`.
///
/// Every path below the root is resolved from a descriptor of the root with symlinks
/// refused at every component (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or a
/// component-by-component `O_NOFOLLOW` walk on kernels without it), so nothing planted in
/// the cache can redirect a read, write or delete outside it. See the crate docs for the
/// write and read paths.
#[cfg(unix)]
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    root_fd: OwnedFd,
    options: FsOptions,
    /// Set once `openat2` turned out to be unavailable (ENOSYS, or EPERM under seccomp).
    no_openat2: AtomicBool,
    /// Every system call goes through here (see the `io` module).
    io: Box<dyn Io>,
}

/// An entry's frame as [`FsStore::map_frame`] returns it: mapped, or read.
#[derive(Debug)]
pub enum FrameBytes {
    /// The whole frame, memory-mapped read-only.
    Mapped(Mapping),
    /// The frame read into memory, as [`Store::get_frame`] returns it.
    Read(StoredFrame),
}

/// A read-only memory map of a whole entry file, from [`FsStore::map_frame`]: derefs to
/// the frame's bytes, unmapped on drop. The bytes stay as they were when mapped for as long
/// as it lives (see [`FsStore::map_frame`] for why), even if the entry is replaced or
/// removed meanwhile.
///
/// On Windows the store never maps (it returns [`FrameBytes::Read`]), and no `Mapping`
/// can exist.
pub struct Mapping {
    #[cfg(unix)]
    map: memmap2::Mmap,
    #[cfg(not(unix))]
    never: std::convert::Infallible,
}

impl std::ops::Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        #[cfg(unix)]
        return &self.map;
        #[cfg(not(unix))]
        match self.never {}
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping").field("len", &self.len()).finish()
    }
}

/// What a file read by [`FsStore::read_file_beneath`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Contents {
    /// An entry: a frame, whose fixed header is checked before a large one is read whole.
    Frame,
    /// Anything else (a state blob): read whole, judged by the caller.
    Opaque,
}

/// Entries up to this size are read in one call, header and payload together, and judged
/// whole by the caller's parse: a separate header read would add a system call to every
/// small hit and save at most this much. Larger ones are read header first, so that a
/// planted file that cannot be a frame of its size (a sparse gigabyte, a huge file of
/// garbage) costs a 96-byte read, never its size in memory and time.
const EAGER_READ_MAX: u64 = 64 * 1024;

/// What entries are called in error messages.
#[cfg(unix)]
const ENTRY: &str = "cache entry";

const CACHEDIR_TAG: &str = "CACHEDIR.TAG";
const CACHEDIR_TAG_BODY: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by hoard.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

#[cfg(unix)]
fn io_err(message: impl Into<String>, path: &Path, errno: Errno) -> Error {
    Error::io(message.into(), path, std::io::Error::from(errno))
}

#[cfg(unix)]
impl FsStore {
    /// Opens (creating if needed) a cache directory with the default [`FsOptions`].
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, FsOptions::default())
    }

    /// Opens (creating if needed) a cache directory.
    ///
    /// The root is refused with [`ErrorKind::Insecure`] if it is a symlink, owned by another
    /// user, or writable by others (by its group too, unless `group_shared`). A missing
    /// root and the directories below it are created with mode `0700` (`2770` when shared)
    /// whatever the umask (missing parents of the root get that mode less the umask, like
    /// `mkdir -p`); a `CACHEDIR.TAG` is written so that backup tools skip the cache.
    pub fn open_with(root: impl AsRef<Path>, options: FsOptions) -> Result<Self> {
        Self::open_with_io(root.as_ref(), options, Box::new(RealIo))
    }

    /// Like [`open_with`](Self::open_with), with every system call of the store (opening
    /// included) going through `faults`: see the [`fault`] module.
    #[cfg(feature = "fault-injection")]
    pub fn open_with_faults(
        root: impl AsRef<Path>,
        options: FsOptions,
        faults: std::sync::Arc<fault::Faults>,
    ) -> Result<Self> {
        Self::open_with_io(
            root.as_ref(),
            options,
            Box::new(fault::FaultyIo::new(faults)),
        )
    }

    fn open_with_io(root: &Path, options: FsOptions, io: Box<dyn Io>) -> Result<Self> {
        let root = root.to_path_buf();
        if root.as_os_str().is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "cache directory path is empty",
            ));
        }
        let sys = Sys::new(io.as_ref());
        let created = match sys.lstat_path(&root) {
            Ok(_) => false,
            Err(Errno::NOENT) => create_dir_all(sys, &root, options.dir_mode())
                .map_err(|e| io_err("cannot create cache directory", &root, e))?,
            Err(e) => return Err(io_err("cannot inspect cache directory", &root, e)),
        };
        let root_fd = sys
            .open_path(
                &root,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| match e {
                Errno::LOOP | Errno::NOTDIR if is_symlink(sys, &root) => Error::new(
                    ErrorKind::Insecure,
                    "cache directory is a symlink; point hoard at the real directory",
                )
                .with_path(&root),
                Errno::NOTDIR => Error::new(
                    ErrorKind::InvalidInput,
                    "cache directory is not a directory",
                )
                .with_path(&root),
                e => io_err("cannot open cache directory", &root, e),
            })?;
        check_root_ownership(sys, &root, root_fd.as_fd(), options)?;
        if created {
            // `mkdir` applied the umask (and Linux ignores its setgid bit): the root gets the
            // mode of every directory below it. It passed the ownership check above, and a
            // mode narrowed by the umask passes it before as after.
            sys.fchmod(root_fd.as_fd(), options.dir_mode())
                .map_err(|e| io_err("cannot set cache directory mode", &root, e))?;
        }
        let store = Self {
            root,
            root_fd,
            options,
            no_openat2: AtomicBool::new(false),
            io,
        };
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

    /// The system calls, with the `EINTR` policy of the `io` module.
    fn sys(&self) -> Sys<'_> {
        Sys::new(self.io.as_ref())
    }

    fn write_tag(&self) -> Result<()> {
        let path = self.root.join(CACHEDIR_TAG);
        match self.sys().openat(
            self.root_fd.as_fd(),
            CACHEDIR_TAG,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            self.options.file_mode(),
        ) {
            Ok(fd) => self
                .sys()
                .write_all(fd.as_fd(), CACHEDIR_TAG_BODY)
                .map_err(|e| io_err("cannot write cache directory tag", &path, e)),
            Err(Errno::EXIST) => Ok(()),
            // A read-only cache still serves hits.
            Err(Errno::ROFS | Errno::ACCESS) => Ok(()),
            Err(e) => Err(io_err("cannot create cache directory tag", &path, e)),
        }
    }

    /// Opens the directory `parts` below the root without following any symlink.
    fn open_dir(&self, parts: &[&str]) -> std::result::Result<OwnedFd, Errno> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        self.open_beneath(parts, flags, Mode::empty())
    }

    fn open_beneath(
        &self,
        parts: &[&str],
        flags: OFlags,
        mode: Mode,
    ) -> std::result::Result<OwnedFd, Errno> {
        if !self.no_openat2.load(Ordering::Relaxed) {
            let rel = parts.join("/");
            match self
                .sys()
                .openat2(self.root_fd.as_fd(), Path::new(&rel), flags, mode)
            {
                Err(Errno::NOSYS | Errno::PERM) => self.no_openat2.store(true, Ordering::Relaxed),
                other => return other,
            }
        }
        // Component by component: every directory with O_NOFOLLOW | O_DIRECTORY.
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let (last, dirs) = parts.split_last().ok_or(Errno::INVAL)?;
        let mut current: Option<OwnedFd> = None;
        for part in dirs {
            let at = current.as_ref().map_or(self.root_fd.as_fd(), AsFd::as_fd);
            current = Some(self.sys().openat(at, *part, dir_flags, Mode::empty())?);
        }
        let at = current.as_ref().map_or(self.root_fd.as_fd(), AsFd::as_fd);
        self.sys().openat(at, *last, flags | OFlags::NOFOLLOW, mode)
    }

    /// Opens the directory `parts` below the root, creating missing levels.
    fn ensure_dir(&self, parts: &[&str]) -> Result<OwnedFd> {
        match self.open_dir(parts) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(io_err("cannot open cache directory", &self.join(parts), e)),
        }
        let mut at: Option<OwnedFd> = None;
        for (i, part) in parts.iter().enumerate() {
            let parent = at.as_ref().map_or(self.root_fd.as_fd(), AsFd::as_fd);
            let created = match self.sys().mkdirat(parent, *part, self.options.dir_mode()) {
                Ok(()) => true,
                Err(Errno::EXIST) => false,
                Err(e) => {
                    return Err(io_err(
                        "cannot create cache directory",
                        &self.join(&parts[..=i]),
                        e,
                    ));
                }
            };
            let fd = self
                .sys()
                .openat(
                    parent,
                    *part,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_err("cannot open cache directory", &self.join(&parts[..=i]), e))?;
            if created {
                // The umask may have narrowed (or, for a shared cache, not widened) the mode.
                self.sys()
                    .fchmod(fd.as_fd(), self.options.dir_mode())
                    .map_err(|e| {
                        io_err(
                            "cannot set cache directory mode",
                            &self.join(&parts[..=i]),
                            e,
                        )
                    })?;
            }
            at = Some(fd);
        }
        at.ok_or_else(|| Error::new(ErrorKind::InvalidInput, "empty directory path"))
    }

    fn join(&self, parts: &[&str]) -> PathBuf {
        let mut p = self.root.clone();
        p.extend(parts);
        p
    }

    /// Opens `parts` beneath the root without following symlinks and reads it: a state
    /// file, named by `what` in errors. See [`read_file_beneath`](Self::read_file_beneath).
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

    /// Opens `parts` beneath the root without following symlinks and reads it: an entry
    /// or a state file, named by `what` in errors. Absent is `Ok(None)`; a symlink on the
    /// path is [`ErrorKind::Insecure`]; the file must be a regular file of at most `limit`
    /// bytes, and exactly the size `fstat` reports is read (see `Sys::read_to_capacity`).
    /// A [`Contents::Frame`] larger than [`EAGER_READ_MAX`] is read in two steps: its fixed
    /// header first, checked with [`frame::check_prefix`] against that size, and the rest
    /// only if the header can begin a frame of that size (see [`EAGER_READ_MAX`]).
    /// `O_NONBLOCK` keeps a planted FIFO from blocking. `shown` builds the path for error
    /// messages only, so the hit path allocates none. Returns the bytes with the `fstat` of
    /// the descriptor they were read through.
    pub(crate) fn read_file_beneath(
        &self,
        parts: &[&str],
        limit: u64,
        what: &str,
        shown: &dyn Fn() -> PathBuf,
        contents: Contents,
    ) -> Result<Option<(Vec<u8>, rustix::fs::Stat)>> {
        let Some((fd, st, size)) = self.open_to_read(parts, limit, what, shown)? else {
            return Ok(None);
        };
        let mut buf = if contents == Contents::Frame && size > EAGER_READ_MAX {
            // `with_capacity` allocates exactly this much, so only the header is read.
            let mut head = Vec::with_capacity(frame::HEADER_LEN);
            self.read_into(fd.as_fd(), &mut head, what, shown)?;
            frame::check_prefix(&head, size).map_err(|e| e.with_path(shown()))?;
            head
        } else {
            Vec::new()
        };
        let rest = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_sub(buf.len());
        reserve_exact(&mut buf, rest, size, what, shown)?;
        self.read_into(fd.as_fd(), &mut buf, what, shown)?;
        Ok(Some((buf, st)))
    }

    /// Opens `parts` beneath the root for reading, without following symlinks: absent is
    /// `Ok(None)`, a symlink on the path [`ErrorKind::Insecure`], anything but a regular
    /// file [`ErrorKind::Corrupt`], and one above `limit` bytes [`ErrorKind::TooLarge`].
    /// Returns the descriptor, its `fstat` and the file's size.
    fn open_to_read(
        &self,
        parts: &[&str],
        limit: u64,
        what: &str,
        shown: &dyn Fn() -> PathBuf,
    ) -> Result<Option<(OwnedFd, rustix::fs::Stat, u64)>> {
        let fd = match self.open_beneath(
            parts,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(None),
            Err(Errno::LOOP | Errno::XDEV) => {
                return Err(Error::new(
                    ErrorKind::Insecure,
                    format!("a symlink sits on the path of a {what}"),
                )
                .with_path(shown()));
            }
            Err(e) => return Err(io_err(format!("cannot open {what}"), &shown(), e)),
        };
        let st = self
            .sys()
            .fstat(fd.as_fd())
            .map_err(|e| io_err(format!("cannot inspect {what}"), &shown(), e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(Error::corrupt(format!("{what} is not a regular file")).with_path(shown()));
        }
        let size = u64::try_from(st.st_size).unwrap_or(u64::MAX);
        if size > limit {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("{what} is {size} bytes, above the {limit}-byte read limit"),
            )
            .with_path(shown()));
        }
        Ok(Some((fd, st, size)))
    }

    /// Reads from `fd` until `buf`'s capacity is full or the file ends.
    fn read_into(
        &self,
        fd: BorrowedFd<'_>,
        buf: &mut Vec<u8>,
        what: &str,
        shown: &dyn Fn() -> PathBuf,
    ) -> Result<()> {
        self.sys()
            .read_to_capacity(fd, buf)
            .map_err(|e| io_err(format!("cannot read {what}"), &shown(), e))
    }

    /// The verified read's view of an entry ([`Store::get_frame`]): an entry of at most
    /// [`EAGER_READ_MAX`] bytes is read in one call, into one buffer. A larger one is read
    /// in two: its first [`frame::PAGE_ALIGNED_OFFSET`] bytes (at most), checked with
    /// [`frame::check_prefix`] against the file's size as for `get` (a planted file that
    /// cannot be a frame of its size costs this one small read), then the payload straight
    /// into a buffer of exactly its length, which the verified read checks where it lies and,
    /// for a stored (identity) payload, returns as the value. The payload offset of an
    /// identity frame of this size is 4096, so its header read ends exactly there; a
    /// compressed frame's first payload bytes (at most 4000) are moved from the header
    /// buffer. A frame of a newer version, whose layout this build cannot judge, is read
    /// into one buffer.
    fn read_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<StoredFrame>> {
        let name = EntryName::new(digest);
        let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard(), name.as_str()];
        let shown = || self.entry_path(ns, digest);
        let Some((fd, _, size)) = self.open_to_read(&parts, limit, ENTRY, &shown)? else {
            return Ok(None);
        };
        self.read_frame_from(fd.as_fd(), size, &shown).map(Some)
    }

    /// The reading part of [`read_frame`](Self::read_frame), on an opened entry of `size`
    /// bytes.
    fn read_frame_from(
        &self,
        fd: BorrowedFd<'_>,
        size: u64,
        shown: &dyn Fn() -> PathBuf,
    ) -> Result<StoredFrame> {
        let what = ENTRY;
        let whole = usize::try_from(size).unwrap_or(usize::MAX);
        if size <= EAGER_READ_MAX {
            let mut bytes = Vec::new();
            reserve_exact(&mut bytes, whole, size, what, shown)?;
            self.read_into(fd, &mut bytes, what, shown)?;
            return Ok(StoredFrame::whole(bytes));
        }
        let mut head = Vec::with_capacity(frame::PAGE_ALIGNED_OFFSET);
        self.read_into(fd, &mut head, what, shown)?;
        frame::check_prefix(&head, size).map_err(|e| e.with_path(shown()))?;
        let Some(offset) = frame::payload_offset_of(&head) else {
            let rest = whole.saturating_sub(head.len());
            reserve_exact(&mut head, rest, size, what, shown)?;
            self.read_into(fd, &mut head, what, shown)?;
            return Ok(StoredFrame::whole(head));
        };
        if offset > head.len() {
            // A longer extension area than this build writes: read up to the payload.
            let rest = offset - head.len();
            reserve_exact(&mut head, rest, size, what, shown)?;
            self.read_into(fd, &mut head, what, shown)?;
        }
        let mut payload = Vec::new();
        reserve_exact(
            &mut payload,
            whole.saturating_sub(offset),
            size,
            what,
            shown,
        )?;
        if head.len() > offset {
            payload.extend_from_slice(&head[offset..]);
            head.truncate(offset);
        }
        self.read_into(fd, &mut payload, what, shown)?;
        Ok(StoredFrame::split(head, payload))
    }

    /// The frame of the entry `(ns, digest)` for a reader that can use it where it lies
    /// (the facade's `Cache::get_mapped`): memory-mapped read-only when the entry is at
    /// least `map_from` bytes, this store is private (not [`FsOptions::group_shared`]) and
    /// the file belongs to this process's user; otherwise read as
    /// [`get_frame`](Store::get_frame) reads it. Bounded by `limit` like every get, and
    /// refused from its fixed header like every large read: a mapped entry's first
    /// [`frame::HEADER_LEN`] bytes go through [`frame::check_prefix`] before it is returned,
    /// so a planted sparse file costs one page. Nothing is verified otherwise.
    ///
    /// # Why only private caches
    /// A mapping is only sound while nobody truncates the file: reading a page past a
    /// truncated end raises SIGBUS, which kills the process. hoard never writes or
    /// truncates an entry in place: a put, a recompression or a removal renames a new file
    /// over the name or unlinks it, and the mapped inode lives on, unchanged, until the
    /// mapping is dropped. In a private cache (root and directories mode 0700, files 0600)
    /// only this user's processes can open an entry for writing, and hoard's never do; the
    /// files of a group-shared cache belong to several users, whose programs hoard cannot
    /// vouch for, so they are read instead, and so is any file that is not this user's.
    pub fn map_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
        map_from: u64,
    ) -> Result<Option<FrameBytes>> {
        let name = EntryName::new(digest);
        let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard(), name.as_str()];
        let shown = || self.entry_path(ns, digest);
        let Some((fd, st, size)) = self.open_to_read(&parts, limit, ENTRY, &shown)? else {
            return Ok(None);
        };
        let ours = st.st_uid == rustix::process::geteuid().as_raw();
        let mappable = usize::try_from(size)
            .ok()
            .filter(|_| !self.options.group_shared && ours)
            .filter(|&len| size >= map_from && len >= frame::HEADER_LEN);
        let Some(len) = mappable else {
            return self
                .read_frame_from(fd.as_fd(), size, &shown)
                .map(|f| Some(FrameBytes::Read(f)));
        };
        let map = self
            .sys()
            .map(fd.as_fd(), len)
            .map_err(|e| io_err(format!("cannot map {ENTRY}"), &shown(), e))?;
        frame::check_prefix(&map[..frame::HEADER_LEN], size).map_err(|e| e.with_path(shown()))?;
        Ok(Some(FrameBytes::Mapped(Mapping { map })))
    }

    /// Writes `bytes` to a fresh temp file in `dir` (named by `temp_name` from a random
    /// nonce, retried on the astronomically rare collision with a leftover) and renames it
    /// over `target`; the temp file is removed on any failure. `what` names the file in
    /// errors ("entry", "state file").
    fn replace_atomically(
        &self,
        dir: BorrowedFd<'_>,
        temp_name: &dyn Fn(u64) -> String,
        target: &str,
        bytes: &[u8],
        shown: &Path,
        what: &str,
    ) -> Result<()> {
        let temp = self.write_fresh_temp(dir, temp_name, bytes, shown)?;
        let mut guard = TempGuard {
            sys: self.sys(),
            dir,
            name: &temp,
            armed: true,
        };
        self.sys()
            .renameat(dir, &temp, target, RenameFlags::empty())
            .map_err(|e| io_err(format!("cannot move {what} into place"), shown, e))?;
        guard.armed = false;
        Ok(())
    }

    /// Writes `bytes` to a fresh temp file in `dir`, synced as the durability asks, and
    /// returns its name: named by `temp_name` from a random nonce, retried on the
    /// astronomically rare collision with a leftover. Nothing is left behind on failure.
    fn write_fresh_temp(
        &self,
        dir: BorrowedFd<'_>,
        temp_name: &dyn Fn(u64) -> String,
        bytes: &[u8],
        shown: &Path,
    ) -> Result<String> {
        let mut attempts = 0;
        loop {
            let temp = temp_name(fastrand::u64(..));
            match self.write_temp(dir, &temp, bytes, shown) {
                Ok(()) => return Ok(temp),
                Err(e)
                    if attempts < 3
                        && e.io_source().and_then(std::io::Error::raw_os_error)
                            == Some(Errno::EXIST.raw_os_error()) =>
                {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn write_temp(
        &self,
        dir: BorrowedFd<'_>,
        temp: &str,
        frame: &[u8],
        shown: &Path,
    ) -> Result<()> {
        let sys = self.sys();
        let fd = sys
            .openat(
                dir,
                temp,
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                self.options.file_mode(),
            )
            .map_err(|e| io_err("cannot create temporary entry file", shown, e))?;
        let mut guard = TempGuard {
            sys,
            dir,
            name: temp,
            armed: true,
        };
        sys.fchmod(fd.as_fd(), self.options.file_mode())
            .map_err(|e| io_err("cannot set entry file mode", shown, e))?;
        sys.write_all(fd.as_fd(), frame)
            .map_err(|e| io_err("cannot write temporary entry file", shown, e))?;
        match self.options.durability {
            Durability::None => {}
            Durability::Data => sys
                .fdatasync(fd.as_fd())
                .map_err(|e| io_err("cannot sync temporary entry file", shown, e))?,
            Durability::Full => sys
                .fsync(fd.as_fd())
                .map_err(|e| io_err("cannot sync temporary entry file", shown, e))?,
        }
        drop(fd);
        guard.armed = false;
        Ok(())
    }

    /// Whether a symlink sits at one of the directories `parts` below the root (checked from
    /// the root down, stopping at the first that is not a directory): tells a planted link
    /// from a file after an open with `O_NOFOLLOW | O_DIRECTORY` failed with ENOTDIR.
    fn symlink_on_path(&self, parts: &[&str]) -> bool {
        let mut rel = PathBuf::new();
        for part in parts {
            rel.push(part);
            match self
                .sys()
                .statat(self.root_fd.as_fd(), &rel, AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| FileType::from_raw_mode(st.st_mode))
            {
                Ok(FileType::Symlink) => return true,
                Ok(FileType::Directory) => {}
                _ => return false,
            }
        }
        false
    }

    /// A subdirectory `name` of `parent`, if it is a real directory (never a symlink) and
    /// can be opened.
    fn open_subdir(&self, parent: &OwnedFd, name: &CStr) -> Option<OwnedFd> {
        self.sys()
            .openat(
                parent.as_fd(),
                c_path(name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok()
    }

    /// The names in a directory (without `.` and `..`), read through its descriptor.
    fn read_dir(&self, dir: &OwnedFd, path: &Path) -> Result<Vec<(std::ffi::CString, FileType)>> {
        self.sys()
            .read_dir(dir.as_fd())
            .map_err(|e| io_err("cannot list cache directory", path, e))
    }
}

#[cfg(unix)]
/// Reserves room for exactly `additional` more bytes of a `size`-byte file, or fails with
/// [`ErrorKind::TooLarge`].
fn reserve_exact(
    buf: &mut Vec<u8>,
    additional: usize,
    size: u64,
    what: &str,
    shown: &dyn Fn() -> PathBuf,
) -> Result<()> {
    buf.try_reserve_exact(additional).map_err(|_| {
        Error::new(
            ErrorKind::TooLarge,
            format!("cannot allocate {size} bytes for a {what}"),
        )
        .with_path(shown())
    })
}

#[cfg(unix)]
/// A name from a directory listing as a path argument.
fn c_path(name: &CStr) -> &Path {
    Path::new(OsStr::from_bytes(name.to_bytes()))
}

#[cfg(unix)]
/// Creates `path` and its missing parents with `mode` (less the umask), like `mkdir -p`; an
/// existing one is left as it is (opening it checks what it is). Returns whether `path`
/// itself was created by this call.
fn create_dir_all(sys: Sys<'_>, path: &Path, mode: Mode) -> std::result::Result<bool, Errno> {
    match sys.mkdir_path(path, mode) {
        Ok(()) => return Ok(true),
        Err(Errno::EXIST) => return Ok(false),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(e),
    }
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => {
            create_dir_all(sys, parent, mode)?;
        }
        _ => return Err(Errno::NOENT),
    }
    match sys.mkdir_path(path, mode) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
/// Removes a temp file unless the put that created it reached its rename.
struct TempGuard<'a> {
    sys: Sys<'a>,
    dir: BorrowedFd<'a>,
    name: &'a str,
    armed: bool,
}

#[cfg(unix)]
impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Best effort: the put already failed; a leftover is swept by cleanup later.
            let _ = self.sys.unlinkat(self.dir, self.name);
        }
    }
}

#[cfg(unix)]
fn is_symlink(sys: Sys<'_>, path: &Path) -> bool {
    sys.lstat_path(path)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Symlink)
}

#[cfg(unix)]
fn check_root_ownership(
    sys: Sys<'_>,
    root: &Path,
    fd: BorrowedFd<'_>,
    options: FsOptions,
) -> Result<()> {
    let st = sys
        .fstat(fd)
        .map_err(|e| io_err("cannot inspect cache directory", root, e))?;
    let mode = st.st_mode & 0o7777;
    let euid = rustix::process::geteuid().as_raw();
    let insecure = |why: String| Error::new(ErrorKind::Insecure, why).with_path(root);
    if mode & 0o002 != 0 {
        return Err(insecure(format!(
            "cache directory is world-writable (mode {mode:o}); run chmod o-w on it"
        )));
    }
    if options.group_shared {
        let ours = st.st_uid == euid || st.st_uid == 0 && euid == 0 || in_our_groups(st.st_gid);
        if !ours {
            return Err(insecure(format!(
                "shared cache directory belongs to uid {} and gid {}, neither of which is ours",
                st.st_uid, st.st_gid
            )));
        }
    } else {
        if st.st_uid != euid {
            return Err(insecure(format!(
                "cache directory is owned by uid {}, not by the current user (uid {euid}); \
                 enable group sharing or use a directory of your own",
                st.st_uid
            )));
        }
        if mode & 0o020 != 0 {
            return Err(insecure(format!(
                "cache directory is group-writable (mode {mode:o}); run chmod g-w on it or \
                 enable group sharing"
            )));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn in_our_groups(gid: u32) -> bool {
    rustix::process::getegid().as_raw() == gid
        || rustix::process::getgroups().is_ok_and(|groups| groups.iter().any(|g| g.as_raw() == gid))
}

#[cfg(unix)]
fn time_of(secs: i64, nanos: i64) -> Option<SystemTime> {
    let nanos = u32::try_from(nanos).ok()?;
    if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::from_secs(secs.unsigned_abs()))?
            .checked_add(Duration::from_nanos(u64::from(nanos)))
    }
}

#[cfg(unix)]
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

    fn get_frame(
        &self,
        ns: &Namespace,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<StoredFrame>> {
        self.read_frame(ns, digest, limit)
    }

    fn put(&self, ns: &Namespace, digest: &Digest, frame: &[u8]) -> Result<()> {
        let name = EntryName::new(digest);
        let dir = self.ensure_dir(&[LAYOUT_DIR, &*namespace_dir(ns), name.shard()])?;
        let shown = self.entry_path(ns, digest);
        self.replace_atomically(
            dir.as_fd(),
            &|nonce| name.temp_name(nonce),
            name.as_str(),
            frame,
            &shown,
            "entry",
        )?;
        if self.options.durability == Durability::Full {
            self.sys()
                .fsync(dir.as_fd())
                .map_err(|e| io_err("cannot sync cache directory", &shown, e))?;
        }
        Ok(())
    }

    fn remove(&self, ns: &Namespace, digest: &Digest) -> Result<bool> {
        let name = EntryName::new(digest);
        let parts = [LAYOUT_DIR, &*namespace_dir(ns), name.shard()];
        let dir = match self.open_dir(&parts) {
            Ok(fd) => fd,
            // Nothing is removed through a symlinked directory (what it points to is not
            // ours), and saying so keeps a caller from taking the entry for gone. A link in
            // the middle of the path is ELOOP; one in the last place, opened with
            // `O_NOFOLLOW | O_DIRECTORY`, is ENOTDIR, like a file there.
            Err(e @ (Errno::LOOP | Errno::XDEV | Errno::NOTDIR))
                if e != Errno::NOTDIR || self.symlink_on_path(&parts) =>
            {
                return Err(Error::new(
                    ErrorKind::Insecure,
                    "a symlink sits on the path of a cache entry; nothing is removed through it",
                )
                .with_path(self.entry_path(ns, digest)));
            }
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(false),
            Err(e) => {
                return Err(io_err(
                    "cannot open cache directory",
                    &self.entry_path(ns, digest),
                    e,
                ));
            }
        };
        match self.sys().unlinkat(dir.as_fd(), name.as_str()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_err(
                "cannot remove cache entry",
                &self.entry_path(ns, digest),
                e,
            )),
        }
    }

    fn list(&self, visit: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
        let top = match self.open_dir(&[LAYOUT_DIR]) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(()),
            Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => {
                return Err(Error::new(
                    ErrorKind::Insecure,
                    "a symlink or file sits where the cache's entry directory should be",
                )
                .with_path(self.join(&[LAYOUT_DIR])));
            }
            Err(e) => {
                return Err(io_err(
                    "cannot open cache directory",
                    &self.join(&[LAYOUT_DIR]),
                    e,
                ));
            }
        };
        let mut walk = Walk { store: self, visit };
        walk.namespaces(top).map(|_| ())
    }
}

#[cfg(unix)]
/// A listing walk: exactly three levels below `v1/`, our own names only, no symlinks.
struct Walk<'a, 'v> {
    store: &'a FsStore,
    visit: &'v mut dyn FnMut(EntryInfo) -> ControlFlow<()>,
}

#[cfg(unix)]
impl Walk<'_, '_> {
    fn namespaces(&mut self, top: OwnedFd) -> Result<ControlFlow<()>> {
        for (name, _) in self.store.read_dir(&top, &self.store.join(&[LAYOUT_DIR]))? {
            let Some(ns) = name.to_str().ok().and_then(parse_namespace_dir) else {
                continue;
            };
            let Some(dir) = self.store.open_subdir(&top, &name) else {
                continue;
            };
            if self.shards(&ns, dir)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn shards(&mut self, ns: &Namespace, nsdir: OwnedFd) -> Result<ControlFlow<()>> {
        let ns_path = self.store.join(&[LAYOUT_DIR, &*namespace_dir(ns)]);
        for (name, _) in self.store.read_dir(&nsdir, &ns_path)? {
            let Some(shard) = name.to_str().ok().filter(|s| layout::is_shard_name(s)) else {
                continue;
            };
            let Some(dir) = self.store.open_subdir(&nsdir, &name) else {
                continue;
            };
            let shard = shard.to_owned();
            if self.entries(ns, &shard, dir)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn entries(&mut self, ns: &Namespace, shard: &str, dir: OwnedFd) -> Result<ControlFlow<()>> {
        let path = self.store.join(&[LAYOUT_DIR, &*namespace_dir(ns), shard]);
        for (name, _) in self.store.read_dir(&dir, &path)? {
            let Some(digest) = name
                .to_str()
                .ok()
                .and_then(EntryName::parse)
                .filter(|n| n.shard() == shard)
                .map(|n| *n.digest())
            else {
                continue;
            };
            let st =
                match self
                    .store
                    .sys()
                    .statat(dir.as_fd(), c_path(&name), AtFlags::SYMLINK_NOFOLLOW)
                {
                    Ok(st) => st,
                    // Removed by another process since the directory was read.
                    Err(Errno::NOENT) => continue,
                    Err(e) => return Err(io_err("cannot inspect cache entry", &path, e)),
                };
            if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                continue;
            }
            #[allow(
                clippy::unnecessary_cast,
                reason = "stat field widths differ between targets"
            )]
            let info = EntryInfo::new(
                ns.clone(),
                digest,
                u64::try_from(st.st_size).unwrap_or(0),
                time_of(st.st_mtime as i64, st.st_mtime_nsec as i64),
                time_of(st.st_atime as i64, st.st_atime_nsec as i64),
            );
            if (self.visit)(info).is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
}
