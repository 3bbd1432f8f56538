//! The entry frame: a self-describing, checksummed envelope around every stored payload.
//!
//! Every store holds frames, so integrity is checked end to end whatever the backend. The
//! fixed header (all integers little-endian) is the same in every format version:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `89 68 6f 61 72 64 0d 0a` (`\x89hoard\r\n`) |
//! | 8 | 2 | format version: `1`, or `2` for a frame that uses a version-2 feature (chunks, a MAC) |
//! | 10 | 2 | payload offset: 96, 4096 for identity payloads of 16 KiB and more, or the end of the extension area (version 2) |
//! | 12 | 2 | hasher id ([`HasherId`]) |
//! | 14 | 2 | codec id ([`CodecId`]) |
//! | 16 | 4 | codec level, signed |
//! | 20 | 4 | flags: `0` in version 1; in version 2 bit 0 [`FLAG_CHUNKED`], bit 1 [`FLAG_MAC`], the rest reserved |
//! | 24 | 8 | decoded (uncompressed) length |
//! | 32 | 8 | payload (stored) length |
//! | 40 | 8 | creation time, milliseconds since the Unix epoch |
//! | 48 | 32 | full key digest |
//! | 80 | 16 | XXH3-128 of bytes `0..80` followed by bytes `96..end` |
//! | 96 | .. | version 2: the extension area, one record per flag set, in bit order |
//! | .. | .. | zero padding up to the payload offset |
//! | offset | payload length | the encoded payload; the frame ends exactly here |
//!
//! # Version 2: chunked frames
//! A frame is written in version 2 only when it uses a version-2 feature; every other frame
//! keeps the exact bytes of version 1, so older hoard builds keep reading it. Today the one
//! feature is chunking: a payload whose decoded length is above [`CHUNK_THRESHOLD`] (and whose
//! codec is not identity) is cut into chunks of [`chunk_len_for`] decoded bytes, each encoded
//! on its own, so that chunks encode and decode on several threads ([`FrameOptions`]). The
//! chunk length depends only on the decoded length, never on the thread count: the same value
//! gives the same bytes on every machine. Its record, at offset 96 when [`FLAG_CHUNKED`] is
//! set:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 96 | 4 | chunk length: decoded bytes of every chunk but the last (at least [`MIN_CHUNK_LEN`]) |
//! | 100 | 4 | chunk count `n`: `ceil(decoded length / chunk length)`, at least 1 |
//! | 104 | 4 × `n` | stored (encoded) length of each chunk, in order; they sum to the payload length |
//!
//! The payload is the chunks' encodings, concatenated; the last chunk decodes to the rest
//! (1 to chunk length bytes). The payload offset is the end of the table: frames written by
//! this build have at most [`MAX_WRITTEN_CHUNKS`] chunks, so their extension area stays
//! within 4096 bytes and [`max_frame_len`] still bounds every frame. A reader accepts any
//! table that fits before the payload offset (a u16, so at most 16,357 chunks).
//!
//! # Version 2: authenticated frames
//! A frame written with signing keys ([`FrameOptions::with_mac_keys`]) is version 2 with
//! [`FLAG_MAC`] set and carries a MAC record of [`MAC_RECORD_LEN`] bytes after the chunk
//! table, or at offset 96 in an unchunked frame:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | r | 2 | algorithm: [`MAC_BLAKE3`] (1), keyed BLAKE3 |
//! | r + 2 | 2 | key id of the signing key ([`MacKeys::key_id_of`]) |
//! | r + 4 | 32 | tag |
//!
//! The tag is keyed BLAKE3 (the 32-byte key, `blake3::keyed_hash` mode) of every byte the
//! checksum covers except the tag itself: bytes `0..80`, `96..r + 4` (the extension area up
//! to the tag, the algorithm and key id included), then everything after the tag (padding and
//! payload). The checksum is computed last and covers the tag, so damage is still corruption
//! and only an intact frame is judged for its MAC. An unchunked authenticated frame has its
//! payload at 132 (96 + 36), or at 4096 for a large identity payload, which stays page
//! aligned.
//!
//! Why keyed BLAKE3 rather than HMAC-SHA-256: BLAKE3's keyed mode is a proper PRF/MAC mode
//! of the hash with a 32-byte key (no nested ipad/opad hashes), it takes one pass over the
//! frame, and on frames of 64 KiB and more it is 3.6× faster: `cargo bench -p hoard-bench
//! --bench pieces -- key/` (keyed BLAKE3 runs the same compression function as plain BLAKE3)
//! measured 6.0 GiB/s against SHA-256's 1.7 GiB/s (a lower bound for HMAC-SHA-256, which
//! hashes twice) at 64 KiB and 1 MiB on this project's quiet 2-core build machine. At 1 KiB
//! SHA-256 (with the CPU's SHA extensions) was ahead, 0.64 µs against 1.12 µs: half a
//! microsecond on a small hit, against hundreds on a large one. That matters because every
//! hit of an authenticated cache hashes its whole frame a second time beside the XXH3
//! checksum. The workspace already builds `blake3` for hoard-key's optional
//! hasher; it stays out of this crate's public API (keys are `[u8; 32]`).
//!
//! Readers: a reader without keys reads an authenticated frame like any other, checking its
//! structure and checksum but not its MAC (it cannot: it has no key), so adding a key to the
//! writers never turns this build's key-less readers' hits into misses (builds from before
//! the MAC skip signed frames as a newer format, left on disk). A reader with keys
//! ([`crate::Decoders::with_options`]) serves only frames whose MAC verifies under one of its
//! accepted keys: a frame without a MAC, with a key id none of its keys has, an algorithm it
//! does not know or a wrong tag is [`ErrorKind::Unauthenticated`] ([`authenticate`]). A
//! version-2 reader that meets a flag bit it does not know reports
//! [`ErrorKind::Unsupported`]: the entry is a miss left on disk, never served without the
//! check the bit asks for.
//!
//! # Reading
//! Reading verifies, in order: what the fixed header alone can tell ([`check_prefix`]: its
//! length, the magic, and, for a format version this build reads, that the payload ends
//! exactly at the end of the bytes, so truncation and appended bytes are caught), then the
//! checksum (whose place and algorithm every format version keeps, so that any damage is
//! corruption), version (a newer one is [`ErrorKind::Unsupported`]), the flags, ids, the
//! extension area (a chunk table must fit before the payload, describe exactly the decoded
//! length and sum to exactly the payload length) and the padding, and, with
//! [`Frame::verify_for`], the key and the size cap. Only then is the payload decoded, into a
//! buffer of exactly the declared length; each chunk into its own slice of it, of exactly its
//! own length. Version-1 frames are read exactly as before.
//!
//! A store that knows a frame's length before reading it (a file's size) can run
//! [`check_prefix`] on the first [`HEADER_LEN`] bytes and refuse a planted file (a sparse
//! gigabyte, say) without reading the rest; [`Frame::parse`] runs the same check first, so
//! the early refusal never turns away a frame the full parse would accept.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{Codec, CodecId, DIGEST_LEN, Digest, Error, ErrorKind, HasherId, Key, Result};

