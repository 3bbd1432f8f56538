//! The [`KeyHasher`] conformance suite.
//!
//! [`run_all`] runs every check; each is also a public function. A check panics with a
//! message that starts with `hasher contract broken (<clause>)`, naming the clause of the
//! [`KeyHasher`] contract that failed and the inputs involved.
//!
//! No suite can prove a hash collision resistant. These checks catch the usual ways of not
//! being one: state that depends on how the input was split, forks that share state,
//! collisions among a few thousand closely related inputs, and output bits that do not
//! depend on every input bit (a 64-bit hash padded to 32 bytes, say). Known-answer tests for
//! a particular algorithm belong with its implementation.

use std::collections::{BTreeSet, HashMap};
use std::thread;

use hoard_core::{DIGEST_LEN, Digest, KeyHasher};

use crate::data::SplitMix64;
use crate::{artifact, noise};

/// Runs every check against `hasher`.
pub fn run_all(hasher: &dyn KeyHasher) {
    id_is_valid(hasher);
    empty_input(hasher);
    deterministic(hasher);
    chunking_independent(hasher);
    fork_independent(hasher);
    no_collisions(hasher);
    bits_depend_on_every_input_bit(hasher);
}

fn hash(hasher: &dyn KeyHasher, bytes: &[u8]) -> Digest {
    let mut state = hasher.begin();
    state.update(bytes);
    state.finish()
}

fn hash_chunks<'a>(hasher: &dyn KeyHasher, chunks: impl IntoIterator<Item = &'a [u8]>) -> Digest {
    let mut state = hasher.begin();
    for chunk in chunks {
        state.update(chunk);
    }
    state.finish()
}

/// The id is the same every time. (An id is in range by construction: `HasherId::Plugin`
/// holds a checked `PluginId`.)
pub fn id_is_valid(hasher: &dyn KeyHasher) {
    let id = hasher.id();
    assert!(
        hasher.id() == id,
        "hasher contract broken (the id is stable): id() changed between calls"
    );
}

/// Hashing nothing works, is the same with or without an empty `update`, and differs from
/// hashing one zero byte.
pub fn empty_input(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "empty input";
    let id = hasher.id();
    let nothing = hasher.begin().finish();
    let again = hash(hasher, &[]);
    let twice = hash_chunks(hasher, [&[][..], &[][..]]);
    assert!(
        nothing == again && nothing == twice,
        "hasher contract broken ({CLAUSE}): {id} gives {nothing} for no update, {again} for one \
         empty update and {twice} for two"
    );
    let zero = hash(hasher, &[0]);
    assert!(
        nothing != zero,
        "hasher contract broken ({CLAUSE}): {id} gives the same digest {zero} for no bytes and \
         for one zero byte"
    );
}

/// The same bytes give the same digest every time, on another thread too.
pub fn deterministic(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "the same bytes give the same digest";
    let id = hasher.id();
    for (i, len) in [0usize, 1, 64, 1000, 100_000].into_iter().enumerate() {
        let input = artifact(len, 100 + i as u64);
        let first = hash(hasher, &input);
        let second = hash(hasher, &input);
        let elsewhere = thread::scope(|s| {
            s.spawn(|| hash(hasher, &input))
                .join()
                .expect("the hasher panicked on another thread")
        });
        assert!(
            first == second && first == elsewhere,
            "hasher contract broken ({CLAUSE}): {id} hashed the same {len} bytes to {first}, \
             then {second}, then {elsewhere} on another thread"
        );
    }
}

