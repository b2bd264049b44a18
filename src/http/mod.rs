//! HTTP/1.1: sans-IO framing (`h1`, `response`), the router, the server
//! glue that runs on the reactors (`conn`) and the host (`request`), and the
//! client (`client`).

use std::sync::LazyLock;

use crate::reactor::handles::{HandleTable, Stale};

pub(crate) mod accept;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod h1;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod static_files;
pub(crate) mod upgrade;

/// Every request in flight in the process, by handle. One table for all
/// servers, so that a handle alone finds its request.
pub(crate) static REQUESTS: LazyLock<HandleTable<request::Request>> = LazyLock::new(HandleTable::default);

/// The request behind a handle.
pub(crate) fn lookup_request(handle: u64) -> Result<std::sync::Arc<request::Request>, Stale> {
    REQUESTS.get(handle)
}

/// Appends `src` to `dst`, moving it instead of copying when `dst` is empty.
pub(crate) fn append_bytes(dst: &mut Vec<u8>, src: Vec<u8>) {
    if dst.is_empty() {
        *dst = src;
    } else {
        dst.extend_from_slice(&src);
    }
}
