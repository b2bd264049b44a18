//! A WebSocket session, sans-IO: tungstenite's protocol state driven over
//! in-memory buffers. Bytes from the socket go in with [`Session::feed`];
//! frames to write come out of [`Session::take_output`]. No socket, no clock.
//!
//! tungstenite does the framing (no second frame parser here): reassembly of
//! fragmented messages, control frames between fragments, automatic pongs,
//! the close handshake, masking rules and UTF-8 checks. This module maps its
//! errors to close codes — invalid UTF-8 → 1007, protocol violations
//! (unmasked client frame, reserved bits, bad opcode) → 1002, a message or
//! frame over the size limit → 1009 (refused from the frame header, before
//! the payload is buffered) — and sends that close frame.
//!
//! permessage-deflate (RFC 7692) needs RSV1 on data frames, which tungstenite
//! rejects as a protocol error; it will need a frame-level layer below this
//! session (frames in, RSV1 inflated, frames out). The session keeps the
//! socket-facing buffers on its own side (`Duplex`) so that such a layer can
//! sit between them without touching the callers.

use std::io::{self, Read, Write};

use tungstenite::error::{CapacityError, Error, ProtocolError};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};
use tungstenite::Message;

/// The socket-facing buffers: bytes read from the peer, bytes to write.
#[derive(Debug, Default)]
struct Duplex {
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    /// Writes are refused (WouldBlock) while the connection's output is
    /// backed up: tungstenite then keeps its automatic pong pending, and a
    /// newer ping's pong replaces it (see [`Session::hold_pongs`]).
    hold: bool,
}

impl Read for Duplex {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = &self.input[self.pos..];
        if avail.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        if self.pos == self.input.len() {
            self.input = Vec::new();
            self.pos = 0;
        }
        Ok(n)
    }
}

impl Write for Duplex {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.hold {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What the peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsEvent {
    /// A whole message (fragments reassembled).
    Message { binary: bool, data: Vec<u8> },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The peer closed (our reply is queued), or we closed after a protocol
    /// error (`by_peer` false). The session is finished.
    Closed { code: u16, reason: String, by_peer: bool },
}

/// The payload length of an encoded frame (its header read back).
pub(crate) fn payload_len(frame: &[u8]) -> usize {
    let Some(&b1) = frame.get(1) else { return 0 };
    let masked = if b1 & 0x80 != 0 { 4 } else { 0 };
    let header = match b1 & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    frame.len().saturating_sub(header + masked)
}

impl WsEvent {
    /// What holding this event costs until the consumer takes it: its
    /// bytes plus a fixed cost per event (see `reactor::flow::cost`).
    pub(crate) fn cost(&self) -> usize {
        match self {
            WsEvent::Message { data, .. } | WsEvent::Ping(data) | WsEvent::Pong(data) => crate::reactor::flow::cost(data.len()),
            WsEvent::Closed { reason, .. } => crate::reactor::flow::cost(reason.len()),
        }
    }
}

/// One WebSocket connection's protocol state.
///
/// tungstenite's context (a few hundred bytes, and its read buffer) exists
/// only while the connection is busy: [`Session::compact`] drops it when the
/// peer is between frames and between messages, which is the whole state an
/// open session then has; the next bytes make a fresh one. An idle
/// connection thus costs this struct and nothing on the heap.
#[derive(Debug)]
pub(crate) struct Session {
    ctx: Option<Box<WebSocketContext>>,
    io: Duplex,
    role: Role,
    limits: Limits,
    track: Boundary,
    closed: bool,
    /// Parsing stopped for want of room (see [`Session::feed_within`]):
    /// tungstenite may hold read bytes not yet parsed.
    unparsed: bool,
}

/// Where the peer's byte stream is relative to frames and messages, followed
/// with tungstenite's own header parser: whether a context could be dropped
/// without losing anything.
#[derive(Debug, Default)]
struct Boundary {
    /// Payload bytes of the current frame still to come.
    payload_left: u64,
    /// A frame header split across reads (at most 14 bytes).
    partial_header: Vec<u8>,
    /// Inside a fragmented message (a data frame without FIN came).
    in_message: bool,
    /// The stream cannot be followed any more (bad header): never at rest.
    lost: bool,
}

impl Boundary {
    fn advance(&mut self, mut bytes: &[u8]) {
        use std::io::Cursor;
        while !bytes.is_empty() && !self.lost {
            if self.payload_left > 0 {
                let k = (bytes.len() as u64).min(self.payload_left);
                self.payload_left -= k;
                bytes = &bytes[k as usize..];
                continue;
            }
            // At a frame header: parse it from the partial bytes and the new ones.
            let mut joined;
            let (src, from_partial) = if self.partial_header.is_empty() {
                (bytes, 0)
            } else {
                joined = std::mem::take(&mut self.partial_header);
                let before = joined.len();
                joined.extend_from_slice(&bytes[..bytes.len().min(14)]);
                (&joined[..], before)
            };
            let mut cursor = Cursor::new(src);
            match FrameHeader::parse(&mut cursor) {
                Ok(Some((header, len))) => {
                    let used = cursor.position() as usize - from_partial;
                    bytes = &bytes[used..];
                    self.payload_left = len;
                    match header.opcode {
                        OpCode::Data(Data::Continue) => self.in_message = !header.is_final,
                        OpCode::Data(_) => self.in_message = !header.is_final,
                        OpCode::Control(_) => {}
                    }
                }
                Ok(None) => {
                    // Incomplete: keep the bytes (fewer than 14) for next time.
                    self.partial_header = src.to_vec();
                    return;
                }
                Err(_) => {
                    self.lost = true;
                    return;
                }
            }
        }
    }

