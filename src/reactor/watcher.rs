//! Reactor sources that are not server connections: client connections
//! (HTTP fetches, WebSocket clients), raw TCP streams and their listeners.
//! Each is a [`Driven`] in the reactor's slab; the reactor calls it on
//! readiness, on its timers, when it has output to write, and when the loop
//! stops. A panic inside one drops that source only.

use std::any::Any;

use mio::event::Event;

use crate::http::conn::Source;
use crate::reactor::Reactor;

/// What a reactor drives. Every method returns whether the source lives on:
/// `false` releases its token (the source must have deregistered and told
/// whoever waits for it before saying so) — unless the method put another
/// source into the token's slot, which then keeps the token.
pub(crate) trait Driven: Any + Send {
    /// Readiness on the source's socket.
    fn ready(&mut self, r: &mut Reactor, token: usize, ev: &Event) -> bool;
    /// Time passed: called on every sweep and when a deadline the source set
    /// with [`Reactor::wake_at`] is reached. Look at the clock (`r.now`).
    fn tick(&mut self, r: &mut Reactor, token: usize) -> bool;
    /// Output was queued (the token was marked dirty): write it.
    fn flush(&mut self, r: &mut Reactor, token: usize) -> bool;
    /// The reactor is stopping: close the socket, tell the host.
    fn shutdown(&mut self, r: &mut Reactor);
    /// For [`with_driven`] to find the concrete type.
    fn as_any(&mut self) -> &mut dyn Any;
}

/// Inserts `source`, lets `init` register its socket with the token; a
/// failing `init` releases the token. Returns (token, generation).
pub(crate) fn insert(
    r: &mut Reactor,
    source: Box<dyn Driven>,
    init: impl FnOnce(&mut Reactor, &mut dyn Driven, usize, u64) -> bool,
) -> Option<(usize, u64)> {
    let (token, generation) = r.insert_source(Source::Driven(source));
    run(r, token, Some(generation), |r, d| init(r, d, token, generation));
    r.source_ref(token).is_some().then_some((token, generation))
}

/// Runs `f` on the driven source at `token` (of `generation`, if given),
/// then puts it back or releases the token. Nothing happens when the token
/// holds something else, or is taken out further up the stack.
pub(crate) fn run(
    r: &mut Reactor,
    token: usize,
    generation: Option<u64>,
    f: impl FnOnce(&mut Reactor, &mut dyn Driven) -> bool,
) -> bool {
    let mut d = match r.take_source(token, generation) {
        Some((Source::Driven(d), _)) => d,
        Some((other, _)) => {
            r.put_back(token, other);
            return false;
        }
        None => return false,
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(r, &mut *d)));
    match outcome {
        Ok(true) => {
            r.put_back(token, Source::Driven(d));
            true
        }
        Ok(false) => {
            // A source that put another in its slot (a WebSocket client
            // after its handshake) handed the token over.
            if r.source_ref(token).is_none() {
                r.release_token(token);
            }
            true
        }
        Err(p) => {
            tracing::error!(target: "squall::net", "panic in a reactor source (closed): {}", crate::error::panic_message(&p));
            // Its Drop closes the socket and tells the host what it can.
            drop(d);
            r.release_token(token);
            true
        }
    }
}

/// [`run`] for a source of concrete type `T`. Returns false when the token
/// does not hold a live `T` of that generation.
pub(crate) fn with<T: Driven>(
    r: &mut Reactor,
    token: usize,
    generation: u64,
    f: impl FnOnce(&mut Reactor, &mut T) -> bool,
) -> bool {
    let mut found = false;
    run(r, token, Some(generation), |r, d| match d.as_any().downcast_mut::<T>() {
        Some(t) => {
            found = true;
            f(r, t)
        }
        None => true,
    });
    found
}

/// Ticks every driven source (a deadline passed, or the periodic sweep).
pub(crate) fn tick_all(r: &mut Reactor) {
    for token in r.live_tokens() {
        if matches!(r.source_ref(token), Some(Source::Driven(_))) {
            run(r, token, None, |r, d| d.tick(r, token));
        }
    }
    crate::http::client::tick(r);
}

/// What an event says of a connection's socket: (read now — data, the
/// peer's FIN or an error all show up through a read —, write now, the peer
/// shut its side down).
pub(crate) fn readiness(ev: &Event) -> (bool, bool, bool) {
    (ev.is_readable() || ev.is_read_closed() || ev.is_error(), ev.is_writable(), ev.is_read_closed())
}
