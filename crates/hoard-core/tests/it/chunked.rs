//! Chunked (format version 2) frames: the chunking rule, round trips on any thread count,
//! the golden bytes, and damage, truncation and hostile chunk tables.

use hoard_core::frame::{
    self, CHUNK_THRESHOLD, FLAG_CHUNKED, FLAG_MAC, FORMAT_VERSION, Frame, FrameOptions, HEADER_LEN,
    MIN_CHUNK_LEN,
};
use hoard_core::{Codec, CodecId, Digest, Error, ErrorKind, HasherId, Key, Result};
use proptest::prelude::*;

use super::{Plain, Rle, from_hex_lines, key, reseal, to_hex_lines};

/// Run-length coding: pairs of a byte and a little-endian u32 count. Compresses the long runs
/// of [`runs`] to almost nothing, so that a chunked frame (more than 512 KiB decoded) is small
/// enough for a golden file and exhaustive bit flips. Decodes in place ([`Codec::decode_into`]);
/// [`Rle`] uses the provided copy.
#[derive(Debug)]
struct Runs;

impl Runs {
    /// Expands `input` into `out` through `emit`, failing unless exactly `len` bytes result.
    fn expand(input: &[u8], len: usize, mut emit: impl FnMut(u8, usize)) -> Result<()> {
        if !input.len().is_multiple_of(5) {
            return Err(Error::corrupt("run-length payload is not whole pairs"));
        }
        let mut total = 0usize;
        for pair in input.chunks_exact(5) {
            let n = u32::from_le_bytes([pair[1], pair[2], pair[3], pair[4]]) as usize;
            if n == 0 || n > len - total {
                return Err(Error::corrupt("run-length payload overruns its length"));
            }
            emit(pair[0], n);
            total += n;
        }
        if total != len {
            return Err(Error::corrupt("run-length payload is short of its length"));
        }
        Ok(())
    }
}

impl Codec for Runs {
    fn id(&self) -> CodecId {
        CodecId::plugin(0x8124).expect("in the plugin range")
    }
    fn level(&self) -> i32 {
        1
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let n = input[i..].iter().take_while(|&&x| x == b).count();
            out.push(b);
            out.extend_from_slice(&(n as u32).to_le_bytes());
            i += n;
        }
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let result = Self::expand(input, decoded_len, |b, n| out.resize(out.len() + n, b));
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        let mut at = 0;
        let len = out.len();
        Self::expand(input, len, |b, n| {
            out[at..at + n].fill(b);
            at += n;
        })
    }
}

/// `len` bytes in runs of 5,000, so that runs straddle chunk borders.
fn runs(len: usize) -> Vec<u8> {
    // Made once: the tests run unoptimised.
    static RUNS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let all = RUNS.get_or_init(|| (0..6 << 20).map(|i| (i / 5000 * 37 % 251) as u8).collect());
    all[..len].to_vec()
}

fn parse_verify_decode(bytes: &[u8], codec: &dyn Codec, threads: usize) -> Result<Vec<u8>> {
    let f = Frame::parse(bytes)?;
    f.verify_for(&f.header().key(), u64::MAX)?;
    f.decode_with_options(codec, &FrameOptions::new().with_threads(threads))
}

