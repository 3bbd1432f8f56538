//! Fault injection (feature `fault-injection`, for tests only): a store whose n-th system
//! call fails, once or from then on, with a chosen errno.
//!
//! This is SQLite's I/O-error test loop applied to [`FsStore`](crate::FsStore): open a
//! store with [`FsStore::open_with_faults`](crate::FsStore::open_with_faults), then for n = 1, 2, ... set up a case with the faults
//! disarmed, [`arm`](Faults::arm) the fault at call n, run one operation, disarm, and check
//! what is on disk; [`explore`] runs that loop and stops at the first n the operation no
//! longer reaches. Every system call of the store counts (see the crate's `io` module for
//! the list), including each single `read` and `write` of a longer transfer and each repeat
//! after `EINTR`.
//!
//! [`Faults::arm_crash`] is the failpoint hook of the crash tests: instead of failing the
//! n-th call it kills the whole process with `SIGKILL` right before that call is made, so
//! that nothing unwinds, no destructor runs and no buffer is flushed (the closest a process
//! gets to losing power, short of the kernel losing its page cache too). A test runs the
//! operation in a child process and inspects the cache from the parent afterwards.
//!
//! ```
//! use hoard_core::{Digest, Namespace, Store};
//! use hoard_fs::fault::{self, Faults, Injected, Persistence};
//! use hoard_fs::{FsOptions, FsStore};
//!
//! let dir = tempfile::tempdir()?;
//! let faults = Faults::new();
//! let store = FsStore::open_with_faults(dir.path().join("c"), FsOptions::new(), faults.clone())?;
//! let ns = Namespace::new("n")?;
//! let explored = fault::explore(&faults, Injected::Enospc, Persistence::Once, |f| {
//!     faults.arm(f);
//!     let put = store.put(&ns, &Digest::from_bytes([f.nth as u8; 32]), b"frame");
//!     faults.disarm();
//!     // A put either worked or failed with the injected error; nothing else.
//!     assert!(put.is_ok() || faults.injected() > 0);
//! });
//! assert!(explored.faulted_runs > 3, "a put makes several system calls");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::CString;
use std::fmt;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags, Stat, Timestamps};
use rustix::io::Errno;

use crate::io::{Io, RealIo};

/// The errors the loop injects: those a filesystem really returns to a cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Injected {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: no space or no inode left.
    Enospc,
    /// `EDQUOT`: over quota.
    Edquot,
    /// `EROFS`: the filesystem is read-only.
    Erofs,
    /// `EACCES`: permission denied.
    Eacces,
    /// `EMFILE`: out of file descriptors.
    Emfile,
    /// `EXDEV`: a rename across filesystems (or a path resolution that crossed one).
    Exdev,
    /// `ENOENT`: something vanished.
    Enoent,
    /// `EINTR`: a signal arrived; retried where the store's policy says so.
    Eintr,
}

impl Injected {
    /// Every injected error, in the order the loops run them.
    pub const ALL: [Self; 9] = [
        Self::Eio,
        Self::Enospc,
        Self::Edquot,
        Self::Erofs,
        Self::Eacces,
        Self::Emfile,
        Self::Exdev,
        Self::Enoent,
        Self::Eintr,
    ];

    /// The C name (`EIO`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Eio => "EIO",
            Self::Enospc => "ENOSPC",
            Self::Edquot => "EDQUOT",
            Self::Erofs => "EROFS",
            Self::Eacces => "EACCES",
            Self::Emfile => "EMFILE",
            Self::Exdev => "EXDEV",
            Self::Enoent => "ENOENT",
            Self::Eintr => "EINTR",
        }
    }

    /// The raw errno, as `std::io::Error::raw_os_error` reports it.
    pub fn raw_os_error(self) -> i32 {
        self.errno().raw_os_error()
    }

    fn errno(self) -> Errno {
        match self {
            Self::Eio => Errno::IO,
            Self::Enospc => Errno::NOSPC,
            Self::Edquot => Errno::DQUOT,
            Self::Erofs => Errno::ROFS,
            Self::Eacces => Errno::ACCESS,
            Self::Emfile => Errno::MFILE,
            Self::Exdev => Errno::XDEV,
            Self::Enoent => Errno::NOENT,
            Self::Eintr => Errno::INTR,
        }
    }
}

impl fmt::Display for Injected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether an armed fault fails one call or every call from the n-th on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// Only the n-th call fails (a transient error).
    Once,
    /// The n-th call and every later one fail (a device that is gone).
    Persistent,
}

