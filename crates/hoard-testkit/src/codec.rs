//! The [`Codec`] conformance suite.
//!
//! [`run_all`] runs every check; each is also a public function. A check panics with a
//! message that starts with `codec contract broken (<clause>)`, naming the clause of the
//! [`Codec`] contract that failed and the input that broke it. Decoding of damaged and
//! hostile input runs under [`std::panic::catch_unwind`], so a codec that panics is reported
//! with the input it panicked on rather than aborting the suite.
//!
//! Every decode the suite makes with [`Codec::decode`] is repeated with
//! [`Codec::decode_into`] into a slice of exactly `decoded_len` bytes between guard bytes:
//! it must agree (the same bytes, or an [`ErrorKind::Corrupt`] error where `decode` failed),
//! never panic and never write outside the slice.
//!
//! Inputs are [`artifact`] (compresses like compiled code) and [`noise`] (does not compress),
//! of sizes from 0 to 1 MiB, and a 600 KiB frame, which is chunked. The whole suite takes
//! about a second on an in-memory codec in a debug build.

use hoard_core::frame::{self, Frame, FrameOptions};
use hoard_core::{Codec, Error, ErrorKind, HasherId, Key};

use crate::support::{catch, difference, digest};
use crate::{artifact, noise};

/// Runs every check against `codec`.
pub fn run_all(codec: &dyn Codec) {
    id_is_valid(codec);
    round_trips(codec);
    encode_appends(codec);
    decode_appends(codec);
    decode_rejects_wrong_lengths(codec);
    truncations_are_safe(codec);
    bit_flips_are_safe(codec);
    garbage_is_safe(codec);
    frame_round_trip(codec);
}

/// Bytes put in `out` before a call, standing in for a frame header.
const PREFIX: &[u8] = b"hoard-testkit: bytes already in `out`";

/// The round-trip sizes: empty to 1 MiB.
const SIZES: [usize; 6] = [0, 1, 100, 4096, 64 * 1024, 1 << 20];

/// Names the inputs of the suite in messages.
fn input_name(kind: &str, len: usize, seed: u64) -> String {
    format!("{kind}({len}, seed {seed})")
}

fn encode(codec: &dyn Codec, clause: &str, input: &[u8], name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    match catch(|| codec.encode(input, &mut out)) {
        Ok(Ok(())) => out,
        Ok(Err(e)) => panic!(
            "codec contract broken ({clause}): {} failed to encode {name}: {e} ({})",
            codec.id(),
            e.kind()
        ),
        Err(message) => panic!(
            "codec contract broken ({clause}): {} panicked encoding {name}: {message}",
            codec.id()
        ),
    }
}

/// Decodes `input` into an `out` that already holds [`PREFIX`] and checks what the contract
/// promises whatever the input: no panic; on success, exactly `decoded_len` bytes appended
/// after intact existing bytes; on failure, an [`ErrorKind::Corrupt`] error and `out` grown by
/// at most `decoded_len`. Then checks that [`decode_into`](Codec::decode_into) agrees (see
/// [`decode_into_agrees`]). Returns the decoded bytes, or the error.
fn decode_checked(
    codec: &dyn Codec,
    clause: &str,
    input: &[u8],
    decoded_len: usize,
    name: &dyn Fn() -> String,
) -> Result<Vec<u8>, Error> {
    let mut out = PREFIX.to_vec();
    let id = codec.id();
    let result = match catch(|| codec.decode(input, decoded_len, &mut out)) {
        Ok(result) => result,
        Err(message) => panic!(
            "codec contract broken (decode never panics): {id} panicked decoding {} with \
             decoded_len {decoded_len}: {message}",
            name()
        ),
    };
    let checked = check_decoded(codec, clause, decoded_len, name, out, result);
    decode_into_agrees(codec, input, decoded_len, name, &checked);
    checked
}

