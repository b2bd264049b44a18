//! Fuzzes query and form-body argument decoding (`src/http/request.rs`,
//! `parse_args`): query, NUL, Content-Type, NUL, body; decoded arguments
//! encoded again must decode unchanged.
//!
//!     cargo +nightly fuzz run args
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::args(data);
});