fn kind<T>(r: Result<T>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

#[test]
fn the_chunking_rule() {
    let z = CodecId::Zstd;
    assert_eq!(frame::chunk_len_for(z, 0), None);
    assert_eq!(frame::chunk_len_for(z, CHUNK_THRESHOLD), None);
    assert_eq!(frame::chunk_len_for(CodecId::Identity, 1 << 30), None);
    let kib = |n: u64| n << 10;
    let mib = |n: u64| n << 20;
    for (len, chunk) in [
        (CHUNK_THRESHOLD + 1, kib(256)),
        (mib(1), kib(256)),
        (mib(2), kib(256)),
        (mib(2) + 1, kib(512)),
        (mib(4), kib(512)),
        (mib(16), mib(2)),
        (mib(32), mib(4)),
        (mib(1024), mib(4)),
        (mib(2048), mib(4)),
        (mib(2048) + 1, mib(8)),
    ] {
        assert_eq!(frame::chunk_len_for(z, len), Some(chunk), "{len} bytes");
        assert!(len.div_ceil(chunk) <= frame::MAX_WRITTEN_CHUNKS);
    }
    // No overflow anywhere in the range.
    assert!(frame::chunk_len_for(z, u64::MAX).is_some());
}

#[test]
fn small_frames_keep_version_1_and_large_ones_are_chunked() {
    let small = frame::encode(&key(1), &Rle, &runs(CHUNK_THRESHOLD as usize), 0).expect("encode");
    assert_eq!(small[8..10], [1, 0], "version 1");
    let h = Frame::parse(&small).expect("parse").header().clone();
    assert_eq!((h.version, h.flags, h.chunks), (1, 0, None));

    let len = 3 << 19;
    let large = frame::encode(&key(1), &Rle, &runs(len), 0).expect("encode");
    let f = Frame::parse(&large).expect("parse");
    let h = f.header();
    assert_eq!((h.version, h.flags), (FORMAT_VERSION, FLAG_CHUNKED));
    let chunks = h.chunks.as_ref().expect("chunked");
    assert_eq!(chunks.chunk_len(), 256 << 10);
    assert_eq!(chunks.count(), 6);
    // Rle adds a 4-byte length to each chunk.
    assert!(chunks.stored_lens().iter().all(|&n| n == (256 << 10) + 4));
    assert_eq!(h.payload_offset, HEADER_LEN + 8 + 4 * 6);
    assert_eq!(f.decode(&Rle).expect("decode"), runs(len));

    // Identity is never chunked: its payload is the value, page aligned.
    let plain = frame::encode(&key(1), &Plain, &runs(len), 0).expect("encode");
    let h = Frame::parse(&plain).expect("parse").header().clone();
    assert_eq!((h.version, h.payload_offset), (1, 4096));
}

#[test]
fn thread_counts_change_nothing_but_speed() {
    let len = (5 << 20) + 12_345;
    let data = runs(len);
    let one = frame::encode(&key(2), &Runs, &data, 9).expect("encode");
    for threads in [0, 2, 3, 8, 64] {
        let options = FrameOptions::new().with_threads(threads);
        let other = frame::encode_with(&key(2), &Runs, &data, 9, &options).expect("encode");
        assert_eq!(other, one, "{threads} threads");
        assert_eq!(
            parse_verify_decode(&one, &Runs, threads).expect("decode"),
            data
        );
    }
    let with_rle = frame::encode_with(
        &key(2),
        &Rle,
        &data,
        9,
        &FrameOptions::new().with_threads(4),
    )
    .expect("encode");
    assert_eq!(
        with_rle,
        frame::encode(&key(2), &Rle, &data, 9).expect("encode")
    );
    for threads in 1..=4 {
        assert_eq!(
            parse_verify_decode(&with_rle, &Rle, threads).expect("decode"),
            data
        );
    }
}

const GOLDEN_V2: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/frame-v2-chunked.hex"
);

