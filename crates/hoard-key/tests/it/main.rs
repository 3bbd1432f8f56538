//! Integration tests of hoard-key through its public API.

mod bridge;
mod builder;
mod conformance;
mod hashers;

use hoard_core::{Digest, KeyHasher};

/// Every hasher compiled into this build, by name for assertion messages.
fn hashers() -> Vec<(&'static str, Box<dyn KeyHasher>)> {
    #[cfg_attr(
        not(feature = "blake3"),
        expect(unused_mut, reason = "only optional hashers are pushed")
    )]
    let mut all: Vec<(&'static str, Box<dyn KeyHasher>)> =
        vec![("sha256", Box::new(hoard_key::Sha256))];
    #[cfg(feature = "blake3")]
    all.push(("blake3", Box::new(hoard_key::Blake3)));
    all
}

/// The digest of `chunks` fed one `update` each.
fn digest_of(hasher: &dyn KeyHasher, chunks: &[&[u8]]) -> Digest {
    let mut state = hasher.begin();
    for chunk in chunks {
        state.update(chunk);
    }
    state.finish()
}

fn hex(text: &str) -> Digest {
    Digest::from_hex(text).expect("test vectors are valid hex")
}
