use super::*;
use crate::ws::deflate::codec::Deflater;

const LIMITS: Limits = Limits { max_message_size: 1 << 20 };

/// A raw frame as a client would send it (masked unless `mask` is None).
fn frame(fin: bool, rsv: u8, opcode: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(m | n as u8),
        n if n < 65536 => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            out.extend_from_slice(&k);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

const K: Option<[u8; 4]> = Some([1, 2, 3, 4]);

fn server() -> Session {
    Session::new(Role::Server, LIMITS, Vec::new())
}

fn feed(s: &mut Session, bytes: &[u8]) -> Vec<WsEvent> {
    let mut ev = vec![];
    s.feed(bytes, &mut ev);
    ev
}

/// Server frames are unmasked; returns (opcode, payload) of each.
fn parse_server_frames(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = vec![];
    while b.len() >= 2 {
        assert_eq!(b[1] & 0x80, 0, "server frames are not masked");
        let (len, hdr) = match b[1] & 0x7f {
            126 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 => (u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        out.push((b[0] & 0x0f, b[hdr..hdr + len].to_vec()));
        b = &b[hdr + len..];
    }
    out
}

#[test]
fn echo_through_a_client_session_at_every_size() {
    let mut srv = server();
    let mut cli = Session::new(Role::Client, LIMITS, Vec::new());
    for size in [0usize, 125, 126, 65535, 65536, 1 << 20] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        cli.send(true, &payload).unwrap();
        let wire = cli.take_output();
        assert_eq!(wire[1] & 0x80, 0x80, "client frames are masked");
        // delivered whole, whatever the split
        let (a, b) = wire.split_at(wire.len() / 2);
        let mut ev = feed(&mut srv, a);
        ev.extend(feed(&mut srv, b));
        assert_eq!(ev, vec![WsEvent::Message { binary: true, data: payload.clone() }], "size {size}");
        srv.send(true, &payload).unwrap();
        let back = feed(&mut cli, &srv.take_output());
        assert_eq!(back, vec![WsEvent::Message { binary: true, data: payload }]);
    }
    cli.send(false, "héllo".as_bytes()).unwrap();
    assert_eq!(feed(&mut srv, &cli.take_output()), vec![WsEvent::Message { binary: false, data: "héllo".into() }]);
    assert_eq!(srv.send(false, b"\xff"), Err(SendError::InvalidUtf8));
}

#[test]
fn fragments_with_a_ping_between() {
    let mut srv = server();
    let mut wire = frame(false, 0, 1, K, b"hel");
    wire.extend(frame(true, 0, 9, K, b"are you there"));
    wire.extend(frame(false, 0, 0, K, b"lo "));
    wire.extend(frame(true, 0, 0, K, b"world"));
    let ev = feed(&mut srv, &wire);
    assert_eq!(
        ev,
        vec![WsEvent::Ping(b"are you there".to_vec()), WsEvent::Message { binary: false, data: b"hello world".to_vec() }]
    );
    // the automatic pong went out, with the ping's payload
    assert_eq!(parse_server_frames(&srv.take_output()), vec![(0xA, b"are you there".to_vec())]);
}

#[test]
fn close_handshake_from_the_peer() {
    let mut srv = server();
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    let ev = feed(&mut srv, &frame(true, 0, 8, K, &payload));
    assert_eq!(ev, vec![WsEvent::Closed { code: 1000, reason: "bye".into(), by_peer: true }]);
    let out = parse_server_frames(&srv.take_output());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, 8, "close echoed");
    assert_eq!(&out[0].1[..2], &1000u16.to_be_bytes());
    assert!(srv.is_closed());
    assert_eq!(srv.send(false, b"late"), Err(SendError::Closed));
}

#[test]
fn close_handshake_from_us() {
    let mut srv = server();
    srv.close(1001, "going away").unwrap();
    let out = parse_server_frames(&srv.take_output());
    assert_eq!(out[0].0, 8);
    assert_eq!(&out[0].1[..2], &1001u16.to_be_bytes());
    assert_eq!(&out[0].1[2..], b"going away");
    assert_eq!(srv.close(1000, "again"), Err(SendError::Closed));
    // the peer's reply completes it
    let ev = feed(&mut srv, &frame(true, 0, 8, K, &1001u16.to_be_bytes()));
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1001, .. }]), "{ev:?}");
}

