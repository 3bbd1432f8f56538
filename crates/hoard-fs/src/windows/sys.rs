//! The three Windows calls the standard library does not offer, wrapped safely: a file's
//! identity and times from one `GetFileInformationByHandle`, a rename that never replaces
//! (`MoveFileExW` without `MOVEFILE_REPLACE_EXISTING`), and an exclusive `LockFileEx` on one
//! byte far past the end of the file.
#![expect(
    unsafe_code,
    reason = "FFI calls into kernel32, each checked and explained"
)]

use std::fs::File;
use std::io;
use std::os::windows::ffi::OsStrExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, FILETIME};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_ATTRIBUTE_DIRECTORY, FILE_ATTRIBUTE_REPARSE_POINT,
    GetFileInformationByHandle, LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx,
    MoveFileExW,
};
use windows_sys::Win32::System::IO::OVERLAPPED;

/// What `GetFileInformationByHandle` says about an open file or directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Info {
    /// `FILE_ATTRIBUTE_*` bits.
    pub(crate) attributes: u32,
    /// Serial number of the volume the file is on.
    pub(crate) volume: u32,
    /// The file's index on its volume (NTFS's file reference number): with the volume, the
    /// file's identity, the counterpart of an inode number.
    pub(crate) index: u64,
    /// Size in bytes.
    pub(crate) size: u64,
    /// Last write time in 100 ns ticks since 1601.
    pub(crate) modified: u64,
    /// Last access time in 100 ns ticks since 1601.
    pub(crate) accessed: u64,
}

impl Info {
    /// A symlink, junction or any other reparse point: never followed, never trusted.
    pub(crate) fn is_reparse_point(&self) -> bool {
        self.attributes & FILE_ATTRIBUTE_REPARSE_POINT != 0
    }

    /// A real directory (not a reparse point).
    pub(crate) fn is_dir(&self) -> bool {
        !self.is_reparse_point() && self.attributes & FILE_ATTRIBUTE_DIRECTORY != 0
    }

    /// A real file (not a directory, not a reparse point).
    pub(crate) fn is_file(&self) -> bool {
        !self.is_reparse_point() && self.attributes & FILE_ATTRIBUTE_DIRECTORY == 0
    }

    /// Whether the directory attribute is set: a real directory, or a link to one (a
    /// junction or directory symlink, which `RemoveDirectoryW` removes, not `DeleteFileW`).
    pub(crate) fn has_dir_attribute(&self) -> bool {
        self.attributes & FILE_ATTRIBUTE_DIRECTORY != 0
    }

    /// The last write time.
    pub(crate) fn modified_time(&self) -> Option<SystemTime> {
        time_of_ticks(self.modified)
    }

    /// The last access time.
    pub(crate) fn accessed_time(&self) -> Option<SystemTime> {
        time_of_ticks(self.accessed)
    }
}

/// 100 ns ticks from 1601-01-01 to 1970-01-01.
const TICKS_TO_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A `FILETIME` tick count as a time; `None` for zero (a file system that keeps no such time).
pub(crate) fn time_of_ticks(ticks: u64) -> Option<SystemTime> {
    if ticks == 0 {
        return None;
    }
    let nanos = |t: u64| {
        let sub = u32::try_from(t % 10_000_000).expect("below ten million");
        Duration::new(t / 10_000_000, sub * 100)
    };
    if ticks >= TICKS_TO_UNIX_EPOCH {
        UNIX_EPOCH.checked_add(nanos(ticks - TICKS_TO_UNIX_EPOCH))
    } else {
        UNIX_EPOCH.checked_sub(nanos(TICKS_TO_UNIX_EPOCH - ticks))
    }
}

fn ticks(t: FILETIME) -> u64 {
    (u64::from(t.dwHighDateTime) << 32) | u64::from(t.dwLowDateTime)
}

/// `GetFileInformationByHandle` of `file`.
pub(crate) fn info(file: &File) -> io::Result<Info> {
    let mut raw = BY_HANDLE_FILE_INFORMATION {
        dwFileAttributes: 0,
        ftCreationTime: FILETIME::default(),
        ftLastAccessTime: FILETIME::default(),
        ftLastWriteTime: FILETIME::default(),
        dwVolumeSerialNumber: 0,
        nFileSizeHigh: 0,
        nFileSizeLow: 0,
        nNumberOfLinks: 0,
        nFileIndexHigh: 0,
        nFileIndexLow: 0,
    };
    // SAFETY: the handle is open for the lifetime of `file`, and `raw` is a valid, writable
    // structure of the type the call fills.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut raw) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Info {
        attributes: raw.dwFileAttributes,
        volume: raw.dwVolumeSerialNumber,
        index: (u64::from(raw.nFileIndexHigh) << 32) | u64::from(raw.nFileIndexLow),
        size: (u64::from(raw.nFileSizeHigh) << 32) | u64::from(raw.nFileSizeLow),
        modified: ticks(raw.ftLastWriteTime),
        accessed: ticks(raw.ftLastAccessTime),
    })
}

fn wide(path: &Path) -> Vec<u16> {
    path.as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect()
}

/// Renames `from` to `to` unless `to` exists (then `ErrorKind::AlreadyExists`): the
/// counterpart of `renameat2(RENAME_NOREPLACE)`, atomic in the file system.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let (from, to) = (wide(from), wide(to));
    // SAFETY: both are NUL-terminated UTF-16 strings that outlive the call.
    let ok = unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), 0) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The byte an advisory lock covers: far past the end of any entry, so that a lock (which
/// Windows enforces on reads and writes of the range it covers) never keeps a reader of the
/// locked file from its bytes.
const LOCK_OFFSET: u64 = 1 << 62;

/// Takes an exclusive `LockFileEx` on one byte of `file` at [`LOCK_OFFSET`]; `Ok(false)` if
/// `wait` is false and another handle holds it. The lock is released when the handle is
/// closed, by the holder or by Windows when the holder's process dies.
pub(crate) fn lock(file: &File, wait: bool) -> io::Result<bool> {
    let mut overlapped = OVERLAPPED::default();
    overlapped.Anonymous.Anonymous.Offset = (LOCK_OFFSET & 0xffff_ffff) as u32;
    overlapped.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
    let flags = if wait {
        LOCKFILE_EXCLUSIVE_LOCK
    } else {
        LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY
    };
    // SAFETY: the handle is open and synchronous (std opens files without
    // FILE_FLAG_OVERLAPPED), so the call completes before it returns and `overlapped` only
    // needs to live for its duration.
    let ok = unsafe { LockFileEx(file.as_raw_handle(), flags, 0, 1, 0, &mut overlapped) };
    if ok != 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if !wait && err.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
        return Ok(false);
    }
    Err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_times_convert_around_the_unix_epoch() {
        assert_eq!(time_of_ticks(TICKS_TO_UNIX_EPOCH), Some(UNIX_EPOCH));
        assert_eq!(
            time_of_ticks(TICKS_TO_UNIX_EPOCH + 15),
            Some(UNIX_EPOCH + Duration::from_nanos(1500))
        );
        assert_eq!(
            time_of_ticks(TICKS_TO_UNIX_EPOCH - 10_000_000),
            Some(UNIX_EPOCH - Duration::from_secs(1))
        );
        assert_eq!(time_of_ticks(0), None);
    }
}
