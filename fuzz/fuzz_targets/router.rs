//! Fuzzes route lookup and the percent-decoding of captures
//! (`src/http/router.rs`): the first byte picks the method, the rest is the path.
//!
//!     cargo +nightly fuzz run router
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::router(data);
});
