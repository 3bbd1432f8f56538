//! [`Mapped`]: the guard [`Cache::get_mapped`](crate::Cache::get_mapped) returns, a verified
//! value that is either a memory map of a stored entry or an owned buffer.

use std::fmt;
use std::ops::Deref;

use hoard_fs::Mapping;

/// Entries (whole frames) of at least this many bytes, values of more than 1 MiB, are
/// memory-mapped by [`Cache::get_mapped`](crate::Cache::get_mapped) when they may be;
/// smaller ones are read. Chosen by measurement (ARCHITECTURE.md, "Zero-copy reads"): up to
/// 1 MiB, setting up, populating and tearing down a mapping costs as much as reading into a
/// fresh buffer or more; from 2 MiB on a mapping costs half as much.
pub(crate) const MAP_FROM: u64 = (1 << 20) + hoard_core::frame::PAGE_ALIGNED_OFFSET as u64 + 1;

/// A verified value from [`Cache::get_mapped`](crate::Cache::get_mapped): derefs to the
/// value's bytes.
///
/// A stored (identity) entry of a private cache is served from a read-only memory map of
/// its file, without copying it ([`is_mapped`](Self::is_mapped)); anything else (a
/// compressed entry, a small one, an entry of a group-shared cache or of another store) is
/// an owned buffer inside the same guard. Either way the entry's checksum, key and size cap
/// were verified before the guard was made, and its bytes never change while it lives: a
/// put or a removal of the same key replaces the file by renaming a new one over its name,
/// which leaves the mapped one as it was.
pub struct Mapped {
    bytes: Bytes,
}

enum Bytes {
    Owned(Vec<u8>),
    Map { map: Mapping, offset: usize },
}

impl Mapped {
    pub(crate) fn owned(value: Vec<u8>) -> Self {
        Self {
            bytes: Bytes::Owned(value),
        }
    }

    /// The payload of `map` from `offset` on: a verified identity frame's value.
    pub(crate) fn from_map(map: Mapping, offset: usize) -> Self {
        Self {
            bytes: Bytes::Map { map, offset },
        }
    }

    /// Whether the bytes are a memory map of the entry's file (rather than an owned
    /// buffer).
    pub fn is_mapped(&self) -> bool {
        matches!(self.bytes, Bytes::Map { .. })
    }

    /// The value as an owned buffer: taken as it is when it is one, copied out of the map
    /// otherwise.
    pub fn into_vec(self) -> Vec<u8> {
        match self.bytes {
            Bytes::Owned(value) => value,
            Bytes::Map { map, offset } => map[offset..].to_vec(),
        }
    }
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Owned(value) => value,
            Bytes::Map { map, offset } => &map[*offset..],
        }
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl fmt::Debug for Mapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mapped")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}
