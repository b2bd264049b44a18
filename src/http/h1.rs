//! Sans-IO HTTP/1.1 request decoding: bytes in, request heads and body
//! ranges out. Never touches a socket or the clock: the caller passes the time
//! (milliseconds on any monotonic scale) and asks for timeouts, so every rule
//! here is tested with a virtual clock and fuzzed (fuzz/fuzz_targets/h1.rs).
//!
//! One [`Decoder`] per connection. [`Decoder::decode`] is fed the bytes not
//! yet consumed and returns one event and how many bytes it used; the caller
//! loops until `NeedMore`. The head is parsed by httparse; framing (RFC 9112
//! §6), chunked decoding and the strictness checks httparse leaves to the
//! caller are here. Any error means: answer with its status and close the
//! connection (the framing can no longer be trusted).
//!
//! Timeouts: the first request's head must arrive within `header_timeout_ms`
//! of the connection's start (slowloris), and its first byte within
//! `idle_timeout_ms` when that is shorter (a connection that never sends
//! anything is idle: closed without a word); a later request's head within that
//! time of its first byte; a body within `body_timeout_ms` of the end of its
//! head. Between requests, once the caller says the response is done, the
//! connection may stay idle `idle_timeout_ms`. While a request is being
//! handled (after `End`, before `on_response_done`) nothing times out.

use super::grammar;

/// Limits the decoder enforces (copied from the server's settings).
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) max_header_size: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_request_target: usize,
    pub(crate) max_body_size: u64,
    pub(crate) header_timeout_ms: u64,
    pub(crate) body_timeout_ms: u64,
    pub(crate) idle_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_size: 64 * 1024,
            max_headers: 100,
            max_request_target: 8 * 1024,
            max_body_size: 64 * 1024 * 1024,
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            idle_timeout_ms: 75_000,
        }
    }
}

/// A request the server must refuse: answer `status` and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpError {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
}

const fn err(status: u16, reason: &'static str) -> HttpError {
    HttpError { status, reason }
}

/// What timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timeout {
    /// A request's head or body took too long: answer 408 and close.
    Request,
    /// An idle keep-alive connection: close without a word.
    Idle,
}

/// A parsed and validated request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) version_minor: u8,
    /// Header lines in order, repeats kept; names as sent.
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    /// Whether the connection may serve another request after this one.
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    /// `Connection: upgrade` with an `Upgrade` header (WebSocket handshakes).
    pub(crate) upgrade: bool,
    /// The body length when it is known in advance (Content-Length, or 0).
    pub(crate) content_length: Option<u64>,
    pub(crate) chunked: bool,
}

/// One decoding step's result.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// With 0 bytes used: nothing more can be decoded until more bytes
    /// arrive. With bytes used: framing was consumed (empty lines, a chunk
    /// header); call again with the rest.
    NeedMore,
    /// A request head. Body events (if any) and then `End` follow.
    Head(RequestHead),
    /// Body bytes: this range of the slice passed to `decode`.
    Body(usize, usize),
    /// The request is complete.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk (bytes seen so far).
    Trailers(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A new connection that sent nothing yet, since the given time.
    Fresh(u64),
    /// Between requests, since the given time (keep-alive idle).
    Idle(u64),
    /// A request was decoded and is being answered: no timeout.
    Handling,
    /// Reading a head that started at the given time; the second field is
    /// how far the head was already searched for its end (so a head arriving
    /// byte by byte costs linear, not quadratic, time).
    Head(u64, usize),
    Length { remaining: u64, deadline: u64 },
    Chunked { chunk: Chunk, total: u64, deadline: u64 },
    /// Emit `End` next.
    End,
    /// An error was returned; nothing more is decoded.
    Failed(HttpError),
}

/// The per-connection request decoder. See the module docs.
#[derive(Debug)]
pub(crate) struct Decoder {
    limits: Limits,
    state: State,
}

/// Longest chunk line: the size (with leading zeros) and its extensions.
const MAX_CHUNK_LINE: usize = grammar::MAX_CHUNK_EXT + 64;
const STACK_HEADERS: usize = 128;

impl Decoder {
    /// A decoder for a connection that started at `now_ms`.
    pub(crate) fn new(limits: Limits, now_ms: u64) -> Decoder {
        // The first request's head is due header_timeout after the accept.
        Decoder { limits, state: State::Fresh(now_ms) }
    }