    fn at_rest(&self) -> bool {
        self.payload_left == 0 && self.partial_header.is_empty() && !self.in_message && !self.lost
    }
}

/// Limits of a session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
}

impl Session {
    /// A session for the given role; `already_read` holds bytes that arrived
    /// right after the handshake.
    pub(crate) fn new(role: Role, limits: Limits, already_read: Vec<u8>) -> Session {
        let mut s = Session { ctx: None, io: Duplex::default(), role, limits, track: Boundary::default(), closed: false, unparsed: false };
        s.track.advance(&already_read);
        s.io.input = already_read;
        s
    }

    fn make_ctx(role: Role, limits: Limits) -> Box<WebSocketContext> {
        let mut config = WebSocketConfig::default();
        // tungstenite reads at most this much per call from the in-memory
        // buffer (a frame's payload space is reserved from its header); the
        // buffer exists only while the session is busy (see `compact`).
        config.read_buffer_size = 4096;
        config.write_buffer_size = 0;
        config.max_message_size = Some(limits.max_message_size);
        config.max_frame_size = Some(limits.max_message_size);
        Box::new(WebSocketContext::new(role, Some(config)))
    }

    /// Drops tungstenite's context and the buffers when nothing is in
    /// progress (between frames and messages, nothing queued, not closing):
    /// an idle connection keeps no heap memory. Returns whether it did.
    pub(crate) fn compact(&mut self) -> bool {
        let idle = !self.closed
            && !self.io.hold
            && !self.unparsed
            && self.track.at_rest()
            && self.io.input.len() == self.io.pos
            && self.io.output.is_empty()
            && self.ctx.as_ref().is_none_or(|c| c.can_write());
        if idle && self.ctx.is_some() {
            self.ctx = None;
            self.io = Duplex::default();
            return true;
        }
        false
    }

    /// Whether the context exists now (see `compact`).
    pub(crate) fn is_expanded(&self) -> bool {
        self.ctx.is_some()
    }

    /// Whether the session is over (closed either way).
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether data frames may still be sent (no close sent or received).
    pub(crate) fn can_send(&self) -> bool {
        !self.closed && self.ctx.as_ref().is_none_or(|c| c.can_write())
    }

    /// While `hold` is set, automatic pongs are not written: the pong for
    /// the most recent unanswered ping waits, replacing any older one (RFC
    /// 6455 §5.5.3 lets an endpoint answer only the most recent ping). The
    /// connection holds them while its output is backed up, so that a peer
    /// that floods pings and reads nothing cannot make us queue a pong per
    /// ping. Releasing writes the pending pong (to [`Session::take_output`]).
    /// Pings, closes and close replies are never held.
    pub(crate) fn hold_pongs(&mut self, hold: bool) {
        if self.io.hold == hold {
            return;
        }
        match (hold, self.ctx.as_mut()) {
            (true, Some(ctx)) => {
                self.io.hold = true;
                // Nothing may wait in tungstenite's own buffer while
                // holding: a frame that does not fit stays its one pending
                // pong, replaced by the next.
                ctx.set_config(|c| c.max_write_buffer_size = 1);
            }
            (false, Some(ctx)) => {
                release(ctx, &mut self.io);
                let _ = ctx.flush(&mut self.io);
            }
            (hold, None) => self.io.hold = hold,
        }
    }

