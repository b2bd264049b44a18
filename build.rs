//! Generates `include/squall.h` from `src/ffi/` with cbindgen. The header is
//! committed; CI rebuilds and fails if it changed (`git diff --exit-code include/`).
//! It is rewritten only when its content changes, so builds stay incremental.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // The shared library's SONAME carries the ABI version (docs/ABI.md).
    let abi = abi_version(&root);
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libsquall.so.{abi}");

    #[cfg(feature = "header")]
    write_header(&root, abi);
}

/// Writes include/squall.h (feature `header`, on by default; the builds that
/// only test the library — Miri, the ASan and fault-injection builds, the
/// fuzz targets — turn it off and skip compiling cbindgen).
#[cfg(feature = "header")]
fn write_header(root: &std::path::Path, abi: u32) {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let patch = std::env::var("CARGO_PKG_VERSION_PATCH").unwrap();
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    config.after_includes = Some(format!(
        "\n/** The version of squall this header belongs to. */\n\
         #define SQ_VERSION_MAJOR {major}\n#define SQ_VERSION_MINOR {minor}\n#define SQ_VERSION_PATCH {patch}\n\
         #define SQ_VERSION_STRING \"{major}.{minor}.{patch}\"\n\
         /** Compare with sq_abi_version() at run time; see docs/ABI.md. */\n\
         #define SQ_ABI_VERSION {abi}\n"
    ));
    let out = root.join("include").join("squall.h");
    match cbindgen::Builder::new().with_config(config).with_src(root.join("src/ffi/mod.rs")).generate() {
        Ok(bindings) => {
            let mut raw = Vec::new();
            bindings.write(&mut raw);
            let buf = parenthesize_negative_defines(&String::from_utf8(raw).expect("cbindgen writes UTF-8")).into_bytes();
            if std::fs::read(&out).ok().as_deref() != Some(&buf[..]) {
                std::fs::create_dir_all(out.parent().unwrap()).unwrap();
                std::fs::write(&out, &buf).expect("writing include/squall.h");
            }
        }
        Err(e) => panic!("cbindgen failed to generate include/squall.h: {e}"),
    }
}

/// Reads `pub(crate) const ABI_VERSION: u32 = N;` from src/ffi/mod.rs, the one place
/// the number is written.
fn abi_version(root: &std::path::Path) -> u32 {
    let src = std::fs::read_to_string(root.join("src/ffi/mod.rs")).expect("src/ffi/mod.rs");
    src.lines()
        .find_map(|l| l.trim().strip_prefix("pub(crate) const ABI_VERSION: u32 = ")?.strip_suffix(';')?.parse().ok())
        .expect("src/ffi/mod.rs defines ABI_VERSION (pub(crate))")
}

#[cfg(feature = "header")]
/// `#define SQ_ERR_NULL -1` becomes `#define SQ_ERR_NULL (-1)`, so that the
/// macros are safe in any expression (`x-SQ_ERR_NULL`).
fn parenthesize_negative_defines(header: &str) -> String {
    let mut out = String::with_capacity(header.len() + 64);
    for line in header.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let mut parts = body.splitn(3, ' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("#define"), Some(name), Some(value))
                if value.starts_with('-') && value[1..].chars().all(|c| c.is_ascii_digit()) =>
            {
                out.push_str(&format!("#define {name} ({value})"));
                if line.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => out.push_str(line),
        }
    }
    out
}
