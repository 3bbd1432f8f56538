//! Authenticated (MAC'd) frames: signing, the record's place, what a keyed reader refuses
//! (no MAC, another key, a wrong tag, a tampered payload under a valid checksum), rotation,
//! key-less readers, and that no key ever shows in `Debug` or an error.

use std::sync::Arc;

use hoard_core::frame::{
    self, FLAG_CHUNKED, FLAG_MAC, FORMAT_VERSION, FORMAT_VERSION_1, Frame, FrameOptions,
    HEADER_LEN, MAC_RECORD_LEN, MacKeys,
};
use hoard_core::read::{Decoders, Disposition, Expected};
use hoard_core::{Codec, ErrorKind, StoredFrame, VerifiedFrame, VerifiedView};

use super::{Plain, Rle, key, reseal, sample};

/// An edit of a frame's bytes, before its checksum is fixed up.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

const KEY_A: [u8; 32] = [0xa1; 32];
const KEY_B: [u8; 32] = [0xb2; 32];

fn signed(keys: &MacKeys) -> FrameOptions {
    FrameOptions::new().with_mac_keys(keys.clone())
}

fn reader(keys: Option<&MacKeys>) -> Decoders {
    let options = match keys {
        Some(k) => signed(k),
        None => FrameOptions::new(),
    };
    Decoders::new()
        .with(Arc::new(Plain))
        .with(Arc::new(Rle))
        .with_options(options)
}

fn read(bytes: &[u8], keys: Option<&MacKeys>) -> Result<Vec<u8>, Disposition> {
    VerifiedFrame::check(bytes.to_vec(), Expected::Key(&key(1)), u64::MAX)
        .and_then(|f| f.into_value(&reader(keys)))
        .map_err(|r| r.disposition())
}

fn a() -> MacKeys {
    MacKeys::new([KEY_A]).expect("one key")
}

#[test]
fn signed_frames_round_trip_in_every_size_class_and_layout() {
    // Small, page-aligned identity, and chunked (Rle above the chunk threshold).
    for (codec, len) in [
        (&Plain as &dyn Codec, 0usize),
        (&Plain, 100),
        (&Plain, 64 * 1024),
        (&Rle, 100),
        (&Rle, 1 << 20),
    ] {
        let data = sample(len);
        let bytes =
            frame::encode_with(&key(1), codec, &data, 5, &signed(&a())).expect("encode signed");
        let f = Frame::parse(&bytes).expect("parse");
        let h = f.header();
        assert_eq!(h.version, FORMAT_VERSION);
        assert_ne!(h.flags & FLAG_MAC, 0);
        let mac = h.mac.as_ref().expect("a MAC record");
        assert_eq!(mac.key_id, a().signing_key_id());
        let expected_at = h
            .chunks
            .as_ref()
            .map_or(HEADER_LEN, |c| HEADER_LEN + 8 + 4 * c.count());
        assert_eq!(mac.at, expected_at, "{} bytes of {}", len, codec.id());
        if codec.id() == hoard_core::CodecId::Identity && len >= 16 * 1024 {
            assert_eq!(h.payload_offset, 4096, "still page aligned");
        } else {
            assert_eq!(h.payload_offset, expected_at + MAC_RECORD_LEN);
        }
        assert_eq!(read(&bytes, Some(&a())).expect("a keyed hit"), data);
        // A key-less reader reads it too (the MAC unchecked).
        assert_eq!(read(&bytes, None).expect("a key-less hit"), data);
        // Split at the payload offset, as a store may return it.
        let (head, payload) = bytes.split_at(h.payload_offset);
        let split = VerifiedFrame::check_stored(
            StoredFrame::split(head.to_vec(), payload.to_vec()),
            Expected::Key(&key(1)),
            u64::MAX,
        )
        .expect("split verifies");
        split.authenticate(&a()).expect("split authenticates");
        let view = VerifiedView::check(&bytes, Expected::Key(&key(1)), u64::MAX).expect("view");
        view.authenticate(&a()).expect("view authenticates");
        assert_eq!(view.decode_with(&reader(Some(&a()))).expect("view"), data);
        if h.chunks.is_some() {
            assert_ne!(h.flags & FLAG_CHUNKED, 0);
        }
    }
}

