//! The zstd codec on arbitrary payloads and declared lengths (see `hoard_fuzz::check_codec`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let codec = hoard_codec::Zstd::new(3).expect("level 3 is valid");
    hoard_fuzz::check_codec(&codec, data);
});