fn closed_with(bytes: &[u8]) -> u16 {
    let mut srv = server();
    let ev = feed(&mut srv, bytes);
    let Some(WsEvent::Closed { code, by_peer: false, .. }) = ev.last() else { panic!("not closed: {ev:?}") };
    let out = parse_server_frames(&srv.take_output());
    assert_eq!(out.last().map(|f| f.0), Some(8), "a close frame was sent");
    assert_eq!(&out.last().unwrap().1[..2], &code.to_be_bytes());
    *code
}

#[test]
fn protocol_errors_close_with_the_right_code() {
    assert_eq!(closed_with(&frame(true, 0, 1, K, b"\xff\xfe")), 1007, "invalid UTF-8");
    assert_eq!(closed_with(&frame(true, 0, 1, None, b"unmasked")), 1002, "unmasked client frame");
    assert_eq!(closed_with(&frame(true, 4, 1, K, b"rsv1")), 1002, "RSV1 without an extension");
    assert_eq!(closed_with(&frame(true, 2, 1, K, b"rsv2")), 1002, "RSV2");
    assert_eq!(closed_with(&frame(true, 0, 3, K, b"op")), 1002, "reserved opcode");
    assert_eq!(closed_with(&frame(false, 0, 9, K, b"ping")), 1002, "fragmented control frame");
    assert_eq!(closed_with(&frame(true, 0, 0, K, b"cont")), 1002, "continuation with nothing to continue");
}

#[test]
fn oversized_messages_are_refused_from_the_header() {
    let mut srv = Session::new(Role::Server, Limits { max_message_size: 1000 }, Vec::new());
    // only the header of a 1 GiB frame: refused before any payload arrives
    let header = &frame(true, 0, 2, K, &[])[..2];
    let mut big = vec![header[0], 0x80 | 127];
    big.extend_from_slice(&(1u64 << 30).to_be_bytes());
    big.extend_from_slice(&[1, 2, 3, 4]);
    let ev = feed(&mut srv, &big);
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1009, by_peer: false, .. }]), "{ev:?}");
    // and across fragments
    let mut srv = Session::new(Role::Server, Limits { max_message_size: 1000 }, Vec::new());
    let mut wire = frame(false, 0, 2, K, &[0; 600]);
    wire.extend(frame(true, 0, 0, K, &[0; 600]));
    let ev = feed(&mut srv, &wire);
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1009, .. }]), "{ev:?}");
}

#[test]
fn bytes_read_past_the_handshake_are_kept() {
    let mut srv = Session::new(Role::Server, LIMITS, frame(true, 0, 1, K, b"early"));
    assert_eq!(feed(&mut srv, &[]), vec![WsEvent::Message { binary: false, data: b"early".to_vec() }]);
}

#[test]
fn control_frames_we_send() {
    let mut srv = server();
    srv.control(false, b"p").unwrap();
    assert_eq!(parse_server_frames(&srv.take_output()), vec![(0x9, b"p".to_vec())]);
    assert_eq!(srv.control(false, &[0; 126]), Err(SendError::TooLong));
    assert_eq!(srv.close(1000, &"x".repeat(124)), Err(SendError::TooLong));
    let ev = feed(&mut srv, &frame(true, 0, 0xA, K, b"p"));
    assert_eq!(ev, vec![WsEvent::Pong(b"p".to_vec())]);
}