/// The eight bytes every frame starts with.
pub const MAGIC: [u8; 8] = *b"\x89hoard\r\n";
/// The newest format version this build reads; it writes it for frames that use one of its
/// features (chunking, a MAC), and [`FORMAT_VERSION_1`] for every other frame.
pub const FORMAT_VERSION: u16 = 2;
/// The format version of frames that use no version-2 feature.
pub const FORMAT_VERSION_1: u16 = 1;
/// Length of the fixed header fields; the smallest payload offset.
pub const HEADER_LEN: usize = 96;
/// The payload offset of large identity-coded frames, so that a page-aligned memory map of
/// the payload is possible.
pub const PAGE_ALIGNED_OFFSET: usize = 4096;
/// Identity payloads at least this large are page aligned.
pub const PAGE_ALIGN_THRESHOLD: usize = 16 * 1024;

/// Flag bit 0 (version 2): the payload is a sequence of independently encoded chunks,
/// described by the chunk table at offset 96 (see the module docs).
pub const FLAG_CHUNKED: u32 = 1;
/// Flag bit 1 (version 2): the frame carries a MAC record (see the module docs).
pub const FLAG_MAC: u32 = 1 << 1;
/// The former name of [`FLAG_MAC`], from when the bit was only reserved.
#[deprecated(note = "the bit is in use: FLAG_MAC")]
pub const FLAG_MAC_RESERVED: u32 = FLAG_MAC;
/// The flags this build understands.
const KNOWN_FLAGS: u32 = FLAG_CHUNKED | FLAG_MAC;
/// Length of the MAC record: algorithm (u16), key id (u16), 32-byte tag.
pub const MAC_RECORD_LEN: usize = 36;
/// The MAC algorithm id of keyed BLAKE3, the one this build writes and checks.
pub const MAC_BLAKE3: u16 = 1;
/// Length of a MAC key: 32 bytes (256 bits), BLAKE3's key length.
pub const MAC_KEY_LEN: usize = 32;
/// Where the tag lies within the MAC record.
const MAC_TAG_AT: usize = 4;
/// The context a key's id is derived in (`blake3::derive_key`): never the key itself.
const KEY_ID_CONTEXT: &str = "hoard 2026-12-04 frame MAC key id";

/// Frames whose payload decodes to more than this many bytes are chunked (unless their codec
/// is identity): 512 KiB.
pub const CHUNK_THRESHOLD: u64 = 512 * 1024;
/// The smallest chunk length a reader accepts: 4 KiB, so that a tiny chunk length cannot
/// make a declared length mean millions of chunks.
pub const MIN_CHUNK_LEN: u32 = 4096;
/// The most chunks a frame written by this build has: its chunk table (2 KiB) then keeps the
/// extension area within [`PAGE_ALIGNED_OFFSET`].
pub const MAX_WRITTEN_CHUNKS: u64 = 512;
/// Chunk lengths [`chunk_len_for`] chooses lie between these, unless a value is so large
/// that [`MAX_WRITTEN_CHUNKS`] asks for longer chunks.
const CHUNK_LEN_RANGE: (u64, u64) = (256 * 1024, 4 * 1024 * 1024);
/// How many chunks [`chunk_len_for`] aims at: enough for 8 threads, few enough that the
/// compression lost at chunk borders stays small (see ARCHITECTURE.md for the figures).
const CHUNKS_AIMED_AT: u64 = 8;
/// The longest chunk this build writes: 1 GiB, so that a chunk's encoding always fits the
/// table's u32.
const MAX_WRITTEN_CHUNK_LEN: u64 = 1 << 30;
/// Bytes of the chunk table before the stored lengths: chunk length and count.
const CHUNK_TABLE_FIXED: usize = 8;

const CHECKSUM_AT: usize = 80;

/// How much bigger than its input a codec's output may be: `n + n / 128 + 1024`.
///
/// Part of the [`Codec`] contract; zstd, LZ4 and identity all stay well inside it.
pub const fn max_encoded_len(decoded_len: u64) -> u64 {
    decoded_len
        .saturating_add(decoded_len / 128)
        .saturating_add(1024)
}

/// The largest frame that can hold a payload decoding to `max_decoded_len` bytes: stores are
/// asked never to return more than this.
///
/// It bounds chunked frames too: their payload stays within [`max_encoded_len`] of the whole
/// decoded length, and their extension area within [`PAGE_ALIGNED_OFFSET`].
pub const fn max_frame_len(max_decoded_len: u64) -> u64 {
    max_encoded_len(max_decoded_len).saturating_add(PAGE_ALIGNED_OFFSET as u64)
}

/// Where the payload starts for an unchunked frame of `codec` holding `decoded_len` bytes.
pub fn payload_offset_for(codec: CodecId, decoded_len: usize) -> usize {
    if codec == CodecId::Identity && decoded_len >= PAGE_ALIGN_THRESHOLD {
        PAGE_ALIGNED_OFFSET
    } else {
        HEADER_LEN
    }
}

