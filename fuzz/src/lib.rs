//! Checks shared by hoard's fuzz targets (see `fuzz_targets/`).

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
    if codec.decode(payload, declared, &mut out).is_ok() {
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
