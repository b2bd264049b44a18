//! Fuzzes the RESP2 decoder (`src/cluster/resp.rs`), what a Redis server
//! sends a squall process: one read and reads of a size picked by the first
//! byte must agree, and every value must re-encode to itself.
//!
//!     cargo +nightly fuzz run resp -- -dict=fuzz/dict/resp.dict
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::resp(data);
});
