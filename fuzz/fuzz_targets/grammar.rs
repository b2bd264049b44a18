//! Fuzzes the HTTP grammar rules (`src/http/grammar.rs`: target form,
//! host and port, Content-Length, transfer codings, chunk line, CRLF lines,
//! head end), each answer checked a second way.
//!
//!     cargo +nightly fuzz run grammar
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::grammar(data);
});
