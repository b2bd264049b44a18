use super::*;
use crate::ws::deflate::codec::Deflater;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A frame as a peer writes it: first byte's flags and opcode given whole.
fn frame(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= 0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        f.extend_from_slice(&k);
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= k[i % 4];
        }
    }
    f.extend_from_slice(&p);
    f
}

/// A client's frame (masked).
fn cf(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, payload, Some(KEY))
}

fn server(limit: usize, deflate: bool) -> Assembler {
    Assembler::new(true, limit, deflate.then(|| Inflater::new(15, false)))
}

/// Feeds `input` in one read and byte by byte; both must agree.
fn run(make: impl Fn() -> Assembler, input: &[u8]) -> Vec<Incoming> {
    let mut a = make();
    let mut whole = vec![];
    a.feed(input, &mut whole);
    let mut b = make();
    let mut bytes = vec![];
    for x in input {
        b.feed(std::slice::from_ref(x), &mut bytes);
    }
    assert_eq!(whole, bytes, "one read and byte reads differ");
    whole
}

fn msg(binary: bool, data: &[u8]) -> Incoming {
    Incoming::Message { binary, data: data.to_vec() }
}

/// Exactly one event, a failure with `code`.
fn only_fail(ev: &[Incoming], code: u16) {
    assert!(ev.len() == 1 && fail(code)(&ev[0]), "want only a {code} failure: {ev:?}");
}

fn fail(code: u16) -> impl Fn(&Incoming) -> bool {
    move |e| matches!(e, Incoming::Fail { code: c, .. } if *c == code)
}

#[test]
fn rfc6455_examples() {
    // §5.7: a single-frame masked text message
    let ev = run(|| server(100, false), &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(ev, [msg(false, b"Hello")]);
    // §5.7: fragmented unmasked text (a client reading a server), and an unmasked ping
    let ev = run(|| Assembler::new(false, 100, None), &[0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f, 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(ev, [msg(false, b"Hello"), Incoming::Ping(b"Hello".to_vec())]);
}

#[test]
fn rfc7692_examples() {
    let client = || Assembler::new(false, 100, Some(Inflater::new(15, false)));
    // §7.2.3.1: "Hello" compressed in one frame, then in two fragments
    assert_eq!(run(client, &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]), [msg(false, b"Hello")]);
    assert_eq!(run(client, &[0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]), [msg(false, b"Hello")]);
    // §7.2.3.2: the second message refers to the first (context takeover)
    let takeover = || Assembler::new(false, 100, Some(Inflater::new(15, true)));
    let two = [&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..], &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]].concat();
    assert_eq!(run(takeover, &two), [msg(false, b"Hello"), msg(false, b"Hello")]);
    // without takeover that second message is corrupt
    only_fail(&run(client, &two)[1..], 1007);
}

#[test]
fn control_frames_between_fragments() {
    let input = [cf(0x02, b"ab"), cf(0x89, b"p1"), cf(0x00, b"cd"), cf(0x8a, b"p2"), cf(0x80, b"ef")].concat();
    assert_eq!(
        run(|| server(100, false), &input),
        [Incoming::Ping(b"p1".to_vec()), Incoming::Pong(b"p2".to_vec()), msg(true, b"abcdef")]
    );
}

#[test]
fn compressed_fragments_with_a_ping_between() {
    let text = "caf\u{e9} ".repeat(100);
    let wire = Deflater::new(15, false).compress(text.as_bytes()).unwrap();
    let (a, b) = wire.split_at(wire.len() / 2);
    let input = [cf(0x41, a), cf(0x89, b"x"), cf(0x80, b)].concat();
    assert_eq!(run(|| server(1000, true), &input), [Incoming::Ping(b"x".to_vec()), msg(false, text.as_bytes())]);
    // one byte less of limit than the text: refused
    let ev = run(|| server(text.len() - 1, true), &input);
    assert!(ev.last().is_some_and(fail(1009)), "{ev:?}");
}

#[test]
fn rsv1_rules() {
    let ok = Deflater::new(15, false).compress(b"hello hello hello").unwrap();
    // on a continuation frame
    let ev = run(|| server(100, true), &[cf(0x01, b"a"), cf(0xc0, b"b")].concat());
    assert!(ev.len() == 1 && fail(1002)(&ev[0]), "{ev:?}");
    // on a control frame
    only_fail(&run(|| server(100, true), &cf(0xc9, b"")), 1002);
    // without the extension negotiated
    only_fail(&run(|| server(100, false), &cf(0xc1, &ok)), 1002);
    // RSV2 and RSV3, whatever was negotiated
    only_fail(&run(|| server(100, true), &cf(0xa1, b"a")), 1002);
    only_fail(&run(|| server(100, true), &cf(0x91, b"a")), 1002);
    // on a first frame with the extension: fine, binary too
    assert_eq!(run(|| server(100, true), &cf(0xc2, &ok)), [msg(true, b"hello hello hello")]);
}

