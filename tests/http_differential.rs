//! Differential testing of the HTTP/1.1 request decoder against parsers no
//! one here wrote: llhttp (Node's parser, strict: tests/differential/llhttp.js)
//! and h11 (Python: tests/differential/h11_run.py). The same inputs — requests
//! from a grammar-based generator and mutations of them (line endings,
//! whitespace, case, duplicated and conflicting headers, chunk edge cases,
//! bytes inserted, removed, cut) — go to squall's decoder
//! (`squall::fuzzing::h1_transcript`) and to both; their framing decisions are
//! compared: accepted or refused, the method, target, version, keep-alive
//! and headers of each request, its body bytes, and where the next request
//! starts (the number of requests and how the input ended).
//!
//! Every disagreement must be explained: either a rule where squall
//! deliberately differs (the table in `justify`, each row pointing at
//! docs/ARCHITECTURE.md, "HTTP/1.1 parsing: the grammar and our
//! decisions"), or it is a failure printed with its input and the three
//! transcripts. The counts are printed (`--nocapture`).
//!
//! `SQUALL_DIFF_N` sets how many inputs (default 3000: a few seconds);
//! `SQUALL_DIFF_SEED` the generator's seed. The long mode is just a large N:
//! `SQUALL_DIFF_N=1000000 cargo test --release --test http_differential -- --nocapture`.
//!
//! Transcript format, one line per input: `<id> <end> <reason> <n>` then per
//! request `<method> <target> <version> <keep-alive 0|1> <header count>
//! (<name> <value>)* <body>`; byte strings in hex, `-` when empty; `end` is
//! clean, partial, closed, upgrade or refused.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

mod differential;
use differential::{Rng, escape, hex, mutate, unhex};

// ---- the generator -------------------------------------------------------

const METHODS: &[&str] = &["GET", "GET", "POST", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "X-CUSTOM"];
const SEGMENTS: &[&str] = &["a", "index.html", "x-y_z~", "%41%42", "a;b=c", "caf%C3%A9", "@:!$&'()*+,=", "", "..", "1"];
const QUERIES: &[&str] = &["q=1", "a=b&c=d", "x=%20y", "k=/v?w", "", "n[]=1", "e=é"];
const HOSTS: &[&str] = &["h", "example.com", "example.com:8080", "127.0.0.1", "[::1]:80", "a.b", "", "h:", "h h", "a/b", "a@b"];

fn target(r: &mut Rng) -> String {
    match r.below(20) {
        0 => "*".into(),
        1 => format!("http://{}/{}", r.pick(&["h", "example.com:80", "[::1]"]), r.pick(SEGMENTS)),
        _ => {
            let mut t = String::new();
            for _ in 0..1 + r.below(3) {
                t.push('/');
                t.push_str(r.pick(SEGMENTS));
            }
            if r.chance(30) {
                t.push('?');
                t.push_str(r.pick(QUERIES));
            }
            t
        }
    }
}

