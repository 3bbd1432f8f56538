//! Frames in two buffers (`StoredFrame::split`, `Frame::parse_split`): the same checks as
//! one buffer, and a stored payload that becomes the value without a copy
//! (`VerifiedFrame::into_value`).

use std::sync::Arc;

use hoard_core::frame::{self, Frame, FrameOptions};
use hoard_core::read::{Decoders, Disposition, Expected};
use hoard_core::{Codec, CodecId, ErrorKind, StoredFrame, VerifiedFrame, VerifiedView};

use super::{Plain, Rle, key, sample};

/// Where `bytes`' payload starts.
fn offset(bytes: &[u8]) -> usize {
    frame::payload_offset_of(bytes).expect("a frame this build reads")
}

fn split(bytes: &[u8]) -> StoredFrame {
    let at = offset(bytes);
    StoredFrame::split(bytes[..at].to_vec(), bytes[at..].to_vec())
}

/// Frames of every layout: version 1 unchecked and page-aligned, version 2 chunked.
fn frames() -> Vec<(&'static str, Vec<u8>)> {
    let options = FrameOptions::new();
    vec![
        (
            "small identity",
            frame::encode(&key(1), &Plain, &sample(100), 0),
        ),
        (
            "aligned identity",
            frame::encode(&key(1), &Plain, &sample(100_000), 0),
        ),
        ("coded", frame::encode(&key(1), &Rle, &sample(5_000), 0)),
        (
            "chunked",
            frame::encode_with(&key(1), &Rle, &sample(600_000), 0, &options),
        ),
    ]
    .into_iter()
    .map(|(what, f)| (what, f.expect("encodes")))
    .collect()
}

#[test]
fn a_split_frame_parses_exactly_as_the_whole() {
    for (what, bytes) in frames() {
        let whole = Frame::parse(&bytes).expect("intact");
        let at = offset(&bytes);
        let parts = Frame::parse_split(&bytes[..at], &bytes[at..]).expect("intact");
        assert_eq!(parts.header(), whole.header(), "{what}");
        assert_eq!(parts.payload(), whole.payload(), "{what}");
        assert_eq!(split(&bytes).into_bytes(), bytes, "{what}");
        assert_eq!(split(&bytes).len(), bytes.len() as u64, "{what}");
    }
}

#[test]
fn every_bit_flip_of_a_split_frame_is_detected() {
    let bytes = frame::encode(&key(2), &Plain, &sample(20_000), 0).expect("encodes");
    let at = offset(&bytes);
    // Every header bit, and a spread of payload bits.
    let bits = (0..at * 8).chain((at * 8..bytes.len() * 8).step_by(977));
    for bit in bits {
        let mut bad = bytes.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let (head, payload) = bad.split_at(at.min(bad.len()));
        let result = Frame::parse_split(head, payload);
        assert!(result.is_err(), "bit {bit} went unnoticed");
    }
}

#[test]
fn a_split_at_the_wrong_place_is_the_stores_fault_not_damage() {
    let bytes = frame::encode(&key(3), &Plain, &sample(20_000), 0).expect("encodes");
    let at = offset(&bytes);
    for wrong in [HEADER_LEN_PLUS, at - 1, at + 1] {
        let err = Frame::parse_split(&bytes[..wrong], &bytes[wrong..]).expect_err("misplaced");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "split at {wrong}");
    }
    // Shorter than a header: damage, as for one buffer.
    let err = Frame::parse_split(&bytes[..50], &bytes[50..]).expect_err("no header");
    assert_eq!(err.kind(), ErrorKind::Corrupt);
}

const HEADER_LEN_PLUS: usize = frame::HEADER_LEN + 4;

