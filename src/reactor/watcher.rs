//! What a reactor token holds: a [`Watcher`] (libuv's word for the
//! per-handle I/O record). The reactor knows nothing of the protocols behind
//! its tokens: it calls a watcher when its socket is ready, when time passes,
//! when it has output to write and when it must stop, always through
//! [`Reactor::with_watcher`], the one place that takes a watcher out of its
//! slot, catches a panic inside it and puts it back or frees the token.
//!
//! A watcher belongs to a [`Group`] (the server that owns it, say), so
//! that stopping a server is a walk over the reactor's tokens (libuv's
//! `uv_walk`) that asks the group's watchers to stop, and nothing more.


use mio::event::Event;

pub(crate) use super::core::{Group, Step, Stop, Tick, Watcher};
use super::core::Reactor;

impl Reactor {
    /// Stores `watcher` in a new slot and lets `init` register its socket
    /// with the token (through the same take / catch / put-back as every
    /// other operation). Returns (token, generation), or None when `init`
    /// closed it.
    pub(crate) fn insert<S: Into<Step>>(
        &mut self,
        watcher: Box<dyn Watcher>,
        init: impl FnOnce(&mut Reactor, &mut dyn Watcher, usize, u64) -> S,
    ) -> Option<(usize, u64)> {
        let (token, generation) = self.insert_watcher(watcher);
        self.with_watcher(token, Some(generation), |r, w| init(r, w, token, generation).into());
        self.is_live(token, generation).then_some((token, generation))
    }

    /// Runs `f` on the watcher at `token` (of `generation`, if given), then
    /// [`Watcher::settle`]s it and puts it back, or frees the token as the
    /// [`Step`] says. A panic inside drops that watcher only (its `Drop`
    /// closes the socket and tells the host what it can) and is logged.
    /// Returns false when the token holds no watcher now (gone, or taken out
    /// further up the stack).
    pub(crate) fn with_watcher(
        &mut self,
        token: usize,
        generation: Option<u64>,
        f: impl FnOnce(&mut Reactor, &mut dyn Watcher) -> Step,
    ) -> bool {
        let Some(mut w) = self.take_watcher(token, generation) else { return false };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match f(self, &mut *w) {
            Step::Keep => w.settle(self, token),
            other => other,
        }));
        match outcome {
            Ok(Step::Keep) => self.put_back(token, w),
            Ok(Step::Close) => {
                // A watcher that handed its slot over without saying so
                // keeps the new one's token.
                if !self.is_occupied(token) {
                    self.release_token(token);
                }
                drop(w);
            }
            Ok(Step::Replaced) => drop(w),
            Err(p) => {
                tracing::error!(target: "squall::reactor", "panic in a watcher (closed): {}", crate::error::panic_message(&p));
                drop(w);
                if !self.is_occupied(token) {
                    self.release_token(token);
                }
            }
        }
        true
    }

    /// Runs `f`, one event of a watcher that must outlive a panic inside it
    /// (a listener with one accepted connection in hand): a panic drops only
    /// what `f` owned (the accepted socket, which closes) and is logged; the
    /// caller, and the watcher it works for, go on.
    pub(crate) fn guard(&mut self, what: &str, f: impl FnOnce(&mut Reactor)) {
        if let Err(p) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            tracing::error!(target: "squall::reactor", "panic in {what} (dropped): {}", crate::error::panic_message(&p));
        }
    }

    /// [`Reactor::with_watcher`] for a watcher of concrete type `T`. Returns
    /// false when the token does not hold a live `T` (of that generation).
    pub(crate) fn with_watcher_as<T: Watcher, S: Into<Step>>(
        &mut self,
        token: usize,
        generation: Option<u64>,
        f: impl FnOnce(&mut Reactor, &mut T) -> S,
    ) -> bool {
        let mut found = false;
        self.with_watcher(token, generation, |r, w| match w.as_any().downcast_mut::<T>() {
            Some(t) => {
                found = true;
                f(r, t).into()
            }
            None => Step::Keep,
        });
        found
    }

    /// Ticks the watchers that want it, then runs the tick hooks.
    pub(crate) fn tick_all(&mut self, why: Tick) {
        for token in self.live_tokens() {
            if self.watcher_ref(token).is_some_and(|w| w.wants_tick(self, why)) {
                self.with_watcher(token, None, |r, w| w.tick(r, token));
            }
        }
        // By index: a hook may add another (no allocation per tick).
        let mut i = 0;
        while let Some(hook) = self.tick_hook(i) {
            hook(self);
            i += 1;
        }
    }

    /// Writes what watchers queued during the turn.
    pub(crate) fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for token in dirty.iter().copied() {
            self.with_watcher(token, None, |r, w| w.flush(r, token));
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Asks every watcher of `group` to stop.
    pub(crate) fn stop_group(&mut self, group: Group, how: Stop) {
        for token in self.live_tokens() {
            if self.watcher_ref(token).is_some_and(|w| w.group() == group) {
                self.with_watcher(token, None, |r, w| w.stop(r, token, how));
            }
        }
    }

    /// Asks every watcher to stop (the reactor is stopping).
    pub(crate) fn stop_all(&mut self) {
        for token in self.live_tokens() {
            self.with_watcher(token, None, |r, w| w.stop(r, token, Stop::Halt));
        }
    }

    /// The watcher of type `T` at `token` of `generation`, in place (None
    /// when it is gone, taken out, or of another type).
    pub(crate) fn watcher_mut<T: Watcher>(&mut self, token: usize, generation: u64) -> Option<&mut T> {
        self.slot_mut(token, generation)?.as_any().downcast_mut::<T>()
    }
}

/// What an event says of a connection's socket: (read now — data, the
/// peer's FIN or an error all show up through a read —, write now, the peer
/// shut its side down).
pub(crate) fn readiness(ev: &Event) -> (bool, bool, bool) {
    (ev.is_readable() || ev.is_read_closed() || ev.is_error(), ev.is_writable(), ev.is_read_closed())
}
