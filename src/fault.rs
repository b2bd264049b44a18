//! Fault injection, for the tests of the panic boundary: named points in the
//! code where a test build can be made to panic, to show at run time that a
//! panic stays where docs/ARCHITECTURE.md says it does (an export returns
//! `SQ_ERR_PANIC`, a reactor drops one connection or one listener event, a
//! timer drops one firing) and the server goes on.
//!
//! Only with the cargo feature `fault-injection` (off by default, never in
//! a release build) does a point do anything; without it [`hit`] is an
//! empty function and every point compiles to nothing.
//!
//! A point is armed with a count n: its n-th hit from then panics, once.
//! Two ways to arm: [`arm`] (the Rust tests), or the environment variable
//! `SQUALL_FAULT`, read once at the first hit or arm, a comma-separated list
//! of `point:n` (`SQUALL_FAULT=accept:1,request:3`; the C tests). The points
//! are the names of [`Point`]: `export`, `request`, `accept`, `websocket`,
//! `timer`.

/// A place where a panic can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// Inside an export: every C function's panic boundary (`ffi_boundary!`).
    Export,
    /// A request's head on a reactor, before it is routed.
    Request,
    /// An accepted connection on a reactor, before it is served (an HTTP
    /// server's or a TCP listener's).
    Accept,
    /// A WebSocket message on a reactor, before it is handed to the host.
    WebSocket,
    /// A timer firing on the host thread, before its callback runs.
    Timer,
}

#[cfg(feature = "fault-injection")]
impl Point {
    const ALL: [Point; 5] = [Point::Export, Point::Request, Point::Accept, Point::WebSocket, Point::Timer];

    /// The point's name in `SQUALL_FAULT`.
    pub fn name(self) -> &'static str {
        match self {
            Point::Export => "export",
            Point::Request => "request",
            Point::Accept => "accept",
            Point::WebSocket => "websocket",
            Point::Timer => "timer",
        }
    }
}

#[cfg(feature = "fault-injection")]
mod armed {
    use std::sync::Once;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::Point;

    /// Per point: the hits left before the one that panics (0: disarmed).
    static COUNTDOWN: [AtomicU32; Point::ALL.len()] = [const { AtomicU32::new(0) }; Point::ALL.len()];
    static FROM_ENV: Once = Once::new();

    /// Arms the points `SQUALL_FAULT` names; a malformed entry is logged
    /// and skipped.
    fn load_env() {
        FROM_ENV.call_once(|| {
            let Ok(spec) = std::env::var("SQUALL_FAULT") else { return };
            for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                match parse(entry) {
                    Some((point, n)) => COUNTDOWN[point as usize].store(n, Ordering::SeqCst),
                    None => tracing::error!(
                        target: "squall::fault",
                        "SQUALL_FAULT: {entry:?} is not point:n with a point of export, request, accept, websocket, timer and n >= 1; skipped"
                    ),
                }
            }
        });
    }

    fn parse(entry: &str) -> Option<(Point, u32)> {
        let (name, n) = entry.split_once(':')?;
        let point = Point::ALL.into_iter().find(|p| p.name() == name.trim())?;
        let n: u32 = n.trim().parse().ok()?;
        (n >= 1).then_some((point, n))
    }

    pub(super) fn arm(point: Point, nth: u32) {
        load_env();
        COUNTDOWN[point as usize].store(nth, Ordering::SeqCst);
    }

    pub(super) fn pending(point: Point) -> u32 {
        load_env();
        COUNTDOWN[point as usize].load(Ordering::SeqCst)
    }

    pub(super) fn hit(point: Point) {
        load_env();
        let left = COUNTDOWN[point as usize].fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if left == Ok(1) {
            panic!("injected fault at {}", point.name());
        }
    }

    #[cfg(test)]
    #[test]
    fn entries_parse() {
        assert_eq!(parse("accept:1"), Some((Point::Accept, 1)));
        assert_eq!(parse(" timer : 3 "), Some((Point::Timer, 3)));
        assert_eq!(parse("accept:0"), None);
        assert_eq!(parse("accept"), None);
        assert_eq!(parse("nowhere:1"), None);
        assert_eq!(parse("export:-1"), None);
    }
}

/// Arms `point`: its `nth` hit from now panics (0 disarms it).
#[cfg(feature = "fault-injection")]
pub fn arm(point: Point, nth: u32) {
    armed::arm(point, nth);
}

/// The hits `point` still waits for before it panics: 0 once the armed
/// panic happened (or when it was never armed).
#[cfg(feature = "fault-injection")]
pub fn pending(point: Point) -> u32 {
    armed::pending(point)
}

/// A fault injection point: panics when the point is armed and this is the
/// hit it waits for.
#[cfg(feature = "fault-injection")]
#[inline]
pub(crate) fn hit(point: Point) {
    armed::hit(point);
}

/// A fault injection point: nothing without the `fault-injection` feature.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(crate) fn hit(_point: Point) {}
