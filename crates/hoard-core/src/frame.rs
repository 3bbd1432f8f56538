//! The entry frame: a self-describing, checksummed envelope around every stored payload.
//!
//! Every store holds frames, so integrity is checked end to end whatever the backend. The
//! layout (format version 1, all integers little-endian) is:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `89 68 6f 61 72 64 0d 0a` (`\x89hoard\r\n`) |
//! | 8 | 2 | format version, `1` |
//! | 10 | 2 | payload offset: 96, or 4096 for identity payloads of 16 KiB and more |
//! | 12 | 2 | hasher id ([`HasherId`]) |
//! | 14 | 2 | codec id ([`CodecId`]) |
//! | 16 | 4 | codec level, signed |
//! | 20 | 4 | flags, `0` in version 1 |
//! | 24 | 8 | decoded (uncompressed) length |
//! | 32 | 8 | payload (stored) length |
//! | 40 | 8 | creation time, milliseconds since the Unix epoch |
//! | 48 | 32 | full key digest |
//! | 80 | 16 | XXH3-128 of bytes `0..80` followed by bytes `96..end` |
//! | 96 | .. | zero padding up to the payload offset |
//! | offset | payload length | the encoded payload; the frame ends exactly here |
//!
//! Reading verifies, in order: what the fixed header alone can tell ([`check_prefix`]: its
//! length, the magic, and, for a format version this build reads, that the payload ends
//! exactly at the end of the bytes, so truncation and appended bytes are caught), then the
//! checksum (whose place and algorithm every format version keeps, so that any damage is
//! corruption), version (a newer one is [`ErrorKind::Unsupported`]), the flags, ids and
//! padding, and, with [`Frame::verify_for`], the key and the size cap. Only then is the
//! payload decoded, into a buffer of exactly the declared length.
//!
//! A store that knows a frame's length before reading it (a file's size) can run
//! [`check_prefix`] on the first [`HEADER_LEN`] bytes and refuse a planted file (a sparse
//! gigabyte, say) without reading the rest; [`Frame::parse`] runs the same check first, so
//! the early refusal never turns away a frame the full parse would accept.

use xxhash_rust::xxh3::Xxh3;

use crate::{Codec, CodecId, DIGEST_LEN, Digest, Error, ErrorKind, HasherId, Key, Result};

/// The eight bytes every frame starts with.
pub const MAGIC: [u8; 8] = *b"\x89hoard\r\n";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the fixed header fields; the smallest payload offset.
pub const HEADER_LEN: usize = 96;
/// The payload offset of large identity-coded frames, so that a page-aligned memory map of
/// the payload is possible.
pub const PAGE_ALIGNED_OFFSET: usize = 4096;
/// Identity payloads at least this large are page aligned.
pub const PAGE_ALIGN_THRESHOLD: usize = 16 * 1024;

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
pub const fn max_frame_len(max_decoded_len: u64) -> u64 {
    max_encoded_len(max_decoded_len).saturating_add(PAGE_ALIGNED_OFFSET as u64)
}

/// Where the payload starts for a frame of `codec` holding `decoded_len` bytes.
pub fn payload_offset_for(codec: CodecId, decoded_len: usize) -> usize {
    if codec == CodecId::Identity && decoded_len >= PAGE_ALIGN_THRESHOLD {
        PAGE_ALIGNED_OFFSET
    } else {
        HEADER_LEN
    }
}

/// The decoded header of a frame whose structure and checksum were verified.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameHeader {
    /// Format version (1).
    pub version: u16,
    /// Offset of the payload from the start of the frame.
    pub payload_offset: usize,
    /// Hasher of the key.
    pub hasher: HasherId,
    /// Codec of the payload.
    pub codec: CodecId,
    /// Codec level the payload was encoded at.
    pub level: i32,
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
}

impl FrameHeader {
    /// The key this frame belongs to.
    pub fn key(&self) -> Key {
        Key::new(self.hasher, self.digest)
    }
}

