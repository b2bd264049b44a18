//! A WebSocket as the host sees it: a generation-checked handle to this
//! shared part, usable from any thread. Sends are serialized into frames on
//! the calling thread and shipped to the reactor that owns the connection;
//! the byte count still to be written (`buffered`) is kept here, so that a
//! send can answer "queued", "queued above the high-water mark" or "dropped"
//! at once, without asking the reactor.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use super::conn::{WsConn, command, command_else};
use super::route::WsRoute;
use super::topics::Registry;
use crate::http::request::ConnAddr;
use crate::http::server::ServerShared;
use crate::net::writeq::Sent;
use crate::reactor::flow::FlowGate;
use crate::{Error, ErrorKind, Result};

/// The shared part of one WebSocket.
#[derive(Debug)]
pub(crate) struct WsSocket {
    handle: AtomicU64,
    pub(crate) addr: ConnAddr,
    pub(crate) route: Arc<WsRoute>,
    pub(crate) server: Arc<ServerShared>,
    /// The server's topics (its [`Registry`], kept in the server's
    /// extension slot).
    pub(crate) topics: Arc<Registry>,
    /// Bytes queued for the socket and not yet written (frames on their way
    /// to the reactor included).
    pub(crate) buffered: AtomicUsize,
    /// No more sends: a close was started, or the connection is gone.
    pub(crate) closed: AtomicBool,
    /// The host's word for this socket (opaque here): the route's until the
    /// host sets its own; handed to every event.
    user: AtomicUsize,
    /// A send reported backpressure: call `on_drain` when below the mark.
    pub(crate) drain_wanted: AtomicBool,
    /// Message bytes handed to the host and not yet taken by its callback:
    /// more than 1 MiB pauses reading, until under 256 KiB.
    pub(crate) inbox: FlowGate,
    pub(crate) protocol: Option<String>,
    /// A client's socket: frames it sends are masked; no topics.
    pub(crate) client: bool,
}

impl WsSocket {
    pub(crate) fn new(
        addr: ConnAddr,
        route: Arc<WsRoute>,
        server: Arc<ServerShared>,
        protocol: Option<String>,
        client: bool,
    ) -> Arc<WsSocket> {
        let user = AtomicUsize::new(route.events.initial_user_word());
        let topics = server.ext::<Registry>();
        let sock = Arc::new(WsSocket {
            handle: AtomicU64::new(0),
            addr,
            route,
            server,
            topics,
            buffered: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            user,
            drain_wanted: AtomicBool::new(false),
            inbox: FlowGate::default(),
            protocol,
            client,
        });
        let h = super::SOCKETS.insert(sock.clone(), addr.reactor);
        sock.handle.store(h, Ordering::Release);
        sock
    }

    pub(crate) fn handle(&self) -> u64 {
        self.handle.load(Ordering::Acquire)
    }

    /// Drops the handle from the table: later calls with it get Closed.
    pub(crate) fn release(&self) {
        super::SOCKETS.remove(self.handle());
    }

    pub(crate) fn user_word(&self) -> usize {
        self.user.load(Ordering::Acquire)
    }

