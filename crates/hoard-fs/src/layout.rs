//! The on-disk layout of an [`FsStore`](crate::FsStore) and the names that are hoard's own.
//!
//! ```text
//! <root>/CACHEDIR.TAG
//! <root>/v1/<namespace>/<shard>/<digest>
//! <root>/v1/<namespace>/<shard>/.tmp-<digest>-<16 hex digits>
//! <root>/state/<state name>                      sidecar state of the eviction worker
//! <root>/state/.tmp-<state name>-<16 hex digits> a state write in progress
//! <root>/state/<state name>.lock                 an advisory lock file (never removed)
//! ```
//!
//! `<namespace>` is the namespace itself on Linux; on Windows and macOS, whose file systems
//! compare names without case by default, its case-free spelling (every uppercase `X` written
//! `~x`; [`FsStore::entry_path`](crate::FsStore::entry_path) shows it).
//! `<digest>` is the 32-byte key digest in unpadded base64url (43 characters), `<shard>` the
//! digest's first byte in lowercase hex: 256 shards, so a million entries put about 3,900 in
//! a directory, while a small cache does not pay for thousands of nearly empty directories
//! (each costs an inode and a block, and a first put into a shard pays a `mkdir`). Entry
//! names never start with `.`, so temp files, NFS's `.nfs*` files and other hidden names can
//! never be mistaken for entries. Anything that does not match these patterns is foreign and
//! is never touched by hoard.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hoard_core::{DIGEST_LEN, Digest};

/// The format-versioned directory below the root that holds all entries.
pub const LAYOUT_DIR: &str = "v1";
/// Length of an entry file name.
pub const ENTRY_NAME_LEN: usize = 43;
/// Prefix of temp file names.
pub const TEMP_PREFIX: &str = ".tmp-";

/// The file name of an entry: its digest in unpadded base64url.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EntryName {
    digest: Digest,
    text: [u8; ENTRY_NAME_LEN],
    shard: [u8; 2],
}

impl EntryName {
    /// The name of the entry for `digest`.
    pub fn new(digest: &Digest) -> Self {
        let mut text = [0u8; ENTRY_NAME_LEN];
        let written = URL_SAFE_NO_PAD
            .encode_slice(digest.as_bytes(), &mut text)
            .expect("32 bytes encode to exactly 43 base64 characters");
        debug_assert_eq!(written, ENTRY_NAME_LEN);
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let first = digest.as_bytes()[0];
        Self {
            digest: *digest,
            text,
            shard: [HEX[usize::from(first >> 4)], HEX[usize::from(first & 0xf)]],
        }
    }

    /// Parses an entry file name; `None` for anything that is not one.
    pub fn parse(name: &str) -> Option<Self> {
        if name.len() != ENTRY_NAME_LEN {
            return None;
        }
        let mut bytes = [0u8; DIGEST_LEN + 2];
        let n = URL_SAFE_NO_PAD.decode_slice(name, &mut bytes).ok()?;
        if n != DIGEST_LEN {
            return None;
        }
        let mut digest = [0u8; DIGEST_LEN];
        digest.copy_from_slice(&bytes[..DIGEST_LEN]);
        let parsed = Self::new(&Digest::from_bytes(digest));
        // Reject non-canonical spellings (trailing bits set), so one digest has one name.
        (parsed.as_str() == name).then_some(parsed)
    }

    /// The digest this name stands for.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("base64url output is ASCII")
    }

    /// The shard directory: the digest's first byte in lowercase hex (`00` to `ff`).
    pub fn shard(&self) -> &str {
        std::str::from_utf8(&self.shard).expect("hex digits are ASCII")
    }

    /// A temp file name for a put of this entry, made unique by `nonce`.
    pub fn temp_name(&self, nonce: u64) -> String {
        format!("{TEMP_PREFIX}{}-{nonce:016x}", self.as_str())
    }
}

impl std::fmt::Debug for EntryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EntryName({})", self.as_str())
    }
}

/// Whether `name` is a shard directory name: two lowercase hex digits.
pub fn is_shard_name(name: &str) -> bool {
    name.len() == 2
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The entry a temp file name belongs to, if `name` is one of hoard's temp files.
pub fn parse_temp_name(name: &str) -> Option<EntryName> {
    parse_temp(name).map(|(entry, _)| entry)
}

/// The entry a temp file name belongs to and its nonce, if `name` is one of hoard's temp
/// files spelled exactly as [`EntryName::temp_name`] spells them (lowercase hex).
pub fn parse_temp(name: &str) -> Option<(EntryName, u64)> {
    let rest = name.strip_prefix(TEMP_PREFIX)?;
    let (entry, nonce) = rest.split_at_checked(ENTRY_NAME_LEN)?;
    let nonce = nonce.strip_prefix('-')?;
    if nonce.len() != 16
        || !nonce
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let nonce = u64::from_str_radix(nonce, 16).ok()?;
    Some((EntryName::parse(entry)?, nonce))
}

/// The directory below the root that holds sidecar state and lock files.
pub const STATE_DIR: &str = "state";

/// Suffix of lock files in [`STATE_DIR`].
pub const LOCK_SUFFIX: &str = ".lock";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_canonical() {
        let d = Digest::from_bytes(std::array::from_fn(|i| (i * 7 + 3) as u8));
        let n = EntryName::new(&d);
        assert_eq!(n.as_str().len(), ENTRY_NAME_LEN);
        assert!(!n.as_str().starts_with('.'));
        assert_eq!(EntryName::parse(n.as_str()), Some(n));
        assert!(is_shard_name(n.shard()));
        let t = n.temp_name(0xdead_beef);
        assert_eq!(parse_temp_name(&t), Some(n));
        assert_eq!(parse_temp(&t), Some((n, 0xdead_beef)));
        assert_eq!(parse_temp(&t.to_uppercase()), None);
        assert_eq!(EntryName::parse(&t), None);
        // A last character with non-zero trailing bits spells the same bytes non-canonically.
        let mut odd = n.as_str().to_owned();
        let last = odd.pop().expect("non-empty");
        let bumped = if last == 'A' { 'B' } else { 'A' };
        odd.push(bumped);
        if let Some(p) = EntryName::parse(&odd) {
            assert_eq!(p.as_str(), odd);
        }
        for foreign in [
            "",
            ".nfs000001",
            "CACHEDIR.TAG",
            "x",
            &"a".repeat(44),
            ".tmp-x-0",
        ] {
            assert_eq!(EntryName::parse(foreign), None, "{foreign:?}");
            assert_eq!(parse_temp_name(foreign), None, "{foreign:?}");
        }
    }
}
