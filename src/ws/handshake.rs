//! The server side of the WebSocket opening handshake (RFC 6455 §4.2),
//! sans-IO: checks a decoded request head and writes the 101 response.
//!
//! Failures map to the answers the HTTP layer sends: a missing or wrong
//! `Upgrade`/`Connection`/`Sec-WebSocket-Key`, a method other than GET or a
//! version other than HTTP/1.1 → 400; an unsupported `Sec-WebSocket-Version`
//! → 426 with `Sec-WebSocket-Version: 13`; a cross-origin request refused by
//! the origin check → 403.

use crate::http::h1::RequestHead;
use crate::http::upgrade::Refusal;

fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason, headers: Vec::new() }
}

/// A valid upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upgrade {
    pub(crate) key: String,
    /// Subprotocols the client offers, in its order of preference.
    pub(crate) protocols: Vec<String>,
    pub(crate) origin: Option<String>,
    pub(crate) host: String,
    /// Every `Sec-WebSocket-Extensions` value, in order (negotiated by the
    /// route's compression policy, `deflate::offer`).
    pub(crate) extensions: Vec<String>,
}

fn header<'a>(head: &'a RequestHead, name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
    let name = name.to_owned();
    head.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(&name)).map(|(_, v)| v.as_slice())
}

fn tokens(v: &[u8]) -> impl Iterator<Item = String> + '_ {
    v.split(|&b| b == b',')
        .map(|t| String::from_utf8_lossy(t).trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// A `Sec-WebSocket-Key` must be the base64 encoding of 16 bytes: 22
/// alphabet characters and "==".
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        // the last character before padding carries only 2 bits of data
        && b"AQgw".contains(&b[21])
}

/// Checks an upgrade request (RFC 6455 §4.2.1).
pub(crate) fn check(head: &RequestHead) -> Result<Upgrade, Refusal> {
    if head.method != "GET" {
        return Err(refuse(400, "a WebSocket handshake must be a GET"));
    }
    if head.version_minor != 1 {
        return Err(refuse(400, "a WebSocket handshake needs HTTP/1.1"));
    }
    if !header(head, "upgrade").flat_map(tokens).any(|t| t == "websocket") {
        return Err(refuse(400, "missing Upgrade: websocket"));
    }
    if !header(head, "connection").flat_map(tokens).any(|t| t == "upgrade") {
        return Err(refuse(400, "missing Connection: upgrade"));
    }
    let versions: Vec<&[u8]> = header(head, "sec-websocket-version").collect();
    if versions.len() != 1 || versions[0] != b"13" {
        let mut r = refuse(426, "unsupported Sec-WebSocket-Version");
        r.headers.push(("Sec-WebSocket-Version".into(), b"13".to_vec()));
        return Err(r);
    }
    let keys: Vec<&[u8]> = header(head, "sec-websocket-key").collect();
    let key = match keys.as_slice() {
        [k] => String::from_utf8_lossy(k).trim().to_owned(),
        _ => return Err(refuse(400, "missing or repeated Sec-WebSocket-Key")),
    };
    if !valid_key(&key) {
        return Err(refuse(400, "Sec-WebSocket-Key is not 16 bytes of base64"));
    }
    let protocols = header(head, "sec-websocket-protocol")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t).trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let origin = header(head, "origin").next().map(|o| String::from_utf8_lossy(o).trim().to_owned());
    let host = header(head, "host").next().map(|h| String::from_utf8_lossy(h).trim().to_owned()).unwrap_or_default();
    let extensions = header(head, "sec-websocket-extensions").map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    Ok(Upgrade { key, protocols, origin, host, extensions })
}

/// The default origin check: no `Origin` header (not a browser) passes; a
/// browser's `Origin` must name the same host (and port) as `Host`.
pub(crate) fn same_origin(origin: Option<&str>, host: &str) -> bool {
    let Some(origin) = origin else { return true };
    let Some((scheme, rest)) = origin.split_once("://") else { return false };
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let default_port = if scheme.eq_ignore_ascii_case("https") { ":443" } else { ":80" };
    let norm = |a: &str| {
        let a = a.to_ascii_lowercase();
        a.strip_suffix(default_port).map(str::to_owned).unwrap_or(a)
    };
    !authority.is_empty() && norm(authority) == norm(host)
}

/// Picks the first subprotocol the client offers that the route supports.
pub(crate) fn select_protocol(offered: &[String], supported: &[String]) -> Option<String> {
    offered.iter().find(|p| supported.iter().any(|s| s == *p)).cloned()
}

