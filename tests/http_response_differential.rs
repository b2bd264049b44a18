//! Differential testing of the HTTP client's response decoder
//! (`src/http/client/response.rs`) against parsers no one here wrote:
//! llhttp in response mode (Node's parser, strict:
//! tests/differential/llhttp_response.js) and h11 as a client
//! (tests/differential/h11_response.py). The same inputs — responses from a
//! grammar-based generator (status-lines, field lines, Content-Length,
//! chunked bodies with extensions and trailers, 1xx interim responses,
//! 204/304 and HEAD without bodies, close-delimited bodies, obs-fold) and
//! mutations of them (bare CR/LF, duplicated and conflicting framing
//! headers, bad versions, bytes inserted, removed, cut) — go to squall's
//! decoder (`squall::fuzzing::h1_response_transcript`) and to both, each
//! input with the methods of the requests it answers (GET or HEAD), then the
//! end of the connection. Compared: accepted or refused, each final
//! response's status, version, keep-alive, headers and body, and where the
//! next response starts (how many there were and how the input ended).
//!
//! Every disagreement must be explained by a row of `justify` (each one in
//! docs/ARCHITECTURE.md, "Differential testing"), or the test fails with the
//! input and the three readings. The counts are printed (`--nocapture`).
//!
//! `SQUALL_DIFF_N` sets how many inputs (default 3000), `SQUALL_DIFF_SEED`
//! the generator's seed:
//! `SQUALL_DIFF_N=1000000 cargo test --release --test http_response_differential -- --nocapture`.
//!
//! Transcript format, one line per input: `<id> <end> <reason> <n>` then per
//! final response `<status> <version> <keep-alive 0|1> <header count>
//! (<name> <value>)* <body>`; byte strings in hex, `-` when empty; `end` is
//! clean, partial, closed, upgrade or refused.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

mod differential;
use differential::{Rng, escape, hex, mutate, unhex};

// ---- the generator -------------------------------------------------------

