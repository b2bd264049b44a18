//! A cluster's URL, read into a [`Config`]:
//!
//! ```text
//! redis://[[user]:password@]host[:port][/db][?option=value&...]
//! rediss://[[user]:password@]host[:port][/db][?option=value&...]
//! ```
//!
//! Options: `prefix` (channel prefix, default `squall`; channels are
//! `<prefix>:<topic>`), `outbox` (publishes held while Redis is away or
//! slow, default 10000), `max_message` (bytes of one message accepted
//! from the broker, default 16 MiB), `ping_ms` (idle time before a PING,
//! default 1000), `timeout_ms` (no answer for this long after a PING, or a
//! connect taking this long, TLS handshake included, drops the connection;
//! default 3000). An unknown option, a bad number, another scheme is an
//! error that says which.
//!
//! `rediss://` is Redis over TLS (rustls; the port is still 6379 unless
//! given). The server's certificate is verified against the webpki roots
//! (Mozilla's list, compiled in), or only against the certificates of the
//! PEM file `ca=<path>`, and must name the URL's host: a DNS name, or an IP
//! address in its subject alternative names. `cert=<path>` and
//! `key=<path>` (PEM; both or neither) present a client certificate to a
//! server that asks for one (`tls-auth-clients yes`). The files are read
//! when the cluster is made ([`Config::tls_config`]); a file that cannot
//! be used is an error then, not at connect time. These three options on
//! `redis://` are an error (they would silently go unused).
//!
//! There is no option that turns verification off: a connection that
//! trusts any certificate gives a password and every message to whoever
//! sits on the path, while looking secure in the URL. A private CA, or a
//! self-signed Redis certificate, is trusted with `ca=` instead.

use std::time::Duration;

use crate::net::tls::{TlsConfig, client_config};
use crate::{Error, ErrorKind, Result};

/// What a cluster URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// `AUTH [user] password` when a password is given.
    pub(crate) user: Option<String>,
    pub(crate) password: Option<String>,
    /// `SELECT db` when the path names one (pub/sub ignores the database,
    /// but a server may refuse a connection that cannot select it).
    pub(crate) db: Option<u32>,
    pub(crate) prefix: String,
    pub(crate) outbox: usize,
    pub(crate) max_message: usize,
    pub(crate) ping: Duration,
    pub(crate) timeout: Duration,
    /// TLS (`rediss://`) and its files.
    pub(crate) tls: Option<TlsFiles>,
}

/// The files a `rediss://` URL names (none: the webpki roots, no client
/// certificate).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// Trust only the certificates of this PEM file.
    pub(crate) ca: Option<String>,
    /// A client certificate chain and its key (PEM), both or neither.
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
}

fn bad(url: &str, why: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidArg, format!("cluster URL {url:?}: {why}"))
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

