//! Fuzzes the WebSocket opening handshake: a request through the server's
//! checks (`src/ws/handshake.rs`), whose 101 must pass the client's checks,
//! then after a NUL a response through the client's checks (`src/ws/client.rs`).
//!
//!     cargo +nightly fuzz run ws_handshake
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::ws_handshake(data);
});