const STATUSES: &[&str] = &["200 OK", "200 OK", "200 OK", "201 Created", "206 Partial Content", "301 Moved", "404 Not Found", "500 Oops", "204 No Content", "304 Not Modified", "299 ", "599 x y", "200 caf\u{e9}", "200 \tt"];
const FIELDS: &[&str] = &[
    "Server: t/1.0",
    "Date: Mon, 07 Dec 2026 12:00:00 GMT",
    "Content-Type: text/plain; charset=utf-8",
    "X-A: b c",
    "X-Empty:",
    "Set-Cookie: a=b; Path=/",
    "Cache-Control: no-cache, no-store",
    "X-Obs: \u{e9}",
    "Vary: *",
];

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
    out.extend_from_slice(b"0");
    if r.chance(10) {
        out.extend_from_slice(b";last=1");
    }
    out.extend_from_slice(b"\r\n");
    if r.chance(20) {
        out.extend_from_slice(r.pick(&["X-Trailer: 1\r\n", "Expires: x\r\nX-T: 2\r\n"]).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One response by the grammar (with a few valid-but-unusual forms) to a
/// request with method HEAD when `head`; `last`: nothing follows it, so it
/// may end by closing the connection.
fn response(r: &mut Rng, head: bool, last: bool) -> Vec<u8> {
    let mut out = String::new();
    let version = if r.chance(85) { "HTTP/1.1" } else { r.pick(&["HTTP/1.0", "HTTP/1.0", "HTTP/1.2"]) };
    if r.chance(10) {
        // interim responses first (RFC 9110 §15.2)
        for _ in 0..1 + r.below(2) {
            out.push_str(r.pick(&["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n", "HTTP/1.1 102 Processing\r\n\r\n"]));
        }
    }
    let status = r.pick(STATUSES);
    out.push_str(&format!("{version} {status}\r\n"));
    let code: u16 = status[..3].parse().unwrap();
    let mut headers: Vec<String> = Vec::new();
    for _ in 0..r.below(4) {
        headers.push(r.pick(FIELDS).to_owned());
    }
    if r.chance(5) {
        headers.push(r.pick(&["X-Fold: a\r\n b", "X-Fold: a\r\n\tb\r\n c"]).to_owned());
    }
    let http10 = version == "HTTP/1.0";
    let mut closes = false;
    if r.chance(20) {
        let c = r.pick(&["Connection: keep-alive", "Connection: close", "Connection: Keep-Alive, foo", "Connection: upgrade"]);
        closes = c == "Connection: close";
        headers.push(c.to_owned());
    } else if http10 && !last {
        headers.push("Connection: keep-alive".to_owned());
    }
    let body: Vec<u8> = (0..r.below(12)).map(|i| b"abcdefghijkl"[i]).collect();
    let bodiless = head || code == 204 || code == 304;
    let mut wire_body = Vec::new();
    let can_close = last || closes;
    match r.below(3) {
        0 if !http10 => {
            headers.push(format!("Transfer-Encoding: {}", r.pick(&["chunked", "chunked", "Chunked", " chunked", ", chunked"])));
            if !bodiless {
                wire_body = chunked_body(r, &body);
            }
        }
        1 if !(code == 204 && r.chance(50)) => {
            let n = body.len();
            headers.push(match r.below(10) {
                0 => format!("Content-Length: {n}, {n}"),
                1 => format!("Content-Length: 00{n}"),
                2 => format!("Content-Length: {n}\r\nContent-Length: {n}"),
                _ => format!("Content-Length: {n}"),
            });
            if !bodiless {
                wire_body = body;
            }
        }
        _ if can_close && !bodiless => {
            // delimited by the end of the connection (RFC 9112 §6.3 ¶8)
            wire_body = body;
        }
        _ => {
            headers.push("Content-Length: 0".to_owned());
        }
    }
    for h in headers {
        out.push_str(&h);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&wire_body);
    bytes
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
    "Transfer-Encoding: gzip, chunked\r\n",
    "Transfer-Encoding: \"chunked\"\r\n",
    "Content-Length: 3\r\n",
    "Content-Length: 0\r\n",
    "Content-Length: -1\r\n",
    "Content-Length: 1 1\r\n",
    "Content-Length: 3, 4\r\n",
    "Content-Length: 0x1\r\n",
    "Content-Length:\r\n",
    "Connection: close\r\n",
    " folded\r\n",
    "X : y\r\n",
    "0\r\n\r\n",
    "3\r\nabc\r\n",
    "3 \r\nabc\r\n",
    "3;\r\nabc\r\n",
    "fffffffffffffffff\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "HTTP/1.1 100 Continue\r\n\r\n",
    "HTTP/1.1 101 Switching Protocols\r\n\r\n",
    "HTTP/1.1",
    "HTTP/2.0",
    "HTTP/1.10",
    "HTTP/0.9",
    "http/1.1",
    "ICY",
];


/// (the methods answered: true for HEAD, the connection's bytes)
fn inputs(n: usize, seed: u64) -> Vec<(Vec<bool>, Vec<u8>)> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..n)
        .map(|_| {
            let count = 1 + r.below(3);
            let heads: Vec<bool> = (0..count).map(|_| r.chance(15)).collect();
            let mut input: Vec<u8> = (0..count).flat_map(|i| response(&mut r, heads[i], i + 1 == count)).collect();
            if r.chance(75) {
                for _ in 0..1 + r.below(3) {
                    mutate(&mut r, &mut input, SNIPPETS);
                }
            }
            (heads, input)
        })
        .collect()
}

// ---- transcripts ---------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Resp {
    status: u16,
    version: String,
    keep_alive: bool,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Transcript {
    end: String,
    reason: String,
    responses: Vec<Resp>,
}

