use super::*;

/// Inflates one whole message (fed in pieces of `piece` bytes).
fn inflate(inf: &mut Inflater, payload: &[u8], piece: usize, limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    for chunk in payload.chunks(piece.max(1)) {
        inf.feed(chunk, &mut out, limit)?;
    }
    inf.finish(&mut out, limit)?;
    Ok(out)
}

/// Deterministic bytes that do not compress (xorshift).
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

fn json(i: usize) -> Vec<u8> {
    format!("{{\"user\":\"alice\",\"room\":\"lobby\",\"seq\":{i},\"text\":\"hello hello hello, how is everyone today?\"}}").into_bytes()
}

#[test]
fn rfc7692_examples_inflate() {
    // §7.2.3.1: "Hello" in one compressed message
    let mut inf = Inflater::new(15, true);
    assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, 1 << 20).unwrap(), b"Hello");
    // §7.2.3.2: the same again, referring to the first message's bytes
    assert_eq!(inflate(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00], 100, 1 << 20).unwrap(), b"Hello");
    // §7.2.3.3 and §7.2.3.4: a stored block, and one with a trailing empty block
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate(&mut inf, &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00], 3, 100).unwrap(), b"Hello");
    // §7.2.3.1 split over two frames (fed in pieces)
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 1, 100).unwrap(), b"Hello");
}

#[test]
fn second_rfc_example_needs_the_context() {
    // without the first message's history the back-reference is invalid
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate(&mut inf, &[0xf2, 0x00, 0x11, 0x00, 0x00], 100, 100), Err(InflateError::Corrupt));
}

#[test]
fn bfinal_block_then_a_new_stream() {
    // §7.2.3.5-like: "Hello" in a final block (BFINAL=1): the tail is not
    // appended after the end, and the next message starts a new stream
    let mut inf = Inflater::new(15, true);
    assert_eq!(inflate(&mut inf, &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, 100).unwrap(), b"Hello");
    assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, 100).unwrap(), b"Hello");
    // data after the final block is refused
    let mut out = Vec::new();
    let mut inf = Inflater::new(15, true);
    assert_eq!(inf.feed(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x01, 0x02], &mut out, 100), Err(InflateError::Corrupt));
}

#[test]
fn round_trip_with_and_without_takeover() {
    for takeover in [false, true] {
        let mut def = Deflater::new(15, takeover);
        let mut inf = Inflater::new(15, takeover);
        let mut sizes = vec![];
        for i in 0..50 {
            let msg = json(i);
            let wire = def.compress(&msg).expect("JSON compresses");
            assert!(!wire.ends_with(&TAIL), "tail taken off");
            sizes.push(wire.len());
            assert_eq!(inflate(&mut inf, &wire, 1 + i % 7, 1 << 20).unwrap(), msg);
        }
        if takeover {
            // later messages refer to earlier ones: much smaller than the first
            assert!(sizes[10] * 2 < sizes[0], "{sizes:?}");
        } else {
            assert!(sizes.iter().all(|&s| s + 3 >= sizes[0]), "{sizes:?}");
        }
    }
}

#[test]
fn split_feeding_matches_whole() {
    let mut def = Deflater::new(15, false);
    let msg: Vec<u8> = (0..20).flat_map(json).collect();
    let wire = def.compress(&msg).unwrap();
    for piece in [1, 2, 3, 5, 64, wire.len()] {
        let mut inf = Inflater::new(15, false);
        assert_eq!(inflate(&mut inf, &wire, piece, 1 << 20).unwrap(), msg, "piece {piece}");
    }
}

#[test]
fn empty_message() {
    let mut def = Deflater::new(15, false);
    // an empty message is not made smaller: sent as it is
    assert_eq!(def.compress(b""), None);
    // but a peer's single 0x00 byte (RFC 7692 §7.2.3.6) and an empty payload inflate to nothing
    let mut inf = Inflater::new(15, false);
    assert_eq!(inflate(&mut inf, &[0x00], 1, 10).unwrap(), b"");
    assert_eq!(inflate(&mut inf, &[], 1, 10).unwrap(), b"");
    assert_eq!(inflate(&mut inf, &[0x00], 1, 0).unwrap(), b"");
}

