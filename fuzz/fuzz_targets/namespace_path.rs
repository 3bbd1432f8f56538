//! Arbitrary bytes as a namespace, a namespace label, an entry file name and a temp file
//! name: every accepted name is a single path component from hoard's alphabet, parsing is
//! exact (one digest, one spelling), and any label becomes a valid namespace (the stable
//! twins are in hoard-fs's `tests/it/attacks.rs` and the facade's `tests/it/security.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoard_fuzz::check_names(data);
});