    /// Whether parsing stopped for want of room, with input left to parse.
    pub(crate) fn has_unparsed(&self) -> bool {
        self.unparsed && !self.closed
    }

    /// Whether pongs are held now (see [`Session::hold_pongs`]).
    pub(crate) fn holds_pongs(&self) -> bool {
        self.io.hold
    }

    /// Bytes to write to the socket.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.io.output)
    }

    /// The context (made if the session was compacted) and the buffers.
    fn parts(&mut self) -> (&mut WebSocketContext, &mut Duplex) {
        let (role, limits, hold) = (self.role, self.limits, self.io.hold);
        let ctx = self.ctx.get_or_insert_with(|| {
            let mut ctx = Self::make_ctx(role, limits);
            if hold {
                ctx.set_config(|c| c.max_write_buffer_size = 1);
            }
            ctx
        });
        (ctx, &mut self.io)
    }

    /// Feeds bytes from the socket; returns everything they completed.
    pub(crate) fn feed(&mut self, bytes: &[u8], events: &mut Vec<WsEvent>) {
        self.feed_within(bytes, events, usize::MAX, WsEvent::cost);
    }

    /// Feeds bytes from the socket and parses until the events produced
    /// cost `room` or more (by `cost_of`: [`WsEvent::cost`] for what the
    /// consumer will hold, 0 for what it drops): the rest stays buffered,
    /// unparsed, for the next call (with no new bytes, once the consumer
    /// caught up). A peer's tiny frames thus stop being turned into events
    /// as soon as the consumer is behind, not at the end of a read.
    pub(crate) fn feed_within(
        &mut self,
        bytes: &[u8],
        events: &mut Vec<WsEvent>,
        room: usize,
        cost_of: impl Fn(&WsEvent) -> usize,
    ) {
        // Set again below only when parsing stops for want of room; every
        // other way out (closed, nothing to read, a close) leaves nothing
        // that more room would parse.
        self.unparsed = false;
        if self.closed {
            return;
        }
        self.track.advance(bytes);
        self.io.input.extend_from_slice(bytes);
        if self.io.input.len() == self.io.pos && self.ctx.is_none() {
            return; // nothing to read: no context to wake
        }
        let mut spent = 0usize;
        let mut unparsed = false;
        let (ctx, io) = self.parts();
        let failure = loop {
            if spent >= room {
                unparsed = true;
                break None;
            }
            let ev = match ctx.read(io) {
                Ok(Message::Text(t)) => WsEvent::Message { binary: false, data: t.as_bytes().to_vec() },
                Ok(Message::Binary(b)) => WsEvent::Message { binary: true, data: b.to_vec() },
                Ok(Message::Ping(p)) => WsEvent::Ping(p.to_vec()),
                Ok(Message::Pong(p)) => WsEvent::Pong(p.to_vec()),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    release(ctx, io); // a close reply is never held back (nor the pong before it)
                    let _ = ctx.flush(io); // our close reply
                    self.closed = true;
                    events.push(WsEvent::Closed { code, reason, by_peer: true });
                    return;
                }
                Ok(Message::Frame(_)) => continue,
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                    self.closed = true;
                    events.push(WsEvent::Closed { code: 1005, reason: String::new(), by_peer: true });
                    return;
                }
                Err(e) => break Some(close_code_for(&e)),
            };
            spent = spent.saturating_add(cost_of(&ev));
            events.push(ev);
        };
        match failure {
            Some((code, reason)) => {
                self.fail(code, reason);
                events.push(WsEvent::Closed { code, reason: reason.to_owned(), by_peer: false });
            }
            None => {
                // Automatic pongs (and any queued frame) go out now.
                let _ = ctx.flush(io);
            }
        }
        self.unparsed = unparsed;
    }

    /// Queues a message to the peer through the session (masked when the
    /// session is a client's). The server writes whole frames with
    /// [`encode_frame`] instead, built on the sending thread.
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn send(&mut self, binary: bool, data: &[u8]) -> Result<(), SendError> {
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        let msg = if binary {
            Message::Binary(data.to_vec().into())
        } else {
            match std::str::from_utf8(data) {
                Ok(t) => Message::Text(t.into()),
                Err(_) => return Err(SendError::InvalidUtf8),
            }
        };
        let (ctx, io) = self.parts();
        ctx.write(&mut *io, msg).map_err(|_| SendError::Closed)?;
        ctx.flush(io).map_err(|_| SendError::Closed)
    }

    /// Sends a ping or pong with `data` (at most 125 bytes).
    pub(crate) fn control(&mut self, pong: bool, data: &[u8]) -> Result<(), SendError> {
        if data.len() > 125 {
            return Err(SendError::TooLong);
        }
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        let msg = if pong { Message::Pong(data.to_vec().into()) } else { Message::Ping(data.to_vec().into()) };
        self.hold_pongs(false);
        let (ctx, io) = self.parts();
        ctx.write(&mut *io, msg).map_err(|_| SendError::Closed)?;
        ctx.flush(io).map_err(|_| SendError::Closed)
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes).
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if reason.len() > 123 {
            return Err(SendError::TooLong);
        }
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() };
        self.hold_pongs(false);
        let (ctx, io) = self.parts();
        let _ = ctx.close(&mut *io, Some(frame));
        let _ = ctx.flush(io);
        Ok(())
    }

    fn fail(&mut self, code: u16, reason: &str) {
        self.hold_pongs(false);
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() };
        let (ctx, io) = self.parts();
        let _ = ctx.close(&mut *io, Some(frame));
        let _ = ctx.flush(io);
        self.closed = true;
    }
}

