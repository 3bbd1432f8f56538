//! The identity codec on arbitrary payloads and declared lengths (see
//! `hoard_fuzz::check_codec`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoard_fuzz::check_codec(&hoard_codec::Identity, data);
});
