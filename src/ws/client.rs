//! The WebSocket client: connect (the shared connector:
//! resolve, each address, TLS for wss://), send the opening handshake,
//! check the server's 101 (RFC 6455 §4.1), then become a WebSocket like
//! the server's, with the same handle, events and limits — and every
//! frame it sends masked. A failure before the socket opens is reported
//! through `SocketEvents::connect_failed`.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use tungstenite::protocol::Role;

use super::conn::Opening;
use super::route::WsRoute;
use crate::http::client::response::{DecodeError, Event as Ev, ResponseDecoder, ResponseHead};
use crate::http::request::ConnAddr;
use crate::http::shared::ServerShared;
use crate::http::client::connect::{Connector, Connects, Progress};
use crate::reactor::watcher::{Step, Stop, Watcher};
use crate::net::tls::{Stream, TlsConfig};
use crate::reactor::{LoopHandle, Reactor};
use crate::{Error, ErrorKind, Result};
use super::deflate::offer::{Agreed, client_accepts};

/// What the WebSocket client's sockets of one reactor belong to (made on
/// first use): a server object with no routes and no listeners, so that
/// the connection code needs no second kind of owner.
#[derive(Default)]
pub(crate) struct ClientOwner(Option<Arc<ServerShared>>);

/// What a client connection asks for beyond the route-like options.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    /// Resolve, connect, TLS and the handshake, all within this (0: none).
    pub(crate) connect_timeout: Duration,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// Trust for wss:// (None: the default roots).
    pub(crate) tls: Option<TlsConfig>,
    /// Offer permessage-deflate (`permessage-deflate;
    /// client_max_window_bits`, as browsers do).
    pub(crate) deflate: bool,
    /// Offer `client_no_context_takeover` too (RFC 7692 §7.1.1.2): this
    /// client compresses each message on its own, keeping no context
    /// between messages, whatever the server answers.
    pub(crate) deflate_no_context_takeover: bool,
}

/// Starts a connection to `url` (ws:// or wss://) from any thread.
pub(crate) fn connect(lp: &LoopHandle, url: &str, route: WsRoute, opts: ClientOptions) -> Result<()> {
    lp.check_usable()?;
    let url = crate::http::client::parse_url(url, &["ws", "wss"])?;
    for (n, v) in &opts.headers {
        crate::http::client::check_header(n, v)?;
    }
    let tls = if url.scheme() == "wss" {
        Some(match opts.tls.clone() {
            Some(t) => t,
            None => crate::net::tls::default_config()?,
        })
    } else {
        None
    };
    let h = lp.clone();
    let route = Arc::new(route);
    lp.when_started(Box::new(move || {
        let cmd = Box::new(move |r: &mut Reactor| {
            r.loop_handle.client_stats().inc(crate::metrics::ClientCounter::WsConnects);
            WsConnecting::start(r, url, route, opts, tls)
        });
        if let Err(e) = h.send_to_reactor(0, cmd) {
            tracing::debug!(target: "squall::ws", "a WebSocket connect was dropped: {e}");
        }
    }));
    Ok(())
}

/// A client WebSocket from its connect to its 101.
struct WsConnecting {
    connector: Connector,
    url: url::Url,
    route: Arc<WsRoute>,
    opts: ClientOptions,
    key: String,
    stream: Option<Stream>,
    out: Vec<u8>,
    out_pos: usize,
    rbuf: Vec<u8>,
    decoder: ResponseDecoder,
    deadline: Option<Instant>,
    token: usize,
    generation: u64,
    done: bool,
}

