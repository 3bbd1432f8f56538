//! Failures and exit statuses: every failure becomes one line on stderr and status 2.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::ExitCode;

/// How a command that ran to the end came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Exit 0: done (and, for `get`, a hit).
    Success,
    /// Exit 1: `get` or `inspect` found no usable entry, or `verify` found bad entries that
    /// it did not remove.
    Negative,
    /// `run`: the exit status of the command it ran (not 0: a success is `Success`).
    Exited(u8),
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        match status {
            Status::Success => ExitCode::SUCCESS,
            Status::Negative => ExitCode::from(1),
            Status::Exited(code) => ExitCode::from(code),
        }
    }
}

/// A failure: a usage error, an unreadable configuration, an I/O failure (exit 2).
///
/// `Display` is the line `main` prints after `hoard: `.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// A message already naming what failed.
    #[error("{0}")]
    Failed(String),
    /// Standard output went away (`hoard ls | head`): stop quietly, the reader has what it
    /// wanted.
    #[error("standard output was closed")]
    BrokenPipe,
}

/// The result of a command.
pub(crate) type CliResult<T = Status> = Result<T, CliError>;

impl CliError {
    /// A failure described by `message` (lowercase, naming the path or key).
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// A failure of hoard's, prefixed by what was being done (`cannot store key "k"`). A
    /// lock held by another process needs no context: `busy: <lock> is held by another
    /// process` says what to wait for.
    pub(crate) fn hoard(context: impl fmt::Display, err: &hoard::Error) -> Self {
        if err.kind() == hoard::ErrorKind::Busy {
            return Self::Failed(describe(err));
        }
        Self::Failed(format!("{context}: {}", describe(err)))
    }

    /// An I/O failure on `path`, outside the cache (an input or output file).
    pub(crate) fn file(what: &str, path: &Path, err: &io::Error) -> Self {
        Self::Failed(format!(
            "{what} {}: {}",
            path.display(),
            lowercase_first(&err.to_string())
        ))
    }

    /// A failure writing the command's output.
    pub(crate) fn output(err: &io::Error) -> Self {
        if err.kind() == io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Failed(format!(
                "cannot write the output: {}",
                lowercase_first(&err.to_string())
            ))
        }
    }
}

impl From<hoard::Error> for CliError {
    fn from(err: hoard::Error) -> Self {
        Self::Failed(describe(&err))
    }
}

/// hoard's message, path and operating-system cause on one line:
/// `cannot open cache directory: /c: permission denied (os error 13)`; a lock held by
/// another process (hoard-evict's bounded waits gave up) as
/// `busy: /c/state/cleanup.lock is held by another process`.
pub(crate) fn describe(err: &hoard::Error) -> String {
    if err.kind() == hoard::ErrorKind::Busy {
        let lock = err
            .path()
            .map_or_else(|| err.message().to_owned(), |p| p.display().to_string());
        let lock = lock
            .strip_suffix(" is held by another process")
            .unwrap_or(&lock);
        return format!("busy: {lock} is held by another process");
    }
    let mut line = err.to_string();
    if let Some(cause) = std::error::Error::source(err) {
        line.push_str(": ");
        line.push_str(&lowercase_first(&cause.to_string()));
    }
    line
}

/// `Permission denied` → `permission denied`: house style for messages, applied to the
/// operating system's too.
pub(crate) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `text` made safe to print as one line: control characters (a newline in a path or a key)
/// are escaped, so an error is always exactly one line.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_lowercase_line_with_their_cause() {
        let err = hoard::Error::io(
            "cannot open cache directory",
            "/c",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(
            describe(&err),
            "cannot open cache directory: /c: permission denied"
        );
        assert_eq!(one_line("a\nb\tc"), "a\\nb\\tc");
        let busy = hoard::Error::new(
            hoard::ErrorKind::Busy,
            "the \"cleanup\" lock is held by another process",
        );
        assert_eq!(
            describe(&busy),
            "busy: the \"cleanup\" lock is held by another process"
        );
        assert!(matches!(
            CliError::hoard("cleanup failed", &busy.with_path("/c/state/cleanup.lock")),
            CliError::Failed(m) if m == "busy: /c/state/cleanup.lock is held by another process"
        ));
        assert!(matches!(
            CliError::output(&io::Error::from(io::ErrorKind::BrokenPipe)),
            CliError::BrokenPipe
        ));
        assert_eq!(
            CliError::hoard("cannot store key \"k\"", &err).to_string(),
            "cannot store key \"k\": cannot open cache directory: /c: permission denied"
        );
    }
}