/// The checks of [`decode_checked`] on what `decode` returned and left in `out`.
fn check_decoded(
    codec: &dyn Codec,
    clause: &str,
    decoded_len: usize,
    name: &dyn Fn() -> String,
    mut out: Vec<u8>,
    result: Result<(), Error>,
) -> Result<Vec<u8>, Error> {
    let id = codec.id();
    let grown = out.len().saturating_sub(PREFIX.len());
    match result {
        Ok(()) => {
            assert!(
                out.len() == PREFIX.len() + decoded_len,
                "codec contract broken ({clause}; decode appends exactly decoded_len bytes): \
                 {id} returned Ok decoding {} with decoded_len {decoded_len} but `out` went from \
                 {} to {} bytes",
                name(),
                PREFIX.len(),
                out.len()
            );
            assert!(
                out.starts_with(PREFIX),
                "codec contract broken ({clause}; decode appends): {id} changed the bytes \
                 already in `out` decoding {}",
                name()
            );
            Ok(out.split_off(PREFIX.len()))
        }
        Err(e) => {
            assert!(
                grown <= decoded_len,
                "codec contract broken (decode never grows `out` by more than decoded_len): \
                 {id} failed decoding {} with decoded_len {decoded_len} ({e}) after growing \
                 `out` by {grown} bytes",
                name()
            );
            assert!(
                e.kind() == ErrorKind::Corrupt,
                "codec contract broken (decode failures are ErrorKind::Corrupt): {id} failed \
                 decoding {} with decoded_len {decoded_len} with kind {:?}: {e}",
                name(),
                e.kind()
            );
            Err(e)
        }
    }
}

/// Guard bytes around the slice [`decode_into_agrees`] decodes into.
const GUARD: [u8; 16] = [0xa5; 16];

/// Decodes `input` with [`Codec::decode_into`] into a slice of exactly `decoded_len` bytes
/// (between [`GUARD`] bytes) and checks that it agrees with what `decode` gave (`expected`):
/// no panic, nothing written outside the slice, the same bytes when `decode` succeeded, and an
/// [`ErrorKind::Corrupt`] error when it failed.
fn decode_into_agrees(
    codec: &dyn Codec,
    input: &[u8],
    decoded_len: usize,
    name: &dyn Fn() -> String,
    expected: &Result<Vec<u8>, Error>,
) {
    const CLAUSE: &str = "decode_into agrees with decode";
    let id = codec.id();
    let mut buf = Vec::with_capacity(decoded_len + 2 * GUARD.len());
    buf.extend_from_slice(&GUARD);
    buf.resize(GUARD.len() + decoded_len, 0x5a);
    buf.extend_from_slice(&GUARD);
    let end = GUARD.len() + decoded_len;
    let result = match catch(|| codec.decode_into(input, &mut buf[GUARD.len()..end])) {
        Ok(result) => result,
        Err(message) => panic!(
            "codec contract broken (decode_into never panics): {id} panicked decoding {} into \
             {decoded_len} bytes: {message}",
            name()
        ),
    };
    assert!(
        buf[..GUARD.len()] == GUARD && buf[end..] == GUARD,
        "codec contract broken (decode_into never writes outside `out`): {id} wrote around the \
         {decoded_len}-byte slice decoding {}",
        name()
    );
    match (result, expected) {
        (Ok(()), Ok(decoded)) => assert!(
            buf[GUARD.len()..end] == decoded[..],
            "codec contract broken ({CLAUSE}): {id} decoded {} into {} with decode_into",
            name(),
            difference(&buf[GUARD.len()..end], decoded)
        ),
        (Ok(()), Err(e)) => panic!(
            "codec contract broken ({CLAUSE}): {id} decode_into accepted {} as {decoded_len} \
             bytes, which decode refused: {e}",
            name()
        ),
        (Err(e), Ok(_)) => panic!(
            "codec contract broken ({CLAUSE}): {id} decode_into refused {} as {decoded_len} \
             bytes, which decode accepted: {e}",
            name()
        ),
        (Err(e), Err(_)) => assert!(
            e.kind() == ErrorKind::Corrupt,
            "codec contract broken (decode_into failures are ErrorKind::Corrupt): {id} failed \
             decoding {} into {decoded_len} bytes with kind {:?}: {e}",
            name(),
            e.kind()
        ),
    }
}

