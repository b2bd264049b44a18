//! The server's TLS configuration: certificate chains and their keys from
//! PEM (ECDSA, RSA or Ed25519 keys in PKCS#8, PKCS#1 or SEC1), chosen by the
//! name the client asks for (SNI) with the first one added as the default,
//! ALPN `http/1.1`, TLS 1.2 and 1.3, resumption by tickets. What is built is
//! one `Arc<ServerConfig>` that every reactor shares; the stream side is
//! `net::tls::Stream::tls_server`.

use std::sync::Arc;
use std::time::Instant;

use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::{Error, ErrorKind, Result};

/// TLS handshake steps (reads of a connection whose handshake runs) one
/// reactor turn processes; the connections past it wait for the next turn,
/// after that turn's established connections were served. A full
/// handshake costs the server a signature (tens of microseconds for ECDSA
/// P-256, about a millisecond for RSA-2048), so a flood of new connections
/// adds at most this many of them to a turn.
pub(crate) const HANDSHAKES_PER_TURN: u32 = 32;

/// A reactor's count of handshake steps in the current turn (kept in the
/// reactor's extension slot, shared by its HTTP and TCP connections).
#[derive(Debug, Default)]
pub(crate) struct HandshakeBudget {
    turn: Option<Instant>,
    used: u32,
}

impl HandshakeBudget {
    /// Takes one step for the turn that started at `turn`; false when the
    /// turn has none left.
    pub(crate) fn take(&mut self, turn: Instant) -> bool {
        if self.turn != Some(turn) {
            self.turn = Some(turn);
            self.used = 0;
        }
        self.used += 1;
        self.used <= HANDSHAKES_PER_TURN
    }
}

/// What a server's TLS is made of, before it is built.
#[derive(Debug, Clone)]
pub(crate) struct ServerTls {
    /// The first one is the default (no SNI, or a name no certificate has).
    keys: Vec<Arc<CertifiedKey>>,
    /// Refuse TLS 1.2.
    pub(crate) tls13_only: bool,
    /// Resumption by tickets (stateless; TLS 1.2 and 1.3).
    pub(crate) tickets: bool,
}

impl Default for ServerTls {
    fn default() -> Self {
        ServerTls { keys: Vec::new(), tls13_only: false, tickets: true }
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArg, msg)
}

impl ServerTls {
    /// Adds a certificate chain (leaf first) and its private key, both PEM.
    /// `what` names them in errors (file names, or "memory").
    pub(crate) fn add_pem(&mut self, chain_pem: &[u8], key_pem: &[u8], what: &str) -> Result<()> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| invalid(format!("bad PEM certificate in {what}: {e}")))?;
        if chain.is_empty() {
            return Err(invalid(format!("no PEM certificate in {what}")));
        }
        webpki::EndEntityCert::try_from(&chain[0])
            .map_err(|e| invalid(format!("the first certificate in {what} cannot be parsed: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem)
            .map_err(|e| invalid(format!("no usable PEM private key (PKCS#8, PKCS#1 or SEC1) in {what}: {e}")))?;
        let signer = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| invalid(format!("unsupported private key in {what} (ECDSA P-256/P-384, RSA or Ed25519 expected): {e}")))?;
        let certified = CertifiedKey::new(chain, signer);
        match certified.keys_match() {
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
            Err(_) => return Err(invalid(format!("the private key in {what} does not match its certificate"))),
        }
        self.keys.push(Arc::new(certified));
        Ok(())
    }

    /// Adds a chain and key from PEM files (read on the calling thread).
    pub(crate) fn add_pem_files(&mut self, chain_path: &str, key_path: &str) -> Result<()> {
        let chain = std::fs::read(chain_path).map_err(|e| invalid(format!("cannot read certificate file {chain_path:?}: {e}")))?;
        let key = std::fs::read(key_path).map_err(|e| invalid(format!("cannot read key file {key_path:?}: {e}")))?;
        self.add_pem(&chain, &key, &format!("{chain_path:?} / {key_path:?}"))
    }

    /// The configuration every connection of an HTTP server shares (ALPN
    /// `http/1.1`).
    pub(crate) fn build(&self) -> Result<Arc<ServerConfig>> {
        self.build_with_alpn(&[b"http/1.1"])
    }

    /// The configuration with these ALPN protocols (none for raw TCP: a
    /// client's ALPN list is then ignored).
    pub(crate) fn build_with_alpn(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>> {
        if self.keys.is_empty() {
            return Err(invalid("a TLS configuration needs a certificate and its key".into()));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] =
            if self.tls13_only { &[&rustls::version::TLS13] } else { &[&rustls::version::TLS12, &rustls::version::TLS13] };
        let tls = |e: rustls::Error| Error::new(ErrorKind::Tls, format!("TLS configuration: {e}"));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(tls)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(BySni { keys: self.keys.clone() }));
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        if self.tickets {
            config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(tls)?;
        }
        Ok(Arc::new(config))
    }
}

