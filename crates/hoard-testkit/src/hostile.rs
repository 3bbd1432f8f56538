//! Hostile frames: valid-looking entries with edited headers, as an attacker (or a newer
//! hoard) could write them.

use hoard_core::frame::HEADER_LEN;

/// Applies `edit` to a frame's bytes, then recomputes the frame checksum (XXH3-128 over bytes
/// `0..80` followed by bytes `96..end`, as documented in `hoard_core::frame`), so that the
/// result passes the checksum and exercises the checks behind it.
///
/// ```
/// let key = hoard_core::Key::new(hoard_core::HasherId::Sha256, hoard_core::Digest::from_bytes([1; 32]));
/// # #[derive(Debug)] struct Plain;
/// # impl hoard_core::Codec for Plain {
/// #     fn id(&self) -> hoard_core::CodecId { hoard_core::CodecId::Identity }
/// #     fn level(&self) -> i32 { 0 }
/// #     fn encode(&self, i: &[u8], o: &mut Vec<u8>) -> hoard_core::Result<()> { o.extend_from_slice(i); Ok(()) }
/// #     fn decode(&self, i: &[u8], _: usize, o: &mut Vec<u8>) -> hoard_core::Result<()> { o.extend_from_slice(i); Ok(()) }
/// # }
/// let frame = hoard_core::frame::encode(&key, &Plain, b"abc", 0)?;
/// let newer = hoard_testkit::reseal(frame, |b| b[8] = 2);
/// let err = hoard_core::frame::Frame::parse(&newer).expect_err("version 2 is unknown");
/// assert_eq!(err.kind(), hoard_core::ErrorKind::Unsupported);
/// # Ok::<(), hoard_core::Error>(())
/// ```
pub fn reseal(mut frame: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut frame);
    assert!(
        frame.len() >= HEADER_LEN,
        "a frame to reseal keeps its {HEADER_LEN}-byte header"
    );
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&frame[..80]);
    h.update(&frame[HEADER_LEN..]);
    frame[80..HEADER_LEN].copy_from_slice(&h.digest128().to_le_bytes());
    frame
}