#[test]
fn compaction_only_between_frames_and_messages() {
    let mut srv = server();
    assert!(!srv.is_expanded(), "no context before the first byte");
    let msg = frame(true, 0, 0x1, K, b"hello");
    // half a frame: the context holds it, no compaction
    feed(&mut srv, &msg[..4]);
    assert!(srv.is_expanded());
    assert!(!srv.compact());
    let ev = feed(&mut srv, &msg[4..]);
    assert_eq!(ev, vec![WsEvent::Message { binary: false, data: b"hello".to_vec() }]);
    assert!(srv.compact(), "a whole message read: nothing in progress");
    assert!(!srv.is_expanded());
    // a header split in the middle (a 16-bit length)
    let big = frame(true, 0, 0x2, K, &[5; 300]);
    feed(&mut srv, &big[..3]);
    assert!(!srv.compact());
    let ev = feed(&mut srv, &big[3..]);
    assert_eq!(ev, vec![WsEvent::Message { binary: true, data: vec![5; 300] }]);
    assert!(srv.compact());
    // inside a fragmented message: a ping between fragments does not end it
    feed(&mut srv, &frame(false, 0, 0x1, K, b"ab"));
    assert!(!srv.compact());
    let ev = feed(&mut srv, &frame(true, 0, 0x9, K, b"p"));
    assert_eq!(ev, vec![WsEvent::Ping(b"p".to_vec())]);
    assert_eq!(parse_server_frames(&srv.take_output()), vec![(0xA, b"p".to_vec())]);
    assert!(!srv.compact(), "the message is not complete");
    let ev = feed(&mut srv, &frame(true, 0, 0x0, K, b"cd"));
    assert_eq!(ev, vec![WsEvent::Message { binary: false, data: b"abcd".to_vec() }]);
    assert!(srv.compact());
    // queued output keeps the context until taken
    feed(&mut srv, &frame(true, 0, 0x9, K, b"q"));
    assert!(!srv.compact());
    srv.take_output();
    assert!(srv.compact());
    // after a compaction the protocol state is intact: errors still caught
    let ev = feed(&mut srv, &frame(true, 0, 0x1, None, b"x"));
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1002, .. }]), "{ev:?}");
    assert!(!srv.compact(), "a closed session is not compacted");
}

#[test]
fn an_idle_session_is_small() {
    // The idle-WebSocket budget is 1 KiB per connection in all: a compacted
    // session holds nothing on the heap.
    let size = std::mem::size_of::<Session>();
    assert!(size <= 160, "Session is {size} bytes");
    let mut srv = server();
    let mut cli = Session::new(Role::Client, LIMITS, Vec::new());
    cli.send(true, &[7; 100_000]).unwrap();
    feed(&mut srv, &cli.take_output());
    assert!(srv.take_output().is_empty());
    assert_eq!(srv.input.capacity(), 0, "consumed input is released");
}

/// Random frame streams (valid and not: masks, RSV bits, opcodes, lengths of
/// every class, fragments with control frames between, bad UTF-8) fed in
/// irregular pieces: a session compacted between reads behaves exactly as
/// one that never is. (`fuzz/` runs the same check on arbitrary bytes.)
#[test]
fn compaction_never_changes_behaviour_on_random_streams() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..1000 {
        let mut stream = vec![(next() % 256) as u8];
        for _ in 0..(next() % 8 + 1) {
            let r = next();
            let opcode = [0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x3][(r % 7) as usize];
            let fin = r & 0x100 != 0 || opcode >= 0x8;
            let rsv = if r % 53 == 0 { 0x4 } else { 0 };
            let mask = if r % 41 == 0 { None } else { K };
            let len = match (r >> 12) % 6 {
                0 => 0,
                1 => (r >> 20) as usize % 126,
                2 => 126 + (r >> 20) as usize % 300,
                3 => 65_536 + (r >> 20) as usize % 10,
                4 => 3,
                _ => 125,
            };
            let len = if opcode >= 0x8 { len.min(125) } else { len };
            let mut payload: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            if r % 29 == 0 && !payload.is_empty() {
                payload[0] = 0xff; // not UTF-8 in a text message
            }
            if opcode == 0x8 && len == 3 {
                payload = vec![0x03, 0xe8, b'x'];
            }
            stream.extend(frame(fin, rsv, opcode, mask, &payload));
        }
        crate::ws::session::fuzz_feed(&stream);
    }
}

