//! WebSockets: the opening handshake and the protocol session, both sans-IO
//! (tungstenite over in-memory buffers); routes and the events they hand to
//! the host (`SocketEvents`), the upgrade from HTTP, the connections on the
//! reactors, the sockets the host's handles lead to and what any thread may
//! do with them (`ops`), topics (pub/sub), and the client.

pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod deflate;
pub(crate) mod events;
pub(crate) mod handshake;
pub(crate) mod message;
pub(crate) mod ops;
pub(crate) mod route;
pub(crate) mod session;
pub(crate) mod socket;
pub(crate) mod topics;
pub(crate) mod upgrade;

pub(crate) use events::{Interest, MessageKind, SocketEvents};
pub(crate) use socket::SOCKETS;