/// The 101 response accepting `key`, naming the chosen subprotocol and the
/// accepted extension (`Sec-WebSocket-Extensions` value), if any.
pub(crate) fn accept(
    out: &mut Vec<u8>,
    key: &str,
    protocol: Option<&str>,
    extension: Option<&str>,
    extra: &[(String, Vec<u8>)],
    date: &[u8],
) {
    out.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    out.extend_from_slice(tungstenite::handshake::derive_accept_key(key.as_bytes()).as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(p) = protocol {
        out.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        out.extend_from_slice(p.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(e) = extension {
        out.extend_from_slice(b"Sec-WebSocket-Extensions: ");
        out.extend_from_slice(e.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // the host's headers (checked when given: tokens, no CR/LF/NUL, none of
    // the handshake's own)
    for (name, value) in extra {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Headers a host may not add to a 101: the handshake's own and framing.
pub(crate) fn handshake_owned(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("sec-websocket-")
        || ["upgrade", "connection", "content-length", "transfer-encoding", "date"].contains(&n.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(extra: &[(&str, &str)]) -> RequestHead {
        let mut headers: Vec<(String, Vec<u8>)> = vec![
            ("Host".into(), b"example.com:8080".to_vec()),
            ("Upgrade".into(), b"websocket".to_vec()),
            ("Connection".into(), b"keep-alive, Upgrade".to_vec()),
            ("Sec-WebSocket-Key".into(), b"dGhlIHNhbXBsZSBub25jZQ==".to_vec()),
            ("Sec-WebSocket-Version".into(), b"13".to_vec()),
        ];
        for (n, v) in extra {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(n));
            if !v.is_empty() {
                headers.push(((*n).into(), v.as_bytes().to_vec()));
            }
        }
        RequestHead {
            method: "GET".into(),
            target: "/ws".into(),
            version_minor: 1,
            headers,
            keep_alive: true,
            expect_continue: false,
            upgrade: true,
            content_length: Some(0),
            chunked: false,
        }
    }

    #[test]
    fn rfc_example_is_accepted() {
        let u = check(&head(&[("Sec-WebSocket-Protocol", "chat, superchat")])).unwrap();
        assert_eq!(u.protocols, ["chat", "superchat"]);
        let mut out = vec![];
        accept(&mut out, &u.key, Some("chat"), None, &[], b"D");
        let s = String::from_utf8(out).unwrap();
        // RFC 6455 §1.3's worked example
        assert!(s.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{s}");
        assert!(s.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(s.contains("Sec-WebSocket-Protocol: chat\r\n") && s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn refusals() {
        let status = |h: RequestHead| check(&h).unwrap_err().status;
        assert_eq!(status(head(&[("Upgrade", "")])), 400);
        assert_eq!(status(head(&[("Upgrade", "h2c")])), 400);
        assert_eq!(status(head(&[("Connection", "keep-alive")])), 400);
        assert_eq!(status(head(&[("Sec-WebSocket-Key", "")])), 400);
        assert_eq!(status(head(&[("Sec-WebSocket-Key", "short")])), 400);
        assert_eq!(status(head(&[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")])), 400, "no padding");
        assert_eq!(status(head(&[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")])), 400, "non-zero pad bits");
        let r = check(&head(&[("Sec-WebSocket-Version", "8")])).unwrap_err();
        assert_eq!(r.status, 426);
        assert_eq!(r.headers, vec![("Sec-WebSocket-Version".to_string(), b"13".to_vec())]);
        assert_eq!(status(head(&[("Sec-WebSocket-Version", "")])), 426);
        let mut h = head(&[]);
        h.method = "POST".into();
        assert_eq!(status(h), 400);
        let mut h = head(&[]);
        h.version_minor = 0;
        assert_eq!(status(h), 400);
        // token matching is case-insensitive and list-aware
        assert!(check(&head(&[("Upgrade", "WebSocket"), ("Connection", "UPGRADE")])).is_ok());
    }

    #[test]
    fn origins() {
        assert!(same_origin(None, "a.com"));
        assert!(same_origin(Some("http://a.com:8080"), "a.com:8080"));
        assert!(same_origin(Some("https://A.com"), "a.com:443"));
        assert!(same_origin(Some("http://a.com"), "a.com:80"));
        assert!(!same_origin(Some("http://evil.com"), "a.com"));
        assert!(!same_origin(Some("http://a.com:9"), "a.com:8080"));
        assert!(!same_origin(Some("null"), "a.com"));
        assert!(!same_origin(Some("file://a.com"), "a.com"));
        assert!(!same_origin(Some("http://"), ""));
    }

    #[test]
    fn protocol_selection() {
        let offered = vec!["v2".to_string(), "v1".to_string()];
        assert_eq!(select_protocol(&offered, &["v1".into(), "v2".into()]), Some("v2".into()));
        assert_eq!(select_protocol(&offered, &["v3".into()]), None);
    }
}