/// The chunk length a frame of `codec` holding `decoded_len` bytes is written with, or `None`
/// when it is not chunked (identity payloads, and payloads of at most [`CHUNK_THRESHOLD`]).
///
/// The rule: an eighth of the decoded length rounded up to a power of two, between 256 KiB
/// and 4 MiB, and long enough for at most [`MAX_WRITTEN_CHUNKS`] chunks. So 1 MiB is four
/// chunks of 256 KiB, 16 MiB eight of 2 MiB, 1 GiB 256 of 4 MiB. It depends on nothing else
/// (not on the thread count), so the same value always gives the same frame.
pub fn chunk_len_for(codec: CodecId, decoded_len: u64) -> Option<u64> {
    if codec == CodecId::Identity || decoded_len <= CHUNK_THRESHOLD {
        return None;
    }
    let (floor, ceiling) = CHUNK_LEN_RANGE;
    let aimed = decoded_len
        .div_ceil(CHUNKS_AIMED_AT)
        .next_power_of_two()
        .clamp(floor, ceiling);
    let fewest = decoded_len.div_ceil(MAX_WRITTEN_CHUNKS).next_power_of_two();
    Some(aimed.max(fewest))
}

/// The MAC keys of an authenticated cache: the keys a reader accepts, the first of which
/// signs what a writer writes (rotation: put the new key first, keep the old one after it
/// until the entries it signed are gone).
///
/// The keys never appear in `Debug` output (only their ids, which every signed frame
/// carries anyway) nor in any error message.
///
/// ```
/// use hoard_core::frame::MacKeys;
///
/// let keys = MacKeys::new([[7u8; 32], [9u8; 32]])?;
/// assert_eq!(keys.signing_key_id(), MacKeys::key_id_of(&[7u8; 32]));
/// assert!(!format!("{keys:?}").contains("7, 7"));
/// # Ok::<(), hoard_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MacKeys {
    // Shared: the options holding them are cloned into every reader.
    keys: Arc<[([u8; MAC_KEY_LEN], u16)]>,
}

impl fmt::Debug for MacKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self
            .keys
            .iter()
            .map(|(_, id)| format!("{id:#06x}"))
            .collect();
        f.debug_struct("MacKeys")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

impl MacKeys {
    /// The accepted keys, in order; the first signs. [`ErrorKind::InvalidInput`] when there
    /// is none.
    pub fn new(keys: impl IntoIterator<Item = [u8; MAC_KEY_LEN]>) -> Result<Self> {
        let keys: Arc<[([u8; MAC_KEY_LEN], u16)]> = keys
            .into_iter()
            .map(|key| {
                let id = Self::key_id_of(&key);
                (key, id)
            })
            .collect();
        if keys.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "an authenticated cache needs at least one MAC key",
            ));
        }
        Ok(Self { keys })
    }

    /// The id a frame signed with `key` records: 16 bits of a BLAKE3 key derivation from
    /// it, so that a reader tries only the keys that can match. Ids are not secret, and two
    /// keys may share one (a reader then tries both).
    pub fn key_id_of(key: &[u8; MAC_KEY_LEN]) -> u16 {
        let derived = blake3::derive_key(KEY_ID_CONTEXT, key);
        u16::from_le_bytes([derived[0], derived[1]])
    }

    /// The id of the signing key (the first).
    pub fn signing_key_id(&self) -> u16 {
        self.keys[0].1
    }

    /// The ids of the accepted keys, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.keys.iter().map(|(_, id)| *id)
    }

    /// How many keys are accepted.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always `false`: a `MacKeys` holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn signing_key(&self) -> &[u8; MAC_KEY_LEN] {
        &self.keys[0].0
    }
}

/// How frames are encoded and decoded: on how many threads, and with which MAC keys.
///
/// The thread count never changes the bytes of a frame, only how fast it is made or read.
/// MAC keys do: a writer with keys signs every frame ([`FLAG_MAC`], version 2), and a reader
/// with keys serves only frames whose MAC verifies (see the module docs). The default is one
/// thread (the caller's; hoard-core starts no thread unless asked) and no keys.
///
/// ```
/// use hoard_core::frame::FrameOptions;
///
/// let options = FrameOptions::new().with_threads(4);
/// assert_eq!(options.threads(), 4);
/// assert_eq!(FrameOptions::new().with_threads(0).threads(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameOptions {
    threads: usize,
    mac_keys: Option<MacKeys>,
}

impl Default for FrameOptions {
    fn default() -> Self {
        Self {
            threads: 1,
            mac_keys: None,
        }
    }
}

impl FrameOptions {
    /// The defaults: one thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// Encode and decode the chunks of a frame on up to `threads` threads, the caller's
    /// included (0 counts as 1). A frame of `n` chunks uses at most `n`; an unchunked frame
    /// only the caller's. The threads are scoped to the call: none outlives it.
    #[must_use]
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// The most threads a frame is encoded or decoded on.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Signs every frame encoded with these options with the first of `keys`, and (in a
    /// [`Decoders`](crate::Decoders) registry) accepts only frames whose MAC verifies under
    /// one of them.
    #[must_use]
    pub fn with_mac_keys(mut self, keys: MacKeys) -> Self {
        self.mac_keys = Some(keys);
        self
    }

    /// The MAC keys, when frames are signed and checked.
    pub fn mac_keys(&self) -> Option<&MacKeys> {
        self.mac_keys.as_ref()
    }
}

/// The chunk table of a chunked (version 2) frame: how its payload is cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunks {
    chunk_len: u32,
    // Shared: headers are cloned into every verified frame and rejection.
    stored: Arc<[u32]>,
}

impl Chunks {
    /// Decoded bytes of every chunk but the last (which holds the rest, 1 to this many).
    pub fn chunk_len(&self) -> u32 {
        self.chunk_len
    }

    /// How many chunks there are.
    pub fn count(&self) -> usize {
        self.stored.len()
    }

    /// The stored (encoded) length of each chunk, in payload order.
    pub fn stored_lens(&self) -> &[u32] {
        &self.stored
    }
}

/// The decoded header of a frame whose structure and checksum were verified.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameHeader {
    /// Format version: 1, or 2 for a frame that uses a version-2 feature.
    pub version: u16,
    /// Offset of the payload from the start of the frame.
    pub payload_offset: usize,
    /// Hasher of the key.
    pub hasher: HasherId,
    /// Codec of the payload.
    pub codec: CodecId,
    /// Codec level the payload was encoded at.
    pub level: i32,
    /// The flag bits (0 in version 1; see [`FLAG_CHUNKED`]).
    pub flags: u32,
    /// Length of the decoded payload.
    pub decoded_len: u64,
    /// Length of the stored (encoded) payload.
    pub payload_len: u64,
    /// Creation time in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The full key digest.
    pub digest: Digest,
    /// The XXH3-128 checksum.
    pub checksum: u128,
    /// The chunk table, for a chunked frame.
    pub chunks: Option<Chunks>,
    /// The MAC record, for an authenticated frame (not yet checked: see [`authenticate`]).
    pub mac: Option<MacRecord>,
}

