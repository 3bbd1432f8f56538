//! Hostile frames: valid-looking entries with edited headers, as an attacker (or a newer
//! hoard) could write them.

use hoard_core::frame::HEADER_LEN;

/// Applies `edit` to a frame's bytes, then recomputes the frame checksum (XXH3-128 over bytes
/// `0..80` followed by bytes `96..end`, as documented in `hoard_core::frame`), so that the
/// result passes the checksum and exercises the checks behind it.
///
/// ```
/// let digest = hoard_core::Digest::from_bytes([1; 32]);
/// let frame = hoard_testkit::store::frame_for(&digest, b"abc");
/// let newer = hoard_testkit::reseal(frame, |b| b[8] = 3);
/// let err = hoard_core::frame::Frame::parse(&newer).expect_err("version 3 is unknown");
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
