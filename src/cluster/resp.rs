//! RESP2, the Redis serialization protocol, sans-IO: commands encoded into a
//! byte buffer, replies and pushes decoded from one. No socket, no clock.
//!
//! The grammar (redis.io, "Redis serialization protocol specification"),
//! RESP2 only (squall never sends `HELLO 3`, so a server answers in RESP2):
//!
//! ```text
//! value   = simple / error / integer / bulk / array
//! simple  = "+" line CRLF          ; line: any bytes but CR and LF
//! error   = "-" line CRLF
//! integer = ":" ["-"] 1*DIGIT CRLF ; fits an i64
//! bulk    = "$" "-1" CRLF / "$" len CRLF len*OCTET CRLF
//! array   = "*" "-1" CRLF / "*" count CRLF count*value
//! ```
//!
//! Differences from a lenient reader, written down: a bare LF ending a line
//! is an error (the server always sends CRLF); a `+` sign, leading zeros
//! of a length (other than "0") and "-0" are refused; any other type byte
//! (RESP3's `_ , # = ( ! % ~ > |`) is an error, since a RESP2 connection
//! never carries one. The [`Limits`] bound what the broker can make a
//! process hold: one bulk string, one array's elements, the nesting, one
//! line.

use std::fmt;

/// A decoded RESP2 value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    /// `$-1`: the null bulk string.
    Nil,
    Bulk(Vec<u8>),
    /// `*-1`: the null array.
    NilArray,
    Array(Vec<Value>),
}

impl Value {
    /// The bytes of a bulk or simple string.
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) | Value::Simple(b) => Some(b),
            _ => None,
        }
    }
}

/// What the decoder accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest bulk string, in bytes.
    pub(crate) max_bulk: usize,
    /// Most elements of one array.
    pub(crate) max_elements: usize,
    /// Deepest nesting of arrays (1: an array of scalars).
    pub(crate) max_depth: usize,
    /// Longest simple string, error or number line, in bytes.
    pub(crate) max_line: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_bulk: 64 << 20, max_elements: 1 << 20, max_depth: 4, max_line: 64 << 10 }
    }
}

/// Input that is not RESP2, or that is over a limit: the connection is
/// beyond repair (the stream has lost its framing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RespError {
    /// Offset in the input where the error was found.
    pub(crate) at: usize,
    pub(crate) what: &'static str,
}

impl fmt::Display for RespError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESP protocol error at byte {}: {}", self.at, self.what)
    }
}

/// The outcome of one parse.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A whole value and the bytes it took.
    Value(Value, usize),
    /// Not enough input: at least this many bytes in all are needed.
    Need(usize),
}

/// Parses one value from the start of `buf`.
pub(crate) fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed, RespError> {
    let mut p = Parser { buf, limits };
    match p.value(0, 1)? {
        Step::Done(v, n) => Ok(Parsed::Value(v, n)),
        Step::Need(n) => Ok(Parsed::Need(n)),
    }
}

enum Step {
    Done(Value, usize),
    Need(usize),
}

struct Parser<'a> {
    buf: &'a [u8],
    limits: &'a Limits,
}

