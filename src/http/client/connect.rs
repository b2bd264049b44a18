//! Making a client connection on a reactor: resolve the host on the
//! resolver threads, connect to each address in turn, then the TLS
//! handshake when asked, all within one connect deadline. Shared by the
//! HTTP client and the WebSocket client; the source that owns a
//! [`Connector`] implements [`Connects`] to hear how it went.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use crate::reactor::watcher::Watcher;
use crate::net::tls::{Stream, TlsConfig, is_tls_error};
use crate::reactor::Reactor;
use crate::{Error, ErrorKind};

/// Where a connection attempt is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Resolving,
    Connecting,
    Handshaking,
    Done,
}

/// What a step of the connector came to.
#[derive(Debug)]
pub(crate) enum Progress {
    Pending,
    /// Connected (and TLS done): take the stream with [`Connector::take`].
    Ready,
    Failed(Error),
}

/// A source that owns a [`Connector`].
pub(crate) trait Connects: Watcher {
    fn connector(&mut self) -> &mut Connector;
    /// The outcome of a step that ran outside the source's own methods
    /// (the resolver's answer). Returns whether the source lives on.
    fn progressed(&mut self, r: &mut Reactor, p: Progress) -> bool;
}

/// One connection attempt.
pub(crate) struct Connector {
    pub(crate) host: String,
    pub(crate) port: u16,
    tls: Option<TlsConfig>,
    state: State,
    addrs: Vec<SocketAddr>,
    next: usize,
    last_error: Option<io::Error>,
    stream: Option<Stream>,
    pub(crate) deadline: Option<Instant>,
    pub(crate) namelookup: Option<Instant>,
    pub(crate) connected: Option<Instant>,
    pub(crate) tls_done: Option<Instant>,
    token: usize,
    /// The local address to bind before connecting (None: the system's).
    source: Option<IpAddr>,
    /// Resolved and connected to instead of `host:port` (which stays the
    /// TLS name): curl's `--connect-to`.
    connect_to: Option<(String, u16)>,
    /// 0: any address family; 4 or 6: only that one.
    family: u8,
}

impl Connector {
    /// An attempt at `host:port` (TLS with `tls` when given), to be over
    /// by `deadline`.
    pub(crate) fn new(host: &str, port: u16, tls: Option<TlsConfig>, deadline: Option<Instant>) -> Connector {
        Connector {
            host: host.to_owned(),
            port,
            tls,
            state: State::Resolving,
            addrs: Vec::new(),
            next: 0,
            last_error: None,
            stream: None,
            deadline,
            namelookup: None,
            connected: None,
            tls_done: None,
            token: 0,
            source: None,
            connect_to: None,
            family: 0,
        }
    }

    /// Connects to `connect_to` instead of the host and port (the host stays
    /// the TLS server name), and only to addresses of `family` (4 or 6; 0:
    /// any).
    pub(crate) fn via(mut self, connect_to: Option<(String, u16)>, family: u8) -> Connector {
        self.connect_to = connect_to;
        self.family = family;
        self
    }

    /// Makes the connection from the local address `source` (port chosen by
    /// the system), when given. An address of the other family than the
    /// peer's is skipped like a peer that refuses.
    pub(crate) fn bound_to(mut self, source: Option<IpAddr>) -> Connector {
        self.source = source;
        self
    }

    /// A non-blocking connect to `addr`, from `self.source` when set.
    fn open(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let Some(ip) = self.source else { return TcpStream::connect(addr) };
        if ip.is_ipv4() != addr.is_ipv4() {
            return Err(io::Error::new(io::ErrorKind::AddrNotAvailable, format!("source address {ip} cannot reach {addr}")));
        }
        let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
        sock.set_nonblocking(true)?;
        sock.set_cloexec(true)?;
        sock.bind(&SocketAddr::new(ip, 0).into())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot bind the source address {ip}: {e}")))?;
        match sock.connect(&addr.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_std(sock.into()))
    }

    /// Starts resolving for the source `T` at (token, generation).
    pub(crate) fn start<T: Connects>(&mut self, r: &mut Reactor, token: usize, generation: u64) {
        self.token = token;
        if let Some(d) = self.deadline {
            r.wake_at(d);
        }
        let link = r.loop_handle.reactor_link(r.index).cloned();
        let (host, port) = self.connect_to.clone().unwrap_or_else(|| (self.host.clone(), self.port));
        crate::net::resolve::resolve(&host, port, move |result| {
            if let Some(link) = link {
                link.send(Box::new(move |r: &mut Reactor| {
                    r.with_watcher_as::<T, _>(token, Some(generation), |r, t| {
                        let p = t.connector().resolved(r, result);
                        t.progressed(r, p)
                    });
                }));
            }
        });
    }

