//! Sans-IO HTTP/1.1 response decoding for the client (RFC 9112): the status
//! line and headers (httparse), interim 1xx responses skipped, the body's
//! framing decided as §6.3 says (no body for HEAD, 1xx, 204, 304; chunked;
//! Content-Length; else until the connection closes). Bytes in, events out;
//! no socket, no clock.

use crate::http::grammar;
use crate::http::h1::{ChunkError, ChunkStep, ChunkedBody};

/// Longest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most header lines in a response head.
pub(crate) const MAX_HEADERS: usize = 128;
/// Most interim (1xx) responses before the final one.
const MAX_INTERIM: u32 = 32;

/// How the body of a response is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// A final response's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) version_minor: u8,
    /// Header lines as received (name, value).
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) framing: Framing,
    /// Whether the connection may carry another request afterwards.
    pub(crate) keep_alive: bool,
}

impl ResponseHead {
    /// The first value of header `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_slice())
    }
}

/// One decoding step's result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// With 0 bytes used: wait for more bytes. Otherwise framing or an
    /// interim response was consumed: call again.
    NeedMore,
    Head(ResponseHead),
    /// Body bytes: this range of the slice given.
    Body(usize, usize),
    /// The response is complete.
    End,
}

/// Why a response is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Malformed: the message says how.
    Protocol(String),
    /// The connection ended before the response did (`body` says where).
    Closed { body: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head { searched: usize },
    Length(u64),
    Chunked(ChunkedBody),
    UntilClose,
    Done,
    Failed,
}

/// Decodes the response to one request.
#[derive(Debug)]
pub(crate) struct ResponseDecoder {
    state: State,
    /// The request was HEAD: no body whatever the headers say.
    head_request: bool,
    /// A 101 is a final response (WebSocket handshakes).
    upgrade: bool,
    /// Interim responses skipped so far.
    interim: u32,
    /// A `100 Continue` was skipped and not yet taken ([`ResponseDecoder::take_continue`]).
    continued: bool,
    /// Longest head accepted (at most [`MAX_HEAD`]).
    max_head: usize,
}

fn protocol<T>(why: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::Protocol(why.into()))
}

/// A field value with each obs-fold, and the whitespace around it, made one
/// SP (RFC 9112 §5.2 lets "one or more"; one, as Tornado joins the lines:
/// `"1;\r\n\tmode=block"` reads `"1; mode=block"`).
fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        let b = value[i];
        if b == b'\r' || b == b'\n' {
            while out.last().is_some_and(|&c| c == b' ' || c == b'\t') {
                out.pop();
            }
            while i < value.len() && matches!(value[i], b'\r' | b'\n' | b' ' | b'\t') {
                i += 1;
            }
            out.push(b' ');
            continue;
        }
        out.push(b);
        i += 1;
    }
    out
}

impl ResponseDecoder {
    pub(crate) fn new(head_request: bool, upgrade: bool) -> ResponseDecoder {
        ResponseDecoder { state: State::Head { searched: 0 }, head_request, upgrade, interim: 0, continued: false, max_head: MAX_HEAD }
    }

    /// Accepts response heads of at most `n` bytes (0, or more than
    /// [`MAX_HEAD`]: [`MAX_HEAD`]).
    pub(crate) fn with_max_head(mut self, n: usize) -> ResponseDecoder {
        self.max_head = if n == 0 { MAX_HEAD } else { n.min(MAX_HEAD) };
        self
    }

    /// Whether a `100 Continue` was skipped since the last call (a request
    /// that said `Expect: 100-continue` may send its body now).
    pub(crate) fn take_continue(&mut self) -> bool {
        std::mem::take(&mut self.continued)
    }

    /// Decodes from the start of `buf`; returns the bytes used and the event.
    pub(crate) fn decode(&mut self, buf: &[u8]) -> Result<(usize, Event), DecodeError> {
        let out = self.step(buf);
        if out.is_err() {
            self.state = State::Failed;
        }
        out
    }

