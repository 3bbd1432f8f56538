//! Arbitrary text as a configuration file: `CacheConfig::from_toml_str` never panics, and
//! every rejection is an `ErrorKind::Config` with a message (the stable twin is
//! `arbitrary_text_never_panics` in the facade's `tests/it/config.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoard_fuzz::check_config(data);
});
