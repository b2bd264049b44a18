//! What the differential tests (tests/http_differential.rs for requests,
//! tests/http_response_differential.rs for responses) share: the seeded
//! generator, the mutations, and the hex lines the reference parsers read
//! and write.
#![allow(dead_code)]

/// xorshift64*: deterministic, seedable, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T: ?Sized>(&mut self, from: &[&'a T]) -> &'a T {
        from[self.below(from.len())]
    }
}

/// Bytes a mutation inserts or writes over.
const INTERESTING: &[u8] = b"\0\r\n \t,;:=\"\\\x7f\x80\xff0aF-+/?#%@[]{}|xX";

/// A random mutation of `input` (`snippets`: the fragments of the
/// grammar under test worth inserting).
pub fn mutate(r: &mut Rng, input: &mut Vec<u8>, snippets: &[&str]) {
    let at = |r: &mut Rng, v: &Vec<u8>| r.below(v.len() + 1);
    match r.below(11) {
        0 => {
            // a CRLF becomes a bare LF or a bare CR
            let crlfs: Vec<usize> = input.windows(2).enumerate().filter(|(_, w)| w == b"\r\n").map(|(i, _)| i).collect();
            if let Some(&i) = crlfs.get(r.below(crlfs.len().max(1))) {
                input.remove(if r.chance(70) { i } else { i + 1 });
            }
        }
        1 | 2 => {
            let i = at(r, input);
            input.insert(i, INTERESTING[r.below(INTERESTING.len())]);
        }
        3 => {
            if !input.is_empty() {
                let i = r.below(input.len());
                input.remove(i);
            }
        }
        4 => {
            if !input.is_empty() {
                let i = r.below(input.len());
                input[i] = INTERESTING[r.below(INTERESTING.len())];
            }
        }
        5 => {
            // flip the case of a letter
            if !input.is_empty() {
                let i = r.below(input.len());
                input[i] = if input[i].is_ascii_lowercase() { input[i].to_ascii_uppercase() } else { input[i].to_ascii_lowercase() };
            }
        }
        6 | 7 => {
            // a snippet inserted at a line start
            let starts: Vec<usize> = std::iter::once(0).chain(input.windows(2).enumerate().filter(|(_, w)| w == b"\r\n").map(|(i, _)| i + 2)).collect();
            let i = starts[r.below(starts.len())];
            let s = r.pick(snippets).as_bytes().to_vec();
            input.splice(i..i, s);
        }
        8 => {
            // a header line duplicated
            let text = input.clone();
            let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
            if lines.len() > 2 {
                let k = 1 + r.below(lines.len() - 2);
                let pos: usize = lines[..k].iter().map(|l| l.len() + 1).sum();
                let mut dup = lines[k].to_vec();
                dup.push(b'\n');
                input.splice(pos..pos, dup);
            }
        }
        9 => {
            let n = at(r, input);
            input.truncate(n);
        }
        _ => {
            // bytes inserted anywhere, a snippet
            let i = at(r, input);
            let s = r.pick(snippets).as_bytes().to_vec();
            input.splice(i..i, s);
        }
    }
}

pub fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

pub fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn escape(b: &[u8]) -> String {
    b.iter().flat_map(|&c| std::ascii::escape_default(c)).map(char::from).collect()
}