/// The MAC record of an authenticated frame, as read (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacRecord {
    /// Where the record starts in the frame.
    pub at: usize,
    /// The MAC algorithm ([`MAC_BLAKE3`]).
    pub algorithm: u16,
    /// The id of the key the frame says it was signed with.
    pub key_id: u16,
    /// The tag.
    pub tag: [u8; 32],
}

impl FrameHeader {
    /// The key this frame belongs to.
    pub fn key(&self) -> Key {
        Key::new(self.hasher, self.digest)
    }
}

/// Encodes `data` with `codec` and wraps it in a frame for `key`, on the caller's thread.
///
/// The same as [`encode_with`] with the default [`FrameOptions`]: the bytes are those any
/// thread count gives.
pub fn encode(key: &Key, codec: &dyn Codec, data: &[u8], created_unix_ms: u64) -> Result<Vec<u8>> {
    encode_with(key, codec, data, created_unix_ms, &FrameOptions::default())
}

/// Encodes `data` with `codec` and wraps it in a frame for `key`; a chunked frame's chunks
/// are encoded on up to `options.threads()` threads.
///
/// Fails with [`ErrorKind::InvalidInput`] if an id is outside its valid range or the codec
/// breaks [`max_encoded_len`], with [`ErrorKind::TooLarge`] for a value too large to frame
/// (over 512 GiB) or to allocate room for, and with the codec's error if encoding fails.
pub fn encode_with(
    key: &Key,
    codec: &dyn Codec,
    data: &[u8],
    created_unix_ms: u64,
    options: &FrameOptions,
) -> Result<Vec<u8>> {
    let codec_id = codec.id();
    let mut frame = match chunk_len_for(codec_id, data.len() as u64) {
        None => encode_whole(key, codec, data, created_unix_ms, options)?,
        Some(chunk_len) => encode_chunked(key, codec, data, created_unix_ms, chunk_len, options)?,
    };
    if let Some(keys) = options.mac_keys() {
        sign(&mut frame, keys);
    }
    seal(&mut frame);
    Ok(frame)
}

/// Writes the tag of a frame whose MAC record (algorithm and key id) is in place and whose
/// checksum is still to be computed.
fn sign(frame: &mut [u8], keys: &MacKeys) {
    let offset = usize::from(u16_at(frame, 10));
    // After the chunk table, if any; before padding (a page-aligned identity payload).
    let record_at = if u32_at(frame, 20) & FLAG_CHUNKED != 0 {
        HEADER_LEN + CHUNK_TABLE_FIXED + 4 * u32_at(frame, HEADER_LEN + 4) as usize
    } else {
        HEADER_LEN
    };
    let tag_at = record_at + MAC_TAG_AT;
    let (head, payload) = frame.split_at(offset);
    let tag = mac_of(keys.signing_key(), head, payload, tag_at);
    frame[tag_at..tag_at + 32].copy_from_slice(tag.as_bytes());
}

/// Keyed BLAKE3 of what the tag at `tag_at` covers: the frame `head` followed by `payload`,
/// without the checksum (`80..96`) and the tag itself.
fn mac_of(key: &[u8; MAC_KEY_LEN], head: &[u8], payload: &[u8], tag_at: usize) -> blake3::Hash {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(&head[..CHECKSUM_AT]);
    h.update(&head[HEADER_LEN..tag_at]);
    h.update(&head[tag_at + 32..]);
    h.update(payload);
    h.finalize()
}

/// Checks the MAC of a verified frame against `keys`: `head` is every byte before the payload
/// offset, `payload` the rest (as [`Frame::parse_split`] takes them).
///
/// [`ErrorKind::Unauthenticated`] when the frame has no MAC record, names an algorithm this
/// build does not know or a key id none of `keys` has, or when its tag verifies under none
/// of the accepted keys of that id (compared in constant time). [`ErrorKind::InvalidInput`]
/// when `head` does not end at the header's payload offset. The messages name the key and
/// key ids, never a key.
pub fn authenticate(
    header: &FrameHeader,
    head: &[u8],
    payload: &[u8],
    keys: &MacKeys,
) -> Result<()> {
    let key = header.key();
    let unauthenticated = |why: String| Error::new(ErrorKind::Unauthenticated, why);
    if head.len() != header.payload_offset {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "frame of key {key} was split after {} bytes but its payload starts at offset {}",
                head.len(),
                header.payload_offset
            ),
        ));
    }
    let Some(mac) = &header.mac else {
        return Err(unauthenticated(format!(
            "entry for key {key} carries no MAC and this cache accepts only authenticated entries"
        )));
    };
    if mac.algorithm != MAC_BLAKE3 {
        return Err(unauthenticated(format!(
            "entry for key {key} is signed with MAC algorithm {}, unknown to this build",
            mac.algorithm
        )));
    }
    let tag_at = mac.at + MAC_TAG_AT;
    if tag_at + 32 > head.len() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("MAC record of key {key} lies outside the frame's head"),
        ));
    }
    let mut candidates = keys
        .keys
        .iter()
        .filter(|(_, id)| *id == mac.key_id)
        .peekable();
    if candidates.peek().is_none() {
        return Err(unauthenticated(format!(
            "entry for key {key} is signed with key id {:#06x}, which is not an accepted key",
            mac.key_id
        )));
    }
    let expected = blake3::Hash::from_bytes(mac.tag);
    // `blake3::Hash`'s equality is constant time.
    if candidates.any(|(k, _)| mac_of(k, head, payload, tag_at) == expected) {
        return Ok(());
    }
    Err(unauthenticated(format!(
        "entry for key {key} has a MAC under key id {:#06x} that does not verify",
        mac.key_id
    )))
}

