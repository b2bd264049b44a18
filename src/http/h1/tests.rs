use super::*;

#[derive(Debug, PartialEq, Eq)]
enum Ev {
    Head(RequestHead),
    Body(Vec<u8>),
    End,
}

/// Feeds `input` the way a connection does: bytes not consumed stay and more
/// arrive after them. `cuts` are the positions where new bytes arrive.
fn run(limits: Limits, input: &[u8], cuts: &[usize]) -> Result<Vec<Ev>, HttpError> {
    let mut d = Decoder::new(limits, 0);
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut last = 0;
    let mut ends: Vec<usize> = cuts.to_vec();
    ends.push(input.len());
    for end in ends {
        pending.extend_from_slice(&input[last..end]);
        last = end;
        loop {
            let (used, ev) = d.decode(&pending, 0)?;
            assert!(used <= pending.len());
            let got = match ev {
                Decoded::NeedMore if used == 0 => break,
                Decoded::NeedMore => None,
                Decoded::Head(h) => Some(Ev::Head(h)),
                Decoded::Body(a, b) => Some(Ev::Body(pending[a..b].to_vec())),
                Decoded::End => Some(Ev::End),
            };
            pending.drain(..used);
            if let Some(got) = got {
                // merge adjacent body pieces so splits compare equal
                match (events.last_mut(), got) {
                    (Some(Ev::Body(prev)), Ev::Body(more)) => prev.extend(more),
                    (_, got) => events.push(got),
                }
            }
        }
    }
    Ok(events)
}

fn whole(input: &[u8]) -> Result<Vec<Ev>, HttpError> {
    run(Limits::default(), input, &[])
}

fn status_of(input: &[u8]) -> u16 {
    match whole(input) {
        Err(e) => e.status,
        Ok(ev) => panic!("accepted: {ev:?}"),
    }
}

fn head(ev: &Ev) -> &RequestHead {
    match ev {
        Ev::Head(h) => h,
        other => panic!("not a head: {other:?}"),
    }
}

#[test]
fn simple_get() {
    let ev = whole(b"GET /a/b?x=1 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n").unwrap();
    assert_eq!(ev.len(), 2);
    let h = head(&ev[0]);
    assert_eq!((h.method.as_str(), h.target.as_str(), h.version_minor), ("GET", "/a/b?x=1", 1));
    assert_eq!(h.headers.len(), 3);
    assert!(h.keep_alive && !h.chunked && !h.expect_continue && !h.upgrade);
    assert_eq!(h.content_length, Some(0));
    assert_eq!(ev[1], Ev::End);
}

const CASES: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nokGET /3 HTTP/1.0\r\n\r\n",
];

#[test]
fn every_split_point_gives_the_same_events() {
    for case in CASES {
        let reference = whole(case).unwrap();
        assert!(!reference.is_empty());
        for cut in 0..=case.len() {
            assert_eq!(run(Limits::default(), case, &[cut]).unwrap(), reference, "cut at {cut} of {:?}", String::from_utf8_lossy(case));
        }
        let every: Vec<usize> = (1..case.len()).collect();
        assert_eq!(run(Limits::default(), case, &every).unwrap(), reference, "byte at a time");
    }
}

#[test]
fn bodies_and_pipelining() {
    let ev = whole(CASES[2]).unwrap();
    assert!(head(&ev[0]).chunked);
    assert_eq!(ev[1], Ev::Body(b"hello world".to_vec()));
    assert_eq!(ev[2], Ev::End);
    let ev = whole(CASES[3]).unwrap();
    let targets: Vec<_> = ev.iter().filter_map(|e| if let Ev::Head(h) = e { Some(h.target.clone()) } else { None }).collect();
    assert_eq!(targets, ["/1", "/2", "/3"]);
    assert!(ev.contains(&Ev::Body(b"ok".to_vec())));
    assert_eq!(ev.iter().filter(|e| **e == Ev::End).count(), 3);
}

