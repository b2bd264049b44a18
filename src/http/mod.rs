//! HTTP/1.1: sans-IO framing (`h1`, `response`), the router, the server
//! glue that runs on the reactors (`conn`) and the host (`request`), and the
//! client (`client`).

pub(crate) mod accept;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod grammar;
pub(crate) mod h1;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod router;
pub(crate) mod server;
pub(crate) mod shared;
pub(crate) mod static_files;
pub(crate) mod upgrade;

pub(crate) use request::lookup_request;
