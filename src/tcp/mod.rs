//! Raw TCP streams: Tornado's `IOStream`, `TCPServer` and `TCPClient`.
//!
//! A stream is two objects, as a WebSocket is: [`stream::TcpConn`] on its
//! reactor (the socket, the output queue, the connect attempts), a
//! [`Watcher`](crate::reactor::watcher::Watcher) of the reactor; and
//! [`stream::TcpShared`] (an `Arc`), the target of the host's handle, with
//! the atomics any thread reads (bytes buffered, closed, the user word, read
//! flow control). Handles are generation-checked ids in [`STREAMS`].
//! [`listener`] holds the accepting sockets (one per reactor, SO_REUSEPORT).
//! The host hears of a stream through [`StreamEvents`] ([`config`], which
//! the other files build on: the files of this module import downward only).

pub(crate) mod config;
pub(crate) mod listener;
pub(crate) mod stream;

#[cfg(test)]
mod tests;

pub(crate) use config::{Config, Options, StreamEvents, StreamId};
pub(crate) use stream::STREAMS;