/// The same bytes split into `update` calls differently give the same digest: two-way splits
/// at every offset up to 130 and around every multiple of 64 and 1024, fixed chunk sizes
/// from 1 to 4096, and random splits with empty updates in between, over 4,200 bytes.
pub fn chunking_independent(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "any split of the input gives the same digest";
    let id = hasher.id();
    let input = [artifact(3000, 200), noise(1200, 201)].concat();
    let len = input.len();
    let whole = hash(hasher, &input);

    let mut cuts: BTreeSet<usize> = (0..=130).collect();
    for k in 1..=len / 64 {
        cuts.extend([k * 64 - 1, k * 64, k * 64 + 1]);
    }
    for k in 1..=len / 1024 {
        cuts.extend((k * 1024 - 3)..=(k * 1024 + 3));
    }
    cuts.extend(len - 3..=len);
    for cut in cuts.into_iter().filter(|&c| c <= len) {
        let (a, b) = input.split_at(cut);
        let got = hash_chunks(hasher, [a, b]);
        assert!(
            got == whole,
            "hasher contract broken ({CLAUSE}): {id} gives {whole} for {len} bytes in one \
             update but {got} for updates of {cut} and {} bytes",
            len - cut
        );
    }

    for size in [1, 2, 3, 7, 63, 64, 65, 127, 1000, 1023, 1024, 1025, 4096] {
        let got = hash_chunks(hasher, input.chunks(size));
        assert!(
            got == whole,
            "hasher contract broken ({CLAUSE}): {id} gives {whole} for {len} bytes in one \
             update but {got} for updates of {size} bytes each"
        );
    }

    let mut rng = SplitMix64::new(202);
    for round in 0..20 {
        let mut sizes = Vec::new();
        let mut at = 0;
        while at < len {
            let size = (rng.below(300) as usize).min(len - at);
            sizes.push(size);
            at += size;
        }
        let mut chunks = Vec::new();
        let mut at = 0;
        for &size in &sizes {
            chunks.push(&input[at..at + size]);
            at += size;
        }
        let got = hash_chunks(hasher, chunks);
        assert!(
            got == whole,
            "hasher contract broken ({CLAUSE}): {id} gives {whole} for {len} bytes in one \
             update but {got} for updates of {sizes:?} bytes (random split {round})"
        );
    }
}

/// A fork carries what its parent was fed and nothing either is fed afterwards, whatever
/// the length of the common prefix, whichever finishes first, and for forks of forks.
pub fn fork_independent(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "a fork is independent of its parent";
    let id = hasher.id();
    let data = artifact(3000, 300);
    let (a, b) = (&noise(100, 301)[..], &noise(77, 302)[..]);
    for prefix_len in [0, 1, 31, 63, 64, 65, 1000, 1025, 3000] {
        let prefix = &data[..prefix_len];
        let expect = |suffix: &[u8]| hash_chunks(hasher, [prefix, suffix]);
        let fail = |what: &str, got: Digest, want: Digest| {
            panic!(
                "hasher contract broken ({CLAUSE}): {id}, after a {prefix_len}-byte prefix: \
                 {what} gave {got}, expected {want}"
            )
        };

        // Parent and fork fed different suffixes; parent finishes first.
        let mut parent = hasher.begin();
        parent.update(prefix);
        let mut fork = parent.fork();
        fork.update(a);
        parent.update(b);
        let (p, f) = (parent.finish(), fork.finish());
        if p != expect(b) {
            fail("the parent, fed more after its fork was fed", p, expect(b));
        }
        if f != expect(a) {
            fail("the fork, fed while its parent was fed", f, expect(a));
        }

        // Only the fork is fed; the fork finishes first.
        let parent = {
            let mut s = hasher.begin();
            s.update(prefix);
            s
        };
        let mut fork = parent.fork();
        fork.update(a);
        let f = fork.finish();
        let p = parent.finish();
        if f != expect(a) {
            fail("the fork, fed alone", f, expect(a));
        }
        if p != expect(&[]) {
            fail("the parent, not fed after its fork was", p, expect(&[]));
        }

        // A fork of a fork, and a fork that is never fed.
        let mut parent = hasher.begin();
        parent.update(prefix);
        let mut child = parent.fork();
        child.update(a);
        let mut grandchild = child.fork();
        let idle = parent.fork();
        grandchild.update(b);
        parent.update(b);
        let both = [a, b].concat();
        let (g, c, i, p) = (
            grandchild.finish(),
            child.finish(),
            idle.finish(),
            parent.finish(),
        );
        if g != expect(&both) {
            fail("a fork of a fork", g, expect(&both));
        }
        if c != expect(a) {
            fail("a fork whose own fork was fed", c, expect(a));
        }
        if i != expect(&[]) {
            fail("a fork never fed", i, expect(&[]));
        }
        if p != expect(b) {
            fail("the parent of a fork of a fork", p, expect(b));
        }
    }
}

