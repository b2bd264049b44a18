//! The HTTP client: requests built on any thread, run on the loop's first
//! reactor over a keep-alive pool, answered on the host thread.
//!
//! * [`Spec`] ([`job`]): what to fetch and how (checked when built: URL,
//!   header bytes).
//! * The pool ([`conn::Pool`], one per reactor, used on reactor 0): connections
//!   per origin (scheme, host, port, TLS trust), a per-origin and a total
//!   cap, requests queued beyond them, idle connections kept for reuse until
//!   the idle timeout.
//! * [`conn::FetchConn`]: one connection's life: resolve (off the reactor),
//!   connect (each address in turn), TLS, then requests one after another.
//! * Redirects, decompression and limits are applied as the response
//!   arrives; the host sees one callback per response (plus the head and
//!   body-chunk callbacks when it asked for them).

pub(crate) mod conn;
pub(crate) mod connect;
pub(crate) mod job;
pub(crate) mod response;

use std::sync::Arc;

pub(crate) use job::*;

use self::conn::{Pool, kick, submit, Control};
use crate::Result;
use crate::reactor::{LoopHandle, Reactor};

/// Starts a fetch from any thread: it runs on reactor 0 once the loop has
/// started; its callbacks run on the host thread.
/// `id` comes from [`next_id`].
pub(crate) fn start(lp: &LoopHandle, id: u64, spec: Spec, events: Arc<dyn FetchEvents>) -> Result<()> {
    lp.check_usable()?;
    let job = Job::new(id, spec, events);
    let h = lp.clone();
    lp.when_started(Box::new(move || {
        if let Err(e) = h.send_to_reactor(0, Box::new(move |r: &mut Reactor| {
            r.loop_handle.client_stats().inc(crate::metrics::ClientCounter::Started);
            submit(r, job)
        })) {
            tracing::debug!(target: "squall::client", "a fetch was dropped: {e}");
        }
    }));
    Ok(())
}

/// Sets the pool's limits (from any thread; applies to what comes next).
pub(crate) fn set_limits(lp: &LoopHandle, limits: Limits) -> Result<()> {
    lp.check_usable()?;
    let h = lp.clone();
    lp.when_started(Box::new(move || {
        let _ = h.send_to_reactor(0, Box::new(move |r: &mut Reactor| {
            r.ext::<Pool>().limits = limits;
            kick(r);
        }));
    }));
    Ok(())
}

/// Acts on fetch `id` from any thread, on reactor 0 after what was sent
/// before: cancel it (its `on_response` gets a `Cancelled` error, unless
/// it was already on its way), or hold / release the reading of its
/// response (the host's own flow control). An id that is done or unknown
/// is ignored there.
pub(crate) fn control(lp: &LoopHandle, id: u64, what: Control) -> Result<()> {
    lp.check_usable()?;
    if !id_issued(id) {
        return Err(crate::Error::new(crate::ErrorKind::InvalidArg, format!("{id} is not a fetch id")));
    }
    let h = lp.clone();
    lp.when_started(Box::new(move || {
        let _ = h.send_to_reactor(0, Box::new(move |r: &mut Reactor| conn::control(r, id, what)));
    }));
    Ok(())
}