    /// The caller finished answering every request decoded so far: the
    /// connection is idle from `now_ms` (unless a pipelined head started).
    pub(crate) fn on_response_done(&mut self, now_ms: u64) {
        if self.state == State::Handling {
            self.state = State::Idle(now_ms);
        }
    }

    /// When the current phase times out (None: no deadline now).
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let l = &self.limits;
        match self.state {
            State::Idle(since) => Some(since.saturating_add(l.idle_timeout_ms)),
            State::Fresh(since) => Some(since.saturating_add(l.idle_timeout_ms.min(l.header_timeout_ms))),
            State::Head(started, _) => Some(started.saturating_add(l.header_timeout_ms)),
            State::Length { deadline, .. } | State::Chunked { deadline, .. } => Some(deadline),
            State::Handling | State::End | State::Failed(_) => None,
        }
    }

    /// What timed out at `now_ms`, if anything.
    pub(crate) fn check_timeout(&self, now_ms: u64) -> Option<Timeout> {
        let deadline = self.next_deadline()?;
        if now_ms < deadline {
            return None;
        }
        Some(if matches!(self.state, State::Idle(_) | State::Fresh(_)) { Timeout::Idle } else { Timeout::Request })
    }

    fn fail(&mut self, e: HttpError) -> Result<(usize, Decoded), HttpError> {
        Err(self.failed(e))
    }

    fn failed(&mut self, e: HttpError) -> HttpError {
        self.state = State::Failed(e);
        e
    }

    /// Decodes the next event from `buf` (the bytes not consumed so far).
    pub(crate) fn decode(&mut self, buf: &[u8], now_ms: u64) -> Result<(usize, Decoded), HttpError> {
        match self.state {
            State::Failed(e) => Err(e),
            State::End => {
                self.state = State::Handling;
                Ok((0, Decoded::End))
            }
            State::Idle(_) | State::Handling | State::Head(..) | State::Fresh(_) => {
                if buf.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                match self.state {
                    // the first head's time counts from the accept
                    State::Fresh(since) => self.state = State::Head(since, 0),
                    State::Head(..) => {}
                    _ => self.state = State::Head(now_ms, 0),
                }
                self.decode_head(buf, now_ms)
            }
            State::Length { remaining, deadline } => {
                if buf.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                let n = remaining.min(buf.len() as u64) as usize;
                let left = remaining - n as u64;
                self.state = if left == 0 { State::End } else { State::Length { remaining: left, deadline } };
                Ok((n, Decoded::Body(0, n)))
            }
            State::Chunked { chunk, total, deadline } => self.decode_chunked(buf, chunk, total, deadline),
        }
    }

    fn decode_head(&mut self, buf: &[u8], now_ms: u64) -> Result<(usize, Decoded), HttpError> {
        // RFC 9112 §2.2: a server SHOULD ignore at least one empty line (CRLF)
        // before a request-line. We ignore up to 32; a bare CR or LF there is
        // refused like anywhere else in the head.
        let mut skip = 0;
        while buf[skip..].starts_with(b"\r\n") {
            skip += 2;
        }
        match buf.get(skip) {
            Some(b'\n') => return self.fail(err(400, "bare LF before the request-line")),
            Some(b'\r') if skip + 1 < buf.len() => return self.fail(err(400, "bare CR before the request-line")),
            _ => {}
        }
        if skip > 0 || buf.first() == Some(&b'\r') {
            if skip > 64 {
                return self.fail(err(400, "too many empty lines before the request"));
            }
            // The head starts after these: nothing of it was searched yet.
            if let State::Head(started, _) = self.state {
                self.state = State::Head(started, 0);
            }
            return Ok((skip, Decoded::NeedMore));
        }
        // Parse only once the end of the head (an empty line) is there;
        // until then search only the bytes not searched before.
        let State::Head(started, scanned) = self.state else { return Ok((0, Decoded::NeedMore)) };
        let Some(len) = grammar::head_end(buf, scanned) else {
            self.state = State::Head(started, buf.len());
            self.check_partial(buf)?;
            return Ok((0, Decoded::NeedMore));
        };
        if let Some(e) = self.target_too_long(buf) {
            return self.fail(e);
        }
        if len > self.limits.max_header_size {
            return self.fail(err(431, "request head too large"));
        }
        let raw = &buf[..len];
        // RFC 9112 §2.2: CRLF only (httparse would take a bare LF).
        if let Err(why) = grammar::crlf_lines(raw) {
            return self.fail(err(400, why));
        }
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        let line = request_line(&raw[..line_end]).map_err(|e| self.failed(e))?;
        // Header lines: httparse parses them; what RFC 9112 forbids and it
        // would let through is checked first, with a precise reason.
        let fields = &raw[line_end + 2..];
        if let Some(e) = raw_head_violation(fields) {
            return self.fail(e);
        }
        let max_headers = self.limits.max_headers;
        let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut heap;
        let headers: &mut [httparse::Header<'_>] = if max_headers <= STACK_HEADERS {
            &mut stack[..max_headers]
        } else {
            heap = vec![httparse::EMPTY_HEADER; max_headers];
            &mut heap[..]
        };
        let parsed = match httparse::parse_headers(fields, headers) {
            Ok(httparse::Status::Complete((n, parsed))) if n == fields.len() => parsed,
            Ok(_) => return self.fail(err(400, "malformed header section")),
            Err(httparse::Error::TooManyHeaders) => return self.fail(err(431, "too many header lines")),
            Err(httparse::Error::HeaderName) => return self.fail(err(400, "malformed header name")),
            Err(_) => return self.fail(err(400, "malformed header value")),
        };
        let head = self.validate(line, parsed)?;
        let deadline = now_ms.saturating_add(self.limits.body_timeout_ms);
        self.state = if head.chunked {
            State::Chunked { chunk: Chunk::Size, total: 0, deadline }
        } else {
            match head.content_length {
                Some(n) if n > 0 => State::Length { remaining: n, deadline },
                _ => State::End,
            }
        };
        Ok((len, Decoded::Head(head)))
    }

    /// Limits on a head that is still arriving.
    fn check_partial(&mut self, buf: &[u8]) -> Result<(), HttpError> {
        if let Some(e) = self.target_too_long(buf) {
            return Err(self.failed(e));
        }
        if buf.len() > self.limits.max_header_size {
            return Err(self.failed(err(431, "request head too large")));
        }
        Ok(())
    }

    /// 414 when the request-target (complete or still arriving) is too long.
    fn target_too_long(&self, buf: &[u8]) -> Option<HttpError> {
        let line_end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        let line = &buf[..line_end];
        let sp = line.iter().position(|&b| b == b' ')?;
        let rest = &line[sp + 1..];
        let target_len = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        (target_len > self.limits.max_request_target).then_some(err(414, "request-target too long"))
    }

    fn validate(&mut self, line: RequestLine<'_>, fields: &[httparse::Header<'_>]) -> Result<RequestHead, HttpError> {
        let RequestLine { method, target, form, version_minor } = line;
        let mut headers = Vec::with_capacity(fields.len());
        let mut hosts = 0;
        let mut bad_host = false;
        let mut lengths: Vec<&[u8]> = Vec::new();
        let mut te: Vec<grammar::Coding> = Vec::new();
        let mut te_lines = 0;
        let mut close = false;
        let mut keep_alive_token = false;
        let mut upgrade_token = false;
        let mut has_upgrade = false;
        let mut expect_continue = false;
        let mut expect_other = false;
        for h in fields {
            let name = h.name;
            let value = grammar::trim_ows(h.value);
            // RFC 9110 §5.1 field-name = token; §5.5 field-value characters.
            if !grammar::is_token(name.as_bytes()) {
                return Err(self.failed(err(400, "malformed header name")));
            }
            if !grammar::is_field_value(value) {
                return Err(self.failed(err(400, "control character in a header value")));
            }
            if name.eq_ignore_ascii_case("host") {
                // RFC 9110 §7.2: Host = uri-host [ ":" port ].
                hosts += 1;
                bad_host |= !grammar::is_host_port(value, false);
            } else if name.eq_ignore_ascii_case("content-length") {
                lengths.push(value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                te_lines += 1;
                if let Err(why) = grammar::transfer_codings(value, &mut te) {
                    return Err(self.failed(err(400, why)));
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for t in grammar::list(value) {
                    if t.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive_token = true;
                    } else if t.eq_ignore_ascii_case(b"upgrade") {
                        upgrade_token = true;
                    }
                }
            } else if name.eq_ignore_ascii_case("upgrade") {
                has_upgrade = true;
            } else if name.eq_ignore_ascii_case("expect") {
                // RFC 9110 §10.1.1: Expect = #expectation; only
                // "100-continue" (case-insensitive) is defined.
                for e in grammar::list(value) {
                    if e.eq_ignore_ascii_case(b"100-continue") {
                        expect_continue = true;
                    } else {
                        expect_other = true;
                    }
                }
            }
            headers.push((name.to_owned(), value.to_vec()));
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1, at most one in 1.0,
        // and (RFC 9110 §7.2) a valid one.
        if version_minor == 1 && hosts == 0 {
            return Err(self.failed(err(400, "missing Host")));
        }
        if hosts > 1 {
            return Err(self.failed(err(400, "more than one Host")));
        }
        if bad_host {
            return Err(self.failed(err(400, "malformed Host")));
        }
        // RFC 9110 §8.6: a list of identical values is one value.
        let content_length = match grammar::content_length(lengths.into_iter()) {
            Ok(n) => n,
            Err(why) => return Err(self.failed(err(400, why))),
        };
        let mut chunked = false;
        if te_lines > 0 {
            // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing
            // is faulty: refused.
            if version_minor == 0 {
                return Err(self.failed(err(400, "Transfer-Encoding in an HTTP/1.0 request")));
            }
            // RFC 9112 §6.3 ¶3: a server MAY reject a request with both; we
            // do (the smuggling-safe choice).
            if content_length.is_some() {
                return Err(self.failed(err(400, "both Content-Length and Transfer-Encoding")));
            }
            // RFC 9112 §6.3 ¶4: chunked must be the final coding (400), and
            // §7: it is applied at most once; §7.1 defines no parameters.
            let chunked_count = te.iter().filter(|c| c.name == b"chunked").count();
            let last = te.last();
            if chunked_count > 1 || (chunked_count == 1 && last.is_none_or(|c| c.name != b"chunked")) {
                return Err(self.failed(err(400, "chunked must be the final transfer coding, once")));
            }
            if last.is_some_and(|c| c.name == b"chunked" && c.params) {
                return Err(self.failed(err(400, "parameters on the chunked coding")));
            }
            // RFC 9112 §6.1: a coding we do not implement is 501; with no
            // coding at all (an empty list) the length is unknown: 400.
            if te.len() > chunked_count {
                return Err(self.failed(err(501, "unsupported transfer coding")));
            }
            if te.is_empty() {
                return Err(self.failed(err(400, "empty Transfer-Encoding")));
            }
            chunked = true;
        }
        if let Some(n) = content_length
            && n > self.limits.max_body_size
        {
            return Err(self.failed(err(413, "request body too large: Content-Length too long")));
        }
        // RFC 9110 §10.1.1: an expectation we cannot meet is 417 (HTTP/1.0
        // requests' Expect is ignored, as that section asks for 100-continue).
        if version_minor == 1 && expect_other {
            return Err(self.failed(err(417, "unsupported expectation")));
        }
        // RFC 9112 §3.2.2: with an absolute-form target the authority in it
        // is the host, whatever Host says; the target is routed by its path.
        let target = match form {
            grammar::TargetForm::Absolute { authority: (a, b), path } => {
                let authority = &target[a..b];
                for (name, value) in headers.iter_mut() {
                    if name.eq_ignore_ascii_case("host") {
                        *value = authority.as_bytes().to_vec();
                    }
                }
                let rest = &target[path..];
                if rest.starts_with('/') { rest.to_owned() } else { format!("/{rest}") }
            }
            _ => target.to_owned(),
        };
        let keep_alive = if version_minor == 0 { keep_alive_token && !close } else { !close };
        Ok(RequestHead {
            method: method.to_owned(),
            target,
            version_minor,
            headers,
            keep_alive,
            expect_continue: expect_continue && version_minor == 1,
            upgrade: upgrade_token && has_upgrade,
            content_length: if chunked { None } else { Some(content_length.unwrap_or(0)) },
            chunked,
        })
    }

    fn decode_chunked(&mut self, buf: &[u8], chunk: Chunk, total: u64, deadline: u64) -> Result<(usize, Decoded), HttpError> {
        let mut body = ChunkedBody { chunk, total };
        match body.step(buf, self.limits.max_body_size, self.limits.max_header_size) {
            Ok((n, step)) => {
                self.state = match step {
                    ChunkStep::End => State::Handling,
                    _ => State::Chunked { chunk: body.chunk, total: body.total, deadline },
                };
                Ok((n, match step {
                    ChunkStep::NeedMore => Decoded::NeedMore,
                    ChunkStep::Data(n) => Decoded::Body(0, n),
                    ChunkStep::End => Decoded::End,
                }))
            }
            Err(ChunkError::TooLarge) => self.fail(err(413, "request body too large: chunked body too large")),
            Err(ChunkError::TrailersTooLarge) => self.fail(err(431, "trailers too large")),
            Err(ChunkError::Malformed(why)) => self.fail(err(400, why)),
        }
    }
}

/// A chunked body being decoded (RFC 9112 §7.1): shared by the server's
/// request decoder and the client's response decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkedBody {
    chunk: Chunk,
    total: u64,
}

