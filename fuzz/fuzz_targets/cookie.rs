//! Fuzzes cookie lookup (`src/http/request.rs`, `RequestData::cookie`): a
//! name, then one Cookie header value per line.
//!
//!     cargo +nightly fuzz run cookie
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::cookie(data);
});
