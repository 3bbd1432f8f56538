//! What [`CacheBuilder::build`](crate::CacheBuilder::build) checks of the codecs and the key
//! hasher it is given, so that a broken plugin is refused at build time instead of making
//! every put fail or every get miss afterwards.
//!
//! Every check fails with [`ErrorKind::Config`] and a message naming the id and the fault:
//! - **the id**: a value a frame can record (`1..` for built-ins, `0x8000..=0xFFFF` for
//!   plugins, see [`hoard_core::id`]);
//! - **a round trip**: a small sample (empty, and 4 KiB of mixed bytes) encodes and decodes
//!   back to itself through both [`Codec::decode`] and [`Codec::decode_into`]; for a hasher,
//!   the same input gives the same digest however it is split or forked;
//! - **one format per id**: a codec that claims a built-in id must read and write that
//!   built-in codec's format (zstd at another level does; a plugin reusing the id does not),
//!   and two codecs given for one id must read each other's output. Otherwise entries would
//!   be read by the wrong codec: caches that disagree on an id would destroy each other's
//!   data.

use std::sync::Arc;

use hoard_core::{Codec, CodecId, Digest, Error, ErrorKind, HasherId, KeyHasher, Result};

/// The probe inputs: empty, and 4 KiB that mixes runs and noise (both code paths of a
/// compressor).
fn samples() -> [Vec<u8>; 2] {
    let mixed = (0u32..4096)
        .map(|i| {
            if i % 512 < 256 {
                b"hoard probe "[(i % 12) as usize]
            } else {
                (i.wrapping_mul(2_654_435_761) >> 13) as u8
            }
        })
        .collect();
    [Vec::new(), mixed]
}

fn config(message: String) -> Error {
    Error::new(ErrorKind::Config, message)
}

/// `codec`'s encoding of `sample`, without the bytes already in the buffer (a frame's header
/// space, which encode must leave alone).
fn encode(codec: &dyn Codec, sample: &[u8]) -> Result<Vec<u8>> {
    const HEADER: &[u8] = b"header space";
    let mut out = HEADER.to_vec();
    codec.encode(sample, &mut out).map_err(|e| {
        config(format!(
            "codec {} cannot encode a {}-byte probe: {e}",
            codec.id(),
            sample.len()
        ))
    })?;
    if !out.starts_with(HEADER) {
        return Err(config(format!(
            "codec {} overwrote the bytes before its output (encode must append)",
            codec.id()
        )));
    }
    Ok(out.split_off(HEADER.len()))
}

/// Checks that `decoder` turns `encoded` back into exactly `sample`, through both decode
/// methods; `what` says whose output it reads, for the message.
fn check_decodes(decoder: &dyn Codec, encoded: &[u8], sample: &[u8], what: &str) -> Result<()> {
    const BEFORE: &[u8] = b"kept";
    let id = decoder.id();
    let fault = |how: String| {
        config(format!(
            "codec {id} fails its round-trip probe on {what} ({} bytes): {how}",
            sample.len()
        ))
    };
    let mut out = BEFORE.to_vec();
    decoder
        .decode(encoded, sample.len(), &mut out)
        .map_err(|e| fault(format!("decode failed: {e}")))?;
    if !out.starts_with(BEFORE) {
        return Err(fault("decode overwrote the bytes before its output".into()));
    }
    let decoded = &out[BEFORE.len()..];
    if decoded.len() != sample.len() {
        return Err(fault(format!(
            "decode gave {} bytes where {} were encoded",
            decoded.len(),
            sample.len()
        )));
    }
    if decoded != sample {
        return Err(fault("decode gave other bytes than were encoded".into()));
    }
    let mut into = vec![0u8; sample.len()];
    decoder
        .decode_into(encoded, &mut into)
        .map_err(|e| fault(format!("decode_into failed: {e}")))?;
    if into != sample {
        return Err(fault(
            "decode_into gave other bytes than were encoded".into(),
        ));
    }
    Ok(())
}

/// The round trip of one codec (its id is in range by construction: `CodecId::Plugin` holds
/// a checked `PluginId`).
pub(crate) fn check_codec(codec: &dyn Codec) -> Result<()> {
    for sample in samples() {
        let encoded = encode(codec, &sample)?;
        check_decodes(codec, &encoded, &sample, "its own output")?;
    }
    Ok(())
}

