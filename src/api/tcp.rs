//! Raw TCP streams for Rust (`sq_tcp`): listeners that accept them, connects,
//! and the handle that writes and closes from any thread.

use std::net::SocketAddr;
use std::sync::Arc;

use super::Sent;
use crate::reactor::handles::Stale;
use crate::tcp::listener::Listener as Core;
use crate::tcp::stream::TcpShared;
use crate::tcp::{Config, Options, StreamEvents, StreamId};
use crate::{Error, ErrorKind, Loop, Result};

/// What the streams of one listener (or one connect) tell the program.
/// Every method runs on the thread that runs the loop, one at a time, in
/// order: `on_connect`, `on_data`…, `on_end`, `on_close`. A program that
/// keeps state per stream keys it by [`Stream::id`].
pub trait Events: Send + Sync + 'static {
    /// A stream was accepted or connected (`Ok`), or a connect failed:
    /// `Resolve`, `Connect` (refused or unreachable), `Timeout`.
    fn on_connect(&self, stream: std::result::Result<&Stream, &Error>);

    /// Bytes arrived.
    fn on_data(&self, stream: &Stream, data: &[u8]);

    /// The peer finished sending (EOF); the stream stays open for writing
    /// until closed. The default closes it gracefully (what was written is
    /// still sent).
    fn on_end(&self, stream: &Stream) {
        let _ = stream.close();
    }

    /// The buffered output fell to the high-water mark after a write
    /// returned [`Sent::Backpressure`].
    fn on_drain(&self, stream: &Stream) {
        let _ = stream;
    }

    /// The stream is closed: `Ok` for a close asked for, else why it ended
    /// (`Io`, `Timeout`). Called once; the handle is stale afterwards.
    fn on_close(&self, stream: &Stream, outcome: std::result::Result<(), &Error>) {
        let _ = (stream, outcome);
    }
}

/// A TCP stream: a handle (an id), valid from `on_connect` until `on_close`
/// has returned; afterwards every call gets [`ErrorKind::Closed`]. Usable
/// from any thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stream {
    id: StreamId,
}

impl Stream {
    /// The stream's id: unique while it is open.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn shared(&self) -> Result<Arc<TcpShared>> {
        crate::tcp::STREAMS.get(self.id).map_err(|e| match e {
            Stale::Released => Error::new(ErrorKind::Closed, "the stream is closed"),
            Stale::Invalid => Error::new(ErrorKind::InvalidArg, "not a TCP stream handle"),
        })
    }

    /// Writes `data` (copied now, written by the stream's reactor in the
    /// order of each thread's calls). `Limit` when over the buffer limit,
    /// `Closed` once closing.
    pub fn write(&self, data: &[u8]) -> Result<Sent> {
        self.shared()?.write(data).map(Sent::from)
    }

    /// Closes gracefully: what was written is sent, then FIN; `on_close`
    /// follows.
    pub fn close(&self) -> Result<()> {
        self.shared()?.close(false)
    }

    /// Closes at once: queued output is dropped and the peer gets a reset.
    pub fn abort(&self) -> Result<()> {
        self.shared()?.close(true)
    }

    /// The peer's address (None once closed or before it is known).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared().ok()?.peer.get().copied()
    }

    /// The local address (None once closed or before it is known).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared().ok()?.local.get().copied()
    }
}

/// A Rust program's stream events handed to the core: the C callbacks of
/// `sq_tcp_listen`/`sq_tcp_connect`, in Rust.
struct Adapter<E>(E);

impl<E> std::fmt::Debug for Adapter<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("api::tcp::Adapter")
    }
}

impl<E: Events> StreamEvents for Adapter<E> {
    fn wants_end(&self) -> bool {
        true
    }

    fn on_connect(&self, _user: usize, outcome: std::result::Result<StreamId, &Error>) {
        match outcome {
            Ok(id) => self.0.on_connect(Ok(&Stream { id })),
            Err(e) => self.0.on_connect(Err(e)),
        }
    }

    fn on_data(&self, _user: usize, id: StreamId, data: &[u8]) {
        self.0.on_data(&Stream { id }, data);
    }

    fn on_end(&self, _user: usize, id: StreamId) {
        self.0.on_end(&Stream { id });
    }

    fn on_drain(&self, _user: usize, id: StreamId) {
        self.0.on_drain(&Stream { id });
    }

    fn on_close(&self, _user: usize, id: StreamId, outcome: std::result::Result<(), &Error>) {
        self.0.on_close(&Stream { id }, outcome);
    }
}

fn config(events: impl Events) -> Config {
    Config { events: Arc::new(Adapter(events)), opts: Options::default(), listener_dead: None }
}

/// A listening socket made by [`listen`]. Dropping it stops accepting;
/// streams already accepted live on.
#[derive(Debug)]
pub struct Listener {
    core: Core,
}

impl Listener {
    /// The bound address (its port is the one picked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.core.shared.addr
    }
}

/// Binds `addr` ("127.0.0.1:0") now and accepts streams once the loop
/// runs, on every reactor; each gets `on_connect` with `Ok`.
pub fn listen(lp: &Loop, addr: &str, events: impl Events) -> Result<Listener> {
    let (host, port) = super::host_port(addr)?;
    Ok(Listener { core: Core::bind(lp.handle(), host, port, config(events))? })
}

/// Connects to `host:port` (the name resolved off the reactor, every address
/// tried in turn); `on_connect` tells the outcome. Before the loop runs,
/// the connect starts when it does. Any thread.
pub fn connect(lp: &Loop, host: &str, port: u16, events: impl Events) -> Result<()> {
    if host.is_empty() || port == 0 {
        return Err(Error::new(ErrorKind::InvalidArg, "a connect needs a host and a port above 0"));
    }
    lp.handle().check_usable()?;
    crate::tcp::stream::connect(lp.handle(), host.to_owned(), port, Arc::new(config(events)));
    Ok(())
}