fn chunked_body(r: &mut Rng, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let n = 1 + r.below(rest.len());
        let size = if r.chance(10) { format!("{n:04X}") } else { format!("{n:x}") };
        out.extend_from_slice(size.as_bytes());
        if r.chance(20) {
            out.extend_from_slice(r.pick(&[";a", ";a=b", " ; a = b", ";a=\"q;\\\"\"", ";a;b=c"]).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if r.chance(20) {
        out.extend_from_slice(r.pick(&["X-Trailer: 1\r\n", "Expires: x\r\nX-T: 2\r\n"]).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One request by the grammar (with a few valid-but-unusual forms).
fn request(r: &mut Rng, last: bool) -> Vec<u8> {
    let method = r.pick(METHODS);
    let version = if r.chance(85) { "HTTP/1.1" } else { r.pick(&["HTTP/1.0", "HTTP/1.0", "HTTP/1.2"]) };
    let mut head = format!("{method} {} {version}\r\n", target(r));
    let mut headers: Vec<String> = Vec::new();
    if version != "HTTP/1.0" || r.chance(50) {
        headers.push(format!("{}: {}", r.pick(&["Host", "host", "HOST"]), if r.chance(90) { "h" } else { r.pick(HOSTS) }));
    }
    for _ in 0..r.below(3) {
        headers.push(r.pick(&["Accept: */*", "X-A: b c", "User-Agent: t/1.0", "X-Empty:", "Cookie: a=b; c=d", "X-Obs: \u{e9}"]).to_owned());
    }
    if r.chance(15) {
        headers.push(r.pick(&["Connection: keep-alive", "Connection: close", "Connection: Keep-Alive, foo"]).to_owned());
    }
    if r.chance(5) {
        headers.push(r.pick(&["Expect: 100-continue", "Expect: 100-Continue"]).to_owned());
    }
    let body: Vec<u8> = (0..r.below(12)).map(|i| b"abcdefghijkl"[i]).collect();
    let mut wire_body = Vec::new();
    match r.below(3) {
        0 if version != "HTTP/1.0" => {
            headers.push(format!("Transfer-Encoding: {}", r.pick(&["chunked", "chunked", "Chunked", " chunked", ", chunked"])));
            wire_body = chunked_body(r, &body);
        }
        1 if !body.is_empty() || r.chance(50) => {
            let n = body.len();
            headers.push(match r.below(10) {
                0 => format!("Content-Length: {n}, {n}"),
                1 => format!("Content-Length: 00{n}"),
                2 => format!("Content-Length: {n}\r\nContent-Length: {n}"),
                _ => format!("Content-Length: {n}"),
            });
            wire_body = body;
        }
        _ => {}
    }
    if last && r.chance(10) {
        headers.push("Connection: close".into());
    }
    for h in headers {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&wire_body);
    out
}

const SNIPPETS: &[&str] = &[
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "Transfer-Encoding: chunked\r\n",
    "Transfer-Encoding: gzip\r\n",
    "Transfer-Encoding: chunked, identity\r\n",
    "Transfer-Encoding: \"chunked\"\r\n",
    "Content-Length: 3\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: -1\r\n",
    "Content-Length: 1 1\r\n",
    "Content-Length: 0x1\r\n",
    "Content-Length:\r\n",
    "Host: h\r\n",
    "Host: a b\r\n",
    "Expect: foo\r\n",
    " folded\r\n",
    "X : y\r\n",
    "0\r\n\r\n",
    "3\r\nabc\r\n",
    "3 \r\nabc\r\n",
    "3;\r\nabc\r\n",
    "fffffffffffffffff\r\n",
    "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    "HTTP/1.1",
    "HTTP/2.0",
    "http/1.1",
];


fn inputs(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..n)
        .map(|_| {
            let count = 1 + r.below(3);
            let mut input: Vec<u8> = (0..count).flat_map(|i| request(&mut r, i + 1 == count)).collect();
            if r.chance(75) {
                for _ in 0..1 + r.below(3) {
                    mutate(&mut r, &mut input, SNIPPETS);
                }
            }
            input
        })
        .collect()
}

// ---- transcripts ---------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Req {
    method: Vec<u8>,
    target: Vec<u8>,
    version: String,
    keep_alive: bool,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Transcript {
    end: String,
    reason: String,
    requests: Vec<Req>,
}

fn parse(line: &str) -> Transcript {
    let mut t = line.split(' ');
    let mut next = || t.next().unwrap_or_else(|| panic!("short transcript {line:?}"));
    let end = next().to_owned();
    let reason = String::from_utf8_lossy(&unhex(next())).into_owned();
    let n: usize = next().parse().unwrap();
    let mut requests = Vec::new();
    for _ in 0..n {
        let method = unhex(next());
        let target = unhex(next());
        let version = next().to_owned();
        let keep_alive = next() == "1";
        let h: usize = next().parse().unwrap();
        let headers = (0..h).map(|_| (unhex(next()), unhex(next()))).collect();
        let body = unhex(next());
        requests.push(Req { method, target, version, keep_alive, headers, body });
    }
    Transcript { end, reason, requests }
}

/// Runs a reference parser over all inputs: id → transcript.
fn reference(cmd: &str, args: &[&str], inputs: &[Vec<u8>]) -> BTreeMap<usize, Transcript> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd} {args:?} ({e}): the differential harness needs Node and Python's h11 (tests/requirements.txt)"));
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = inputs.iter().enumerate().map(|(i, b)| format!("{i} {}\n", hex(b))).collect();
    let writer = std::thread::spawn(move || {
        for l in lines {
            stdin.write_all(l.as_bytes()).unwrap();
        }
    });
    let mut out = BTreeMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let (id, rest) = line.split_once(' ').unwrap();
        out.insert(id.parse().unwrap(), parse(rest));
    }
    writer.join().unwrap();
    assert!(child.wait().unwrap().success(), "{cmd} {args:?} failed");
    assert_eq!(out.len(), inputs.len(), "{cmd} {args:?} answered {} of {} inputs", out.len(), inputs.len());
    out
}

// ---- comparing -----------------------------------------------------------

/// A request as compared: names lowercased, values trimmed, versions past
/// 1.1 read as 1.1, an absolute-form target as squall routes it (its path
/// and query; its authority as Host: RFC 9112 §3.2.2).
fn normal(q: &Req) -> Req {
    let mut q = q.clone();
    let version = if q.version == "1.0" { "1.0" } else { "1.1" };
    q.version = version.into();
    let mut authority = None;
    let lower = q.target.to_ascii_lowercase();
    for scheme in [&b"http://"[..], b"https://"] {
        if lower.starts_with(scheme) {
            let rest = &q.target[scheme.len()..];
            let end = rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
            authority = Some(rest[..end].to_vec());
            let path = &rest[end..];
            q.target = if path.first() == Some(&b'/') { path.to_vec() } else { [b"/", path].concat() };
        }
    }
    let mut lengths: Vec<Vec<u8>> = Vec::new();
    let mut headers = Vec::new();
    for (n, v) in &q.headers {
        let n = n.to_ascii_lowercase();
        let v = match (&authority, n.as_slice()) {
            (Some(a), b"host") => a.clone(),
            // transfer codings are case-insensitive (h11 lowercases them)
            (_, b"transfer-encoding") => v.trim_ascii().to_ascii_lowercase(),
            (_, b"content-length") => {
                // a list of identical values is one value (h11 keeps one)
                for item in v.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|i| !i.is_empty()) {
                    if !lengths.iter().any(|l| l == item) {
                        lengths.push(item.to_vec());
                    }
                }
                continue;
            }
            _ => v.trim_ascii().to_vec(),
        };
        headers.push((n, v));
    }
    for l in lengths {
        headers.push((b"content-length".to_vec(), l));
    }
    q.headers = headers;
    q
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// Both read request i, differently.
    Differ,
    /// squall refused where the reference read on.
    SquallRefuses,
    /// The reference refused where squall read on.
    ReferenceRefuses,
    /// Same requests, different ends (clean, partial, closed).
    End,
}

