//! The hasher suite on a small correct hasher (four SplitMix64-mixed lanes) and on variants
//! with one flaw each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hoard_core::{DIGEST_LEN, Digest, HashState, HasherId, KeyHasher};
use hoard_testkit::hasher;

use crate::expect_failure;

/// The SplitMix64 finaliser: a bijective 64-bit mixer with full avalanche.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Four 64-bit lanes, each absorbing every 8-byte word through its own multiplier and
/// `mix64`, with the byte length absorbed last and two rounds of cross-lane mixing. Not
/// cryptographic, but good enough mixing to pass the suite honestly.
#[derive(Clone, Debug)]
struct Lanes {
    lanes: [u64; 4],
    buf: [u8; 8],
    buffered: usize,
    total: u64,
    /// Which flaws this state has (for the flawed hashers below).
    drops_partial_words: bool,
}

const MULTIPLIERS: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0xd6e8_feb8_6659_fd93,
];

impl Lanes {
    fn new(seed: u64) -> Self {
        Self {
            lanes: std::array::from_fn(|j| mix64(seed ^ MULTIPLIERS[j])),
            buf: [0; 8],
            buffered: 0,
            total: 0,
            drops_partial_words: false,
        }
    }

    fn absorb(&mut self, word: u64) {
        for (lane, k) in self.lanes.iter_mut().zip(MULTIPLIERS) {
            *lane = mix64(*lane ^ word.wrapping_mul(k)).rotate_left(17);
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        if self.drops_partial_words && bytes.len() >= 8 {
            self.buffered = 0;
        }
        while !bytes.is_empty() {
            let n = (8 - self.buffered).min(bytes.len());
            self.buf[self.buffered..self.buffered + n].copy_from_slice(&bytes[..n]);
            self.buffered += n;
            bytes = &bytes[n..];
            if self.buffered == 8 {
                self.absorb(u64::from_le_bytes(self.buf));
                self.buffered = 0;
            }
        }
    }

    fn digest(mut self) -> [u64; 4] {
        self.buf[self.buffered..].fill(0);
        self.absorb(u64::from_le_bytes(self.buf));
        self.absorb(self.total);
        for round in 0..2u64 {
            for j in 0..4 {
                let next = self.lanes[(j + 1) % 4];
                self.lanes[j] = mix64(self.lanes[j] ^ next.rotate_left(23) ^ round);
            }
        }
        self.lanes
    }
}

fn to_digest(lanes: [u64; 4]) -> Digest {
    let mut out = [0u8; DIGEST_LEN];
    for (chunk, lane) in out.chunks_exact_mut(8).zip(lanes) {
        chunk.copy_from_slice(&lane.to_le_bytes());
    }
    Digest::from_bytes(out)
}

impl HashState for Lanes {
    fn update(&mut self, bytes: &[u8]) {
        self.feed(bytes);
    }
    fn finish(self: Box<Self>) -> Digest {
        to_digest(self.digest())
    }
    fn fork(&self) -> Box<dyn HashState> {
        Box::new(self.clone())
    }
}

#[derive(Debug)]
struct LaneHasher;

impl KeyHasher for LaneHasher {
    fn id(&self) -> HasherId {
        HasherId::plugin(0x8000).expect("in the plugin range")
    }
    fn begin(&self) -> Box<dyn HashState> {
        Box::new(Lanes::new(0))
    }
}

#[test]
fn a_correct_hasher_passes_every_check() {
    hasher::run_all(&LaneHasher);
}

/// One deliberate flaw each.
#[derive(Debug)]
enum Flawed {
    /// Hashes each `update` on its own and combines the results.
    HashesEachUpdate,
    /// Forgets buffered bytes when a long `update` follows a short one.
    DropsPartialWords,
    /// A fork shares its parent's state.
    SharedFork,
    /// XORs the input into 32 bytes: collides at once.
    XorFold,
    /// A 64-bit hash padded with zeros.
    Short,
    /// Every `begin` starts from a new seed.
    Nondeterministic,
    /// An id that changes between calls.
    UnstableId,
}

#[derive(Debug)]
enum FlawedState {
    EachUpdate(Vec<[u64; 4]>),
    Lanes(Lanes),
    Shared(Arc<Mutex<Lanes>>),
    Xor([u8; DIGEST_LEN], usize),
    Short(Lanes),
}

impl HashState for FlawedState {
    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::EachUpdate(parts) => {
                let mut lanes = Lanes::new(0);
                lanes.feed(bytes);
                parts.push(lanes.digest());
            }
            Self::Lanes(lanes) | Self::Short(lanes) => lanes.feed(bytes),
            Self::Shared(lanes) => lanes.lock().expect("not poisoned").feed(bytes),
            Self::Xor(acc, at) => {
                for b in bytes {
                    acc[*at % DIGEST_LEN] ^= b;
                    *at += 1;
                }
            }
        }
    }
    fn finish(self: Box<Self>) -> Digest {
        match *self {
            Self::EachUpdate(parts) => {
                let mut out = Lanes::new(0).digest();
                for part in parts {
                    for (o, p) in out.iter_mut().zip(part) {
                        *o ^= p;
                    }
                }
                to_digest(out)
            }
            Self::Lanes(lanes) => to_digest(lanes.digest()),
            Self::Shared(lanes) => to_digest(lanes.lock().expect("not poisoned").clone().digest()),
            Self::Xor(acc, _) => Digest::from_bytes(acc),
            Self::Short(lanes) => {
                let mut out = [0u8; DIGEST_LEN];
                out[..8].copy_from_slice(&lanes.digest()[0].to_le_bytes());
                Digest::from_bytes(out)
            }
        }
    }
    fn fork(&self) -> Box<dyn HashState> {
        Box::new(match self {
            Self::EachUpdate(parts) => Self::EachUpdate(parts.clone()),
            Self::Lanes(lanes) => Self::Lanes(lanes.clone()),
            Self::Shared(lanes) => Self::Shared(Arc::clone(lanes)),
            Self::Xor(acc, at) => Self::Xor(*acc, *at),
            Self::Short(lanes) => Self::Short(lanes.clone()),
        })
    }
}

