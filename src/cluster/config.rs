//! A cluster's URL, read into a [`Config`]:
//!
//! ```text
//! redis://[[user]:password@]host[:port][/db][?option=value&...]
//! ```
//!
//! Options: `prefix` (channel prefix, default `squall`; channels are
//! `<prefix>:<topic>`), `outbox` (publishes held while Redis is away or
//! slow, default 10000), `max_message` (bytes of one message accepted
//! from the broker, default 16 MiB), `ping_ms` (idle time before a PING,
//! default 1000), `timeout_ms` (no answer for this long after a PING, or a
//! connect taking this long, drops the connection; default 3000). An
//! unknown option, a bad number, another scheme (`rediss://` is not built
//! yet) is an error that says which.

use std::time::Duration;

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
        if url.scheme() != "redis" {
            return Err(bad(text, format_args!("scheme {:?} is not supported (redis:// is)", url.scheme())));
        }
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
                _ => return Err(bad(text, format_args!("unknown option {k:?}"))),
            }
        }
        Ok(c)
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
            ("rediss://127.0.0.1", "scheme"),
            ("redis://", "host"),
            ("redis://127.0.0.1/x", "database"),
            ("redis://127.0.0.1:99999", "port"),
            ("redis://127.0.0.1?outbox=-1", "outbox"),
            ("redis://127.0.0.1?what=1", "unknown option"),
            ("redis://127.0.0.1?prefix=", "prefix"),
            ("redis://user@127.0.0.1", "without a password"),
        ] {
            let e = Config::parse(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArg);
            assert!(e.to_string().contains(why), "{url}: {e}");
        }
    }
}
