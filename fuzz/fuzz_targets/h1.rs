//! Fuzzes the HTTP/1.1 request decoder: arbitrary bytes, delivered in two
//! pieces split at an arbitrary point, must never panic, and every consumed
//! count and body range must stay inside the bytes given.
//!
//!     cargo +nightly fuzz run h1
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    squall::fuzzing::h1_decode(&data[1..], split);
});
