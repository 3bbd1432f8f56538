//! Helpers the suites share: a private identity codec for building real frames, seeded
//! digests, panic capture and compact byte-slice comparisons.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hoard_core::{Codec, CodecId, DIGEST_LEN, Digest, Error, Result};

use crate::data::SplitMix64;

/// Stores bytes as they are. The real identity codec lives in hoard-codec, which the testkit
/// must not depend on (hoard-codec's own tests depend on the testkit).
#[derive(Debug)]
pub(crate) struct Plain;

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
            return Err(Error::corrupt(format!(
                "identity payload is {} bytes, the frame declares {decoded_len}",
                input.len()
            )));
        }
        out.extend_from_slice(input);
        Ok(())
    }
}

/// A well-spread digest for `seed`: the SplitMix64 stream, so digests made from nearby seeds
/// share no prefix (stores that shard by the first characters get the spread they expect).
pub(crate) fn digest(seed: u64) -> Digest {
    let mut bytes = [0u8; DIGEST_LEN];
    SplitMix64::new(seed ^ 0x6469_6765_7374_0000).fill(&mut bytes);
    Digest::from_bytes(bytes)
}

/// Runs `f`, turning a panic into its message.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> std::result::Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The message of a panic payload (`panic!` with a literal or a format string).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// How `got` differs from `want`, without printing megabytes: lengths and the first
/// differing offset.
pub(crate) fn difference(got: &[u8], want: &[u8]) -> String {
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(at) => format!(
            "{} bytes where {} were expected, first difference at offset {at} ({:#04x} instead of {:#04x})",
            got.len(),
            want.len(),
            got[at],
            want[at]
        ),
        None if got.len() < want.len() => format!(
            "{} bytes where {} were expected: a prefix of the expected bytes",
            got.len(),
            want.len()
        ),
        None if got.len() > want.len() => format!(
            "{} bytes where {} were expected: the expected bytes followed by extra ones",
            got.len(),
            want.len()
        ),
        None => "the same bytes".to_owned(),
    }
}
