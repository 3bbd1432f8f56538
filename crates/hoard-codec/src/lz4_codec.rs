//! LZ4 block compression through `lz4_flex`, behind the `lz4` feature.

use hoard_core::{Codec, CodecId, Error, ErrorKind, Result};
use lz4_flex::block;

use crate::reserve::reserve_exact;

/// No LZ4 block decodes to more than 255 times its size: a sequence costs at least three
/// bytes (token and offset) and yields at most 19 match bytes plus 255 per extension byte,
/// and literals are copied one for one.
const MAX_RATIO: usize = 255;

/// LZ4 block compression (`lz4_flex::block`, no size prefix: the frame records the decoded
/// length), recorded as [`CodecId::Lz4`] with level 0.
///
/// Compresses less than zstd but decodes two to three times faster; pure Rust, built with
/// `lz4_flex`'s safe encoder and decoder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lz4;

impl Codec for Lz4 {
    fn id(&self) -> CodecId {
        CodecId::Lz4
    }

    fn level(&self) -> i32 {
        0
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        // lz4_flex computes its bound as `20 + n * 110 / 100` in u64 and casts it to usize,
        // which truncates on 32-bit targets for inputs above about 3.9 GB.
        let bound_fits = u64::try_from(input.len())
            .ok()
            .and_then(|n| n.checked_mul(110))
            .is_some_and(|n| usize::try_from(20 + n / 100).is_ok());
        if !bound_fits {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!("lz4 cannot encode {} bytes on this platform", input.len()),
            ));
        }
        // lz4_flex refuses to start unless this much room is available, although its real
        // worst case is much smaller (n + n / 255 + 16).
        let bound = block::get_maximum_output_size(input.len());
        reserve_exact(out, bound, "encode an lz4 payload")?;
        let start = out.len();
        out.resize(start + bound, 0);
        match block::compress_into(input, &mut out[start..]) {
            Ok(written) => {
                out.truncate(start + written);
                Ok(())
            }
            Err(e) => {
                // Unreachable with the bound above; an error all the same, never a panic.
                out.truncate(start);
                Err(Error::new(
                    ErrorKind::Io,
                    format!("lz4 could not encode {} bytes", input.len()),
                )
                .with_source(e))
            }
        }
    }

    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        check_ratio(input, decoded_len)?;
        reserve_exact(out, decoded_len, "decode an lz4 payload")?;
        let start = out.len();
        // The safe decoder only writes into initialised memory; zeroing costs a pass over
        // the output, the price of staying free of unsafe code.
        out.resize(start + decoded_len, 0);
        let result = decompress_exactly(input, &mut out[start..]);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        check_ratio(input, out.len())?;
        decompress_exactly(input, out)
    }
}

/// Refuses impossible lengths up front, which keeps a tiny hostile payload from costing an
/// allocation and a zeroing pass of whatever length it claims.
fn check_ratio(input: &[u8], decoded_len: usize) -> Result<()> {
    if decoded_len > input.len().saturating_mul(MAX_RATIO) {
        return Err(Error::corrupt(format!(
            "lz4 payload of {} bytes cannot decode to the declared {decoded_len}",
            input.len()
        )));
    }
    Ok(())
}

/// Decodes `input` into all of `out`: the block must fill it exactly.
fn decompress_exactly(input: &[u8], out: &mut [u8]) -> Result<()> {
    let decoded_len = out.len();
    match block::decompress_into(input, out) {
        Ok(n) if n == decoded_len => Ok(()),
        Ok(n) => Err(Error::corrupt(format!(
            "lz4 payload decodes to {n} bytes where {decoded_len} were declared"
        ))),
        Err(e) => Err(Error::corrupt(format!(
            "lz4 payload of {} bytes does not decode to the declared {decoded_len}",
            input.len()
        ))
        .with_source(e)),
    }
}
