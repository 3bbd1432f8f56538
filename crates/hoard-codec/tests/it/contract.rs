//! The `Codec` contract, checked for every codec compiled in.

use hoard_core::frame::{self, Frame};
use hoard_core::{Codec, Digest, ErrorKind, HasherId, Key};
use proptest::prelude::*;

use crate::{PREFIX, codecs, decode_checked, encode, realistic};

const SIZES: [usize; 5] = [0, 1, 1000, 64 * 1024, 1024 * 1024];

#[test]
fn round_trips_at_every_size() {
    for (name, codec) in codecs() {
        for (i, size) in SIZES.into_iter().enumerate() {
            let data = realistic(size, i as u64);
            let encoded = encode(&*codec, &data);
            let decoded = decode_checked(&*codec, &encoded, size);
            assert!(
                decoded.as_ref().is_ok_and(|d| *d == data),
                "{name} at {size}"
            );
        }
    }
}

#[test]
fn compressing_codecs_compress_realistic_data() {
    let data = realistic(64 * 1024, 7);
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, &data);
        if codec.id() != hoard_core::CodecId::Identity {
            assert!(
                encoded.len() < data.len() * 3 / 4,
                "{name}: {}",
                encoded.len()
            );
        }
    }
}

#[test]
fn frames_round_trip_through_hoard_core() {
    let key = Key::new(HasherId::Sha256, Digest::from_bytes([3; 32]));
    for (name, codec) in codecs() {
        for size in [0, 1000, 20_000] {
            let data = realistic(size, 11);
            let bytes = frame::encode(&key, &*codec, &data, 1_700_000_000_000)
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let parsed = Frame::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(parsed.header().level, codec.level(), "{name}");
            assert_eq!(parsed.decode(&*codec).ok(), Some(data), "{name} at {size}");
        }
    }
}

#[test]
fn a_wrong_length_is_corrupt_and_leaves_out_alone() {
    let data = realistic(1000, 2);
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, &data);
        for wrong in [999, 1001, 1 << 30] {
            let result = decode_checked(&*codec, &encoded, wrong);
            assert!(result.is_err(), "{name} accepted {wrong} for 1000 bytes");
        }
    }
}

#[test]
fn an_empty_payload_is_not_a_non_empty_value() {
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, b"");
        assert!(decode_checked(&*codec, &encoded, 1).is_err(), "{name}");
        assert!(decode_checked(&*codec, b"", 1).is_err(), "{name}");
    }
}

#[test]
fn truncations_never_panic() {
    let data = realistic(4096, 3);
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, &data);
        for cut in 0..encoded.len() {
            // Either outcome is checked by decode_checked; a compressing codec must not
            // accept a strict prefix of its own output.
            let result = decode_checked(&*codec, &encoded[..cut], data.len());
            if codec.id() != hoard_core::CodecId::Identity {
                assert!(result.is_err(), "{name} accepted a cut at {cut}");
            }
        }
    }
}

#[test]
fn every_single_bit_flip_is_survived() {
    let data = realistic(4096, 4);
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, &data);
        let mut damaged = encoded.clone();
        for bit in 0..encoded.len() * 8 {
            damaged[bit / 8] ^= 1 << (bit % 8);
            // decode_checked asserts the contract whatever the outcome; a compressing codec
            // may accept a flip in a literal (the hoard frame's checksum is what catches it).
            let result = decode_checked(&*codec, &damaged, data.len());
            if codec.id() == hoard_core::CodecId::Identity {
                assert_eq!(result.ok().as_ref(), Some(&damaged), "{name} at bit {bit}");
            }
            damaged[bit / 8] ^= 1 << (bit % 8);
        }
    }
}

#[test]
fn garbage_is_survived() {
    let mut rng = crate::Rng(0x5eed);
    for (_, codec) in codecs() {
        for len in [0usize, 1, 3, 4, 5, 6, 7, 8, 13, 64, 1000, 5000] {
            let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            for decoded_len in [0, 1, len, 2 * len + 7, 100_000] {
                // decode_checked asserts the contract whatever the outcome.
                let _ = decode_checked(&*codec, &garbage, decoded_len);
            }
        }
    }
}

#[test]
fn output_grows_by_exactly_the_encoding() {
    // Encoding twice into the same buffer appends twice, each decodable on its own.
    for (name, codec) in codecs() {
        let (a, b) = (realistic(3000, 5), realistic(2000, 6));
        let mut out = PREFIX.to_vec();
        codec.encode(&a, &mut out).expect("encode a");
        let first_end = out.len();
        codec.encode(&b, &mut out).expect("encode b");
        let mut decoded = Vec::new();
        codec
            .decode(&out[PREFIX.len()..first_end], a.len(), &mut decoded)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        codec
            .decode(&out[first_end..], b.len(), &mut decoded)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(decoded, [a, b].concat(), "{name}");
    }
}

#[test]
fn codecs_are_send_sync_debug() {
    fn assert_traits<T: Send + Sync + std::fmt::Debug + ?Sized>(_: &T) {}
    for (name, codec) in codecs() {
        assert_traits(&*codec);
        assert!(!format!("{codec:?}").is_empty(), "{name}");
    }
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..4096),
        // Runs of few distinct bytes give long matches, which random bytes never do.
        proptest::collection::vec((0u8..4, 1usize..300), 0..40).prop_map(|runs| {
            runs.into_iter()
                .flat_map(|(b, n)| std::iter::repeat_n(b, n))
                .collect()
        }),
        (0u64..1000, 0usize..20_000).prop_map(|(seed, len)| realistic(len, seed)),
    ]
}

/// Arbitrary bytes, half of the time behind a zstd frame magic so that they get past the
/// first check of the zstd decoder.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let bytes = proptest::collection::vec(any::<u8>(), 0..2048);
    prop_oneof![
        bytes.clone(),
        bytes.prop_map(|rest| [&[0x28, 0xb5, 0x2f, 0xfd][..], &rest].concat()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn round_trips(data in payload()) {
        for (name, codec) in codecs() {
            let encoded = encode(&*codec, &data);
            let decoded = decode_checked(&*codec, &encoded, data.len());
            prop_assert!(decoded.as_ref().is_ok_and(|d| *d == data), "{}", name);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in hostile(), decoded_len in 0usize..70_000) {
        for (_, codec) in codecs() {
            // decode_checked asserts the contract for both outcomes.
            let _ = decode_checked(&*codec, &input, decoded_len);
        }
    }

    #[test]
    fn damaged_encodings_never_panic(
        data in payload(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        for (_, codec) in codecs() {
            let mut encoded = encode(&*codec, &data);
            if encoded.is_empty() {
                continue;
            }
            for (at, value) in &edits {
                let i = at.index(encoded.len());
                encoded[i] = *value;
            }
            let _ = decode_checked(&*codec, &encoded, data.len());
        }
    }
}

#[test]
fn an_impossible_length_is_an_error_not_an_abort() {
    for (name, codec) in codecs() {
        let encoded = encode(&*codec, b"x");
        let mut out = Vec::new();
        let err = codec.decode(&encoded, usize::MAX, &mut out).err();
        let kind = err.map(|e| e.kind());
        assert!(
            matches!(kind, Some(ErrorKind::Corrupt | ErrorKind::TooLarge)),
            "{name}: {kind:?}"
        );
        assert!(out.is_empty(), "{name}");
    }
}