impl Persistence {
    /// Both, in the order the loops run them.
    pub const ALL: [Self; 2] = [Self::Once, Self::Persistent];

    /// `once` or `persistent`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Once => "once",
            Self::Persistent => "persistent",
        }
    }
}

/// One fault: fail call number `nth` (from 1) after arming, with `errno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// Which call fails, counting from 1 at [`Faults::arm`].
    pub nth: u64,
    /// The error it fails with.
    pub errno: Injected,
    /// Once or from then on.
    pub persistence: Persistence,
}

#[derive(Debug, Default)]
struct State {
    armed: Option<Fault>,
    /// The call before which [`Faults::arm_crash`] kills the process.
    crash_at: Option<u64>,
    calls: u64,
    injected: u64,
    first_failed: Option<&'static str>,
}

/// The controller shared by a test and the stores it opened with
/// [`FsStore::open_with_faults`](crate::FsStore::open_with_faults): arms and disarms
/// faults and counts calls. Disarmed, the stores behave exactly as with real I/O.
#[derive(Debug, Default)]
pub struct Faults {
    state: Mutex<State>,
}

impl Faults {
    /// A disarmed controller.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not turn every later call into a second panic.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Arms `fault` and starts counting calls from zero.
    pub fn arm(&self, fault: Fault) {
        let mut s = self.state();
        *s = State {
            armed: Some(fault),
            ..State::default()
        };
    }

    /// Arms the crash failpoint: the `nth` call (from 1) after this one kills the process
    /// with `SIGKILL` before it is made, and counting starts from zero. With an `nth` the
    /// operation never reaches, it only counts calls (the probe run of a crash test).
    /// Replaces any armed fault; [`disarm`](Self::disarm) disarms it too.
    pub fn arm_crash(&self, nth: u64) {
        let mut s = self.state();
        *s = State {
            crash_at: Some(nth),
            ..State::default()
        };
    }

    /// Stops failing calls (and crashing); the counts of the armed period stay readable.
    pub fn disarm(&self) {
        let mut s = self.state();
        s.armed = None;
        s.crash_at = None;
    }

    /// Calls made while armed (failed ones included).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Calls failed while armed.
    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// The name of the first call that was failed (`openat`, `write`, `renameat`...).
    pub fn first_failed_call(&self) -> Option<&'static str> {
        self.state().first_failed
    }

    /// Counts one call named `call`; the error it must fail with, if any.
    fn check(&self, call: &'static str) -> Result<(), Errno> {
        let mut s = self.state();
        if let Some(nth) = s.crash_at {
            s.calls += 1;
            if s.calls == nth {
                crash();
            }
            return Ok(());
        }
        let Some(fault) = s.armed else {
            return Ok(());
        };
        s.calls += 1;
        let fail = match fault.persistence {
            Persistence::Once => s.calls == fault.nth,
            Persistence::Persistent => s.calls >= fault.nth,
        };
        if !fail {
            return Ok(());
        }
        s.injected += 1;
        s.first_failed.get_or_insert(call);
        Err(fault.errno.errno())
    }
}

/// Kills this process with `SIGKILL`, which cannot be caught: nothing after this point
/// runs, in any thread.
fn crash() -> ! {
    let _ = rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    // `kill` on oneself with a valid signal does not fail, and SIGKILL is delivered before
    // the call returns; should it somehow return, abort, which does not unwind either.
    std::process::abort()
}

/// Whether the store retries `call` after `EINTR` (see the crate's `io` module): every
/// call but `renameat` and `unlinkat`.
pub fn retries_eintr(call: &str) -> bool {
    !matches!(call, "renameat" | "unlinkat")
}

/// What [`explore`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Explored {
    /// Runs in which a call was failed: the calls the operation makes without faults.
    pub faulted_runs: u64,
    /// Runs in all (the last one reached no fault).
    pub runs: u64,
}

/// Upper bound on the calls [`explore`] tries, so that an operation whose call count grows
/// with n cannot loop forever.
pub const MAX_CALLS: u64 = 100_000;

/// The n-th-call loop: runs `case` with `Fault { nth: 1, .. }`, `nth: 2`, ... until a run
/// makes fewer than `nth` armed calls (the operation completed without reaching the
/// fault), or [`MAX_CALLS`] runs. `case` sets up with the faults disarmed, calls
/// [`Faults::arm`] with the fault it is given right before the operation, and
/// [`Faults::disarm`] right after.
pub fn explore(
    faults: &Faults,
    errno: Injected,
    persistence: Persistence,
    mut case: impl FnMut(Fault),
) -> Explored {
    let mut out = Explored::default();
    for nth in 1..=MAX_CALLS {
        case(Fault {
            nth,
            errno,
            persistence,
        });
        out.runs += 1;
        faults.disarm();
        if faults.calls() < nth {
            break;
        }
        out.faulted_runs += 1;
    }
    out
}

