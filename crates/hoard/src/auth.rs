//! Authenticated caches: the key file behind `auth-key-file` and
//! [`CacheBuilder::auth_key_file`](crate::CacheBuilder::auth_key_file).
//!
//! The format and the checks are documented on [`read_auth_key_file`].

use std::fs::OpenOptions;
use std::io::Read;
#[cfg(unix)]
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use hoard_core::frame::{MAC_KEY_LEN, MacKeys};
use hoard_core::{Error, ErrorKind, Result};

/// No real key file comes close: one key is 65 bytes.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads the MAC keys of an authenticated cache from the key file at `path`: what
/// `auth-key-file` and [`CacheBuilder::auth_key_file`](crate::CacheBuilder::auth_key_file)
/// read. [`ErrorKind::Config`] for a missing, empty or malformed file, naming the path (and
/// the line), [`ErrorKind::Insecure`] for a file another user owns or that its group or
/// others can read or write.
///
/// # Format
/// UTF-8 text, one key per line: 64 hexadecimal digits (a 32-byte key), upper or lower
/// case; blank lines and lines starting with `#` (after leading spaces) are ignored;
/// surrounding spaces are trimmed. Several keys are a rotation: every key is accepted, the
/// first one signs. A new key is generated with, for example,
/// `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'`.
///
/// The file must be a regular file owned by the current user that its group and others can
/// neither read nor write (mode `0600` or stricter): the configuration file's ownership check,
/// and a stricter mode, since whoever reads the key can forge entries. Errors name the file
/// and the line, never a key or any part of a line.
pub fn read_auth_key_file(path: impl AsRef<Path>) -> Result<MacKeys> {
    let path = path.as_ref();
    let mut options = OpenOptions::new();
    options.read(true);
    // A FIFO planted at the path must not block the caller.
    #[cfg(unix)]
    options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    let file = options.open(path).map_err(|e| {
        let message = if e.kind() == std::io::ErrorKind::NotFound {
            "auth key file not found"
        } else {
            "cannot open auth key file"
        };
        Error::new(ErrorKind::Config, message)
            .with_path(path)
            .with_source(e)
    })?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("cannot inspect auth key file", path, e))?;
    if !meta.file_type().is_file() {
        return Err(
            Error::new(ErrorKind::Config, "auth key path is not a regular file").with_path(path),
        );
    }
    #[cfg(unix)]
    check_private(path, &meta)?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "auth key file is {} bytes, above the {MAX_KEY_FILE_BYTES}-byte limit",
                meta.len()
            ),
        )
        .with_path(path));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("cannot read auth key file", path, e))?;
    parse_keys(&bytes).map_err(|why| Error::new(ErrorKind::Config, why).with_path(path))
}

/// The keys in the text of a key file; the error names the line, never its content.
fn parse_keys(bytes: &[u8]) -> std::result::Result<MacKeys, String> {
    let mut keys = Vec::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let number = n + 1;
        if line.len() != 2 * MAC_KEY_LEN {
            return Err(format!(
                "auth key file line {number} holds {} characters, not a key of 64 hex digits \
                 (32 bytes)",
                line.len()
            ));
        }
        let mut key = [0u8; MAC_KEY_LEN];
        for (i, pair) in line.chunks_exact(2).enumerate() {
            match (hex(pair[0]), hex(pair[1])) {
                (Some(hi), Some(lo)) => key[i] = hi << 4 | lo,
                _ => {
                    return Err(format!(
                        "auth key file line {number} is not a key of 64 hex digits: it holds a \
                         character other than 0-9, a-f, A-F"
                    ));
                }
            }
        }
        keys.push(key);
    }
    MacKeys::new(keys).map_err(|_| {
        "auth key file holds no key: expected one line of 64 hex digits (32 bytes)".to_owned()
    })
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The key file must be ours, and nobody else may read or write it.
#[cfg(unix)]
fn check_private(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::new(
            ErrorKind::Insecure,
            format!(
                "refusing an auth key file owned by another user (uid {}, not {me}): whoever \
                 owns it can forge cache entries",
                meta.uid()
            ),
        )
        .with_path(path));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::Insecure,
            format!(
                "refusing an auth key file that its group or others can read or write (mode \
                 {mode:04o}); fix it with `chmod 600`"
            ),
        )
        .with_path(path));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_keys;

    const A: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";

    #[test]
    fn comments_blank_lines_and_rotation() {
        let text = format!(
            "# signing key first\n\n  {A}  \n# old\n{}\n",
            "0".repeat(64)
        );
        let keys = parse_keys(text.as_bytes()).expect("two keys");
        assert_eq!(keys.len(), 2);
        let mut first = [0u8; 32];
        for (i, b) in first.iter_mut().enumerate() {
            *b = ((i % 16) as u8) * 0x11;
        }
        assert_eq!(
            keys.signing_key_id(),
            hoard_core::frame::MacKeys::key_id_of(&first)
        );
    }

    #[test]
    fn bad_lines_are_named_and_never_echoed() {
        let short = format!("# c\n{}\n", &A[..63]);
        let why = parse_keys(short.as_bytes()).expect_err("short");
        assert!(why.contains("line 2") && why.contains("63"), "{why}");
        assert!(!why.contains(&A[..20]), "{why}");
        let bad = A.replace('e', "g");
        let why = parse_keys(bad.as_bytes()).expect_err("not hex");
        assert!(why.contains("line 1") && !why.contains("0011"), "{why}");
        let why = parse_keys(b"# only comments\n\n").expect_err("empty");
        assert!(why.contains("no key"), "{why}");
    }
}