/// The chunked frame format is pinned: this file changes only with a new format version.
#[test]
fn golden_chunked_frame_bytes_are_stable() {
    let data = runs(600 << 10);
    let digest = Digest::from_bytes(std::array::from_fn(|i| 0xa0 ^ i as u8));
    let bytes = frame::encode(
        &Key::new(HasherId::Sha256, digest),
        &Runs,
        &data,
        1_764_201_600_000,
    )
    .expect("encode");
    if std::env::var_os("HOARD_BLESS").is_some() {
        use std::io::Write;
        let mut f = std::fs::File::create(GOLDEN_V2).expect("create golden file");
        f.write_all(to_hex_lines(&bytes).as_bytes())
            .expect("write golden file");
    }
    let text = std::fs::read_to_string(GOLDEN_V2).expect("golden file (HOARD_BLESS=1 writes it)");
    let golden = from_hex_lines(&text);
    assert_eq!(
        bytes, golden,
        "frame bytes moved: the on-disk format changed"
    );
    assert_eq!(golden[8..10], [2, 0], "version 2");
    assert_eq!(
        golden[10..12],
        [116, 0],
        "payload offset: header, table of 3 chunks"
    );
    assert_eq!(golden[14..16], [0x24, 0x81], "the run-length plugin codec");
    assert_eq!(golden[20..24], [1, 0, 0, 0], "flags: chunked");
    assert_eq!(
        golden[96..100],
        (256u32 << 10).to_le_bytes(),
        "chunk length"
    );
    assert_eq!(golden[100..104], [3, 0, 0, 0], "chunk count");
    for threads in [1, 3] {
        assert_eq!(
            parse_verify_decode(&golden, &Runs, threads).expect("decode"),
            data
        );
    }
}

#[test]
fn every_single_bit_flip_of_a_chunked_frame_is_corrupt() {
    let good = std::fs::read_to_string(GOLDEN_V2).expect("golden file");
    let good = from_hex_lines(&good);
    let mut bytes = good.clone();
    for bit in 0..bytes.len() * 8 {
        bytes[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            kind(parse_verify_decode(&bytes, &Runs, 2)),
            Some(ErrorKind::Corrupt),
            "flip of bit {bit}"
        );
        bytes[bit / 8] ^= 1 << (bit % 8);
    }
    assert_eq!(bytes, good);
}