#[test]
fn incompressible_message_not_sent_compressed_and_context_stays_usable() {
    let mut def = Deflater::new(15, true);
    let mut inf = Inflater::new(15, true);
    let a = json(1);
    assert_eq!(inflate(&mut inf, &def.compress(&a).unwrap(), 100, 1 << 20).unwrap(), a);
    // the noise goes out plain: the peer's inflater never sees it
    assert_eq!(def.compress(&noise(300, 7)), None);
    // so the compressor must not refer to it (it was reset): still in step
    let wire = def.compress(&[json(2), json(3), json(4)].concat()).unwrap();
    assert_eq!(inflate(&mut inf, &wire, 100, 1 << 20).unwrap(), [json(2), json(3), json(4)].concat());
}

#[test]
fn window_bits_are_honoured() {
    // a block repeated 1000 bytes later: a 15-bit window refers back 1000
    // bytes, a 9-bit (512-byte) one cannot, so finds nothing to gain
    let block = noise(1000, 3);
    let msg = [block.clone(), block.clone()].concat();
    let wide = Deflater::new(15, false).compress(&msg).expect("the repeat compresses");
    assert!(wide.len() < 1100, "{}", wide.len());
    assert_eq!(inflate(&mut Inflater::new(15, false), &wide, 100, 1 << 20).unwrap(), msg);
    let mut narrow = Deflater::new(9, false);
    assert_eq!(narrow.compress(&msg), None, "nothing to gain within 512 bytes");
    // a reset keeps the window: still nothing to gain, but a repeat within it is found
    let small = [noise(200, 5), noise(200, 5)].concat();
    let wire = narrow.compress(&small).expect("a 200-byte repeat fits (zlib keeps 262 bytes of lookahead out of the window)");
    assert_eq!(inflate(&mut Inflater::new(9, false), &wire, 100, 1 << 20).unwrap(), small);
    assert_eq!(narrow.compress(&msg), None);

    // across messages the inflater's window holds the history. zlib-rs
    // 0.6.8 allocates a 32 KiB inflate window whatever the bits, so a
    // 9-bit inflater reads a reference 1000 bytes back too: a smaller
    // window saves no inflate memory there (see ARCHITECTURE.md)
    let mut def = Deflater::new(15, true);
    let first = def.compress(&[block.clone(), block.clone()].concat()).unwrap();
    let second = def.compress(&block).unwrap();
    assert!(second.len() < 50, "{}", second.len());
    let mut inf15 = Inflater::new(15, true);
    let mut inf9 = Inflater::new(9, true);
    assert_eq!(inflate(&mut inf15, &first, 100, 1 << 20).unwrap(), msg);
    assert_eq!(inflate(&mut inf9, &first, 100, 1 << 20).unwrap(), msg);
    assert_eq!(inflate(&mut inf15, &second, 100, 1 << 20).unwrap(), block);
    assert_eq!(inflate(&mut inf9, &second, 100, 1 << 20).unwrap(), block);
    // without context takeover the reference has nothing to point at
    let mut fresh = Inflater::new(15, false);
    assert_eq!(inflate(&mut fresh, &first, 100, 1 << 20).unwrap(), msg);
    assert_eq!(inflate(&mut fresh, &second, 100, 1 << 20), Err(InflateError::Corrupt));
}

