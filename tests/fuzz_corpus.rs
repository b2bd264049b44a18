//! The fuzz targets' drivers (`squall::fuzzing`) over the committed corpus
//! (fuzz/corpus/<target>/) and deterministic mutations of it, on the stable
//! toolchain: a driver's invariant broken by a corpus file or a mutant
//! fails here without cargo-fuzz. `make test-fuzz` runs the real fuzzer.

use std::path::Path;

type Driver = fn(&[u8]);

const TARGETS: &[(&str, Driver)] = &[
    ("h1", |d| split_first(d, squall::fuzzing::h1_decode)),
    ("h1_response", |d| split_first(d, squall::fuzzing::h1_response)),
    ("chunked", squall::fuzzing::chunked),
    ("ws", squall::fuzzing::ws_session),
    ("ws_message", squall::fuzzing::ws_message),
    ("ws_handshake", squall::fuzzing::ws_handshake),
    ("router", squall::fuzzing::router),
    ("args", squall::fuzzing::args),
    ("cookie", squall::fuzzing::cookie),
    ("resp", squall::fuzzing::resp),
    ("grammar", squall::fuzzing::grammar),
    ("deflate_offer", squall::fuzzing::deflate_offer),
    ("tls_config", squall::fuzzing::tls_config),
];

/// What fuzz/fuzz_targets/h1.rs does: the first byte picks the split.
fn split_first(data: &[u8], f: fn(&[u8], usize)) {
    if let Some((&s, rest)) = data.split_first() {
        f(rest, usize::from(s) % data.len());
    }
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).expect("corpus file")).collect()
}

/// xorshift64: the same mutants on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if at < v.len() => v[at] = rng.next() as u8,
            1 if at < v.len() => {
                v.remove(at);
            }
            2 => v.insert(at, b"\r\n;=%\"0:, \x00\x80"[rng.below(11)]),
            3 => v.truncate(at),
            _ => {
                let from = rng.below(other.len());
                let n = rng.below(16).min(other.len() - from);
                v.splice(at..at, other[from..from + n].iter().copied());
            }
        }
    }
    v
}

#[test]
fn every_target_has_a_corpus_and_it_replays() {
    for (target, driver) in TARGETS {
        let files = corpus(target);
        assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
        for f in &files {
            driver(f);
        }
    }
}

#[test]
fn mutants_of_the_corpus_keep_the_invariants() {
    let mut rng = Rng(0x5eed_f022_1234_5678);
    for (target, driver) in TARGETS {
        let files = corpus(target);
        for _ in 0..3000 {
            let a = &files[rng.below(files.len())];
            let b = &files[rng.below(files.len())];
            let m = mutate(&mut rng, a, b);
            let run = std::panic::catch_unwind(|| driver(&m));
            assert!(run.is_ok(), "{target}: mutant {m:?} broke an invariant");
        }
    }
}

#[test]
fn every_fuzz_target_is_replayed_here() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml")).unwrap();
    for line in manifest.lines() {
        if let Some(name) = line.strip_prefix("name = \"").and_then(|l| l.strip_suffix('"')) {
            if name != "squall-fuzz" {
                assert!(TARGETS.iter().any(|(t, _)| *t == name), "fuzz target {name} is not replayed by this test");
            }
        }
    }
}
