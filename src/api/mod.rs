//! The Rust face of squall: the same core the C ABI (`ffi`) wraps, driven
//! with Rust closures and traits instead of C function pointers.
//!
//! This API is **not** covered by the ABI promise (docs/ABI.md): it exists
//! so that Rust programs and the crate's own integration tests can use the
//! server, WebSockets, TCP streams and the HTTP client without going through
//! C, and it may change between releases. Every call lands on the core
//! function the matching `sq_*` function calls; nothing here speaks a
//! protocol of its own.
//!
//! A loop is still [`crate::Loop`] (run it with [`Loop::run`](crate::Loop::run),
//! stop it with [`LoopHandle::stop`](crate::LoopHandle::stop)); callbacks run
//! on the thread that runs the loop, as C callbacks do.
//!
//! ```no_run
//! use squall::{Loop, api};
//!
//! let lp = Loop::new();
//! let server = api::Server::new(&lp);
//! server
//!     .route("GET", "/hello/([a-z]+)", |req| {
//!         let name = req.capture(0).unwrap_or("nobody").to_owned();
//!         req.respond(200, &[("Content-Type", b"text/plain")], format!("hello {name}").as_bytes())
//!             .map_err(|_| -1)
//!     })
//!     .unwrap();
//! let addr = server.listen("127.0.0.1:0").unwrap();
//! println!("listening on {addr}");
//! lp.run().unwrap();
//! ```

pub mod fetch;
mod request;
mod server;
pub mod tcp;
pub mod ws;

pub use crate::cluster::{Cluster, ClusterEvents, ClusterState};
pub use fetch::{fetch, fetch_streamed};
pub use request::{Request, RequestHandle};
pub use server::Server;

use crate::{Error, ErrorKind, Result};

/// What a send or a write did with the bytes: both mean they were queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Queued.
    Queued,
    /// Queued, but more than the high-water mark is now buffered: the
    /// sender should wait for the drain event before sending much more.
    Backpressure,
}

impl From<crate::net::writeq::Sent> for Sent {
    fn from(s: crate::net::writeq::Sent) -> Sent {
        match s {
            crate::net::writeq::Sent::Queued => Sent::Queued,
            crate::net::writeq::Sent::Backpressure => Sent::Backpressure,
        }
    }
}

/// Splits "host:port" ("127.0.0.1:0", "[::1]:8080", "localhost:80") into
/// the host and port the core's listeners take (they resolve the host).
fn host_port(addr: &str) -> Result<(&str, u16)> {
    let bad = || Error::new(ErrorKind::InvalidArg, format!("{addr:?} is not host:port"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port.parse().map_err(|_| bad())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splits_names_v4_and_bracketed_v6() {
        assert_eq!(host_port("127.0.0.1:0").unwrap(), ("127.0.0.1", 0));
        assert_eq!(host_port("[::1]:8080").unwrap(), ("::1", 8080));
        assert_eq!(host_port("localhost:80").unwrap(), ("localhost", 80));
        for bad in ["127.0.0.1", ":80", "h:x", "h:70000"] {
            assert_eq!(host_port(bad).unwrap_err().kind(), ErrorKind::InvalidArg, "{bad}");
        }
    }
}
