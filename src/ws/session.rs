//! A WebSocket session, sans-IO: bytes from the socket go in with
//! [`Session::feed`]; frames to write come out of [`Session::take_output`].
//! No socket, no clock.
//!
//! Reading is squall's own message layer (`message.rs`: frame headers
//! parsed by tungstenite, fragments, control frames between them, UTF-8,
//! size limits at frame headers, permessage-deflate's RSV1 and inflation).
//! This module adds the connection's side of the protocol: automatic pongs
//! (held while the output is backed up, see [`Session::hold_pongs`]), the
//! close handshake, and the close frame a failure sends (its code from the
//! assembler: 1002, 1007, 1009).

use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::Role;

use super::deflate::codec::{Deflater, Inflater};
use super::message::{Assembler, Incoming};

/// What the peer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WsEvent {
    /// A whole message (fragments reassembled, inflated if compressed).
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
/// The assembler (and the buffers) exist only while the connection is
/// busy: [`Session::compact`] drops them when the peer is between frames
/// and between messages with nothing queued, which is the whole state an
/// open session then has; the next bytes make a fresh one. An idle
/// connection thus costs this struct and nothing on the heap (with
/// permessage-deflate in shared mode too: a compressed message borrows its
/// thread's inflater, see `message.rs`).
#[derive(Debug)]
pub(crate) struct Session {
    asm: Option<Box<Assembler>>,
    /// Bytes read from the peer and not yet parsed (`input[pos..]`).
    input: Vec<u8>,
    pos: usize,
    output: Vec<u8>,
    /// The pong for the most recent ping, waiting while pongs are held.
    pending_pong: Option<Vec<u8>>,
    hold: bool,
    client: bool,
    /// permessage-deflate was negotiated (shared mode: no context takeover
    /// on the peer's side, so the assembler borrows a pooled inflater).
    deflate: bool,
    limits: Limits,
    /// The assembler owns a context-takeover inflater (dedicated mode): it
    /// is state, and compaction keeps it.
    keep_asm: bool,
    /// We sent a close frame: no more data frames, pings or pongs.
    close_sent: bool,
    closed: bool,
    /// Parsing stopped for want of room (see [`Session::feed_within`]).
    unparsed: bool,
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
        Session {
            asm: None,
            input: already_read,
            pos: 0,
            output: Vec::new(),
            pending_pong: None,
            hold: false,
            client: role == Role::Client,
            deflate: false,
            keep_asm: false,
            limits,
            close_sent: false,
            closed: false,
            unparsed: false,
        }
    }

    /// The same with permessage-deflate negotiated (`deflate`): compressed
    /// messages from the peer are accepted and inflated.
    pub(crate) fn with_deflate(mut self, deflate: bool) -> Session {
        self.deflate = deflate;
        self
    }

    /// The same with permessage-deflate negotiated with client context
    /// takeover (dedicated mode): the connection's own inflater keeps the
    /// peer's history between messages, so its assembler is never dropped.
    pub(crate) fn with_own_inflater(mut self, inflater: Inflater) -> Session {
        self.deflate = true;
        self.keep_asm = true;
        self.asm = Some(Box::new(Assembler::new(!self.client, self.limits.max_message_size, Some(inflater))));
        self
    }

    /// Drops the assembler and the buffers when nothing is in progress
    /// (between frames and messages, nothing queued, not closing): an idle
    /// connection keeps no heap memory. Returns whether it did.
    pub(crate) fn compact(&mut self) -> bool {
        let idle = !self.closed
            && !self.close_sent
            && !self.hold
            && !self.unparsed
            && self.pending_pong.is_none()
            && self.asm.as_ref().is_none_or(|a| a.at_rest())
            && self.input.len() == self.pos
            && self.output.is_empty();
        if idle && self.is_expanded() {
            if !self.keep_asm {
                self.asm = None;
            }
            self.input = Vec::new();
            self.pos = 0;
            self.output = Vec::new();
            return true;
        }
        false
    }

    /// Whether the session holds something `compact` would drop.
    pub(crate) fn is_expanded(&self) -> bool {
        (self.asm.is_some() && !self.keep_asm) || self.input.capacity() > 0 || self.output.capacity() > 0
    }

    /// Whether the session is over (closed either way).
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether data frames may still be sent (no close sent or received).
    pub(crate) fn can_send(&self) -> bool {
        !self.closed && !self.close_sent
    }

    /// While `hold` is set, automatic pongs are not written: the pong for
    /// the most recent unanswered ping waits, replacing any older one (RFC
    /// 6455 §5.5.3 lets an endpoint answer only the most recent ping). The
    /// connection holds them while its output is backed up, so that a peer
    /// that floods pings and reads nothing cannot make us queue a pong per
    /// ping. Releasing writes the pending pong (to [`Session::take_output`]).
    /// Pings, closes and close replies are never held.
    pub(crate) fn hold_pongs(&mut self, hold: bool) {
        self.hold = hold;
        if !hold && let Some(p) = self.pending_pong.take() {
            self.write_control(Control::Pong, &p);
        }
    }

    /// Whether parsing stopped for want of room, with input left to parse.
    pub(crate) fn has_unparsed(&self) -> bool {
        self.unparsed && !self.closed
    }

    /// Whether pongs are held now (see [`Session::hold_pongs`]).
    pub(crate) fn holds_pongs(&self) -> bool {
        self.hold
    }

    /// Bytes to write to the socket.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
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
        // Bytes are parsed straight from the read when nothing waits
        // before them; only what is left unparsed is copied.
        let mut own = std::mem::take(&mut self.input);
        let mut pos = std::mem::take(&mut self.pos);
        let from_own = pos < own.len();
        if from_own {
            own.extend_from_slice(bytes);
        }
        let (client, deflate, limit) = (self.client, self.deflate, self.limits.max_message_size);
        let mut spent = 0usize;
        let mut incoming = Vec::new();
        {
            let src: &[u8] = if from_own { &own } else { bytes };
            if !from_own {
                pos = 0;
            }
            if pos < src.len() {
                if self.asm.is_none() {
                    self.asm = Some(Box::new(if deflate {
                        Assembler::pooled(!client, limit)
                    } else {
                        Assembler::new(!client, limit, None)
                    }));
                }
                while pos < src.len() && !self.closed {
                    if spent >= room {
                        self.unparsed = true;
                        break;
                    }
                    incoming.clear();
                    let Some(asm) = self.asm.as_mut() else { break };
                    pos += asm.feed_some(&src[pos..], &mut incoming);
                    for inc in incoming.drain(..) {
                        if let Some(ev) = self.on_incoming(inc) {
                            spent = spent.saturating_add(cost_of(&ev));
                            events.push(ev);
                        }
                    }
                }
            }
            if self.unparsed && !self.closed {
                if !from_own {
                    own = src[pos..].to_vec();
                    pos = 0;
                }
            } else {
                own = Vec::new();
                pos = 0;
            }
        }
        self.input = own;
        self.pos = pos;
        if self.pos > 0 && self.pos * 2 >= self.input.len() {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// What one thing from the assembler means for the connection.
    fn on_incoming(&mut self, inc: Incoming) -> Option<WsEvent> {
        match inc {
            Incoming::Message { binary, data } => Some(WsEvent::Message { binary, data }),
            Incoming::Ping(p) => {
                if !self.close_sent {
                    if self.hold {
                        self.pending_pong = Some(p.clone());
                    } else {
                        self.write_control(Control::Pong, &p);
                    }
                }
                Some(WsEvent::Ping(p))
            }
            Incoming::Pong(p) => Some(WsEvent::Pong(p)),
            Incoming::Close { code, reason } => {
                // A close reply is never held back (nor the pong before it).
                self.hold_pongs(false);
                if !self.close_sent {
                    let mut payload = Vec::with_capacity(2 + reason.len());
                    if let Some(c) = code {
                        payload.extend_from_slice(&c.to_be_bytes());
                        payload.extend_from_slice(reason.as_bytes());
                    }
                    self.write_control(Control::Close, &payload);
                    self.close_sent = true;
                }
                self.closed = true;
                Some(WsEvent::Closed { code: code.unwrap_or(1005), reason, by_peer: true })
            }
            Incoming::Fail { code, reason } => {
                self.fail(code, reason);
                Some(WsEvent::Closed { code, reason: reason.to_owned(), by_peer: false })
            }
        }
    }

    /// A control frame onto the output (masked on the client side).
    fn write_control(&mut self, op: Control, payload: &[u8]) {
        let frame = encode(OpCode::Control(op), false, payload, self.client);
        self.output.extend_from_slice(&frame);
    }

    /// Queues a message to the peer through the session (masked when the
    /// session is a client's). The server writes whole frames with
    /// [`encode_frame`] instead, built on the sending thread.
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn send(&mut self, binary: bool, data: &[u8]) -> Result<(), SendError> {
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        if !binary && std::str::from_utf8(data).is_err() {
            return Err(SendError::InvalidUtf8);
        }
        let frame = encode_frame(binary, data, self.client);
        self.output.extend_from_slice(&frame);
        Ok(())
    }

    /// Sends a ping or pong with `data` (at most 125 bytes).
    pub(crate) fn control(&mut self, pong: bool, data: &[u8]) -> Result<(), SendError> {
        if data.len() > 125 {
            return Err(SendError::TooLong);
        }
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        self.hold_pongs(false);
        self.write_control(if pong { Control::Pong } else { Control::Ping }, data);
        Ok(())
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes).
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if reason.len() > 123 {
            return Err(SendError::TooLong);
        }
        if !self.can_send() {
            return Err(SendError::Closed);
        }
        self.hold_pongs(false);
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.write_control(Control::Close, &payload);
        self.close_sent = true;
        Ok(())
    }

    fn fail(&mut self, code: u16, reason: &str) {
        self.hold_pongs(false);
        if !self.close_sent {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            self.write_control(Control::Close, &payload);
            self.close_sent = true;
        }
        self.closed = true;
    }
}

