//! Streams: a non-blocking TCP socket, plain or under TLS (rustls, ring
//! provider), read and written the same way by the HTTP and WebSocket
//! clients and, on the accepting side, by the HTTP server and the
//! WebSocket connections it upgrades. TLS is a layer of the stream: records
//! are read from and written to the socket here, and the protocols above
//! see plaintext. A client's certificates are verified by default against
//! the webpki roots (Mozilla's list, compiled in: no dependence on the
//! machine's store), or against a CA file the caller names. The server's
//! configuration (certificates, SNI) is in `net::tls_server`.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

use mio::net::TcpStream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection};

use crate::{Error, ErrorKind, Result};

/// A TLS client configuration and the identity the connection pool keys it
/// by (0: the default roots).
#[derive(Clone)]
pub(crate) struct TlsConfig {
    pub(crate) config: Arc<ClientConfig>,
    pub(crate) id: usize,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig").field("id", &self.id).finish_non_exhaustive()
    }
}

fn build(roots: RootCertStore) -> Result<Arc<ClientConfig>> {
    let mut config = builder(roots)?.with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn builder(roots: RootCertStore) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS configuration: {e}")))?
        .with_root_certificates(roots))
}

/// The certificates of the PEM file `path`, as trust anchors.
fn roots_from_file(path: &str) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("cannot read CA file {path:?}: {e}")))?;
    for cert in certs {
        let cert = cert.map_err(|e| Error::new(ErrorKind::InvalidArg, format!("bad certificate in {path:?}: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("unusable certificate in {path:?}: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::new(ErrorKind::InvalidArg, format!("no certificate in {path:?}")));
    }
    Ok(roots)
}

/// A client configuration for a protocol other than HTTP (no ALPN offered):
/// trusting only the certificates in the PEM file `ca` when given, else the
/// webpki roots; presenting the chain in the PEM file `identity.0` (leaf
/// first), signed for by the key in `identity.1`, to a server that asks for
/// a client certificate. The files are read now, on the calling thread;
/// each call makes a configuration of its own.
pub(crate) fn client_config(ca: Option<&str>, identity: Option<(&str, &str)>) -> Result<TlsConfig> {
    let invalid = |m: String| Error::new(ErrorKind::InvalidArg, m);
    let roots = match ca {
        Some(path) => roots_from_file(path)?,
        None => RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
    };
    let builder = builder(roots)?;
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .map_err(|e| invalid(format!("cannot read certificate file {cert:?}: {e}")))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| invalid(format!("bad certificate in {cert:?}: {e}")))?;
            if chain.is_empty() {
                return Err(invalid(format!("no certificate in {cert:?}")));
            }
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| invalid(format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1) in {key:?}: {e}")))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| invalid(format!("the client certificate {cert:?} with the key {key:?}: {e}")))?
        }
    };
    let config = Arc::new(config);
    Ok(TlsConfig { id: Arc::as_ptr(&config) as usize, config })
}

/// The default configuration: webpki roots.
pub(crate) fn default_config() -> Result<TlsConfig> {
    static DEFAULT: OnceLock<std::result::Result<TlsConfig, Error>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| {
            let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            build(roots).map(|config| TlsConfig { config, id: 0 })
        })
        .clone()
}

/// The pool key's TLS identity of connections made without verifying the
/// server's certificate ([`unverified_config`]): never the address of a
/// configuration (those are the ids of CA-file configurations), never 0.
pub(crate) const UNVERIFIED_ID: usize = 1;

