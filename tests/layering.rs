//! The module table of docs/ARCHITECTURE.md ("Modules and which may use
//! which"), checked on the source text: imports point down the table, the C
//! types stay in src/ffi/, and no two files import each other (directly or
//! round a longer loop).
//!
//! The scan reads src/ with comments and string literals blanked out, so a
//! path in a doc comment or a message does not count. It follows the paths a
//! file names (`use` trees, `crate::`/`super::`/`self::` paths in code, paths
//! through a child module's name) to the file that holds the item, through
//! `pub use` re-exports (so `crate::Error` is error's, `crate::Loop` the
//! reactor's).
//!
//! The KNOWN lists are empty, and are to stay so: a violation fails the
//! test. They exist for a change too large for one step: its violations go
//! there, each exact, and an entry that is no longer a violation fails too,
//! so a list can only shrink back to empty.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::Path;

mod source;
use source::rust_files;

/// The module table (docs/ARCHITECTURE.md, "Modules and which may use
/// which"): the top modules each one may use besides itself. `"*"` is
/// everything but the faces; nothing lists a face. lib.rs may use
/// everything. `cluster` does not exist yet; its row is here so it starts
/// right.
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("log", &[]),
    ("fault", &[]),
    ("net", &["error", "log", "fault"]),
    ("reactor", &["metrics", "net", "error", "log", "fault"]),
    ("tcp", &["reactor", "net", "error", "log", "fault"]),
    ("http", &["metrics", "reactor", "net", "error", "log", "fault"]),
    ("ws", &["metrics", "http", "reactor", "net", "error", "log", "fault"]),
    ("ffi", &["*"]),
    ("api", &["*"]),
    ("metrics", &["error", "log", "fault"]),
    ("cluster", &["metrics", "ws", "http", "reactor", "net", "error", "log", "fault"]),
];

/// The C shapes allowed below ffi: (file, or a folder ending in '/', tokens, why).
const C_ALLOWED: &[(&str, &[&str], &str)] = &[
    // RawCallback / RawTimerCallback: add_callback and timers from C go
    // through the queue as a function pointer and a word, no allocation.
    ("src/reactor/task.rs", &["extern \"C\"", "c_void"], "RawCallback/RawTimerCallback: allocation-free add_callback and timers"),
    // RawLogFn: the log sink calls the host's C function directly.
    ("src/log.rs", &["extern \"C\"", "c_void"], "RawLogFn: the log callback sink"),
    // pthread_atfork takes an `extern "C" fn` for the fork generation hook.
    ("src/net/sys/", &["extern \"C\""], "the pthread_atfork hook"),
];

/// Imports against the table: (from file, to module). Empty; may only shrink.
const KNOWN_IMPORTS: &[(&str, &str)] = &[];

/// C shapes below ffi: (file, token). Empty; may only shrink.
const KNOWN_C_TYPES: &[(&str, &str)] = &[];

/// File cycles, each the sorted set of its files. Empty; may only shrink.
const KNOWN_CYCLES: &[&[&str]] = &[];

// ---------------------------------------------------------------------------
// Reading the source