/// [`decode_checked`] where success and failure are both acceptable outcomes: what the
/// contract asks of either was asserted there.
fn decode_either(
    codec: &dyn Codec,
    clause: &str,
    input: &[u8],
    decoded_len: usize,
    name: &dyn Fn() -> String,
) {
    let _ = decode_checked(codec, clause, input, decoded_len, name);
}

/// `id` and `level` give the same answer every time. (An id is in range by construction:
/// `CodecId::Plugin` holds a checked `PluginId`.)
pub fn id_is_valid(codec: &dyn Codec) {
    let (id, level) = (codec.id(), codec.level());
    assert!(
        codec.id() == id && codec.level() == level,
        "codec contract broken (the id is stable): id() or level() changed between calls"
    );
}

/// `decode(encode(x), x.len()) == x` for sizes 0, 1, 100, 4 KiB, 64 KiB and 1 MiB of
/// [`artifact`] and of [`noise`] data, and every encoding is within
/// [`frame::max_encoded_len`].
pub fn round_trips(codec: &dyn Codec) {
    const CLAUSE: &str = "decode(encode(x), x.len()) == x";
    let id = codec.id();
    for (kind, make) in [
        ("artifact", artifact as fn(usize, u64) -> Vec<u8>),
        ("noise", noise),
    ] {
        for (i, len) in SIZES.into_iter().enumerate() {
            let seed = 1000 + i as u64;
            let name = input_name(kind, len, seed);
            let input = make(len, seed);
            let encoded = encode(codec, CLAUSE, &input, &name);
            let bound = frame::max_encoded_len(len as u64);
            assert!(
                encoded.len() as u64 <= bound,
                "codec contract broken (output within frame::max_encoded_len): {id} encoded \
                 {name} into {} bytes, above the bound of {bound}",
                encoded.len()
            );
            let decoded = decode_checked(codec, CLAUSE, &encoded, len, &|| {
                format!("the encoding of {name}")
            });
            let decoded = decoded.unwrap_or_else(|e| {
                panic!(
                    "codec contract broken ({CLAUSE}): {id} failed to decode its encoding of \
                     {name}: {e}"
                )
            });
            assert!(
                decoded == input,
                "codec contract broken ({CLAUSE}): {id} decoded its encoding of {name} into {}",
                difference(&decoded, &input)
            );
        }
    }
}

/// `encode` appends to `out` and leaves the bytes already there untouched.
pub fn encode_appends(codec: &dyn Codec) {
    const CLAUSE: &str = "encode appends to `out`";
    let id = codec.id();
    for len in [0, 100, 4096] {
        let name = input_name("artifact", len, 2000);
        let input = artifact(len, 2000);
        let mut out = PREFIX.to_vec();
        if let Err(e) = codec.encode(&input, &mut out) {
            panic!(
                "codec contract broken ({CLAUSE}): {id} failed to encode {name} after existing bytes: {e}"
            );
        }
        assert!(
            out.len() >= PREFIX.len() && out.starts_with(PREFIX),
            "codec contract broken ({CLAUSE}): {id} changed or removed the {} bytes already in \
             `out` encoding {name}",
            PREFIX.len()
        );
        let decoded = decode_checked(codec, CLAUSE, &out[PREFIX.len()..], len, &|| {
            format!("what encoding {name} appended")
        });
        assert!(
            decoded.as_deref().ok() == Some(&input[..]),
            "codec contract broken ({CLAUSE}): what {id} appended encoding {name} does not \
             decode back to it"
        );
    }
}

