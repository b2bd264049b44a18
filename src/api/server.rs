//! An HTTP/1.1 server on a loop (`sq_server`, for Rust): closures as route
//! handlers, WebSocket routes, topics, listeners, shutdown.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use super::request::Request;
use super::ws::{self, Message};
use crate::http::server::Server as Core;
use crate::http::shared::{Handler, HandlerFailed, RouteTarget};
use crate::reactor::Task;
use crate::{Loop, Result};

/// An HTTP/1.1 server attached to a loop. Routes and listeners can be added
/// before or while the loop runs; handlers run on the thread that runs the
/// loop, one at a time. Dropping the server closes its listeners and
/// connections (requests in flight then fail with `Closed`).
#[derive(Debug)]
pub struct Server {
    core: Core,
}

/// A closure route: `sq_route`'s C handler, in Rust.
struct FnHandler<F>(F);

impl<F> Handler for FnHandler<F>
where
    F: Fn(&Request) -> std::result::Result<(), i32> + Send + Sync,
{
    fn call(&self, req: u64) -> std::result::Result<(), HandlerFailed> {
        // The core calls with a live handle; a stale one has nobody left to answer.
        let Ok(r) = Request::lookup(req) else { return Ok(()) };
        // A panic must not leave the client waiting forever: it gets the
        // same 500 as a handler that returned an error.
        match catch_unwind(AssertUnwindSafe(|| (self.0)(&r))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(code)) => Err(HandlerFailed { code }),
            Err(p) => {
                tracing::error!(
                    target: "squall::http",
                    "handler for {} {} panicked: {}",
                    r.method(),
                    r.path(),
                    crate::error::panic_message(&*p)
                );
                Err(HandlerFailed { code: -1 })
            }
        }
    }
}

impl Server {
    /// A server on `lp`. Nothing is bound until [`Server::listen`].
    pub fn new(lp: &Loop) -> Server {
        Server { core: Core::new(lp.handle().clone()) }
    }

    /// Adds a route: requests whose method is `method` ("GET", …; "*" for
    /// any) and whose whole path matches the regular expression `pattern`
    /// go to `handler`, which answers through the [`Request`] (now, or later
    /// with a [`RequestHandle`](super::RequestHandle)) and returns `Ok`. An
    /// `Err(code)` (or a panic) gets the client a 500, as a C handler's
    /// failure does; `code` is only logged. Routes are tried in the order
    /// they were added; a GET route also answers HEAD.
    pub fn route<F>(&self, method: &str, pattern: &str, handler: F) -> Result<()>
    where
        F: Fn(&Request) -> std::result::Result<(), i32> + Send + Sync + 'static,
    {
        let target = RouteTarget { handler: Arc::new(FnHandler(handler)), inline: false, stream_body: false, fallback: false };
        self.core.route(method, pattern, target)
    }

    /// Adds a route whose request bodies are not buffered (`SQ_STREAM_BODY`):
    /// `handler` runs as soon as the head has arrived, and takes the body
    /// with [`RequestHandle::on_body`](super::RequestHandle::on_body).
    /// While more than 1 MiB of body waits for the host, the connection is
    /// not read.
    pub fn route_streamed<F>(&self, method: &str, pattern: &str, handler: F) -> Result<()>
    where
        F: Fn(&Request) -> std::result::Result<(), i32> + Send + Sync + 'static,
    {
        let target = RouteTarget { handler: Arc::new(FnHandler(handler)), inline: false, stream_body: true, fallback: false };
        self.core.route(method, pattern, target)
    }

    /// The most connections open at once (`sq_server_set_max_connections`);
    /// beyond it, new connections are accepted and closed at once. Applies to
    /// connections accepted afterwards. `InvalidArg` below 1.
    pub fn set_max_connections(&self, max: usize) -> Result<()> {
        if max == 0 {
            return Err(crate::Error::new(crate::ErrorKind::InvalidArg, "max_connections must be at least 1"));
        }
        self.core.configure(|c| c.max_connections = max);
        Ok(())
    }

