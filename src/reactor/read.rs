//! The one read loop every kind of connection uses: read into the reactor's
//! scratch buffer until the socket is drained, the peer's EOF, an error,
//! the connection says it takes no more input now, or it has had its share
//! of the turn.

use std::io::{self, Read};

use super::core::Reactor;

/// How much one `read(2)` asks for (the scratch buffer's size).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// A connection's share of one reactor turn, in bytes read and in the
/// cost ([`super::flow::cost`]) of the events it parses: past it the
/// connection stops and asks for [`Reactor::read_again`], and every other
/// connection with input has its turn first. Without it one peer with
/// megabytes waiting in the kernel (or a flood of tiny frames, each a
/// reply to write) holds the reactor for all of it while a newcomer's
/// request waits (docs/ARCHITECTURE.md, "A fair share of each turn").
/// One read's worth: large transfers still move 64 KiB per read and turn.
pub(crate) const TURN_SHARE: usize = READ_CHUNK;

/// A connection, as the read loop sees it.
pub(crate) trait Input {
    /// The socket to read from (None: there is none now).
    fn socket(&mut self) -> Option<&mut dyn Read>;

    /// Whether to read now. False while input is paused: what is not read
    /// stays in the kernel, which slows the peer down.
    fn wants_input(&self) -> bool;

    /// Whether a read shorter than asked for proves the socket drained, so
    /// that the read that would only say `EAGAIN` can be skipped (a syscall
    /// per message saved): true for a plain socket while the peer has not
    /// shut its side down. False after the peer's FIN (no edge would follow:
    /// read on to the EOF) and for TLS, which may hold decrypted records.
    fn short_read_drains(&self) -> bool;

    /// Bytes arrived.
    fn input(&mut self, r: &mut Reactor, bytes: &[u8]);
}

/// Why the read loop stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// Nothing more to read now; a new readiness edge will say when.
    Drained,
    /// The connection took no more input ([`Input::wants_input`]).
    Paused,
    /// The peer shut its side down (`read` returned 0).
    Eof,
    /// The socket failed.
    Failed(io::Error),
    /// It read its [`TURN_SHARE`]; more may wait in the kernel, and no new
    /// readiness edge would say so: the caller asks for
    /// [`Reactor::read_again`].
    Share,
}

/// Reads from `c`'s socket until it has no more or its share of the turn
/// is read, handing each chunk to [`Input::input`].
pub(crate) fn read_ready(r: &mut Reactor, c: &mut impl Input) -> ReadEnd {
    let mut scratch = std::mem::take(&mut r.scratch);
    if scratch.len() < READ_CHUNK {
        scratch.resize(READ_CHUNK, 0);
    }
    let mut read = 0usize;
    let end = loop {
        if !c.wants_input() {
            break ReadEnd::Paused;
        }
        if read >= TURN_SHARE {
            break ReadEnd::Share;
        }
        let Some(socket) = c.socket() else { break ReadEnd::Drained };
        match socket.read(&mut scratch) {
            Ok(0) => break ReadEnd::Eof,
            Ok(n) => {
                read += n;
                c.input(r, &scratch[..n]);
                if n < scratch.len() && c.short_read_drains() {
                    break ReadEnd::Drained;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break ReadEnd::Drained,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break ReadEnd::Failed(e),
        }
    };
    r.scratch = scratch;
    end
}
