//! Hostile frames: valid-looking entries with edited headers, as an attacker (or a newer
//! hoard) could write them; and the links an attacker plants in a cache directory.

use std::path::Path;

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

/// Plants a symbolic link at `link` to `target` (on Windows a directory link if `target` is
/// a directory, a file link otherwise); `false`, after saying so, if this system cannot make
/// one, and the calling test then has nothing to show: Wine 8's `CreateSymbolicLinkW`
/// reports success and creates nothing, and unprivileged Windows without developer mode
/// refuses. Panics if a Unix system cannot make one.
#[must_use]
pub fn plant_link(target: impl AsRef<Path>, link: impl AsRef<Path>) -> bool {
    let (target, link) = (target.as_ref(), link.as_ref());
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(target, link);
    #[cfg(windows)]
    let made = if target.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    };
    let there = std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink());
    if cfg!(unix) || there {
        made.expect("plant a symlink");
        assert!(there, "the planted symlink is there");
        return true;
    }
    println!(
        "not run: this system cannot create symlinks ({made:?}, but {} is no symlink)",
        link.display()
    );
    false
}