/// `decode` appends exactly `decoded_len` bytes after the bytes already in `out`.
pub fn decode_appends(codec: &dyn Codec) {
    const CLAUSE: &str = "decode appends exactly decoded_len bytes";
    for len in [0, 1, 100, 4096, 64 * 1024] {
        let name = input_name("artifact", len, 3000);
        let input = artifact(len, 3000);
        let encoded = encode(codec, CLAUSE, &input, &name);
        let decoded = decode_checked(codec, CLAUSE, &encoded, len, &|| {
            format!("the encoding of {name}, into a non-empty `out`")
        });
        assert!(
            decoded.as_deref().ok() == Some(&input[..]),
            "codec contract broken ({CLAUSE}): {} did not append {name} decoding its encoding \
             into a non-empty `out`",
            codec.id()
        );
    }
}

/// A `decoded_len` one more or one less than the encoded data's length is an
/// [`ErrorKind::Corrupt`] error that never grows `out` by more than `decoded_len`; so is a
/// `decoded_len` far below it (1 MiB of zeros declared as 4 KiB, 1 byte or nothing: a
/// decompression bomb).
pub fn decode_rejects_wrong_lengths(codec: &dyn Codec) {
    const CLAUSE: &str = "decode fails unless the data is exactly decoded_len bytes";
    let id = codec.id();
    let mut cases: Vec<(String, Vec<u8>)> = [0, 1, 100, 4096, 64 * 1024]
        .into_iter()
        .map(|len| (input_name("artifact", len, 4000), artifact(len, 4000)))
        .collect();
    cases.push((input_name("noise", 4096, 4001), noise(4096, 4001)));
    for (name, input) in &cases {
        let encoded = encode(codec, CLAUSE, input, name);
        let len = input.len();
        let wrong = [len.checked_sub(1), Some(len + 1)];
        for declared in wrong.into_iter().flatten() {
            let decoded = decode_checked(codec, CLAUSE, &encoded, declared, &|| {
                format!("the encoding of {name}")
            });
            assert!(
                decoded.is_err(),
                "codec contract broken ({CLAUSE}): {id} accepted the encoding of {name} ({len} \
                 bytes) as {declared} bytes"
            );
        }
    }
    let zeros = vec![0u8; 1 << 20];
    let encoded = encode(codec, CLAUSE, &zeros, "1 MiB of zeros");
    for declared in [4096, 1, 0] {
        let decoded = decode_checked(codec, CLAUSE, &encoded, declared, &|| {
            "the encoding of 1 MiB of zeros".to_owned()
        });
        assert!(
            decoded.is_err(),
            "codec contract broken ({CLAUSE}): {id} accepted the encoding of 1 MiB of zeros as \
             {declared} bytes"
        );
    }
}

/// Every truncation of the encodings of 1 KiB of [`artifact`] data and of nothing decodes
/// without panicking, into an error or exactly `decoded_len` bytes, never growing `out` by
/// more than `decoded_len`.
pub fn truncations_are_safe(codec: &dyn Codec) {
    const CLAUSE: &str = "decode of a truncated encoding";
    for len in [1024, 0] {
        let name = input_name("artifact", len, 5000);
        let input = artifact(len, 5000);
        let encoded = encode(codec, CLAUSE, &input, &name);
        for cut in 0..encoded.len() {
            decode_either(codec, CLAUSE, &encoded[..cut], len, &|| {
                format!(
                    "the encoding of {name} truncated to {cut} of its {} bytes",
                    encoded.len()
                )
            });
        }
    }
}