fn parse(line: &str) -> Transcript {
    let mut t = line.split(' ');
    let mut next = || t.next().unwrap_or_else(|| panic!("short transcript {line:?}"));
    let end = next().to_owned();
    let reason = String::from_utf8_lossy(&unhex(next())).into_owned();
    let n: usize = next().parse().unwrap();
    let mut responses = Vec::new();
    for _ in 0..n {
        let status = next().parse().unwrap();
        let version = next().to_owned();
        let keep_alive = next() == "1";
        let h: usize = next().parse().unwrap();
        let headers = (0..h).map(|_| (unhex(next()), unhex(next()))).collect();
        let body = unhex(next());
        responses.push(Resp { status, version, keep_alive, headers, body });
    }
    Transcript { end, reason, responses }
}

fn methods(heads: &[bool]) -> String {
    heads.iter().map(|&h| if h { 'H' } else { 'G' }).collect()
}

/// Runs a reference parser over all inputs: id → transcript.
fn reference(cmd: &str, args: &[&str], inputs: &[(Vec<bool>, Vec<u8>)]) -> BTreeMap<usize, Transcript> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd} {args:?} ({e}): the differential harness needs Node and Python's h11 (tests/requirements.txt)"));
    let mut stdin = child.stdin.take().unwrap();
    let lines: Vec<String> = inputs.iter().enumerate().map(|(i, (h, b))| format!("{i} {} {}\n", methods(h), hex(b))).collect();
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

/// A response as compared: names lowercased, values trimmed with runs of
/// SP/HTAB as one SP (obs-fold is unfolded to one SP by h11, to one per
/// byte by squall: RFC 9112 §5.2 says "one or more"), versions past 1.1 read
/// as 1.1, Content-Length lists of identical values as one value.
fn normal(q: &Resp) -> Resp {
    let mut q = q.clone();
    q.version = if q.version == "1.0" { "1.0" } else { "1.1" }.into();
    let mut lengths: Vec<Vec<u8>> = Vec::new();
    let mut headers = Vec::new();
    for (n, v) in &q.headers {
        let n = n.to_ascii_lowercase();
        let mut folded = Vec::new();
        for &b in v.trim_ascii() {
            let b = if b == b'\t' || b == b'\r' || b == b'\n' { b' ' } else { b };
            if !(b == b' ' && folded.last() == Some(&b' ')) {
                folded.push(b);
            }
        }
        let v = match n.as_slice() {
            // transfer codings are case-insensitive (h11 lowercases them)
            b"transfer-encoding" => folded.to_ascii_lowercase(),
            b"content-length" => {
                for item in v.split(|&b| b == b',').map(<[u8]>::trim_ascii).filter(|i| !i.is_empty()) {
                    if !lengths.iter().any(|l| l == item) {
                        lengths.push(item.to_vec());
                    }
                }
                continue;
            }
            _ => folded,
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
    /// Both read response i, differently.
    Differ,
    /// squall refused where the reference read on.
    SquallRefuses,
    /// The reference refused where squall read on.
    ReferenceRefuses,
    /// Same responses, different ends (clean, partial, closed, upgrade).
    End,
}

fn compare(s: &Transcript, r: &Transcript) -> Option<(Kind, usize)> {
    let n = s.responses.len().min(r.responses.len());
    for i in 0..n {
        if normal(&s.responses[i]) != normal(&r.responses[i]) {
            return Some((Kind::Differ, i));
        }
    }
    let s_refused = s.end == "refused";
    let r_refused = r.end == "refused";
    if s.responses.len() == r.responses.len() && (s.end == r.end || (s_refused && r_refused)) {
        return None;
    }
    if s.responses.len() < r.responses.len() || (s_refused && !r_refused && s.responses.len() == r.responses.len()) {
        return Some((if s_refused { Kind::SquallRefuses } else { Kind::End }, n));
    }
    if s.responses.len() > r.responses.len() || r_refused {
        return Some((if r_refused { Kind::ReferenceRefuses } else { Kind::End }, n));
    }
    Some((Kind::End, n))
}

/// Whether response `q`'s Connection header has `token`.
fn has_token(q: &Resp, token: &[u8]) -> bool {
    q.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case(b"connection") && v.split(|&c| c == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(token)))
}

/// Whether `input` has a Transfer-Encoding field line that is chunked alone
/// by the list rules (RFC 9110 §5.6.1: empty elements ignored, OWS — SP or
/// HTAB — around elements) but is not `chunked` with at most spaces around.
fn te_chunked_by_list_rules(input: &[u8]) -> bool {
    fn ows(s: &[u8]) -> &[u8] {
        let s = &s[s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len())..];
        &s[..s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |p| p + 1)]
    }
    input.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else { return false };
        if !line[..colon].eq_ignore_ascii_case(b"transfer-encoding") {
            return false;
        }
        let value = &line[colon + 1..];
        let items: Vec<&[u8]> = value.split(|&b| b == b',').map(ows).filter(|i| !i.is_empty()).collect();
        let spaced = &value[value.iter().position(|&b| b != b' ').unwrap_or(value.len())..];
        let spaced = &spaced[..spaced.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1)];
        items.len() == 1 && items[0].eq_ignore_ascii_case(b"chunked") && !spaced.eq_ignore_ascii_case(b"chunked")
    })
}