/// Encodes `data` with `codec` and wraps it in a frame for `key`.
///
/// Fails with [`ErrorKind::InvalidInput`] if an id is outside its valid range, and with the
/// codec's error if encoding fails or breaks [`max_encoded_len`].
pub fn encode(key: &Key, codec: &dyn Codec, data: &[u8], created_unix_ms: u64) -> Result<Vec<u8>> {
    let codec_id = codec.id();
    if CodecId::from_u16(codec_id.to_u16()) != Some(codec_id) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "codec id {:#06x} is outside the plugin range",
                codec_id.to_u16()
            ),
        ));
    }
    let hasher = key.hasher();
    if HasherId::from_u16(hasher.to_u16()) != Some(hasher) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "hasher id {:#06x} is outside the plugin range",
                hasher.to_u16()
            ),
        ));
    }
    let offset = payload_offset_for(codec_id, data.len());
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
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "codec {codec_id} encoded {decoded_len} bytes into {payload_len}, beyond its contract"
            ),
        ));
    }
    let h = &mut buf[..HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(offset as u16).to_le_bytes());
    h[12..14].copy_from_slice(&hasher.to_u16().to_le_bytes());
    h[14..16].copy_from_slice(&codec_id.to_u16().to_le_bytes());
    h[16..20].copy_from_slice(&codec.level().to_le_bytes());
    h[20..24].copy_from_slice(&0u32.to_le_bytes());
    h[24..32].copy_from_slice(&decoded_len.to_le_bytes());
    h[32..40].copy_from_slice(&payload_len.to_le_bytes());
    h[40..48].copy_from_slice(&created_unix_ms.to_le_bytes());
    h[48..80].copy_from_slice(key.digest().as_bytes());
    let sum = checksum(&buf);
    buf[CHECKSUM_AT..HEADER_LEN].copy_from_slice(&sum.to_le_bytes());
    Ok(buf)
}

fn checksum(frame: &[u8]) -> u128 {
    let mut h = Xxh3::new();
    h.update(&frame[..CHECKSUM_AT]);
    h.update(&frame[HEADER_LEN..]);
    h.digest128()
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
    /// newer format version or with an id this build does not know. Never panics.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        check_prefix(bytes, bytes.len() as u64)?;
        // The checksum comes before the version: its place and algorithm are frozen across
        // format versions, so damage anywhere (a flipped version bit included) is
        // corruption, and only an intact frame can be "from a newer hoard".
        let stored = u128::from_le_bytes(
            bytes[CHECKSUM_AT..HEADER_LEN]
                .try_into()
                .expect("the range is 16 bytes long"),
        );
        if checksum(bytes) != stored {
            return Err(Error::corrupt("frame checksum does not match its contents"));
        }
        let version = u16_at(bytes, 8);
        if version == 0 {
            return Err(Error::corrupt("frame declares format version 0"));
        }
        if version > FORMAT_VERSION {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "frame has format version {version}, this build reads up to {FORMAT_VERSION}"
                ),
            ));
        }
        // Checked by `check_prefix` already, now that the version is known to be one this
        // build reads; asked again for the values.
        let (offset, payload_len) = declared_lengths(bytes, bytes.len() as u64)?;
        let flags = u32_at(bytes, 20);
        if flags != 0 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("frame sets flags {flags:#x} unknown to this build"),
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
        if bytes[HEADER_LEN..offset].iter().any(|&b| b != 0) {
            return Err(Error::corrupt("frame padding is not zero"));
        }
        let decoded_len = u64_at(bytes, 24);
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
            decoded_len,
            payload_len,
            created_unix_ms: u64_at(bytes, 40),
            digest: Digest::from_bytes(digest),
            checksum: stored,
        };
        Ok(Self {
            header,
            payload: &bytes[offset..],
        })
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

    /// Decodes the payload with `codec` into a buffer of exactly the declared length.
    pub fn decode(&self, codec: &dyn Codec) -> Result<Vec<u8>> {
        decode_payload(&self.header, self.payload, codec)
    }
}

/// Decodes `payload` as described by `header`, with `codec`, which must match the header.
///
/// The output buffer is reserved with `try_reserve_exact` for exactly the declared length, so
/// an impossible declaration is an error, not an abort; callers bound the declaration first
/// with [`Frame::verify_for`].
pub fn decode_payload(header: &FrameHeader, payload: &[u8], codec: &dyn Codec) -> Result<Vec<u8>> {
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
    out.try_reserve_exact(len).map_err(|_| {
        Error::new(
            ErrorKind::TooLarge,
            format!("cannot allocate {len} bytes to decode an entry"),
        )
    })?;
    codec.decode(payload, len, &mut out)?;
    if out.len() != len {
        return Err(Error::corrupt(format!(
            "{} decoded {} bytes where the frame declares {len}",
            header.codec,
            out.len()
        )));
    }
    Ok(out)
}