/// One step of [`ChunkedBody::step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkStep {
    /// With 0 bytes used: wait for more; otherwise framing was consumed.
    NeedMore,
    /// The first `n` bytes of the slice are body data.
    Data(usize),
    /// The last chunk and the trailers are through.
    End,
}

/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChunkError {
    TooLarge,
    TrailersTooLarge,
    Malformed(&'static str),
}

impl ChunkedBody {
    pub(crate) fn new() -> ChunkedBody {
        ChunkedBody { chunk: Chunk::Size, total: 0 }
    }

    /// Decodes from the start of `buf`: returns the bytes used and what they were.
    pub(crate) fn step(&mut self, buf: &[u8], max_body: u64, max_trailers: usize) -> Result<(usize, ChunkStep), ChunkError> {
        use ChunkError::Malformed;
        match self.chunk {
            Chunk::Size => {
                let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                    if buf.len() > MAX_CHUNK_LINE {
                        return Err(Malformed("chunk-size line too long"));
                    }
                    return Ok((0, ChunkStep::NeedMore));
                };
                if nl > MAX_CHUNK_LINE {
                    return Err(Malformed("chunk-size line too long"));
                }
                let line = buf[..nl].strip_suffix(b"\r").ok_or(Malformed("chunk-size line without CRLF"))?;
                let size = grammar::chunk_line(line).map_err(Malformed)?;
                self.total = match self.total.checked_add(size) {
                    Some(t) if t <= max_body => t,
                    _ => return Err(ChunkError::TooLarge),
                };
                self.chunk = if size == 0 { Chunk::Trailers(0) } else { Chunk::Data(size) };
                Ok((nl + 1, ChunkStep::NeedMore))
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok((0, ChunkStep::NeedMore));
                }
                let n = left.min(buf.len() as u64) as usize;
                let rest = left - n as u64;
                self.chunk = if rest == 0 { Chunk::DataEnd } else { Chunk::Data(rest) };
                Ok((n, ChunkStep::Data(n)))
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    if buf.first().is_some_and(|&b| b != b'\r') {
                        return Err(Malformed("chunk data not followed by CRLF"));
                    }
                    return Ok((0, ChunkStep::NeedMore));
                }
                if &buf[..2] != b"\r\n" {
                    return Err(Malformed("chunk data not followed by CRLF"));
                }
                self.chunk = Chunk::Size;
                Ok((2, ChunkStep::NeedMore))
            }
            Chunk::Trailers(seen) => {
                let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
                    if seen + buf.len() > max_trailers {
                        return Err(ChunkError::TrailersTooLarge);
                    }
                    return Ok((0, ChunkStep::NeedMore));
                };
                if seen + nl > max_trailers {
                    return Err(ChunkError::TrailersTooLarge);
                }
                let line = buf[..nl].strip_suffix(b"\r").ok_or(Malformed("trailer line without CRLF"))?;
                if line.is_empty() {
                    return Ok((nl + 1, ChunkStep::End));
                }
                // RFC 9112 §7.1.2: trailer fields are field lines; they are
                // checked and dropped (never merged into the headers, never
                // used for framing).
                if !grammar::field_line(line) {
                    return Err(Malformed("malformed trailer"));
                }
                self.chunk = Chunk::Trailers(seen + nl + 1);
                Ok((nl + 1, ChunkStep::NeedMore))
            }
        }
    }
}

