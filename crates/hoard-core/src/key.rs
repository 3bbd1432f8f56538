//! Keys, digests and namespaces: how an entry is named.

use std::fmt;

use crate::{Error, ErrorKind, HasherId, Result};

/// Length in bytes of every key digest.
pub const DIGEST_LEN: usize = 32;

/// A 32-byte key digest, as produced by a [`KeyHasher`](crate::KeyHasher).
///
/// Stores address entries by `(namespace, digest)`; the frame records the full digest so an
/// entry copied or renamed under another key's name is detected on read.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; DIGEST_LEN]);

impl Digest {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw digest bytes.
    pub const fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// Lowercase hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(DIGEST_LEN * 2);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s
    }

    /// Parses 64 hexadecimal characters (either case).
    pub fn from_hex(text: &str) -> Result<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                b'A'..=b'F' => Some(c - b'A' + 10),
                _ => None,
            }
        }
        let bytes = text.as_bytes();
        let invalid = || {
            Error::new(
                ErrorKind::InvalidInput,
                format!("digest must be 64 hexadecimal characters, got {text:?}"),
            )
        };
        if bytes.len() != DIGEST_LEN * 2 {
            return Err(invalid());
        }
        let mut out = [0u8; DIGEST_LEN];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = nibble(pair[0]).ok_or_else(invalid)?;
            let lo = nibble(pair[1]).ok_or_else(invalid)?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Self(out))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A cache key: the digest of the caller's inputs and the hasher that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    hasher: HasherId,
    digest: Digest,
}

impl Key {
    /// A key made by `hasher` with this `digest`.
    pub const fn new(hasher: HasherId, digest: Digest) -> Self {
        Self { hasher, digest }
    }

    /// The hasher that produced the digest.
    pub const fn hasher(&self) -> HasherId {
        self.hasher
    }

    /// The digest.
    pub const fn digest(&self) -> &Digest {
        &self.digest
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.hasher, self.digest)
    }
}

/// Longest accepted namespace, in bytes.
pub const NAMESPACE_MAX_LEN: usize = 100;

/// A validated namespace: 1 to 100 characters of `[A-Za-z0-9._-]`, not starting with `.`.
///
/// Namespaces separate entries of different producers (wasmtime's `<compiler>-<version>`).
/// They become directory names, so the alphabet is fixed: no namespace can name a path
/// outside the cache root, collide with `.` / `..`, or look like one of hoard's hidden
/// temporary files. Arbitrary labels are hashed into a valid namespace by the facade.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(Box<str>);

impl Namespace {
    /// Validates `name`; the error names the offending character or length.
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |why: String| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid namespace {name:?}: {why}"),
            )
        };
        if name.is_empty() {
            return Err(invalid("it is empty".to_owned()));
        }
        if name.len() > NAMESPACE_MAX_LEN {
            return Err(invalid(format!(
                "it is {} bytes long, the limit is {NAMESPACE_MAX_LEN}",
                name.len()
            )));
        }
        if name.starts_with('.') {
            return Err(invalid("it starts with '.'".to_owned()));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(invalid(format!(
                "{c:?} is not allowed (use letters, digits, '.', '_' and '-')"
            )));
        }
        Ok(Self(name.into()))
    }

    /// The namespace as a string (always a valid directory name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Namespace({:?})", self.0)
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Namespace {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_from_the_fixed_alphabet_only() {
        for ok in [
            "default",
            "cranelift-0.120.0",
            "a",
            "A_b.c-9",
            &"x".repeat(100),
        ] {
            assert_eq!(
                Namespace::new(ok).map(|n| n.as_str().to_owned()).ok(),
                Some(ok.to_owned())
            );
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "../x",
            "a\0b",
            "é",
            " ",
            &"x".repeat(101),
        ] {
            let err = Namespace::new(bad).err();
            assert_eq!(
                err.map(|e| e.kind()),
                Some(ErrorKind::InvalidInput),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn digest_hex_round_trips() {
        let d = Digest::from_bytes(std::array::from_fn(|i| (i * 37) as u8));
        assert_eq!(Digest::from_hex(&d.to_hex()).ok(), Some(d));
        assert_eq!(Digest::from_hex(&d.to_hex().to_uppercase()).ok(), Some(d));
        assert!(Digest::from_hex("00").is_err());
        assert!(Digest::from_hex(&"g".repeat(64)).is_err());
    }
}