/// A version-1 frame: the payload is one encoding of the whole value.
fn encode_whole(
    key: &Key,
    codec: &dyn Codec,
    data: &[u8],
    created_unix_ms: u64,
    options: &FrameOptions,
) -> Result<Vec<u8>> {
    let codec_id = codec.id();
    let signed = options.mac_keys();
    let offset = match (payload_offset_for(codec_id, data.len()), signed) {
        (HEADER_LEN, Some(_)) => HEADER_LEN + MAC_RECORD_LEN,
        (offset, _) => offset,
    };
    let mut buf = Vec::with_capacity(offset + data.len() / 2 + 64);
    buf.resize(offset, 0);
    codec.encode(data, &mut buf)?;
    if buf.len() < offset {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("codec {codec_id} removed bytes it was asked to append to"),
        ));
    }
    let payload_len = (buf.len() - offset) as u64;
    let decoded_len = data.len() as u64;
    if payload_len > max_encoded_len(decoded_len)
        || (codec_id == CodecId::Identity && payload_len != decoded_len)
    {
        return Err(beyond_contract(codec_id, decoded_len, payload_len));
    }
    let fields = HeaderFields {
        version: if signed.is_some() {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_1
        },
        offset,
        flags: if signed.is_some() { FLAG_MAC } else { 0 },
        decoded_len,
        payload_len,
        created_unix_ms,
    };
    fields.write(&mut buf, key, codec);
    if let Some(keys) = signed {
        write_mac_record(&mut buf, HEADER_LEN, keys);
    }
    Ok(buf)
}

/// Writes the algorithm and key id of the MAC record at `at` (the tag comes last, in
/// [`sign`]).
fn write_mac_record(buf: &mut [u8], at: usize, keys: &MacKeys) {
    buf[at..at + 2].copy_from_slice(&MAC_BLAKE3.to_le_bytes());
    buf[at + 2..at + 4].copy_from_slice(&keys.signing_key_id().to_le_bytes());
}

/// A version-2 chunked frame: the chunk table, then each chunk's encoding.
fn encode_chunked(
    key: &Key,
    codec: &dyn Codec,
    data: &[u8],
    created_unix_ms: u64,
    chunk_len: u64,
    options: &FrameOptions,
) -> Result<Vec<u8>> {
    let codec_id = codec.id();
    let decoded_len = data.len() as u64;
    let too_large = || {
        Error::new(
            ErrorKind::TooLarge,
            format!("a value of {decoded_len} bytes is too large to frame"),
        )
    };
    if chunk_len > MAX_WRITTEN_CHUNK_LEN {
        return Err(too_large());
    }
    let chunk_len = usize::try_from(chunk_len).map_err(|_| too_large())?;
    let count = data.len().div_ceil(chunk_len);
    let table_end = HEADER_LEN + CHUNK_TABLE_FIXED + 4 * count;
    let signed = options.mac_keys();
    let offset = table_end + if signed.is_some() { MAC_RECORD_LEN } else { 0 };
    // What the contract lets the codec write for all chunks: the frame never reallocates.
    // Only the pages written are touched.
    let bound = max_encoded_len(decoded_len).saturating_add(1024 * count as u64);
    let room = usize::try_from(bound).map_err(|_| too_large())?;
    let mut buf = Vec::new();
    reserve(
        &mut buf,
        offset.saturating_add(room),
        "encode a chunked frame",
    )?;
    buf.resize(offset, 0);
    let mut stored = Vec::with_capacity(count);
    let mut append = |buf: &mut Vec<u8>, chunk: &[u8], encoding: Option<&[u8]>| -> Result<()> {
        let start = buf.len();
        match encoding {
            Some(encoding) => buf.extend_from_slice(encoding),
            None => codec.encode(chunk, buf)?,
        }
        let Some(n) = buf.len().checked_sub(start) else {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("codec {codec_id} removed bytes it was asked to append to"),
            ));
        };
        if n as u64 > max_encoded_len(chunk.len() as u64) {
            return Err(beyond_contract(codec_id, chunk.len() as u64, n as u64));
        }
        stored.push(u32::try_from(n).expect("a chunk of at most 1 GiB encodes to less than 4 GiB"));
        Ok(())
    };
    let threads = options.threads().min(count);
    if threads <= 1 {
        for chunk in data.chunks(chunk_len) {
            append(&mut buf, chunk, None)?;
        }
    } else {
        // In waves of two chunks per thread, each appended as soon as its wave is done: the
        // encodings waiting to be appended never hold more than a wave (a put of a large
        // value stays near the value plus its frame).
        let chunks: Vec<&[u8]> = data.chunks(chunk_len).collect();
        for wave in chunks.chunks(2 * threads) {
            let mut encodings = vec![Vec::new(); wave.len()];
            let jobs: Vec<(&[u8], &mut Vec<u8>)> =
                wave.iter().copied().zip(encodings.iter_mut()).collect();
            run_jobs(threads, jobs, &|(chunk, out)| codec.encode(chunk, out))?;
            for (chunk, encoding) in wave.iter().zip(encodings) {
                append(&mut buf, chunk, Some(&encoding))?;
            }
        }
    }
    let payload_len = (buf.len() - offset) as u64;
    if payload_len > max_encoded_len(decoded_len)
        || (codec_id == CodecId::Identity && payload_len != decoded_len)
    {
        return Err(beyond_contract(codec_id, decoded_len, payload_len));
    }
    let fields = HeaderFields {
        version: FORMAT_VERSION,
        offset,
        flags: if signed.is_some() {
            FLAG_CHUNKED | FLAG_MAC
        } else {
            FLAG_CHUNKED
        },
        decoded_len,
        payload_len,
        created_unix_ms,
    };
    fields.write(&mut buf, key, codec);
    if let Some(keys) = signed {
        write_mac_record(&mut buf, table_end, keys);
    }
    let table = &mut buf[HEADER_LEN..table_end];
    table[0..4].copy_from_slice(
        &u32::try_from(chunk_len)
            .expect("chunk lengths are at most 1 GiB")
            .to_le_bytes(),
    );
    table[4..8].copy_from_slice(
        &u32::try_from(count)
            .expect("at most MAX_WRITTEN_CHUNKS chunks")
            .to_le_bytes(),
    );
    for (slot, len) in table[CHUNK_TABLE_FIXED..].chunks_exact_mut(4).zip(&stored) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
    Ok(buf)
}