    fn step(&mut self, buf: &[u8]) -> Result<(usize, Event), DecodeError> {
        match self.state {
            State::Head { searched } => self.decode_head(buf, searched),
            State::Length(0) => {
                self.state = State::Done;
                Ok((0, Event::End))
            }
            State::Length(left) => {
                if buf.is_empty() {
                    return Ok((0, Event::NeedMore));
                }
                let n = left.min(buf.len() as u64) as usize;
                self.state = State::Length(left - n as u64);
                Ok((n, Event::Body(0, n)))
            }
            State::Chunked(mut body) => {
                let r = body.step(buf, u64::MAX, MAX_HEAD);
                self.state = State::Chunked(body);
                match r {
                    Ok((n, ChunkStep::NeedMore)) => Ok((n, Event::NeedMore)),
                    Ok((n, ChunkStep::Data(len))) => Ok((n, Event::Body(0, len))),
                    Ok((n, ChunkStep::End)) => {
                        self.state = State::Done;
                        Ok((n, Event::End))
                    }
                    Err(ChunkError::TooLarge) => protocol("chunked body too large"),
                    Err(ChunkError::TrailersTooLarge) => protocol("response trailers too large"),
                    Err(ChunkError::Malformed(why)) => protocol(why),
                }
            }
            State::UntilClose => {
                if buf.is_empty() {
                    return Ok((0, Event::NeedMore));
                }
                Ok((buf.len(), Event::Body(0, buf.len())))
            }
            State::Done => protocol("data after the end of the response"),
            State::Failed => protocol("the response was already refused"),
        }
    }

    /// The connection ended: the last event, or why that is an error.
    pub(crate) fn eof(&mut self) -> Result<Event, DecodeError> {
        match self.state {
            State::UntilClose => {
                self.state = State::Done;
                Ok(Event::End)
            }
            State::Length(0) => {
                self.state = State::Done;
                Ok(Event::End)
            }
            State::Done => Ok(Event::End),
            State::Head { .. } => Err(DecodeError::Closed { body: false }),
            _ => Err(DecodeError::Closed { body: true }),
        }
    }

    fn decode_head(&mut self, buf: &[u8], searched: usize) -> Result<(usize, Event), DecodeError> {
        // Find the end of the head first (resuming where the last call
        // stopped), so a head arriving in pieces costs linear time.
        let Some(end) = grammar::head_end(buf, searched) else {
            if buf.len() > self.max_head {
                return protocol("response head too large");
            }
            self.state = State::Head { searched: buf.len() };
            return Ok((0, Event::NeedMore));
        };
        if end > self.max_head {
            return protocol("response head too large");
        }
        let raw = &buf[..end];
        // RFC 9112 §2.2: CRLF only; a bare CR or LF could make the head end
        // elsewhere for another reader.
        if let Err(why) = grammar::crlf_lines(raw) {
            return protocol(format!("{why} in the response head"));
        }
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        let (version_minor, status, reason) = status_line(&raw[..line_end])?;
        // The field lines: httparse, told to take obs-fold (RFC 9112 §5.2: a
        // user agent MUST replace each obs-fold with SP before reading the
        // value; done below) and nothing else it could be lenient about.
        // (httparse reads only 1.0 and 1.1: a later 1.x, checked above, is
        // handed to it as 1.1.)
        let patched;
        let raw = if &raw[5..8] == b"1.0" || &raw[5..8] == b"1.1" {
            raw
        } else {
            patched = [b"HTTP/1.1".as_slice(), &raw[8..]].concat();
            &patched[..]
        };
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        let mut config = httparse::ParserConfig::default();
        config.allow_obsolete_multiline_headers_in_responses(true);
        match config.parse_response(&mut resp, raw) {
            Ok(httparse::Status::Complete(n)) if n == end => {}
            Ok(_) => return protocol("malformed response head"),
            Err(httparse::Error::TooManyHeaders) => return protocol("too many response headers"),
            Err(e) => return protocol(format!("malformed response head: {e}")),
        }
        if (100..200).contains(&status) && !(status == 101 && self.upgrade) {
            // Interim (100 Continue, 103 Early Hints): skipped, the final
            // response follows (RFC 9110 §15.2). A 101 not asked for is not
            // one to skip: the server switched protocols under us.
            if status == 101 {
                return protocol("101 Switching Protocols to a request that did not ask to upgrade");
            }
            self.interim += 1;
            self.continued |= status == 100;
            if self.interim > MAX_INTERIM {
                return protocol("too many interim responses");
            }
            self.state = State::Head { searched: 0 };
            return Ok((end, Event::NeedMore));
        }
        let mut fields = Vec::with_capacity(resp.headers.len());
        for h in resp.headers.iter() {
            // RFC 9112 §5.2: obs-fold (CRLF then SP/HTAB) becomes SP.
            let value = unfold(h.value);
            let value = grammar::trim_ows(&value).to_vec();
            // RFC 9110 §5.1 field-name = token, §5.5 field-value characters.
            if !grammar::is_token(h.name.as_bytes()) || !grammar::is_field_value(&value) {
                return protocol(format!("malformed response header {:?}", h.name));
            }
            fields.push((h.name.to_owned(), value));
        }
        let mut head = ResponseHead { status, reason, version_minor, headers: fields, framing: Framing::None, keep_alive: true };
        head.framing = self.framing(&head)?;
        head.keep_alive = keep_alive(&head) && head.framing != Framing::UntilClose && status != 101;
        self.state = match head.framing {
            Framing::None => State::Length(0),
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Chunked(ChunkedBody::new()),
            Framing::UntilClose => State::UntilClose,
        };
        Ok((end, Event::Head(head)))
    }