#[test]
fn bomb_refused_without_allocating_it() {
    // 16 MiB of zeros compress to a few KiB
    let big = vec![0u8; 16 << 20];
    let wire = Deflater::new(15, false).compress(&big).unwrap();
    assert!(wire.len() < 32 << 10, "{}", wire.len());
    let limit = 64 << 10;
    let mut inf = Inflater::new(15, false);
    let mut out = Vec::new();
    assert_eq!(inf.feed(&wire, &mut out, limit), Err(InflateError::TooBig));
    assert!(out.len() <= limit + 1, "{}", out.len());
    assert!(out.capacity() <= limit + STEP, "{}", out.capacity());
    // the inflater is reusable after a reset
    inf.reset();
    assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, 100).unwrap(), b"Hello");
}

#[test]
fn limit_is_exact() {
    let msg = vec![b'a'; 5000];
    let wire = Deflater::new(15, false).compress(&msg).unwrap();
    assert_eq!(inflate(&mut Inflater::new(15, false), &wire, 10, 5000).unwrap(), msg);
    assert_eq!(inflate(&mut Inflater::new(15, false), &wire, 10, 4999), Err(InflateError::TooBig));
    // a limit counts what was already in the buffer (earlier frames)
    let mut out = vec![0; 10];
    assert_eq!(Inflater::new(15, false).feed(&wire, &mut out, 5009), Err(InflateError::TooBig));
}

#[test]
fn garbage_is_corrupt() {
    // 0xff: BTYPE 11 (reserved) is invalid deflate
    assert_eq!(inflate(&mut Inflater::new(15, false), &[0xff, 0xff, 0xff], 1, 100), Err(InflateError::Corrupt));
    // an inflater that failed is reset by finish and works again
    let mut inf = Inflater::new(15, true);
    let mut out = Vec::new();
    assert_eq!(inf.feed(&[0xff], &mut out, 100), Err(InflateError::Corrupt));
    inf.reset();
    assert_eq!(inflate(&mut inf, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100, 100).unwrap(), b"Hello");
}

#[test]
fn deflater_reset_forgets_history() {
    // a takeover compressor after a reset refers to nothing before it, so
    // a fresh inflater reads its next message (what a connection needs
    // after it was sent a frame another compressor made)
    let mut def = Deflater::new(15, true);
    let a = json(1);
    let first = def.compress(&a).unwrap();
    let again = def.compress(&a).unwrap();
    assert_eq!(inflate(&mut Inflater::new(15, false), &again, 100, 1 << 20), Err(InflateError::Corrupt));
    def.reset();
    let after = def.compress(&a).unwrap();
    assert_eq!(after, first);
    assert_eq!(inflate(&mut Inflater::new(15, false), &after, 100, 1 << 20).unwrap(), a);
}

#[test]
fn levels_and_memory_levels_round_trip_with_context() {
    // every memory level and a few compression levels: messages that refer
    // to the ones before them inflate right through a takeover inflater
    for (level, mem_level) in [(0, 1), (1, 1), (6, 5), (9, 9), (6, 8)] {
        let mut def = Deflater::with_levels(12, true, level, mem_level);
        let mut inf = Inflater::new(12, true);
        let mut sizes = Vec::new();
        for i in 0..50 {
            let msg = json(i);
            let wire = def.compress(&msg);
            if level == 0 {
                // stored blocks never get smaller: sent plain (and reset)
                assert_eq!(wire, None);
                continue;
            }
            let wire = wire.expect("json compresses");
            sizes.push(wire.len());
            assert_eq!(inflate(&mut inf, &wire, 7, 1 << 20).unwrap(), msg, "level {level} mem_level {mem_level} message {i}");
        }
        if level > 0 {
            // with context, later messages cost a fraction of the first
            assert!(sizes[10] * 2 < sizes[0], "level {level} mem_level {mem_level}: {sizes:?}");
        }
    }
    // out-of-range values are clamped, never a failed compressor
    let msg = json(1);
    let wire = Deflater::with_levels(15, false, 42, 0).compress(&msg).unwrap();
    assert_eq!(inflate(&mut Inflater::new(15, false), &wire, 64, 1 << 20).unwrap(), msg);
}
