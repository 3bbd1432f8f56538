//! Chunked frames with the real codecs: the same bytes and the same outcome on any thread
//! count, damage in any chunk is corrupt, and the proptest twin of the `frame_chunked` fuzz
//! target.

use hoard_core::frame::{self, CHUNK_THRESHOLD, Frame, FrameOptions, HEADER_LEN};
use hoard_core::{Codec, Digest, ErrorKind, HasherId, Key, Result};
use proptest::prelude::*;

use crate::{codecs, realistic};

fn key() -> Key {
    Key::new(HasherId::Sha256, Digest::from_bytes([7; 32]))
}

fn on(threads: usize) -> FrameOptions {
    FrameOptions::new().with_threads(threads)
}

/// Parses, verifies and decodes `bytes` on 1, 2 and 3 threads: the outcomes must agree
/// (bytes, or error kind and message), and a success has exactly the declared length. The
/// twin of the fuzz target's check.
fn decode_alike(bytes: &[u8]) -> Option<Vec<u8>> {
    let frame = Frame::parse(bytes).ok()?;
    let header = frame.verify_for(&frame.header().key(), 4 << 20).ok()?;
    let codec = hoard_codec::by_id(header.codec)?;
    let outcomes: Vec<Result<Vec<u8>>> = (1..=3)
        .map(|threads| frame.decode_with_options(codec.as_ref(), &on(threads)))
        .collect();
    for outcome in &outcomes[1..] {
        match (outcome, &outcomes[0]) {
            (Ok(a), Ok(b)) => assert!(a == b, "thread counts decoded different bytes"),
            (Err(a), Err(b)) => assert_eq!((a.kind(), a.message()), (b.kind(), b.message())),
            (a, b) => panic!("thread counts disagree: {a:?} against {b:?}"),
        }
    }
    let decoded = outcomes.into_iter().next()?.ok()?;
    assert_eq!(decoded.len() as u64, header.decoded_len);
    Some(decoded)
}

#[test]
fn every_codec_round_trips_chunked_frames_on_any_thread_count() {
    for len in [CHUNK_THRESHOLD as usize + 1, (1 << 20) + 17] {
        let data = realistic(len, len as u64);
        for (name, codec) in codecs() {
            let one = frame::encode(&key(), codec.as_ref(), &data, 0).expect("encode");
            let chunked = Frame::parse(&one).expect("parse").header().chunks.is_some();
            assert_eq!(chunked, name != "identity", "{name} at {len}");
            for threads in [2, 4] {
                let other = frame::encode_with(&key(), codec.as_ref(), &data, 0, &on(threads))
                    .expect("encode");
                assert!(
                    other == one,
                    "{name} at {len}: {threads} threads, other bytes"
                );
            }
            assert!(
                decode_alike(&one).is_some_and(|d| d == data),
                "{name} at {len}"
            );
        }
    }
}

#[test]
fn damage_in_any_chunk_is_corrupt_on_any_thread_count() {
    let data = realistic(1 << 20, 11);
    for (name, codec) in codecs() {
        if name == "identity" {
            continue;
        }
        let good = frame::encode(&key(), codec.as_ref(), &data, 0).expect("encode");
        let f = Frame::parse(&good).expect("parse");
        let (offset, lens) = (
            f.header().payload_offset,
            f.header().chunks.clone().expect("chunked"),
        );
        let mut start = offset;
        for (i, &stored) in lens.stored_lens().iter().enumerate() {
            // A byte in the middle of chunk i, checksum fixed up: only the chunk is wrong.
            let at = start + stored as usize / 2;
            start += stored as usize;
            let bad = hoard_testkit::reseal(good.clone(), |b| b[at] ^= 0x40);
            for threads in 1..=4 {
                let got = Frame::parse(&bad)
                    .and_then(|f| f.decode_with_options(codec.as_ref(), &on(threads)));
                // Damage inside a compressed block may still decode (to other bytes); it is
                // never anything but the declared length or corrupt.
                match got {
                    Ok(d) => assert_eq!(d.len(), data.len(), "{name} chunk {i}"),
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupt, "{name} chunk {i}"),
                }
            }
        }
        // A chunk cut short by one byte (and the next one longer) is corrupt.
        let cut = hoard_testkit::reseal(good.clone(), |b| {
            let first = HEADER_LEN + 8;
            let n = u32::from_le_bytes(b[first..first + 4].try_into().expect("4 bytes"));
            let m = u32::from_le_bytes(b[first + 4..first + 8].try_into().expect("4 bytes"));
            b[first..first + 4].copy_from_slice(&(n - 1).to_le_bytes());
            b[first + 4..first + 8].copy_from_slice(&(m + 1).to_le_bytes());
        });
        for threads in 1..=4 {
            let got = Frame::parse(&cut)
                .and_then(|f| f.decode_with_options(codec.as_ref(), &on(threads)));
            assert_eq!(
                got.err().map(|e| e.kind()),
                Some(ErrorKind::Corrupt),
                "{name}"
            );
        }
    }
}

