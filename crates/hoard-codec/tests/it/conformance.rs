//! The hoard-testkit codec suite, run on every codec this crate ships.

#[test]
fn identity_conforms() {
    hoard_testkit::codec::run_all(&hoard_codec::Identity);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_conforms_at_several_levels() {
    for level in [-5, 1, 3, 19] {
        let codec = hoard_codec::Zstd::new(level).expect("valid level");
        hoard_testkit::codec::run_all(&codec);
    }
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_conforms() {
    hoard_testkit::codec::run_all(&hoard_codec::Lz4);
}