#[test]
fn framing_violations_are_1002() {
    for (what, input) in [
        ("unmasked client frame", frame(0x81, b"a", None)),
        ("fragmented ping", cf(0x09, b"")),
        ("long ping", cf(0x89, &[0; 126])),
        ("continuation alone", cf(0x80, b"a")),
        ("data inside a message", [cf(0x01, b"a"), cf(0x81, b"b")].concat()),
        ("reserved data opcode", cf(0x83, b"")),
        ("reserved control opcode", cf(0x8b, b"")),
        ("top bit of a 64-bit length", vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
        ("close of one byte", cf(0x88, &[3])),
        ("close code 1005", cf(0x88, &1005u16.to_be_bytes())),
        ("close code 999", cf(0x88, &999u16.to_be_bytes())),
        ("close code 2000", cf(0x88, &2000u16.to_be_bytes())),
    ] {
        let ev = run(|| server(1000, true), &input);
        assert!(ev.len() == 1 && fail(1002)(&ev[0]), "{what}: {ev:?}");
    }
    // a client must not get masked frames
    let ev = run(|| Assembler::new(false, 100, None), &cf(0x81, b"a"));
    only_fail(&ev, 1002);
}

#[test]
fn close_frames() {
    assert_eq!(run(|| server(100, false), &cf(0x88, b"")), [Incoming::Close { code: None, reason: String::new() }]);
    let p = [&1000u16.to_be_bytes()[..], "bye \u{2713}".as_bytes()].concat();
    // input after the close is ignored
    let input = [cf(0x88, &p), cf(0x81, b"late")].concat();
    let mut a = server(100, false);
    let mut ev = vec![];
    a.feed(&input, &mut ev);
    assert_eq!(ev, [Incoming::Close { code: Some(1000), reason: "bye \u{2713}".into() }]);
    assert!(a.is_finished());
    for code in [1000u16, 1003, 1007, 1011, 1014, 3000, 4999] {
        assert_eq!(run(|| server(100, false), &cf(0x88, &code.to_be_bytes())), [Incoming::Close { code: Some(code), reason: String::new() }]);
    }
    let bad_reason = [&1000u16.to_be_bytes()[..], &[0xff]].concat();
    only_fail(&run(|| server(100, false), &cf(0x88, &bad_reason)), 1007);
}

#[test]
fn utf8_checked_as_it_arrives() {
    // an invalid byte fails at its fragment, before the message ends
    let mut a = server(100, false);
    let mut ev = vec![];
    a.feed(&cf(0x01, b"ok\xff"), &mut ev);
    assert!(ev.len() == 1 && fail(1007)(&ev[0]), "{ev:?}");
    // a character split across fragments is fine
    let e_acute = "\u{e9}".as_bytes();
    let input = [cf(0x01, &[b'a', e_acute[0]]), cf(0x80, &[e_acute[1], b'b'])].concat();
    assert_eq!(run(|| server(100, false), &input), [msg(false, "a\u{e9}b".as_bytes())]);
    // cut at the message's end: invalid
    only_fail(&run(|| server(100, false), &cf(0x81, &[b'a', e_acute[0]])), 1007);
    // surrogates and overlong forms are invalid; binary is not checked
    only_fail(&run(|| server(100, false), &cf(0x81, &[0xed, 0xa0, 0x80])), 1007);
    only_fail(&run(|| server(100, false), &cf(0x81, &[0xc0, 0xaf])), 1007);
    assert_eq!(run(|| server(100, false), &cf(0x82, &[0xff])), [msg(true, &[0xff])]);
    // checked on the inflated text
    let wire = Deflater::new(15, false).compress(&[b"valid ".repeat(20), vec![0xff]].concat()).unwrap();
    only_fail(&run(|| server(1000, true), &cf(0xc1, &wire)), 1007);
}

#[test]
fn size_refused_at_the_frame_header() {
    // a continuation whose declared length takes the message past the limit
    // fails as soon as its header is in, before any of its payload
    let mut a = server(100, false);
    let mut ev = vec![];
    a.feed(&cf(0x02, &[1; 60]), &mut ev);
    assert!(ev.is_empty());
    let next = cf(0x80, &[2; 41]);
    a.feed(&next[..6], &mut ev);
    assert!(ev.len() == 1 && fail(1009)(&ev[0]), "{ev:?}");
    // exactly the limit is fine
    assert_eq!(run(|| server(100, false), &[cf(0x02, &[1; 60]), cf(0x80, &[2; 40])].concat()).len(), 1);
    // a single frame declaring 1 GiB: refused from its 14 header bytes
    let mut a = server(1 << 20, false);
    let mut ev = vec![];
    let mut head = vec![0x82, 0xff];
    head.extend_from_slice(&(1u64 << 30).to_be_bytes());
    head.extend_from_slice(&KEY);
    a.feed(&head, &mut ev);
    assert!(ev.len() == 1 && fail(1009)(&ev[0]), "{ev:?}");
}

#[test]
fn decompression_bomb_is_1009() {
    let wire = Deflater::new(15, false).compress(&vec![b'a'; 8 << 20]).unwrap();
    assert!(wire.len() < 16 << 10);
    let ev = run(|| server(64 << 10, true), &cf(0xc2, &wire));
    assert!(ev.len() == 1 && fail(1009)(&ev[0]), "{ev:?}");
}

#[test]
fn empty_blocks_cannot_run_forever() {
    // empty stored blocks inflate to nothing; the wire bytes are bounded
    let blocks: Vec<u8> = std::iter::repeat_n([0x00u8, 0x00, 0x00, 0xff, 0xff], 300).flatten().collect();
    let ev = run(|| server(1000, true), &cf(0xc2, &blocks));
    assert!(ev.len() == 1 && fail(1009)(&ev[0]), "{ev:?}");
    // within the allowance they are a valid empty message
    assert_eq!(run(|| server(1000, true), &cf(0xc2, &blocks[..500])), [msg(true, b"")]);
}

#[test]
fn at_rest_between_messages() {
    let mut a = server(100, false);
    let mut ev = vec![];
    assert!(a.at_rest());
    a.feed(&cf(0x01, b"a")[..3], &mut ev);
    assert!(!a.at_rest());
    a.feed(&cf(0x01, b"a")[3..], &mut ev);
    assert!(!a.at_rest(), "inside a fragmented message");
    a.feed(&cf(0x80, b"b"), &mut ev);
    assert!(a.at_rest());
    assert_eq!(ev, [msg(false, b"ab")]);
}

#[test]
fn fuzz_driver_on_pseudo_random_input() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let hello = [0xc1u8, 0x87, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for round in 0..3000 {
        let mut data = vec![(round % 256) as u8];
        let n = round % 64;
        for i in 0..n {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // mostly valid frame starts, then noise
            data.push(if i < hello.len() && round % 3 == 0 { hello[i] } else { seed as u8 });
        }
        fuzz_feed(&data);
    }
}

/// A seed of fuzz/corpus/ws_message (compressed by CPython's zlib, an
/// independent deflate implementation; made by
/// fuzz/gen_ws_message_corpus.py), fed as the fuzz driver sets it up.
fn seed(name: &str) -> Vec<Incoming> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ws_message").join(name);
    let data = std::fs::read(&path).unwrap();
    let (&ctl, rest) = data.split_first().unwrap();
    let limit = [16usize, 300, 4096, 1 << 16][usize::from(ctl & 3)];
    let mut a = Assembler::new(true, limit, (ctl & 4 != 0).then(|| Inflater::new(15, ctl & 8 != 0)));
    let mut ev = vec![];
    a.feed(rest, &mut ev);
    ev
}