#[test]
fn without_keys_frames_are_byte_identical_to_unsigned_ones() {
    for (codec, len) in [(&Plain as &dyn Codec, 10usize), (&Rle, 1 << 20)] {
        let data = sample(len);
        let plain = frame::encode(&key(1), codec, &data, 9).expect("encode");
        let options = FrameOptions::new().with_threads(3);
        let with = frame::encode_with(&key(1), codec, &data, 9, &options).expect("encode");
        assert_eq!(plain, with);
        let h = Frame::parse(&plain).expect("parse").header().clone();
        assert!(h.mac.is_none());
    }
    let small = frame::encode(&key(1), &Plain, b"x", 0).expect("encode");
    assert_eq!(
        Frame::parse(&small).expect("parse").header().version,
        FORMAT_VERSION_1
    );
}

#[test]
fn a_keyed_reader_refuses_unsigned_foreign_and_forged_frames() {
    let data = sample(300);
    let unsigned = frame::encode(&key(1), &Rle, &data, 0).expect("encode");
    assert_eq!(
        read(&unsigned, Some(&a())),
        Err(Disposition::Unauthenticated)
    );

    let b = MacKeys::new([KEY_B]).expect("one key");
    let foreign = frame::encode_with(&key(1), &Rle, &data, 0, &signed(&b)).expect("encode");
    assert_eq!(
        read(&foreign, Some(&a())),
        Err(Disposition::Unauthenticated)
    );

    let good = frame::encode_with(&key(1), &Rle, &data, 0, &signed(&a())).expect("encode");
    let at = Frame::parse(&good)
        .expect("parse")
        .header()
        .mac
        .clone()
        .expect("mac")
        .at;
    // A tampered tag, payload, header field, or key id, each with a valid checksum: what a
    // writer who can compute checksums but lacks the key can make.
    let edits: [(&str, Edit); 5] = [
        ("tag", Box::new(move |b: &mut Vec<u8>| b[at + 10] ^= 1)),
        (
            "payload",
            Box::new(|b: &mut Vec<u8>| *b.last_mut().expect("payload") ^= 1),
        ),
        ("creation time", Box::new(|b: &mut Vec<u8>| b[40] ^= 1)),
        ("algorithm", Box::new(move |b: &mut Vec<u8>| b[at] = 9)),
        ("key id", Box::new(move |b: &mut Vec<u8>| b[at + 2] ^= 0xff)),
    ];
    for (what, edit) in edits {
        let forged = reseal(good.clone(), |b| edit(b));
        Frame::parse(&forged).expect("the checksum holds");
        assert_eq!(
            read(&forged, Some(&a())),
            Err(Disposition::Unauthenticated),
            "tampered {what}"
        );
    }
    // Damage without a fixed checksum stays corruption, judged before the MAC.
    let mut flipped = good.clone();
    flipped[at + 10] ^= 1;
    assert_eq!(read(&flipped, Some(&a())), Err(Disposition::Corrupt));
    assert_eq!(read(&good, Some(&a())).expect("the original"), data);
}

#[test]
fn rotation_accepts_old_keys_and_signs_with_the_first() {
    let old = MacKeys::new([KEY_A]).expect("old");
    let rotated = MacKeys::new([KEY_B, KEY_A]).expect("rotated");
    assert_eq!(rotated.len(), 2);
    assert_eq!(rotated.signing_key_id(), MacKeys::key_id_of(&KEY_B));
    let by_old = frame::encode_with(&key(1), &Plain, b"old", 0, &signed(&old)).expect("encode");
    let by_new = frame::encode_with(&key(1), &Plain, b"new", 0, &signed(&rotated)).expect("encode");
    assert_eq!(
        Frame::parse(&by_new)
            .expect("parse")
            .header()
            .mac
            .as_ref()
            .map(|m| m.key_id),
        Some(MacKeys::key_id_of(&KEY_B))
    );
    assert_eq!(
        read(&by_old, Some(&rotated)).expect("old key accepted"),
        b"old"
    );
    assert_eq!(read(&by_new, Some(&rotated)).expect("new key"), b"new");
    // The old key alone does not accept the new one's frames.
    assert_eq!(read(&by_new, Some(&old)), Err(Disposition::Unauthenticated));
}

