//! Response serialization (sans-IO: appends bytes to a Vec, never touches a
//! socket or the clock; the Date value is passed in).
//!
//! Rules kept here:
//! * a header name must be an RFC 9110 token and a value must hold no CR, LF
//!   or NUL (refused with an error, never written);
//! * 1xx, 204 and 304 carry no body; 204 and 1xx carry no Content-Length;
//! * HEAD responses carry the Content-Length the GET would have, no body
//!   (the caller leaves the body out);
//! * an HTTP/1.0 client never gets chunked encoding: a streamed response to it
//!   runs until the connection closes;
//! * `Date` and `Content-Length` (or `Transfer-Encoding: chunked`) are always
//!   written by the server; a handler's own copies of them are dropped.

use crate::{Error, ErrorKind, Result};

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
    NoBody,
}

/// What a response head says.
#[derive(Debug)]
pub(crate) struct Head<'a> {
    pub(crate) status: u16,
    pub(crate) reason: Option<&'a str>,
    pub(crate) headers: &'a [(String, Vec<u8>)],
    pub(crate) framing: Framing,
    /// The connection closes after this response.
    pub(crate) close: bool,
    /// The request's minor version. The status line says `HTTP/1.1` either
    /// way (RFC 9112 §2.6: the highest version the server conforms to whose
    /// major is the request's); it chooses the `Connection` header.
    pub(crate) version_minor: u8,
    /// An HTTP/1.0 client that asked for keep-alive (gets
    /// `Connection: Keep-Alive` while the connection stays open).
    pub(crate) client_keep_alive_10: bool,
}

/// The standard reason phrase of a status code ("" for unknown codes).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Whether a response with this status may carry a body.
pub(crate) fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Refuses header names that are not tokens and values holding CR, LF or NUL.
pub(crate) fn check_header(name: &str, value: &[u8]) -> Result<()> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("header name {name:?} is not a valid token")));
    }
    if value.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(Error::new(ErrorKind::InvalidArg, format!("the value of header {name:?} holds CR, LF or NUL")));
    }
    Ok(())
}

/// Refuses a reason phrase with CR, LF, NUL or other control characters.
pub(crate) fn check_reason(reason: &str) -> Result<()> {
    if reason.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(Error::new(ErrorKind::InvalidArg, "the reason phrase holds control characters"));
    }
    Ok(())
}

