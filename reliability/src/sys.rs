//! The machine-level tools of the harness: mounts that unmount themselves, the filesystem
//! shutdown ioctl that simulates a power cut, resource limits for children, and finding
//! the programs a row needs.
//!
//! Every mount point is created by the caller under a temp directory of its own; a
//! [`Mount`] unmounts on drop (lazily as a last resort), so a failing or panicking row
//! never leaves a mount behind.

use std::fmt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Whether the harness runs as root (mounts and the shutdown ioctl need it).
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The path of program `name` on `PATH` or in the sbin directories, which `PATH` often
/// lacks for non-login shells.
pub(crate) fn find_tool(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Why a row cannot use mounts here, or `None` if it can try.
pub(crate) fn cannot_mount() -> Option<String> {
    if !is_root() {
        return Some("needs root for mounts".to_owned());
    }
    for tool in ["mount", "umount"] {
        if find_tool(tool).is_none() {
            return Some(format!("`{tool}` is not installed (util-linux)"));
        }
    }
    None
}

/// Runs `cmd`, capturing its output; the error names the command and quotes its stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A mounted filesystem, unmounted on drop.
pub(crate) struct Mount {
    source: PathBuf,
    point: PathBuf,
    fstype: Option<&'static str>,
    options: String,
    mounted: bool,
}

impl fmt::Debug for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Mount({} on {})",
            self.source.display(),
            self.point.display()
        )
    }
}

impl Mount {
    /// Mounts a tmpfs with `options` (`size=1m`, `nr_inodes=16`) on the existing directory
    /// `point`.
    pub(crate) fn tmpfs(point: &Path, options: &str) -> Result<Self, String> {
        let mut m = Self {
            source: PathBuf::from("tmpfs"),
            point: point.to_path_buf(),
            fstype: Some("tmpfs"),
            options: options.to_owned(),
            mounted: false,
        };
        m.mount()?;
        Ok(m)
    }

    /// Mounts the filesystem image `image` through a loop device on the existing directory
    /// `point` (the loop device is released on unmount).
    pub(crate) fn image(image: &Path, point: &Path) -> Result<Self, String> {
        let mut m = Self {
            source: image.to_path_buf(),
            point: point.to_path_buf(),
            fstype: None,
            options: "loop".to_owned(),
            mounted: false,
        };
        m.mount()?;
        Ok(m)
    }

    /// The mount point.
    pub(crate) fn point(&self) -> &Path {
        &self.point
    }

    /// Mounts again after [`unmount`](Self::unmount) (for an image: the journal replays).
    pub(crate) fn mount(&mut self) -> Result<(), String> {
        if self.mounted {
            return Ok(());
        }
        let mut cmd = Command::new("mount");
        if let Some(t) = self.fstype {
            cmd.args(["-t", t]);
        }
        if !self.options.is_empty() {
            cmd.args(["-o", &self.options]);
        }
        run(cmd.arg(&self.source).arg(&self.point))?;
        self.mounted = true;
        Ok(())
    }

    /// `mount -o remount,<options>` (`ro`, `rw`).
    pub(crate) fn remount(&self, options: &str) -> Result<(), String> {
        run(Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.point))
    }

    /// Unmounts, retrying briefly while the last users exit.
    pub(crate) fn unmount(&mut self) -> Result<(), String> {
        if !self.mounted {
            return Ok(());
        }
        let mut last = String::new();
        for attempt in 0..20 {
            match run(Command::new("umount").arg(&self.point)) {
                Ok(()) => {
                    self.mounted = false;
                    return Ok(());
                }
                Err(e) => last = e,
            }
            // A killed child's descriptors are released when it is reaped, which the caller
            // already did; what remains is the kernel finishing up (rare, short).
            std::thread::sleep(Duration::from_millis(10 << attempt.min(4)));
        }
        Err(last)
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted && self.unmount().is_err() {
            // Detach it at least, so that the temp directory's removal cannot reach into it.
            let _ = run(Command::new("umount").arg("-l").arg(&self.point));
        }
    }
}

