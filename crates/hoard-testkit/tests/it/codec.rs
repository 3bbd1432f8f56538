//! The codec suite on two small correct codecs (a byte flipper and a run-length coder) and on
//! variants with one flaw each.

use std::sync::atomic::{AtomicU64, Ordering};

use hoard_core::{Codec, CodecId, Error, ErrorKind, Result};
use hoard_testkit::codec;

use crate::expect_failure;

/// XORs every byte with 0x55: the output has exactly the input's length.
#[derive(Debug)]
struct Flip;

impl Codec for Flip {
    fn id(&self) -> CodecId {
        CodecId::plugin(0x8001).expect("in the plugin range")
    }
    fn level(&self) -> i32 {
        0
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend(input.iter().map(|b| b ^ 0x55));
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        if input.len() != decoded_len {
            return Err(Error::corrupt("flipped payload has the wrong length"));
        }
        out.extend(input.iter().map(|b| b ^ 0x55));
        Ok(())
    }
}

/// A run-length coder that really compresses: a control byte `c < 128` is followed by `c + 1`
/// literal bytes; `c >= 128` repeats the next byte `c - 125` times (3 to 130). Incompressible
/// input grows by one byte in 128, inside `max_encoded_len`.
#[derive(Debug)]
struct Runs;

const MAX_LITERALS: usize = 128;
const MIN_RUN: usize = 3;
const MAX_RUN: usize = 130;

impl Codec for Runs {
    fn id(&self) -> CodecId {
        CodecId::plugin(0x8002).expect("in the plugin range")
    }
    fn level(&self) -> i32 {
        1
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut literals: Vec<u8> = Vec::new();
        let flush = |literals: &mut Vec<u8>, out: &mut Vec<u8>| {
            for chunk in literals.chunks(MAX_LITERALS) {
                out.push((chunk.len() - 1) as u8);
                out.extend_from_slice(chunk);
            }
            literals.clear();
        };
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            let run = input[i..]
                .iter()
                .take(MAX_RUN)
                .take_while(|&&x| x == b)
                .count();
            if run >= MIN_RUN {
                flush(&mut literals, out);
                out.push((run + 125) as u8);
                out.push(b);
                i += run;
            } else {
                literals.push(b);
                i += 1;
            }
        }
        flush(&mut literals, out);
        Ok(())
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let mut rest = input;
        while let Some((&control, tail)) = rest.split_first() {
            let produced = out.len() - start;
            if control < 128 {
                let n = usize::from(control) + 1;
                if tail.len() < n || produced + n > decoded_len {
                    return Err(Error::corrupt(
                        "literal run past the end of input or output",
                    ));
                }
                out.extend_from_slice(&tail[..n]);
                rest = &tail[n..];
            } else {
                let n = usize::from(control) - 125;
                let Some((&b, tail)) = tail.split_first() else {
                    return Err(Error::corrupt("repeat without its byte"));
                };
                if produced + n > decoded_len {
                    return Err(Error::corrupt("repeat past the declared length"));
                }
                out.resize(out.len() + n, b);
                rest = tail;
            }
        }
        if out.len() - start != decoded_len {
            return Err(Error::corrupt("runs decode to fewer bytes than declared"));
        }
        Ok(())
    }
}

#[test]
fn a_length_preserving_codec_passes_every_check() {
    codec::run_all(&Flip);
}

#[test]
fn a_compressing_codec_passes_every_check() {
    codec::run_all(&Runs);
}

#[test]
fn the_run_length_coder_really_compresses() {
    let data = hoard_testkit::artifact(64 * 1024, 1);
    let mut out = Vec::new();
    Runs.encode(&vec![7u8; 10_000], &mut out)
        .expect("encoding cannot fail");
    assert!(out.len() < 200, "{} bytes", out.len());
    out.clear();
    Runs.encode(&data, &mut out).expect("encoding cannot fail");
    assert!(out.len() < data.len(), "{} bytes", out.len());
}

/// A flaw layered on [`Flip`] (length checks) or [`Runs`] (a parser).
#[derive(Debug)]
enum Flawed {
    /// Decoding appends one byte more than it should.
    OneByteTooMany,
    /// Encoding replaces what `out` held.
    ClearsOut,
    /// Encoding doubles every byte, beyond `max_encoded_len`.
    Expands,
    /// Decoding trusts the input's length, not `decoded_len`.
    TrustsTheInput,
    /// Decoding appends everything, then checks the length.
    ChecksTooLate,
    /// Decoding failures are I/O errors.
    WrongErrorKind,
    /// The run-length decoder without its bounds checks.
    Panics,
    /// An id that changes between calls.
    UnstableId,
    /// `decode_into` leaves the last byte of its slice alone.
    IntoStopsShort,
    /// `decode_into` accepts any input of the right length, as zeros.
    IntoTrustsTheLength,
}

/// Calls of `UnstableId`'s `id`.
static FLIPS: AtomicU64 = AtomicU64::new(0);

