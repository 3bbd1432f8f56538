//! The hashers themselves: known answers, chunking, forks, lookup by id.

use hoard_core::{HasherId, KeyHasher};
use hoard_key::Sha256;
use proptest::prelude::*;

use crate::{digest_of, hashers, hex};

#[test]
fn sha256_known_answers() {
    // FIPS 180-4 examples.
    let cases: [(&[u8], &str); 3] = [
        (
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(digest_of(&Sha256, &[input]), hex(expected), "{input:?}");
    }
    assert_eq!(Sha256.id(), HasherId::Sha256);
}

#[cfg(feature = "blake3")]
#[test]
fn blake3_known_answers() {
    use hoard_key::Blake3;
    let cases: [(&[u8], &str); 2] = [
        (
            b"",
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
        ),
        (
            b"abc",
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(digest_of(&Blake3, &[input]), hex(expected), "{input:?}");
    }
    assert_eq!(Blake3.id(), HasherId::Blake3);
}

#[test]
fn a_fork_sees_the_past_but_not_the_future() {
    for (name, hasher) in hashers() {
        let mut original = hasher.begin();
        original.update(b"shared prefix|");
        let mut fork = original.fork();
        original.update(b"left");
        fork.update(b"right");
        assert_eq!(
            original.finish(),
            digest_of(&*hasher, &[b"shared prefix|left"]),
            "{name}"
        );
        assert_eq!(
            fork.finish(),
            digest_of(&*hasher, &[b"shared prefix|right"]),
            "{name}"
        );
    }
}

#[test]
fn by_id_finds_what_is_compiled_in() {
    let sha = hoard_key::by_id(HasherId::Sha256).map(|h| h.id());
    assert_eq!(sha, Some(HasherId::Sha256));
    let blake = hoard_key::by_id(HasherId::Blake3).map(|h| h.id());
    let expected = cfg!(feature = "blake3").then_some(HasherId::Blake3);
    assert_eq!(blake, expected);
    let plugin = HasherId::plugin(0x8001).expect("in the plugin range");
    assert!(hoard_key::by_id(plugin).is_none());
}

#[test]
fn by_id_hashers_agree_with_the_types() {
    for (name, hasher) in hashers() {
        let found = hoard_key::by_id(hasher.id()).expect("every listed hasher is built in");
        assert_eq!(
            digest_of(&*found, &[b"same input"]),
            digest_of(&*hasher, &[b"same input"]),
            "{name}"
        );
    }
}

proptest! {
    #[test]
    fn any_split_gives_the_same_digest(
        data in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&data[from..cut]);
            from = cut;
        }
        chunks.push(&data[from..]);
        for (name, hasher) in hashers() {
            prop_assert_eq!(
                digest_of(&*hasher, &chunks),
                digest_of(&*hasher, &[&data]),
                "{}", name
            );
        }
    }
}