/// Every single-bit flip of a ~1 KiB encoding of [`artifact`] data decodes without
/// panicking, into an error or exactly `decoded_len` bytes, never growing `out` by more than
/// `decoded_len`.
pub fn bit_flips_are_safe(codec: &dyn Codec) {
    const CLAUSE: &str = "decode of a damaged encoding";
    // The smallest input (from 1 KiB up) whose encoding reaches 1 KiB.
    let mut len = 1024;
    let (input, encoded) = loop {
        let input = artifact(len, 6000);
        let encoded = encode(codec, CLAUSE, &input, &input_name("artifact", len, 6000));
        if encoded.len() >= 1024 || len >= 16 * 1024 {
            break (input, encoded);
        }
        len *= 2;
    };
    let name = input_name("artifact", input.len(), 6000);
    let mut damaged = encoded.clone();
    for bit in 0..encoded.len() * 8 {
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        damaged[byte] ^= mask;
        decode_either(codec, CLAUSE, &damaged, input.len(), &|| {
            format!(
                "the {}-byte encoding of {name} with bit {} of byte {byte} flipped",
                encoded.len(),
                bit % 8
            )
        });
        damaged[byte] ^= mask;
    }
}

/// Inputs no encoder wrote: random bytes of many lengths, constant runs, shapes of zstd and
/// LZ4 headers that declare huge windows, sizes or matches, and a valid encoding followed by
/// junk. Each, declared as 0, 1, 100, 4 KiB and 64 KiB bytes, decodes without panicking, into
/// an error or exactly `decoded_len` bytes, never growing `out` by more than `decoded_len`.
pub fn garbage_is_safe(codec: &dyn Codec) {
    const CLAUSE: &str = "decode of garbage";
    let mut inputs: Vec<(String, Vec<u8>)> = vec![
        ("no bytes".to_owned(), Vec::new()),
        ("one zero byte".to_owned(), vec![0]),
        ("one 0xff byte".to_owned(), vec![0xff]),
        ("64 zero bytes".to_owned(), vec![0; 64]),
        ("64 0xff bytes".to_owned(), vec![0xff; 64]),
    ];
    for (i, len) in [
        1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 64, 100, 1000, 4096,
    ]
    .into_iter()
    .enumerate()
    {
        inputs.push((
            input_name("noise", len, 7000 + i as u64),
            noise(len, 7000 + i as u64),
        ));
    }
    let zstd_magic = [0x28, 0xb5, 0x2f, 0xfd];
    let with = |head: &[u8], tail: Vec<u8>| [head, &tail[..]].concat();
    inputs.extend([
        (
            "a zstd magic number then noise".to_owned(),
            with(&zstd_magic, noise(60, 7100)),
        ),
        (
            "a zstd frame header declaring the largest window".to_owned(),
            with(&[0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xff], noise(32, 7101)),
        ),
        (
            "a zstd frame header declaring a content size of 2^64 - 1".to_owned(),
            with(&[0x28, 0xb5, 0x2f, 0xfd, 0xe0], vec![0xff; 8])
                .into_iter()
                .chain([0x01, 0x00, 0x00, 0x41])
                .collect(),
        ),
        (
            "a zstd frame with a 128 KiB RLE block".to_owned(),
            vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0xfb, 0xff, 0x0f, 0x61],
        ),
        (
            "an LZ4 sequence with a huge literal length".to_owned(),
            with(&[0xf0], vec![0xff; 64])
                .into_iter()
                .chain([0x00])
                .collect(),
        ),
        (
            "an LZ4 match at offset 0".to_owned(),
            vec![0x1f, b'a', 0x00, 0x00, 0x00],
        ),
        (
            "an LZ4 match before the start of the output".to_owned(),
            vec![0x10, b'a', 0xff, 0xff, 0x00],
        ),
        (
            "an LZ4 match of ~1 MiB at offset 1".to_owned(),
            with(&[0x1f, b'a', 0x01, 0x00], vec![0xff; 4096])
                .into_iter()
                .chain([0x00, 0x10, b'b'])
                .collect(),
        ),
    ]);
    let valid = encode(
        codec,
        CLAUSE,
        &artifact(100, 7200),
        "artifact(100, seed 7200)",
    );
    inputs.push((
        "the encoding of artifact(100, seed 7200) followed by noise".to_owned(),
        with(&valid, noise(50, 7201)),
    ));
    for (name, input) in &inputs {
        for declared in [0, 1, 100, 4096, 64 * 1024] {
            decode_either(codec, CLAUSE, input, declared, &|| name.clone());
        }
    }
}

