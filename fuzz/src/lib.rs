//! Checks shared by hoard's fuzz targets (see `fuzz_targets/`); each has a proptest twin in
//! the crate it fuzzes, which runs on stable in CI.

use hoard_core::Codec;

/// The largest decoded length a fuzz input may declare: 1 MiB, so that a run explores inputs
/// rather than allocations.
pub const MAX_DECODED_LEN: u64 = 1 << 20;

/// Bytes put in the output buffer before decoding: a codec appends, and must leave them be.
const PREFIX: &[u8] = b"frame header stand-in";

/// Fuzzes one codec with `data`: its first 4 bytes (little-endian, modulo 1 MiB + 1) choose
/// a declared decoded length and the rest is the payload.
///
/// The [`Codec`] contract: decoding must not panic, must leave the bytes already in the
/// output alone, must never grow it by more than the declared length and, when it succeeds,
/// must append exactly that length; the payload must survive an encode/decode round trip.
pub fn check_codec(codec: &dyn Codec, data: &[u8]) {
    let Some((len_bytes, payload)) = data.split_first_chunk::<4>() else {
        return;
    };
    let declared = u64::from(u32::from_le_bytes(*len_bytes)) % (MAX_DECODED_LEN + 1);
    let declared = usize::try_from(declared).expect("1 MiB fits in usize");

    let mut out = PREFIX.to_vec();
    let decoded = codec.decode(payload, declared, &mut out).is_ok();
    if decoded {
        assert_eq!(
            out.len(),
            PREFIX.len() + declared,
            "{} decode succeeded with a length other than the declared one",
            codec.id()
        );
    }
    assert!(
        out.starts_with(PREFIX) && out.len() <= PREFIX.len() + declared,
        "{} decode changed bytes already in the output or grew it past the declared length",
        codec.id()
    );
    // Decoding into a slice of the declared length agrees with decoding by appending.
    let mut slice = vec![0x5a; declared];
    match codec.decode_into(payload, &mut slice) {
        Ok(()) => assert!(
            decoded && slice[..] == out[PREFIX.len()..],
            "{} decode_into accepted what decode refused, or decoded other bytes",
            codec.id()
        ),
        Err(e) => assert!(
            !decoded,
            "{} decode_into refused what decode accepted: {e}",
            codec.id()
        ),
    }

    let mut encoded = PREFIX.to_vec();
    codec
        .encode(payload, &mut encoded)
        .expect("encoding any payload succeeds");
    assert!(
        encoded.starts_with(PREFIX),
        "{} encode changed bytes already in the output",
        codec.id()
    );
    let mut decoded = Vec::new();
    codec
        .decode(&encoded[PREFIX.len()..], payload.len(), &mut decoded)
        .expect("decoding what the codec encoded succeeds");
    assert_eq!(
        decoded,
        payload,
        "{} round trip changed the payload",
        codec.id()
    );
}

/// Where the frame checksum sits, and what it covers around it (see `hoard_core::frame`).
const CHECKSUM_AT: usize = 80;

/// `frame` with its checksum recomputed, so that a fuzzed frame gets past the checksum check.
pub fn resealed(frame: &[u8]) -> Option<Vec<u8>> {
    let header_len = hoard_core::frame::HEADER_LEN;
    if frame.len() < header_len {
        return None;
    }
    let mut fixed = frame.to_vec();
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&fixed[..CHECKSUM_AT]);
    h.update(&fixed[header_len..]);
    fixed[CHECKSUM_AT..header_len].copy_from_slice(&h.digest128().to_le_bytes());
    Some(fixed)
}

/// Fuzzes chunked (version 2) frames with `data`, whose first byte chooses how:
///
/// - even: the rest is a stored frame, tried as is and resealed (the seeds are chunked
///   frames, so mutations land in the chunk table and the chunks);
/// - odd: the rest builds one. Byte 1 chooses the codec (zstd or LZ4) and byte 2 the decoded
///   length (from just above the chunking threshold to about 1.5 MiB); of the remaining bytes,
///   the first half is a pattern repeated to that length, the second half edits of the frame
///   (a little-endian u16 position, then a byte to XOR in), applied before resealing. The
///   frame must be the same bytes when encoded on 1 and 2 threads, and, unedited, decode back.
///
/// Every frame that parses and verifies (for its own key, within 1 MiB + 512 KiB) is decoded
/// on 1, 2 and 3 threads: nothing may panic, and all three must give the same bytes, of
/// exactly the declared length, or the same error.
pub fn check_chunked_frame(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        decode_alike(rest);
        if let Some(fixed) = resealed(rest) {
            decode_alike(&fixed);
        }
        return;
    }
    let [choice, size, rest @ ..] = rest else {
        return;
    };
    let codec = match choice % 2 {
        0 => hoard_codec::by_id(hoard_core::CodecId::Zstd),
        _ => hoard_codec::by_id(hoard_core::CodecId::Lz4),
    }
    .expect("both codecs are compiled in");
    let len = hoard_core::frame::CHUNK_THRESHOLD as usize + 1 + usize::from(*size) * 4099;
    let (pattern, edits) = rest.split_at(rest.len() / 2);
    let value: Vec<u8> = if pattern.is_empty() {
        vec![0; len]
    } else {
        pattern.iter().copied().cycle().take(len).collect()
    };
    let key = hoard_core::Key::new(
        hoard_core::HasherId::Sha256,
        hoard_core::Digest::from_bytes([7; 32]),
    );
    let frame = hoard_core::frame::encode(&key, codec.as_ref(), &value, 1)
        .expect("encoding any value succeeds");
    let options = hoard_core::frame::FrameOptions::new().with_threads(2);
    let on_two = hoard_core::frame::encode_with(&key, codec.as_ref(), &value, 1, &options)
        .expect("encoding any value succeeds");
    assert!(frame == on_two, "the thread count changed the frame");
    if edits.len() < 3 {
        let decoded = decode_alike(&frame).expect("an unedited frame decodes");
        assert!(decoded == value, "the frame did not round trip");
        return;
    }
    let mut edited = frame;
    for edit in edits.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % edited.len();
        edited[at] ^= edit[2];
    }
    if let Some(fixed) = resealed(&edited) {
        decode_alike(&fixed);
    }
}