/// Accepts any certificate chain the server presents (Tornado's
/// `validate_cert=False`, curl's `-k`, Go's `InsecureSkipVerify`): neither
/// the chain, nor its dates, nor the name it is for are checked. What stays
/// checked is the handshake itself: the server must sign it with the key of
/// the certificate it sent (so the session is with whoever holds that key,
/// and a tampered handshake still fails), with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The configuration that does not verify the server's certificate (see
/// [`AnyCertificate`]); made once, keyed by [`UNVERIFIED_ID`] in the pool
/// so its connections are never handed to a request that verifies.
pub(crate) fn unverified_config() -> Result<TlsConfig> {
    static UNVERIFIED: OnceLock<std::result::Result<TlsConfig, Error>> = OnceLock::new();
    UNVERIFIED
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AnyCertificate { algorithms: provider.signature_verification_algorithms });
            let mut config = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS configuration: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(TlsConfig { config: Arc::new(config), id: UNVERIFIED_ID })
        })
        .clone()
}

/// A configuration trusting only the certificates in the PEM file `path`
/// (loaded once per path; the file is read on the calling thread).
pub(crate) fn ca_file_config(path: &str) -> Result<TlsConfig> {
    static BY_PATH: Mutex<Option<HashMap<String, TlsConfig>>> = Mutex::new(None);
    let mut map = BY_PATH.lock().unwrap_or_else(|p| p.into_inner());
    let map = map.get_or_insert_with(HashMap::new);
    if let Some(c) = map.get(path) {
        return Ok(c.clone());
    }
    let config = build(roots_from_file(path)?)?;
    let tls = TlsConfig { id: Arc::as_ptr(&config) as usize, config };
    map.insert(path.to_owned(), tls.clone());
    Ok(tls)
}

/// A connected socket, plain or TLS (either side).
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stream::Plain(s) => f.debug_tuple("Plain").field(s).finish(),
            Stream::Tls(t) => f.debug_tuple("Tls").field(&t.sock).finish_non_exhaustive(),
        }
    }
}

/// A socket and the TLS connection over it.
pub(crate) struct TlsStream {
    sock: TcpStream,
    conn: Connection,
    /// A server stream that has not looked at its first byte yet (plain
    /// HTTP sent to the TLS port is told apart there).
    fresh: bool,
    /// What the handshake agreed on, made once it is done (shared by the
    /// requests of the connection).
    info: Option<Arc<TlsInfo>>,
}

/// What a server stream reports when the client spoke plain HTTP instead of
/// TLS (its first byte is an ASCII letter: a method, not a TLS record). The
/// bytes it sent were read and dropped; the socket is still open, so the
/// protocol above may answer in plaintext before closing.
#[derive(Debug)]
pub(crate) struct NotTls;

impl std::fmt::Display for NotTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TLS: the client sent plaintext to a TLS port")
    }
}

impl std::error::Error for NotTls {}

/// Whether `e` is [`NotTls`].
pub(crate) fn is_not_tls(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<NotTls>())
}

/// What a finished handshake agreed on (a request's view of its
/// connection's TLS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsInfo {
    /// 0x0303 for TLS 1.2, 0x0304 for TLS 1.3.
    pub(crate) version: u16,
    /// The IANA number of the cipher suite.
    pub(crate) cipher_suite: u16,
    /// The name the client asked for (SNI); empty if it sent none.
    pub(crate) server_name: String,
    /// The protocol agreed by ALPN; empty if none.
    pub(crate) alpn: Vec<u8>,
}