/// Every file under src/ as (path from the crate root with '/', text), sorted.
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![];
    rust_files(&root.join("src"), &mut files);
    let mut out: Vec<(String, String)> = files
        .iter()
        .map(|f| {
            let rel = f.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            (rel, fs::read_to_string(f).unwrap())
        })
        .collect();
    out.sort();
    assert!(out.len() >= 30, "found only {} files under src/: is the scan broken?", out.len());
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `src` with comments blanked and string/char literals emptied (their quotes
/// kept), newlines kept so line numbers still hold.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        let prev_ident = i > 0 && is_ident_char(b[i - 1]);
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // block comments nest
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if let Some((prefix, hashes)) = (!prev_ident).then(|| string_start(&b[i..])).flatten() {
            // "…", b"…", c"…", r#"…"#, br"…": keep the prefix and the quotes
            for &p in &b[i..i + prefix] {
                out.push(p);
            }
            i += prefix;
            while i < b.len() {
                if hashes.is_none() && b[i] == '\\' {
                    out.push(' ');
                    out.push(b.get(i + 1).map_or(' ', |&c| blank(c)));
                    i += 2;
                } else if b[i] == '"' && b[i + 1..].iter().take_while(|&&c| c == '#').count() >= hashes.unwrap_or(0) {
                    let n = hashes.unwrap_or(0);
                    out.push('"');
                    (0..n).for_each(|_| out.push('#'));
                    i += 1 + n;
                    break;
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == '\'' && next == Some('\\') {
            // an escaped char literal: '\n', '\'', '\u{7f}'
            let mut j = i + 3;
            while j < b.len() && b[j] != '\'' {
                j += 1;
            }
            out.push_str("''");
            (i + 2..j).for_each(|_| out.push(' '));
            i = j + 1;
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c); // code, or a lifetime's quote
            i += 1;
        }
    }
    out
}

/// If `b` opens a string literal: the prefix length up to and including the
/// opening quote, and the number of '#' for a raw string.
fn string_start(b: &[char]) -> Option<(usize, Option<usize>)> {
    let mut i = 0;
    if matches!(b.first(), Some('b' | 'c')) {
        i += 1;
    }
    if b.get(i) == Some(&'r') {
        let hashes = b[i + 1..].iter().take_while(|&&c| c == '#').count();
        return (b.get(i + 1 + hashes) == Some(&'"')).then_some((i + 2 + hashes, Some(hashes)));
    }
    (b.get(i) == Some(&'"')).then_some((i + 1, None))
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    line: usize,
}

/// Identifiers (`r#x` as `x`), `::`, and every other character on its own;
/// numbers are dropped.
fn tokens(stripped: &str) -> Vec<Tok> {
    let b: Vec<char> = stripped.chars().collect();
    let mut out = vec![];
    let (mut i, mut line) = (0, 1);
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            while i < b.len() && (is_ident_char(b[i]) || b[i] == '.' && b.get(i + 1).is_some_and(|c| c.is_ascii_digit())) {
                i += 1;
            }
        } else if is_ident_char(c) {
            if c == 'r' && b.get(i + 1) == Some(&'#') {
                i += 2;
            }
            let start = i;
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            out.push(Tok { text: b[start..i].iter().collect(), line });
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push(Tok { text: "::".into(), line });
            i += 2;
        } else {
            out.push(Tok { text: c.to_string(), line });
            i += 1;
        }
    }
    out
}

fn is_ident(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
}

// ---------------------------------------------------------------------------
// The crate's modules and the paths each file names

/// A path named in a file: where it appears (module scope, line) and what.
#[derive(Debug, Clone)]
struct Ref {
    scope: Vec<String>,
    path: Vec<String>,
    line: usize,
    /// a `pub use`: the module's front door, checked against the table but
    /// not an edge between files (its users' paths go through it to the home)
    reexport: bool,
}

#[derive(Debug, Default)]
struct Crate {
    /// file → its module path ([] for lib.rs)
    files: BTreeMap<String, Vec<String>>,
    /// module path → the file it lives in (files and inline `mod x { }`)
    modules: HashMap<Vec<String>, String>,
    /// (module, name) → (scope of the `pub use`, its path): re-exports to follow
    reexports: HashMap<ModName, (ModPath, ModPath)>,
    /// file → the paths it names
    refs: BTreeMap<String, Vec<Ref>>,
}

/// "src/a/b.rs" and "src/a/b/mod.rs" → [a, b]; "src/lib.rs" → [].
fn module_of(file: &str) -> Vec<String> {
    let rel = file.strip_prefix("src/").unwrap_or(file).trim_end_matches(".rs");
    let mut segs: Vec<String> = rel.split('/').map(String::from).collect();
    if segs.last().is_some_and(|s| s == "mod" || s == "lib") {
        segs.pop();
    }
    segs
}