#[test]
fn parsing_stops_where_the_consumer_has_no_room_and_resumes_from_the_buffer() {
    let mut s = server();
    // 100 empty binary messages in one read.
    let bytes: Vec<u8> = (0..100).flat_map(|_| frame(true, 0, 2, K, b"")).collect();
    let mut ev = vec![];
    let room = 10 * crate::reactor::flow::EVENT_COST;
    s.feed_within(&bytes, &mut ev, room, WsEvent::cost);
    assert_eq!(ev.len(), 10, "parsing stops once the events cost the room");
    assert!(!s.compact(), "unparsed input is kept, never dropped");
    let mut rest = vec![];
    s.feed_within(&[], &mut rest, usize::MAX, WsEvent::cost);
    assert_eq!(rest.len(), 90, "the rest comes from the buffer, with no new bytes");
    assert!(rest.iter().all(|e| *e == WsEvent::Message { binary: true, data: vec![] }));
    // A message's bytes count as well as its fixed cost.
    let mut s = server();
    let big: Vec<u8> = (0..3).flat_map(|_| frame(true, 0, 2, K, &[7u8; 1000])).collect();
    let mut ev = vec![];
    s.feed_within(&big, &mut ev, 1000, WsEvent::cost);
    assert_eq!(ev.len(), 1);
    assert_eq!(WsEvent::Message { binary: true, data: vec![7; 1000] }.cost(), 1000 + crate::reactor::flow::EVENT_COST);
}

#[test]
fn held_pongs_answer_only_the_latest_ping() {
    let mut s = server();
    s.hold_pongs(true);
    let pings: Vec<u8> = (0u8..50).flat_map(|i| frame(true, 0, 9, K, &[i])).collect();
    let ev = feed(&mut s, &pings);
    assert_eq!(ev.len(), 50, "every ping is still an event");
    assert!(s.take_output().is_empty(), "no pong written while held");
    s.hold_pongs(false);
    let frames = parse_server_frames(&s.take_output());
    assert_eq!(frames, vec![(10, vec![49])], "one pong, for the most recent ping");
    // Not held: a pong per ping, in order.
    let ev = feed(&mut s, &[frame(true, 0, 9, K, b"a"), frame(true, 0, 9, K, b"b")].concat());
    assert_eq!(ev.len(), 2);
    let frames = parse_server_frames(&s.take_output());
    assert_eq!(frames, vec![(10, b"a".to_vec()), (10, b"b".to_vec())]);
}

#[test]
fn a_hold_never_delays_a_close_or_our_own_ping() {
    let mut s = server();
    s.hold_pongs(true);
    feed(&mut s, &frame(true, 0, 9, K, b"p"));
    s.control(false, b"keepalive").unwrap();
    let out = parse_server_frames(&s.take_output());
    assert_eq!(out, vec![(10, b"p".to_vec()), (9, b"keepalive".to_vec())], "sending our ping releases the hold: the pending pong, then the ping");
    // The peer's close while held: the reply goes out at once.
    s.hold_pongs(true);
    let ev = feed(&mut s, &frame(true, 0, 8, K, &[0x03, 0xe8]));
    assert!(matches!(ev.last(), Some(WsEvent::Closed { code: 1000, by_peer: true, .. })));
    let out = parse_server_frames(&s.take_output());
    assert_eq!(out.last().map(|f| f.0), Some(8), "the close reply is written");
}