/// Headers the server writes itself.
fn server_owned(name: &str) -> bool {
    ["content-length", "transfer-encoding", "date", "connection"].iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Appends the status line and headers (ending with the blank line).
pub(crate) fn write_head(out: &mut Vec<u8>, head: &Head<'_>, date: &[u8]) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(out, head.status);
    out.push(b' ');
    out.extend_from_slice(head.reason.unwrap_or_else(|| reason(head.status)).as_bytes());
    out.extend_from_slice(b"\r\nDate: ");
    out.extend_from_slice(date);
    out.extend_from_slice(b"\r\n");
    for (n, v) in head.headers {
        if server_owned(n) {
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    match head.framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"Content-Length: ");
            push_u64(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        Framing::UntilClose => {}
        Framing::NoBody => {
            if head.status == 304 {
                // keep what a GET would say? We do not know it: say nothing.
            }
        }
    }
    // HTTP/1.1 closes only when told; HTTP/1.0 closes unless the client
    // asked for keep-alive, so a 1.0 client that did not ask hears nothing
    // (as Tornado: no `Connection` header), one that did hears either answer.
    if head.version_minor >= 1 || head.client_keep_alive_10 {
        if head.close {
            out.extend_from_slice(b"Connection: close\r\n");
        } else if head.client_keep_alive_10 {
            out.extend_from_slice(b"Connection: Keep-Alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn push_status(out: &mut Vec<u8>, status: u16) {
    let s = status.min(999);
    out.extend_from_slice(&[b'0' + (s / 100) as u8, b'0' + (s / 10 % 10) as u8, b'0' + (s % 10) as u8]);
}

pub(crate) fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// One chunk of a chunked body (nothing for empty data: the terminator is
/// [`write_last_chunk`]).
pub(crate) fn write_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// The terminating chunk.
pub(crate) fn write_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

/// A complete small response the server writes itself (errors: 400, 404,
/// 413, 500, …): text/plain body "<code> <reason>\n".
pub(crate) fn simple(out: &mut Vec<u8>, status: u16, extra: &[(String, Vec<u8>)], close: bool, head_only: bool, date: &[u8]) {
    let body = format!("{} {}\n", status, reason(status));
    let mut headers = vec![("Content-Type".to_owned(), b"text/plain; charset=utf-8".to_vec())];
    headers.extend(extra.iter().cloned());
    let has_body = status_has_body(status);
    write_head(
        out,
        &Head {
            status,
            reason: None,
            headers: &headers,
            framing: if has_body { Framing::Length(body.len() as u64) } else { Framing::NoBody },
            close,
            version_minor: 1,
            client_keep_alive_10: false,
        },
        date,
    );
    if has_body && !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: u16, framing: Framing, close: bool, v: u8, hdrs: &[(String, Vec<u8>)]) -> String {
        let mut out = vec![];
        write_head(
            &mut out,
            &Head { status, reason: None, headers: hdrs, framing, close, version_minor: v, client_keep_alive_10: false },
            b"Mon, 23 Nov 2026 08:00:00 GMT",
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn heads() {
        let h = head(200, Framing::Length(5), false, 1, &[("X-A".into(), b"1".to_vec())]);
        assert_eq!(h, "HTTP/1.1 200 OK\r\nDate: Mon, 23 Nov 2026 08:00:00 GMT\r\nX-A: 1\r\nContent-Length: 5\r\n\r\n");
        let h = head(204, Framing::NoBody, true, 1, &[("Content-Length".into(), b"9".to_vec())]);
        assert!(!h.contains("Content-Length"));
        assert!(h.ends_with("Connection: close\r\n\r\n"));
        assert!(head(200, Framing::Chunked, false, 1, &[]).contains("Transfer-Encoding: chunked\r\n"));
        // HTTP/1.0 requests are answered as HTTP/1.1 (RFC 9112 §2.6), with
        // no Connection header unless the client asked for keep-alive
        let h = head(200, Framing::UntilClose, true, 0, &[]);
        assert!(h.starts_with("HTTP/1.1 200 OK\r\n") && !h.contains("Connection"), "{h}");
        let ka = |close: bool| {
            let mut out = vec![];
            let hd = Head { status: 200, reason: None, headers: &[], framing: Framing::Length(0), close, version_minor: 0,
                            client_keep_alive_10: true };
            write_head(&mut out, &hd, b"d");
            String::from_utf8(out).unwrap()
        };
        assert!(ka(false).starts_with("HTTP/1.1 200 OK\r\n") && ka(false).contains("\r\nConnection: Keep-Alive\r\n"));
        assert!(ka(true).contains("\r\nConnection: close\r\n") && !ka(true).contains("Keep-Alive"));
        assert!(head(599, Framing::Length(0), false, 1, &[]).starts_with("HTTP/1.1 599 \r\n"));
    }

    #[test]
    fn header_checks() {
        assert!(check_header("X-Ok", b"fine value\t").is_ok());
        assert!(check_header("X-Bad", b"a\r\nInjected: 1").is_err());
        assert!(check_header("X-Bad", b"a\nb").is_err());
        assert!(check_header("X-Bad", b"a\0b").is_err());
        assert!(check_header("Bad Name", b"v").is_err());
        assert!(check_header("Bad:Name", b"v").is_err());
        assert!(check_header("", b"v").is_err());
        assert!(check_reason("Fine").is_ok());
        assert!(check_reason("Bad\r\n").is_err());
    }

    #[test]
    fn chunks_and_numbers() {
        let mut out = vec![];
        write_chunk(&mut out, b"hello world!");
        write_chunk(&mut out, b"");
        write_last_chunk(&mut out);
        assert_eq!(out, b"c\r\nhello world!\r\n0\r\n\r\n");
        let mut n = vec![];
        push_u64(&mut n, 0);
        n.push(b' ');
        push_u64(&mut n, 18446744073709551615);
        assert_eq!(n, b"0 18446744073709551615");
    }

    #[test]
    fn simple_responses() {
        let mut out = vec![];
        simple(&mut out, 404, &[], false, false, b"D");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 404 Not Found\r\n"));
        assert!(s.ends_with("Content-Length: 14\r\n\r\n404 Not Found\n"));
        let mut out = vec![];
        simple(&mut out, 405, &[("Allow".into(), b"GET, HEAD".to_vec())], true, true, b"D");
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Allow: GET, HEAD\r\n") && s.contains("Connection: close") && s.ends_with("\r\n\r\n"));
    }
}