fn top(module: &[String]) -> &str {
    module.first().map_or("lib", |s| s.as_str())
}

fn scan(files: &[(&str, &str)]) -> Crate {
    let mut krate = Crate::default();
    for &(file, _) in files {
        let module = module_of(file);
        krate.modules.insert(module.clone(), file.to_string());
        krate.files.insert(file.to_string(), module);
    }
    for &(file, src) in files {
        scan_file(&mut krate, file, src);
    }
    krate
}

fn scan_file(krate: &mut Crate, file: &str, src: &str) {
    let t = tokens(&strip(src));
    let text = |i: usize| t.get(i).map_or("", |t| t.text.as_str());
    let mut refs = vec![];
    // inline modules: (module path, brace depth outside it)
    let mut scopes: Vec<(Vec<String>, usize)> = vec![(krate.files[file].clone(), usize::MAX)];
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        let scope = scopes.last().unwrap().0.clone();
        match text(i) {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if scopes.last().unwrap().1 == depth {
                    scopes.pop();
                }
            }
            "mod" if is_ident(text(i + 1)) && text(i + 2) == "{" => {
                let inner = [scope.clone(), vec![text(i + 1).to_string()]].concat();
                krate.modules.insert(inner.clone(), file.to_string());
                scopes.push((inner, depth));
                i += 2;
                continue;
            }
            "use" => {
                let public = text(i.wrapping_sub(1)) == "pub"
                    || text(i.wrapping_sub(1)) == ")"
                        && (2..7).any(|k| text(i.wrapping_sub(k)) == "(" && text(i.wrapping_sub(k + 1)) == "pub");
                i += 1;
                let mut leaves = vec![];
                while i < t.len() && text(i) != ";" {
                    let before = i;
                    use_tree(&t, &mut i, &mut vec![], &mut leaves);
                    if i == before {
                        i += 1;
                    }
                }
                for (path, alias, line) in leaves {
                    if public && alias.as_deref() != Some("*") {
                        let name = alias.clone().unwrap_or_else(|| path.last().unwrap().clone());
                        krate.reexports.insert((scope.clone(), name), (scope.clone(), path.clone()));
                    }
                    refs.push(Ref { scope: scope.clone(), path, line, reexport: public });
                }
            }
            s if is_ident(s) && text(i + 1) == "::" && text(i.wrapping_sub(1)) != "::" => {
                let line = t[i].line;
                let mut path = vec![s.to_string()];
                i += 1;
                while text(i) == "::" && is_ident(text(i + 1)) {
                    path.push(text(i + 1).to_string());
                    i += 2;
                }
                refs.push(Ref { scope, path, line, reexport: false });
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    krate.refs.insert(file.to_string(), refs);
}

/// A module's path from the crate root.
type ModPath = Vec<String>;
/// A name inside a module.
type ModName = (ModPath, String);

/// One use tree from `t[*i]`: pushes each leaf as (path, alias, line); a glob
/// is the module itself with the alias "*". `a::{self, b}` gives a and a::b.
fn use_tree(t: &[Tok], i: &mut usize, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<String>, usize)>) {
    let depth0 = prefix.len();
    while let Some(tok) = t.get(*i) {
        match tok.text.as_str() {
            "::" => *i += 1,
            "{" => {
                *i += 1;
                while *i < t.len() && t[*i].text != "}" {
                    let before = *i;
                    use_tree(t, i, prefix, out);
                    if t.get(*i).is_some_and(|x| x.text == ",") || *i == before {
                        *i += 1;
                    }
                }
                *i += 1;
                break;
            }
            "*" => {
                *i += 1;
                out.push((prefix.clone(), Some("*".into()), tok.line));
                break;
            }
            s if is_ident(s) => {
                if s != "self" || prefix.is_empty() {
                    prefix.push(s.to_string());
                }
                *i += 1;
                if t.get(*i).is_some_and(|x| x.text == "::") {
                    *i += 1;
                    continue;
                }
                let mut alias = None;
                if t.get(*i).is_some_and(|x| x.text == "as") {
                    alias = t.get(*i + 1).map(|x| x.text.clone()).filter(|a| a != "_");
                    *i += 2;
                }
                out.push((prefix.clone(), alias, tok.line));
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(depth0);
}

/// The absolute module path `path` names from `scope`, if it is the crate's
/// (not std's, a dependency's or a local item's).
fn absolute(krate: &Crate, scope: &[String], path: &[String]) -> Option<Vec<String>> {
    let (mut base, mut rest) = (scope.to_vec(), 0);
    match path.first()?.as_str() {
        "crate" => (base, rest) = (vec![], 1),
        "self" => rest = 1,
        "super" => {
            while path.get(rest).is_some_and(|s| s == "super") {
                base.pop()?;
                rest += 1;
            }
        }
        name => {
            // a child module's name (2018 paths), as in `use io::Reactor` in reactor/mod.rs
            let child = [scope.to_vec(), vec![name.to_string()]].concat();
            if !krate.modules.contains_key(&child) {
                return None;
            }
        }
    }
    base.extend(path[rest..].iter().filter(|s| *s != "self").cloned());
    Some(base)
}

/// The module and file that hold what `abs` names, through re-exports.
fn locate(krate: &Crate, abs: &[String], hops: usize) -> (Vec<String>, String) {
    let k = (0..=abs.len()).rev().find(|&k| krate.modules.contains_key(&abs[..k])).unwrap_or(0);
    let module = abs[..k].to_vec();
    if let Some(item) = abs.get(k).filter(|_| hops < 8) {
        if let Some((scope, target)) = krate.reexports.get(&(module.clone(), item.clone())) {
            if let Some(mut to) = absolute(krate, scope, target) {
                if to != abs[..=k] {
                    to.extend(abs[k + 1..].iter().cloned());
                    return locate(krate, &to, hops + 1);
                }
            }
        }
    }
    let file = krate.modules.get(&module).cloned().unwrap_or_else(|| "src/lib.rs".into());
    (module, file)
}

/// Every path of `file` that reaches the crate: (line, path text, module, file, re-export).
fn targets<'a>(krate: &'a Crate, file: &str) -> impl Iterator<Item = (usize, String, Vec<String>, String, bool)> + 'a {
    krate.refs[file].iter().filter_map(move |r| {
        let abs = absolute(krate, &r.scope, &r.path)?;
        let (module, to) = locate(krate, &abs, 0);
        Some((r.line, r.path.join("::"), module, to, r.reexport))
    })
}

/// The faces of the crate: the C ABI and the Rust API, each a wrapper of
/// the core that nothing else uses (not even the other face), so either can
/// change without touching the core or its twin.
const FACES: &[&str] = &["ffi", "api"];

fn may_use(from: &str, to: &str) -> bool {
    from == to
        || from == "lib"
        || ALLOWED.iter().any(|(m, uses)| *m == from && uses.iter().any(|u| *u == to || *u == "*" && !FACES.contains(&to)))
}

/// Every import against the table: (from file, to module) → "line: why" lines.
fn import_violations(krate: &Crate) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (file, module) in &krate.files {
        let from = top(module);
        for (line, path, target, _, _) in targets(krate, file) {
            let to = top(&target);
            if !may_use(from, to) {
                let why = if ALLOWED.iter().any(|(m, _)| *m == from) {
                    format!("{file}:{line}: `{path}` makes {from} use {to}, which the module table does not allow")
                } else {
                    format!("{file}:{line}: module {from} is not in the module table (ALLOWED)")
                };
                out.entry((file.clone(), to.to_string())).or_default().push(why);
            }
        }
    }
    out
}

