//! The committed header documents every function with the contract's labelled
//! lines, carries the crate's version, and declares every export.

use std::fs;
use std::path::Path;

fn header() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/squall.h")).unwrap()
}

/// (function name, its doc comment) for every declaration.
fn declarations(h: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut doc = String::new();
    let mut in_doc = false;
    let mut decl = String::new();
    for line in h.lines() {
        let t = line.trim();
        if t.starts_with("/*") {
            // a doc comment (`/**`) or a plain one (the preamble): either way
            // its text is not code; only the last comment before a
            // declaration counts as its doc.
            in_doc = true;
            doc.clear();
        }
        if in_doc {
            doc.push_str(t);
            doc.push('\n');
            if t.ends_with("*/") {
                in_doc = false;
            }
            continue;
        }
        if !decl.is_empty() || (t.contains("sq_") && t.contains('(') && !t.contains("(*") && !t.starts_with('#') && !t.starts_with("typedef")) {
            decl.push_str(t);
            if t.ends_with(");") {
                let before = decl.split('(').next().unwrap();
                let name = before.rsplit([' ', '*']).next().unwrap().to_string();
                out.push((name, std::mem::take(&mut doc)));
                decl.clear();
            }
        } else if !t.is_empty() {
            doc.clear();
        }
    }
    out
}

#[test]
fn every_function_has_thread_ownership_and_returns_lines() {
    let h = header();
    let decls = declarations(&h);
    assert!(decls.len() >= 15, "parsed only {} declarations", decls.len());
    let mut missing = vec![];
    for (name, doc) in &decls {
        for label in ["Thread:", "Ownership:", "Returns:"] {
            if !doc.lines().any(|l| l.trim_start_matches(['/', '*', ' ']).starts_with(label)) {
                missing.push(format!("{name}: no `{label}` line"));
            }
        }
    }
    assert!(missing.is_empty(), "header declarations missing contract lines:\n{}", missing.join("\n"));
}

#[test]
fn the_checker_catches_a_missing_line() {
    let h = "/**\n * Does a thing.\n *\n * Thread: any thread.\n * Returns: SQ_OK.\n */\nsq_status sq_thing(sq_loop *loop,\n                   int x);\n";
    let d = declarations(h);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "sq_thing");
    assert!(d[0].1.contains("Thread:"));
    assert!(!d[0].1.contains("Ownership:"));
}

#[test]
fn version_macros_match_the_crate() {
    let h = header();
    for (mac, val) in [
        ("SQ_VERSION_MAJOR", env!("CARGO_PKG_VERSION_MAJOR")),
        ("SQ_VERSION_MINOR", env!("CARGO_PKG_VERSION_MINOR")),
        ("SQ_VERSION_PATCH", env!("CARGO_PKG_VERSION_PATCH")),
    ] {
        assert!(h.contains(&format!("#define {mac} {val}\n")), "{mac} is not {val}");
    }
    assert!(h.contains(&format!("#define SQ_VERSION_STRING \"{}\"", env!("CARGO_PKG_VERSION"))));
    let abi = squall::ffi::sq_abi_version();
    assert!(h.contains(&format!("#define SQ_ABI_VERSION {abi}\n")));
    // SAFETY: sq_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(squall::ffi::sq_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_export_is_declared() {
    let h = header();
    let declared: Vec<String> = declarations(&h).into_iter().map(|d| d.0).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in fs::read_dir(root.join("src/ffi")).unwrap() {
        let src = fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in src.lines() {
            if let Some(rest) = line.trim().strip_prefix("pub extern \"C\" fn ") {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                assert!(declared.contains(&name), "{name} is exported but not in include/squall.h");
            }
        }
    }
    assert!(h.contains("Do not edit"), "header is marked generated");
}
