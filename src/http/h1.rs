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
//! of the connection's start (slowloris); a later request's head within that
//! time of its first byte; a body within `body_timeout_ms` of the end of its
//! head. Between requests, once the caller says the response is done, the
//! connection may stay idle `idle_timeout_ms`. While a request is being
//! handled (after `End`, before `on_response_done`) nothing times out.

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

const MAX_CHUNK_LINE: usize = 4096;
const STACK_HEADERS: usize = 128;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// Comma-separated list elements of a header value, trimmed, empty ones dropped.
fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim).filter(|e| !e.is_empty())
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

impl Decoder {
    /// A decoder for a connection that started at `now_ms`.
    pub(crate) fn new(limits: Limits, now_ms: u64) -> Decoder {
        // The first request's head is due header_timeout after the accept.
        Decoder { limits, state: State::Head(now_ms, 0) }
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
        Some(if matches!(self.state, State::Idle(_)) { Timeout::Idle } else { Timeout::Request })
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
            State::Idle(_) | State::Handling | State::Head(..) => {
                if buf.is_empty() {
                    return Ok((0, Decoded::NeedMore));
                }
                if !matches!(self.state, State::Head(..)) {
                    self.state = State::Head(now_ms, 0);
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
        // RFC 9112 §2.2: ignore empty lines before a request-line.
        let skip = buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count();
        if skip > 0 {
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
        let from = scanned.saturating_sub(3).min(buf.len());
        let complete = buf[from..].windows(2).any(|w| w == b"\n\n") || buf[from..].windows(3).any(|w| w == b"\n\r\n");
        if !complete {
            self.state = State::Head(started, buf.len());
            self.check_partial(buf)?;
            return Ok((0, Decoded::NeedMore));
        }
        let limits = self.limits.clone();
        let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
        let mut heap;
        let headers: &mut [httparse::Header<'_>] = if limits.max_headers <= STACK_HEADERS {
            &mut stack[..limits.max_headers]
        } else {
            heap = vec![httparse::EMPTY_HEADER; limits.max_headers];
            &mut heap[..]
        };
        let mut req = httparse::Request::new(headers);
        let status = req.parse(buf);
        match status {
            Ok(httparse::Status::Partial) => {
                self.check_partial(buf)?;
                Ok((0, Decoded::NeedMore))
            }
            Ok(httparse::Status::Complete(len)) => {
                if len > limits.max_header_size {
                    return self.fail(err(431, "request head too large"));
                }
                let head = self.validate(&req, &buf[..len])?;
                let deadline = now_ms.saturating_add(limits.body_timeout_ms);
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
            Err(httparse::Error::TooManyHeaders) => self.fail(err(431, "too many header lines")),
            Err(httparse::Error::Version) => {
                // "GET / HTTP/2.0" is a version we do not speak; anything else
                // in that place is garbage.
                if looks_like_other_version(buf) {
                    self.fail(err(505, "HTTP version not supported"))
                } else {
                    self.fail(err(400, "malformed request line"))
                }
            }
            Err(httparse::Error::HeaderName) => self.fail(err(400, "malformed header name")),
            Err(httparse::Error::HeaderValue) => self.fail(err(400, "malformed header value")),
            Err(httparse::Error::NewLine) => self.fail(err(400, "malformed line ending")),
            Err(_) => {
                if let Some(e) = self.target_too_long(buf) {
                    return self.fail(e);
                }
                self.fail(err(400, "malformed request line"))
            }
        }
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

    fn validate(&mut self, req: &httparse::Request<'_, '_>, raw: &[u8]) -> Result<RequestHead, HttpError> {
        let limits = &self.limits;
        let method = req.method.unwrap_or("");
        let target = req.path.unwrap_or("");
        let version_minor = req.version.unwrap_or(1);
        if target.len() > limits.max_request_target {
            return Err(self.failed(err(414, "request-target too long")));
        }
        if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(self.failed(err(400, "malformed request-target")));
        }
        // httparse tolerates a few things RFC 9112 forbids a server to accept:
        // check each header line of the raw head ourselves.
        if let Some(e) = raw_head_violation(raw) {
            return Err(self.failed(e));
        }
        let mut headers = Vec::with_capacity(req.headers.len());
        let mut hosts = 0;
        let mut content_length: Option<u64> = None;
        let mut te: Vec<Vec<u8>> = Vec::new();
        let mut close = false;
        let mut keep_alive_token = false;
        let mut upgrade_token = false;
        let mut has_upgrade = false;
        let mut expect_continue = false;
        for h in req.headers.iter() {
            let name = h.name;
            let value = h.value;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(self.failed(err(400, "malformed header name")));
            }
            if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                return Err(self.failed(err(400, "control character in a header value")));
            }
            if name.eq_ignore_ascii_case("host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case("content-length") {
                let mut any = false;
                for item in list(value) {
                    any = true;
                    let Some(n) = parse_decimal(item) else {
                        return Err(self.failed(err(400, "Content-Length is not a decimal number")));
                    };
                    if content_length.is_some_and(|c| c != n) {
                        return Err(self.failed(err(400, "conflicting Content-Length values")));
                    }
                    content_length = Some(n);
                }
                if !any {
                    return Err(self.failed(err(400, "empty Content-Length")));
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                let before = te.len();
                te.extend(list(value).map(|v| v.to_ascii_lowercase()));
                if te.len() == before {
                    return Err(self.failed(err(400, "empty Transfer-Encoding")));
                }
            } else if name.eq_ignore_ascii_case("connection") {
                for t in list(value) {
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
                expect_continue |= trim(value).eq_ignore_ascii_case(b"100-continue");
            }
            headers.push((name.to_owned(), value.to_vec()));
        }
        if version_minor == 1 && hosts != 1 {
            return Err(self.failed(err(400, if hosts == 0 { "missing Host" } else { "more than one Host" })));
        }
        if hosts > 1 {
            return Err(self.failed(err(400, "more than one Host")));
        }
        let mut chunked = false;
        if !te.is_empty() {
            if version_minor == 0 {
                return Err(self.failed(err(400, "Transfer-Encoding in an HTTP/1.0 request")));
            }
            if content_length.is_some() {
                return Err(self.failed(err(400, "both Content-Length and Transfer-Encoding")));
            }
            let last_is_chunked = te.last().is_some_and(|t| t == b"chunked");
            let chunked_count = te.iter().filter(|t| *t == b"chunked").count();
            if chunked_count > 1 || (chunked_count == 1 && !last_is_chunked) {
                return Err(self.failed(err(400, "chunked must be the final transfer coding, once")));
            }
            if !last_is_chunked {
                return Err(self.failed(err(501, "unsupported transfer coding")));
            }
            if te.len() > 1 {
                return Err(self.failed(err(501, "unsupported transfer coding")));
            }
            chunked = true;
        }
        if let Some(n) = content_length
            && n > limits.max_body_size
        {
            return Err(self.failed(err(413, "request body too large")));
        }
        let keep_alive = if version_minor == 0 { keep_alive_token && !close } else { !close };
        Ok(RequestHead {
            method: method.to_owned(),
            target: target.to_owned(),
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
            Err(ChunkError::TooLarge) => self.fail(err(413, "request body too large")),
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
                let size = parse_chunk_size(line).ok_or(Malformed("malformed chunk size"))?;
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
                // Trailer fields are read and dropped (not merged into headers).
                let colon = line.iter().position(|&b| b == b':');
                let valid = colon.is_some_and(|c| c > 0 && line[..c].iter().all(|&b| is_tchar(b)))
                    && !line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
                if !valid {
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

/// `1*HEXDIG [ BWS ";" ext ]`: no sign, no leading space, no overflow.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let hex_len = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if hex_len == 0 {
        return None;
    }
    let rest = &line[hex_len..];
    let rest_trimmed = trim(rest);
    if !rest_trimmed.is_empty() && rest_trimmed[0] != b';' {
        return None;
    }
    if rest.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return None;
    }
    let digits = &line[..hex_len];
    let significant = digits.iter().skip_while(|&&b| b == b'0').count();
    if significant > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        let v = (d as char).to_digit(16)? as u64;
        acc.checked_mul(16)?.checked_add(v)
    })
}

/// "METHOD SP target SP HTTP/x.y" with a version other than 1.0/1.1.
fn looks_like_other_version(buf: &[u8]) -> bool {
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(buf.len());
    let line = &buf[..line_end];
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(t), Some(v), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !m.is_empty()
        && m.iter().all(|&b| is_tchar(b))
        && !t.is_empty()
        && v.len() == 8
        && v.starts_with(b"HTTP/")
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// Checks each header line of a complete head for what RFC 9112 forbids and
/// httparse may let through: obs-fold, whitespace before the colon, a bare CR.
fn raw_head_violation(raw: &[u8]) -> Option<HttpError> {
    let mut lines = raw.split(|&b| b == b'\n');
    lines.next(); // the request line, checked by httparse
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.contains(&b'\r') {
            return Some(err(400, "bare CR in the head"));
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Some(err(400, "obsolete line folding"));
        }
        match line.iter().position(|&b| b == b':') {
            Some(c) if c > 0 && !matches!(line[c - 1], b' ' | b'\t') => {}
            Some(_) => return Some(err(400, "whitespace before a header's colon")),
            None => return Some(err(400, "header line without a colon")),
        }
    }
    None
}

#[cfg(test)]
mod tests;