fn beyond_contract(codec: CodecId, decoded_len: u64, payload_len: u64) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "codec {codec} encoded {decoded_len} bytes into {payload_len}, beyond its contract"
        ),
    )
}

fn reserve(buf: &mut Vec<u8>, additional: usize, what: &str) -> Result<()> {
    buf.try_reserve_exact(additional).map_err(|e| {
        Error::new(
            ErrorKind::TooLarge,
            format!("cannot allocate {additional} bytes to {what}"),
        )
        .with_source(e)
    })
}

/// The header fields that differ between frames of one key and codec.
struct HeaderFields {
    version: u16,
    offset: usize,
    flags: u32,
    decoded_len: u64,
    payload_len: u64,
    created_unix_ms: u64,
}

impl HeaderFields {
    /// Writes the fixed header (all but the checksum) into the first [`HEADER_LEN`] bytes.
    fn write(&self, buf: &mut [u8], key: &Key, codec: &dyn Codec) {
        let offset = u16::try_from(self.offset).expect("payload offsets are at most 4096");
        let h = &mut buf[..HEADER_LEN];
        h[0..8].copy_from_slice(&MAGIC);
        h[8..10].copy_from_slice(&self.version.to_le_bytes());
        h[10..12].copy_from_slice(&offset.to_le_bytes());
        h[12..14].copy_from_slice(&key.hasher().to_u16().to_le_bytes());
        h[14..16].copy_from_slice(&codec.id().to_u16().to_le_bytes());
        h[16..20].copy_from_slice(&codec.level().to_le_bytes());
        h[20..24].copy_from_slice(&self.flags.to_le_bytes());
        h[24..32].copy_from_slice(&self.decoded_len.to_le_bytes());
        h[32..40].copy_from_slice(&self.payload_len.to_le_bytes());
        h[40..48].copy_from_slice(&self.created_unix_ms.to_le_bytes());
        h[48..80].copy_from_slice(key.digest().as_bytes());
    }
}

/// Writes the checksum of a finished frame.
fn seal(buf: &mut [u8]) {
    let sum = checksum(buf);
    buf[CHECKSUM_AT..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
}

fn checksum(frame: &[u8]) -> u128 {
    checksum_parts(frame, &[])
}

/// The checksum of the frame `head` followed by `payload` (`head` holds at least the fixed
/// header); the same value as over the two joined.
fn checksum_parts(head: &[u8], payload: &[u8]) -> u128 {
    let mut h = twox_hash::XxHash3_128::new();
    h.write(&head[..CHECKSUM_AT]);
    h.write(&head[HEADER_LEN..]);
    h.write(payload);
    h.finish_128()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Checks what the first bytes of a frame tell without the rest: that a frame of
/// `frame_len` bytes can hold the fixed header, starts with [`MAGIC`] and, when it claims a
/// format version this build reads, that its payload offset lies past the header and
/// offset + payload length is exactly `frame_len`.
///
/// `head` is the start of the frame: at least [`HEADER_LEN`] bytes of it (more are
/// ignored), fewer only when the frame is that short. `frame_len` is the length of the whole
/// frame, as its store knows it (a file's size).
///
/// A failure is [`ErrorKind::Corrupt`]. The version is not judged here: a frame that claims
/// a newer version passes (its layout past the frozen fields is unknown to this build), and
/// only its checksum, which needs the whole frame, can tell damage from a newer format.
/// [`Frame::parse`] runs this check first, so whatever it refuses the parse refuses too.
pub fn check_prefix(head: &[u8], frame_len: u64) -> Result<()> {
    if frame_len < HEADER_LEN as u64 {
        return Err(Error::corrupt(format!(
            "frame is {frame_len} bytes, shorter than its {HEADER_LEN}-byte header"
        )));
    }
    if head.len() < HEADER_LEN {
        return Err(Error::corrupt(format!(
            "only {} bytes of a {frame_len}-byte frame could be read, fewer than its \
             {HEADER_LEN}-byte header",
            head.len()
        )));
    }
    if head[..8] != MAGIC {
        return Err(Error::corrupt("frame does not start with the hoard magic"));
    }
    if u16_at(head, 8) <= FORMAT_VERSION {
        declared_lengths(head, frame_len)?;
    }
    Ok(())
}

/// Where the payload of the frame starting with `head` begins, for a store that reads the
/// payload into a buffer of its own ([`StoredFrame::split`](crate::StoredFrame::split)):
/// the declared payload offset when `head` holds the fixed header of a format version this
/// build reads, `None` otherwise (too short, or a newer version whose layout is unknown).
/// Nothing is verified: run [`check_prefix`] first to know that the offset lies past the
/// header and that the payload ends exactly at the end of the frame.
pub fn payload_offset_of(head: &[u8]) -> Option<usize> {
    if head.len() < HEADER_LEN || u16_at(head, 8) > FORMAT_VERSION {
        return None;
    }
    Some(usize::from(u16_at(head, 10)))
}

/// The payload offset and length a frame of a version this build reads declares, checked
/// against the header and the frame's length.
fn declared_lengths(head: &[u8], frame_len: u64) -> Result<(usize, u64)> {
    let offset = usize::from(u16_at(head, 10));
    if offset < HEADER_LEN {
        return Err(Error::corrupt(format!(
            "frame payload offset {offset} lies inside its header"
        )));
    }
    let payload_len = u64_at(head, 32);
    if frame_len.checked_sub(offset as u64) != Some(payload_len) {
        return Err(Error::corrupt(format!(
            "frame is {frame_len} bytes but declares {} (payload offset {offset} + length {payload_len}): truncated or extended",
            (offset as u64).saturating_add(payload_len)
        )));
    }
    Ok((offset, payload_len))
}

/// A frame whose structure and checksum were verified, borrowing its bytes.
#[derive(Clone, Debug)]
pub struct Frame<'a> {
    header: FrameHeader,
    payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Parses and verifies the structure and checksum of `bytes` (see the module docs).
    ///
    /// Errors are [`ErrorKind::Corrupt`], or [`ErrorKind::Unsupported`] for a frame of a
    /// newer format version, with a flag or an id this build does not know. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let header = parse_header(bytes, None)?;
        Ok(Self {
            payload: &bytes[header.payload_offset..],
            header,
        })
    }

    /// [`parse`](Self::parse) for a frame held in two buffers: `head`, every byte before
    /// the payload offset (the fixed header, the extension area and the padding), and
    /// `payload`, the rest. The checks and the checksum are exactly those of the frame
    /// `head` followed by `payload`; this is how a stored payload is verified in the buffer
    /// it was read into, which then becomes the caller's value without a copy.
    ///
    /// A `head` that does not end exactly at the payload offset its (intact) header declares
    /// is [`ErrorKind::InvalidInput`]: the store split the frame wrongly, which says nothing
    /// about the entry.
    pub fn parse_split(head: &[u8], payload: &'a [u8]) -> Result<Self> {
        let header = parse_header(head, Some(payload))?;
        Ok(Self { header, payload })
    }

    /// The verified header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The encoded payload.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Checks that the frame belongs to `key` and declares at most `max_decoded_len` decoded
    /// bytes; returns the header.
    ///
    /// A frame of another key (an entry copied or renamed under this name) is
    /// [`ErrorKind::Corrupt`]; an oversized declaration is [`ErrorKind::TooLarge`].
    pub fn verify_for(&self, key: &Key, max_decoded_len: u64) -> Result<FrameHeader> {
        let h = &self.header;
        if h.hasher != key.hasher() || h.digest != *key.digest() {
            return Err(Error::corrupt(format!(
                "entry holds key {}:{} but was read as {key}",
                h.hasher, h.digest
            )));
        }
        if h.decoded_len > max_decoded_len {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "entry for key {key} declares {} decoded bytes, above the {max_decoded_len}-byte limit",
                    h.decoded_len
                ),
            ));
        }
        Ok(h.clone())
    }

    /// Decodes the payload with `codec` into a buffer of exactly the declared length, on the
    /// caller's thread.
    pub fn decode(&self, codec: &dyn Codec) -> Result<Vec<u8>> {
        decode_payload(&self.header, self.payload, codec)
    }

    /// [`decode`](Self::decode), with the chunks of a chunked frame decoded on up to
    /// `options.threads()` threads.
    pub fn decode_with_options(
        &self,
        codec: &dyn Codec,
        options: &FrameOptions,
    ) -> Result<Vec<u8>> {
        decode_payload_with(&self.header, self.payload, codec, options)
    }
}

