//! Fuzzes the chunked body decoder alone (`src/http/h1.rs`, `ChunkedBody`):
//! one read and reads of sizes picked by the first byte must agree, and a
//! complete body re-encoded as one chunk must decode to the same bytes.
//!
//!     cargo +nightly fuzz run chunked
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::chunked(data);
});