/// C shapes in code: (token, line) for `sq_*`, `SQ_*`, `extern "C"`, `c_void`.
fn c_types(src: &str) -> Vec<(&'static str, usize)> {
    let t = tokens(&strip(src));
    let mut out = vec![];
    for (i, tok) in t.iter().enumerate() {
        let found = match tok.text.as_str() {
            s if s.starts_with("sq_") => "sq_",
            s if s.starts_with("SQ_") => "SQ_",
            "c_void" => "c_void",
            "extern" if t.get(i + 1).is_some_and(|x| x.text == "\"") => "extern \"C\"",
            _ => continue,
        };
        out.push((found, tok.line));
    }
    out
}

/// C shapes outside src/ffi/ and not allowed: (file, token) → "line: why" lines.
fn c_type_violations(files: &[(&str, &str)]) -> BTreeMap<(String, String), Vec<String>> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for &(file, src) in files.iter().filter(|(f, _)| !f.starts_with("src/ffi/")) {
        for (token, line) in c_types(src) {
            let allowed = C_ALLOWED.iter().any(|(place, tokens, _)| {
                (file == *place || place.ends_with('/') && file.starts_with(place)) && tokens.contains(&token)
            });
            if !allowed {
                let why = format!("{file}:{line}: `{token}` is a C shape outside src/ffi/");
                out.entry((file.to_string(), token.to_string())).or_default().push(why);
            }
        }
    }
    out
}

