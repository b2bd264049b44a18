//! Reading the crate's own source, for the tests that check it as text
//! (tests/ffi_boundary.rs, tests/layering.rs).

use std::fs;
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, depth first.
pub fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}