/// Ends a hold (see [`Session::hold_pongs`]): writes pass again and
/// tungstenite's buffer has no cap; the caller flushes.
fn release(ctx: &mut WebSocketContext, io: &mut Duplex) {
    if io.hold {
        io.hold = false;
        ctx.set_config(|c| c.max_write_buffer_size = usize::MAX);
    }
}

/// A whole unfragmented server (unmasked) data frame: serialized once, on
/// the sending thread, outside any session (the frame layer below the
/// session; a compressing extension would set RSV1 here).
pub(crate) fn encode_frame(binary: bool, data: &[u8], masked: bool) -> Vec<u8> {
    // A client masks every frame with a fresh unpredictable key (RFC 6455 §5.3).
    let mask = masked.then(rand::random::<[u8; 4]>);
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(if binary { Data::Binary } else { Data::Text }),
        mask,
    };
    let len = data.len() as u64;
    let mut out = Vec::with_capacity(header.len(len) + data.len());
    // Writing to a Vec cannot fail.
    let _ = header.format(len, &mut out);
    let start = out.len();
    out.extend_from_slice(data);
    if let Some(key) = mask {
        for (i, b) in out[start..].iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
    }
    out
}

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    Closed,
    #[allow(dead_code)] // from `send`
    InvalidUtf8,
    TooLong,
}

/// The close code and reason for a tungstenite read error.
fn close_code_for(e: &Error) -> (u16, &'static str) {
    match e {
        Error::Utf8(_) => (1007, "invalid UTF-8 in a text message"),
        Error::Capacity(CapacityError::MessageTooLong { .. }) => (1009, "message too big"),
        Error::Capacity(_) => (1009, "message too big"),
        Error::Protocol(ProtocolError::UnmaskedFrameFromClient) => (1002, "unmasked frame from a client"),
        Error::Protocol(ProtocolError::NonZeroReservedBits) => (1002, "reserved bits set"),
        Error::Protocol(_) => (1002, "protocol error"),
        _ => (1011, "internal error"),
    }
}

#[cfg(test)]
mod tests;

/// Fuzzing entry: `data` (its first byte chooses how the rest is split into
/// reads) goes to two server sessions, one compacted after every read and one
/// never; both must produce the same events and the same output, and
/// neither may panic. Used by `fuzz/` and by the in-tree random test.
pub(crate) fn fuzz_feed(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let limits = Limits { max_message_size: 1 << 16 };
    let mut a = Session::new(Role::Server, limits, Vec::new());
    let mut b = Session::new(Role::Server, limits, Vec::new());
    let step = usize::from(step % 23) + 1;
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    let mut pos = 0;
    let mut i = 0;
    while pos < rest.len() {
        // irregular read sizes: 1..=step, varying with the position
        let n = (1 + (i * 7 + pos) % step).min(rest.len() - pos);
        a.feed(&rest[pos..pos + n], &mut ea);
        b.feed(&rest[pos..pos + n], &mut eb);
        assert_eq!(ea, eb, "events differ after {} bytes", pos + n);
        assert_eq!(a.take_output(), b.take_output(), "output differs after {} bytes", pos + n);
        a.compact();
        pos += n;
        i += 1;
    }
}