/// A stand-in for `hoard_fuzz::check_chunked_frame`'s building mode: a frame of `len` bytes
/// of `pattern` repeated, encoded with zstd or LZ4, then XOR edits, resealed.
fn built(zstd: bool, len: usize, pattern: &[u8], edits: &[(u16, u8)]) -> Vec<u8> {
    let id = if zstd {
        hoard_core::CodecId::Zstd
    } else {
        hoard_core::CodecId::Lz4
    };
    let Some(codec) = hoard_codec::by_id(id) else {
        return Vec::new();
    };
    let value: Vec<u8> = pattern.iter().copied().cycle().take(len).collect();
    let frame = frame::encode(&key(), codec.as_ref(), &value, 1).expect("encode");
    let on_two = frame::encode_with(&key(), codec.as_ref(), &value, 1, &on(2)).expect("encode");
    assert!(frame == on_two, "the thread count changed the frame");
    if edits.is_empty() {
        assert!(decode_alike(&frame).is_some_and(|d| d == value));
        return frame;
    }
    let mut edited = frame;
    for &(at, x) in edits {
        let at = usize::from(at) % edited.len();
        edited[at] ^= x;
    }
    hoard_testkit::reseal(edited, |_| {})
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The twin of the `frame_chunked` fuzz target: built, damaged chunked frames decode
    /// alike on 1, 2 and 3 threads, and never panic.
    #[test]
    fn damaged_chunked_frames_decode_alike_on_any_thread_count(
        zstd in any::<bool>(),
        size in any::<u8>(),
        pattern in proptest::collection::vec(any::<u8>(), 1..64),
        edits in proptest::collection::vec((any::<u16>(), 1u8..), 0..6),
    ) {
        let len = CHUNK_THRESHOLD as usize + 1 + usize::from(size) * 4099;
        let frame = built(zstd, len, &pattern, &edits);
        if !frame.is_empty() {
            decode_alike(&frame);
        }
    }
}

#[test]
fn an_overridden_decode_into_and_the_provided_one_agree() {
    /// Forwards everything but `decode_into`, so the trait's provided copy is used.
    #[derive(Debug)]
    struct Provided(std::sync::Arc<dyn Codec>);
    impl Codec for Provided {
        fn id(&self) -> hoard_core::CodecId {
            self.0.id()
        }
        fn level(&self) -> i32 {
            self.0.level()
        }
        fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
            self.0.encode(input, out)
        }
        fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
            self.0.decode(input, decoded_len, out)
        }
    }
    let data = realistic(1 << 20, 3);
    for (name, codec) in codecs() {
        let bytes = frame::encode(&key(), codec.as_ref(), &data, 0).expect("encode");
        let f = Frame::parse(&bytes).expect("parse");
        let provided = Provided(codec.clone());
        for threads in [1, 3] {
            assert_eq!(
                f.decode_with_options(&provided, &on(threads))
                    .expect("decode"),
                data,
                "{name}"
            );
        }
    }
}