/// The fuzz targets' driver: feeds `data` in two pieces the way a
/// connection does and checks that consumed counts and body ranges stay in
/// bounds and that a stuck decoder cannot loop forever.
pub(crate) fn fuzz_feed(data: &[u8], split: usize) {
    let limits = Limits { max_body_size: 1 << 16, max_header_size: 4096, ..Limits::default() };
    let mut d = Decoder::new(limits, 0);
    let mut pending: Vec<u8> = Vec::new();
    let split = split.min(data.len());
    for piece in [&data[..split], &data[split..]] {
        pending.extend_from_slice(piece);
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 1_000_000, "decoder makes no progress");
            let Ok((used, ev)) = d.decode(&pending, 0) else { return };
            assert!(used <= pending.len());
            if let Decoded::Body(a, b) = ev {
                assert!(a <= b && b <= pending.len());
            }
            let idle = used == 0 && ev == Decoded::NeedMore;
            pending.drain(..used);
            if idle {
                break;
            }
        }
    }
}

/// The `chunked` fuzz target's driver: decodes `data` as a chunked body in
/// one piece and in reads of varying sizes (from the first byte), which must
/// agree on the body, where decoding ended and why; a body that decodes
/// completely, re-encoded as one chunk, must decode to the same bytes.
/// Panics only on a bug.
pub(crate) fn fuzz_chunked(data: &[u8]) {
    let Some((&step, data)) = data.split_first() else { return };
    /// (body, bytes used, how it ended: None = wants more)
    fn run(data: &[u8], step: usize) -> (Vec<u8>, usize, Option<Result<(), ChunkError>>) {
        let (max_body, max_trailers) = (1 << 16, 1024);
        let mut c = ChunkedBody::new();
        let mut body = Vec::new();
        let (mut pos, mut avail) = (0, step.min(data.len()));
        loop {
            match c.step(&data[pos..avail], max_body, max_trailers) {
                Err(e) => return (body, pos, Some(Err(e))),
                Ok((used, st)) => {
                    assert!(pos + used <= avail, "used more than given");
                    if let ChunkStep::Data(n) = st {
                        assert!(n == used && n > 0);
                        body.extend_from_slice(&data[pos..pos + n]);
                    }
                    pos += used;
                    match st {
                        ChunkStep::End => return (body, pos, Some(Ok(()))),
                        ChunkStep::NeedMore if used == 0 => {
                            if avail == data.len() {
                                return (body, pos, None);
                            }
                            avail = (avail + step).min(data.len());
                        }
                        _ => {}
                    }
                }
            }
        }
    }
    let whole = run(data, data.len().max(1));
    let pieces = run(data, usize::from(step % 16) + 1);
    // A size-line or trailer limit is checked on what has arrived, so the
    // error may come a little earlier in smaller reads; the body up to it
    // and the kind of ending agree.
    match (&whole.2, &pieces.2) {
        (Some(Err(_)), Some(Err(_))) => assert!(whole.0.starts_with(&pieces.0) || pieces.0.starts_with(&whole.0)),
        _ => assert_eq!(whole, pieces, "one read and reads of {} bytes disagree", step % 16 + 1),
    }
    if let (body, _, Some(Ok(()))) = whole {
        let mut again = format!("{:x}\r\n", body.len()).into_bytes();
        if body.is_empty() {
            again.clear();
        } else {
            again.extend_from_slice(&body);
            again.extend_from_slice(b"\r\n");
        }
        again.extend_from_slice(b"0\r\n\r\n");
        let re = run(&again, again.len());
        assert_eq!((re.0, re.1, re.2), (body, again.len(), Some(Ok(()))), "re-encoded body");
    }
}

