//! [`KeyBuilder`]: the portable, length-prefixed encoding of key fields.

use std::fmt;

use hoard_core::{HashState, HasherId, Key, KeyHasher};

/// Fed raw before anything else, so that hoard keys never share a hash input with some other
/// use of the same hash function; the version lets a future encoding coexist.
const PREFIX: &[u8] = b"hoard-key\0v1\0";

const TAG_BYTES: u8 = 1;
const TAG_STR: u8 = 2;
const TAG_U64: u8 = 3;
const TAG_I64: u8 = 4;
const TAG_BOOL: u8 = 5;
/// Never written by a field method: it marks where a [`HashBridge`](crate::HashBridge)
/// switches to unframed bytes, so that no bridged stream equals a builder's stream.
pub(crate) const TAG_RAW_TAIL: u8 = 6;

/// Builds a [`Key`] from typed fields, with an encoding that is the same on every platform,
/// in every Rust version and in every release of hoard.
///
/// # Encoding (part of the on-disk format)
/// The hash input is the 13 bytes `hoard-key\0v1\0`, then the domain as a `str` field, then
/// each field in call order. A field is one tag byte, the payload length as a `u64`
/// little-endian, then the payload:
///
/// | method | tag | payload |
/// |---|---:|---|
/// | [`bytes`](Self::bytes) | 1 | the bytes |
/// | [`str`](Self::str) | 2 | the UTF-8 bytes |
/// | [`u64`](Self::u64) | 3 | 8 bytes, little-endian |
/// | [`i64`](Self::i64) | 4 | 8 bytes, little-endian two's complement |
/// | [`bool`](Self::bool) | 5 | 1 byte, `0` or `1` |
///
/// Keys are stored on disk by digest, so changing any of this orphans every existing entry;
/// a test pins the digest of a fixed sequence. The length prefix makes field boundaries part
/// of the input (`"ab", "c"` and `"a", "bc"` differ), and the tag keeps a `str` apart from
/// `bytes` of the same content.
///
/// ```
/// use hoard_key::{KeyBuilder, Sha256};
///
/// // Hash the fields every entry shares once, then fork per entry.
/// let mut base = KeyBuilder::new(&Sha256, "compiled-module");
/// base.str("cranelift").u64(0x0120_0000);
///
/// let mut a = base.fork();
/// a.bytes(b"module a");
/// base.bytes(b"module b");
/// assert_ne!(a.finish(), base.finish());
/// ```
pub struct KeyBuilder {
    hasher: HasherId,
    state: Box<dyn HashState>,
}

impl KeyBuilder {
    /// Starts a key hashed by `hasher`, separated by `domain` from keys of other domains.
    ///
    /// Use one domain per kind of cached artifact, so that two producers that happen to feed
    /// the same fields cannot collide.
    pub fn new(hasher: &dyn KeyHasher, domain: &str) -> Self {
        let mut state = hasher.begin();
        state.update(PREFIX);
        let mut builder = Self {
            hasher: hasher.id(),
            state,
        };
        builder.str(domain);
        builder
    }

    fn field(&mut self, tag: u8, payload: &[u8]) -> &mut Self {
        let mut head = [0u8; 9];
        head[0] = tag;
        head[1..].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        self.state.update(&head);
        self.state.update(payload);
        self
    }

    /// Feeds a byte-string field (tag 1).
    pub fn bytes(&mut self, value: &[u8]) -> &mut Self {
        self.field(TAG_BYTES, value)
    }

    /// Feeds a string field (tag 2); never equal to [`bytes`](Self::bytes) of the same
    /// content.
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.field(TAG_STR, value.as_bytes())
    }

    /// Feeds an unsigned integer field (tag 3).
    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.field(TAG_U64, &value.to_le_bytes())
    }

    /// Feeds a signed integer field (tag 4).
    pub fn i64(&mut self, value: i64) -> &mut Self {
        self.field(TAG_I64, &value.to_le_bytes())
    }

    /// Feeds a boolean field (tag 5).
    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.field(TAG_BOOL, &[u8::from(value)])
    }

    /// An independent copy: it has been fed what `self` has so far, and nothing either is
    /// fed afterwards. Hash a shared prefix once, then fork per entry.
    pub fn fork(&self) -> Self {
        Self {
            hasher: self.hasher,
            state: self.state.fork(),
        }
    }

    /// The hasher this key will be recorded with.
    pub fn hasher(&self) -> HasherId {
        self.hasher
    }

    /// The key: the digest of everything fed, tagged with the hasher's id.
    pub fn finish(self) -> Key {
        Key::new(self.hasher, self.state.finish())
    }

    /// Hands the state to a [`HashBridge`](crate::HashBridge) after marking the switch to
    /// unframed bytes.
    pub(crate) fn into_raw_tail(mut self) -> (HasherId, Box<dyn HashState>) {
        self.state.update(&[TAG_RAW_TAIL]);
        (self.hasher, self.state)
    }
}

impl fmt::Debug for KeyBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyBuilder")
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}