/// Whether `input` has a Connection field line with a tab in its value.
fn connection_with_tab(input: &[u8]) -> bool {
    input.split(|&b| b == b'\n').any(|line| {
        line.len() > 11 && line[..11].eq_ignore_ascii_case(b"connection:") && line[11..].contains(&b'\t')
    })
}

/// The row for llhttp's refusal of obs-fold. It is checked a second time:
/// the input with each obs-fold replaced by as many SP (what squall reads,
/// byte for byte) must then be read by llhttp as squall reads it, or differ
/// only by another row.
const OBS_FOLD: &str = "obs-fold in a response unfolded (RFC 9112 §5.2 MUST for a user agent); llhttp refuses it, and reads the unfolded input as squall does";

/// `input` with every obs-fold (CRLF then SP or HTAB, not right after
/// another CRLF: that is a head's end) made SP, length kept.
fn unfold(input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for i in 0..out.len().saturating_sub(2) {
        let after_crlf = i >= 2 && &input[i - 2..i] == b"\r\n";
        if !after_crlf && input[i] == b'\r' && input[i + 1] == b'\n' && matches!(input[i + 2], b' ' | b'\t') {
            out[i] = b' ';
            out[i + 1] = b' ';
        }
    }
    out
}

/// The row of docs/ARCHITECTURE.md that explains a disagreement, if any.
fn justify(who: &str, kind: Kind, s: &Transcript, r: &Transcript, heads: &[bool], input: &[u8]) -> Option<&'static str> {
    let sr = s.reason.as_str();
    let rr = r.reason.as_str();
    let has = |needle: &str| sr.contains(needle);
    let squall_reads = |bytes: &[u8]| parse(&squall::fuzzing::h1_response_transcript(bytes, heads));
    // squall waits for a head's empty line before judging it, where a
    // reference refuses a prefix at once: justified when squall refuses the
    // same head once it is complete.
    if s.end == "partial" && r.end == "refused" && s.responses.len() == r.responses.len() {
        let completed = squall_reads(&[input, b"\r\n\r\n"].concat());
        if completed.end == "refused" && completed.responses.len() == s.responses.len() {
            return Some("refused too once the head is complete (squall judges a head when its empty line is there)");
        }
    }
    // The same where the reference read on (a head with bare CRs llhttp
    // takes, say): squall's reason once the head is complete must be a row.
    if s.end == "partial" && r.end != "refused" && kind != Kind::SquallRefuses {
        let completed = squall_reads(&[input, b"\r\n\r\n"].concat());
        if completed.end == "refused" && completed.responses.len() == s.responses.len() {
            return justify(who, Kind::SquallRefuses, &completed, r, heads, input);
        }
    }
    // RFC 9112 §6.3 ¶1: the framing headers of a response to HEAD, of a 1xx,
    // 204 or 304 delimit nothing, and squall does not judge them; h11
    // refuses a Transfer-Encoding or Content-Length it would refuse anywhere.
    let k = r.responses.len();
    if kind == Kind::ReferenceRefuses && who == "h11" && (rr.contains("Transfer-Encoding") || rr.contains("Content-Length")) {
        if let Some(q) = s.responses.get(k) {
            if heads.get(k) == Some(&true) || q.status == 204 || q.status == 304 {
                return Some("framing headers of a HEAD, 204 or 304 response are not read (RFC 9112 §6.3 ¶1); h11 refuses ones it cannot use");
            }
        }
    }
    // RFC 9112 §5.2: a user agent MUST unfold obs-fold in a response; llhttp
    // (strict) refuses it.
    if kind == Kind::ReferenceRefuses && who == "llhttp" && rr == "HPE_INVALID_HEADER_TOKEN" && input.windows(3).any(|w| matches!(w, [b'\r', b'\n', b' ' | b'\t'])) {
        return Some(OBS_FOLD);
    }
    // RFC 9110 §15.2: a client reads the 1xx responses before a final one;
    // llhttp takes "Connection: close" on a 1xx as the end of the connection.
    if kind == Kind::ReferenceRefuses && rr == "HPE_CLOSED_CONNECTION" {
        return Some("Connection: close on an interim 1xx: the final response is still read (RFC 9110 §15.2); llhttp stops");
    }
    match kind {
        Kind::SquallRefuses => {
            // Rows where squall is the stricter reader: an RFC MUST, a MAY we
            // take, or where RFC 9112 lets a client refuse.
            for (needle, row) in [
                ("bare LF", "line endings: bare LF refused (RFC 9112 §2.2 MAY accept)"),
                ("bare CR", "line endings: bare CR refused (RFC 9112 §2.2)"),
                ("without CRLF", "line endings: bare LF refused (RFC 9112 §2.2 MAY accept)"),
                ("malformed status line", "status-line: HTTP-version SP 3DIGIT SP reason (RFC 9112 §4)"),
                ("bad status code", "status-code below 100 refused (RFC 9110 §15)"),
                ("101 Switching Protocols", "101 to a request that did not ask to upgrade refused"),
                ("both Transfer-Encoding and Content-Length", "Transfer-Encoding with Content-Length refused (RFC 9112 §6.3 ¶3: ought to be handled as an error)"),
                ("HTTP/1.0 response", "Transfer-Encoding in HTTP/1.0 refused (RFC 9112 §6.1: faulty framing)"),
                ("transfer coding", "Transfer-Encoding: only a lone chunked is decoded (RFC 9112 §6.3 ¶4)"),
                ("chunked applied more than once", "Transfer-Encoding: only a lone chunked is decoded (RFC 9112 §6.3 ¶4)"),
                ("chunk extension", "chunk-ext: the §7.1.1 grammar"),
                ("chunk size", "chunk-size: 1*HEXDIG, u64"),
                ("chunked body too large", "chunk sizes summing past 2^64-1 refused at once (RFC 9112 §7.1: anticipate overflow); the references wait for the bytes"),
                ("chunk data not followed by CRLF", "chunk-data CRLF (RFC 9112 §7.1)"),
                ("malformed trailer", "trailer section: field lines (RFC 9112 §7.1.2)"),
                ("Content-Length", "Content-Length: 1*DIGIT, identical list values (RFC 9110 §8.6)"),
                ("malformed response header", "field lines: name a token, value VCHAR / obs-text / SP / HTAB (RFC 9110 §5.1, §5.5)"),
                ("malformed response head", "field lines: name a token, colon, no whitespace before it (RFC 9112 §5.1)"),
            ] {
                if has(needle) {
                    return Some(row);
                }
            }
            None
        }
        Kind::ReferenceRefuses => {
            // Where the reference is the stricter one and RFC 9112 tells a
            // client to read on (or lets it).
            if who == "llhttp" {
                if rr.contains("HPE_STRICT") && input.windows(2).any(|w| matches!(w, [b' ' | b'\t', b';' | b'='] | [b';' | b'=', b' ' | b'\t'])) {
                    return Some("chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); llhttp refuses it");
                }
                for (code, row) in [
                    ("HPE_UNEXPECTED_CONTENT_LENGTH", "Content-Length: identical list values are one (RFC 9110 §8.6); llhttp refuses any repeat"),
                    ("HPE_INVALID_CONTENT_LENGTH", "Content-Length: identical list values are one (RFC 9110 §8.6); llhttp refuses any repeat"),
                    ("HPE_INVALID_VERSION", "HTTP-version: a later 1.x is read as 1.1 (RFC 9110 §2.5)"),
                    ("HPE_INVALID_TRANSFER_ENCODING", "Transfer-Encoding: empty list elements and OWS allowed (RFC 9110 §5.6.1)"),
                    ("HPE_INVALID_CHUNK_SIZE", "chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); llhttp refuses it"),
                ] {
                    if rr.contains(code) {
                        return Some(row);
                    }
                }
            } else {
                for (msg, row) in [
                    ("Content-Length", "Content-Length: identical list values are one (RFC 9110 §8.6)"),
                    ("Transfer-Encoding", "Transfer-Encoding: a list (RFC 9110 §5.6.1), `, chunked` is chunked; h11 takes only the exact word"),
                    ("HTTP version", "HTTP-version: a later 1.x is read as 1.1 (RFC 9110 §2.5)"),
                    ("illegal chunk header", "chunk-ext: BWS around \";\" and \"=\" (RFC 9112 §7.1.1); h11 refuses it"),
                ] {
                    if rr.contains(msg) {
                        return Some(row);
                    }
                }
            }
            None
        }
        Kind::End => {
            let i = s.responses.len().min(r.responses.len());
            // CR/LF after the last response: the start of a status-line that
            // never came (a client is not told to skip empty lines, §2.2).
            let crlf = input.iter().rev().take_while(|&&b| b == b'\r' || b == b'\n').count();
            if s.end == "partial" && r.end == "clean" && r.responses.len() == s.responses.len() {
                let cut = (1..=crlf).map(|k| squall_reads(&input[..input.len() - k])).any(|t| t.end == "clean" && t.responses.len() == s.responses.len());
                if cut {
                    return Some("CR/LF after a response: waits for a status-line (RFC 9112 §2.2 has a client skip none); llhttp skips them");
                }
            }
            // h11 closes after every HTTP/1.0 response.
            if who == "h11" && r.end == "closed" && i > 0 && r.responses[i - 1].version == "1.0" && s.responses[i - 1].keep_alive {
                return Some("HTTP/1.0 keep-alive honoured (RFC 9112 §9.3); h11 closes after every HTTP/1.0 response");
            }
            None
        }
        Kind::Differ => {
            let i = s.responses.len().min(r.responses.len());
            let at = (0..i).find(|&k| normal(&s.responses[k]) != normal(&r.responses[k]))?;
            let (mut a, b) = (normal(&s.responses[at]), normal(&r.responses[at]));
            let row = if who == "h11" && a.keep_alive && !b.keep_alive && a.version == "1.0" && has_token(&a, b"keep-alive") {
                "HTTP/1.0 keep-alive honoured (RFC 9112 §9.3); h11 closes after every HTTP/1.0 response"
            } else if a.keep_alive && !b.keep_alive && who == "llhttp" && connection_with_tab(input) {
                "OWS includes HTAB (RFC 9110 §5.6.3): `keep-alive<TAB>` keeps an HTTP/1.0 connection; llhttp does not trim the tab and closes"
            } else if !a.keep_alive && b.keep_alive && has_token(&a, b"close") {
                "Connection: close wins over keep-alive (RFC 9112 §9.6)"
            } else if who == "llhttp" && !b.keep_alive && a.body != b.body && te_chunked_by_list_rules(input) {
                a.body.clone_from(&b.body);
                "Transfer-Encoding: a list (RFC 9110 §5.6.1: empty elements ignored, OWS around them), so `chunked,` or `chunked<TAB>` is chunked; llhttp takes it as not chunked and reads until close"
            } else if a.keep_alive && !b.keep_alive && who == "llhttp" && (heads.get(at) == Some(&true) || a.status == 204 || a.status == 304) {
                // (Node passes llhttp's keep-alive verdict to its callback
                // before the callback says the request was HEAD.)
                "HEAD, 204 and 304 responses end at their empty line whatever their framing headers say (RFC 9112 §6.3 ¶1); llhttp closes when those headers would not delimit a body"
            } else {
                return None;
            };
            a.keep_alive = b.keep_alive;
            (a == b).then_some(row)
        }
    }
}

