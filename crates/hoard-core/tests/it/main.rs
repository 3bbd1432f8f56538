//! Integration tests of hoard-core through its public API, with a small private codec.

use hoard_core::frame::{self, Frame, HEADER_LEN};
use hoard_core::{Codec, CodecId, Digest, ErrorKind, HasherId, Key, Result};
use proptest::prelude::*;

mod chunked;
mod mac;
mod split;

/// Stores bytes as they are. The real identity codec lives in hoard-codec, and the testkit
/// has the same stand-in privately; core's tests depend on neither (tidy allows hoard-core no
/// internal dev-dependency: every internal crate depends on core).
#[derive(Debug)]
struct Plain;

impl Codec for Plain {
    fn id(&self) -> CodecId {
        CodecId::Identity
    }
    fn level(&self) -> i32 {
        0
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(input);
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        if input.len() != decoded_len {
            return Err(hoard_core::Error::corrupt(
                "identity payload length mismatch",
            ));
        }
        out.extend_from_slice(input);
        Ok(())
    }
}

/// A codec whose payload differs from its input: a length prefix, then the bytes XOR 0xa5.
#[derive(Debug)]
struct Rle;

impl Codec for Rle {
    fn id(&self) -> CodecId {
        CodecId::plugin(0x8123).expect("in the plugin range")
    }
    fn level(&self) -> i32 {
        -5
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&(input.len() as u32).to_le_bytes());
        out.extend(input.iter().map(|b| b ^ 0xa5));
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        let Some((len, body)) = input.split_first_chunk::<4>() else {
            return Err(hoard_core::Error::corrupt(
                "payload shorter than its length prefix",
            ));
        };
        if u32::from_le_bytes(*len) as usize != decoded_len || body.len() != decoded_len {
            return Err(hoard_core::Error::corrupt(
                "payload length disagrees with the frame",
            ));
        }
        out.extend(body.iter().map(|b| b ^ 0xa5));
        Ok(())
    }
}

fn key(seed: u8) -> Key {
    Key::new(HasherId::Sha256, Digest::from_bytes([seed; 32]))
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn frames_round_trip_for_every_size_class() {
    for len in [0, 1, 95, 96, 4095, 16 * 1024 - 1, 16 * 1024, 100_000] {
        let data = sample(len);
        for codec in [&Plain as &dyn Codec, &Rle] {
            let bytes = frame::encode(&key(1), codec, &data, 42).expect("encode");
            let parsed = Frame::parse(&bytes).expect("parse");
            let header = parsed.verify_for(&key(1), u64::MAX).expect("verify");
            assert_eq!(header.decoded_len, len as u64);
            assert_eq!(header.codec, codec.id());
            assert_eq!(header.level, codec.level());
            assert_eq!(header.created_unix_ms, 42);
            assert_eq!(
                header.payload_offset,
                frame::payload_offset_for(codec.id(), len)
            );
            assert_eq!(parsed.decode(codec).expect("decode"), data);
        }
    }
}

#[test]
fn large_identity_payloads_are_page_aligned() {
    let bytes = frame::encode(&key(1), &Plain, &sample(64 * 1024), 0).expect("encode");
    let parsed = Frame::parse(&bytes).expect("parse");
    assert_eq!(parsed.header().payload_offset, 4096);
    assert_eq!(bytes.len(), 4096 + 64 * 1024);
}

/// The frame format is pinned: this file changes only with a new format version.
#[test]
fn golden_frame_bytes_are_stable() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/frame-v1-identity.hex"
    );
    let data = b"hoard golden frame: compiled code goes here";
    let digest = Digest::from_bytes(std::array::from_fn(|i| i as u8));
    let bytes = frame::encode(
        &Key::new(HasherId::Sha256, digest),
        &Plain,
        data,
        1_764_201_600_000,
    )
    .expect("encode");
    if std::env::var_os("HOARD_BLESS").is_some() {
        use std::io::Write;
        let mut f = std::fs::File::create(path).expect("create golden file");
        f.write_all(to_hex_lines(&bytes).as_bytes())
            .expect("write golden file");
    }
    let text = std::fs::read_to_string(path).expect("golden file (HOARD_BLESS=1 writes it)");
    let golden = from_hex_lines(&text);
    assert_eq!(
        bytes, golden,
        "frame bytes moved: the on-disk format changed"
    );
    let parsed = Frame::parse(&golden).expect("golden parses");
    assert_eq!(parsed.payload(), data);
    assert_eq!(&golden[..8], b"\x89hoard\r\n");
    assert_eq!(golden[8..10], [1, 0], "version 1");
    assert_eq!(golden[10..12], [96, 0], "payload offset");
    assert_eq!(golden[12..14], [1, 0], "sha256");
    assert_eq!(golden[14..16], [1, 0], "identity");
}

