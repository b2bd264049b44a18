//! permessage-deflate (RFC 7692): the negotiation of the opening handshake
//! ([`offer`]) and the per-message compressor and inflater ([`codec`]).
//! Sans-IO: bytes in, bytes out.
//!
//! Not wired into the session or the handshake yet (issue 18, later
//! steps): until then only the unit tests use it.
#![cfg_attr(not(test), allow(dead_code))]

pub(crate) mod offer;
pub(crate) mod codec;