impl Codec for Flawed {
    fn id(&self) -> CodecId {
        match self {
            Self::UnstableId => {
                let value = 0x8100 + u16::from(FLIPS.fetch_add(1, Ordering::Relaxed) % 2 == 1);
                CodecId::plugin(value).expect("in the plugin range")
            }
            _ => Flip.id(),
        }
    }
    fn level(&self) -> i32 {
        0
    }
    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        match self {
            Self::ClearsOut => {
                out.clear();
                Flip.encode(input, out)
            }
            Self::Expands => {
                for b in input {
                    out.extend([b ^ 0x55, b ^ 0x55]);
                }
                Ok(())
            }
            Self::Panics => Runs.encode(input, out),
            _ => Flip.encode(input, out),
        }
    }
    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Self::OneByteTooMany => {
                Flip.decode(input, decoded_len, out)?;
                out.push(0);
                Ok(())
            }
            Self::Expands => {
                if input.len() != decoded_len * 2 {
                    return Err(Error::corrupt("wrong length"));
                }
                out.extend(input.iter().step_by(2).map(|b| b ^ 0x55));
                Ok(())
            }
            Self::TrustsTheInput => {
                out.extend(input.iter().map(|b| b ^ 0x55));
                Ok(())
            }
            Self::ChecksTooLate => {
                out.extend(input.iter().map(|b| b ^ 0x55));
                if input.len() != decoded_len {
                    return Err(Error::corrupt("wrong length"));
                }
                Ok(())
            }
            Self::WrongErrorKind => Flip
                .decode(input, decoded_len, out)
                .map_err(|e| Error::new(ErrorKind::Io, e.message().to_owned())),
            Self::Panics => {
                let start = out.len();
                let mut i = 0;
                while i < input.len() {
                    let control = input[i];
                    if control < 128 {
                        let n = usize::from(control) + 1;
                        out.extend_from_slice(&input[i + 1..i + 1 + n]);
                        i += 1 + n;
                    } else {
                        let n = usize::from(control) - 125;
                        out.resize(out.len() + n, input[i + 1]);
                        i += 2;
                    }
                }
                if out.len() - start != decoded_len {
                    return Err(Error::corrupt("wrong length"));
                }
                Ok(())
            }
            Self::ClearsOut
            | Self::UnstableId
            | Self::IntoStopsShort
            | Self::IntoTrustsTheLength => Flip.decode(input, decoded_len, out),
        }
    }
    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        match self {
            Self::IntoStopsShort => {
                if input.len() != out.len() {
                    return Err(Error::corrupt("wrong length"));
                }
                let short = out.len().saturating_sub(1);
                for (o, b) in out[..short].iter_mut().zip(input) {
                    *o = b ^ 0x55;
                }
                Ok(())
            }
            Self::IntoTrustsTheLength => {
                out.fill(0);
                Ok(())
            }
            _ => {
                let mut decoded = Vec::new();
                self.decode(input, out.len(), &mut decoded)?;
                if decoded.len() != out.len() {
                    return Err(Error::corrupt("wrong length"));
                }
                out.copy_from_slice(&decoded);
                Ok(())
            }
        }
    }
}

#[test]
fn one_byte_too_many_is_caught() {
    expect_failure("one byte too many", "appends exactly decoded_len", || {
        codec::round_trips(&Flawed::OneByteTooMany);
    });
    expect_failure("one byte too many", "appends exactly decoded_len", || {
        codec::decode_appends(&Flawed::OneByteTooMany);
    });
}

#[test]
fn clearing_out_is_caught() {
    expect_failure("clears out", "encode appends", || {
        codec::encode_appends(&Flawed::ClearsOut);
    });
}

#[test]
fn expanding_beyond_the_bound_is_caught() {
    expect_failure("expands", "max_encoded_len", || {
        codec::round_trips(&Flawed::Expands);
    });
}

#[test]
fn trusting_the_input_length_is_caught() {
    expect_failure("trusts the input", "decode fails unless", || {
        codec::decode_rejects_wrong_lengths(&Flawed::TrustsTheInput);
    });
}

#[test]
fn growing_out_before_failing_is_caught() {
    expect_failure("checks too late", "never grows `out`", || {
        codec::garbage_is_safe(&Flawed::ChecksTooLate);
    });
    expect_failure("checks too late", "never grows `out`", || {
        codec::decode_rejects_wrong_lengths(&Flawed::ChecksTooLate);
    });
}

#[test]
fn a_wrong_error_kind_is_caught() {
    expect_failure("wrong error kind", "ErrorKind::Corrupt", || {
        codec::decode_rejects_wrong_lengths(&Flawed::WrongErrorKind);
    });
}

#[test]
fn panics_are_caught_and_name_the_input() {
    expect_failure(
        "panics",
        "panicked decoding the encoding of artifact(1024",
        || {
            codec::truncations_are_safe(&Flawed::Panics);
        },
    );
    expect_failure("panics", "flipped", || {
        codec::bit_flips_are_safe(&Flawed::Panics);
    });
    expect_failure("panics", "decode never panics", || {
        codec::garbage_is_safe(&Flawed::Panics);
    });
}

#[test]
fn a_decode_into_that_disagrees_with_decode_is_caught() {
    expect_failure(
        "decode_into stops short",
        "decode_into agrees with decode",
        || codec::round_trips(&Flawed::IntoStopsShort),
    );
    expect_failure(
        "decode_into trusts the length",
        "decode_into accepted",
        || codec::garbage_is_safe(&Flawed::IntoTrustsTheLength),
    );
}

#[test]
fn an_unstable_id_is_caught() {
    // An id outside the range cannot be built (`CodecId::Plugin` holds a checked
    // `PluginId`); an id that changes between calls can, and the suite catches it.
    expect_failure("unstable id", "the id is stable", || {
        codec::id_is_valid(&Flawed::UnstableId);
    });
}