/// The file graph: file → (file it imports from → "line: path" lines).
fn file_graph(krate: &Crate) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut g: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for file in krate.files.keys() {
        let edges = g.entry(file.clone()).or_default();
        for (line, path, _, to, reexport) in targets(krate, file) {
            if to != *file && !reexport {
                edges.entry(to).or_default().push(format!("{file}:{line}: `{path}`"));
            }
        }
    }
    g
}

/// Strongly connected components of more than one file (Tarjan), each sorted.
fn cycles(krate: &Crate) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        index: HashMap<&'a str, usize>,
        low: HashMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            let g = self.g;
            for w in g.get(v).into_iter().flat_map(|e| e.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = vec![];
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let g = file_graph(krate);
    let mut t = Tarjan { g: &g, index: HashMap::new(), low: HashMap::new(), stack: vec![], on_stack: BTreeSet::new(), out: vec![] };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out.sort();
    t.out
}

/// The edges inside one cycle, for the message.
fn cycle_edges(krate: &Crate, scc: &[String]) -> Vec<String> {
    let g = file_graph(krate);
    scc.iter()
        .flat_map(|f| g[f].iter().filter(|(to, _)| scc.contains(to)).flat_map(|(to, lines)| lines.iter().map(move |l| format!("{l} -> {to}"))))
        .collect()
}

/// Compares found violations with a KNOWN list; the failures, worded.
fn against_known(rule: &str, found: &BTreeMap<(String, String), Vec<String>>, known: &[(&str, &str)]) -> Vec<String> {
    let mut bad = vec![];
    for ((file, what), lines) in found {
        if !known.contains(&(file.as_str(), what.as_str())) {
            bad.push(format!("[{rule}] new violation ({file:?}, {what:?}):\n    {}", lines.join("\n    ")));
        }
    }
    for (file, what) in known {
        if !found.contains_key(&(file.to_string(), what.to_string())) {
            bad.push(format!("[{rule}] KNOWN entry ({file:?}, {what:?}) is no longer a violation: delete it from the list"));
        }
    }
    bad
}

fn as_refs(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files.iter().map(|(f, s)| (f.as_str(), s.as_str())).collect()
}

// ---------------------------------------------------------------------------
// The rules

#[test]
fn imports_point_down() {
    let files = sources();
    let krate = scan(&as_refs(&files));
    // the scan must see the crate's imports, or every rule passes trivially
    let seen: usize = krate.files.keys().map(|f| targets(&krate, f).count()).sum();
    assert!(seen >= 150, "only {seen} paths into the crate found: is the scan broken?");
    let bad = against_known("imports_point_down", &import_violations(&krate), KNOWN_IMPORTS);
    assert!(bad.is_empty(), "the module table (docs/ARCHITECTURE.md) is broken:\n{}", bad.join("\n"));
}