impl Parser<'_> {
    /// The line starting at `at` (without its CRLF) and the offset after it.
    fn line(&self, at: usize) -> Result<Option<(&[u8], usize)>, RespError> {
        let rest = &self.buf[at.min(self.buf.len())..];
        let window = &rest[..rest.len().min(self.limits.max_line + 2)];
        // The limit first: a line past it is refused whatever ends it, as
        // it is when only its first max_line + 1 bytes have come.
        match window.iter().position(|&b| b == b'\r' || b == b'\n') {
            Some(i) if i > self.limits.max_line => Err(RespError { at, what: "line over the limit" }),
            Some(i) if window[i] == b'\n' => Err(RespError { at: at + i, what: "a bare LF ends a line" }),
            Some(i) => match window.get(i + 1) {
                None => Ok(None),
                Some(b'\n') => Ok(Some((&rest[..i], at + i + 2))),
                Some(_) => Err(RespError { at: at + i, what: "a CR not followed by LF" }),
            },
            None if window.len() > self.limits.max_line => Err(RespError { at, what: "line over the limit" }),
            None => Ok(None),
        }
    }

    /// A decimal (-1 allowed when `nil_ok`) on the line at `at`.
    fn number(line: &[u8], at: usize) -> Result<i64, RespError> {
        let bad = |what| RespError { at, what };
        let (neg, digits) = match line.split_first() {
            Some((b'-', d)) => (true, d),
            _ => (false, line),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(bad("not a decimal number"));
        }
        if digits.len() > 1 && digits[0] == b'0' || neg && digits == b"0" {
            return Err(bad("a number with a leading zero"));
        }
        let mut v: i64 = 0;
        for &d in digits {
            let d = i64::from(d - b'0');
            v = v
                .checked_mul(10)
                .and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) })
                .ok_or_else(|| bad("a number out of range"))?;
        }
        Ok(v)
    }

    /// A length or count line: -1 (None) or 0..=max.
    fn length(&self, at: usize, max: usize, what: &'static str) -> Result<Option<(Option<usize>, usize)>, RespError> {
        let Some((line, next)) = self.line(at + 1)? else { return Ok(None) };
        let n = Self::number(line, at + 1)?;
        if n == -1 {
            return Ok(Some((None, next)));
        }
        match usize::try_from(n) {
            Ok(n) if n <= max => Ok(Some((Some(n), next))),
            Ok(_) => Err(RespError { at, what }),
            Err(_) => Err(RespError { at, what: "a negative length" }),
        }
    }

    fn value(&mut self, at: usize, depth: usize) -> Result<Step, RespError> {
        let Some(&kind) = self.buf.get(at) else { return Ok(Step::Need(at + 1)) };
        let need_line = |s: &Self| Step::Need(s.buf.len() + 1);
        match kind {
            b'+' | b'-' => {
                let Some((line, next)) = self.line(at + 1)? else { return Ok(need_line(self)) };
                let v = if kind == b'+' { Value::Simple(line.to_vec()) } else { Value::Error(line.to_vec()) };
                Ok(Step::Done(v, next))
            }
            b':' => {
                let Some((line, next)) = self.line(at + 1)? else { return Ok(need_line(self)) };
                Ok(Step::Done(Value::Integer(Self::number(line, at + 1)?), next))
            }
            b'$' => {
                let Some((len, next)) = self.length(at, self.limits.max_bulk, "a bulk string over the limit")? else {
                    return Ok(need_line(self));
                };
                let Some(len) = len else { return Ok(Step::Done(Value::Nil, next)) };
                let end = next + len;
                if self.buf.len() < end + 2 {
                    return Ok(Step::Need(end + 2));
                }
                if &self.buf[end..end + 2] != b"\r\n" {
                    return Err(RespError { at: end, what: "a bulk string not ended by CRLF" });
                }
                Ok(Step::Done(Value::Bulk(self.buf[next..end].to_vec()), end + 2))
            }
            b'*' => {
                if depth > self.limits.max_depth {
                    return Err(RespError { at, what: "arrays nested too deep" });
                }
                let Some((count, mut next)) = self.length(at, self.limits.max_elements, "an array over the limit")? else {
                    return Ok(need_line(self));
                };
                let Some(count) = count else { return Ok(Step::Done(Value::NilArray, next)) };
                // Each element takes at least 3 bytes ("+\r\n"): no
                // allocation on the strength of a count alone.
                let mut items = Vec::with_capacity(count.min((self.buf.len() - next) / 3));
                for _ in 0..count {
                    match self.value(next, depth + 1)? {
                        Step::Done(v, n) => {
                            items.push(v);
                            next = n;
                        }
                        Step::Need(n) => return Ok(Step::Need(n)),
                    }
                }
                Ok(Step::Done(Value::Array(items), next))
            }
            _ => Err(RespError { at, what: "not a RESP2 type byte" }),
        }
    }
}

