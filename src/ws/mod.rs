//! WebSockets: the opening handshake and the protocol session, both sans-IO
//! (tungstenite over in-memory buffers). The server glue (routes, handles,
//! topics) builds on these.

pub(crate) mod handshake;
pub(crate) mod session;