/// One whole frame: header (RSV1 as given), payload masked with a fresh
/// key when `masked`.
fn encode(opcode: OpCode, rsv1: bool, data: &[u8], masked: bool) -> Vec<u8> {
    // A client masks every frame with a fresh unpredictable key (RFC 6455 §5.3).
    let mask = masked.then(rand::random::<[u8; 4]>);
    let header = FrameHeader { is_final: true, rsv1, rsv2: false, rsv3: false, opcode, mask };
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

/// A whole unfragmented data frame, uncompressed: serialized once, on the
/// sending thread, outside any session.
pub(crate) fn encode_frame(binary: bool, data: &[u8], masked: bool) -> Vec<u8> {
    encode(OpCode::Data(if binary { Data::Binary } else { Data::Text }), false, data, masked)
}

/// A whole data frame compressed with permessage-deflate (RSV1 set) by this
/// thread's shared compressor for `window_bits` (9..=15, no context
/// takeover), or `None` when compressing does not make the payload smaller
/// (the message then goes out as [`encode_frame`] makes it).
pub(crate) fn encode_compressed(binary: bool, data: &[u8], masked: bool, window_bits: u8) -> Option<Vec<u8>> {
    thread_local! {
        /// One compressor per window size, per thread (shared mode: every
        /// message starts from an empty history, so any connection that
        /// negotiated that window can take its output).
        static DEFLATERS: std::cell::RefCell<[Option<Deflater>; 7]> = const { std::cell::RefCell::new([None, None, None, None, None, None, None]) };
    }
    let bits = window_bits.clamp(9, 15);
    let payload = DEFLATERS.with(|d| {
        let mut d = d.borrow_mut();
        let slot = &mut d[usize::from(bits - 9)];
        slot.get_or_insert_with(|| Deflater::new(bits, false)).compress(data)
    })?;
    Some(encode_deflated(binary, &payload, masked))
}

/// A whole data frame whose payload `deflated` is already compressed
/// (RSV1 set).
pub(crate) fn encode_deflated(binary: bool, deflated: &[u8], masked: bool) -> Vec<u8> {
    encode(OpCode::Data(if binary { Data::Binary } else { Data::Text }), true, deflated, masked)
}

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    Closed,
    #[allow(dead_code)] // from `send`
    InvalidUtf8,
    TooLong,
}

#[cfg(test)]
mod tests;

/// Fuzzing entry: `data` (its first byte chooses how the rest is split into
/// reads, and its top bit whether permessage-deflate was negotiated) goes to
/// two server sessions, one compacted after every read and one never; both must produce the same events and the same output, and
/// neither may panic. Used by `fuzz/` and by the in-tree random test.
pub(crate) fn fuzz_feed(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let limits = Limits { max_message_size: 1 << 16 };
    let deflate = step & 0x80 != 0;
    let mut a = Session::new(Role::Server, limits, Vec::new()).with_deflate(deflate);
    let mut b = Session::new(Role::Server, limits, Vec::new()).with_deflate(deflate);
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
