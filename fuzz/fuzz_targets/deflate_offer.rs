//! Fuzzes permessage-deflate negotiation (`src/ws/deflate/offer.rs`):
//! `Sec-WebSocket-Extensions` values separated by NUL, negotiated under every
//! policy the fronts make and read back by the client's parser.
//!
//!     cargo +nightly fuzz run deflate_offer -- -dict=fuzz/dict/ws.dict
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::deflate_offer(data);
});
