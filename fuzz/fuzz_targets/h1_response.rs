//! Fuzzes the HTTP client's response decoder: arbitrary bytes, delivered in
//! two pieces split at an arbitrary point, for a GET and a HEAD, must never
//! panic, and every consumed count and body range must stay inside the
//! bytes given.
//!
//!     cargo +nightly fuzz run h1_response
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    squall::fuzzing::h1_response(&data[1..], split);
});