/// A frame round trip: [`frame::encode`] with the codec, [`Frame::parse`],
/// [`Frame::verify_for`] and [`Frame::decode`] give back the data, for payloads of 0, 100,
/// 20,000 (above the page-alignment threshold for identity), 64 KiB and 600 KiB (chunked,
/// unless the codec is identity; also encoded on 2 threads and decoded on 3) bytes, and the
/// header records the codec's id and level.
pub fn frame_round_trip(codec: &dyn Codec) {
    const CLAUSE: &str = "frames of this codec round trip";
    let id = codec.id();
    for (i, len) in [0usize, 100, 20_000, 64 * 1024, 600 * 1024]
        .into_iter()
        .enumerate()
    {
        let seed = 8000 + i as u64;
        let name = input_name("artifact", len, seed);
        let data = artifact(len, seed);
        let key = Key::new(HasherId::Sha256, digest(seed));
        let bytes = frame::encode(&key, codec, &data, 1_700_000_000_000).unwrap_or_else(|e| {
            panic!(
                "codec contract broken ({CLAUSE}): frame::encode of {name} with {id} failed: {e}"
            )
        });
        let parsed = Frame::parse(&bytes).unwrap_or_else(|e| {
            panic!("codec contract broken ({CLAUSE}): the frame of {name} with {id} does not parse: {e}")
        });
        let header = parsed.verify_for(&key, len as u64).unwrap_or_else(|e| {
            panic!("codec contract broken ({CLAUSE}): the frame of {name} with {id} does not verify: {e}")
        });
        assert!(
            header.codec == id && header.level == codec.level() && header.decoded_len == len as u64,
            "codec contract broken ({CLAUSE}): the frame of {name} records codec {}, level {} \
             and {} decoded bytes, expected {id}, level {} and {len}",
            header.codec,
            header.level,
            header.decoded_len,
            codec.level()
        );
        let decoded = catch(|| parsed.decode(codec))
            .unwrap_or_else(|message| {
                panic!("codec contract broken (decode never panics): {id} panicked decoding the frame of {name}: {message}")
            })
            .unwrap_or_else(|e| {
                panic!("codec contract broken ({CLAUSE}): decoding the frame of {name} with {id} failed: {e}")
            });
        assert!(
            decoded == data,
            "codec contract broken ({CLAUSE}): the frame of {name} with {id} decoded into {}",
            difference(&decoded, &data)
        );
        let chunked = frame::chunk_len_for(id, len as u64).is_some();
        assert!(
            header.chunks.is_some() == chunked,
            "codec contract broken ({CLAUSE}): the frame of {name} with {id} is {}chunked",
            if chunked { "not " } else { "" }
        );
        if chunked {
            frame_round_trip_on_threads(codec, &key, &data, &name);
        }
    }
}

/// A chunked frame encoded on 2 threads and decoded on 3 gives back the data.
fn frame_round_trip_on_threads(codec: &dyn Codec, key: &Key, data: &[u8], name: &str) {
    const CLAUSE: &str = "chunked frames of this codec round trip on several threads";
    let id = codec.id();
    let outcome = catch(|| {
        let options = FrameOptions::new().with_threads(2);
        let bytes = frame::encode_with(key, codec, data, 1_700_000_000_000, &options)?;
        Frame::parse(&bytes)?.decode_with_options(codec, &FrameOptions::new().with_threads(3))
    });
    let decoded = outcome
        .unwrap_or_else(|message| {
            panic!(
                "codec contract broken ({CLAUSE}): {id} panicked on the frame of {name}: {message}"
            )
        })
        .unwrap_or_else(|e| {
            panic!("codec contract broken ({CLAUSE}): the frame of {name} with {id} failed: {e}")
        });
    assert!(
        decoded == data,
        "codec contract broken ({CLAUSE}): the frame of {name} with {id} decoded into {}",
        difference(&decoded, data)
    );
}