/// Real I/O behind a [`Faults`] check.
#[derive(Debug)]
pub(crate) struct FaultyIo {
    faults: Arc<Faults>,
}

impl FaultyIo {
    pub(crate) fn new(faults: Arc<Faults>) -> Self {
        Self { faults }
    }
}

impl Io for FaultyIo {
    fn lstat_path(&self, path: &Path) -> Result<Stat, Errno> {
        self.faults.check("lstat")?;
        RealIo.lstat_path(path)
    }

    fn mkdir_path(&self, path: &Path, mode: Mode) -> Result<(), Errno> {
        self.faults.check("mkdir")?;
        RealIo.mkdir_path(path, mode)
    }

    fn open_path(&self, path: &Path, flags: OFlags, mode: Mode) -> Result<OwnedFd, Errno> {
        self.faults.check("open")?;
        RealIo.open_path(path, flags, mode)
    }

    fn openat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        self.faults.check("openat")?;
        RealIo.openat(dir, name, flags, mode)
    }

    fn openat2(
        &self,
        dir: BorrowedFd<'_>,
        path: &Path,
        flags: OFlags,
        mode: Mode,
    ) -> Result<OwnedFd, Errno> {
        self.faults.check("openat2")?;
        RealIo.openat2(dir, path, flags, mode)
    }

    fn mkdirat(&self, dir: BorrowedFd<'_>, name: &Path, mode: Mode) -> Result<(), Errno> {
        self.faults.check("mkdirat")?;
        RealIo.mkdirat(dir, name, mode)
    }

    fn fchmod(&self, fd: BorrowedFd<'_>, mode: Mode) -> Result<(), Errno> {
        self.faults.check("fchmod")?;
        RealIo.fchmod(fd, mode)
    }

    fn fstat(&self, fd: BorrowedFd<'_>) -> Result<Stat, Errno> {
        self.faults.check("fstat")?;
        RealIo.fstat(fd)
    }

    fn statat(&self, dir: BorrowedFd<'_>, name: &Path, flags: AtFlags) -> Result<Stat, Errno> {
        self.faults.check("statat")?;
        RealIo.statat(dir, name, flags)
    }

    fn read(&self, fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> Result<usize, Errno> {
        self.faults.check("read")?;
        RealIo.read(fd, buf)
    }

    fn write(&self, fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
        self.faults.check("write")?;
        RealIo.write(fd, buf)
    }

    fn fsync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        self.faults.check("fsync")?;
        RealIo.fsync(fd)
    }

    fn fdatasync(&self, fd: BorrowedFd<'_>) -> Result<(), Errno> {
        self.faults.check("fdatasync")?;
        RealIo.fdatasync(fd)
    }

    fn renameat(
        &self,
        dir: BorrowedFd<'_>,
        from: &Path,
        to: &Path,
        flags: RenameFlags,
    ) -> Result<(), Errno> {
        self.faults.check("renameat")?;
        RealIo.renameat(dir, from, to, flags)
    }

    fn unlinkat(&self, dir: BorrowedFd<'_>, name: &Path) -> Result<(), Errno> {
        self.faults.check("unlinkat")?;
        RealIo.unlinkat(dir, name)
    }

    fn utimensat(
        &self,
        dir: BorrowedFd<'_>,
        name: &Path,
        times: &Timestamps,
        flags: AtFlags,
    ) -> Result<(), Errno> {
        self.faults.check("utimensat")?;
        RealIo.utimensat(dir, name, times, flags)
    }

    fn flock(&self, fd: BorrowedFd<'_>, operation: FlockOperation) -> Result<(), Errno> {
        self.faults.check("flock")?;
        RealIo.flock(fd, operation)
    }

    fn read_dir(&self, dir: BorrowedFd<'_>) -> Result<Vec<(CString, FileType)>, Errno> {
        self.faults.check("readdir")?;
        RealIo.read_dir(dir)
    }

    fn map(&self, fd: BorrowedFd<'_>, len: usize) -> Result<memmap2::Mmap, Errno> {
        self.faults.check("mmap")?;
        RealIo.map(fd, len)
    }
}