#[test]
fn no_c_types_below_ffi() {
    let files = sources();
    let bad = against_known("no_c_types_below_ffi", &c_type_violations(&as_refs(&files)), KNOWN_C_TYPES);
    assert!(bad.is_empty(), "C shapes belong in src/ffi/:\n{}", bad.join("\n"));
}

#[test]
fn no_cycles_between_files() {
    let files = sources();
    let krate = scan(&as_refs(&files));
    let found = cycles(&krate);
    let mut bad = vec![];
    for scc in &found {
        if !KNOWN_CYCLES.iter().any(|k| k.iter().eq(scc.iter())) {
            bad.push(format!(
                "[no_cycles_between_files] new cycle {scc:?}:\n    {}",
                cycle_edges(&krate, scc).join("\n    ")
            ));
        }
    }
    for k in KNOWN_CYCLES {
        if !found.iter().any(|scc| k.iter().eq(scc.iter())) {
            bad.push(format!("[no_cycles_between_files] KNOWN cycle {k:?} is gone or changed: update the list"));
        }
    }
    assert!(bad.is_empty(), "files that import each other:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_catches_violations() {
    let lib = "pub mod error; mod log; mod net; mod reactor; mod ws; mod ffi; pub mod api;\n\
               pub use error::{Error, Result};\npub use reactor::Loop;\n";
    let base = [
        ("src/lib.rs", lib),
        ("src/error.rs", "pub struct Error;\npub type Result<T> = std::result::Result<T, Error>;\n"),
        ("src/log.rs", "pub fn debug() {}\n"),
        ("src/reactor/mod.rs", "mod io;\npub(crate) use io::Reactor;\npub struct Loop;\nuse crate::net::sys;\n"),
        ("src/reactor/io.rs", "pub struct Reactor;\nfn f() -> super::Loop { super::Loop }\n"),
        ("src/net/sys/mod.rs", "pub fn fork_generation() -> u64 { 0 }\n"),
        ("src/ws/mod.rs", "pub struct Ws;\n"),
        ("src/ffi/mod.rs", "pub struct sq_loop;\n"),
        ("src/api/mod.rs", "pub struct Server;\n"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut files: Vec<(&str, &str)> = base.to_vec();
        files.extend_from_slice(extra);
        scan(&files)
    };
    let violations = |extra: &[(&'static str, &'static str)]| -> Vec<(String, String)> {
        import_violations(&with(extra)).into_keys().collect()
    };
    let pair = |f: &str, m: &str| vec![(f.to_string(), m.to_string())];

    // clean: the root's re-exports go home (Error → error), comments and
    // strings do not count, an inline test module's `super::*` is the file itself
    let clean = "use crate::{Error, Result};\nuse crate::log;\n// use crate::reactor::Loop;\n\
                 /* crate::ws::Ws /* nested */ crate::ffi::sq_loop */\n\
                 fn f() -> Result<()> { let _ = \"crate::reactor::Loop\"; let _ = r#\"crate::ws::Ws\"#; Err(Error) }\n\
                 #[cfg(test)]\nmod tests {\n    use super::*;\n    fn g() -> char { '\"' }\n}\n";
    assert_eq!(violations(&[("src/net/mod.rs", clean)]), vec![]);
    assert!(cycles(&with(&[("src/net/mod.rs", clean)])).is_empty());
    assert!(cycles(&with(&[])).is_empty(), "mod.rs ↔ io.rs through the re-export is not a cycle here");

    // an upward import, direct and through the root's re-export
    assert_eq!(violations(&[("src/net/mod.rs", "use crate::reactor::Reactor;\n")]), pair("src/net/mod.rs", "reactor"));
    assert_eq!(violations(&[("src/net/mod.rs", "fn f(_: crate::Loop) {}\n")]), pair("src/net/mod.rs", "reactor"));
    // one hidden in a nested group
    let grouped = "use crate::{error::Error, log, reactor::{self as r, Loop}};\n";
    assert_eq!(violations(&[("src/net/mod.rs", grouped)]), pair("src/net/mod.rs", "reactor"));
    // super::super:: climbing from net::sys into ws, in a use and inline
    assert_eq!(violations(&[("src/net/tls.rs", "use super::super::ws::Ws;\n")]), pair("src/net/tls.rs", "ws"));
    assert_eq!(violations(&[("src/net/sys/x.rs", "fn f() { super::super::super::ws::Ws; }\n")]), pair("src/net/sys/x.rs", "ws"));
    // and the same climb that stays inside net is fine
    assert_eq!(violations(&[("src/net/sys/x.rs", "use super::super::sys::fork_generation;\n")]), vec![]);
    // nothing uses ffi, a test file included
    assert_eq!(violations(&[("src/ws/tests.rs", "use crate::ffi::sq_loop;\n")]), pair("src/ws/tests.rs", "ffi"));
    // nor api, and the two faces do not use each other ("*" stops short of them)
    assert_eq!(violations(&[("src/ws/tests.rs", "use crate::api::Server;\n")]), pair("src/ws/tests.rs", "api"));
    assert_eq!(violations(&[("src/ffi/x.rs", "use crate::api::Server;\n")]), pair("src/ffi/x.rs", "api"));
    assert_eq!(violations(&[("src/api/x.rs", "use crate::ffi::sq_loop;\n")]), pair("src/api/x.rs", "ffi"));
    assert_eq!(violations(&[("src/api/x.rs", "use crate::reactor::Loop;\nuse crate::ws::Ws;\n")]), vec![]);
    // a module missing from the table is caught
    assert_eq!(violations(&[("src/extra.rs", "use crate::log;\n")]), pair("src/extra.rs", "log"));

    // C shapes below ffi, in code only; the allowance is per token
    assert_eq!(c_types("fn f(x: *mut c_void) {}\n"), vec![("c_void", 1)]);
    assert_eq!(c_types("// sq_status c_void\nfn f() { let _ = \"SQ_OK extern \\\"C\\\"\"; }\n"), vec![]);
    let c_bad = |file, src| c_type_violations(&[(file, src)]).into_keys().collect::<Vec<_>>();
    assert_eq!(c_bad("src/http/conn.rs", "type F = unsafe extern \"C\" fn();\n"), pair("src/http/conn.rs", "extern \"C\""));
    assert_eq!(c_bad("src/tcp/mod.rs", "use crate::ffi::SQ_OK;\n"), pair("src/tcp/mod.rs", "SQ_"));
    assert_eq!(c_bad("src/net/sys/mod.rs", "extern \"C\" fn on_fork() {}\n"), vec![]);
    assert_eq!(c_bad("src/net/sys/mod.rs", "fn f(_: *mut c_void) {}\n"), pair("src/net/sys/mod.rs", "c_void"));
    assert_eq!(c_bad("src/ffi/tcp.rs", "pub struct sq_tcp;\n"), vec![]);

    // a two-file cycle, and the mod.rs that declares both is not part of it
    let cyc = with(&[
        ("src/ws/mod.rs", "mod a;\nmod b;\npub struct Ws;\n"),
        ("src/ws/a.rs", "use super::b::B;\npub struct A;\n"),
        ("src/ws/b.rs", "pub struct B;\nfn f() -> crate::ws::a::A { todo!() }\n"),
    ]);
    assert_eq!(cycles(&cyc), vec![vec!["src/ws/a.rs".to_string(), "src/ws/b.rs".to_string()]]);
    assert_eq!(cycle_edges(&cyc, &cycles(&cyc)[0]).len(), 2);
    // the KNOWN comparison catches both directions
    let found: BTreeMap<_, _> = [(("src/a.rs".to_string(), "ws".to_string()), vec![])].into();
    assert_eq!(against_known("t", &found, &[("src/a.rs", "ws")]), Vec::<String>::new());
    assert_eq!(against_known("t", &found, &[]).len(), 1);
    assert_eq!(against_known("t", &BTreeMap::new(), &[("src/a.rs", "ws")]).len(), 1);
}