fn compare(s: &Transcript, r: &Transcript) -> Option<(Kind, usize)> {
    let n = s.requests.len().min(r.requests.len());
    for i in 0..n {
        if normal(&s.requests[i]) != normal(&r.requests[i]) {
            return Some((Kind::Differ, i));
        }
    }
    let s_refused = s.end == "refused";
    let r_refused = r.end == "refused";
    if s.requests.len() == r.requests.len() && (s.end == r.end || (s_refused && r_refused)) {
        return None;
    }
    if s.requests.len() < r.requests.len() || (s_refused && !r_refused && s.requests.len() == r.requests.len()) {
        return Some((if s_refused { Kind::SquallRefuses } else { Kind::End }, n));
    }
    if s.requests.len() > r.requests.len() || r_refused {
        return Some((if r_refused { Kind::ReferenceRefuses } else { Kind::End }, n));
    }
    Some((Kind::End, n))
}

/// The request line and head of the `i`th request as the input has it
/// (roughly: what follows `i` complete requests is not located exactly, so
/// the justifications look at squall's reason and the reference's).
fn justify(who: &str, kind: Kind, s: &Transcript, r: &Transcript, input: &[u8]) -> Option<&'static str> {
    let sr = s.reason.as_str();
    let rr = r.reason.as_str();
    let has = |needle: &str| sr.contains(needle);
    // squall waits for a head's empty line before judging it, where a
    // reference refuses a prefix at once: justified when squall refuses the
    // same head once it is complete.
    if s.end == "partial" && r.end == "refused" && s.requests.len() == r.requests.len() {
        let completed = parse(&squall::fuzzing::h1_transcript(&[input, b"\r\n\r\n"].concat()));
        if completed.end == "refused" && completed.requests.len() == s.requests.len() {
            return Some("refused too once the head is complete (squall judges a head when its empty line is there)");
        }
    }
    match kind {
        Kind::SquallRefuses => {
            // Rows of the table in docs/ARCHITECTURE.md where squall is the
            // stricter reader (each an RFC MUST, a MAY we take, or the grammar).
            for (needle, row) in [
                ("bare LF", "line endings: bare LF refused (RFC 9112 §2.2 MAY accept)"),
                ("bare CR", "line endings: bare CR refused (RFC 9112 §2.2)"),
                ("without CRLF", "line endings: bare LF refused (RFC 9112 §2.2 MAY accept)"),
                ("obsolete line folding", "obs-fold refused (RFC 9112 §5.2 allows a server to)"),
                ("malformed request-target", "request-target: the RFC 3986 grammar, http(s) absolute-form only"),
                ("form not allowed", "request-target: asterisk-form only for OPTIONS, authority-form only for CONNECT"),
                ("Host", "Host: exactly one in 1.1, uri-host [ \":\" port ]"),
                ("unsupported expectation", "Expect: other than 100-continue is 417 (RFC 9110 §10.1.1)"),
                ("chunk extension", "chunk-ext: the §7.1.1 grammar"),
                ("chunk size", "chunk-size: 1*HEXDIG, u64"),
                ("malformed trailer", "trailer section: field lines (RFC 9112 §7.1.2)"),
                ("transfer coding", "Transfer-Encoding: tokens; chunked once, last; others 501"),
                ("Transfer-Encoding", "Transfer-Encoding: with Content-Length or in HTTP/1.0 refused (RFC 9112 §6.1, §6.3)"),
                ("Content-Length", "Content-Length: 1*DIGIT, identical list values"),
                ("HTTP version", "HTTP-version: another major is 505"),
                ("malformed HTTP version", "HTTP-version: \"HTTP/\" DIGIT \".\" DIGIT"),
                ("header value", "field values: VCHAR / obs-text / SP / HTAB (RFC 9110 §5.5)"),
                ("control character", "field values: VCHAR / obs-text / SP / HTAB (RFC 9110 §5.5)"),

                ("whitespace before", "field lines: no whitespace before the colon (RFC 9112 §5.1)"),
                ("chunk data not followed by CRLF", "chunk-data CRLF (RFC 9112 §7.1)"),
                ("before the request-line", "line endings: bare CR/LF before a request-line refused"),
                ("method is not a token", "method = token"),
                ("Malformed HTTP request line", "request-line: exactly one SP between its parts (RFC 9112 §3)"),
                ("request body too large", "limits: a body over max_body_size (64 MiB by default) is 413 as soon as a chunk size says so"),
                ("malformed header", "field-name = token (RFC 9110 §5.1)"),
                ("no colon in header line", "field-line needs its colon (RFC 9112 §5)"),
            ] {
                if has(needle) {
                    return Some(row);
                }
            }
            None
        }
        Kind::ReferenceRefuses => {
            // Where the reference is the stricter one, and the RFC lets
            // squall read on.
            let e = r.reason.as_str();
            if who == "llhttp" {
                // llhttp's strict mode refuses BWS in chunk extensions with
                // its generic code.
                if e.contains("HPE_STRICT") && input.windows(2).any(|w| matches!(w, [b' ' | b'\t', b';' | b'='] | [b';' | b'=', b' ' | b'\t'])) {
                    return Some("chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); llhttp refuses it");
                }
                for (code, row) in [
                    ("HPE_UNEXPECTED_CONTENT_LENGTH", "Content-Length: identical list values are one (RFC 9110 §8.6); llhttp refuses any repeat"),
                    ("HPE_INVALID_CONTENT_LENGTH", "Content-Length: identical list values are one (RFC 9110 §8.6); llhttp refuses any repeat"),
                    ("HPE_INVALID_VERSION", "HTTP-version: a later 1.x is served as 1.1 (RFC 9110 §2.5)"),
                    ("HPE_INVALID_TRANSFER_ENCODING", "Transfer-Encoding: empty list elements and OWS allowed (RFC 9110 §5.6.1)"),
                    ("HPE_INVALID_URL", "request-target: llhttp refuses some pchar/sub-delims squall takes"),
                    ("HPE_INVALID_HEADER_TOKEN", "field values: obs-text allowed (RFC 9110 §5.5); llhttp's strict mode refuses some"),
                    ("HPE_INVALID_METHOD", "method = token (RFC 9110 §9.1: methods are extensible); llhttp knows a fixed list"),
                    ("HPE_INVALID_CHUNK_SIZE", "chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); llhttp refuses it"),
                ] {
                    if e.contains(code) {
                        return Some(row);
                    }
                }
            } else {
                for (msg, row) in [
                    ("Content-Length", "Content-Length: identical list values are one (RFC 9110 §8.6)"),
                    ("Transfer-Encoding", "Transfer-Encoding: a list with empty elements (RFC 9110 §5.6.1)"),
                    ("HTTP version", "HTTP-version: a later 1.x is served as 1.1 (RFC 9110 §2.5)"),
                    ("illegal request line", "request-line: h11's target pattern is narrower in places"),
                    ("illegal chunk header", "chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); h11 refuses it"),
                    ("no request line received", "empty lines before a request-line are ignored (RFC 9112 §2.2 SHOULD); h11 does not between requests"),
                ] {
                    if e.contains(msg) {
                        return Some(row);
                    }
                }
            }
            let _ = rr;
            None
        }
        Kind::End if s.end == "partial" && r.end == "clean" && s.requests.len() == r.requests.len() && input.ends_with(b"\r") => {
            Some("a lone CR after a request waits for its LF (an empty line is CRLF, RFC 9112 §2.2); llhttp skips it")
        }
        Kind::End => {
            // h11 closes every HTTP/1.0 connection; squall keeps one open
            // when asked with "Connection: keep-alive" (RFC 9112 §9.3).
            let last = r.requests.last();
            if who == "h11" && r.end == "closed" && last.is_some_and(|q| q.version == "1.0") && s.requests.get(r.requests.len() - 1).is_some_and(|q| q.keep_alive) {
                return Some("HTTP/1.0 keep-alive honoured (RFC 9112 §9.3); h11 closes every HTTP/1.0 connection");
            }
            None
        }
        Kind::Differ => {
            // "close" wins over "keep-alive" (RFC 9112 §9.6): squall closes
            // where a reference reads the HTTP/1.0 keep-alive token.
            let i = s.requests.len().min(r.requests.len());
            let at = (0..i).find(|&k| normal(&s.requests[k]) != normal(&r.requests[k]))?;
            let (mut a, b) = (normal(&s.requests[at]), normal(&r.requests[at]));
            let closes = a.headers.iter().any(|(n, v)| n == b"connection" && v.split(|&c| c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")));
            let tab = a.headers.iter().any(|(n, v)| n == b"connection" && v.contains(&b'\t'));
            let row = if !a.keep_alive && b.keep_alive && closes {
                "Connection: close wins over keep-alive (RFC 9112 §9.6)"
            } else if a.keep_alive && !b.keep_alive && tab && who == "llhttp" {
                "OWS includes HTAB (RFC 9110 §5.6.3); llhttp does not trim a tab off a Connection token"
            } else {
                return None;
            };
            a.keep_alive = b.keep_alive;
            (a == b).then_some(row)
        }
    }
}


#[test]
fn squall_agrees_with_llhttp_and_h11_or_says_why() {
    let n: usize = std::env::var("SQUALL_DIFF_N").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seed: u64 = std::env::var("SQUALL_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_1234_abcd);
    let inputs = inputs(n, seed);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential");
    let squall: Vec<Transcript> = inputs.iter().map(|i| parse(&squall::fuzzing::h1_transcript(i))).collect();
    let refs = [
        ("llhttp", reference("node", &[&format!("{dir}/llhttp.js")], &inputs)),
        ("h11", reference("python3", &[&format!("{dir}/h11_run.py")], &inputs)),
    ];
    let mut unexplained = Vec::new();
    for (who, transcripts) in &refs {
        let mut agreed = 0;
        let mut justified: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failed = 0;
        for (i, input) in inputs.iter().enumerate() {
            let (s, r) = (&squall[i], &transcripts[&i]);
            match compare(s, r) {
                None => agreed += 1,
                Some((kind, at)) => match justify(who, kind, s, r, input) {
                    Some(row) => *justified.entry(row).or_default() += 1,
                    None => {
                        failed += 1;
                        if failed <= 12 {
                            unexplained.push(format!(
                                "{who}: {kind:?} at request {at} of {:?}\n  squall: {} {:?} {:?}\n  {who}: {} {:?} {:?}",
                                escape(input),
                                s.end,
                                s.reason,
                                s.requests.iter().map(normal).collect::<Vec<_>>(),
                                r.end,
                                r.reason,
                                r.requests.iter().map(normal).collect::<Vec<_>>(),
                            ));
                        }
                    }
                },
            }
        }
        let total: usize = justified.values().sum();
        println!("{who}: {n} inputs compared, {agreed} agreed, {total} justified differences, {failed} unexplained");
        for (row, count) in &justified {
            println!("  {count:7}  {row}");
        }
    }
    assert!(unexplained.is_empty(), "unexplained disagreements:\n{}", unexplained.join("\n"));
}
