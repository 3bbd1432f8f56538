//! Arbitrary bytes as a stored frame: parse, verify against the header's own key with a 1 MiB
//! cap, and decode with the codec the header names. Nothing may panic, and a successful
//! decode has exactly the declared length.
//!
//! Random bytes almost never carry a valid XXH3-128 checksum, which would leave everything
//! after the checksum check unexplored, so each input is also tried with its checksum field
//! recomputed. Every input is also parsed split at the payload offset its header declares
//! (`Frame::parse_split`, how a stored payload is verified in its own buffer): the outcome
//! must be the same as for the whole. A frame that parses is also authenticated against a
//! fixed key (`frame::authenticate`), which must not panic either.

#![no_main]

use hoard_core::frame::{self, Frame, HEADER_LEN};
use hoard_fuzz::MAX_DECODED_LEN;
use libfuzzer_sys::fuzz_target;
use xxhash_rust::xxh3::Xxh3;

/// Where the checksum sits in the header, and what it covers around it (see
/// `hoard_core::frame`).
const CHECKSUM_AT: usize = 80;

fuzz_target!(|data: &[u8]| {
    parse_verify_decode(data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let mut h = Xxh3::new();
        h.update(&fixed[..CHECKSUM_AT]);
        h.update(&fixed[HEADER_LEN..]);
        fixed[CHECKSUM_AT..HEADER_LEN].copy_from_slice(&h.digest128().to_le_bytes());
        parse_verify_decode(&fixed);
    }
});

fn parse_verify_decode(bytes: &[u8]) {
    split_agrees(bytes);
    let Ok(frame) = Frame::parse(bytes) else {
        return;
    };
    // The MAC check of an authenticated reader never panics, whatever the record says.
    let offset = frame.header().payload_offset;
    if let Ok(keys) = frame::MacKeys::new([[0x42; 32]]) {
        let _ = frame::authenticate(frame.header(), &bytes[..offset], &bytes[offset..], &keys);
    }
    let key = frame.header().key();
    let Ok(header) = frame.verify_for(&key, MAX_DECODED_LEN) else {
        return;
    };
    let Some(codec) = hoard_codec::by_id(header.codec) else {
        return;
    };
    if let Ok(decoded) = frame.decode(codec.as_ref()) {
        assert_eq!(decoded.len() as u64, header.decoded_len);
    }
}

/// Parsing the frame in two buffers, split where its header says the payload starts, gives
/// exactly what parsing it whole gives.
fn split_agrees(bytes: &[u8]) {
    let Some(at) = frame::payload_offset_of(bytes).filter(|&at| at <= bytes.len()) else {
        return;
    };
    match (
        Frame::parse(bytes),
        Frame::parse_split(&bytes[..at], &bytes[at..]),
    ) {
        (Ok(whole), Ok(split)) => {
            assert_eq!(whole.header(), split.header());
            assert_eq!(whole.payload(), split.payload());
        }
        (Err(whole), Err(split)) => assert_eq!(whole.kind(), split.kind()),
        (whole, split) => panic!("whole: {whole:?}, split: {split:?}"),
    }
}