/// How the shutdown ioctl treats the journal (`FS_GOING_FLAGS_*` in `linux/fs.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// `FS_GOING_FLAGS_LOGFLUSH`: flush the log, not the data (a crash right after a journal
    /// commit).
    LogFlush = 1,
    /// `FS_GOING_FLAGS_NOLOGFLUSH`: drop everything not yet on disk (a crash between
    /// commits).
    NoLogFlush = 2,
}

/// `FS_IOC_SHUTDOWN`, `_IOR('X', 125, __u32)` = `0x8004587d`; ext4 and XFS implement it.
const FS_IOC_SHUTDOWN: rustix::ioctl::Opcode = rustix::ioctl::opcode::read::<u32>(b'X', 125);

/// Shuts the filesystem mounted at `point` down as a power cut would: every later write,
/// sync or read through it fails with EIO until it is unmounted and mounted again.
#[expect(
    unsafe_code,
    reason = "ioctl is unsafe in rustix: the opcode and the argument type must match the kernel's"
)]
pub(crate) fn shutdown(point: &Path, how: Cut) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let dir = rustix::fs::open(
        point,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: FS_IOC_SHUTDOWN reads exactly one u32 (the flags) from the pointer it is
    // given, and `Setter` passes a pointer to a u32 it owns for the duration of the call.
    let op = unsafe { rustix::ioctl::Setter::<FS_IOC_SHUTDOWN, u32>::new(how as u32) };
    // SAFETY: as above; the descriptor is a directory on the mounted filesystem.
    unsafe { rustix::ioctl::ioctl(&dir, op) }?;
    Ok(())
}

/// Flushes every dirty page and the journal of the filesystem holding `path` (so that what
/// a row planted before a cut is on disk).
pub(crate) fn syncfs(path: &Path) -> std::io::Result<()> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::fs::syncfs(&fd)?;
    Ok(())
}

/// Resource limits a child gets before it runs (`ulimit -n`, `ulimit -f`).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    /// `RLIMIT_NOFILE`: most open descriptors.
    pub(crate) nofile: Option<u64>,
    /// `RLIMIT_FSIZE`: largest file the child may write; writes past it fail with EFBIG
    /// (and SIGXFSZ, which the child ignores, as a build tool under `ulimit -f` would have to).
    pub(crate) fsize: Option<u64>,
}

/// Applies `limits` in the child between fork and exec.
#[expect(
    unsafe_code,
    reason = "pre_exec and signal(2) are unsafe; the closure makes only async-signal-safe calls"
)]
pub(crate) fn limit(cmd: &mut Command, limits: Limits) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = move |resource, value: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(value),
                maximum: Some(value),
            },
        )
        .map_err(std::io::Error::from)
    };
    // SAFETY: between fork and exec only raw system calls run here (setrlimit through
    // rustix's direct syscalls, signal through libc): no allocation, no locks.
    unsafe {
        cmd.pre_exec(move || {
            if let Some(n) = limits.nofile {
                set(Resource::Nofile, n)?;
            }
            if let Some(n) = limits.fsize {
                if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                    return Err(std::io::Error::last_os_error());
                }
                set(Resource::Fsize, n)?;
            }
            Ok(())
        });
    }
}

/// The errno name of a hoard error's I/O cause (`ENOSPC`), or its kind.
pub(crate) fn error_class(e: &hoard::Error) -> String {
    match e.io_source().and_then(std::io::Error::raw_os_error) {
        Some(code) => errno_name(code),
        None => e.kind().as_str().to_owned(),
    }
}

/// A short name for an errno value.
pub(crate) fn errno_name(code: i32) -> String {
    let name = match code {
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EFBIG => "EFBIG",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::EROFS => "EROFS",
        libc::EIO => "EIO",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EEXIST => "EEXIST",
        libc::EINTR => "EINTR",
        _ => return format!("errno {code}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shutdown_opcode_is_the_kernels() {
        assert_eq!(FS_IOC_SHUTDOWN as u64, 0x8004_587d);
    }
}