/// Parses, verifies and decodes `bytes` on 1, 2 and 3 threads (see [`check_chunked_frame`]);
/// the decoded bytes when all succeed.
fn decode_alike(bytes: &[u8]) -> Option<Vec<u8>> {
    use hoard_core::frame::{Frame, FrameOptions};
    let frame = Frame::parse(bytes).ok()?;
    let key = frame.header().key();
    let header = frame
        .verify_for(&key, MAX_DECODED_LEN + MAX_DECODED_LEN / 2)
        .ok()?;
    let codec = hoard_codec::by_id(header.codec)?;
    let outcomes: Vec<_> = (1..=3)
        .map(|threads| {
            frame.decode_with_options(codec.as_ref(), &FrameOptions::new().with_threads(threads))
        })
        .collect();
    for outcome in &outcomes[1..] {
        match (outcome, &outcomes[0]) {
            (Ok(a), Ok(b)) => assert!(a == b, "thread counts decoded different bytes"),
            (Err(a), Err(b)) => assert_eq!(
                (a.kind(), a.message()),
                (b.kind(), b.message()),
                "thread counts failed differently"
            ),
            (a, b) => panic!("thread counts disagree: {a:?} against {b:?}"),
        }
    }
    let decoded = outcomes.into_iter().next()?.ok()?;
    assert_eq!(decoded.len() as u64, header.decoded_len);
    Some(decoded)
}

/// Fuzzes the configuration parser with `data` (as text, lossily decoded): no panic, and a
/// rejection is a configuration error with a message.
pub fn check_config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Err(err) = hoard::CacheConfig::from_toml_str(&text, None) {
        assert_eq!(err.kind(), hoard::ErrorKind::Config, "{err}");
        assert!(!err.message().is_empty());
    }
}

/// Whether `name` is exactly one normal path component: what `FsStore::entry_path` may
/// join below the root.
fn one_component(name: &str) -> bool {
    let mut parts = std::path::Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(c)), None) if c == std::ffi::OsStr::new(name)
    )
}

/// A store that holds nothing, so that a cache can be built without touching the disk.
#[derive(Debug)]
struct Nowhere;

impl hoard::Store for Nowhere {
    fn get(
        &self,
        _: &hoard::Namespace,
        _: &hoard::Digest,
        _: u64,
    ) -> hoard::Result<Option<Vec<u8>>> {
        Ok(None)
    }
    fn put(&self, _: &hoard::Namespace, _: &hoard::Digest, _: &[u8]) -> hoard::Result<()> {
        Ok(())
    }
    fn remove(&self, _: &hoard::Namespace, _: &hoard::Digest) -> hoard::Result<bool> {
        Ok(false)
    }
    fn list(
        &self,
        _: &mut dyn FnMut(hoard::EntryInfo) -> std::ops::ControlFlow<()>,
    ) -> hoard::Result<()> {
        Ok(())
    }
}

/// Fuzzes namespace and file-name handling with `data`.
///
/// - `Namespace::new`: an accepted name is 1-100 characters of `[A-Za-z0-9._-]`, does not
///   start with `.`, and is one path component.
/// - `CacheBuilder::namespace_label`: any label gives a valid namespace; a label that is a
///   valid namespace is kept as is.
/// - `EntryName::parse` / `parse_temp`: what parses is respelled identically (one digest,
///   one name), is one path component, and its shard is the digest's first byte.
pub fn check_names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(ns) = hoard::Namespace::new(&text) {
        let s = ns.as_str();
        assert!((1..=100).contains(&s.len()), "{s:?}");
        assert!(!s.starts_with('.'), "{s:?}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')),
            "{s:?}"
        );
        assert!(one_component(s), "{s:?}");
    }
    let cache = hoard::CacheBuilder::with_store(Nowhere)
        .namespace_label(data)
        .build()
        .expect("any label builds a cache");
    let ns = cache.namespace().as_str();
    assert!(
        hoard::Namespace::new(ns).is_ok() && one_component(ns),
        "{ns:?}"
    );
    if let Ok(valid) = std::str::from_utf8(data)
        && hoard::Namespace::new(valid).is_ok()
    {
        assert_eq!(ns, valid);
    }
    if let Some(name) = hoard_fs::layout::EntryName::parse(&text) {
        assert_eq!(name.as_str(), text);
        assert_eq!(hoard_fs::layout::EntryName::new(name.digest()), name);
        assert!(one_component(name.as_str()) && !name.as_str().starts_with('.'));
        assert_eq!(name.shard(), format!("{:02x}", name.digest().as_bytes()[0]));
    }
    if let Some((name, nonce)) = hoard_fs::layout::parse_temp(&text) {
        assert_eq!(name.temp_name(nonce), text);
        assert!(one_component(&text) && text.starts_with(hoard_fs::layout::TEMP_PREFIX));
        assert!(hoard_fs::layout::EntryName::parse(&text).is_none());
    }
}