static SEEDS: AtomicU64 = AtomicU64::new(1);

/// Calls of `UnstableId`'s `id`.
static FLIPS: AtomicU64 = AtomicU64::new(0);

impl KeyHasher for Flawed {
    fn id(&self) -> HasherId {
        match self {
            Self::UnstableId => {
                let value = 0x8100 + u16::from(FLIPS.fetch_add(1, Ordering::Relaxed) % 2 == 1);
                HasherId::plugin(value).expect("in the plugin range")
            }
            _ => LaneHasher.id(),
        }
    }
    fn begin(&self) -> Box<dyn HashState> {
        Box::new(match self {
            Self::HashesEachUpdate => FlawedState::EachUpdate(Vec::new()),
            Self::DropsPartialWords => {
                let mut lanes = Lanes::new(0);
                lanes.drops_partial_words = true;
                FlawedState::Lanes(lanes)
            }
            Self::SharedFork => FlawedState::Shared(Arc::new(Mutex::new(Lanes::new(0)))),
            Self::XorFold => FlawedState::Xor([0; DIGEST_LEN], 0),
            Self::Short => FlawedState::Short(Lanes::new(0)),
            Self::Nondeterministic => {
                FlawedState::Lanes(Lanes::new(SEEDS.fetch_add(1, Ordering::Relaxed)))
            }
            Self::UnstableId => FlawedState::Lanes(Lanes::new(0)),
        })
    }
}

#[test]
fn a_hasher_that_depends_on_update_boundaries_is_caught() {
    expect_failure("hashes each update", "any split", || {
        hasher::chunking_independent(&Flawed::HashesEachUpdate);
    });
    expect_failure("drops partial words", "any split", || {
        hasher::chunking_independent(&Flawed::DropsPartialWords);
    });
}

#[test]
fn a_shared_fork_is_caught() {
    expect_failure("shared fork", "a fork is independent", || {
        hasher::fork_independent(&Flawed::SharedFork);
    });
}

#[test]
fn collisions_are_caught() {
    expect_failure(
        "xor fold",
        "different inputs give different digests",
        || {
            hasher::no_collisions(&Flawed::XorFold);
        },
    );
}

#[test]
fn a_short_hash_passes_the_collision_check_but_not_the_bit_check() {
    hasher::no_collisions(&Flawed::Short);
    expect_failure("short hash", "collision-resistant hash", || {
        hasher::bits_depend_on_every_input_bit(&Flawed::Short);
    });
}

#[test]
fn a_nondeterministic_hasher_is_caught() {
    expect_failure(
        "nondeterministic",
        "the same bytes give the same digest",
        || {
            hasher::deterministic(&Flawed::Nondeterministic);
        },
    );
}

#[test]
fn an_unstable_id_is_caught() {
    // An id outside the range cannot be built (`HasherId::Plugin` holds a checked
    // `PluginId`); an id that changes between calls can, and the suite catches it.
    expect_failure("unstable id", "the id is stable", || {
        hasher::id_is_valid(&Flawed::UnstableId);
    });
}