#[test]
fn keys_never_show_in_debug_or_errors() {
    let keys = MacKeys::new([[0x5a; 32]]).expect("one key");
    let options = signed(&keys);
    let shown = format!("{keys:?} {options:?} {:?}", reader(Some(&keys)));
    for needle in ["5a5a", "90, 90", "0x5a, 0x5a", "ZZZZ"] {
        assert!(!shown.contains(needle), "{needle} in {shown}");
    }
    let unsigned = frame::encode(&key(1), &Plain, b"v", 0).expect("encode");
    let r = VerifiedFrame::check(unsigned, Expected::Key(&key(1)), 10)
        .expect("verifies")
        .into_value(&reader(Some(&keys)))
        .expect_err("refused");
    assert_eq!(r.error().kind(), ErrorKind::Unauthenticated);
    assert!(!r.to_string().contains("5a5a"), "{r}");
    assert!(MacKeys::new([]).is_err(), "at least one key");
}

#[test]
fn a_mac_record_that_does_not_fit_is_corrupt() {
    // An unsigned version-1 frame relabelled version 2 with the MAC bit: the record would lie
    // in the payload.
    let small = frame::encode(&key(1), &Plain, b"abc", 0).expect("encode");
    let relabelled = reseal(small, |b| {
        b[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[20..24].copy_from_slice(&FLAG_MAC.to_le_bytes());
    });
    assert_eq!(
        Frame::parse(&relabelled).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
}

/// The authenticated layout is pinned: this file changes only with a new format version.
#[test]
fn golden_signed_frame_bytes_are_stable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/frame-v2-mac.hex");
    let keys = MacKeys::new([[0x11; 32]]).expect("a key");
    let digest = hoard_core::Digest::from_bytes(std::array::from_fn(|i| i as u8));
    let key = hoard_core::Key::new(hoard_core::HasherId::Sha256, digest);
    let data = b"hoard golden frame: signed with key 0x11 x 32";
    let bytes =
        frame::encode_with(&key, &Plain, data, 1_764_201_600_000, &signed(&keys)).expect("encode");
    if std::env::var_os("HOARD_BLESS").is_some() {
        use std::io::Write;
        let mut f = std::fs::File::create(path).expect("create golden file");
        f.write_all(super::to_hex_lines(&bytes).as_bytes())
            .expect("write golden file");
    }
    let text = std::fs::read_to_string(path).expect("golden file (HOARD_BLESS=1 writes it)");
    let golden = super::from_hex_lines(&text);
    assert_eq!(
        bytes, golden,
        "frame bytes moved: the on-disk format changed"
    );
    assert_eq!(golden[8..10], [2, 0], "version 2");
    assert_eq!(golden[10..12], [132, 0], "payload offset 96 + 36");
    assert_eq!(golden[20..24], [2, 0, 0, 0], "flag bit 1");
    assert_eq!(golden[96..98], [1, 0], "keyed BLAKE3");
    let id = MacKeys::key_id_of(&[0x11; 32]).to_le_bytes();
    assert_eq!(golden[98..100], id, "key id");
    let f = VerifiedFrame::check(golden, Expected::Key(&key), 1 << 10).expect("verifies");
    f.authenticate(&keys).expect("authentic");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

    /// Any one-byte edit of a signed frame, with its checksum fixed or not, is never served
    /// to a keyed reader as anything but the original value.
    #[test]
    fn no_single_byte_edit_of_a_signed_frame_is_served(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        at in proptest::prelude::any::<proptest::sample::Index>(),
        xor in 1u8..,
        resealed in proptest::prelude::any::<bool>(),
    ) {
        let good = frame::encode_with(&key(1), &Rle, &data, 3, &signed(&a())).expect("encode");
        let i = at.index(good.len());
        let edited = if resealed {
            reseal(good, |b| b[i] ^= xor)
        } else {
            let mut b = good;
            b[i] ^= xor;
            b
        };
        if let Ok(value) = read(&edited, Some(&a())) {
            // Only the checksum field itself can change without the MAC noticing, and a
            // resealed checksum is the original one.
            proptest::prop_assert!((80..96).contains(&i) && resealed, "edit at {} served", i);
            proptest::prop_assert_eq!(value, data);
        }
    }
}
