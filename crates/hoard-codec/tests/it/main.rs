//! Integration tests of hoard-codec through the `Codec` trait: the contract for every codec
//! compiled in, then what is specific to each.

mod chunked;
mod conformance;
mod contract;
mod identity;
#[cfg(feature = "lz4")]
mod lz4;
#[cfg(feature = "zstd")]
mod zstd;

use std::sync::Arc;

use hoard_core::{Codec, ErrorKind};

/// Every codec configuration compiled into this build, with a name for messages.
fn codecs() -> Vec<(String, Arc<dyn Codec>)> {
    #[cfg_attr(
        not(any(feature = "zstd", feature = "lz4")),
        expect(unused_mut, reason = "only optional codecs are pushed")
    )]
    let mut all: Vec<(String, Arc<dyn Codec>)> =
        vec![("identity".to_owned(), Arc::new(hoard_codec::Identity))];
    #[cfg(feature = "zstd")]
    for level in [-5, 1, 3, 19] {
        let codec = hoard_codec::Zstd::new(level).expect("a valid zstd level");
        all.push((format!("zstd-{level}"), Arc::new(codec)));
    }
    #[cfg(feature = "lz4")]
    all.push(("lz4".to_owned(), Arc::new(hoard_codec::Lz4)));
    all
}

/// Deterministic data that looks like a build artifact: repeated structure (names, numbers,
/// copies of earlier runs, small integers) interleaved with noise, so every codec has both
/// something to find and something it cannot compress.
fn realistic(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: [&[u8]; 6] = [
        b"mov rax, qword ptr [rbp - ",
        b"call wasm_function_",
        b"\x00asm\x01\x00\x00\x00",
        b"cranelift-codegen ",
        b"i32.const ",
        b"\x48\x89\xe5\x41\x57\x41\x56",
    ];
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = Vec::with_capacity(len + 300);
    while out.len() < len {
        match rng.below(5) {
            0 => {
                let n = 1 + rng.below(40);
                out.extend((0..n).map(|_| rng.next() as u8));
            }
            1 => {
                out.extend_from_slice(WORDS[rng.below(WORDS.len())]);
                out.extend_from_slice(rng.below(4096).to_string().as_bytes());
                out.push(b'\n');
            }
            2 if out.len() > 64 => {
                let n = 8 + rng.below(200.min(out.len() - 8));
                let from = rng.below(out.len() - n);
                out.extend_from_within(from..from + n);
            }
            _ => {
                for _ in 0..1 + rng.below(16) {
                    out.extend_from_slice(&(rng.below(300) as u32).to_le_bytes());
                }
            }
        }
    }
    out.truncate(len);
    out
}

/// xorshift64: enough randomness for test data, and the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PREFIX: &[u8] = b"bytes already in out";

/// `codec.encode(data)` appended after [`PREFIX`], with the prefix checked and removed.
fn encode(codec: &dyn Codec, data: &[u8]) -> Vec<u8> {
    let mut out = PREFIX.to_vec();
    codec
        .encode(data, &mut out)
        .unwrap_or_else(|e| panic!("encoding {} bytes failed: {e:?}", data.len()));
    assert_eq!(
        &out[..PREFIX.len()],
        PREFIX,
        "encode touched existing bytes"
    );
    let encoded = out.split_off(PREFIX.len());
    let bound = hoard_core::frame::max_encoded_len(data.len() as u64);
    assert!(encoded.len() as u64 <= bound, "{} > {bound}", encoded.len());
    encoded
}

/// Decodes after [`PREFIX`] and checks the contract's two outcomes: exactly `decoded_len`
/// bytes appended, or a corrupt error with `out` as it was; and that `decode_into` a slice
/// of `decoded_len` bytes agrees. Returns the decoded bytes.
fn decode_checked(
    codec: &dyn Codec,
    input: &[u8],
    decoded_len: usize,
) -> Result<Vec<u8>, hoard_core::Error> {
    let appended = decode_appended(codec, input, decoded_len);
    let mut slice = vec![0x5a; decoded_len];
    match (codec.decode_into(input, &mut slice), &appended) {
        (Ok(()), Ok(decoded)) => assert!(slice == *decoded, "decode_into decoded other bytes"),
        (Err(e), Err(_)) => assert_eq!(e.kind(), ErrorKind::Corrupt, "{e:?}"),
        (into, _) => panic!("decode_into disagrees with decode: {into:?} against {appended:?}"),
    }
    appended
}

fn decode_appended(
    codec: &dyn Codec,
    input: &[u8],
    decoded_len: usize,
) -> Result<Vec<u8>, hoard_core::Error> {
    let mut out = PREFIX.to_vec();
    match codec.decode(input, decoded_len, &mut out) {
        Ok(()) => {
            assert_eq!(
                &out[..PREFIX.len()],
                PREFIX,
                "decode touched existing bytes"
            );
            assert_eq!(
                out.len(),
                PREFIX.len() + decoded_len,
                "decode appended the wrong length"
            );
            Ok(out.split_off(PREFIX.len()))
        }
        Err(e) => {
            assert_eq!(out, PREFIX, "a failed decode must restore out: {e:?}");
            assert_eq!(e.kind(), ErrorKind::Corrupt, "{e:?}");
            Err(e)
        }
    }
}