impl WsConnecting {
    fn start(r: &mut Reactor, url: url::Url, route: Arc<WsRoute>, opts: ClientOptions, tls: Option<TlsConfig>) {
        use base64::Engine as _;
        let deadline = (!opts.connect_timeout.is_zero()).then(|| Instant::now() + opts.connect_timeout);
        let host = url.host_str().unwrap_or("").to_owned();
        let port = url.port_or_known_default().unwrap_or(80);
        let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
        let c = WsConnecting {
            connector: Connector::new(&host, port, tls, deadline),
            url,
            route,
            opts,
            key,
            stream: None,
            out: Vec::new(),
            out_pos: 0,
            rbuf: Vec::new(),
            decoder: ResponseDecoder::new(false, true),
            deadline,
            token: 0,
            generation: 0,
            done: false,
        };
        r.insert(Box::new(c), |r, d, token, generation| {
            let Some(c) = d.as_any().downcast_mut::<WsConnecting>() else { return false };
            c.token = token;
            c.generation = generation;
            c.connector.start::<WsConnecting>(r, token, generation);
            true
        });
    }

    /// The opening handshake's request.
    fn request(&self) -> Vec<u8> {
        let u = &self.url;
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"GET ");
        out.extend_from_slice(u.path().as_bytes());
        if let Some(q) = u.query() {
            out.push(b'?');
            out.extend_from_slice(q.as_bytes());
        }
        out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        out.extend_from_slice(u.host_str().unwrap_or("").as_bytes());
        if let Some(p) = u.port() {
            out.extend_from_slice(format!(":{p}").as_bytes());
        }
        out.extend_from_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ");
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !self.route.opts.protocols.is_empty() {
            out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
            out.extend_from_slice(self.route.opts.protocols.join(", ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.opts.deflate && self.opts.deflate_no_context_takeover {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; client_max_window_bits\r\n");
        } else if self.opts.deflate {
            out.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n");
        }
        let reserved = ["host", "upgrade", "connection", "sec-websocket-version", "sec-websocket-key", "sec-websocket-protocol", "sec-websocket-extensions"];
        let mut agent = false;
        for (n, v) in &self.opts.headers {
            if reserved.iter().any(|h| n.eq_ignore_ascii_case(h)) {
                continue;
            }
            agent |= n.eq_ignore_ascii_case("user-agent");
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !agent {
            out.extend_from_slice(concat!("User-Agent: squall/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// Tells the host the connection failed and ends.
    fn fail(&mut self, r: &mut Reactor, e: Error) -> bool {
        if !self.done {
            r.loop_handle.client_stats().inc(crate::metrics::ClientCounter::WsFailed);
        }
        self.done = true;
        self.connector.abandon(r);
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
        tracing::debug!(target: "squall::ws", "WebSocket connect to {} failed: {}", self.url, e.message());
        if self.route.interest.connect_error {
            let route = self.route.clone();
            let task = move || route.events.connect_failed(&e);
            if self.route.opts.inline {
                task();
            } else {
                r.deliver(false, task);
            }
        }
        false
    }

    fn write_out(&mut self, r: &mut Reactor) -> bool {
        let Some(st) = self.stream.as_mut() else { return false };
        while self.out_pos < self.out.len() {
            match st.write(&self.out[self.out_pos..]) {
                Ok(0) => return self.fail(r, Error::new(ErrorKind::Closed, "the server closed the connection")),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.io_failed(r, e),
            }
        }
        match st.flush() {
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => self.io_failed(r, e),
            _ => true,
        }
    }

    fn io_failed(&mut self, r: &mut Reactor, e: io::Error) -> bool {
        let kind = if crate::net::tls::is_tls_error(&e) { ErrorKind::Tls } else { ErrorKind::Closed };
        self.fail(r, Error::new(kind, format!("WebSocket handshake with {}: {e}", self.url)))
    }

    fn read(&mut self, r: &mut Reactor) -> bool {
        let mut buf = [0u8; 4096];
        loop {
            let Some(st) = self.stream.as_mut() else { return false };
            match st.read(&mut buf) {
                Ok(0) => {
                    return self.fail(r, Error::new(ErrorKind::Closed, "the server closed the connection during the WebSocket handshake"));
                }
                Ok(n) => {
                    self.rbuf.extend_from_slice(&buf[..n]);
                    loop {
                        match self.decoder.decode(&self.rbuf) {
                            Ok((used, Ev::Head(head))) => {
                                self.rbuf.drain(..used);
                                return self.on_response(r, head);
                            }
                            Ok((0, _)) => break,
                            Ok((used, _)) => {
                                self.rbuf.drain(..used);
                            }
                            Err(DecodeError::Protocol(why)) => {
                                return self.fail(r, Error::new(ErrorKind::Protocol, format!("bad handshake response: {why}")));
                            }
                            Err(DecodeError::Closed { .. }) => return self.fail(r, Error::new(ErrorKind::Closed, "closed")),
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.io_failed(r, e),
            }
        }
    }

    /// Checks the 101 and opens the WebSocket in this token's slot.
    fn on_response(&mut self, r: &mut Reactor, head: ResponseHead) -> bool {
        let (protocol, mut deflate) = match check_response(&head, &self.key, &self.route.opts.protocols, self.opts.deflate) {
            Ok(p) => p,
            Err(e) => return self.fail(r, e),
        };
        // Offered: our compressor keeps no context even where the server's
        // answer leaves it out (a compressor may always start afresh).
        if let Some(a) = deflate.as_mut()
            && self.opts.deflate_no_context_takeover
        {
            a.client_no_context_takeover = true;
        }
        let Some(stream) = self.stream.take() else { return false };
        self.done = true;
        r.loop_handle.client_stats().inc(crate::metrics::ClientCounter::WsOpened);
        let loop_handle = r.loop_handle.clone();
        let server = r.ext::<ClientOwner>().0.get_or_insert_with(|| ServerShared::new(loop_handle)).clone();
        server.connections.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let addr = ConnAddr { reactor: r.index, token: self.token, generation: self.generation };
        let conn = Opening {
            stream,
            role: Role::Client,
            deflate,
            protocol,
            leftover: std::mem::take(&mut self.rbuf),
            read_closed: false,
            hello: Vec::new(),
            response_headers: head.headers,
        };
        // Puts the WebSocket into this slot: `false` below hands it over.
        super::conn::open(r, addr, server, self.route.clone(), conn, None);
        false
    }
}

/// Checks a handshake response (RFC 6455 §4.1, the client's checks): the
/// subprotocol the server chose, if any, and permessage-deflate as the
/// server accepted it, if it did (`deflate`: we offered it).
fn check_response(head: &ResponseHead, key: &str, offered: &[String], deflate: bool) -> Result<(Option<String>, Option<Agreed>)> {
    let bad = |why: String| Err(Error::new(ErrorKind::Protocol, why));
    if head.status != 101 {
        return bad(format!("the server answered {} {} instead of 101 Switching Protocols", head.status, head.reason));
    }
    let has_token = |name: &str, token: &str| {
        head.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    };
    if !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return bad("the 101 response lacks Upgrade: websocket / Connection: Upgrade".into());
    }
    let want = tungstenite::handshake::derive_accept_key(key.as_bytes());
    if head.header("sec-websocket-accept").map(<[u8]>::trim_ascii) != Some(want.as_bytes()) {
        return bad("Sec-WebSocket-Accept does not match the key".into());
    }
    let extensions: Vec<&[u8]> = head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-extensions")).map(|(_, v)| v.as_slice()).collect();
    let agreed = match extensions.as_slice() {
        [] => None,
        [v] if deflate => match client_accepts(&String::from_utf8_lossy(v)) {
            Ok(a) => Some(a),
            Err(why) => return bad(format!("the server's permessage-deflate answer: {why}")),
        },
        [_] => return bad("the server chose an extension that was not offered".into()),
        _ => return bad("the server answered Sec-WebSocket-Extensions more than once".into()),
    };
    let protocol = match head.header("sec-websocket-protocol") {
        None => None,
        Some(p) => {
            let p = String::from_utf8_lossy(p).trim().to_owned();
            if !offered.contains(&p) {
                return bad(format!("the server chose subprotocol {p:?}, which was not offered"));
            }
            Some(p)
        }
    };
    Ok((protocol, agreed))
}

impl Connects for WsConnecting {
    fn connector(&mut self) -> &mut Connector {
        &mut self.connector
    }

    fn progressed(&mut self, r: &mut Reactor, p: Progress) -> bool {
        match p {
            Progress::Pending => !self.done,
            Progress::Ready => {
                self.stream = self.connector.take();
                self.out = self.request();
                self.write_out(r)
            }
            Progress::Failed(e) => self.fail(r, e),
        }
    }
}

impl Watcher for WsConnecting {
    fn ready(&mut self, r: &mut Reactor, _token: usize, ev: &Event) -> Step {
        if self.done {
            return Step::Close;
        }
        let (readable, writable, _) = crate::reactor::readiness(ev);
        if self.stream.is_none() {
            let p = self.connector.ready(r);
            return self.progressed(r, p).into();
        }
        if writable && !self.write_out(r) {
            return Step::Close;
        }
        Step::from(if readable { self.read(r) } else { true })
    }

    fn tick(&mut self, r: &mut Reactor, _token: usize) -> Step {
        if self.done {
            return Step::Close;
        }
        let now = r.now;
        let ms = self.opts.connect_timeout.as_millis();
        if let Some(e) = self.connector.timed_out(r, now, ms) {
            return self.fail(r, e).into();
        }
        if self.deadline.is_some_and(|d| d <= now) {
            let msg = format!("WebSocket handshake with {} timed out after {ms} ms", self.url);
            return self.fail(r, Error::new(ErrorKind::Timeout, msg)).into();
        }
        if let Some(d) = self.deadline {
            r.wake_at(d);
        }
        Step::Keep
    }

    fn flush(&mut self, r: &mut Reactor, _token: usize) -> Step {
        Step::from(if self.stream.is_some() { self.write_out(r) } else { !self.done })
    }

    fn stop(&mut self, r: &mut Reactor, _token: usize, _how: Stop) -> Step {
        self.done = true;
        self.connector.abandon(r);
        if let Some(mut s) = self.stream.take() {
            let _ = r.registry().deregister(s.socket());
        }
        Step::Close
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// The first response head in `bytes`, decoded as a WebSocket client does.
fn first_response_head(bytes: &[u8]) -> Option<ResponseHead> {
    let mut d = ResponseDecoder::new(false, true);
    let mut pos = 0;
    loop {
        match d.decode(&bytes[pos..]) {
            Ok((_, Ev::Head(head))) => return Some(head),
            Ok((0, _)) | Err(_) => return None,
            Ok((used, _)) => pos += used,
        }
    }
}

/// The `ws_handshake` fuzz target's driver. `data` is a request, a NUL, and
/// a response. The request goes through the server's checks (the HTTP/1.1
/// decoder, then RFC 6455 §4.2.1): one that passes must yield a valid key,
/// and the 101 the server writes for it must pass this client's own checks
/// with the subprotocol the server chose. The response goes through the
/// client's checks for a fixed key: one that passes must be a 101 carrying
/// that key's accept value and one of the offered subprotocols. Panics only
/// on a bug.
pub(crate) fn fuzz_handshake(data: &[u8]) {
    use crate::http::h1::{Decoded, Decoder, Limits};
    use super::handshake;
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (request, response) = (&data[..split], data.get(split + 1..).unwrap_or_default());

    let mut d = Decoder::new(Limits::default(), 0);
    let mut pos = 0;
    let head = loop {
        match d.decode(&request[pos..], 0) {
            Ok((_, Decoded::Head(head))) => break Some(head),
            Ok((0, _)) | Err(_) => break None,
            Ok((used, _)) => pos += used,
        }
    };
    if let Some(head) = head {
        let checked = handshake::check(&head);
        assert_eq!(checked, handshake::check(&head), "the check is not a function of the head");
        if let Ok(up) = checked {
            let key = up.key.as_bytes();
            assert!(key.len() == 24 && key.ends_with(b"=="), "accepted key {:?}", up.key);
            let _ = handshake::same_origin(up.origin.as_deref(), &up.host);
            let chosen = handshake::select_protocol(&up.protocols, &up.protocols[..up.protocols.len().min(1)]);
            let mut hello = Vec::new();
            handshake::accept(&mut hello, &up.key, chosen.as_deref(), None, &[], b"Mon, 07 Dec 2026 12:00:00 GMT");
            let rh = first_response_head(&hello).expect("the server's 101 decodes");
            match check_response(&rh, &up.key, &up.protocols, false) {
                Ok((p, None)) => assert_eq!(p, chosen),
                Ok((_, Some(_))) => panic!("no extension was in the 101"),
                Err(e) => panic!("the server's own 101 is refused by the client: {e}"),
            }
        }
    }

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    let offered = ["chat".to_owned(), "superchat".to_owned()];
    if let Some(rh) = first_response_head(response)
        && let Ok((p, _)) = check_response(&rh, KEY, &offered, true)
    {
        assert_eq!(rh.status, 101);
        assert_eq!(
            rh.header("sec-websocket-accept").map(<[u8]>::trim_ascii),
            Some(tungstenite::handshake::derive_accept_key(KEY.as_bytes()).as_bytes())
        );
        assert!(p.is_none_or(|p| offered.contains(&p)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::client::response::Framing;

    fn head(status: u16, headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            status,
            reason: "x".into(),
            version_minor: 1,
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), v.as_bytes().to_vec())).collect(),
            framing: Framing::None,
            keep_alive: false,
        }
    }

    #[test]
    fn handshake_response_checks() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        let good = [("Upgrade", "WebSocket"), ("Connection", "keep-alive, Upgrade"), ("Sec-WebSocket-Accept", accept)];
        assert_eq!(check_response(&head(101, &good), key, &[], false).unwrap(), (None, None));
        let mut with_proto = good.to_vec();
        with_proto.push(("Sec-WebSocket-Protocol", "chat"));
        assert_eq!(check_response(&head(101, &with_proto), key, &["x".into(), "chat".into()], false).unwrap(), (Some("chat".into()), None));
        assert!(check_response(&head(101, &with_proto), key, &["x".into()], false).is_err());
        assert!(check_response(&head(200, &good), key, &[], false).is_err());
        assert!(check_response(&head(101, &good[..2]), key, &[], false).is_err());
        let wrong = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "AAAA")];
        assert!(check_response(&head(101, &wrong), key, &[], false).is_err());
        let mut ext = good.to_vec();
        ext.push(("Sec-WebSocket-Extensions", "permessage-deflate"));
        assert!(check_response(&head(101, &ext), key, &[], false).is_err(), "not offered");
        // offered: the answer is parsed; a malformed one fails the connection
        let (_, a) = check_response(&head(101, &ext), key, &[], true).unwrap();
        let a = a.expect("accepted");
        assert!(!a.server_no_context_takeover && a.client_max_window_bits == 15);
        for (answer, ok) in [
            ("permessage-deflate; server_no_context_takeover; client_max_window_bits=10", true),
            ("permessage-deflate; client_max_window_bits", false),
            ("permessage-deflate; bogus", false),
            ("permessage-deflate, permessage-deflate", false),
            ("x-other", false),
        ] {
            let mut h = good.to_vec();
            h.push(("Sec-WebSocket-Extensions", answer));
            assert_eq!(check_response(&head(101, &h), key, &[], true).is_ok(), ok, "{answer}");
        }
        // a server that accepts nothing is fine
        assert_eq!(check_response(&head(101, &good), key, &[], true).unwrap(), (None, None));
    }
}