fn show(t: &Transcript) -> String {
    let mut out = format!("{} {:?}", t.end, t.reason);
    for q in t.responses.iter().map(normal) {
        out += &format!("\n    {} {} keep-alive {}:", q.status, q.version, q.keep_alive);
        for (n, v) in &q.headers {
            out += &format!(" [{}: {}]", escape(n), escape(v));
        }
        out += &format!(" body {:?}", escape(&q.body));
    }
    out
}

#[test]
fn squall_reads_responses_as_llhttp_and_h11_do_or_says_why() {
    let n: usize = std::env::var("SQUALL_DIFF_N").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seed: u64 = std::env::var("SQUALL_DIFF_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed_4321_dcba);
    let inputs = inputs(n, seed);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/differential");
    let squall: Vec<Transcript> = inputs.iter().map(|(h, i)| parse(&squall::fuzzing::h1_response_transcript(i, h))).collect();
    let refs = [("llhttp", "node", format!("{dir}/llhttp_response.js")), ("h11", "python3", format!("{dir}/h11_response.py"))];
    let mut unexplained = Vec::new();
    for (who, cmd, script) in &refs {
        let transcripts = reference(cmd, &[script], &inputs);
        let mut agreed = 0;
        let mut justified: BTreeMap<&str, usize> = BTreeMap::new();
        let mut failed = 0;
        let mut recheck = Vec::new();
        let mut fail = |kind: Kind, at: usize, heads: &[bool], input: &[u8], s: &Transcript, r: &Transcript, failed: &mut usize| {
            *failed += 1;
            if *failed <= 40 {
                unexplained.push(format!("{who}: {kind:?} at response {at} of {} {:?}\n  squall: {}\n  {who}: {}", methods(heads), escape(input), show(s), show(r)));
            }
        };
        for (i, (heads, input)) in inputs.iter().enumerate() {
            let (s, r) = (&squall[i], &transcripts[&i]);
            match compare(s, r) {
                None => agreed += 1,
                Some((kind, at)) => match justify(who, kind, s, r, heads, input) {
                    Some(row) => {
                        if row == OBS_FOLD {
                            recheck.push((heads.clone(), unfold(input), i));
                        }
                        *justified.entry(row).or_default() += 1;
                    }
                    None => fail(kind, at, heads, input, s, r, &mut failed),
                },
            }
        }
        // The obs-fold row, checked: unfolded, the input reads the same.
        let batch: Vec<(Vec<bool>, Vec<u8>)> = recheck.iter().map(|(h, u, _)| (h.clone(), u.clone())).collect();
        let again = reference(cmd, &[script], &batch);
        for (k, (heads, unfolded, i)) in recheck.iter().enumerate() {
            let s = parse(&squall::fuzzing::h1_response_transcript(unfolded, heads));
            let r = &again[&k];
            if let Some((kind, at)) = compare(&s, r) {
                if justify(who, kind, &s, r, heads, unfolded).is_none_or(|row| row == OBS_FOLD) {
                    fail(kind, at, heads, &inputs[*i].1, &s, r, &mut failed);
                }
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