#[test]
fn keep_alive_rules() {
    let ka = |req: &[u8]| head(&whole(req).unwrap()[0]).keep_alive;
    assert!(ka(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    let h = whole(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n").unwrap();
    assert!(head(&h[0]).upgrade);
    let h = whole(b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx").unwrap();
    assert!(head(&h[0]).expect_continue);
}

#[test]
fn content_length_rules() {
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 4\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 67108865\r\n\r\n"), 413);
    // identical repeats are one value (RFC 9110 §8.6)
    let ev = whole(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nab").unwrap();
    assert_eq!(ev[1], Ev::Body(b"ab".to_vec()));
}

#[test]
fn transfer_encoding_rules() {
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), 501);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n"), 501);
    assert_eq!(status_of(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \r\n\r\n"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
    let ok = whole(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n").unwrap();
    assert_eq!(ok.len(), 2);
}

#[test]
fn chunk_rules() {
    let chunked = |body: &[u8]| {
        let mut r = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        r.extend_from_slice(body);
        r
    };
    assert_eq!(status_of(&chunked(b"zz\r\n")), 400);
    assert_eq!(status_of(&chunked(b"-1\r\n")), 400);
    assert_eq!(status_of(&chunked(b" 5\r\nhello\r\n")), 400);
    assert_eq!(status_of(&chunked(b"0x5\r\n")), 400);
    assert_eq!(status_of(&chunked(b"fffffffffffffffff\r\n")), 400);
    assert_eq!(status_of(&chunked(b"5\nhello\r\n")), 400, "LF without CR");
    assert_eq!(status_of(&chunked(b"5\r\nhelloXX")), 400, "data not followed by CRLF");
    assert_eq!(status_of(&chunked(b"0\r\nBad Trailer\r\n\r\n")), 400);
    assert_eq!(status_of(&chunked(b"4000001\r\n")), 413, "64 MiB + 1 in one chunk");
    // leading zeros and a size with a long run of zeros are fine
    let ev = whole(&chunked(b"00000000000000000003\r\nabc\r\n0\r\n\r\n")).unwrap();
    assert_eq!(ev[1], Ev::Body(b"abc".to_vec()));
    // crossing the limit over several chunks
    let limits = Limits { max_body_size: 10, ..Limits::default() };
    let r = run(limits, &chunked(b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"), &[]);
    assert_eq!(r.unwrap_err().status, 413);
    // an endless chunk-size line is refused
    let mut long = chunked(b"1");
    long.extend(std::iter::repeat_n(b'0', 5000));
    assert_eq!(status_of(&long), 400);
}

#[test]
fn head_syntax_rules() {
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), 400, "obs-fold");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n"), 400, "space before colon");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n"), 400, "tab before colon");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"), 400, "bare CR");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n"), 400, "NUL");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n"), 400, "control char");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX\x01Y: a\r\n\r\n"), 400, "control in name");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\n: a\r\n\r\n"), 400, "empty name");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400, "no Host");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400, "two Hosts");
    assert_eq!(status_of(b"HELLO\r\n\r\n"), 400);
    assert_eq!(status_of(b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "double space");
    assert_eq!(status_of(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTQ/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status_of(&[b'\r'; 100]), 400, "endless CRs");
    assert_eq!(status_of(&b"\r\n".repeat(40)), 400, "endless empty lines");
    // HTTP/1.0 needs no Host
    assert!(whole(b"GET / HTTP/1.0\r\n\r\n").is_ok());
}

#[test]
fn size_limits_even_while_partial() {
    let limits = Limits { max_request_target: 100, max_header_size: 1000, max_headers: 5, ..Limits::default() };
    let mut long_target = b"GET /".to_vec();
    long_target.extend(std::iter::repeat_n(b'a', 150));
    assert_eq!(run(limits.clone(), &long_target, &[]).unwrap_err().status, 414, "no CRLF yet");
    long_target.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(run(limits.clone(), &long_target, &[]).unwrap_err().status, 414);
    let mut big = b"GET / HTTP/1.1\r\nHost: h\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'v', 1200));
    assert_eq!(run(limits.clone(), &big, &[]).unwrap_err().status, 431, "still partial");
    let many = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n";
    assert_eq!(run(limits.clone(), many, &[]).unwrap_err().status, 431);
    // more headers than the stack array holds
    let limits = Limits { max_headers: 300, ..Limits::default() };
    let mut req = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
    for i in 0..200 {
        req.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    assert_eq!(head(&run(limits, &req, &[]).unwrap()[0]).headers.len(), 201);
}

#[test]
fn errors_are_sticky() {
    let mut d = Decoder::new(Limits::default(), 0);
    let e = d.decode(b"BAD\r\n\r\n", 0).unwrap_err();
    assert_eq!(d.decode(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 0).unwrap_err(), e);
}

#[test]
fn header_timeout_counts_from_the_start_for_the_first_request() {
    let l = Limits { header_timeout_ms: 1000, body_timeout_ms: 500, idle_timeout_ms: 3000, ..Limits::default() };
    let mut d = Decoder::new(l.clone(), 100);
    assert_eq!(d.next_deadline(), Some(1100));
    assert_eq!(d.check_timeout(1099), None);
    // nothing was sent: an idle connection, closed without a 408
    assert_eq!(d.check_timeout(1100), Some(Timeout::Idle));
    // bytes arriving do not extend the first request's deadline (slowloris)
    assert_eq!(d.decode(b"GET / HT", 900).unwrap(), (0, Decoded::NeedMore));
    assert_eq!(d.next_deadline(), Some(1100));
    assert_eq!(d.check_timeout(1100), Some(Timeout::Request));
    // empty lines before the first request-line are part of its head's time
    let mut d = Decoder::new(l, 100);
    assert_eq!(d.decode(b"\r\n", 500).unwrap(), (2, Decoded::NeedMore));
    assert_eq!(d.check_timeout(1100), Some(Timeout::Request));
}

#[test]
fn a_silent_new_connection_is_idle_after_the_shorter_timeout() {
    // idle_connection_timeout shorter than header_timeout: a connection that
    // sends nothing is closed once idle that long (as Tornado's); once its
    // first byte arrives, the head has the whole header_timeout from the accept
    let l = Limits { header_timeout_ms: 1000, idle_timeout_ms: 100, ..Limits::default() };
    let d = Decoder::new(l.clone(), 0);
    assert_eq!(d.next_deadline(), Some(100));
    assert_eq!(d.check_timeout(99), None);
    assert_eq!(d.check_timeout(100), Some(Timeout::Idle));
    let mut d = Decoder::new(l, 0);
    assert_eq!(d.decode(b"GET", 50).unwrap(), (0, Decoded::NeedMore));
    assert_eq!(d.next_deadline(), Some(1000));
    assert_eq!(d.check_timeout(500), None);
}

#[test]
fn body_idle_and_handling_timeouts() {
    let l = Limits { header_timeout_ms: 1000, body_timeout_ms: 500, idle_timeout_ms: 3000, ..Limits::default() };
    let mut d = Decoder::new(l, 0);
    let req = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n";
    let (used, ev) = d.decode(req, 200).unwrap();
    assert_eq!(used, req.len());
    assert!(matches!(ev, Decoded::Head(_)));
    assert_eq!(d.next_deadline(), Some(700), "body due 500 ms after the head");
    assert_eq!(d.check_timeout(699), None);
    assert_eq!(d.check_timeout(700), Some(Timeout::Request));
    assert_eq!(d.decode(b"abcd", 300).unwrap(), (4, Decoded::Body(0, 4)));
    assert_eq!(d.decode(b"", 300).unwrap(), (0, Decoded::End));
    // being handled: no deadline however long it takes
    assert_eq!(d.next_deadline(), None);
    assert_eq!(d.check_timeout(1_000_000), None);
    d.on_response_done(5000);
    assert_eq!(d.next_deadline(), Some(8000));
    assert_eq!(d.check_timeout(7999), None);
    assert_eq!(d.check_timeout(8000), Some(Timeout::Idle));
    // the next request's head gets header_timeout from its first byte
    assert_eq!(d.decode(b"GET", 6000).unwrap(), (0, Decoded::NeedMore));
    assert_eq!(d.next_deadline(), Some(7000));
    assert_eq!(d.check_timeout(7000), Some(Timeout::Request));
}

#[test]
fn pipelined_head_during_handling_keeps_its_deadline() {
    let l = Limits { header_timeout_ms: 1000, ..Limits::default() };
    let mut d = Decoder::new(l, 0);
    let (n, _) = d.decode(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 10).unwrap();
    assert_eq!(d.decode(b"", 10).unwrap(), (0, Decoded::End));
    assert!(n > 0);
    assert_eq!(d.decode(b"GET /2 HTTP/1.1\r\n", 50).unwrap(), (0, Decoded::NeedMore));
    d.on_response_done(60); // the first response finished; the second head is under way
    assert_eq!(d.next_deadline(), Some(1050));
}

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"GET POST HTTP/1.1\r\n:; ,chunked0123456789abcdefContent-LengthTransfer-EncodingHost\t\x00\x7f\xff";
    for _ in 0..3000 {
        let len = (x % 300) as usize;
        let mut input = Vec::with_capacity(len);
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            input.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        let cut = (x % (len as u64 + 1)) as usize;
        let _ = run(Limits { max_body_size: 1000, ..Limits::default() }, &input, &[cut]);
    }
}

/// The request accepted: its one head.
fn accepted(input: &[u8]) -> RequestHead {
    match whole(input) {
        Ok(ev) => head(&ev[0]).clone(),
        Err(e) => panic!("refused {e:?}: {:?}", String::from_utf8_lossy(input)),
    }
}

fn with_header(line: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: h\r\n{line}\r\n\r\n").into_bytes()
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut r = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    r.extend_from_slice(body);
    r
}

fn chunked_body(body: &[u8]) -> Result<Vec<u8>, u16> {
    match whole(&chunked(body)) {
        Ok(ev) => {
            assert_eq!(ev.last(), Some(&Ev::End), "{ev:?}");
            Ok(ev.iter().find_map(|e| if let Ev::Body(b) = e { Some(b.clone()) } else { None }).unwrap_or_default())
        }
        Err(e) => Err(e.status),
    }
}

// RFC 9112 §3: request-line = method SP request-target SP HTTP-version.
#[test]
fn request_line_rule() {
    let h = accepted(b"M-1.x_~!#$%&'*+^`| / HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(h.method, "M-1.x_~!#$%&'*+^`|");
    for bad in [
        &b"GET  / HTTP/1.1"[..],
        b"GET /  HTTP/1.1",
        b" GET / HTTP/1.1",
        b"GET / HTTP/1.1 ",
        b"GET\t/ HTTP/1.1",
        b"GET / HTTP/1.1 x",
        b"GET /",
        b"G(ET / HTTP/1.1",
        b"G\"ET / HTTP/1.1",
        b"G\xc3\xa9T / HTTP/1.1",
        b"GET / http/1.1",
        b"GET / HTTP/1.10",
        b"GET / HTTP/1",
        b"GET / HTTP/x.1",
    ] {
        let mut req = bad.to_vec();
        req.extend_from_slice(b"\r\nHost: h\r\n\r\n");
        assert_eq!(status_of(&req), 400, "{:?}", String::from_utf8_lossy(bad));
    }
}

// RFC 9112 §2.3 HTTP-version; RFC 9110 §2.5: a later 1.x minor is served as
// 1.1, another major is 505.
#[test]
fn version_rule() {
    assert_eq!(accepted(b"GET / HTTP/1.0\r\n\r\n").version_minor, 0);
    assert_eq!(accepted(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").version_minor, 1);
    assert_eq!(accepted(b"GET / HTTP/1.9\r\nHost: h\r\n\r\n").version_minor, 1);
    assert_eq!(status_of(b"GET / HTTP/1.2\r\n\r\n"), 400, "served as 1.1, so Host is required");
    assert_eq!(status_of(b"GET / HTTP/2.0\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTP/0.9\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTP/9.9\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTP/2\r\nHost: h\r\n\r\n"), 400);
}

// RFC 9112 §3.2: the four request-target forms, each for its methods.
#[test]
fn request_target_rule() {
    let target = |line: &str| {
        let req = format!("{line}\r\nHost: h\r\n\r\n");
        whole(req.as_bytes()).map(|ev| head(&ev[0]).target.clone()).map_err(|e| e.status)
    };
    assert_eq!(target("GET /a/b;p=1/%41:@!$&'()*+,=?q=a/b?c HTTP/1.1"), Ok("/a/b;p=1/%41:@!$&'()*+,=?q=a/b?c".into()));
    assert_eq!(target("OPTIONS * HTTP/1.1"), Ok("*".into()));
    assert_eq!(target("CONNECT example.com:443 HTTP/1.1"), Ok("example.com:443".into()));
    assert_eq!(target("GET http://example.com/x?y HTTP/1.1"), Ok("/x?y".into()));
    assert_eq!(target("GET http://example.com HTTP/1.1"), Ok("/".into()));
    assert_eq!(target("GET http://example.com?y HTTP/1.1"), Ok("/?y".into()));
    // What browsers send unencoded (grammar::is_browser_extra).
    for ok in ["/a\\b", "/a{b}", "/a|b", "/?a[]=1", "/a^b`c"] {
        assert_eq!(target(&format!("GET {ok} HTTP/1.1")), Ok(ok.to_string()), "{ok}");
    }
    for bad in [
        "GET * HTTP/1.1",
        "OPTIONS ** HTTP/1.1",
        "GET example.com:443 HTTP/1.1",
        "CONNECT / HTTP/1.1",
        "CONNECT http://example.com/ HTTP/1.1",
        "CONNECT example.com HTTP/1.1",
        "GET a/b HTTP/1.1",
        "GET /a#frag HTTP/1.1",
        "GET /%zz HTTP/1.1",
        "GET /%4 HTTP/1.1",
        "GET /a<b> HTTP/1.1",
        "GET /a\"b HTTP/1.1",
        "GET /é HTTP/1.1",
        "GET http://user@example.com/ HTTP/1.1",
        "GET http:///x HTTP/1.1",
        "GET ftp://example.com/ HTTP/1.1",
        "GET http://exa mple.com/ HTTP/1.1",
    ] {
        assert_eq!(target(bad), Err(400), "{bad}");
    }
    assert_eq!(status_of(b"GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status_of(b"GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

// RFC 9112 §3.2.2: with an absolute-form target the host is its authority.
#[test]
fn absolute_form_authority_wins_over_host() {
    let h = accepted(b"GET http://Real.Example:8080/p HTTP/1.1\r\nHost: other.example\r\n\r\n");
    assert_eq!(h.target, "/p");
    let hosts: Vec<_> = h.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("host")).map(|(_, v)| v.clone()).collect();
    assert_eq!(hosts, [b"Real.Example:8080".to_vec()]);
    // Host is still required in HTTP/1.1, and still checked.
    assert_eq!(status_of(b"GET http://a/ HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(status_of(b"GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
    assert_eq!(accepted(b"GET http://a/ HTTP/1.0\r\n\r\n").target, "/");
}

// RFC 9112 §3.2, RFC 9110 §7.2: one Host in 1.1, value uri-host [ ":" port ].
#[test]
fn host_rule() {
    for ok in ["h", "example.com:80", "EXAMPLE.COM", "127.0.0.1:8080", "[::1]", "[::1]:443", "a%2Db", "h:", "a-b_c~d!$&'()*+,;="] {
        let h = accepted(format!("GET / HTTP/1.1\r\nHost: {ok}\r\n\r\n").as_bytes());
        assert!(h.headers.iter().any(|(n, v)| n == "Host" && v == ok.as_bytes()), "{ok}");
    }
    // RFC 9110 §7.2: an empty Host is what a client sends when the target
    // has no authority: accepted.
    accepted(b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    accepted(b"GET / HTTP/1.1\r\nHost: \r\n\r\n");
    for bad in ["a b", "a/b", "a@b", "a:b", "a:80:90", "[::1", "::1", "[::1]x", "a%zz", "a\"b", "a?b", "a#b", "é", "h:-1"] {
        assert_eq!(status_of(format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n").as_bytes()), 400, "{bad}");
    }
    assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400, "missing");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), 400, "twice, even the same");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), 400, "a list");
    assert_eq!(status_of(b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), 400, "twice in 1.0");
    assert_eq!(status_of(b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n"), 400, "malformed in 1.0");
    accepted(b"GET / HTTP/1.0\r\n\r\n");
}

// RFC 9110 §5.1 field-name = token; RFC 9112 §5.1 no whitespace before the
// colon; RFC 9110 §5.5 field-value characters; RFC 9112 §5.2 obs-fold.
#[test]
fn field_line_rules() {
    let h = accepted(&with_header("X-a_b.c~!#$%&'*+^`|: v \x7e\t\"q\" x"));
    assert_eq!(h.headers[1], ("X-a_b.c~!#$%&'*+^`|".to_owned(), b"v ~\t\"q\" x".to_vec()));
    let h = accepted(b"GET / HTTP/1.1\r\nHost: h\r\nX: \x80\xff obs-text\r\nY:\r\nZ:  \t padded \t \r\n\r\n");
    assert_eq!(h.headers[1].1, b"\x80\xff obs-text");
    assert_eq!(h.headers[2].1, b"");
    assert_eq!(h.headers[3].1, b"padded");
    for bad in ["X Y: v", "X(Y): v", "X/Y: v", "X\"Y: v", "é: v", ": v", "X : v", "X\t: v", "NoColon", " X: v"] {
        assert_eq!(status_of(&with_header(bad)), 400, "{bad:?}");
    }
    for bad in [&b"X: a\x00b"[..], b"X: a\x01b", b"X: a\x7fb", b"X: a\x0bb", b"X: a\x1bb"] {
        let mut req = b"GET / HTTP/1.1\r\nHost: h\r\n".to_vec();
        req.extend_from_slice(bad);
        req.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status_of(&req), 400, "{bad:?}");
    }
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"), 400, "obs-fold (SP)");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n"), 400, "obs-fold (HTAB)");
    assert_eq!(status_of(b"GET / HTTP/1.1\r\n Host: h\r\n\r\n"), 400, "whitespace after the request-line");
}

// RFC 9112 §2.2: CRLF line endings; bare CR refused (MUST), bare LF refused
// (the smuggling-safe choice where the RFC allows either).
#[test]
fn line_ending_rule() {
    for bad in [
        &b"GET / HTTP/1.1\nHost: h\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: h\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\n\n",
        b"GET / HTTP/1.1\nHost: h\n\n",
        b"GET / HTTP/1.1\rHost: h\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n",
        b"GET /\r HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        assert_eq!(status_of(bad), 400, "{:?}", String::from_utf8_lossy(bad));
    }
}

// RFC 9112 §2.2: empty lines (CRLF) before the request-line are ignored.
#[test]
fn leading_empty_lines_rule() {
    assert_eq!(accepted(b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n").target, "/a");
    assert_eq!(accepted(b"\r\n\r\n\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n").target, "/a");
    assert_eq!(status_of(b"\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "bare LF");
    assert_eq!(status_of(b"\rGET /a HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "bare CR");
    assert_eq!(status_of(b"\r\n\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n"), 400, "CRLF then bare LF");
    // a lone CR is the start of a CRLF still arriving
    assert_eq!(run(Limits::default(), b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n", &[1]).unwrap().len(), 2);
}

// RFC 9110 §8.6 Content-Length.
#[test]
fn content_length_accepted_forms() {
    for cl in ["3", "003", "3, 3", "3,3,", ", 3"] {
        let req = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {cl}\r\n\r\nabc");
        let ev = whole(req.as_bytes()).unwrap_or_else(|e| panic!("{cl}: {e:?}"));
        assert_eq!(ev[1], Ev::Body(b"abc".to_vec()), "{cl}");
        assert_eq!(head(&ev[0]).content_length, Some(3));
    }
    for cl in ["3 ", "0x3", "3.0", "3;", "\"3\"", "3\t3", "-0", "99999999999999999999999"] {
        let req = format!("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {cl}\r\n\r\nabc");
        let want = if cl == "3 " { None } else { Some(400) };
        match want {
            Some(s) => assert_eq!(status_of(req.as_bytes()), s, "{cl:?}"),
            None => assert_eq!(accepted(req.as_bytes()).content_length, Some(3), "trailing OWS is not part of the value"),
        }
    }
}

// RFC 9112 §6.1, §6.3, §7: Transfer-Encoding.
#[test]
fn transfer_encoding_forms() {
    for te in ["chunked", "CHUNKED", " chunked ", ", chunked", "chunked,", ",,chunked, ,"] {
        let req = format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {te}\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
        let ev = whole(req.as_bytes()).unwrap_or_else(|e| panic!("{te:?}: {e:?}"));
        assert_eq!(ev[1], Ev::Body(b"abc".to_vec()));
    }
    let te = |v: &str| status_of(format!("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: {v}\r\n\r\n").as_bytes());
    for v in ["gzip", "deflate", "compress", "x-custom", "identity", "gzip, chunked", "x;a=1, chunked"] {
        assert_eq!(te(v), 501, "{v}");
    }
    for v in ["chunked, gzip", "chunked, chunked", "chunked;a=1", "\"chunked\"", "chunk ed", "chunked;", ",", ""] {
        assert_eq!(te(v), 400, "{v:?}");
    }
    let two = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(status_of(two), 400, "chunked on two lines");
    let cl_te = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    assert_eq!(status_of(cl_te), 400, "TE and CL, either order");
    assert_eq!(status_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc"), 400);
    assert_eq!(status_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n"), 400, "1.0 first");
}

// RFC 9110 §10.1.1 Expect.
#[test]
fn expect_rule() {
    for v in ["100-continue", "100-CONTINUE", "100-Continue, ", " 100-continue"] {
        let h = accepted(format!("POST / HTTP/1.1\r\nHost: h\r\nExpect: {v}\r\nContent-Length: 1\r\n\r\nx").as_bytes());
        assert!(h.expect_continue, "{v}");
    }
    for v in ["100-continue=1", "200-ok", "100-continue, x", "100continue", "foo"] {
        assert_eq!(status_of(format!("POST / HTTP/1.1\r\nHost: h\r\nExpect: {v}\r\nContent-Length: 1\r\n\r\nx").as_bytes()), 417, "{v}");
    }
    // ignored in HTTP/1.0, whatever it says
    let h = accepted(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    assert!(!h.expect_continue);
    accepted(b"POST / HTTP/1.0\r\nExpect: something-else\r\nContent-Length: 1\r\n\r\nx");
    // an empty list expects nothing
    assert!(!accepted(b"GET / HTTP/1.1\r\nHost: h\r\nExpect:\r\n\r\n").expect_continue);
}

// RFC 9112 §7.1 chunk-size = 1*HEXDIG.
#[test]
fn chunk_size_rule() {
    assert_eq!(chunked_body(b"3\r\nabc\r\n0\r\n\r\n"), Ok(b"abc".to_vec()));
    assert_eq!(chunked_body(b"A\r\n0123456789\r\n0\r\n\r\n"), Ok(b"0123456789".to_vec()));
    assert_eq!(chunked_body(b"a\r\n0123456789\r\n000\r\n\r\n"), Ok(b"0123456789".to_vec()));
    for bad in [
        &b" 3\r\nabc\r\n0\r\n\r\n"[..],
        b"3 \r\nabc\r\n0\r\n\r\n",
        b"\t3\r\nabc\r\n0\r\n\r\n",
        b"+3\r\nabc\r\n0\r\n\r\n",
        b"-3\r\nabc\r\n0\r\n\r\n",
        b"0x3\r\nabc\r\n0\r\n\r\n",
        b"3_0\r\n",
        b"g\r\n",
        b"\r\n",
        b"3\r\nabc\r\n\r\n",
        b"10000000000000000\r\n",
        b"3\nabc\r\n0\r\n\r\n",
        b"3\r\r\nabc\r\n0\r\n\r\n",
    ] {
        assert_eq!(chunked_body(bad), Err(400), "{:?}", String::from_utf8_lossy(bad));
    }
}

// RFC 9112 §7.1.1 chunk-ext, with a 4 KiB cap.
#[test]
fn chunk_ext_rule() {
    for ok in [&b"3;a\r\n"[..], b"3;a=b\r\n", b"3 ; a = b\r\n", b"3;a=\"q \\\" ;x\";b\r\n", b"3\t;a\r\n", b"3;a;b=c;d\r\n"] {
        let mut body = ok.to_vec();
        body.extend_from_slice(b"abc\r\n0;last\r\n\r\n");
        assert_eq!(chunked_body(&body), Ok(b"abc".to_vec()), "{:?}", String::from_utf8_lossy(ok));
    }
    for bad in [&b"3;\r\n"[..], b"3;=b\r\n", b"3;a=\r\n", b"3;a=\"x\r\n", b"3;a b\r\n", b"3,a\r\n", b"3;a=b c\r\n", b"3;a\x00\r\n", b"3;a=b;\r\n"] {
        let mut body = bad.to_vec();
        body.extend_from_slice(b"abc\r\n0\r\n\r\n");
        assert_eq!(chunked_body(&body), Err(400), "{:?}", String::from_utf8_lossy(bad));
    }
    let mut at_cap = b"3;a=".to_vec();
    at_cap.extend(std::iter::repeat_n(b'x', crate::http::grammar::MAX_CHUNK_EXT - 3));
    at_cap.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
    assert_eq!(chunked_body(&at_cap), Ok(b"abc".to_vec()));
    let mut over = b"3;a=".to_vec();
    over.extend(std::iter::repeat_n(b'x', crate::http::grammar::MAX_CHUNK_EXT - 2));
    over.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
    assert_eq!(chunked_body(&over), Err(400));
}

// RFC 9112 §7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF.
#[test]
fn chunk_data_crlf_rule() {
    for bad in [&b"3\r\nabcd\r\n0\r\n\r\n"[..], b"3\r\nab\r\n0\r\n\r\n", b"3\r\nabc\n0\r\n\r\n", b"3\r\nabc\r0\r\n\r\n", b"3\r\nabc0\r\n\r\n"] {
        assert_eq!(chunked_body(bad), Err(400), "{:?}", String::from_utf8_lossy(bad));
    }
}

// RFC 9112 §7.1, §7.1.2: last-chunk and the trailer section (field lines,
// never used for framing, never merged into the headers).
#[test]
fn last_chunk_and_trailer_rule() {
    assert_eq!(chunked_body(b"0\r\n\r\n"), Ok(vec![]));
    assert_eq!(chunked_body(b"0;x=y\r\n\r\n"), Ok(vec![]));
    assert_eq!(chunked_body(b"3\r\nabc\r\n0\r\nX-T: 1\r\nContent-Length: 99\r\nTransfer-Encoding: gzip\r\n\r\n"), Ok(b"abc".to_vec()));
    let ev = whole(&chunked(b"3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n")).unwrap();
    assert_eq!(head(&ev[0]).headers.len(), 2, "trailers are not headers");
    for bad in [
        &b"0\r\nX T: 1\r\n\r\n"[..],
        b"0\r\nX : 1\r\n\r\n",
        b"0\r\nNoColon\r\n\r\n",
        b"0\r\n: v\r\n\r\n",
        b"0\r\nX: 1\r\n folded\r\n\r\n",
        b"0\r\nX: a\x00b\r\n\r\n",
        b"0\r\nX: a\rb\r\n\r\n",
        b"0\r\nX: 1\n\r\n",
        b"0\r\n\n",
        b"0\r\nX: 1\r\n\n",
    ] {
        assert_eq!(chunked_body(bad), Err(400), "{:?}", String::from_utf8_lossy(bad));
    }
    // what follows the trailer section is the next request
    let mut two = chunked(b"0\r\nX: 1\r\n\r\n");
    two.extend_from_slice(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
    let ev = whole(&two).unwrap();
    assert_eq!(head(&ev[2]).target, "/next");
}
