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

/// One WebSocket connection's protocol state.
#[derive(Debug)]
pub(crate) struct Session {
    ctx: WebSocketContext,
    io: Duplex,
    closed: bool,
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
        let mut config = WebSocketConfig::default();
        // Small eager buffer: an idle connection must stay cheap; a frame's
        // payload space is reserved from its header when it comes.
        config.read_buffer_size = 256;
        config.write_buffer_size = 0;
        config.max_message_size = Some(limits.max_message_size);
        config.max_frame_size = Some(limits.max_message_size);
        let ctx = WebSocketContext::new(role, Some(config));
        let mut s = Session { ctx, io: Duplex::default(), closed: false };
        s.io.input = already_read;
        s
    }

    /// Whether the session is over (closed either way).
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether data frames may still be sent (no close sent or received).
    pub(crate) fn can_send(&self) -> bool {
        !self.closed && self.ctx.can_write()
    }

    /// Bytes to write to the socket.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.io.output)
    }

    /// Feeds bytes from the socket; returns what they completed.
    pub(crate) fn feed(&mut self, bytes: &[u8], events: &mut Vec<WsEvent>) {
        if self.closed {
            return;
        }
        self.io.input.extend_from_slice(bytes);
        loop {
            match self.ctx.read(&mut self.io) {
                Ok(Message::Text(t)) => events.push(WsEvent::Message { binary: false, data: t.as_bytes().to_vec() }),
                Ok(Message::Binary(b)) => events.push(WsEvent::Message { binary: true, data: b.to_vec() }),
                Ok(Message::Ping(p)) => events.push(WsEvent::Ping(p.to_vec())),
                Ok(Message::Pong(p)) => events.push(WsEvent::Pong(p.to_vec())),
                Ok(Message::Close(frame)) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| (u16::from(f.code), f.reason.to_string()));
                    let _ = self.ctx.flush(&mut self.io); // our close reply
                    self.closed = true;
                    events.push(WsEvent::Closed { code, reason, by_peer: true });
                    return;
                }
                Ok(Message::Frame(_)) => {}
                Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(Error::ConnectionClosed | Error::AlreadyClosed) => {
                    self.closed = true;
                    events.push(WsEvent::Closed { code: 1005, reason: String::new(), by_peer: true });
                    return;
                }
                Err(e) => {
                    let (code, reason) = close_code_for(&e);
                    self.fail(code, reason);
                    events.push(WsEvent::Closed { code, reason: reason.to_owned(), by_peer: false });
                    return;
                }
            }
        }
        // Automatic pongs (and any queued frame) go out now.
        let _ = self.ctx.flush(&mut self.io);
    }

    /// Queues a message to the peer through the session (masked when the
    /// session is a client's). The server writes whole frames with
    /// [`encode_frame`] instead, built on the sending thread.
    #[allow(dead_code)] // used by the tests and, next, the client side
    pub(crate) fn send(&mut self, binary: bool, data: &[u8]) -> Result<(), SendError> {
        if self.closed || !self.ctx.can_write() {
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
        self.ctx.write(&mut self.io, msg).map_err(|_| SendError::Closed)?;
        self.ctx.flush(&mut self.io).map_err(|_| SendError::Closed)
    }

    /// Sends a ping or pong with `data` (at most 125 bytes).
    pub(crate) fn control(&mut self, pong: bool, data: &[u8]) -> Result<(), SendError> {
        if data.len() > 125 {
            return Err(SendError::TooLong);
        }
        if self.closed || !self.ctx.can_write() {
            return Err(SendError::Closed);
        }
        let msg = if pong { Message::Pong(data.to_vec().into()) } else { Message::Ping(data.to_vec().into()) };
        self.ctx.write(&mut self.io, msg).map_err(|_| SendError::Closed)?;
        self.ctx.flush(&mut self.io).map_err(|_| SendError::Closed)
    }

    /// Starts the close handshake with `code` and `reason` (at most 123 bytes).
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<(), SendError> {
        if reason.len() > 123 {
            return Err(SendError::TooLong);
        }
        if self.closed || !self.ctx.can_write() {
            return Err(SendError::Closed);
        }
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() };
        let _ = self.ctx.close(&mut self.io, Some(frame));
        let _ = self.ctx.flush(&mut self.io);
        Ok(())
    }

    fn fail(&mut self, code: u16, reason: &str) {
        let frame = CloseFrame { code: CloseCode::from(code), reason: reason.to_owned().into() };
        let _ = self.ctx.close(&mut self.io, Some(frame));
        let _ = self.ctx.flush(&mut self.io);
        self.closed = true;
    }
}

/// A whole unfragmented server (unmasked) data frame: serialized once, on
/// the sending thread, outside any session (the frame layer below the
/// session; a compressing extension would set RSV1 here).
pub(crate) fn encode_frame(binary: bool, data: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(if binary { Data::Binary } else { Data::Text }),
        mask: None,
    };
    let len = data.len() as u64;
    let mut out = Vec::with_capacity(header.len(len) + data.len());
    // Writing to a Vec cannot fail.
    let _ = header.format(len, &mut out);
    out.extend_from_slice(data);
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