/// No two of about 4,500 distinct, closely related inputs share a digest: zeros of every
/// length to 1,100, every prefix of 1,100 bytes of [`artifact`] data, every single-bit flip
/// of a 128-byte input, and little-endian counters 0 to 999 as 8 and as 4 bytes.
pub fn no_collisions(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "different inputs give different digests";
    let id = hasher.id();
    let mut seen: HashMap<Digest, (String, Vec<u8>)> = HashMap::new();
    let mut check = |name: String, input: Vec<u8>| {
        let d = hash(hasher, &input);
        match seen.get(&d) {
            Some((other, bytes)) if *bytes != input => panic!(
                "hasher contract broken ({CLAUSE}): {id} gives {d} for both {other} and {name}"
            ),
            Some(_) => {}
            None => {
                seen.insert(d, (name, input));
            }
        }
    };
    for len in 0..=1100 {
        check(format!("{len} zero bytes"), vec![0; len]);
    }
    let text = artifact(1100, 400);
    for len in 0..=text.len() {
        check(
            format!("the first {len} bytes of artifact(1100, seed 400)"),
            text[..len].to_vec(),
        );
    }
    let base = noise(128, 401);
    for bit in 0..base.len() * 8 {
        let mut flipped = base.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        check(
            format!(
                "noise(128, seed 401) with bit {} of byte {} flipped",
                bit % 8,
                bit / 8
            ),
            flipped,
        );
    }
    for n in 0..1000u64 {
        check(
            format!("{n} as a little-endian u64"),
            n.to_le_bytes().to_vec(),
        );
        check(
            format!("{n} as a little-endian u32"),
            (n as u32).to_le_bytes().to_vec(),
        );
    }
}

/// Flipping any one input bit flips about half of the 256 output bits, and every output bit
/// flips for about half of the input bits: over every bit of a 5-byte and a 64-byte input,
/// each flip changes at least 64 output bits, 120 to 136 on average, and each output bit
/// flips in 25% to 75% of the cases. A good 256-bit hash fails this with a probability far
/// below 10^-12; a short hash padded to 32 bytes, or output bytes that ignore part of the
/// input, fail it every time.
pub fn bits_depend_on_every_input_bit(hasher: &dyn KeyHasher) {
    const CLAUSE: &str = "the output is 32 bytes of a collision-resistant hash";
    let id = hasher.id();
    let mut flips_per_output_bit = [0u32; DIGEST_LEN * 8];
    let mut total = 0u64;
    let mut samples = 0u32;
    for (len, seed) in [(5, 500), (64, 501)] {
        let base = noise(len, seed);
        let base_digest = hash(hasher, &base);
        for bit in 0..len * 8 {
            let mut flipped = base.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let d = hash(hasher, &flipped);
            let mut distance = 0;
            for (i, (x, y)) in d.as_bytes().iter().zip(base_digest.as_bytes()).enumerate() {
                let diff = x ^ y;
                distance += diff.count_ones();
                for b in 0..8 {
                    if diff & (1 << b) != 0 {
                        flips_per_output_bit[i * 8 + b] += 1;
                    }
                }
            }
            assert!(
                distance >= 64,
                "hasher contract broken ({CLAUSE}): flipping bit {} of byte {} of noise({len}, \
                 seed {seed}) changes only {distance} of the 256 bits of {id}'s digest",
                bit % 8,
                bit / 8
            );
            total += u64::from(distance);
            samples += 1;
        }
    }
    let mean = total as f64 / f64::from(samples);
    assert!(
        (120.0..=136.0).contains(&mean),
        "hasher contract broken ({CLAUSE}): flipping one input bit changes {mean:.1} of the 256 \
         bits of {id}'s digest on average, expected about 128"
    );
    for (bit, &flips) in flips_per_output_bit.iter().enumerate() {
        assert!(
            flips * 4 >= samples && flips * 4 <= samples * 3,
            "hasher contract broken ({CLAUSE}): bit {} of byte {} of {id}'s digest flips for \
             {flips} of {samples} single-bit changes of the input, expected about half",
            bit % 8,
            bit / 8
        );
    }
}
