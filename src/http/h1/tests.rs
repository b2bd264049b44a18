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
    assert_eq!(status_of(b"GET / HTTP/1.2\r\nHost: h\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTQ/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_eq!(status_of(&[b'\r'; 100]), 400, "endless empty lines");
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
    let mut d = Decoder::new(l, 100);
    assert_eq!(d.next_deadline(), Some(1100));
    assert_eq!(d.check_timeout(1099), None);
    assert_eq!(d.check_timeout(1100), Some(Timeout::Request));
    // bytes arriving do not extend the first request's deadline (slowloris)
    assert_eq!(d.decode(b"GET / HT", 900).unwrap(), (0, Decoded::NeedMore));
    assert_eq!(d.check_timeout(1100), Some(Timeout::Request));
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
