//! The I/O seam: every system call [`FsStore`](crate::FsStore) and its housekeeping make
//! goes through one [`Io`] object, so that tests can fail any one of them.
//!
//! [`RealIo`] forwards each method to the one `rustix` call it names and is what every
//! store uses unless `FsStore::open_with_faults` (feature `fault-injection`) installs the
//! `fault` module's `FaultyIo` instead. The store never calls an [`Io`] method directly but
//! through [`Sys`], which owns the one policy that differs per call: which calls are retried
//! after `EINTR`.
//!
//! Not through the seam: `close` (issued by `OwnedFd`'s drop; Linux releases the
//! descriptor even when close reports an error, so there is nothing to retry or report)
//! and the credential queries `geteuid` / `getegid` / `getgroups` of the ownership check,
//! which concern the process, not the cache directory.

use std::ffi::CString;
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags, Stat, Timestamps};
use rustix::io::Errno;

/// The system calls of the store, one method each. Names are file names relative to `dir`
/// (or paths below it for `openat2`); the `*_path` methods take a path as given, which the
/// store uses only for its root.
///
/// Implementations must be thread-safe: a store is shared between the caller's threads and
/// the eviction worker.
pub(crate) trait Io: Send + Sync + fmt::Debug {
    /// `lstat(path)`.
    fn lstat_path(&self, path: &Path) -> Result<Stat, Errno>;
    /// `mkdir(path, mode)`.
    fn mkdir_path(&self, path: &Path, mode: Mode) -> Result<(), Errno>;
    /// `open(path, flags, mode)`.
    fn open_path(&self, path: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno>;
    /// `openat(dir, name, flags, mode)`.
    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno>;
    /// `openat2(dir, path, flags, mode, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_MAGICLINKS)` on Linux; `ENOSYS` where the system has no `openat2` (macOS,
    /// the BSDs), which makes the store walk the path component by component with
    /// `O_NOFOLLOW`.
    fn openat2(
        &self,
        dir: BorrowedFd<'_>,
        path: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno>;
    /// `mkdirat(dir, name, mode)`.
    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno>;
    /// `fchmod(fd, mode)`.
    fn fchmod(&self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno>;
    /// `fstat(fd)`.
    fn fstat(&self, fd: BorrowedFd<'_>) -> Result<Stat, Errno>;
    /// `fstatat(dir, name, flags)`.
    fn statat(&self, dir: BorrowedFd<'_>, name: &Path, flags: AtFlags) -> Result<Stat, Errno>;
    /// One `read(fd, ...)` into the spare capacity of `buf`, which grows by what was read.
    fn read(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno>;
    /// One `write(fd, buf)`.
    fn write(&self, fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno>;
    /// `fsync(fd)` (`F_FULLFSYNC` on Apple systems, where `fsync` leaves the data in the
    /// drive's cache).
    fn fsync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno>;
    /// `fdatasync(fd)` (`fsync` where the system has none).
    fn fdatasync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno>;
    /// `renameat2(dir, from, dir, to, flags)` (plain `renameat` for empty flags).
    fn renameat(
        &self,
        dir: BorrowedFd<'_>,
        from: &Path,
        to: &Path,
        flags: RenameFlags,
    ) -> Result<(), Errno>;
    /// `unlinkat(dir, name, 0)`.
    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno>;
    /// `utimensat(dir, name, times, flags)`.
    fn utimensat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        times: &Timestamps,
        flags: AtFlags,
    ) -> Result<(), Errno>;
    /// `flock(fd, operation)`.
    fn flock(&self, fd: BorrowedFd<'_>, operation: FlockOperation) -> Result<(), Errno>;
    /// Every name in directory `dir` but `.` and `..`: `openat(dir, ".")` and `getdents`
    /// until the end, as one call (a listing is retried or failed as a whole).
    fn read_dir(&self, dir: BorrowedFd<'_>) -> Result<Vec<(CString, FileType)>, Errno>;
    /// `mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0)`: a read-only map of
    /// the first `len` bytes of the regular file `fd`, which must not be truncated while
    /// mapped (see [`FsStore::map_frame`](crate::FsStore::map_frame)).
    fn map(&self, fd: BorrowedFd<'_>, len: usize) -> Result<memmap2::Mmap, Errno>;
}

/// The real system calls.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RealIo;

impl Io for RealIo {
    fn lstat_path(&self, path: &Path) -> Result<Stat, Errno> {
        rustix::fs::statat(rustix::fs::CWD, path, AtFlags::SYMLINK_NOFOLLOW)
    }

    fn mkdir_path(&self, path: &Path, mode: Mode) -> Result<(), Errno> {
        rustix::fs::mkdirat(rustix::fs::CWD, path, mode)
    }

    fn open_path(&self, path: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        rustix::fs::open(path, flags, mode)
    }

    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        rustix::fs::openat(dir, name, flags, mode)
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn openat2(
        &self,
        dir: BorrowedFd<'_>,
        path: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        use rustix::fs::ResolveFlags;
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        rustix::fs::openat2(dir, path, flags, mode, resolve)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn openat2(
        &self,
        _dir: BorrowedFd<'_>,
        _path: &Path,
        _flags: OFlags,
        _mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        // No openat2 here: the store walks the path component by component instead.
        Err(Errno::NOSYS)
    }

    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        rustix::fs::mkdirat(dir, name, mode)
    }

    fn fchmod(&self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno> {
        rustix::fs::fchmod(fd, mode)
    }

    fn fstat(&self, fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
        rustix::fs::fstat(fd)
    }

    fn statat(&self, dir: BorrowedFd<'_>, name: &Path, flags: AtFlags) -> Result<Stat, Errno> {
        rustix::fs::statat(dir, name, flags)
    }

    fn read(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno> {
        rustix::io::read(fd, rustix::buffer::spare_capacity(buf))
    }

    fn write(&self, fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
        rustix::io::write(fd, buf)
    }

    #[cfg(not(target_vendor = "apple"))]
    fn fsync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        rustix::fs::fsync(fd)
    }

    /// On Apple systems `fsync` hands the data to the drive but does not flush the drive's
    /// cache; `F_FULLFSYNC` does (as SQLite's `fullfsync` does). A filesystem that refuses
    /// it (some network and FUSE filesystems answer `ENOTSUP` or `EINVAL`) gets a plain
    /// `fsync`, the most it offers.
    #[cfg(target_vendor = "apple")]
    fn fsync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        match rustix::fs::fcntl_fullfsync(fd) {
            Err(Errno::NOTSUP | Errno::INVAL) => rustix::fs::fsync(fd),
            other => other,
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    fn fdatasync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        rustix::fs::fdatasync(fd)
    }

    /// Where the system has no `fdatasync` (macOS), a plain `fsync`: it writes the metadata
    /// too, which costs a little more and promises the same.
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    fn fdatasync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        rustix::fs::fsync(fd)
    }

    fn renameat(
        &self,
        dir: BorrowedFd<'_>,
        from: &Path,
        to: &Path,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        if flags.is_empty() {
            rustix::fs::renameat(dir, from, dir, to)
        } else {
            rustix::fs::renameat_with(dir, from, dir, to, flags)
        }
    }

    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno> {
        rustix::fs::unlinkat(dir, name, AtFlags::empty())
    }

    fn utimensat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        times: &Timestamps,
        flags: AtFlags,
    ) -> Result<(), Errno> {
        rustix::fs::utimensat(dir, name, times, flags)
    }

    fn flock(&self, fd: BorrowedFd<'_>, operation: FlockOperation) -> Result<(), Errno> {
        rustix::fs::flock(fd, operation)
    }

    fn read_dir(&self, dir: BorrowedFd<'_>) -> Result<Vec<(CString, FileType)>, Errno> {
        let mut out = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            if name.to_bytes() == b"." || name.to_bytes() == b".." {
                continue;
            }
            out.push((name.to_owned(), entry.file_type()));
        }
        Ok(out)
    }

    fn map(&self, fd: BorrowedFd<'_>, len: usize) -> Result<memmap2::Mmap, Errno> {
        // SAFETY: `Mmap` hands out the mapped bytes as a `&[u8]`, which Rust assumes do not
        // change and stay readable while borrowed. The store maps only what it may
        // (`FsStore::map_frame`): entries of a private cache (directories 0700, files 0600
        // owned by this user, checked on the descriptor), which hoard never writes or
        // truncates in place (a put, a recompression or a removal renames or unlinks; the
        // mapped inode lives on unchanged until unmapped). A truncation by another program
        // of the same user would make a later access raise SIGBUS; nothing in hoard does
        // that, and group-shared caches, whose entries other users own, are never mapped.
        #[expect(
            unsafe_code,
            reason = "memory-mapping a file is unsafe in Rust; see the SAFETY comment"
        )]
        let map = unsafe { memmap2::MmapOptions::new().len(len).populate().map(&fd) };
        map.map_err(|e| map_errno(&e))
    }
}

/// How many times a call is repeated after `EINTR` before the error is reported. A signal
/// storm long enough to exhaust this is not a cache's to outlast.
pub(crate) const EINTR_ATTEMPTS: u32 = 16;

fn retried<T>(mut call: impl FnMut() -> Result<T, Errno>) -> Result<T, Errno> {
    let mut attempts = 1;
    loop {
        match call() {
            Err(Errno::INTR) if attempts < EINTR_ATTEMPTS => attempts += 1,
            other => return other,
        }
    }
}

/// The error number of a failed map.
fn map_errno(e: &std::io::Error) -> Errno {
    Errno::from_io_error(e).unwrap_or(Errno::IO)
}

/// The store's view of an [`Io`]: the same calls, with the `EINTR` policy applied.
///
/// Retried after `EINTR` (POSIX lists it for open, read, write, fsync, fchmod and a
/// blocking flock; the stat family, mkdir, utimensat and a directory listing are
/// idempotent, so repeating them is harmless even where POSIX does not mention it): every
/// call but the two below. Reported, never retried: `rename` and `unlink`, for which POSIX
/// does not define `EINTR` and whose effect after one would be unknown: a repeat after a
/// rename or unlink that did happen fails with `ENOENT`, and the store would report the
/// wrong outcome (a removal that "found nothing"), where reporting the error is safe.
#[derive(Clone, Copy)]
pub(crate) struct Sys<'a> {
    io: &'a dyn Io,
}

impl<'a> Sys<'a> {
    pub(crate) fn new(io: &'a dyn Io) -> Self {
        Self { io }
    }

    pub(crate) fn lstat_path(self, path: &Path) -> Result<Stat, Errno> {
        retried(|| self.io.lstat_path(path))
    }

    pub(crate) fn mkdir_path(self, path: &Path, mode: Mode) -> Result<(), Errno> {
        retried(|| self.io.mkdir_path(path, mode))
    }

    pub(crate) fn open_path(
        self,
        path: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        retried(|| self.io.open_path(path, flags, mode))
    }

    pub(crate) fn openat(
        self,
        dir: BorrowedFd<'_>,
        name: impl AsRef<Path>,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        let name = name.as_ref();
        retried(|| self.io.openat(dir, name, flags, mode))
    }

    pub(crate) fn openat2(
        self,
        dir: BorrowedFd<'_>,
        path: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        retried(|| self.io.openat2(dir, path, flags, mode))
    }

    pub(crate) fn mkdirat(
        self,
        dir: BorrowedFd<'_>,
        name: impl AsRef<Path>,
        mode: Mode,
    ) -> Result<(), Errno> {
        let name = name.as_ref();
        retried(|| self.io.mkdirat(dir, name, mode))
    }

    pub(crate) fn fchmod(self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno> {
        retried(|| self.io.fchmod(fd, mode))
    }

    pub(crate) fn fstat(self, fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
        retried(|| self.io.fstat(fd))
    }

    pub(crate) fn statat(
        self,
        dir: BorrowedFd<'_>,
        name: impl AsRef<Path>,
        flags: AtFlags,
    ) -> Result<Stat, Errno> {
        let name = name.as_ref();
        retried(|| self.io.statat(dir, name, flags))
    }

    pub(crate) fn fsync(self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        retried(|| self.io.fsync(fd))
    }

    pub(crate) fn fdatasync(self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        retried(|| self.io.fdatasync(fd))
    }

    /// Not retried after `EINTR` (see the type's docs).
    pub(crate) fn renameat(
        self,
        dir: BorrowedFd<'_>,
        from: impl AsRef<Path>,
        to: impl AsRef<Path>,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        self.io.renameat(dir, from.as_ref(), to.as_ref(), flags)
    }

    /// Not retried after `EINTR` (see the type's docs).
    pub(crate) fn unlinkat(self, dir: BorrowedFd<'_>, name: impl AsRef<Path>) -> Result<(), Errno> {
        self.io.unlinkat(dir, name.as_ref())
    }

    pub(crate) fn utimensat(
        self,
        dir: BorrowedFd<'_>,
        name: impl AsRef<Path>,
        times: &Timestamps,
        flags: AtFlags,
    ) -> Result<(), Errno> {
        let name = name.as_ref();
        retried(|| self.io.utimensat(dir, name, times, flags))
    }

    pub(crate) fn flock(self, fd: BorrowedFd<'_>, operation: FlockOperation) -> Result<(), Errno> {
        retried(|| self.io.flock(fd, operation))
    }

    pub(crate) fn read_dir(self, dir: BorrowedFd<'_>) -> Result<Vec<(CString, FileType)>, Errno> {
        retried(|| self.io.read_dir(dir))
    }

    pub(crate) fn map(self, fd: BorrowedFd<'_>, len: usize) -> Result<memmap2::Mmap, Errno> {
        retried(|| self.io.map(fd, len))
    }

    /// Writes all of `bytes`, one `write` call per step.
    pub(crate) fn write_all(self, fd: BorrowedFd<'_>, mut bytes: &[u8]) -> Result<(), Errno> {
        while !bytes.is_empty() {
            match retried(|| self.io.write(fd, bytes))? {
                // A regular file that accepts nothing and reports no error: treat it as the
                // device refusing the data rather than spinning.
                0 => return Err(Errno::IO),
                n => bytes = &bytes[n.min(bytes.len())..],
            }
        }
        Ok(())
    }

    /// Reads from `fd` until end of file or until `buf` is full: callers reserve exactly the
    /// size `fstat` reported, already checked against their limit. Entries are never
    /// modified in place, so those bytes are the entry; a file that grew since (someone
    /// else's append) is read as it was, and one that shrank reads short, which the frame
    /// check then refuses. Stopping at the reported size keeps the limit without the
    /// end-of-file probe, a second `read` on every hit.
    pub(crate) fn read_to_capacity(
        self,
        fd: BorrowedFd<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<(), Errno> {
        while buf.len() < buf.capacity() {
            if retried(|| self.io.read(fd, buf))? == 0 {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eintr_is_retried_a_bounded_number_of_times() {
        let mut calls = 0;
        let r: Result<(), Errno> = retried(|| {
            calls += 1;
            if calls < 3 { Err(Errno::INTR) } else { Ok(()) }
        });
        assert_eq!((r, calls), (Ok(()), 3));
        let mut calls = 0;
        let r: Result<(), Errno> = retried(|| {
            calls += 1;
            Err(Errno::INTR)
        });
        assert_eq!((r, calls), (Err(Errno::INTR), EINTR_ATTEMPTS));
        let mut calls = 0;
        let r: Result<(), Errno> = retried(|| {
            calls += 1;
            Err(Errno::IO)
        });
        assert_eq!((r, calls), (Err(Errno::IO), 1));
    }
}
