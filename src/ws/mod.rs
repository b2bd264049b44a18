//! WebSockets: the opening handshake and the protocol session, both sans-IO
//! (tungstenite over in-memory buffers); routes and the events they hand to
//! the host (`SocketEvents`), the connections on the reactors, the handles the host holds, and topics (pub/sub).

use std::sync::LazyLock;

use crate::reactor::handles::HandleTable;

pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod events;
pub(crate) mod handshake;
pub(crate) mod route;
pub(crate) mod session;
pub(crate) mod socket;
pub(crate) mod topics;
pub(crate) mod upgrade;

pub(crate) use events::{Interest, MessageKind, SocketEvents};

/// Every open WebSocket in the process, by handle.
pub(crate) static SOCKETS: LazyLock<HandleTable<socket::WsSocket>> = LazyLock::new(HandleTable::default);