/// The checks of [`Frame::parse`]: `bytes` is the whole frame when `split` is `None`, and
/// otherwise every byte before the payload offset, `split` holding the payload.
fn parse_header(bytes: &[u8], split: Option<&[u8]>) -> Result<FrameHeader> {
    let frame_len = (bytes.len() as u64).saturating_add(split.map_or(0, |p| p.len() as u64));
    check_prefix(bytes, frame_len)?;
    // The checksum comes before the version: its place and algorithm are frozen across
    // format versions, so damage anywhere (a flipped version bit included) is
    // corruption, and only an intact frame can be "from a newer hoard".
    let stored = u128::from_le_bytes(
        bytes[CHECKSUM_AT..HEADER_LEN]
            .try_into()
            .expect("the range is 16 bytes long"),
    );
    if checksum_parts(bytes, split.unwrap_or_default()) != stored {
        return Err(Error::corrupt("frame checksum does not match its contents"));
    }
    let version = u16_at(bytes, 8);
    if version == 0 {
        return Err(Error::corrupt("frame declares format version 0"));
    }
    if version > FORMAT_VERSION {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!("frame has format version {version}, this build reads up to {FORMAT_VERSION}"),
        ));
    }
    // Checked by `check_prefix` already, now that the version is known to be one this
    // build reads; asked again for the values.
    let (offset, payload_len) = declared_lengths(bytes, frame_len)?;
    if split.is_some() && offset != bytes.len() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "frame was split after {} bytes but its payload starts at offset {offset}",
                bytes.len()
            ),
        ));
    }
    let flags = u32_at(bytes, 20);
    let known = if version == FORMAT_VERSION_1 {
        0
    } else {
        KNOWN_FLAGS
    };
    if flags & !known != 0 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "frame of format version {version} sets flags {flags:#x} unknown to this build"
            ),
        ));
    }
    let raw_hasher = u16_at(bytes, 12);
    let hasher = HasherId::from_u16(raw_hasher).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!("frame names hasher id {raw_hasher:#06x} unknown to this build"),
        )
    })?;
    let raw_codec = u16_at(bytes, 14);
    let codec = CodecId::from_u16(raw_codec).ok_or_else(|| {
        Error::new(
            ErrorKind::Unsupported,
            format!("frame names codec id {raw_codec:#06x} unknown to this build"),
        )
    })?;
    let decoded_len = u64_at(bytes, 24);
    let (chunks, mut extension_end) = if flags & FLAG_CHUNKED != 0 {
        let (chunks, end) = parse_chunks(bytes, offset, decoded_len, payload_len)?;
        (Some(chunks), end)
    } else {
        (None, HEADER_LEN)
    };
    let mac = if flags & FLAG_MAC != 0 {
        let at = extension_end;
        extension_end += MAC_RECORD_LEN;
        if extension_end > offset {
            return Err(Error::corrupt(format!(
                "MAC record at {at} does not fit before the payload offset {offset}"
            )));
        }
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&bytes[at + MAC_TAG_AT..extension_end]);
        Some(MacRecord {
            at,
            algorithm: u16_at(bytes, at),
            key_id: u16_at(bytes, at + 2),
            tag,
        })
    } else {
        None
    };
    if bytes[extension_end..offset].iter().any(|&b| b != 0) {
        return Err(Error::corrupt("frame padding is not zero"));
    }
    if codec == CodecId::Identity && decoded_len != payload_len {
        return Err(Error::corrupt(format!(
            "identity frame declares {decoded_len} decoded bytes for a {payload_len}-byte payload"
        )));
    }
    let mut digest = [0u8; DIGEST_LEN];
    digest.copy_from_slice(&bytes[48..80]);
    let header = FrameHeader {
        version,
        payload_offset: offset,
        hasher,
        codec,
        level: u32_at(bytes, 16) as i32,
        flags,
        decoded_len,
        payload_len,
        created_unix_ms: u64_at(bytes, 40),
        digest: Digest::from_bytes(digest),
        checksum: stored,
        chunks,
        mac,
    };
    Ok(header)
}

