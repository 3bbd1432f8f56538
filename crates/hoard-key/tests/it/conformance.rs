//! The hoard-testkit hasher suite, run on every hasher this crate ships.

#[test]
fn sha256_conforms() {
    hoard_testkit::hasher::run_all(&hoard_key::Sha256);
}

#[cfg(feature = "blake3")]
#[test]
fn blake3_conforms() {
    hoard_testkit::hasher::run_all(&hoard_key::Blake3);
}