#[test]
fn frames_compressed_by_another_zlib() {
    assert_eq!(seed("rfc7692_hello"), [msg(false, b"Hello")]);
    assert_eq!(seed("fragments_ping"), [Incoming::Ping(b"hi".to_vec()), msg(false, b"Hello")]);
    let json = br#"{"user":"alice","room":"lobby","text":"hello hello hello"}"#;
    assert_eq!(seed("takeover_two"), [msg(false, json), msg(false, json)]);
    let big: Vec<u8> = (0..60).flat_map(|i| format!(r#"{{"seq":{i},"text":"lorem ipsum dolor sit amet"}}"#).into_bytes()).collect();
    assert_eq!(seed("many_fragments"), [msg(false, &big)]);
    only_fail(&seed("bomb"), 1009);
    only_fail(&seed("bad_utf8_inflated"), 1007);
    only_fail(&seed("rsv1_continuation"), 1002);
    only_fail(&seed("len16_header_over_limit"), 1009);
}

#[test]
fn limit_passed_before_a_data_error_is_1009_however_read() {
    // found by the fuzzer: one read made the inflater produce 301 bytes
    // (limit 300) and hit a data error in the same step, reported as 1007,
    // while byte-by-byte reads passed the limit first (1009)
    let input = [
        0xc2, 0xf3, 0x37, 0xfa, 0x21, 0x38, 0x9d, 0xac, 0x0b, 0x10, 0x79, 0xd7, 0x73, 0xed, 0x7b, 0xef, 0x3d, 0x9d,
        0x79, 0xac, 0x89, 0x80, 0x01, 0x21, 0x38, 0x9d, 0xac, 0x0b, 0x10, 0x79, 0xd7, 0x73, 0xed, 0x7b, 0xb8, 0x3b,
        0x59, 0x82, 0x94, 0x94, 0x94, 0x10, 0x74, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x4f, 0xed, 0xa0, 0x80,
        0x94, 0x27, 0x2c,
    ];
    only_fail(&run(|| server(300, true), &input), 1009);
}