/// How one connection's whole input decodes, as a line of the differential
/// harness (tests/http_differential.rs, which documents the format): the
/// complete requests in order with their bodies, then how decoding ended —
/// `clean` (all used), `partial` (a request cut short), `closed` (a request
/// that ends the connection; the rest is not read), `upgrade`, or `refused`
/// with the refusal's status and reason.
pub(crate) fn transcript(data: &[u8]) -> String {
    fn hex(b: &[u8]) -> String {
        if b.is_empty() {
            return "-".into();
        }
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
    let mut d = Decoder::new(Limits::default(), 0);
    let mut pos = 0;
    let mut done: Vec<(RequestHead, Vec<u8>)> = Vec::new();
    let mut cur: Option<(RequestHead, Vec<u8>)> = None;
    let end = loop {
        match d.decode(&data[pos..], 0) {
            Err(e) => break format!("refused {}", hex(format!("{} {}", e.status, e.reason).as_bytes())),
            Ok((used, ev)) => {
                let at = pos;
                pos += used;
                match ev {
                    Decoded::NeedMore if used == 0 => {
                        break if cur.is_some() || pos < data.len() { "partial -" } else { "clean -" }.to_owned();
                    }
                    Decoded::NeedMore => {}
                    Decoded::Head(h) => cur = Some((h, Vec::new())),
                    Decoded::Body(a, b) => {
                        if let Some((_, body)) = cur.as_mut() {
                            body.extend_from_slice(&data[at + a..at + b]);
                        }
                    }
                    Decoded::End => {
                        let Some((h, body)) = cur.take() else { break "clean -".to_owned() };
                        let (keep_alive, upgrade) = (h.keep_alive, h.upgrade);
                        done.push((h, body));
                        if upgrade {
                            break "upgrade -".to_owned();
                        }
                        if !keep_alive {
                            break "closed -".to_owned();
                        }
                        d.on_response_done(0);
                    }
                }
            }
        }
    };
    let mut out = format!("{end} {}", done.len());
    for (h, body) in &done {
        let version = if h.version_minor == 0 { "1.0" } else { "1.1" };
        out += &format!(" {} {} {version} {} {}", hex(h.method.as_bytes()), hex(h.target.as_bytes()), u8::from(h.keep_alive), h.headers.len());
        for (n, v) in &h.headers {
            out += &format!(" {} {}", hex(n.as_bytes()), hex(v));
        }
        out += &format!(" {}", hex(body));
    }
    out
}

/// A request-line that follows the grammar.
#[derive(Debug, Clone, Copy)]
struct RequestLine<'a> {
    method: &'a str,
    target: &'a str,
    form: grammar::TargetForm,
    /// 0 for HTTP/1.0; 1 for HTTP/1.1 and any later 1.x.
    version_minor: u8,
}

