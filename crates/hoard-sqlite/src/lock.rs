//! Advisory locks: `flock`s on files in the lock directory beside the database.
//!
//! SQLite's own locks protect its transactions, not a maintenance operation that spans many
//! of them, and a row in a table would outlive a crashed holder. A `flock` dies with its
//! holder (the kernel drops it when the descriptor closes, at exit included), and two
//! descriptors of one process exclude each other as two processes do.
//!
//! Named locks live in `named-<name>.lock`, never removed (as hoard-fs's `state/*.lock`).
//! An entry lock lives in `entry-<namespace>-<digest>.lock`, created when it is taken and
//! removed by its holder before the lock is released; a taker that locked a file which was
//! removed (or replaced) meanwhile sees that the name no longer points at its file and
//! starts again. A holder that crashed leaves its (unlocked) file behind: the next lock of
//! that entry reuses and removes it.

use std::fs::{DirBuilder, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use hoard_core::{Digest, Error, ErrorKind, HeldLock, Namespace, Result, StateName};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// Creates the lock directory (mode `0700`) or checks the existing one: a real directory
/// owned by this user.
pub(crate) fn prepare_dir(dir: &Path) -> Result<()> {
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io("cannot create the lock directory", dir, e)),
    }
    let m = std::fs::symlink_metadata(dir)
        .map_err(|e| Error::io("cannot inspect the lock directory", dir, e))?;
    if !m.file_type().is_dir() {
        return Err(
            Error::new(ErrorKind::Insecure, "the lock directory is not a directory").with_path(dir),
        );
    }
    if m.uid() != rustix::process::geteuid().as_raw() {
        return Err(Error::new(
            ErrorKind::Insecure,
            "the lock directory is owned by another user",
        )
        .with_path(dir));
    }
    Ok(())
}

pub(crate) fn named_path(dir: &Path, name: &StateName) -> PathBuf {
    dir.join(format!("named-{name}.lock"))
}

/// The digest's 64 hex digits end the name, so namespace and digest split unambiguously.
pub(crate) fn entry_path(dir: &Path, ns: &Namespace, digest: &Digest) -> PathBuf {
    dir.join(format!("entry-{ns}-{digest}.lock"))
}

/// Keeps a lock held; an entry lock's file is removed before its descriptor closes.
struct Guard {
    /// Closed after `drop` has run, which releases the `flock`.
    _file: File,
    remove: Option<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(path) = self.remove.take() {
            // Removed while still locked: whoever locks the old file next sees it gone.
            #[expect(
                clippy::disallowed_methods,
                reason = "the store's own entry lock file, in its own lock directory"
            )]
            let _ = std::fs::remove_file(path);
        }
    }
}

fn io_err(message: &'static str, path: &Path, e: Errno) -> Error {
    Error::io(message, path, std::io::Error::from(e))
}

/// Takes the lock on the file at `path`; `Ok(None)` if it is held and `!wait`.
pub(crate) fn take(path: &Path, wait: bool, removable: bool) -> Result<Option<HeldLock>> {
    let op = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    loop {
        let fd = rustix::fs::open(
            path,
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_err("cannot open lock file", path, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| io_err("cannot inspect lock file", path, e))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(
                Error::new(ErrorKind::Insecure, "lock file is not a regular file").with_path(path),
            );
        }
        loop {
            match rustix::fs::flock(&fd, op) {
                Ok(()) => break,
                Err(Errno::INTR) => {}
                Err(Errno::WOULDBLOCK) => return Ok(None),
                Err(e) => return Err(io_err("cannot lock lock file", path, e)),
            }
        }
        if removable {
            // Still the file the name points at? A holder may have removed it meanwhile.
            match rustix::fs::lstat(path) {
                Ok(now) if now.st_ino == st.st_ino && now.st_dev == st.st_dev => {}
                Ok(_) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(io_err("cannot inspect lock file", path, e)),
            }
        }
        let guard = Guard {
            _file: File::from(fd),
            remove: removable.then(|| path.to_path_buf()),
        };
        return Ok(Some(HeldLock::new(guard)));
    }
}
