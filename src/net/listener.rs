//! Listening sockets: bound when the host asks (so the port is known at
//! once, port 0 giving an ephemeral one), registered with the reactors when
//! the loop starts. With several reactors each gets its own socket on the
//! same address (SO_REUSEPORT) and the kernel spreads connections.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use socket2::{Domain, Protocol, Socket, Type};

use crate::{Error, ErrorKind, Result};

/// Default listen backlog (what `listen(2)` gets unless the host sets one).
pub(crate) const DEFAULT_BACKLOG: i32 = 1024;

/// Resolves `host:port` to the first address (numeric hosts never block;
/// "localhost" goes through the system resolver once, at bind time).
pub(crate) fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("cannot resolve {host:?}: {e}")))?
        .next()
        .ok_or_else(|| Error::new(ErrorKind::InvalidArg, format!("{host:?} resolves to no address")))
}

/// Binds a non-blocking, close-on-exec listening socket with SO_REUSEADDR
/// and SO_REUSEPORT (so that siblings can share the address).
pub(crate) fn bind(addr: SocketAddr, backlog: i32) -> Result<TcpListener> {
    let err = |what: &str, e: std::io::Error| Error::io(&format!("{what} {addr}"), e);
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))
        .map_err(|e| err("socket for", e))?;
    socket.set_reuse_address(true).map_err(|e| err("SO_REUSEADDR on", e))?;
    socket.set_reuse_port(true).map_err(|e| err("SO_REUSEPORT on", e))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(|e| err("IPV6_V6ONLY on", e))?;
    }
    socket.bind(&addr.into()).map_err(|e| err("bind", e))?;
    socket.listen(backlog).map_err(|e| err("listen on", e))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_port_and_reuseport_sibling() {
        let a = bind(resolve("127.0.0.1", 0).unwrap(), 16).unwrap();
        let addr = a.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let b = bind(addr, 16).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        assert!(resolve("no such host name.invalid", 1).is_err());
    }
}
