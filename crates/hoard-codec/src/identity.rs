//! The identity codec: the payload is the data.

use hoard_core::{Codec, CodecId, Error, Result};

use crate::reserve::reserve_exact;

/// Stores bytes as they are, recorded as [`CodecId::Identity`] with level 0.
///
/// The right choice for data that is already compressed, and the one that lets a store map
/// a large entry's payload into memory (such frames are page aligned).
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity;

impl Codec for Identity {
    fn id(&self) -> CodecId {
        CodecId::Identity
    }

    fn level(&self) -> i32 {
        0
    }

    fn encode(&self, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
        reserve_exact(out, input.len(), "copy an identity payload")?;
        out.extend_from_slice(input);
        Ok(())
    }

    fn decode(&self, input: &[u8], decoded_len: usize, out: &mut Vec<u8>) -> Result<()> {
        if input.len() != decoded_len {
            return Err(Error::corrupt(format!(
                "identity payload is {} bytes where {decoded_len} were declared",
                input.len()
            )));
        }
        reserve_exact(out, decoded_len, "copy an identity payload")?;
        out.extend_from_slice(input);
        Ok(())
    }

    fn decode_into(&self, input: &[u8], out: &mut [u8]) -> Result<()> {
        if input.len() != out.len() {
            return Err(Error::corrupt(format!(
                "identity payload is {} bytes where {} were declared",
                input.len(),
                out.len()
            )));
        }
        out.copy_from_slice(input);
        Ok(())
    }
}