    /// RFC 9112 §6.3: how the body is delimited. Where the RFC lets a client
    /// pick one reading of conflicting framing, we refuse the response (a
    /// hostile server must not steer what we take as the body, or the start
    /// of the next response on a kept-alive connection).
    fn framing(&self, head: &ResponseHead) -> Result<Framing, DecodeError> {
        let status = head.status;
        // §6.3 ¶1: no body for HEAD, 1xx, 204, 304, whatever the headers say.
        if self.head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::None);
        }
        let mut te_lines = 0;
        let mut codings = Vec::new();
        for (name, value) in &head.headers {
            if name.eq_ignore_ascii_case("transfer-encoding") {
                te_lines += 1;
                if let Err(why) = grammar::transfer_codings(value, &mut codings) {
                    return protocol(why);
                }
            }
        }
        let length = grammar::content_length(
            head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.as_slice()),
        );
        if te_lines > 0 {
            // §6.1: Transfer-Encoding in an HTTP/1.0 message is faulty framing.
            if head.version_minor == 0 {
                return protocol("Transfer-Encoding in an HTTP/1.0 response");
            }
            // §6.3 ¶3: Transfer-Encoding overrides Content-Length, and the
            // message "ought to be handled as an error": it is one here.
            if !matches!(length, Ok(None)) {
                return protocol("both Transfer-Encoding and Content-Length");
            }
            // §7: chunked once, last, without parameters. A chunked body
            // under another coding, or any coding we do not decode, is
            // refused rather than read until close (§6.3 ¶4) and handed over
            // still encoded.
            return match codings.as_slice() {
                [only] if only.name == b"chunked" && !only.params => Ok(Framing::Chunked),
                _ if codings.iter().filter(|c| c.name == b"chunked").count() > 1 => protocol("chunked applied more than once"),
                _ => protocol("unsupported transfer coding in the response"),
            };
        }
        // §6.3 ¶5, RFC 9110 §8.6: a list of identical values is one value.
        match length {
            Ok(Some(n)) => Ok(Framing::Length(n)),
            Ok(None) => Ok(Framing::UntilClose),
            Err(why) => protocol(why),
        }
    }
}

/// RFC 9112 §4: `status-line = HTTP-version SP status-code SP [ reason-phrase ]`
/// (without its CRLF), `status-code = 3DIGIT`,
/// `reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )`. The SP before an
/// empty reason is required. (version minor, status, reason)
fn status_line(line: &[u8]) -> Result<(u8, u16, String), DecodeError> {
    let bad = || protocol(format!("malformed status line {:?}", String::from_utf8_lossy(&line[..line.len().min(64)])));
    if line.len() < 13 || line[8] != b' ' || line[12] != b' ' {
        return bad();
    }
    // RFC 9110 §2.5: a later 1.x is read as 1.1; another major is not HTTP/1.
    let version_minor = match grammar::http_version(&line[..8]) {
        Some((1, 0)) => 0,
        Some((1, _)) => 1,
        _ => return bad(),
    };
    let code = &line[9..12];
    if !code.iter().all(u8::is_ascii_digit) {
        return bad();
    }
    let status = code.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    // RFC 9110 §15: a status code below 100 has no class to fall back on.
    if status < 100 {
        return protocol(format!("bad status code {status}"));
    }
    let reason = &line[13..];
    if !reason.iter().all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80) {
        return bad();
    }
    Ok((version_minor, status, String::from_utf8_lossy(reason).into_owned()))
}