/// Chooses the certificate for a ClientHello: the first whose names cover
/// the SNI name (subjectAltName, wildcards as RFC 6125 says: webpki's
/// check) and whose key can sign with a scheme the client offers; the
/// default (the first added) otherwise, so that clients without SNI or with
/// an unknown name still get a certificate (they then judge it).
#[derive(Debug)]
struct BySni {
    keys: Vec<Arc<CertifiedKey>>,
}

impl BySni {
    fn choose(&self, name: Option<&str>, schemes: &[rustls::SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let signs = |k: &CertifiedKey| k.key.choose_scheme(schemes).is_some();
        if let Some(name) = name
            && let Ok(server_name) = ServerName::try_from(name)
        {
            let covers = |k: &CertifiedKey| {
                k.cert.first().is_some_and(|leaf| {
                    webpki::EndEntityCert::try_from(leaf).is_ok_and(|ee| ee.verify_is_valid_for_subject_name(&server_name).is_ok())
                })
            };
            if let Some(k) = self.keys.iter().find(|k| covers(k) && signs(k)) {
                return Some(k.clone());
            }
        }
        self.keys.iter().find(|k| signs(k)).or_else(|| self.keys.first()).cloned()
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.choose(hello.server_name(), hello.signature_schemes())
    }
}

/// The fuzz driver: `data` is a certificate chain's PEM, a NUL, a private
/// key's PEM, a NUL, an SNI name. Loading either refuses with
/// `InvalidArg` (a message naming what was wrong) or succeeds; a loaded
/// pair builds a configuration, and choosing a certificate for the name
/// (with the schemes clients offer) always gives one. Panics only on a bug.
pub(crate) fn fuzz_check(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let chain = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let mut t = ServerTls::default();
    match t.add_pem(chain, key, "fuzz") {
        Ok(()) => {
            t.build().expect("a chain and a matching key make a configuration");
            let sni = BySni { keys: t.keys.clone() };
            use rustls::SignatureScheme as S;
            let schemes = [S::ECDSA_NISTP256_SHA256, S::ECDSA_NISTP384_SHA384, S::RSA_PSS_SHA256, S::RSA_PKCS1_SHA256, S::ED25519];
            assert!(sni.choose(Some(&name), &schemes).is_some() && sni.choose(None, &[]).is_some());
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidArg, "{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_driver_on_samples() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/tls_config");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).expect("the committed corpus") {
            fuzz_check(&std::fs::read(e.unwrap().path()).unwrap());
            n += 1;
        }
        assert!(n > 0);
        fuzz_check(b"");
        fuzz_check(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\0x\0name");
    }

    #[test]
    fn the_handshake_budget_is_per_turn() {
        let mut b = HandshakeBudget::default();
        let t1 = Instant::now();
        let t2 = t1 + std::time::Duration::from_millis(1);
        assert!((0..HANDSHAKES_PER_TURN).all(|_| b.take(t1)));
        assert!(!b.take(t1), "the turn's budget is spent");
        assert!(b.take(t2), "a new turn has a new budget");
    }

    #[test]
    fn garbage_and_missing_pieces_are_clear_errors() {
        let mut t = ServerTls::default();
        let e = t.add_pem(b"not pem", b"not pem", "memory").unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let e = t.build().unwrap_err();
        assert!(e.to_string().contains("needs a certificate"), "{e}");
    }
}
