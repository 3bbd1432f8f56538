//! On-disk identities of key hashers and codecs.
//!
//! Every frame records which hasher made its key and which codec encoded its payload, as a
//! `u16`. The values below are part of the entry format: they are never changed and never
//! reused. Values `0x8000..=0xFFFF` are reserved for third-party plugins, which pick one and
//! publish it; `0` is never valid.
//!
//! | value | hasher | codec |
//! |---:|---|---|
//! | 0 | (invalid) | (invalid) |
//! | 1 | SHA-256 | identity |
//! | 2 | BLAKE3 | zstd |
//! | 3 | | lz4 (block, `lz4_flex`) |
//! | 0x8000-0xFFFF | plugin | plugin |
//!
//! Plugin ids are claimed first come, first served, by a pull request that adds a row here
//! (and to the guide's table, `hoard::guide`); a claimed id is never given to anything else.
//! Two caches that give one id to two formats read each other's entries as undecodable (the
//! facade's `build` refuses a plugin that claims a built-in id).
//!
//! | plugin id | kind | plugin | status |
//! |---:|---|---|---|
//! | 0x8000-0x81FF | hasher, codec | this repository's tests | never ship them |
//! | 0x8200-0xFFEF | hasher, codec | (free) | claim by pull request |
//! | 0xFFF0 | codec | `Reverse`, the plugin guide's example | never ship it |
//! | 0xFFF1-0xFFFF | hasher, codec | (reserved) | examples of this repository |

use std::fmt;

/// The first value of the range reserved for third-party plugins.
pub const PLUGIN_RANGE_START: u16 = 0x8000;

/// A value of the plugin range `0x8000..=0xFFFF`, the payload of [`HasherId::Plugin`] and
/// [`CodecId::Plugin`]. Only [`HasherId::plugin`], [`CodecId::plugin`] and the `from_u16`
/// readers make one, so a plugin id outside the range cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PluginId(u16);

impl PluginId {
    /// The id for `value`; `None` unless it lies in `0x8000..=0xFFFF`.
    pub const fn new(value: u16) -> Option<Self> {
        if value >= PLUGIN_RANGE_START {
            Some(Self(value))
        } else {
            None
        }
    }

    /// The value recorded on disk.
    pub const fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Display for PluginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// Identity of a [`KeyHasher`](crate::KeyHasher), as recorded in every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum HasherId {
    /// SHA-256 (FIPS 180-4), value 1.
    Sha256,
    /// BLAKE3 with a 32-byte output, value 2.
    Blake3,
    /// A third-party hasher with a value in `0x8000..=0xFFFF`; build it with
    /// [`HasherId::plugin`].
    Plugin(PluginId),
}

impl HasherId {
    /// The value recorded on disk.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Sha256 => 1,
            Self::Blake3 => 2,
            Self::Plugin(v) => v.value(),
        }
    }

    /// The id for an on-disk value, or `None` for values that name nothing (`0`, or a
    /// built-in value this version does not know).
    pub const fn from_u16(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::Sha256),
            2 => Some(Self::Blake3),
            v if v >= PLUGIN_RANGE_START => Some(Self::Plugin(PluginId(v))),
            _ => None,
        }
    }

    /// A plugin id; `None` unless `value` lies in the reserved range `0x8000..=0xFFFF`.
    pub const fn plugin(value: u16) -> Option<Self> {
        match PluginId::new(value) {
            Some(id) => Some(Self::Plugin(id)),
            None => None,
        }
    }

    /// A lowercase name for logs and tools (`sha256`, `blake3`, `plugin-0x8001`).
    pub fn name(self) -> String {
        match self {
            Self::Sha256 => "sha256".to_owned(),
            Self::Blake3 => "blake3".to_owned(),
            Self::Plugin(v) => format!("plugin-{v}"),
        }
    }
}

impl fmt::Display for HasherId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Identity of a [`Codec`](crate::Codec), as recorded in every frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CodecId {
    /// Bytes stored as they are, value 1.
    Identity,
    /// A single zstd frame, value 2.
    Zstd,
    /// An LZ4 block (as `lz4_flex::block` writes it, without a size prefix), value 3.
    Lz4,
    /// A third-party codec with a value in `0x8000..=0xFFFF`; build it with
    /// [`CodecId::plugin`].
    Plugin(PluginId),
}

impl CodecId {
    /// Every built-in (non-plugin) codec id, in value order.
    pub const BUILT_IN: [CodecId; 3] = [Self::Identity, Self::Zstd, Self::Lz4];

    /// The value recorded on disk.
    pub const fn to_u16(self) -> u16 {
        match self {
            Self::Identity => 1,
            Self::Zstd => 2,
            Self::Lz4 => 3,
            Self::Plugin(v) => v.value(),
        }
    }

    /// The id for an on-disk value, or `None` for values that name nothing.
    pub const fn from_u16(value: u16) -> Option<Self> {
        match value {
            1 => Some(Self::Identity),
            2 => Some(Self::Zstd),
            3 => Some(Self::Lz4),
            v if v >= PLUGIN_RANGE_START => Some(Self::Plugin(PluginId(v))),
            _ => None,
        }
    }

    /// A plugin id; `None` unless `value` lies in the reserved range `0x8000..=0xFFFF`.
    pub const fn plugin(value: u16) -> Option<Self> {
        match PluginId::new(value) {
            Some(id) => Some(Self::Plugin(id)),
            None => None,
        }
    }

    /// A lowercase name for logs and tools (`identity`, `zstd`, `lz4`, `plugin-0x8001`).
    pub fn name(self) -> String {
        match self {
            Self::Identity => "identity".to_owned(),
            Self::Zstd => "zstd".to_owned(),
            Self::Lz4 => "lz4".to_owned(),
            Self::Plugin(v) => format!("plugin-{v}"),
        }
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These values are the entry format: this test fails if any of them moves.
    #[test]
    fn on_disk_values_are_pinned() {
        assert_eq!(HasherId::Sha256.to_u16(), 1);
        assert_eq!(HasherId::Blake3.to_u16(), 2);
        assert_eq!(CodecId::Identity.to_u16(), 1);
        assert_eq!(CodecId::Zstd.to_u16(), 2);
        assert_eq!(CodecId::Lz4.to_u16(), 3);
        assert_eq!(HasherId::from_u16(0), None);
        assert_eq!(CodecId::from_u16(0), None);
        assert_eq!(CodecId::from_u16(4), None);
        assert_eq!(HasherId::from_u16(3), None);
        assert_eq!(CodecId::plugin(0x7fff), None);
        assert_eq!(HasherId::plugin(0x8000).map(HasherId::to_u16), Some(0x8000));
    }

    #[test]
    fn every_value_round_trips() {
        for v in 0..=u16::MAX {
            if let Some(id) = HasherId::from_u16(v) {
                assert_eq!(id.to_u16(), v);
            }
            if let Some(id) = CodecId::from_u16(v) {
                assert_eq!(id.to_u16(), v);
            }
        }
    }
}
