//! What is specific to the LZ4 codec.

use hoard_codec::Lz4;
use hoard_core::{Codec, CodecId};

use crate::{decode_checked, encode};

#[test]
fn lz4_identity_and_level() {
    assert_eq!(Lz4.id(), CodecId::Lz4);
    assert_eq!(Lz4.level(), 0);
}

/// The up-front refusal of lengths above 255 times the payload must not refuse real data:
/// zeros are as compressible as LZ4 gets.
#[test]
fn the_most_compressible_input_still_decodes() {
    for len in [1usize, 16, 1000, 1 << 20, 4 << 20] {
        let data = vec![0u8; len];
        let encoded = encode(&Lz4, &data);
        assert_eq!(
            decode_checked(&Lz4, &encoded, len).ok(),
            Some(data),
            "{len}"
        );
    }
}

#[test]
fn a_claimed_expansion_beyond_any_lz4_block_is_refused_without_allocating() {
    let encoded = encode(&Lz4, &[7u8; 1000]);
    let mut out = Vec::new();
    let err = Lz4
        .decode(&encoded, 1 << 40, &mut out)
        .err()
        .map(|e| e.kind());
    assert_eq!(err, Some(hoard_core::ErrorKind::Corrupt));
    assert_eq!(out.capacity(), 0);
}
