//! Fuzzes the WebSocket message assembler with permessage-deflate: bytes in
//! irregular reads and in one read must give the same events, no message
//! may pass the limit, and a text message must be UTF-8.
//!
//!     cargo +nightly fuzz run ws_message -- -dict=fuzz/dict/ws.dict
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::ws_message(data);
});
