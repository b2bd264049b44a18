//! Sans-IO HTTP/1.1 response decoding for the client (RFC 9112): the status
//! line and headers (httparse), interim 1xx responses skipped, the body's
//! framing decided as §6.3 says (no body for HEAD, 1xx, 204, 304; chunked;
//! Content-Length; else until the connection closes). Bytes in, events out;
//! no socket, no clock.

use crate::http::h1::{ChunkError, ChunkStep, ChunkedBody};

/// Longest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;
/// Most header lines in a response head.
pub(crate) const MAX_HEADERS: usize = 128;

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
}

fn protocol<T>(why: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError::Protocol(why.into()))
}

impl ResponseDecoder {
    pub(crate) fn new(head_request: bool, upgrade: bool) -> ResponseDecoder {
        ResponseDecoder { state: State::Head { searched: 0 }, head_request, upgrade }
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
        let from = searched.saturating_sub(3);
        let Some(end) = buf[from..].windows(4).position(|w| w == b"\r\n\r\n").map(|p| from + p + 4) else {
            if buf.len() > MAX_HEAD {
                return protocol("response head too large");
            }
            self.state = State::Head { searched: buf.len() };
            return Ok((0, Event::NeedMore));
        };
        if end > MAX_HEAD {
            return protocol("response head too large");
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf[..end]) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return protocol("incomplete response head"),
            Err(httparse::Error::TooManyHeaders) => return protocol("too many response headers"),
            Err(e) => return protocol(format!("malformed response head: {e}")),
        }
        let status = resp.code.unwrap_or(0);
        let version_minor = resp.version.unwrap_or(1);
        if !(100..=999).contains(&status) {
            return protocol(format!("bad status code {status}"));
        }
        if (100..200).contains(&status) && !(status == 101 && self.upgrade) {
            // Interim (100 Continue, 103 Early Hints, a 101 not asked for):
            // skipped, the final response follows.
            if status == 101 {
                return protocol("101 Switching Protocols to a request that did not ask to upgrade");
            }
            self.state = State::Head { searched: 0 };
            return Ok((end, Event::NeedMore));
        }
        let reason = resp.reason.unwrap_or("").to_owned();
        let headers: Vec<(String, Vec<u8>)> =
            resp.headers.iter().map(|h| (h.name.to_owned(), h.value.to_vec())).collect();
        let mut head = ResponseHead { status, reason, version_minor, headers, framing: Framing::None, keep_alive: true };
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

    fn framing(&self, head: &ResponseHead) -> Result<Framing, DecodeError> {
        let status = head.status;
        if self.head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::None);
        }
        let mut te_seen = false;
        let mut chunked_last = false;
        for (name, value) in &head.headers {
            if name.eq_ignore_ascii_case("transfer-encoding") {
                te_seen = true;
                for coding in value.split(|&b| b == b',') {
                    let coding = coding.trim_ascii();
                    if !coding.is_empty() {
                        chunked_last = coding.eq_ignore_ascii_case(b"chunked");
                    }
                }
            }
        }
        if te_seen {
            // §6.3: chunked last → chunked; any other final coding → read
            // until close. Content-Length is ignored either way.
            return Ok(if chunked_last { Framing::Chunked } else { Framing::UntilClose });
        }
        let mut length: Option<u64> = None;
        for (name, value) in &head.headers {
            if !name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            for part in value.split(|&b| b == b',') {
                let part = part.trim_ascii();
                let n = std::str::from_utf8(part)
                    .ok()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|s| s.parse::<u64>().ok());
                let Some(n) = n else { return protocol("malformed Content-Length") };
                if length.is_some_and(|l| l != n) {
                    return protocol("conflicting Content-Length values");
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => Framing::Length(n),
            None => Framing::UntilClose,
        })
    }
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
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabcdef", b"abcdef", false),
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

    #[test]
    fn upgrade_is_final_when_asked_for() {
        let mut d = ResponseDecoder::new(false, true);
        let (used, ev) = d.decode(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nframe").unwrap();
        assert_eq!(used, 56);
        let Event::Head(h) = ev else { panic!() };
        assert_eq!((h.status, h.framing, h.keep_alive), (101, Framing::None, false));
        assert_eq!(h.header("upgrade"), Some(&b"websocket"[..]));
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
