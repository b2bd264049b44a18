//! Every exported function goes through the panic/NULL boundary, and nothing
//! outside src/ffi/ is exported.

use std::fs;
use std::path::Path;

mod source;
use source::rust_files;


/// Names of `extern "C" fn`s whose body does not open with `ffi_boundary!`.
fn unguarded(src: &str) -> Vec<String> {
    let mut bad = vec![];
    let lines: Vec<&str> = src.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let Some(pos) = line.find("extern \"C\" fn ") else { continue };
        if line.trim_start().starts_with("//") || line.contains("type ") || line.contains("Option<") {
            continue; // a callback type, not a definition
        }
        let name: String =
            line[pos + 14..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        // find the line that opens the body, then the first statement
        let mut j = i;
        while j < lines.len() && !lines[j].trim_end().ends_with('{') {
            j += 1;
        }
        let first = lines.iter().skip(j + 1).map(|l| l.trim()).find(|l| !l.is_empty() && !l.starts_with("//"));
        if !first.is_some_and(|l| l.starts_with("ffi_boundary!")) {
            bad.push(name);
        }
    }
    bad
}

#[test]
fn the_checker_catches_a_bypass() {
    let good = "#[unsafe(no_mangle)]\npub extern \"C\" fn sq_a(x: i32) -> i32 {\n    ffi_boundary! {\n        x\n    }\n}\n";
    let bad = "#[unsafe(no_mangle)]\npub extern \"C\" fn sq_b(\n    x: i32,\n) -> i32 {\n    x\n}\n";
    assert!(unguarded(good).is_empty());
    assert_eq!(unguarded(bad), vec!["sq_b".to_string()]);
}

#[test]
fn every_export_uses_the_boundary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src/ffi"), &mut files);
    let mut count = 0;
    let mut bad = vec![];
    for f in &files {
        let src = fs::read_to_string(f).unwrap();
        count += src.matches("#[unsafe(no_mangle)]").count();
        for name in unguarded(&src) {
            bad.push(format!("{}: {name}", f.display()));
        }
    }
    assert!(count >= 15, "found only {count} exports: is the scan broken?");
    assert!(bad.is_empty(), "exports that bypass ffi_boundary!: {bad:#?}");
}

#[test]
fn nothing_outside_ffi_is_exported() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src"), &mut files);
    for f in files.iter().filter(|f| !f.starts_with(root.join("src/ffi"))) {
        let src = fs::read_to_string(f).unwrap();
        assert!(!src.contains("no_mangle"), "{} exports a symbol outside src/ffi", f.display());
    }
}
