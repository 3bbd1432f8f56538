//! Self-describing values and the one way every row reads them back.
//!
//! A value says which key index, writer and sequence number it was written for and how long
//! it is, and its body is derived from those three numbers. Any process can therefore check
//! any hit on its own, without knowing which of several racing writers wrote last: a hit is
//! either byte-exact for its own header and for the key it was read under, or it is a
//! violation.

use hoard::{Cache, ErrorKind, Key};

/// The namespace every row's caches use.
pub(crate) const NAMESPACE: &str = "reliability";

const MAGIC: [u8; 4] = *b"hrv1";

/// Magic, key index, writer, sequence number, total length.
pub(crate) const HEADER_LEN: usize = 4 + 4 + 4 + 8 + 4;

/// Who wrote a value: the key index it belongs to, the writer and its sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The key index (see [`key`]).
    pub(crate) key: u32,
    /// The writer (a child's id, or `u32::MAX` for the harness itself).
    pub(crate) writer: u32,
    /// Increases with every put of one writer; rows that check durability make it increase
    /// across power cuts too.
    pub(crate) seq: u64,
}

/// The writer id the harness uses for its own puts.
pub(crate) const HARNESS: u32 = u32::MAX;

/// The key of index `index` in `cache`.
pub(crate) fn key(cache: &Cache, index: u32) -> Key {
    cache.key(format!("reliability-key-{index}"))
}

/// A value of `len` bytes (at least [`HEADER_LEN`]) for `stamp`.
pub(crate) fn make(stamp: Stamp, len: usize) -> Vec<u8> {
    let len = len.max(HEADER_LEN);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&stamp.key.to_le_bytes());
    out.extend_from_slice(&stamp.writer.to_le_bytes());
    out.extend_from_slice(&stamp.seq.to_le_bytes());
    out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    out.resize(len, 0);
    fill(stamp, &mut out[HEADER_LEN..]);
    out
}

/// The body of a value: letters from a 16-character alphabet, so that zstd has something to
/// do (about 2:1) and recompression changes the stored bytes.
fn fill(stamp: Stamp, body: &mut [u8]) {
    let mut state =
        u64::from(stamp.key) << 32 ^ u64::from(stamp.writer) ^ stamp.seq.rotate_left(17);
    for chunk in body.chunks_mut(8) {
        let word = splitmix(&mut state).to_le_bytes();
        for (b, w) in chunk.iter_mut().zip(word) {
            *b = b'a' + (w & 0x0f);
        }
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What a hit under key index `key` turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Byte-exact for its header, which names `key`.
    Good(Stamp),
    /// Shorter than its header says (or than a header).
    Short,
    /// Anything else: another key's value, damaged bytes, a different length.
    Wrong(String),
}

/// Checks a hit read under key index `key`.
pub(crate) fn check(key: u32, bytes: &[u8]) -> Verdict {
    if bytes.len() < HEADER_LEN {
        return if MAGIC.starts_with(&bytes[..bytes.len().min(4)]) {
            Verdict::Short
        } else {
            Verdict::Wrong(format!("{} bytes without a value header", bytes.len()))
        };
    }
    let word =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes[..4] != MAGIC {
        return Verdict::Wrong("no value magic".to_owned());
    }
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&bytes[12..20]);
    let stamp = Stamp {
        key: word(4),
        writer: word(8),
        seq: u64::from_le_bytes(seq),
    };
    let declared = word(20) as usize;
    if stamp.key != key {
        return Verdict::Wrong(format!("key {key} returned the value of key {}", stamp.key));
    }
    if bytes.len() < declared {
        return Verdict::Short;
    }
    if bytes.len() > declared {
        return Verdict::Wrong(format!(
            "key {key}: {} bytes where the value declares {declared}",
            bytes.len()
        ));
    }
    if make(stamp, declared) != bytes {
        return Verdict::Wrong(format!(
            "key {key}: body differs from writer {} seq {}",
            stamp.writer, stamp.seq
        ));
    }
    Verdict::Good(stamp)
}

/// The outcome of one `try_get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// No entry.
    Miss,
    /// A verified, byte-exact value.
    Good(Stamp),
    /// A hit shorter than its value: a violation.
    Short,
    /// A hit with wrong bytes: a violation.
    Wrong(String),
    /// The store held a damaged entry, which verification caught (a miss for callers; the
    /// facade removed the file).
    Corrupt(String),
    /// Any other error (I/O, limits), a miss for callers.
    Error(String),
}

/// Reads key index `index` through the facade's checked path and judges the result.
pub(crate) fn read_back(cache: &Cache, index: u32) -> Read {
    match cache.try_get(&key(cache, index)) {
        Ok(None) => Read::Miss,
        Ok(Some(bytes)) => match check(index, &bytes) {
            Verdict::Good(stamp) => Read::Good(stamp),
            Verdict::Short => Read::Short,
            Verdict::Wrong(why) => Read::Wrong(why),
        },
        Err(e) if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Insecure) => {
            Read::Corrupt(e.to_string())
        }
        Err(e) => Read::Error(e.to_string()),
    }
}

/// A size between `min` and `max` bytes, log-uniform, so small and large values are both
/// common.
pub(crate) fn size(rng: &mut fastrand::Rng, min: usize, max: usize) -> usize {
    let (min, max) = (min.max(1), max.max(min.max(1)));
    let lo = (min as f64).ln();
    let hi = (max as f64).ln();
    let x = (lo + rng.f64() * (hi - lo)).exp();
    (x as usize).clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_check_and_damage_is_caught() {
        let stamp = Stamp {
            key: 7,
            writer: 2,
            seq: 99,
        };
        let v = make(stamp, 1000);
        assert_eq!(check(7, &v), Verdict::Good(stamp));
        assert!(matches!(check(8, &v), Verdict::Wrong(_)));
        assert_eq!(check(7, &v[..500]), Verdict::Short);
        assert_eq!(check(7, &v[..3]), Verdict::Short);
        let mut flipped = v.clone();
        flipped[700] ^= 1;
        assert!(matches!(check(7, &flipped), Verdict::Wrong(_)));
        assert!(matches!(check(7, &[0; 40]), Verdict::Wrong(_)));
        assert_eq!(make(stamp, 0).len(), HEADER_LEN);
    }
}
