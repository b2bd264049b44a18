//! Fuzzes the TLS server configuration loading (`src/net/tls_server.rs`):
//! a certificate chain's PEM, NUL, a private key's PEM, NUL, an SNI name.
//!
//!     cargo +nightly fuzz run tls_config
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    squall::fuzzing::tls_config(data);
});