#[test]
fn a_close_behind_unparsed_input_leaves_nothing_unparsed() {
    let mut s = server();
    let mut bytes: Vec<u8> = (0..10).flat_map(|_| frame(true, 0, 1, K, b"hi")).collect();
    bytes.extend(frame(true, 0, 8, K, &[0x03, 0xe8]));
    let mut ev = vec![];
    s.feed_within(&bytes, &mut ev, 1, WsEvent::cost);
    assert_eq!(ev.len(), 1);
    assert!(s.has_unparsed());
    let mut rest = vec![];
    s.feed_within(&[], &mut rest, usize::MAX, WsEvent::cost);
    assert_eq!(rest.len(), 10, "nine messages and the close");
    assert!(matches!(rest.last(), Some(WsEvent::Closed { code: 1000, .. })));
    assert!(!s.has_unparsed(), "a closed session has nothing left to parse");
}

/// Raw deflate of one message as a peer sends it (sync flush, tail off).
fn deflated(data: &[u8]) -> Vec<u8> {
    let mut c = Deflater::new(15, false);
    c.compress(data).expect("compressible")
}

#[test]
fn compressed_messages_are_inflated_and_compaction_waits_for_their_end() {
    let text = "compress me, compress me, compress me, compress me".repeat(20);
    let z = deflated(text.as_bytes());
    // Not negotiated: RSV1 is a protocol error.
    assert_eq!(closed_with(&frame(true, 4, 1, K, &z)), 1002);
    let mut s = server().with_deflate(true);
    assert_eq!(feed(&mut s, &frame(true, 4, 1, K, &z)), vec![WsEvent::Message { binary: false, data: text.clone().into_bytes() }]);
    assert!(s.compact(), "between messages the pooled inflater is back in its pool");
    // Fragmented, a ping between: the message holds its inflater, no compaction.
    let (a, b) = z.split_at(z.len() / 2);
    assert!(feed(&mut s, &frame(false, 4, 1, K, a)).is_empty());
    assert!(!s.compact());
    assert_eq!(feed(&mut s, &frame(true, 0, 9, K, b"p")), vec![WsEvent::Ping(b"p".to_vec())]);
    s.take_output();
    assert!(!s.compact(), "inside a compressed message");
    assert_eq!(feed(&mut s, &frame(true, 0, 0, K, b)), vec![WsEvent::Message { binary: false, data: text.clone().into_bytes() }]);
    assert!(s.compact());
    // RSV1 on a continuation: 1002; on a control frame: 1002.
    let mut s = server().with_deflate(true);
    let mut wire = frame(false, 4, 1, K, a);
    wire.extend(frame(true, 4, 0, K, b));
    let ev = feed(&mut s, &wire);
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1002, by_peer: false, .. }]), "{ev:?}");
    let mut s = server().with_deflate(true);
    let ev = feed(&mut s, &frame(true, 4, 9, K, b"p"));
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1002, by_peer: false, .. }]), "{ev:?}");
    // A bomb past the limit: 1009, never allocated whole.
    let mut s = Session::new(Role::Server, Limits { max_message_size: 1000 }, Vec::new()).with_deflate(true);
    let ev = feed(&mut s, &frame(true, 4, 2, K, &deflated(&[0; 100_000])));
    assert!(matches!(ev.as_slice(), [WsEvent::Closed { code: 1009, by_peer: false, .. }]), "{ev:?}");
}

#[test]
fn frames_we_compress_carry_rsv1_and_inflate_back() {
    let text = "the same words again and again, ".repeat(50);
    let f = encode_compressed(false, text.as_bytes(), false, 15).expect("it shrinks");
    assert_eq!(f[0], 0xc1, "FIN, RSV1, text");
    assert!(f.len() < text.len() / 4);
    // A client session that negotiated deflate reads it back.
    let mut cli = Session::new(Role::Client, LIMITS, Vec::new()).with_deflate(true);
    assert_eq!(feed(&mut cli, &f), vec![WsEvent::Message { binary: false, data: text.into_bytes() }]);
    assert_eq!(encode_compressed(true, &[1, 2, 3], false, 15), None, "what does not shrink is not compressed");
}