impl Stream {
    /// Starts TLS over a connected socket (the handshake runs as the stream
    /// is read and written).
    pub(crate) fn tls(sock: TcpStream, config: &TlsConfig, host: &str) -> Result<Stream> {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(bare.to_owned())
            .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("{host:?} is not a TLS server name: {e}")))?;
        let conn = ClientConnection::new(config.config.clone(), name)
            .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS: {e}")))?;
        Ok(Stream::Tls(Box::new(TlsStream { sock, conn: conn.into(), fresh: false, info: None })))
    }

    /// The accepting side of TLS over a socket just accepted: the handshake
    /// runs as the stream is read and written.
    pub(crate) fn tls_server(sock: TcpStream, config: &Arc<ServerConfig>) -> Result<Stream> {
        let conn = ServerConnection::new(config.clone()).map_err(|e| Error::new(ErrorKind::Tls, format!("TLS: {e}")))?;
        Ok(Stream::Tls(Box::new(TlsStream { sock, conn: conn.into(), fresh: true, info: None })))
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Whether a TLS handshake is still under way (false for plain).
    pub(crate) fn is_handshaking(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.conn.is_handshaking(),
        }
    }

    /// What the handshake agreed on (made once, then shared); None for a
    /// plain stream or while the handshake runs.
    pub(crate) fn tls_info(&mut self) -> Option<Arc<TlsInfo>> {
        let Stream::Tls(t) = self else { return None };
        if t.conn.is_handshaking() {
            return None;
        }
        if let Some(info) = &t.info {
            return Some(info.clone());
        }
        let server_name = match &t.conn {
            Connection::Server(s) => s.server_name().unwrap_or("").to_owned(),
            Connection::Client(_) => String::new(),
        };
        let info = Arc::new(TlsInfo {
            version: t.conn.protocol_version().map_or(0, u16::from),
            cipher_suite: t.conn.negotiated_cipher_suite().map_or(0, |s| u16::from(s.suite())),
            server_name,
            alpn: t.conn.alpn_protocol().map(<[u8]>::to_vec).unwrap_or_default(),
        });
        t.info = Some(info.clone());
        Some(info)
    }

    /// Writes several buffers in one call (`writev` on a plain socket).
    pub(crate) fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            // All the buffers go into the same records (rustls gathers
            // them), then out in one flush: a WebSocket frame's header and
            // payload are one record and one syscall, not two of each.
            Stream::Tls(b) => b.send(|w| w.write_vectored(bufs), bufs.iter().all(|b| b.is_empty())),
        }
    }

    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(b) => &mut b.sock,
        }
    }

    /// Reads plaintext. `Ok(0)` is the end of the stream (the peer's
    /// close_notify, or its EOF without one: HTTP's framing says whether
    /// what came was complete); `WouldBlock` means wait for readiness.
    /// Plaintext rustls holds is handed out before the socket is read
    /// again (its buffer is capped). A TLS failure is an `InvalidData`
    /// error whose message starts with "TLS", sent after the alert rustls
    /// queued for the peer (best effort); [`NotTls`] for plain HTTP sent to
    /// a server stream.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let t = match self {
            Stream::Plain(s) => return s.read(buf),
            Stream::Tls(b) => &mut **b,
        };
        loop {
            match t.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // Closed without close_notify: an end like any other for
                // HTTP, whose framing says whether the body was complete.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            if t.fresh {
                let mut first = [0u8; 1];
                match t.sock.peek(&mut first) {
                    Ok(0) => return Ok(0),
                    Ok(_) if first[0].is_ascii_alphabetic() => {
                        // Read what it sent (bounded), so that closing does
                        // not reset the connection before it reads an answer.
                        let mut sink = [0u8; 4096];
                        for _ in 0..16 {
                            match t.sock.read(&mut sink) {
                                Ok(n) if n == sink.len() => {}
                                _ => break,
                            }
                        }
                        return Err(io::Error::new(io::ErrorKind::InvalidData, NotTls));
                    }
                    Ok(_) => t.fresh = false,
                    Err(e) => return Err(e),
                }
            }
            match t.conn.read_tls(&mut t.sock) {
                Ok(0) => {
                    // EOF: let rustls see it, then report what the reader says.
                    t.conn.process_new_packets().map_err(tls_error)?;
                    return match t.conn.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                        Err(e) => Err(e),
                    };
                }
                Ok(_) => {
                    let state = t.conn.process_new_packets();
                    // Handshake messages and alerts rustls wants sent (a
                    // fatal alert before the error is reported).
                    let _ = write_tls(&mut t.sock, &mut t.conn);
                    state.map_err(tls_error)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes plaintext (TLS: encrypts and sends what the socket takes).
    /// Returns how much of `buf` was taken.
    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(b) => b.send(|w| w.write(buf), buf.is_empty()),
        }
    }

    /// Sends records rustls holds (handshake, buffered plaintext).
    /// `WouldBlock` when the socket is full.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(b) => write_tls(&mut b.sock, &mut b.conn),
        }
    }

    /// Whether output is held back (TLS records not yet on the socket).
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(b) => b.conn.wants_write(),
        }
    }

    /// Queues TLS's close_notify (once; nothing for a plain stream); it goes
    /// out with [`Stream::flush`].
    pub(crate) fn close_notify(&mut self) {
        if let Stream::Tls(b) = self
            && !b.conn.is_handshaking()
        {
            b.conn.send_close_notify();
        }
    }

    /// Drives a TLS handshake: reads and writes what it needs. Ok(true) once
    /// done; Ok(false) to wait for readiness.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        let (sock, tls) = match self {
            Stream::Plain(_) => return Ok(true),
            Stream::Tls(b) => (&mut b.sock, &mut b.conn),
        };
        loop {
            match write_tls(sock, tls) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(sock) {
                Ok(0) => {
                    return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "the server closed the connection during the TLS handshake"));
                }
                Ok(_) => {
                    let state = tls.process_new_packets();
                    let _ = write_tls(sock, tls);
                    state.map_err(tls_error)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

impl TlsStream {
    /// Encrypts what `take` hands rustls's writer and sends what the socket
    /// takes. Records already made go first: plaintext is only taken while
    /// the socket keeps up (the same backpressure as plain). Returns how
    /// much plaintext was taken, exactly: once rustls holds some, that is
    /// the answer even if sending then fails (the caller must not hand the
    /// same bytes again; the error comes back on the next call, from the
    /// records still held). `WouldBlock` when none was taken though `empty`
    /// is false.
    fn send(&mut self, take: impl FnOnce(&mut rustls::Writer<'_>) -> io::Result<usize>, empty: bool) -> io::Result<usize> {
        write_tls(&mut self.sock, &mut self.conn)?;
        // Taken into rustls's buffer (bounded by its limit), then sent.
        let n = take(&mut self.conn.writer())?;
        let sent = write_tls(&mut self.sock, &mut self.conn);
        if n > 0 {
            return Ok(n);
        }
        sent?;
        if !empty {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(0)
    }
}

/// Sends the records rustls holds until it holds none (`Ok`) or the socket
/// is full (`WouldBlock`); a signal's interruption is retried.
fn write_tls(sock: &mut TcpStream, tls: &mut Connection) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("TLS: {e}"))
}

/// Whether an I/O error came from TLS (see [`Stream::read`]).
pub(crate) fn is_tls_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::InvalidData && e.to_string().starts_with("TLS")
}

impl io::Read for Stream {
    /// Plaintext, as [`Stream::read`] says.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Stream::read(self, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::danger::ServerCertVerifier;

    /// Unverified: any chain and name pass; the handshake's signatures go
    /// to the provider's checks (a handshake against a real server is in
    /// the Python suite).
    #[test]
    fn an_unverified_configuration_still_checks_handshake_signatures() {
        let tls = unverified_config().unwrap();
        assert_eq!(tls.id, UNVERIFIED_ID);
        assert_ne!(default_config().unwrap().id, UNVERIFIED_ID);
        let provider = rustls::crypto::ring::default_provider();
        let v = AnyCertificate { algorithms: provider.signature_verification_algorithms };
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let name = ServerName::try_from("wrong.test").unwrap();
        assert!(v.verify_server_cert(&junk, &[], &name, &[], rustls::pki_types::UnixTime::now()).is_ok());
        // The schemes offered are the provider's, all of them checked.
        assert_eq!(v.supported_verify_schemes(), provider.signature_verification_algorithms.supported_schemes());
        assert!(!v.supported_verify_schemes().is_empty());
    }
}
