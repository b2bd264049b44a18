//! Client streams: a non-blocking TCP socket, plain or under TLS (rustls,
//! ring provider), read and written the same way by the HTTP and WebSocket
//! clients. Certificates are verified by default against the webpki roots
//! (Mozilla's list, compiled in: no dependence on the machine's store), or
//! against a CA file the caller names.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, OnceLock};

use mio::net::TcpStream;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use rustls::{ClientConfig, ClientConnection, RootCertStore};

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
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("TLS configuration: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
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

/// A configuration trusting only the certificates in the PEM file `path`
/// (loaded once per path; the file is read on the calling thread).
pub(crate) fn ca_file_config(path: &str) -> Result<TlsConfig> {
    static BY_PATH: Mutex<Option<HashMap<String, TlsConfig>>> = Mutex::new(None);
    let mut map = BY_PATH.lock().unwrap_or_else(|p| p.into_inner());
    let map = map.get_or_insert_with(HashMap::new);
    if let Some(c) = map.get(path) {
        return Ok(c.clone());
    }
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
    let config = build(roots)?;
    let tls = TlsConfig { id: Arc::as_ptr(&config) as usize, config };
    map.insert(path.to_owned(), tls.clone());
    Ok(tls)
}

/// A connected client socket, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<(TcpStream, ClientConnection)>),
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
        Ok(Stream::Tls(Box::new((sock, conn))))
    }

    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Writes several buffers in one call (`writev` on a plain socket).
    pub(crate) fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write_vectored(bufs),
            Stream::Tls(_) => {
                // rustls takes what fits its buffer; sent as records.
                let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
                self.write(first)
            }
        }
    }

    pub(crate) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(b) => &mut b.0,
        }
    }

    /// Reads plaintext. `Ok(0)` is the end of the stream; `WouldBlock`
    /// means wait for readiness. A TLS failure is an `InvalidData` error
    /// whose message starts with "TLS".
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (sock, tls) = match self {
            Stream::Plain(s) => return s.read(buf),
            Stream::Tls(b) => (&mut b.0, &mut b.1),
        };
        loop {
            match tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                // Closed without close_notify: an end like any other for
                // HTTP, whose framing says whether the body was complete.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match tls.read_tls(sock) {
                Ok(0) => {
                    // EOF: let rustls see it, then report what the reader says.
                    tls.process_new_packets().map_err(tls_error)?;
                    return match tls.reader().read(buf) {
                        Ok(n) => Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                        Err(e) => Err(e),
                    };
                }
                Ok(_) => {
                    let state = tls.process_new_packets();
                    // Handshake messages and alerts rustls wants sent.
                    let _ = write_tls(sock, tls);
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
            Stream::Tls(b) => {
                let (sock, tls) = (&mut b.0, &mut b.1);
                // Taken into rustls's buffer (bounded by its limit), then sent.
                let n = tls.writer().write(buf)?;
                match write_tls(sock, tls) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if n == 0 {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
                }
                if n == 0 && !buf.is_empty() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            }
        }
    }

    /// Sends records rustls holds (handshake, buffered plaintext).
    /// `WouldBlock` when the socket is full.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(b) => {
                let (sock, tls) = (&mut b.0, &mut b.1);
                write_tls(sock, tls)
            }
        }
    }

    /// Whether output is held back (TLS records not yet on the socket).
    pub(crate) fn wants_write(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(b) => b.1.wants_write(),
        }
    }

    /// Drives a TLS handshake: reads and writes what it needs. Ok(true) once
    /// done; Ok(false) to wait for readiness.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        let (sock, tls) = match self {
            Stream::Plain(_) => return Ok(true),
            Stream::Tls(b) => (&mut b.0, &mut b.1),
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

fn write_tls(sock: &mut TcpStream, tls: &mut ClientConnection) -> io::Result<()> {
    while tls.wants_write() {
        match tls.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
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
