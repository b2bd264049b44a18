//! Fuzzes the WebSocket server session: arbitrary bytes in irregular reads
//! must never panic, and a session compacted between reads must behave
//! exactly as one that never is (same events, same output).
//!
//!     cargo +nightly fuzz run ws
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::ws_session(data);
});