/// The golden file is hex, 16 bytes a line, so that a diff of it is readable.
fn to_hex_lines(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .map(|line| {
            line.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect()
}

fn from_hex_lines(text: &str) -> Vec<u8> {
    text.split_whitespace()
        .map(|pair| u8::from_str_radix(pair, 16).expect("golden file holds hex pairs"))
        .collect()
}

#[test]
fn every_single_bit_flip_is_detected() {
    for len in [0usize, 1, 100, 4096] {
        let data = sample(len);
        for codec in [&Plain as &dyn Codec, &Rle] {
            let good = frame::encode(&key(9), codec, &data, 7).expect("encode");
            let mut bytes = good.clone();
            for bit in 0..bytes.len() * 8 {
                bytes[bit / 8] ^= 1 << (bit % 8);
                let verdict = Frame::parse(&bytes).and_then(|f| {
                    f.verify_for(&key(9), u64::MAX)?;
                    f.decode(codec)
                });
                assert!(
                    verdict.is_err(),
                    "flip of bit {bit} in a {len}-byte {} frame went unnoticed",
                    codec.id()
                );
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            assert_eq!(bytes, good);
        }
    }
}

#[test]
fn truncation_and_appended_bytes_are_corrupt() {
    let good = frame::encode(&key(3), &Rle, &sample(5000), 0).expect("encode");
    for cut in (0..good.len()).step_by(7) {
        let err = Frame::parse(&good[..cut]).err().map(|e| e.kind());
        assert_eq!(err, Some(ErrorKind::Corrupt), "cut at {cut}");
    }
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(
        Frame::parse(&longer).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
}

#[test]
fn another_keys_frame_is_corrupt_and_a_large_declaration_too_large() {
    let bytes = frame::encode(&key(1), &Plain, b"abc", 0).expect("encode");
    let parsed = Frame::parse(&bytes).expect("parse");
    assert_eq!(
        parsed.verify_for(&key(2), 10).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
    let other_hasher = Key::new(HasherId::Blake3, *key(1).digest());
    assert_eq!(
        parsed.verify_for(&other_hasher, 10).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
    assert_eq!(
        parsed.verify_for(&key(1), 2).err().map(|e| e.kind()),
        Some(ErrorKind::TooLarge)
    );
}

/// Rewrites header fields of a valid frame and fixes the checksum, as an attacker or a newer
/// hoard could.
fn reseal(mut bytes: Vec<u8>, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    edit(&mut bytes);
    // The documented checksum: XXH3-128 of bytes 0..80 followed by bytes 96..end.
    let mut covered = bytes[..80].to_vec();
    covered.extend_from_slice(&bytes[HEADER_LEN..]);
    let sum = xxhash_rust::xxh3::xxh3_128(&covered);
    bytes[80..96].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn a_newer_version_is_unsupported_not_corrupt() {
    let bytes = frame::encode(&key(1), &Plain, b"abc", 0).expect("encode");
    let newer = reseal(bytes, |b| b[8..10].copy_from_slice(&3u16.to_le_bytes()));
    assert_eq!(
        Frame::parse(&newer).err().map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
}

#[test]
fn a_resealed_multi_gigabyte_declaration_is_refused_without_allocating() {
    let bytes = frame::encode(&key(1), &Rle, &sample(1000), 0).expect("encode");
    let bomb = reseal(bytes, |b| {
        b[24..32].copy_from_slice(&(8u64 << 30).to_le_bytes())
    });
    let parsed = Frame::parse(&bomb).expect("structure is fine");
    assert_eq!(
        parsed.verify_for(&key(1), 1 << 20).err().map(|e| e.kind()),
        Some(ErrorKind::TooLarge)
    );
    // A declaration the payload cannot honour is corrupt, not a short or padded result.
    let dishonest = reseal(
        frame::encode(&key(1), &Rle, &sample(1000), 0).expect("encode"),
        |b| b[24..32].copy_from_slice(&2000u64.to_le_bytes()),
    );
    let parsed = Frame::parse(&dishonest).expect("structure is fine");
    assert_eq!(
        parsed.decode(&Rle).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
}

#[test]
fn the_header_check_passes_every_intact_frame_and_no_other_length() {
    for len in [0usize, 1, 100, 20_000] {
        for codec in [&Plain as &dyn Codec, &Rle] {
            let bytes = frame::encode(&key(4), codec, &sample(len), 0).expect("encode");
            let total = bytes.len() as u64;
            frame::check_prefix(&bytes[..HEADER_LEN], total).expect("the header alone");
            frame::check_prefix(&bytes, total).expect("more than the header");
            for other in [0, 95, 96, total - 1, total + 1, u64::MAX] {
                if other == total {
                    continue;
                }
                assert_eq!(
                    frame::check_prefix(&bytes[..HEADER_LEN], other)
                        .err()
                        .map(|e| e.kind()),
                    Some(ErrorKind::Corrupt),
                    "{len}-byte {} frame checked as {other} bytes",
                    codec.id()
                );
            }
        }
    }
}

#[test]
fn the_header_check_refuses_what_the_first_bytes_rule_out() {
    let corrupt = |head: &[u8], len: u64| {
        frame::check_prefix(head, len)
            .err()
            .map(|e| (e.kind(), e.message().to_owned()))
    };
    // A sparse file: zeros where the magic should be.
    let (kind, why) = corrupt(&[0; HEADER_LEN], 1 << 30).expect("refused");
    assert_eq!(kind, ErrorKind::Corrupt);
    assert!(why.contains("magic"), "{why}");
    // An intact header declaring far more than the file holds, or less.
    let good = frame::encode(&key(5), &Plain, &sample(1000), 0).expect("encode");
    let mut huge = good[..HEADER_LEN].to_vec();
    huge[32..40].copy_from_slice(&(1u64 << 50).to_le_bytes());
    let (kind, why) = corrupt(&huge, good.len() as u64).expect("refused");
    assert_eq!(kind, ErrorKind::Corrupt);
    assert!(why.contains("truncated or extended"), "{why}");
    let mut inside = good[..HEADER_LEN].to_vec();
    inside[10..12].copy_from_slice(&40u16.to_le_bytes());
    assert_eq!(
        corrupt(&inside, good.len() as u64).map(|c| c.0),
        Some(ErrorKind::Corrupt)
    );
    // Too short to hold a header, or fewer bytes given than the frame has.
    assert_eq!(
        corrupt(&good[..50], 50).map(|c| c.0),
        Some(ErrorKind::Corrupt)
    );
    assert_eq!(
        corrupt(&good[..50], good.len() as u64).map(|c| c.0),
        Some(ErrorKind::Corrupt)
    );
}

#[test]
fn the_header_check_leaves_a_newer_version_to_the_checksum() {
    let good = frame::encode(&key(6), &Plain, b"abc", 0).expect("encode");
    // A newer format may lay its header out differently: its lengths are not judged, so an
    // intact frame of a newer hoard stays Unsupported (left on disk), never Corrupt.
    let newer = reseal(good.clone(), |b| {
        b[8..10].copy_from_slice(&(frame::FORMAT_VERSION + 1).to_le_bytes());
        b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    });
    frame::check_prefix(&newer, newer.len() as u64).expect("not judged by its lengths");
    assert_eq!(
        Frame::parse(&newer).err().map(|e| e.kind()),
        Some(ErrorKind::Unsupported)
    );
    // Damage that makes a frame claim a newer version is still caught, by the checksum.
    let mut flipped = good;
    flipped[9] ^= 0x80;
    frame::check_prefix(&flipped, flipped.len() as u64).expect("not judged by its lengths");
    assert_eq!(
        Frame::parse(&flipped).err().map(|e| e.kind()),
        Some(ErrorKind::Corrupt)
    );
}

#[test]
fn decoding_with_the_wrong_codec_is_refused() {
    let bytes = frame::encode(&key(1), &Rle, b"aaaa", 0).expect("encode");
    let parsed = Frame::parse(&bytes).expect("parse");
    assert_eq!(
        parsed.decode(&Plain).err().map(|e| e.kind()),
        Some(ErrorKind::InvalidInput)
    );
}

#[test]
fn plugin_ids_outside_the_plugin_range_cannot_be_made() {
    // `CodecId::Plugin` holds a `PluginId`, which only the checked constructors make: a codec
    // cannot claim an id outside the range, so `frame::encode` never meets one.
    for value in [0, 1, 7, 0x7fff] {
        assert_eq!(CodecId::plugin(value), None, "{value:#x}");
        assert_eq!(HasherId::plugin(value), None, "{value:#x}");
        assert_eq!(hoard_core::PluginId::new(value), None, "{value:#x}");
    }
    let id = CodecId::plugin(0x8001).expect("in the range");
    assert_eq!(
        (id.to_u16(), id.name()),
        (0x8001, "plugin-0x8001".to_owned())
    );
    assert_eq!(CodecId::from_u16(0x8001), Some(id));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the parser; anything it accepts decodes without panicking.
    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(f) = Frame::parse(&bytes) {
            let _ = f.verify_for(&key(0), 1 << 16);
            let _ = f.decode(&Rle);
            let _ = f.decode(&Plain);
        }
    }

    /// The header check never refuses what the full parse accepts, and whatever it refuses
    /// the parse refuses with the same kind: a store may use it to stop reading early.
    #[test]
    fn the_header_check_agrees_with_the_parse(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        at in 0usize..96,
        value in any::<u8>(),
        resealed in any::<bool>(),
    ) {
        let good = frame::encode(&key(7), &Rle, &data, 0).expect("encode");
        let edited = if resealed {
            reseal(good, |b| b[at] = value)
        } else {
            let mut b = good;
            b[at] = value;
            b
        };
        let early = frame::check_prefix(&edited[..HEADER_LEN], edited.len() as u64);
        let full = Frame::parse(&edited);
        match (early, full) {
            (Err(e), Err(f)) => prop_assert_eq!(e.kind(), f.kind()),
            (Err(e), Ok(_)) => prop_assert!(false, "refused early, parsed in full: {}", e),
            (Ok(()), _) => {}
        }
    }

    /// Valid frames with hostile header edits (checksum fixed up) never panic and never
    /// decode to a different length than they declare.
    #[test]
    fn resealed_header_edits_never_panic(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        at in 8usize..80,
        value in any::<u8>(),
    ) {
        let bytes = frame::encode(&key(5), &Rle, &data, 0).expect("encode");
        let edited = reseal(bytes, |b| b[at] = value);
        if let Ok(f) = Frame::parse(&edited)
            && let Ok(h) = f.verify_for(&key(5), 1 << 16)
                && let Ok(out) = f.decode(&Rle) {
                    prop_assert_eq!(out.len() as u64, h.decoded_len);
                }
    }

    #[test]
    fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..5000), seed in any::<u8>()) {
        let bytes = frame::encode(&key(seed), &Rle, &data, 1).expect("encode");
        let f = Frame::parse(&bytes).expect("parse");
        f.verify_for(&key(seed), data.len() as u64).expect("verify");
        prop_assert_eq!(f.decode(&Rle).expect("decode"), data);
    }
}

mod read {
    //! The one verified read: `read::read_entry`, `VerifiedFrame`, `Decoders`, and the
    //! `Disposition` of every failure.

    use std::ops::ControlFlow;
    use std::sync::{Arc, Mutex};

    use hoard_core::read::{self, Decoders, Disposition, Expected};
    use hoard_core::{
        Digest, EntryInfo, Error, ErrorKind, HasherId, Key, Namespace, Result, Store, frame,
    };

    use super::{Plain, Rle};

    /// A store of one frame, whatever the name (so that a frame can be read under any name).
    #[derive(Debug, Default)]
    struct One(Mutex<Option<Vec<u8>>>, Mutex<Option<ErrorKind>>);

    impl Store for One {
        fn get(&self, _: &Namespace, _: &Digest, limit: u64) -> Result<Option<Vec<u8>>> {
            if let Some(kind) = *self.1.lock().expect("unpoisoned") {
                return Err(Error::new(kind, "planted failure"));
            }
            let held = self.0.lock().expect("unpoisoned").clone();
            match held {
                Some(b) if b.len() as u64 > limit => Err(Error::new(ErrorKind::TooLarge, "over")),
                other => Ok(other),
            }
        }
        fn put(&self, _: &Namespace, _: &Digest, f: &[u8]) -> Result<()> {
            *self.0.lock().expect("unpoisoned") = Some(f.to_vec());
            Ok(())
        }
        fn remove(&self, _: &Namespace, _: &Digest) -> Result<bool> {
            Ok(self.0.lock().expect("unpoisoned").take().is_some())
        }
        fn list(&self, _: &mut dyn FnMut(EntryInfo) -> ControlFlow<()>) -> Result<()> {
            Ok(())
        }
    }

    fn ns() -> Namespace {
        Namespace::new("t").expect("valid")
    }

    fn key(hasher: HasherId, byte: u8) -> Key {
        Key::new(hasher, Digest::from_bytes([byte; 32]))
    }

    #[test]
    fn dispositions_classify_every_kind_once() {
        let d = |kind| Error::new(kind, "x").disposition();
        assert_eq!(d(ErrorKind::Corrupt), Disposition::Corrupt);
        assert_eq!(d(ErrorKind::Insecure), Disposition::Corrupt);
        assert_eq!(d(ErrorKind::Unsupported), Disposition::Skip);
        assert_eq!(d(ErrorKind::TooLarge), Disposition::Skip);
        for kind in [
            ErrorKind::Io,
            ErrorKind::InvalidInput,
            ErrorKind::Config,
            ErrorKind::NotSupportedByStore,
        ] {
            assert_eq!(d(kind), Disposition::Fail, "{kind:?}");
        }
    }

    #[test]
    fn a_bare_digest_takes_the_hasher_from_the_header_and_a_key_checks_it() {
        let store = One::default();
        let blake = key(HasherId::Blake3, 3);
        let bytes = frame::encode(&blake, &Plain, b"value", 0).expect("encodes");
        store.put(&ns(), blake.digest(), &bytes).expect("stored");

        let found = read::read_entry(&store, &ns(), Expected::Digest(blake.digest()), 100)
            .expect("intact")
            .expect("present");
        assert_eq!(found.header().hasher, HasherId::Blake3);
        assert_eq!(found.as_bytes(), &bytes[..]);

        // The same digest under another hasher's key is another entry: corrupt, with the
        // header kept for the report.
        let sha = key(HasherId::Sha256, 3);
        let r = read::read_entry(&store, &ns(), Expected::Key(&sha), 100).expect_err("foreign");
        assert_eq!(r.disposition(), Disposition::Corrupt);
        assert_eq!(r.header().map(|h| h.hasher), Some(HasherId::Blake3));

        // Over the cap: skipped, header kept.
        let r = read::read_entry(&store, &ns(), Expected::Key(&blake), 4).expect_err("capped");
        assert_eq!(r.disposition(), Disposition::Skip);
        assert_eq!(r.error().kind(), ErrorKind::TooLarge);
        assert!(r.header().is_some());

        // A flipped bit: corrupt, no header.
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        store.put(&ns(), blake.digest(), &bad).expect("stored");
        let r = read::read_entry(&store, &ns(), Expected::Key(&blake), 100).expect_err("flip");
        assert_eq!(r.disposition(), Disposition::Corrupt);
        assert!(r.header().is_none());

        // A failed read: fail, and an absent entry is a plain miss.
        *store.1.lock().expect("unpoisoned") = Some(ErrorKind::Io);
        let r = read::read_entry(&store, &ns(), Expected::Key(&blake), 100).expect_err("io");
        assert_eq!(r.disposition(), Disposition::Fail);
        *store.1.lock().expect("unpoisoned") = None;
        store.remove(&ns(), blake.digest()).expect("removed");
        assert!(
            read::read_entry(&store, &ns(), Expected::Key(&blake), 100)
                .expect("a miss is not an error")
                .is_none()
        );
    }

    #[test]
    fn decoders_use_the_first_codec_of_an_id_and_skip_unknown_ones() {
        let store = One::default();
        let k = key(HasherId::Sha256, 9);
        store
            .put(
                &ns(),
                k.digest(),
                &frame::encode(&k, &Rle, b"abc", 0).expect("encodes"),
            )
            .expect("stored");
        let found = read::read_entry(&store, &ns(), Expected::Key(&k), 100)
            .expect("intact")
            .expect("present");

        let none = Decoders::new().with(Arc::new(Plain));
        let r = found
            .decode_with(&none)
            .expect_err("no codec for the plugin id");
        assert_eq!(r.disposition(), Disposition::Skip);
        assert_eq!(r.error().kind(), ErrorKind::Unsupported);

        let mut both = Decoders::new().with(Arc::new(Rle));
        assert!(both.add(Arc::new(Plain)));
        assert!(!both.add(Arc::new(Rle)), "one codec per id");
        assert_eq!(both.iter().count(), 2);
        assert_eq!(found.decode_with(&both).expect("decodes"), b"abc");
    }

    /// Another program's codec under `Rle`'s id: it cannot read `Rle`'s payloads.
    #[derive(Debug)]
    struct Impostor;

    impl hoard_core::Codec for Impostor {
        fn id(&self) -> hoard_core::CodecId {
            Rle.id()
        }
        fn level(&self) -> i32 {
            0
        }
        fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
            out.extend_from_slice(input);
            Ok(())
        }
        fn decode(&self, input: &[u8], _: usize, out: &mut Vec<u8>) -> Result<()> {
            out.extend_from_slice(input);
            Ok(())
        }
    }

    #[test]
    fn a_verified_frame_that_does_not_decode_is_undecodable_not_corrupt() {
        use hoard_core::Codec as _;
        let store = One::default();
        let k = key(HasherId::Sha256, 4);
        let bytes = frame::encode(&k, &Rle, b"abc", 0).expect("encodes");
        store.put(&ns(), k.digest(), &bytes).expect("stored");
        let found = read::read_entry(&store, &ns(), Expected::Key(&k), 100)
            .expect("the checksum holds")
            .expect("present");
        let r = found
            .decode_with(&Decoders::new().with(Arc::new(Impostor)))
            .expect_err("another codec under the id");
        assert_eq!(r.disposition(), Disposition::Undecodable);
        assert_eq!(r.error().kind(), ErrorKind::Corrupt);
        assert_eq!(r.header().map(|h| h.codec), Some(Rle.id()));
    }
}
