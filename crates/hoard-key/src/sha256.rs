//! SHA-256, the default key hasher (the ancestor's key hash).

use hoard_core::{Digest, HashState, HasherId, KeyHasher};
use sha2::Digest as _;

/// SHA-256 (FIPS 180-4) through the `sha2` crate, recorded as [`HasherId::Sha256`].
///
/// `sha2` detects SHA-NI at run time, so this is the fast choice for the small inputs keys
/// usually are; `Blake3` wins on inputs of many kilobytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256;

impl KeyHasher for Sha256 {
    fn id(&self) -> HasherId {
        HasherId::Sha256
    }

    fn begin(&self) -> Box<dyn HashState> {
        Box::new(State(sha2::Sha256::new()))
    }
}

struct State(sha2::Sha256);

impl HashState for State {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(self: Box<Self>) -> Digest {
        Digest::from_bytes(self.0.finalize().into())
    }

    fn fork(&self) -> Box<dyn HashState> {
        Box::new(State(self.0.clone()))
    }
}