    pub(crate) fn set_user_word(&self, word: usize) {
        self.user.store(word, Ordering::Release);
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Closed, "the WebSocket is closed"));
        }
        Ok(())
    }

    /// Counts `n` more bytes against the route's limits: the backpressure
    /// rule shared by sends and publishes. Err(Limit) when the message must
    /// not be queued.
    pub(crate) fn admit(&self, n: usize, from_send: bool) -> Result<Sent> {
        let opts = &self.route.opts;
        let before = self.buffered.fetch_add(n, Ordering::AcqRel);
        if before > 0 && before + n > opts.max_backpressure {
            self.buffered.fetch_sub(n, Ordering::AcqRel);
            return Err(Error::new(
                ErrorKind::Limit,
                format!("message dropped: {before} bytes already buffered (max_backpressure {})", opts.max_backpressure),
            ));
        }
        if before + n > opts.high_water {
            // on_drain answers a send that reported backpressure (a publish
            // reports nothing to anyone)
            if from_send {
                self.drain_wanted.store(true, Ordering::Release);
            }
            Ok(Sent::Backpressure)
        } else {
            Ok(Sent::Queued)
        }
    }

    /// Sends a text (valid UTF-8) or binary message. Any thread.
    pub(crate) fn send(self: &Arc<Self>, binary: bool, data: &[u8]) -> Result<Sent> {
        self.check_open()?;
        if !binary && std::str::from_utf8(data).is_err() {
            return Err(Error::new(ErrorKind::InvalidArg, "a text message must be valid UTF-8"));
        }
        let frame = super::session::encode_frame(binary, data, self.client);
        let n = frame.len();
        let sent = match self.admit(n, true) {
            Ok(s) => s,
            Err(e) => {
                self.over_limit();
                return Err(e);
            }
        };
        command(self, move |_r, c: &mut WsConn| c.queue_counted(frame));
        Ok(sent)
    }

    /// The close-on-limit policy: the socket is closed at once (its peer is
    /// not reading, so a close frame would not get through either).
    pub(crate) fn over_limit(self: &Arc<Self>) {
        if self.route.opts.close_on_limit && !self.closed.swap(true, Ordering::AcqRel) {
            tracing::debug!(target: "squall::ws", "closing a socket over max_backpressure");
            command(self, |_r, c: &mut WsConn| c.kill(1006, "send buffer over max_backpressure"));
        }
    }

    /// Starts the close handshake. Any thread.
    pub(crate) fn close(self: &Arc<Self>, code: u16, reason: &str) -> Result<()> {
        if !valid_close_code(code) {
            return Err(Error::new(ErrorKind::InvalidArg, format!("{code} is not a close code an endpoint may send")));
        }
        if reason.len() > 123 {
            return Err(Error::new(ErrorKind::InvalidArg, "a close reason is at most 123 bytes"));
        }
        if self.closed.swap(true, Ordering::AcqRel) {
            return Err(Error::new(ErrorKind::Closed, "the WebSocket is already closing"));
        }
        let reason = reason.to_owned();
        command(self, move |r, c: &mut WsConn| c.start_close(r, code, &reason));
        Ok(())
    }

    /// Sends a ping with up to 125 bytes. Any thread.
    pub(crate) fn ping(self: &Arc<Self>, data: &[u8]) -> Result<()> {
        if data.len() > 125 {
            return Err(Error::new(ErrorKind::InvalidArg, "a ping carries at most 125 bytes"));
        }
        self.check_open()?;
        let data = data.to_vec();
        command(self, move |_r, c: &mut WsConn| c.send_ping(&data));
        Ok(())
    }

    /// Subscribes to a topic of the socket's server. Any thread.
    pub(crate) fn subscribe(self: &Arc<Self>, name: &str) -> Result<()> {
        self.check_open()?;
        if self.client {
            return Err(Error::new(ErrorKind::State, "topics are for a server's WebSockets, not a client's"));
        }
        check_topic(name)?;
        let reactors = self.server.loop_handle.reactor_count().max(1);
        let topic = self.topics.add_subscriber(name, self.addr.reactor, reactors);
        let topics = self.topics.clone();
        let reactor = self.addr.reactor;
        let t2 = topic.clone();
        let undo = move || topics.remove_subscriber(&t2, reactor);
        command_else(self, move |r, c: &mut WsConn| c.subscribe(r, topic), undo);
        Ok(())
    }

    /// Ends a subscription (no error if there was none). Any thread.
    pub(crate) fn unsubscribe(self: &Arc<Self>, name: &str) -> Result<()> {
        self.check_open()?;
        check_topic(name)?;
        let Some(topic) = self.topics.get(name) else { return Ok(()) };
        command(self, move |r, c: &mut WsConn| c.unsubscribe(r, &topic));
        Ok(())
    }

    /// The host took a message (its callback returned): read again if the
    /// connection paused for the host.
    pub(crate) fn message_taken(self: &Arc<Self>, n: usize) {
        if self.inbox.taken(n) {
            command(self, |r, c: &mut WsConn| c.resume(r));
        }
    }
}

/// RFC 6455 §7.4: codes an endpoint may put in a close frame.
pub(crate) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

fn check_topic(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 1024 {
        return Err(Error::new(ErrorKind::InvalidArg, "a topic name is 1 to 1024 bytes"));
    }
    Ok(())
}

/// Publishes a message to every subscriber of `name` on `server`. Any
/// thread. Returns the number of subscribers at the time of the call.
pub(crate) fn publish(server: &Arc<ServerShared>, name: &str, binary: bool, data: &[u8]) -> Result<usize> {
    check_topic(name)?;
    if !binary && std::str::from_utf8(data).is_err() {
        return Err(Error::new(ErrorKind::InvalidArg, "a text message must be valid UTF-8"));
    }
    if server.dead.load(Ordering::Acquire) {
        return Err(Error::new(ErrorKind::Closed, "the server was freed"));
    }
    let Some(topic) = server.ext::<Registry>().get(name) else { return Ok(0) };
    let frame: Arc<[u8]> = super::session::encode_frame(binary, data, false).into();
    let mut reached = 0;
    for r in 0..topic.reactors() {
        let n = topic.count_on(r);
        if n == 0 {
            continue;
        }
        reached += n;
        let (t, f) = (topic.clone(), frame.clone());
        let _ = server
            .loop_handle
            .send_to_reactor(r, Box::new(move |reactor: &mut crate::reactor::Reactor| super::conn::fan_out(reactor, &t, f)));
    }
    Ok(reached)
}
