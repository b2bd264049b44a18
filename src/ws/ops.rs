//! What any thread may do with a WebSocket: send, ping, close, subscribe
//! and publish. Each checks what it can at once (on the calling thread),
//! counts what it queues, and becomes a command on the reactor that owns the
//! connection.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::conn::{WsConn, command, command_else};
use super::socket::{WsSocket, check_topic, valid_close_code};
use super::topics::{Published, Registry};
use crate::http::shared::ServerShared;
use crate::metrics::{Counter, Writer};
use crate::net::writeq::Sent;
use crate::{Error, ErrorKind, Result};

impl WsSocket {
    /// Sends a text (valid UTF-8) or binary message, compressed when the
    /// socket negotiated permessage-deflate and it gets smaller. Any thread.
    pub(crate) fn send(self: &Arc<Self>, binary: bool, data: &[u8]) -> Result<Sent> {
        self.send_with(binary, data, true)
    }

    /// Sends a message; `compress` false: never compressed, whatever was
    /// negotiated (a secret next to what an attacker controls: CRIME and
    /// BREACH). Any thread.
    pub(crate) fn send_with(self: &Arc<Self>, binary: bool, data: &[u8], compress: bool) -> Result<Sent> {
        self.check_open()?;
        if !binary && std::str::from_utf8(data).is_err() {
            return Err(Error::new(ErrorKind::InvalidArg, "a text message must be valid UTF-8"));
        }
        if compress && self.dedicated {
            return self.send_dedicated(binary, data);
        }
        // Compressed on the sending thread, by its shared compressor.
        let compressed = (compress && self.compress_bits != 0)
            .then(|| super::session::encode_compressed(binary, data, self.client, self.compress_bits))
            .flatten();
        let frame = compressed.unwrap_or_else(|| super::session::encode_frame(binary, data, self.client));
        let n = frame.len();
        let sent = match self.admit(n, true) {
            Ok(s) => s,
            Err(e) => {
                self.count(Counter::WsDropped, 1);
                self.over_limit();
                return Err(e);
            }
        };
        self.count(Counter::WsMessagesOut, 1);
        self.count(Counter::WsBytesOut, data.len() as u64);
        command(self, move |_r, c: &mut WsConn| c.queue_counted(frame));
        Ok(sent)
    }

    /// A send on a dedicated-mode socket: its compressor keeps history, so
    /// it compresses on the reactor, in the order frames are queued. Counted
    /// as the plain frame now; the difference is given back once compressed.
    fn send_dedicated(self: &Arc<Self>, binary: bool, data: &[u8]) -> Result<Sent> {
        let counted = super::session::encode_frame(binary, &[], false).len() + data.len() + 8;
        let sent = match self.admit(counted, true) {
            Ok(s) => s,
            Err(e) => {
                self.count(Counter::WsDropped, 1);
                self.over_limit();
                return Err(e);
            }
        };
        self.count(Counter::WsMessagesOut, 1);
        self.count(Counter::WsBytesOut, data.len() as u64);
        let data = data.to_vec();
        command(self, move |_r, c: &mut WsConn| c.queue_compressing(binary, &data, counted));
        Ok(sent)
    }

    /// The close-on-limit policy: the socket is closed at once (its peer is
    /// not reading, so a close frame would not get through either).
    pub(crate) fn over_limit(self: &Arc<Self>) {
        if self.route.opts.close_on_limit && !self.closed.swap(true, Ordering::AcqRel) {
            self.count(Counter::WsClosedBackpressure, 1);
            tracing::debug!(target: "squall::ws", "closing a socket over max_backpressure");
            command(self, |_r, c: &mut WsConn| c.kill(1006, "send buffer over max_backpressure"));
        }
    }

    /// Ends the connection at once: no close frame, queued output dropped;
    /// `on_close` follows with 1006. Any thread; also while a close
    /// handshake is under way.
    pub(crate) fn abort(self: &Arc<Self>) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        command(self, |_r, c: &mut WsConn| c.kill(1006, "aborted"));
        Ok(())
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

    /// Stops (`true`) or resumes reading from the peer: the host's own flow
    /// control, for a host that queues messages past its callback (squall
    /// counts a message as taken once the callback returns). Any thread.
    pub(crate) fn hold_reading(self: &Arc<Self>, hold: bool) -> Result<()> {
        self.check_open()?;
        self.host_hold.store(hold, Ordering::Release);
        command(self, |r, c: &mut WsConn| c.follow_host_hold(r));
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
        // Not held in a host batch: a publish from another thread made once
        // this returns must find the subscription (the batch goes with it,
        // so what this thread sent before stays ahead).
        crate::reactor::flush_host_batch();
        Ok(())
    }

    /// Ends a subscription (no error if there was none). Any thread.
    pub(crate) fn unsubscribe(self: &Arc<Self>, name: &str) -> Result<()> {
        self.check_open()?;
        check_topic(name)?;
        let Some(topic) = self.topics.get(name) else { return Ok(()) };
        command(self, move |r, c: &mut WsConn| c.unsubscribe(r, &topic));
        crate::reactor::flush_host_batch();
        Ok(())
    }
}

/// Publishes a message to every subscriber of `name` on `server`, then
/// hands it to the server's backplane (other processes), if it has one.
/// Any thread. Returns the number of local subscribers at the time of the
/// call; an error from the backplane (local delivery done, the message did
/// not go to the other processes) is returned after the local fan-out.
pub(crate) fn publish(server: &Arc<ServerShared>, name: &str, binary: bool, data: &[u8]) -> Result<usize> {
    publish_with(server, name, binary, true, data)
}

/// `publish`, with `compress` false for a message that every subscriber
/// (here and in the other processes) gets uncompressed, whatever it
/// negotiated (CRIME, BREACH). Any thread.
pub(crate) fn publish_with(server: &Arc<ServerShared>, name: &str, binary: bool, compress: bool, data: &[u8]) -> Result<usize> {
    let reached = publish_local(server, name, binary, compress, data)?;
    if let Some(b) = server.ext::<Registry>().publish_backplane() {
        b.publish(name, binary, compress, data)?;
    }
    Ok(reached)
}

/// Publishes to the subscribers of `name` on `server` only (a message from
/// another process). Any thread.
pub(crate) fn publish_local(server: &Arc<ServerShared>, name: &str, binary: bool, compress: bool, data: &[u8]) -> Result<usize> {
    check_topic(name)?;
    if !binary && std::str::from_utf8(data).is_err() {
        return Err(Error::new(ErrorKind::InvalidArg, "a text message must be valid UTF-8"));
    }
    if server.dead.load(Ordering::Acquire) {
        return Err(Error::new(ErrorKind::Closed, "the server was freed"));
    }
    server.metrics.inc(Writer::Other, Counter::TopicPublishes);
    let Some(topic) = server.ext::<Registry>().get(name) else { return Ok(0) };
    let plain: Arc<[u8]> = super::session::encode_frame(binary, data, false).into();
    let frame = Arc::new(if compress { Published::new(binary, plain) } else { Published::never_compressed(binary, plain) });
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