    fn resolved(&mut self, r: &mut Reactor, result: io::Result<Vec<SocketAddr>>) -> Progress {
        if self.state != State::Resolving {
            return Progress::Pending;
        }
        self.namelookup = Some(Instant::now());
        match result {
            Ok(mut addrs) => {
                match self.family {
                    4 => addrs.retain(SocketAddr::is_ipv4),
                    6 => addrs.retain(SocketAddr::is_ipv6),
                    _ => {}
                }
                if addrs.is_empty() {
                    let which = if self.family == 4 { "IPv4" } else { "IPv6" };
                    return self.fail(Error::new(ErrorKind::Resolve, format!("cannot resolve {}: no {which} address", self.host)));
                }
                self.addrs = addrs;
                self.try_next(r)
            }
            Err(e) => self.fail(Error::new(ErrorKind::Resolve, format!("cannot resolve {}: {e}", self.host))),
        }
    }

    fn fail(&mut self, e: Error) -> Progress {
        self.state = State::Done;
        Progress::Failed(e)
    }

    fn try_next(&mut self, r: &mut Reactor) -> Progress {
        while let Some(&addr) = self.addrs.get(self.next) {
            self.next += 1;
            match self.open(addr) {
                Ok(mut s) => match r.registry().register(&mut s, Token(self.token), Interest::READABLE | Interest::WRITABLE) {
                    Ok(()) => {
                        self.stream = Some(Stream::Plain(s));
                        self.state = State::Connecting;
                        return Progress::Pending;
                    }
                    Err(e) => self.last_error = Some(e),
                },
                Err(e) => self.last_error = Some(e),
            }
        }
        let why = self.last_error.take().map_or_else(|| "no address".to_owned(), |e| e.to_string());
        let msg = format!("cannot connect to {}:{}: {why}", self.host, self.port);
        self.fail(Error::new(ErrorKind::Connect, msg))
    }

    fn drop_socket(&mut self, r: &mut Reactor) {
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
    }

    /// Readiness on the socket while connecting or in the TLS handshake.
    pub(crate) fn ready(&mut self, r: &mut Reactor) -> Progress {
        match self.state {
            State::Connecting => self.on_connecting(r),
            State::Handshaking => self.on_handshake(),
            State::Resolving | State::Done => Progress::Pending,
        }
    }

    fn on_connecting(&mut self, r: &mut Reactor) -> Progress {
        let Some(Stream::Plain(s)) = self.stream.as_mut() else { return Progress::Pending };
        let failed = match s.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match s.peer_addr() {
                Ok(_) => None,
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return Progress::Pending,
                Err(e) => Some(e),
            },
        };
        if let Some(e) = failed {
            self.last_error = Some(e);
            self.drop_socket(r);
            return self.try_next(r);
        }
        let _ = s.set_nodelay(true);
        self.connected = Some(Instant::now());
        let Some(tls) = self.tls.clone() else {
            self.state = State::Done;
            return Progress::Ready;
        };
        let Some(Stream::Plain(s)) = self.stream.take() else { return Progress::Pending };
        match Stream::tls(s, &tls, &self.host) {
            Ok(st) => self.stream = Some(st),
            Err(e) => return self.fail(e),
        }
        self.state = State::Handshaking;
        self.on_handshake()
    }

    fn on_handshake(&mut self) -> Progress {
        let Some(st) = self.stream.as_mut() else { return Progress::Pending };
        match st.handshake() {
            Ok(true) => {
                self.tls_done = Some(Instant::now());
                self.state = State::Done;
                Progress::Ready
            }
            Ok(false) => Progress::Pending,
            Err(e) => {
                let kind = if is_tls_error(&e) { ErrorKind::Tls } else { ErrorKind::Connect };
                let msg = format!("TLS handshake with {}:{} failed: {e}", self.host, self.port);
                self.fail(Error::new(kind, msg))
            }
        }
    }

    /// The connect deadline passed: the error to fail with.
    pub(crate) fn timed_out(&mut self, r: &mut Reactor, now: Instant, timeout_ms: u128) -> Option<Error> {
        if self.state == State::Done || self.deadline.is_none_or(|d| d > now) {
            return None;
        }
        let (host, port) = (self.host.clone(), self.port);
        // Said as Tornado says it, then how long it was.
        let what = match self.state {
            State::Resolving => format!("Timeout while resolving {host}"),
            State::Handshaking => format!("Timeout during TLS handshake with {host}:{port}"),
            State::Connecting | State::Done => format!("Timeout while connecting to {host}:{port}"),
        };
        self.drop_socket(r);
        self.state = State::Done;
        Some(Error::new(ErrorKind::Timeout, format!("{what} (connect to {host}:{port} timed out after {timeout_ms} ms)")))
    }

    /// The connected stream (after `Ready`).
    pub(crate) fn take(&mut self) -> Option<Stream> {
        self.stream.take()
    }

    /// Abandons the attempt, closing its socket.
    pub(crate) fn abandon(&mut self, r: &mut Reactor) {
        self.drop_socket(r);
        self.state = State::Done;
    }
}