/// Appends a command (an array of bulk strings) to `out`.
pub(crate) fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    push_len(out, b'*', args.len());
    for a in args {
        push_len(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn push_len(out: &mut Vec<u8>, kind: u8, n: usize) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `v` in its canonical encoding.
pub(crate) fn encode_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Simple(s) | Value::Error(s) => {
            out.push(if matches!(v, Value::Simple(_)) { b'+' } else { b'-' });
            out.extend_from_slice(s);
            out.extend_from_slice(b"\r\n");
        }
        Value::Integer(i) => {
            out.push(b':');
            out.extend_from_slice(i.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Value::Bulk(b) => {
            push_len(out, b'$', b.len());
            out.extend_from_slice(b);
            out.extend_from_slice(b"\r\n");
        }
        Value::Array(items) => {
            push_len(out, b'*', items.len());
            items.iter().for_each(|i| encode_value(out, i));
        }
    }
}

/// A connection's incoming bytes, decoded value by value. A partial value
/// is not parsed again until the bytes it needs have arrived, so a large
/// bulk string read in many pieces costs one parse.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    buf: Vec<u8>,
    /// Consumed bytes at the front of `buf`, dropped on the next feed.
    start: usize,
    need: usize,
    pub(crate) limits: Limits,
}

impl Decoder {
    pub(crate) fn new(limits: Limits) -> Decoder {
        Decoder { limits, ..Decoder::default() }
    }

    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            // `need` counts from `start`, so it holds across the move.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole value, if there is one.
    pub(crate) fn next_value(&mut self) -> Result<Option<Value>, RespError> {
        let avail = self.buf.len() - self.start;
        if avail == 0 || avail < self.need {
            return Ok(None);
        }
        match parse(&self.buf[self.start..], &self.limits) {
            Ok(Parsed::Value(v, n)) => {
                self.start += n;
                self.need = 0;
                if self.start == self.buf.len() {
                    self.buf.clear();
                    self.start = 0;
                }
                Ok(Some(v))
            }
            Ok(Parsed::Need(n)) => {
                self.need = n;
                Ok(None)
            }
            Err(mut e) => {
                e.at += self.start;
                Err(e)
            }
        }
    }

    /// Bytes held (a partial value).
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

/// The fuzz driver: `data` parsed whole and fed through a [`Decoder`] in
/// pieces (sizes from the first byte) must give the same values and the
/// same error; each value, encoded again, parses back to itself and takes
/// exactly its encoding. Panics only on a bug.
pub(crate) fn fuzz_check(data: &[u8]) {
    let limits = Limits { max_bulk: 1 << 16, max_elements: 1 << 10, max_depth: 4, max_line: 256 };
    let Some((&step, data)) = data.split_first() else { return };
    // whole
    let mut whole = Vec::new();
    let mut at = 0;
    let whole_end = loop {
        match parse(&data[at..], &limits) {
            Ok(Parsed::Value(v, n)) => {
                assert!(n > 0 && at + n <= data.len(), "used count out of bounds");
                whole.push(v);
                at += n;
            }
            Ok(Parsed::Need(n)) => {
                assert!(n > data.len() - at, "asked for bytes it already had");
                break Ok(());
            }
            Err(e) => {
                assert!(e.at <= data.len(), "error offset out of bounds");
                break Err(e.what);
            }
        }
    };
    // pieces
    let mut dec = Decoder::new(limits);
    let size = usize::from(step % 17) + 1;
    let mut pieces = Vec::new();
    let mut piece_end = Ok(());
    'feed: for chunk in data.chunks(size) {
        dec.feed(chunk);
        loop {
            match dec.next_value() {
                Ok(Some(v)) => pieces.push(v),
                Ok(None) => break,
                Err(e) => {
                    piece_end = Err(e.what);
                    break 'feed;
                }
            }
        }
    }
    assert_eq!(whole, pieces, "one read and small reads disagree");
    assert_eq!(whole_end, piece_end, "one read and small reads end differently");
    for v in &whole {
        let mut enc = Vec::new();
        encode_value(&mut enc, v);
        assert_eq!(parse(&enc, &limits), Ok(Parsed::Value(v.clone(), enc.len())), "re-encoded value differs");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &[u8]) -> Result<Parsed, RespError> {
        parse(s, &Limits::default())
    }

    fn value(s: &[u8]) -> Value {
        match one(s) {
            Ok(Parsed::Value(v, n)) => {
                assert_eq!(n, s.len(), "took the whole input");
                v
            }
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn every_type() {
        assert_eq!(value(b"+OK\r\n"), Value::Simple(b"OK".to_vec()));
        assert_eq!(value(b"-ERR wrong\r\n"), Value::Error(b"ERR wrong".to_vec()));
        assert_eq!(value(b":1000\r\n"), Value::Integer(1000));
        assert_eq!(value(b":-9223372036854775808\r\n"), Value::Integer(i64::MIN));
        assert_eq!(value(b"$-1\r\n"), Value::Nil);
        assert_eq!(value(b"$0\r\n\r\n"), Value::Bulk(vec![]));
        assert_eq!(value(b"$4\r\na\r\nb\r\n"), Value::Bulk(b"a\r\nb".to_vec()), "bulk strings are binary");
        assert_eq!(value(b"*-1\r\n"), Value::NilArray);
        assert_eq!(value(b"*0\r\n"), Value::Array(vec![]));
        assert_eq!(
            value(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n\x00\xff\x01\r\n"),
            Value::Array(vec![
                Value::Bulk(b"message".to_vec()),
                Value::Bulk(b"ch".to_vec()),
                Value::Bulk(vec![0, 255, 1])
            ])
        );
        assert_eq!(
            value(b"*2\r\n*1\r\n:1\r\n$-1\r\n"),
            Value::Array(vec![Value::Array(vec![Value::Integer(1)]), Value::Nil])
        );
    }

    #[test]
    fn incomplete_asks_for_more() {
        assert_eq!(one(b""), Ok(Parsed::Need(1)));
        assert_eq!(one(b"+OK"), Ok(Parsed::Need(4)));
        assert_eq!(one(b"+OK\r"), Ok(Parsed::Need(5)));
        assert_eq!(one(b"$10\r\nabc"), Ok(Parsed::Need(17)), "the whole bulk and its CRLF");
        assert_eq!(one(b"*2\r\n:1\r\n"), Ok(Parsed::Need(9)));
    }

    #[test]
    fn refused() {
        for bad in [
            &b"+OK\n"[..],
            b"+O\rK\r\n",
            b":+1\r\n",
            b":01\r\n",
            b":-0\r\n",
            b":\r\n",
            b":12a\r\n",
            b":9223372036854775808\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
            b"_\r\n",
            b">3\r\n",
            b"%1\r\n",
            b"x",
        ] {
            assert!(one(bad).is_err(), "{:?} accepted", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn limits_hold() {
        let l = Limits { max_bulk: 4, max_elements: 2, max_depth: 2, max_line: 8 };
        assert!(parse(b"$5\r\n", &l).is_err(), "bulk over the limit, refused from its length alone");
        assert!(matches!(parse(b"$4\r\nabcd\r\n", &l), Ok(Parsed::Value(..))));
        assert!(parse(b"*3\r\n", &l).is_err());
        assert!(parse(b"*1\r\n*1\r\n*1\r\n:1\r\n", &l).is_err(), "too deep");
        assert!(matches!(parse(b"*1\r\n*1\r\n:1\r\n", &l), Ok(Parsed::Value(..))));
        assert!(parse(b"+123456789", &l).is_err(), "a line past the limit without its end");
        assert!(parse(b"+123456789\r\n", &l).is_err());
        assert!(matches!(parse(b"+12345678\r\n", &l), Ok(Parsed::Value(..))));
        // A huge count alone allocates nothing.
        let l = Limits { max_elements: usize::MAX, ..Limits::default() };
        assert_eq!(parse(b"*1000000000000\r\n", &l), Ok(Parsed::Need(17)));
    }

    #[test]
    fn commands_encode() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"PUBLISH", b"sq:room", b"a\r\n\x00"]);
        assert_eq!(out, b"*3\r\n$7\r\nPUBLISH\r\n$7\r\nsq:room\r\n$4\r\na\r\n\x00\r\n");
    }

    #[test]
    fn decoder_in_pieces() {
        let stream = b"+OK\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n$5\r\nhello\r\n:7\r\n";
        for size in 1..stream.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for c in stream.chunks(size) {
                d.feed(c);
                while let Some(v) = d.next_value().unwrap() {
                    got.push(v);
                }
            }
            assert_eq!(got.len(), 4, "size {size}");
            assert_eq!(got[3], Value::Integer(7));
            assert_eq!(d.buffered(), 0);
        }
        let mut d = Decoder::default();
        d.feed(b":1\r\n:2\r\n:x\r\n");
        assert_eq!(d.next_value(), Ok(Some(Value::Integer(1))));
        assert_eq!(d.next_value(), Ok(Some(Value::Integer(2))));
        assert_eq!(d.next_value().unwrap_err().at, 9, "the offset counts from the stream's start");
    }

    #[test]
    fn a_long_line_is_over_the_limit_whatever_ends_it() {
        // Found by the fuzzer: with the whole line the bare LF was reported,
        // with its first bytes only the limit.
        let l = Limits { max_line: 8, ..Limits::default() };
        for line in [&b"+123456789\n"[..], b"+123456789\r\n", b"+123456789", b"$123456789\n"] {
            assert_eq!(parse(line, &l).unwrap_err().what, "line over the limit", "{:?}", String::from_utf8_lossy(line));
        }
        let mut input = vec![0u8, b'+'];
        input.extend(std::iter::repeat_n(b'a', 257));
        input.push(b'\n');
        fuzz_check(&input);
    }

    #[test]
    fn fuzz_driver_on_samples() {
        for s in [&b"\x00+OK\r\n:1\r\n"[..], b"\x05*2\r\n$1\r\na\r\n*1\r\n:-3\r\n", b"\x03$3\r\nab", b"\x01:x\r\n", b"\x02*1\r\n"] {
            fuzz_check(s);
        }
    }
}
