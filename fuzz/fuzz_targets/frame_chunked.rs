//! Chunked (version 2) frames, stored or built from the input and damaged: decoding on 1, 2
//! and 3 threads never panics and always agrees (see `hoard_fuzz::check_chunked_frame`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hoard_fuzz::check_chunked_frame(data);
});