/// Reads and checks the chunk table of a chunked frame; returns it and where it ends. Every
/// count and length is checked against the frame before anything is allocated for it.
fn parse_chunks(
    bytes: &[u8],
    offset: usize,
    decoded_len: u64,
    payload_len: u64,
) -> Result<(Chunks, usize)> {
    let fixed_end = HEADER_LEN + CHUNK_TABLE_FIXED;
    if offset < fixed_end {
        return Err(Error::corrupt(format!(
            "chunked frame has its payload at offset {offset}, inside its chunk table"
        )));
    }
    let chunk_len = u32_at(bytes, HEADER_LEN);
    let count = u32_at(bytes, HEADER_LEN + 4);
    // At most 4 * (2^32 - 1) + 104: no overflow in u64, and compared before any use.
    let table_end = fixed_end as u64 + 4 * u64::from(count);
    if table_end > offset as u64 {
        return Err(Error::corrupt(format!(
            "chunk table of {count} chunks does not fit before the payload offset {offset}"
        )));
    }
    let table_end = table_end as usize;
    if chunk_len < MIN_CHUNK_LEN {
        return Err(Error::corrupt(format!(
            "chunked frame declares chunks of {chunk_len} bytes, below the minimum of {MIN_CHUNK_LEN}"
        )));
    }
    if count == 0 || decoded_len.div_ceil(u64::from(chunk_len)) != u64::from(count) {
        return Err(Error::corrupt(format!(
            "chunked frame declares {count} chunks of {chunk_len} bytes for {decoded_len} decoded bytes"
        )));
    }
    let stored: Arc<[u32]> = bytes[fixed_end..table_end]
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // At most 16,357 lengths below 2^32: the sum fits in a u64.
    let sum: u64 = stored.iter().map(|&n| u64::from(n)).sum();
    if sum != payload_len {
        return Err(Error::corrupt(format!(
            "chunk table sums to {sum} stored bytes for a {payload_len}-byte payload"
        )));
    }
    Ok((Chunks { chunk_len, stored }, table_end))
}

/// Decodes `payload` as described by `header`, with `codec`, which must match the header, on
/// the caller's thread.
///
/// The output buffer is reserved with `try_reserve_exact` for exactly the declared length, so
/// an impossible declaration is an error, not an abort; callers bound the declaration first
/// with [`Frame::verify_for`].
pub fn decode_payload(header: &FrameHeader, payload: &[u8], codec: &dyn Codec) -> Result<Vec<u8>> {
    decode_payload_with(header, payload, codec, &FrameOptions::default())
}

/// [`decode_payload`], with the chunks of a chunked frame decoded on up to
/// `options.threads()` threads, each into its own part of the one output buffer.
pub fn decode_payload_with(
    header: &FrameHeader,
    payload: &[u8],
    codec: &dyn Codec,
    options: &FrameOptions,
) -> Result<Vec<u8>> {
    if codec.id() != header.codec {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "frame is encoded with {} but {} was given to decode it",
                header.codec,
                codec.id()
            ),
        ));
    }
    let len = usize::try_from(header.decoded_len).map_err(|_| {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "frame declares {} decoded bytes, more than this platform addresses",
                header.decoded_len
            ),
        )
    })?;
    let mut out = Vec::new();
    reserve(&mut out, len, "decode an entry")?;
    let Some(chunks) = &header.chunks else {
        codec.decode(payload, len, &mut out)?;
        if out.len() != len {
            return Err(Error::corrupt(format!(
                "{} decoded {} bytes where the frame declares {len}",
                header.codec,
                out.len()
            )));
        }
        return Ok(out);
    };
    // The header's fields are public: check again that the table fits what is decoded.
    let chunk_len = chunks.chunk_len as usize;
    let sum: u64 = chunks.stored.iter().map(|&n| u64::from(n)).sum();
    if chunk_len == 0 || len.div_ceil(chunk_len) != chunks.count() || sum != payload.len() as u64 {
        return Err(Error::corrupt(format!(
            "chunk table of {} chunks of {chunk_len} bytes does not describe {len} decoded bytes \
             in a {}-byte payload",
            chunks.count(),
            payload.len()
        )));
    }
    out.resize(len, 0);
    let mut jobs = Vec::with_capacity(chunks.count());
    let mut rest = payload;
    for (&stored, part) in chunks.stored.iter().zip(out.chunks_mut(chunk_len)) {
        let (input, tail) = rest
            .split_at_checked(stored as usize)
            .expect("the stored lengths sum to the payload length");
        rest = tail;
        jobs.push((input, part));
    }
    run_jobs(options.threads(), jobs, &|(input, part)| {
        codec.decode_into(input, part)
    })?;
    Ok(out)
}

/// Runs `work` on every job, on up to `threads` threads (the caller's included); returns the
/// error of the first job, in job order, that failed. After a failure no new job starts.
///
/// Scoped threads rather than a pool: no dependency, no pool living on in the process to
/// compete with an embedder's own (wasmtime compiles with rayon), and spawning costs tens of
/// microseconds against chunks that take a quarter of a millisecond or more each. A thread
/// that cannot be started leaves its share to the others.
fn run_jobs<J: Send>(
    threads: usize,
    jobs: Vec<J>,
    work: &(dyn Fn(J) -> Result<()> + Sync),
) -> Result<()> {
    let threads = threads.min(jobs.len());
    if threads <= 1 {
        return jobs.into_iter().try_for_each(work);
    }
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    let worker = || {
        while !failed.load(Ordering::Relaxed) {
            let Some((index, job)) = lock(&queue).next() else {
                break;
            };
            if let Err(e) = work(job) {
                failed.store(true, Ordering::Relaxed);
                let mut first = lock(&first_error);
                if first.as_ref().is_none_or(|(at, _)| index < *at) {
                    *first = Some((index, e));
                }
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            let started = std::thread::Builder::new()
                .name("hoard-frame".to_owned())
                .spawn_scoped(scope, worker);
            if started.is_err() {
                break;
            }
        }
        worker();
    });
    match first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// Locks a mutex whose data stays valid whatever a panicking holder did (a queue of jobs, the
/// first error).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