/// RFC 9112 §3: `request-line = method SP request-target SP HTTP-version`
/// (without its CRLF): exactly one SP between the parts, `method = token`,
/// a request-target of the form the method allows (§3.2), and
/// `HTTP-version = "HTTP/" DIGIT "." DIGIT` (§2.3).
fn request_line(line: &[u8]) -> Result<RequestLine<'_>, HttpError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(err(400, "Malformed HTTP request line"));
    };
    if !grammar::is_token(method) {
        return Err(err(400, "Malformed HTTP request line: the method is not a token"));
    }
    // RFC 9110 §2.5: a higher minor version of a major we speak is served
    // as the highest we implement (1.1); another major is 505.
    let version_minor = match grammar::http_version(version) {
        Some((1, 0)) => 0,
        Some((1, _)) => 1,
        Some(_) => return Err(err(505, "HTTP version not supported")),
        None => return Err(err(400, "malformed HTTP version")),
    };
    let form = grammar::target_form(target).ok_or(err(400, "malformed request-target"))?;
    // §3.2.3: authority-form only (and always) for CONNECT; §3.2.4:
    // asterisk-form only for OPTIONS.
    let allowed = match form {
        grammar::TargetForm::Authority => method == b"CONNECT",
        _ if method == b"CONNECT" => false,
        grammar::TargetForm::Asterisk => method == b"OPTIONS",
        _ => true,
    };
    if !allowed {
        return Err(err(400, "request-target form not allowed for this method"));
    }
    // Tokens and the target forms are ASCII: these conversions cannot fail.
    let text = |v| std::str::from_utf8(v).map_err(|_| err(400, "Malformed HTTP request line"));
    Ok(RequestLine { method: text(method)?, target: text(target)?, form, version_minor })
}

/// Checks each header line (the field section after the request-line) for
/// what RFC 9112 forbids and httparse may let through, with a reason that
/// says which rule: obs-fold (§5.2: a server may reject it; we do, with
/// 400), whitespace before the colon (§5.1: a server MUST reject it with 400).
fn raw_head_violation(fields: &[u8]) -> Option<HttpError> {
    for line in fields.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Some(err(400, "obsolete line folding"));
        }
        match line.iter().position(|&b| b == b':') {
            Some(c) if c > 0 && !matches!(line[c - 1], b' ' | b'\t') => {}
            Some(_) => return Some(err(400, "whitespace before a header's colon")),
            None => return Some(err(400, "no colon in header line")),
        }
    }
    None
}

#[cfg(test)]
mod tests;
