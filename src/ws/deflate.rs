//! permessage-deflate (RFC 7692): the negotiation of the opening handshake
//! ([`offer`]) and the per-message compressor and inflater ([`codec`]).
//! Sans-IO: bytes in, bytes out.

pub(crate) mod offer;
pub(crate) mod codec;