    /// The flow limits of connections accepted afterwards
    /// (`sq_server_set_flow_limits`): reading pauses while more than
    /// `high_water` (bytes plus 1 KiB per message or chunk) waits for the
    /// host or for the peer to read, and resumes below `low_water`.
    /// Defaults 1 MiB and 256 KiB. `InvalidArg` unless
    /// `4096 <= high_water` and `1 <= low_water <= high_water`.
    pub fn set_flow_limits(&self, high_water: usize, low_water: usize) -> Result<()> {
        self.core.set_flow_limits(high_water, low_water)
    }

    /// How long a peer may read none of the output waiting for it before
    /// its connection is closed (`sq_server_set_send_timeout_ms`; None: no
    /// limit). Default 60 s. Applies to connections accepted afterwards.
    pub fn set_send_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        let ms = timeout.map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1));
        if ms > 1 << 31 {
            return Err(crate::Error::new(crate::ErrorKind::InvalidArg, "the send timeout is at most 2^31 ms"));
        }
        self.core.configure(|c| c.send_timeout_ms = ms);
        Ok(())
    }

    /// The server's metrics in Prometheus' text format (docs/METRICS.md).
    pub fn metrics_text(&self) -> String {
        crate::metrics::prometheus(&self.core.metrics())
    }

    /// Adds a WebSocket route: GET requests whose path matches `pattern` are
    /// upgraded and their sockets' events go to `events`. WebSocket routes
    /// are matched before the HTTP routes.
    pub fn ws_route(&self, pattern: &str, events: impl ws::Events) -> Result<()> {
        self.core.upgrade_route(pattern, Arc::new(ws::route(events)))
    }

    /// [`Server::ws_route`] with options (permessage-deflate).
    pub fn ws_route_with(&self, pattern: &str, events: impl ws::Events, options: ws::RouteOptions) -> Result<()> {
        self.core.upgrade_route(pattern, Arc::new(ws::route_with(events, options)?))
    }

    /// Serves the files under `directory` at URLs starting with `url_prefix`.
    pub fn serve_static(&self, url_prefix: &str, directory: &str) -> Result<()> {
        self.core.add_static(url_prefix, directory)
    }

    /// Binds `addr` ("127.0.0.1:0", "[::1]:8080"; port 0 picks a free one)
    /// now and accepts once the loop runs. Returns the bound address.
    pub fn listen(&self, addr: &str) -> Result<SocketAddr> {
        let (host, port) = super::host_port(addr)?;
        self.core.listen(host, port)
    }

    /// Sends `msg` to every socket subscribed to `topic` on this server, on
    /// every reactor. Returns how many subscribers there were. Any thread.
    pub fn publish(&self, topic: &str, msg: Message<'_>) -> Result<usize> {
        let (binary, data) = msg.parts();
        crate::ws::ops::publish(&self.core.shared, topic, binary, data)
    }

    /// `publish`, the message never compressed for any subscriber (here or
    /// in the other processes of a cluster), whatever it negotiated: for a
    /// secret next to data an attacker chooses (CRIME, BREACH). Any thread.
    pub fn publish_uncompressed(&self, topic: &str, msg: Message<'_>) -> Result<usize> {
        let (binary, data) = msg.parts();
        crate::ws::ops::publish_with(&self.core.shared, topic, binary, false, data)
    }

    /// Makes `cluster` carry this server's topics across processes
    /// (`sq_cluster_attach`): publishes go to the other processes after the
    /// local fan-out, and theirs reach this server's subscribers.
    pub fn attach_cluster(&self, cluster: &super::Cluster) -> Result<()> {
        cluster.attach(&self.core.shared)
    }

    /// How many sockets are subscribed to `topic`, across every reactor.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.core.shared.ext::<crate::ws::topics::Registry>().subscribers(topic)
    }

    /// Shuts down gracefully: stops accepting, lets requests in flight
    /// finish, closes what is left after `deadline`, then runs `done` on the
    /// loop's thread. Any thread. `AlreadyDone` if asked twice.
    pub fn shutdown(&self, deadline: Duration, done: impl FnOnce() + Send + 'static) -> Result<()> {
        self.core.shutdown(deadline, Some(Task::Boxed(Box::new(done))))
    }
}