/// Whether `a` and `b` (one id) read each other's output.
fn interchangeable(a: &dyn Codec, b: &dyn Codec) -> bool {
    samples().iter().all(|sample| {
        let ab = encode(a, sample).and_then(|e| check_decodes(b, &e, sample, "another's output"));
        let ba = encode(b, sample).and_then(|e| check_decodes(a, &e, sample, "another's output"));
        ab.is_ok() && ba.is_ok()
    })
}

/// Checks every codec the caller gave (the write codec first, then the extra decoders):
/// each alone, then against the built-in codec of its id and against the others of its id.
pub(crate) fn check_codecs(given: &[Arc<dyn Codec>], builtin: &hoard_core::Decoders) -> Result<()> {
    for (i, codec) in given.iter().enumerate() {
        check_codec(codec.as_ref())?;
        let id = codec.id();
        if CodecId::BUILT_IN.contains(&id) {
            match builtin.get(id) {
                Some(own) if interchangeable(codec.as_ref(), own.as_ref()) => {}
                Some(_) => {
                    return Err(config(format!(
                        "codec {id} claims the id of the built-in {id} codec ({:#06x}) but does \
                         not read and write its format: a plugin codec takes an id in \
                         {:#06x}..=0xffff",
                        id.to_u16(),
                        hoard_core::id::PLUGIN_RANGE_START
                    )));
                }
                None => {
                    return Err(config(format!(
                        "codec {id} claims the id of the built-in {id} codec ({:#06x}), which \
                         this build does not include: enable its feature, or give a plugin \
                         codec an id in {:#06x}..=0xffff",
                        id.to_u16(),
                        hoard_core::id::PLUGIN_RANGE_START
                    )));
                }
            }
        }
        for earlier in &given[..i] {
            if earlier.id() == id && !interchangeable(earlier.as_ref(), codec.as_ref()) {
                return Err(config(format!(
                    "two different codecs claim id {id} ({:#06x}): they do not read each \
                     other's output, so entries of one would be read by the other",
                    id.to_u16()
                )));
            }
        }
    }
    Ok(())
}

fn digest_of(hasher: &dyn KeyHasher, parts: &[&[u8]]) -> Digest {
    let mut state = hasher.begin();
    for part in parts {
        state.update(part);
    }
    state.finish()
}

/// A probe that a key hasher's digests are deterministic: the same
/// bytes give the same digest, however they are split into updates or forked.
pub(crate) fn check_hasher(hasher: &dyn KeyHasher) -> Result<()> {
    let id = hasher.id();
    let [_, sample] = samples();
    let (head, tail) = sample.split_at(1000);
    let whole = digest_of(hasher, &[&sample]);
    let fault = |how: &str| {
        config(format!(
            "key hasher {id} fails its probe: {how}, so no key would find its entry again"
        ))
    };
    if digest_of(hasher, &[&sample]) != whole {
        return Err(fault("two digests of the same bytes differ"));
    }
    if digest_of(hasher, &[head, tail]) != whole {
        return Err(fault(
            "the digest of bytes given in two updates differs from the one of the same bytes in one",
        ));
    }
    let mut prefix = hasher.begin();
    prefix.update(head);
    let mut fork = prefix.fork();
    fork.update(tail);
    prefix.update(tail);
    if fork.finish() != whole || prefix.finish() != whole {
        return Err(fault(
            "a forked state gives another digest than the original",
        ));
    }
    if let Some(own) = builtin_hasher(id)
        && digest_of(own.as_ref(), &[&sample]) != whole
    {
        return Err(config(format!(
            "key hasher {id} claims the id of the built-in {id} hasher ({:#06x}) but hashes \
             differently: a plugin hasher takes an id in {:#06x}..=0xffff",
            id.to_u16(),
            hoard_core::id::PLUGIN_RANGE_START
        )));
    }
    Ok(())
}

/// The built-in hasher of `id`, when this build has one.
fn builtin_hasher(id: HasherId) -> Option<Box<dyn KeyHasher>> {
    match id {
        HasherId::Sha256 => Some(Box::new(hoard_key::Sha256)),
        #[cfg(feature = "blake3")]
        HasherId::Blake3 => Some(Box::new(hoard_key::Blake3)),
        _ => None,
    }
}
