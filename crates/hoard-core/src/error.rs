//! The one error type of hoard: a semantic [`ErrorKind`], a lowercase message that names the
//! path or key involved, and the underlying cause kept as [`std::error::Error::source`].

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Shorthand for results whose error is hoard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in terms a caller can act on.
///
/// The facade turns every kind into a counted, logged miss; lower crates return it so that
/// tools such as the `hoard` command can report it precisely.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system or network I/O failure.
    Io,
    /// Stored bytes failed verification: bad magic, checksum, length, key or codec data.
    Corrupt,
    /// Valid data this build cannot handle: a newer frame version, or a codec or hasher that
    /// is not compiled in.
    Unsupported,
    /// An entry larger than the configured maximum entry size.
    TooLarge,
    /// A caller-supplied value is not acceptable (a namespace with a `/`, say).
    InvalidInput,
    /// A cache root or configuration file that others could tamper with, or a symlink where
    /// hoard requires a real file or directory.
    Insecure,
    /// A configuration value that is missing, malformed or out of range.
    Config,
    /// The store does not offer this operation (listing a key-value backend, for example).
    NotSupportedByStore,
    /// Another process holds a lock the operation needs, and did not let go within the
    /// operation's bound; the path, when known, is the lock's.
    Busy,
    /// An intact entry that a reader holding authentication keys refuses: it carries no MAC,
    /// a MAC under a key the reader does not accept, or a tag that does not verify (see
    /// [`frame::MacKeys`](crate::frame::MacKeys)).
    Unauthenticated,
}

impl ErrorKind {
    /// A short lowercase name for the kind, as used in logs and counters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "i/o error",
            Self::Corrupt => "corrupt entry",
            Self::Unsupported => "unsupported entry",
            Self::TooLarge => "entry too large",
            Self::InvalidInput => "invalid input",
            Self::Insecure => "insecure location",
            Self::Config => "configuration error",
            Self::NotSupportedByStore => "not supported by this store",
            Self::Busy => "busy",
            Self::Unauthenticated => "unauthenticated entry",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// hoard's error: a kind, a message naming what was involved, an optional path and source.
///
/// `Display` prints the message, then the path if there is one (`cannot open entry: /c/v1/..`).
/// The cause is available through [`std::error::Error::source`].
#[derive(thiserror::Error)]
#[error("{message}{}", PathSuffix(.path))]
pub struct Error {
    kind: ErrorKind,
    message: Cow<'static, str>,
    path: Option<PathBuf>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// The `: <path>` an [`Error`]'s message ends with when it names a path.
struct PathSuffix<'a>(&'a Option<PathBuf>);

impl fmt::Display for PathSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(path) => write!(f, ": {}", path.display()),
            None => Ok(()),
        }
    }
}

impl Error {
    /// A new error of `kind` with a lowercase message without a trailing period.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            message: message.into(),
            path: None,
            source: None,
        }
    }

    /// Shorthand for an [`ErrorKind::Corrupt`] error.
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }

    /// An [`ErrorKind::Io`] error (or a more precise kind, see below) for an operation on
    /// `path`. `ELOOP`, from a symlink met where hoard opens with `O_NOFOLLOW`, becomes
    /// [`ErrorKind::Insecure`].
    pub fn io(
        message: impl Into<Cow<'static, str>>,
        path: impl AsRef<Path>,
        err: io::Error,
    ) -> Self {
        let kind = if err.raw_os_error() == Some(ELOOP) {
            ErrorKind::Insecure
        } else {
            ErrorKind::Io
        };
        Self::new(kind, message).with_path(path).with_source(err)
    }

    /// Attaches the path the error is about.
    #[must_use]
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without path or source.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The path the error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The I/O error behind this one, if the direct source is one.
    pub fn io_source(&self) -> Option<&io::Error> {
        self.source
            .as_ref()
            .and_then(|s| s.downcast_ref::<io::Error>())
    }
}

/// `ELOOP` on Linux and the BSDs alike is not exposed by `std::io::ErrorKind` on stable.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ELOOP: i32 = 40;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ELOOP: i32 = 62;

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(path) = &self.path {
            d.field("path", path);
        }
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        let kind = if err.raw_os_error() == Some(ELOOP) {
            ErrorKind::Insecure
        } else {
            ErrorKind::Io
        };
        let message = err.to_string().to_lowercase();
        Self::new(kind, message).with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_path_and_keeps_the_source() {
        let err = Error::io(
            "cannot open entry",
            "/cache/v1/ns/ab/x",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(err.kind(), ErrorKind::Io);
        assert_eq!(err.to_string(), "cannot open entry: /cache/v1/ns/ab/x");
        let source = std::error::Error::source(&err).expect("a source");
        assert!(source.downcast_ref::<io::Error>().is_some());
        assert_eq!(
            err.io_source().map(io::Error::kind),
            Some(io::ErrorKind::PermissionDenied)
        );
    }

    #[test]
    fn without_a_path_or_source_display_is_the_message() {
        let err = Error::corrupt("bad magic in entry k");
        assert_eq!(err.to_string(), "bad magic in entry k");
        assert!(std::error::Error::source(&err).is_none());
        let err = Error::new(ErrorKind::Io, "cannot sync").with_source(Error::corrupt("inner"));
        assert_eq!(err.to_string(), "cannot sync");
        let source = std::error::Error::source(&err).expect("a source");
        assert_eq!(source.to_string(), "inner");
        assert!(source.downcast_ref::<Error>().is_some());
    }

    #[test]
    fn a_symlink_loop_is_insecure() {
        let err = Error::io("cannot open", "/x", io::Error::from_raw_os_error(ELOOP));
        assert_eq!(err.kind(), ErrorKind::Insecure);
    }
}
