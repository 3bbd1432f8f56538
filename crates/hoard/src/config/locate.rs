//! Where configuration and cache live by default, and the reading and creation of
//! configuration files.
//!
//! A configuration file decides where the cache lives and how it is written, so one that
//! another user can edit is refused: it must be a regular file owned by the current user and
//! writable by nobody else. The checks run on the opened descriptor (`fstat`), so the file
//! read is the file checked. On Windows only the regular-file check applies: the file's
//! owner and access control list are not checked (see ARCHITECTURE.md, "Windows").

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
#[cfg(unix)]
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use hoard_core::{Error, ErrorKind, Result};

/// Larger "configuration files" are refused rather than read: no real one comes close.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

const APP_DIR: &str = "hoard";
const CONFIG_FILE: &str = "config.toml";

/// The path in environment variable `name`, if it is set and not empty.
pub(crate) fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The XDG strategy on Linux and macOS (what command-line tools use), known folders on
/// Windows; `None` without a usable (absolute) home directory.
fn platform() -> Option<impl BaseStrategy> {
    etcetera::choose_base_strategy()
        .ok()
        .filter(|s| s.home_dir().is_absolute())
}

pub(crate) fn platform_config_path() -> Option<PathBuf> {
    platform().map(|s| s.config_dir().join(APP_DIR).join(CONFIG_FILE))
}

pub(crate) fn platform_cache_dir() -> Option<PathBuf> {
    platform().map(|s| s.cache_dir().join(APP_DIR))
}

pub(crate) fn not_found(path: &Path) -> Error {
    Error::io(
        "configuration file not found",
        path,
        std::io::Error::from(std::io::ErrorKind::NotFound),
    )
}

/// The text of the configuration file at `path`, or `None` if there is none.
pub(crate) fn read_config_file(path: &Path) -> Result<Option<String>> {
    let mut options = OpenOptions::new();
    options.read(true);
    // A FIFO planted at the path must not block the caller.
    #[cfg(unix)]
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("cannot open configuration file", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot inspect configuration file", path, e))?;
    check_trusted(path, &meta)?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "configuration file is {} bytes, above the {MAX_CONFIG_BYTES}-byte limit",
                meta.len()
            ),
        )
        .with_path(path));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read configuration file", path, e))?;
    String::from_utf8(bytes).map(Some).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!(
                "configuration file is not UTF-8 (byte {} is invalid)",
                e.utf8_error().valid_up_to()
            ),
        )
        .with_path(path)
    })
}

fn check_trusted(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if !meta.file_type().is_file() {
        return Err(Error::new(
            ErrorKind::Config,
            "configuration path is not a regular file",
        )
        .with_path(path));
    }
    #[cfg(unix)]
    check_owner_and_mode(path, meta)?;
    Ok(())
}

/// The configuration file must be ours and writable by nobody else.
#[cfg(unix)]
fn check_owner_and_mode(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::new(
            ErrorKind::Insecure,
            format!(
                "refusing a configuration file owned by another user (uid {}, not {me}): \
                 whoever owns it controls the cache",
                meta.uid()
            ),
        )
        .with_path(path));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::new(
            ErrorKind::Insecure,
            format!(
                "refusing a configuration file that its group or others can write (mode \
                 {mode:04o}); fix it with `chmod go-w`"
            ),
        )
        .with_path(path));
    }
    Ok(())
}

/// Creates the file at `path` holding `text`; never replaces anything.
pub(crate) fn create_config_file(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true);
        #[cfg(unix)]
        dirs.mode(0o700);
        dirs.create(parent)
            .map_err(|e| Error::io("cannot create the configuration directory", parent, e))?;
    }
    // `create_new` is O_CREAT | O_EXCL: it fails on any existing name, a dangling symlink
    // included, and two writers cannot both succeed.
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o644);
    let mut file: File = options.open(path).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::AlreadyExists {
            "refusing to overwrite an existing configuration file"
        } else {
            "cannot create configuration file"
        };
        Error::io(message, path, e)
    })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(|e| {
            Error::io(
                "cannot write configuration file (it may be incomplete)",
                path,
                e,
            )
        })
}