impl Config {
    pub(crate) fn parse(text: &str) -> Result<Config> {
        let url = url::Url::parse(text).map_err(|e| bad(text, e))?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            other => return Err(bad(text, format_args!("scheme {other:?} is not supported (redis:// and rediss:// are)"))),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(bad(text, "no host")),
        };
        let password = url.password().map(decode);
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        if user.is_some() && password.is_none() {
            return Err(bad(text, "a user name without a password"));
        }
        let db = match url.path().trim_start_matches('/') {
            "" => None,
            p => Some(p.parse::<u32>().map_err(|_| bad(text, format_args!("database {p:?} is not a number")))?),
        };
        let mut c = Config {
            host,
            port: url.port().unwrap_or(6379),
            user,
            password,
            db,
            prefix: "squall".into(),
            outbox: 10_000,
            max_message: 16 << 20,
            ping: Duration::from_millis(1000),
            timeout: Duration::from_millis(3000),
            tls: tls.then(TlsFiles::default),
        };
        for (k, v) in url.query_pairs() {
            let num = |lo: u64, hi: u64| -> Result<u64> {
                match v.parse::<u64>() {
                    Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                    _ => Err(bad(text, format_args!("{k}={v:?}: a number from {lo} to {hi}"))),
                }
            };
            match &*k {
                "prefix" => {
                    if v.is_empty() || v.len() > 256 {
                        return Err(bad(text, "prefix is 1 to 256 bytes"));
                    }
                    c.prefix = v.into_owned();
                }
                "outbox" => c.outbox = num(1, 10_000_000)? as usize,
                "max_message" => c.max_message = num(1, 512 << 20)? as usize,
                "ping_ms" => c.ping = Duration::from_millis(num(10, 3_600_000)?),
                "timeout_ms" => c.timeout = Duration::from_millis(num(10, 3_600_000)?),
                "ca" | "cert" | "key" => {
                    let Some(files) = c.tls.as_mut() else {
                        return Err(bad(text, format_args!("{k}= is a TLS option: the scheme is rediss://")));
                    };
                    if v.is_empty() {
                        return Err(bad(text, format_args!("{k}= needs the path of a PEM file")));
                    }
                    let slot = match &*k {
                        "ca" => &mut files.ca,
                        "cert" => &mut files.cert,
                        _ => &mut files.key,
                    };
                    *slot = Some(v.into_owned());
                }
                "insecure" | "verify" | "tls_verify" | "skip_verify" | "ssl_cert_reqs" => {
                    return Err(bad(
                        text,
                        format_args!(
                            "{k}=: certificate verification cannot be turned off; trust a private CA or a self-signed certificate with ca=<PEM file>"
                        ),
                    ));
                }
                _ => return Err(bad(text, format_args!("unknown option {k:?}"))),
            }
        }
        if let Some(f) = &c.tls
            && f.cert.is_some() != f.key.is_some()
        {
            return Err(bad(text, "cert= and key= go together (a client certificate and its private key)"));
        }
        Ok(c)
    }

    /// The TLS configuration of a `rediss://` cluster (None for
    /// `redis://`), its files read now. A file that cannot be used is
    /// `InvalidArg`, saying which and why.
    pub(crate) fn tls_config(&self) -> Result<Option<TlsConfig>> {
        let Some(f) = &self.tls else { return Ok(None) };
        let identity = f.cert.as_deref().zip(f.key.as_deref());
        client_config(f.ca.as_deref(), identity)
            .map(Some)
            .map_err(|e| Error::new(e.kind(), format!("cluster URL (rediss://{}:{}): {}", self.host, self.port, e.message())))
    }

    /// The channel of `topic`.
    pub(crate) fn channel(&self, topic: &str) -> Vec<u8> {
        let mut c = Vec::with_capacity(self.prefix.len() + 1 + topic.len());
        c.extend_from_slice(self.prefix.as_bytes());
        c.push(b':');
        c.extend_from_slice(topic.as_bytes());
        c
    }

    /// The topic of a channel (its bytes after the prefix), if it has the prefix.
    pub(crate) fn topic_of<'a>(&self, channel: &'a [u8]) -> Option<&'a [u8]> {
        channel.strip_prefix(self.prefix.as_bytes())?.strip_prefix(b":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let c = Config::parse("redis://u%40x:p%3Aw@127.0.0.1:6390/2?prefix=chat&outbox=5&ping_ms=50&timeout_ms=200&max_message=100").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.db), ("127.0.0.1", 6390, Some(2)));
        assert_eq!((c.user.as_deref(), c.password.as_deref()), (Some("u@x"), Some("p:w")));
        assert_eq!((c.prefix.as_str(), c.outbox, c.max_message), ("chat", 5, 100));
        assert_eq!((c.ping, c.timeout), (Duration::from_millis(50), Duration::from_millis(200)));
        assert_eq!(c.channel("room"), b"chat:room");
        assert_eq!(c.topic_of(b"chat:room"), Some(&b"room"[..]));
        assert_eq!(c.topic_of(b"chatroom"), None);
        assert_eq!(c.topic_of(b"other:room"), None);
    }

    #[test]
    fn defaults_and_password_only() {
        let c = Config::parse("redis://:secret@localhost").unwrap();
        assert_eq!((c.port, c.db, c.user, c.password.as_deref()), (6379, None, None, Some("secret")));
        assert_eq!(c.prefix, "squall");
        let c = Config::parse("redis://[::1]:7000/").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("::1", 7000));
    }

    #[test]
    fn refused_with_a_reason() {
        for (url, why) in [
            ("not a url", "relative URL"),
            ("http://127.0.0.1", "scheme"),
            ("unix:///tmp/redis.sock", "scheme"),
            ("redis://", "host"),
            ("redis://127.0.0.1/x", "database"),
            ("redis://127.0.0.1:99999", "port"),
            ("redis://127.0.0.1?outbox=-1", "outbox"),
            ("redis://127.0.0.1?what=1", "unknown option"),
            ("redis://127.0.0.1?prefix=", "prefix"),
            ("redis://user@127.0.0.1", "without a password"),
            ("redis://127.0.0.1?ca=/x.pem", "ca= is a TLS option: the scheme is rediss://"),
            ("redis://127.0.0.1?cert=/c.pem&key=/k.pem", "cert= is a TLS option"),
            ("rediss://127.0.0.1?ca=", "ca= needs the path"),
            ("rediss://127.0.0.1?cert=/c.pem", "cert= and key= go together"),
            ("rediss://127.0.0.1?key=/k.pem", "cert= and key= go together"),
            ("rediss://127.0.0.1?insecure=1", "cannot be turned off"),
            ("rediss://127.0.0.1?verify=no", "cannot be turned off"),
            ("rediss://127.0.0.1?sni=x", "unknown option"),
        ] {
            let e = Config::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn rediss_and_its_files() {
        let c = Config::parse("rediss://:pw@127.0.0.1:6390/1").unwrap();
        assert_eq!((c.host.as_str(), c.port, c.db, c.password.as_deref()), ("127.0.0.1", 6390, Some(1), Some("pw")));
        assert_eq!(c.tls, Some(TlsFiles::default()), "rediss:// alone: the webpki roots, no client certificate");
        let c = Config::parse("rediss://redis.example.com").unwrap();
        assert_eq!((c.host.as_str(), c.port), ("redis.example.com", 6379));
        assert!(Config::parse("redis://127.0.0.1").unwrap().tls.is_none());
        let c = Config::parse("rediss://[::1]:7000?ca=%2Fetc%2Fca%20x.pem&cert=/c.pem&key=/k.pem&prefix=p").unwrap();
        assert_eq!(c.host, "::1");
        let files = c.tls.unwrap();
        assert_eq!(files.ca.as_deref(), Some("/etc/ca x.pem"), "percent-decoded");
        assert_eq!((files.cert.as_deref(), files.key.as_deref()), (Some("/c.pem"), Some("/k.pem")));
    }

    #[test]
    fn tls_files_are_read_when_the_config_is_made() {
        assert!(Config::parse("redis://127.0.0.1").unwrap().tls_config().unwrap().is_none());
        assert!(Config::parse("rediss://127.0.0.1").unwrap().tls_config().unwrap().is_some(), "the webpki roots");
        let e = Config::parse("rediss://127.0.0.1?ca=/nonexistent/ca.pem").unwrap().tls_config().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArg);
        assert!(e.to_string().contains("cluster URL") && e.to_string().contains("cannot read CA file \"/nonexistent/ca.pem\""), "{e}");
        let empty = std::env::temp_dir().join(format!("squall-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let url = format!("rediss://127.0.0.1?ca={}", empty.display());
        let e = Config::parse(&url).unwrap().tls_config().unwrap_err();
        assert!(e.to_string().contains("no certificate in"), "{e}");
        let url = format!("rediss://127.0.0.1?cert={0}&key={0}", empty.display());
        let e = Config::parse(&url).unwrap().tls_config().unwrap_err();
        assert!(e.to_string().contains("no certificate in"), "{e}");
        let _ = std::fs::remove_file(&empty);
    }
}