#[test]
fn every_truncation_of_a_chunked_frame_is_corrupt() {
    let good = frame::encode(&key(4), &Runs, &runs(700 << 10), 0).expect("encode");
    for cut in 0..good.len() {
        assert_eq!(
            kind(Frame::parse(&good[..cut])),
            Some(ErrorKind::Corrupt),
            "cut at {cut}"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(kind(Frame::parse(&longer)), Some(ErrorKind::Corrupt));
}

/// Byte offsets of a chunked frame's table fields.
const CHUNK_LEN_AT: usize = HEADER_LEN;
const COUNT_AT: usize = HEADER_LEN + 4;
const LENS_AT: usize = HEADER_LEN + 8;

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn hostile_chunk_tables_are_corrupt_before_any_decoding() {
    let good = frame::encode(&key(6), &Runs, &runs(1 << 20), 0).expect("encode");
    let f = Frame::parse(&good).expect("parse");
    let h = f.header().clone();
    let chunks = h.chunks.clone().expect("chunked");
    assert_eq!(chunks.count(), 4);
    let corrupt = |what: &str, edit: &dyn Fn(&mut Vec<u8>)| {
        let bad = reseal(good.clone(), edit);
        assert_eq!(
            kind(parse_verify_decode(&bad, &Runs, 2)),
            Some(ErrorKind::Corrupt),
            "{what}"
        );
    };
    corrupt("no chunks", &|b| set_u32(b, COUNT_AT, 0));
    corrupt("one chunk too many", &|b| set_u32(b, COUNT_AT, 5));
    corrupt("a huge count", &|b| set_u32(b, COUNT_AT, u32::MAX));
    corrupt("chunks below the minimum", &|b| {
        set_u32(b, CHUNK_LEN_AT, MIN_CHUNK_LEN - 1);
        set_u32(b, COUNT_AT, (1 << 20) / (MIN_CHUNK_LEN - 1) + 1);
    });
    corrupt("a chunk length of 0", &|b| set_u32(b, CHUNK_LEN_AT, 0));
    corrupt("chunks that leave the last one empty", &|b| {
        set_u32(b, CHUNK_LEN_AT, 256 << 10);
        set_u64(b, 24, 3 << 18);
    });
    corrupt("a larger decoded length", &|b| {
        set_u64(b, 24, (1 << 20) + 1)
    });
    corrupt("stored lengths over the payload", &|b| {
        let first = u32::from_le_bytes(b[LENS_AT..LENS_AT + 4].try_into().expect("4 bytes"));
        set_u32(b, LENS_AT, first + 1);
    });
    corrupt("stored lengths that overflow a u32 sum", &|b| {
        set_u32(b, LENS_AT, u32::MAX);
    });
    corrupt("stored lengths moved between chunks", &|b| {
        let first = u32::from_le_bytes(b[LENS_AT..LENS_AT + 4].try_into().expect("4 bytes"));
        let second = u32::from_le_bytes(b[LENS_AT + 4..LENS_AT + 8].try_into().expect("4 bytes"));
        set_u32(b, LENS_AT, first - 5);
        set_u32(b, LENS_AT + 4, second + 5);
    });
    corrupt("a table past the payload offset", &|b| {
        b[10..12].copy_from_slice(&((LENS_AT + 4) as u16).to_le_bytes());
    });
    corrupt("a payload offset inside the fixed table", &|b| {
        b[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    });
    corrupt("non-zero padding after the table", &|b| {
        // Moves the payload one byte on; the new byte sits between table and payload.
        let offset = u16::from_le_bytes([b[10], b[11]]) as usize;
        b.insert(offset, 7);
        b[10..12].copy_from_slice(&((offset + 1) as u16).to_le_bytes());
    });
    // Zero padding after the table is allowed (like version 1's alignment padding).
    let padded = reseal(good.clone(), |b| {
        let offset = u16::from_le_bytes([b[10], b[11]]) as usize;
        b.insert(offset, 0);
        b[10..12].copy_from_slice(&((offset + 1) as u16).to_le_bytes());
    });
    assert_eq!(
        parse_verify_decode(&padded, &Runs, 2).expect("padded"),
        runs(1 << 20)
    );
}

#[test]
fn unknown_flags_are_unsupported_and_version_1_knows_none() {
    let chunked = frame::encode(&key(7), &Runs, &runs(1 << 20), 0).expect("encode");
    // The MAC bit is known: without room for its record before the payload, corrupt.
    let mac = reseal(chunked.clone(), |b| {
        set_u32(b, 20, FLAG_CHUNKED | FLAG_MAC);
    });
    assert_eq!(kind(Frame::parse(&mac)), Some(ErrorKind::Corrupt));
    let bit2 = reseal(chunked.clone(), |b| set_u32(b, 20, FLAG_CHUNKED | 1 << 2));
    assert_eq!(kind(Frame::parse(&bit2)), Some(ErrorKind::Unsupported));
    let high = reseal(chunked.clone(), |b| set_u32(b, 20, FLAG_CHUNKED | 1 << 31));
    assert_eq!(kind(Frame::parse(&high)), Some(ErrorKind::Unsupported));
    // A chunked frame relabelled version 1: version 1 has no flags.
    let relabelled = reseal(chunked, |b| b[8..10].copy_from_slice(&1u16.to_le_bytes()));
    assert_eq!(
        kind(Frame::parse(&relabelled)),
        Some(ErrorKind::Unsupported)
    );
    // A version-1 frame relabelled version 2 uses no feature: it reads the same.
    let small = frame::encode(&key(7), &Rle, b"abc", 0).expect("encode");
    let v2 = reseal(small, |b| b[8..10].copy_from_slice(&2u16.to_le_bytes()));
    let f = Frame::parse(&v2).expect("a featureless version 2 frame");
    assert_eq!(f.decode(&Rle).expect("decode"), b"abc");
}

#[test]
fn a_header_edited_in_memory_never_panics_the_decoder() {
    let good = frame::encode(&key(8), &Runs, &runs(1 << 20), 0).expect("encode");
    let f = Frame::parse(&good).expect("parse");
    let options = FrameOptions::new().with_threads(3);
    let edits: [fn(&mut frame::FrameHeader); 3] = [
        |h| h.decoded_len += 1,
        |h| h.decoded_len -= 1,
        |h| h.decoded_len = 0,
    ];
    for edit in edits {
        let mut h = f.header().clone();
        edit(&mut h);
        assert_eq!(
            kind(frame::decode_payload_with(&h, f.payload(), &Runs, &options)),
            Some(ErrorKind::Corrupt)
        );
    }
    assert_eq!(
        kind(frame::decode_payload_with(
            f.header(),
            &f.payload()[1..],
            &Runs,
            &options
        )),
        Some(ErrorKind::Corrupt)
    );
}

#[test]
fn a_failing_chunk_fails_the_frame_with_its_error_on_any_thread_count() {
    // Chunk 2 of 4 decodes to the wrong length; chunk 3 is fine.
    let good = frame::encode(&key(9), &Runs, &runs(1 << 20), 0).expect("encode");
    let lens: Vec<usize> = Frame::parse(&good)
        .expect("parse")
        .header()
        .chunks
        .as_ref()
        .expect("chunked")
        .stored_lens()
        .iter()
        .map(|&n| n as usize)
        .collect();
    let at = HEADER_LEN + 8 + 16 + lens[0] + lens[1];
    let bad = reseal(good, |b| b[at + 1] ^= 1);
    for threads in 1..=4 {
        let err = parse_verify_decode(&bad, &Runs, threads).expect_err("damaged chunk");
        assert_eq!(err.kind(), ErrorKind::Corrupt);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Round trips at sizes around the chunking threshold and chunk borders, on 1 to 4
    /// threads, with a codec that decodes in place and one that uses the provided copy.
    #[test]
    fn chunked_round_trips(
        base in prop::sample::select(vec![512usize << 10, 1 << 20, 2 << 20]),
        delta in -3isize..=3,
        threads in 1usize..=4,
        seed in any::<u8>(),
    ) {
        let len = base.checked_add_signed(delta).expect("no underflow");
        let data: Vec<u8> = runs(len).into_iter().map(|b| b ^ seed).collect();
        let options = FrameOptions::new().with_threads(threads);
        for codec in [&Runs as &dyn Codec, &Rle] {
            let bytes = frame::encode_with(&key(seed), codec, &data, 1, &options).expect("encode");
            let f = Frame::parse(&bytes).expect("parse");
            let h = f.verify_for(&key(seed), len as u64).expect("verify");
            prop_assert_eq!(h.chunks.is_some(), len as u64 > CHUNK_THRESHOLD);
            prop_assert_eq!(&f.decode_with_options(codec, &options).expect("decode"), &data);
        }
    }

    /// A single flipped bit anywhere in a chunked frame, or a cut anywhere, is corrupt.
    #[test]
    fn flips_and_cuts_of_chunked_frames_are_corrupt(
        len in (CHUNK_THRESHOLD as usize + 1)..(3 << 19),
        bit in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = frame::encode(&key(3), &Runs, &runs(len), 0).expect("encode");
        let mut flipped = bytes.clone();
        let bit = bit.index(bytes.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
        prop_assert_eq!(kind(parse_verify_decode(&flipped, &Runs, 2)), Some(ErrorKind::Corrupt));
        let cut = cut.index(bytes.len());
        prop_assert_eq!(kind(Frame::parse(&bytes[..cut])), Some(ErrorKind::Corrupt));
    }

    /// Hostile edits of the chunk table and header (checksum fixed up) never panic, and
    /// whatever decodes has exactly the declared length.
    #[test]
    fn resealed_chunk_table_edits_never_panic(
        at in 8usize..140,
        value in any::<u8>(),
        threads in 1usize..=3,
    ) {
        static FRAME: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let bytes = FRAME.get_or_init(|| {
            frame::encode(&key(5), &Runs, &runs(900 << 10), 0).expect("encode")
        });
        let edited = reseal(bytes.clone(), |b| b[at] = value);
        if let Ok(f) = Frame::parse(&edited)
            && let Ok(h) = f.verify_for(&f.header().key(), 4 << 20)
            && let Ok(out) = f.decode_with_options(&Runs, &FrameOptions::new().with_threads(threads))
        {
            prop_assert_eq!(out.len() as u64, h.decoded_len);
        }
    }
}