fn keep_alive(head: &ResponseHead) -> bool {
    let mut close = false;
    let mut keep = false;
    for (name, value) in &head.headers {
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    if close {
        return false;
    }
    head.version_minor >= 1 || keep
}

/// How the decoder reads `data` as one connection's whole input (then its
/// end): one line of the differential harness (tests/http_response_differential.rs).
/// Responses are read one after another, a fresh decoder each, as answers to
/// requests whose methods `head` gives (true: HEAD; past its end: GET).
/// Format: `<end> <reason> <n>` then per final response `<status> <version>
/// <keep-alive 0|1> <header count> (<name> <value>)* <body>`, byte strings in
/// hex (`-` when empty); `end` is clean, partial, closed or refused.
pub(crate) fn transcript(data: &[u8], head: &[bool]) -> String {
    fn hex(b: &[u8]) -> String {
        if b.is_empty() {
            return "-".into();
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    let mut d = ResponseDecoder::new(head.first() == Some(&true), false);
    let mut pos = 0;
    let mut done: Vec<(ResponseHead, Vec<u8>)> = Vec::new();
    let mut cur: Option<(ResponseHead, Vec<u8>)> = None;
    let end = loop {
        let step = if pos == data.len() && cur.is_none() && d.interim == 0 && matches!(d.state, State::Head { .. }) {
            // The connection ended between responses.
            break "clean -".to_owned();
        } else {
            d.decode(&data[pos..])
        };
        let (used, ev) = match step {
            Err(DecodeError::Protocol(why)) => break format!("refused {}", hex(why.as_bytes())),
            Err(DecodeError::Closed { .. }) => break "partial -".to_owned(),
            Ok((0, Event::NeedMore)) if pos == data.len() => match d.eof() {
                Ok(_) => (0, Event::End),
                Err(_) => break "partial -".to_owned(),
            },
            Ok((0, Event::NeedMore)) => break "partial -".to_owned(),
            Ok(x) => x,
        };
        let at = pos;
        pos += used;
        match ev {
            Event::NeedMore => {}
            Event::Head(h) => cur = Some((h, Vec::new())),
            Event::Body(a, b) => {
                if let Some((_, body)) = cur.as_mut() {
                    body.extend_from_slice(&data[at + a..at + b]);
                }
            }
            Event::End => {
                let Some((h, body)) = cur.take() else { break "clean -".to_owned() };
                let keep_alive = h.keep_alive;
                done.push((h, body));
                if !keep_alive {
                    break "closed -".to_owned();
                }
                d = ResponseDecoder::new(head.get(done.len()) == Some(&true), false);
            }
        }
    };
    let mut out = format!("{end} {}", done.len());
    for (h, body) in &done {
        let version = if h.version_minor == 0 { "1.0" } else { "1.1" };
        out += &format!(" {} {version} {} {}", h.status, u8::from(h.keep_alive), h.headers.len());
        for (n, v) in &h.headers {
            out += &format!(" {} {}", hex(n.as_bytes()), hex(v));
        }
        out += &format!(" {}", hex(body));
    }
    out
}

/// The fuzz target's driver: decodes `data` in two pieces (split at
/// `split`) the way a connection does; panics only on a broken invariant.
pub(crate) fn fuzz_feed(data: &[u8], split: usize) {
    for head_request in [false, true] {
        let mut d = ResponseDecoder::new(head_request, data.first() == Some(&b'U'));
        let mut buf: Vec<u8> = Vec::new();
        let split = split.min(data.len());
        let mut body = 0usize;
        'pieces: for piece in [&data[..split], &data[split..]] {
            buf.extend_from_slice(piece);
            loop {
                let (used, ev) = match d.decode(&buf) {
                    Ok(x) => x,
                    Err(_) => break 'pieces,
                };
                assert!(used <= buf.len(), "consumed more than given");
                if let Event::Body(a, b) = ev {
                    assert!(a <= b && b <= used, "body range outside the bytes used");
                    body += b - a;
                }
                buf.drain(..used);
                match ev {
                    Event::End => break 'pieces,
                    Event::NeedMore if used == 0 => break,
                    _ => {}
                }
            }
        }
        assert!(body <= data.len());
        let _ = d.eof();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes a whole response fed `step` bytes at a time: (head, body).
    fn run(bytes: &[u8], step: usize, head_request: bool) -> Result<(ResponseHead, Vec<u8>), DecodeError> {
        let mut d = ResponseDecoder::new(head_request, false);
        let mut buf = Vec::new();
        let mut head = None;
        let mut body = Vec::new();
        let mut fed = 0;
        loop {
            let (used, ev) = d.decode(&buf)?;
            match ev {
                Event::Head(h) => head = Some(h),
                Event::Body(a, b) => body.extend_from_slice(&buf[a..b]),
                Event::End => return Ok((head.unwrap(), body)),
                Event::NeedMore if used == 0 => {
                    if fed == bytes.len() {
                        match d.eof()? {
                            Event::End => return Ok((head.unwrap(), body)),
                            _ => unreachable!(),
                        }
                    }
                    let n = step.min(bytes.len() - fed);
                    buf.extend_from_slice(&bytes[fed..fed + n]);
                    fed += n;
                }
                Event::NeedMore => {}
            }
            buf.drain(..used);
        }
    }

    #[test]
    fn framings_at_every_step_size() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", b"hello", true),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nT: 1\r\n\r\n", b"hello", true),
            (b"HTTP/1.1 200 OK\r\n\r\nuntil close", b"until close", false),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"hi", false),
            (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi", b"hi", true),
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi", b"hi", false),
            (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", b"", true),
            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", b"", true),
        ];
        for (bytes, want, ka) in cases {
            for step in [1, 2, 3, 7, 64, 4096] {
                let (head, body) = run(bytes, step, false).unwrap_or_else(|e| panic!("{e:?} for {:?}", String::from_utf8_lossy(bytes)));
                assert_eq!(&body, want, "step {step}");
                assert_eq!(head.keep_alive, *ka, "{:?}", String::from_utf8_lossy(bytes));
            }
        }
        let (head, body) = run(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 3, true).unwrap();
        assert_eq!((head.status, body.len(), head.framing), (200, 0, Framing::None));
    }

    #[test]
    fn refusals() {
        let bad: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
            b"SPDY/3 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
        ];
        for b in bad {
            assert!(matches!(run(b, 5, false), Err(DecodeError::Protocol(_))), "{:?}", String::from_utf8_lossy(b));
        }
        assert_eq!(run(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", 4, false).unwrap_err(), DecodeError::Closed { body: true });
        assert_eq!(run(b"HTTP/1.1 200 O", 4, false).unwrap_err(), DecodeError::Closed { body: false });
        let huge = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &vec![b'a'; MAX_HEAD], b"\r\n\r\n"].concat();
        assert!(matches!(run(&huge, 1000, false), Err(DecodeError::Protocol(_))));
    }

    fn refused(bytes: &[u8]) -> bool {
        matches!(run(bytes, 4096, false), Err(DecodeError::Protocol(_)))
    }

    fn body_of(bytes: &[u8]) -> Vec<u8> {
        run(bytes, 4096, false).unwrap_or_else(|e| panic!("{e:?} for {:?}", String::from_utf8_lossy(bytes))).1
    }

    // RFC 9112 §4 status-line.
    #[test]
    fn status_line_rule() {
        let line = |l: &[u8]| {
            let mut r = l.to_vec();
            r.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
            run(&r, 4096, false).map(|(h, _)| (h.version_minor, h.status, h.reason))
        };
        assert_eq!(line(b"HTTP/1.1 200 OK"), Ok((1, 200, "OK".into())));
        assert_eq!(line(b"HTTP/1.1 200 "), Ok((1, 200, "".into())), "empty reason");
        assert_eq!(line(b"HTTP/1.0 404 Not  Found\t!"), Ok((0, 404, "Not  Found\t!".into())));
        assert_eq!(line(b"HTTP/1.1 200 \xc3\xa9t\xe9"), Ok((1, 200, "\u{e9}t\u{fffd}".into())), "obs-text");
        assert_eq!(line(b"HTTP/1.9 200 OK"), Ok((1, 200, "OK".into())), "a later 1.x is read as 1.1");
        assert_eq!(line(b"HTTP/1.1 599 x"), Ok((1, 599, "x".into())));
        for bad in [
            &b"HTTP/1.1 200"[..], b"HTTP/1.1  200 OK", b"HTTP/1.1 20 OK", b"HTTP/1.1 2000 OK", b"HTTP/1.1 099 Low", b"HTTP/1.1 2a0 OK",
            b"http/1.1 200 OK", b"HTTP/2.0 200 OK", b"HTTP/0.9 200 OK", b"HTTP/1.1 200 O\x01K", b"HTTP/1.1 200 O\x7fK", b" HTTP/1.1 200 OK",
            b"HTTP/1.1\t200 OK", b"ICY 200 OK", b"HTTP/1.10 200 OK",
        ] {
            assert!(matches!(line(bad), Err(DecodeError::Protocol(_))), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(refused(b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), "no empty line before a status-line");
    }

    // RFC 9112 §2.2: CRLF only.
    #[test]
    fn line_ending_rule() {
        for bad in [
            &b"HTTP/1.1 200 OK\nContent-Length: 3\r\n\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\n\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\nabc",
            b"HTTP/1.1 200 OK\r\nX: a\rContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\rContent-Length: 3\r\n\r\nabc",
        ] {
            assert!(refused(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_smaller_head_limit() {
        let head = [b"HTTP/1.1 200 OK\r\nX: ".as_slice(), &[b'a'; 1000], b"\r\nContent-Length: 0\r\n\r\n"].concat();
        let mut d = ResponseDecoder::new(false, false).with_max_head(2048);
        assert!(matches!(d.decode(&head), Ok((_, Event::Head(_)))));
        let mut d = ResponseDecoder::new(false, false).with_max_head(512);
        assert_eq!(d.decode(&head), Err(DecodeError::Protocol("response head too large".into())));
        // Arriving in pieces: refused once past the limit, without the end.
        let mut d = ResponseDecoder::new(false, false).with_max_head(512);
        assert!(matches!(d.decode(&head[..400]), Ok((0, Event::NeedMore))));
        assert!(d.decode(&head[..600]).is_err());
    }

    // RFC 9112 §5: field lines; §5.2 obs-fold is unfolded by a user agent.
    #[test]
    fn field_line_rule() {
        let (h, body) = run(b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n  b\r\n\tc\r\nContent-Length: 2\r\nX-Obs: \x80\xff\r\n\r\nhi", 3, false).unwrap();
        // Each fold and the whitespace around it: one SP.
        assert_eq!(h.header("x-fold"), Some(&b"a b c"[..]));
        let (folded, _) = run(b"HTTP/1.1 200 OK\r\nX-XSS-Protection: 1;\r\n\tmode=block\r\nContent-Length: 0\r\n\r\n", 3, false).unwrap();
        assert_eq!(folded.header("x-xss-protection"), Some(&b"1; mode=block"[..]));
        assert_eq!(h.header("x-obs"), Some(&b"\x80\xff"[..]));
        assert_eq!(body, b"hi");
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\nX Y: 1\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 3\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\n Content-Length: 3\r\n\r\nabc",
        ] {
            assert!(refused(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    // RFC 9112 §6.1, §6.3, §7: Transfer-Encoding in a response.
    #[test]
    fn transfer_encoding_rule() {
        for te in ["chunked", "Chunked", " , chunked ,", "CHUNKED"] {
            let r = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
            assert_eq!(body_of(r.as_bytes()), b"abc", "{te:?}");
        }
        for te in ["gzip", "gzip, chunked", "chunked, gzip", "chunked, chunked", "chunked;a=1", "identity", "\"chunked\"", "chun ked", ""] {
            let r = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
            assert!(refused(r.as_bytes()), "{te:?}");
        }
        assert!(refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
        assert!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"));
        assert!(refused(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\nTransfer-Encoding: chunked\r\n\r\nabc"));
        assert!(refused(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"));
    }

    // RFC 9110 §8.6 Content-Length in a response.
    #[test]
    fn content_length_rule() {
        for cl in ["3", "003", "3, 3", "3,,3,", "3\r\nContent-Length: 3"] {
            let r = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nabcEXTRA");
            let (h, body) = run(r.as_bytes(), 4096, false).unwrap_or_else(|e| panic!("{cl:?}: {e:?}"));
            assert_eq!((h.framing, body.as_slice()), (Framing::Length(3), &b"abc"[..]), "{cl:?}");
        }
        for cl in ["3, 4", "", " , ", "+3", "-3", "3 3", "0x3", "3a", "18446744073709551616", "3\r\nContent-Length: 4"] {
            let r = format!("HTTP/1.1 200 OK\r\nContent-Length: {cl}\r\n\r\nabc");
            assert!(refused(r.as_bytes()), "{cl:?}");
        }
    }

    // RFC 9112 §7.1: the chunked body, the same decoder as the server's.
    #[test]
    fn chunked_rule() {
        let chunked = |b: &[u8]| [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".as_slice(), b].concat();
        assert_eq!(body_of(&chunked(b"3;a=\"x;y\"\r\nabc\r\n2 ; b\r\nde\r\n0\r\nT: 1\r\n\r\n")), b"abcde");
        for bad in [&b"3 \r\nabc\r\n0\r\n\r\n"[..], b"+3\r\nabc\r\n0\r\n\r\n", b"3\r\nabcd\r\n0\r\n\r\n", b"3;\r\nabc\r\n0\r\n\r\n", b"0\r\nBad Trailer\r\n\r\n", b"3\nabc\r\n0\r\n\r\n"] {
            assert!(refused(&chunked(bad)), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    // RFC 9110 §15.2: interim responses; §6.3 ¶1: bodiless responses.
    #[test]
    fn interim_and_bodiless_rule() {
        let (h, body) = run(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5, false).unwrap();
        assert_eq!((h.status, body.as_slice()), (200, &b"ok"[..]));
        assert!(refused(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"), "101 not asked for");
        let many = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM as usize + 1);
        assert!(refused(&[many.as_slice(), b"HTTP/1.1 204 No Content\r\n\r\n"].concat()), "endless interim responses");
        for r in [
            &b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"[..],
            b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            let mut d = ResponseDecoder::new(false, false);
            let (used, ev) = d.decode(r).unwrap();
            assert_eq!(used, r.len());
            assert!(matches!(ev, Event::Head(h) if h.framing == Framing::None));
            assert_eq!(d.decode(b"").unwrap(), (0, Event::End));
        }
        let mut d = ResponseDecoder::new(true, false);
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n";
        assert!(matches!(d.decode(r).unwrap(), (n, Event::Head(h)) if n == r.len() && h.framing == Framing::None), "HEAD");
    }

    #[test]
    fn upgrade_is_final_when_asked_for() {
        let mut d = ResponseDecoder::new(false, true);
        let (used, ev) = d.decode(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframe").unwrap();
        assert_eq!(used, 56);
        let Event::Head(h) = ev else { panic!() };
        assert_eq!((h.status, h.framing, h.keep_alive), (101, Framing::None, false));
        assert_eq!(h.header("upgrade"), Some(&b"websocket"[..]));
    }

    // The differential harness's reading (tests/http_response_differential.rs).
    #[test]
    fn transcript_reads_a_connection() {
        let two = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.0 204 No\r\n\r\n";
        // The first answers a HEAD: its Content-Length delimits nothing.
        assert_eq!(transcript(two, &[true]), "closed - 2 200 1.1 1 1 436f6e74656e742d4c656e677468 35 - 204 1.0 0 0 -");
        assert_eq!(transcript(b"HTTP/1.1 200 OK\r\n\r\nab", &[]), "closed - 1 200 1.1 0 0 6162", "until the end");
        assert_eq!(transcript(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", &[]), "partial - 0");
        assert_eq!(transcript(b"HTTP/1.1 100 Continue\r\n\r\n", &[]), "partial - 0", "no final response");
        assert_eq!(transcript(b"", &[]), "clean - 0");
        assert!(transcript(b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", &[]).starts_with("refused "));
    }

    #[test]
    fn fuzz_driver_holds_on_samples() {
        for s in [&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"[..], b"U", b"HTTP/1.1 100 x\r\n\r\n"] {
            for split in 0..s.len() {
                fuzz_feed(s, split);
            }
        }
    }
}