#[test]
fn a_stored_payload_is_the_value_itself() {
    let decoders = Decoders::new().with(Arc::new(Plain)).with(Arc::new(Rle));
    let value = sample(100_000);
    let bytes = frame::encode(&key(4), &Plain, &value, 0).expect("encodes");
    let at = offset(&bytes);
    let payload = bytes[at..].to_vec();
    let address = payload.as_ptr();
    let stored = StoredFrame::split(bytes[..at].to_vec(), payload);
    let found =
        VerifiedFrame::check_stored(stored, Expected::Key(&key(4)), 1 << 20).expect("intact");
    assert_eq!(found.payload(), &value[..]);
    assert_eq!(found.as_bytes(), &bytes[..]);
    let got = found.into_value(&decoders).expect("a value");
    assert_eq!(got, value);
    assert_eq!(
        got.as_ptr(),
        address,
        "the payload's own buffer, not a copy"
    );

    // One buffer: the payload moves to its front, in place.
    let whole = bytes.clone();
    let address = whole.as_ptr();
    let found = VerifiedFrame::check(whole, Expected::Key(&key(4)), 1 << 20).expect("intact");
    let got = found.into_value(&decoders).expect("a value");
    assert_eq!(got, value);
    assert_eq!(got.as_ptr(), address, "the frame's own buffer");

    // Coded payloads decode, split or not; identity must be registered to be read.
    let coded = frame::encode(&key(5), &Rle, &value, 0).expect("encodes");
    for stored in [split(&coded), StoredFrame::whole(coded.clone())] {
        let found =
            VerifiedFrame::check_stored(stored, Expected::Key(&key(5)), 1 << 20).expect("intact");
        assert_eq!(found.into_value(&decoders).expect("decodes"), value);
    }
    let found = VerifiedFrame::check(bytes, Expected::Key(&key(4)), 1 << 20).expect("intact");
    let r = found
        .into_value(&Decoders::new().with(Arc::new(Rle)))
        .expect_err("no identity");
    assert_eq!(r.disposition(), Disposition::Skip);
}

#[test]
fn a_view_verifies_in_place_like_a_verified_frame() {
    let decoders = Decoders::new().with(Arc::new(Rle));
    let value = sample(30_000);
    let bytes = frame::encode(&key(6), &Rle, &value, 0).expect("encodes");
    let view = VerifiedView::check(&bytes, Expected::Key(&key(6)), 1 << 20).expect("intact");
    assert_eq!(view.header().codec, Rle.id());
    assert_eq!(view.decode_with(&decoders).expect("decodes"), value);
    let r = VerifiedView::check(&bytes, Expected::Key(&key(7)), 1 << 20).expect_err("another");
    assert_eq!(r.disposition(), Disposition::Corrupt);
    let r = VerifiedView::check(&bytes, Expected::Key(&key(6)), 10).expect_err("capped");
    assert_eq!(r.disposition(), Disposition::Skip);
    let mut bad = bytes.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let r = VerifiedView::check(&bad, Expected::Key(&key(6)), 1 << 20).expect_err("damaged");
    assert_eq!(r.disposition(), Disposition::Corrupt);
    assert_eq!(
        VerifiedView::check(&bytes, Expected::Key(&key(6)), 1 << 20)
            .expect("intact")
            .payload()
            .len(),
        bytes.len() - offset(&bytes)
    );
    assert_ne!(Rle.id(), CodecId::Identity);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1000, ..Default::default() })]

    /// The stable twin of the `frame_parse` fuzz target's split check: a frame with hostile
    /// header edits (resealed or not), parsed in two buffers split at the payload offset its
    /// header declares, gives exactly what parsing it whole gives.
    #[test]
    fn a_split_parse_agrees_with_the_whole_on_edited_frames(
        data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        at in 0usize..96,
        value in proptest::prelude::any::<u8>(),
        resealed in proptest::prelude::any::<bool>(),
    ) {
        let good = frame::encode(&key(8), &Rle, &data, 0).expect("encode");
        let edited = if resealed {
            super::reseal(good, |b| b[at] = value)
        } else {
            let mut b = good;
            b[at] = value;
            b
        };
        if let Some(cut) = frame::payload_offset_of(&edited).filter(|&c| c <= edited.len()) {
            match (Frame::parse(&edited), Frame::parse_split(&edited[..cut], &edited[cut..])) {
                (Ok(whole), Ok(split)) => {
                    proptest::prop_assert_eq!(whole.header(), split.header());
                    proptest::prop_assert_eq!(whole.payload(), split.payload());
                }
                (Err(whole), Err(split)) => proptest::prop_assert_eq!(whole.kind(), split.kind()),
                (whole, split) => proptest::prop_assert!(false, "whole {:?}, split {:?}", whole, split),
            }
        }
    }
}
