//! Static files served by the reactor: path resolution that cannot escape the
//! directory, and the conditional/range rules (RFC 9110 §13, §14) as pure
//! functions. The body itself goes out with sendfile(2) (see `conn`); [`respond`]
//! builds the head.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::h1::RequestHead;
use super::response;

/// A URL prefix served from a directory.
#[derive(Debug, Clone)]
pub(crate) struct Mount {
    /// Always ends with '/'.
    pub(crate) prefix: String,
    /// Canonical (symlinks resolved).
    pub(crate) root: PathBuf,
}

/// Part of a file still to be sent (with sendfile, after the head).
#[derive(Debug)]
pub(crate) struct FileRange {
    pub(crate) file: File,
    pub(crate) offset: u64,
    pub(crate) remaining: u64,
}

/// An opened file ready to serve.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) file: File,
    pub(crate) size: u64,
    pub(crate) mtime: SystemTime,
    pub(crate) path: PathBuf,
}

/// Why a path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    BadRequest,
    Forbidden,
    NotFound,
}

impl Refused {
    pub(crate) fn status(self) -> u16 {
        match self {
            Refused::BadRequest => 400,
            Refused::Forbidden => 403,
            Refused::NotFound => 404,
        }
    }
}

/// Resolves the part of the URL path after the mount prefix (still
/// percent-encoded) to a regular file inside `root`. `..` segments (plain or
/// encoded), NUL bytes and symlinks that lead outside the root are refused;
/// a directory is served through its `index.html`, if any.
pub(crate) fn open(root: &Path, rel: &str) -> Result<Opened, Refused> {
    let decoded = percent_encoding::percent_decode_str(rel).decode_utf8().map_err(|_| Refused::BadRequest)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return Err(Refused::BadRequest);
    }
    let mut path = root.to_path_buf();
    for comp in Path::new(decoded.as_ref()).components() {
        match comp {
            Component::Normal(c) => path.push(c),
            Component::CurDir => {}
            // ".." anywhere, or an absolute path smuggled in: never.
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(Refused::Forbidden),
        }
    }
    let canonical = match path.canonicalize() {
        Ok(p) => p,
        Err(_) => return Err(Refused::NotFound),
    };
    if !canonical.starts_with(root) {
        return Err(Refused::Forbidden); // a symlink pointing out
    }
    let canonical = if canonical.is_dir() {
        let index = canonical.join("index.html");
        match index.canonicalize() {
            Ok(i) if i.starts_with(root) && i.is_file() => i,
            _ => return Err(Refused::Forbidden),
        }
    } else {
        canonical
    };
    let file = File::open(&canonical).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Refused::Forbidden,
        _ => Refused::NotFound,
    })?;
    let meta = file.metadata().map_err(|_| Refused::NotFound)?;
    if !meta.is_file() {
        return Err(Refused::Forbidden);
    }
    Ok(Opened { file, size: meta.len(), mtime: meta.modified().unwrap_or(UNIX_EPOCH), path: canonical })
}

/// A strong validator from size and modification time.
pub(crate) fn etag(size: u64, mtime: SystemTime) -> String {
    let t = mtime.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    format!("\"{:x}-{:x}{:08x}\"", size, t.as_secs(), t.subsec_nanos())
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Full,
    /// Bytes start..=end.
    Partial(u64, u64),
    NotModified,
    Unsatisfiable,
}

fn etag_list_matches(list: &[u8], tag: &str) -> bool {
    let list = String::from_utf8_lossy(list);
    if list.trim() == "*" {
        return true;
    }
    // Weak comparison for If-None-Match (RFC 9110 §13.1.2).
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let tag = strip(tag);
    list.split(',').any(|t| strip(t) == tag)
}

/// Decides between 200, 206, 304 and 416 from the request's conditional and
/// range headers (`header` looks one up case-insensitively).
pub(crate) fn plan<'a>(header: impl Fn(&str) -> Option<&'a [u8]>, size: u64, mtime: SystemTime, tag: &str) -> Plan {
    if let Some(inm) = header("if-none-match") {
        if etag_list_matches(inm, tag) {
            return Plan::NotModified;
        }
    } else if let Some(ims) = header("if-modified-since")
        && let Ok(since) = httpdate::parse_http_date(&String::from_utf8_lossy(ims))
        && secs(mtime) <= secs(since)
    {
        return Plan::NotModified;
    }
    let Some(range) = header("range") else { return Plan::Full };
    if let Some(if_range) = header("if-range") {
        let v = String::from_utf8_lossy(if_range);
        let fresh = if v.trim_start().starts_with('"') {
            v.trim() == tag // strong comparison
        } else {
            httpdate::parse_http_date(v.trim()).is_ok_and(|d| secs(d) == secs(mtime))
        };
        if !fresh {
            return Plan::Full;
        }
    }
    parse_range(range, size)
}

/// One `bytes=` range; several ranges or a malformed header give the whole
/// file (a server may ignore Range).
fn parse_range(range: &[u8], size: u64) -> Plan {
    let r = String::from_utf8_lossy(range);
    let Some(spec) = r.trim().strip_prefix("bytes=") else { return Plan::Full };
    if spec.contains(',') {
        return Plan::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return Plan::Full };
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            Some(None)
        } else if s.bytes().all(|c| c.is_ascii_digit()) && s.len() <= 19 {
            s.parse().ok().map(Some)
        } else {
            None
        }
    };
    let (Some(start), Some(end)) = (num(a), num(b)) else { return Plan::Full };
    match (start, end) {
        (Some(s), e) => {
            if let Some(e) = e
                && e < s
            {
                return Plan::Full; // invalid: ignore
            }
            if s >= size {
                return Plan::Unsatisfiable;
            }
            Plan::Partial(s, e.map_or(size - 1, |e| e.min(size - 1)))
        }
        (None, Some(n)) => {
            if n == 0 || size == 0 {
                Plan::Unsatisfiable
            } else {
                Plan::Partial(size - n.min(size), size - 1)
            }
        }
        (None, None) => Plan::Full,
    }
}

/// A static file response: head bytes and, for a body, the file range to
/// send after them. `root` is the mount's directory (None: the mount is
/// gone), `rel` the path below its prefix.
pub(crate) fn respond(root: Option<&Path>, rel: &str, head: &RequestHead, keep_alive: bool, date: &[u8]) -> (Vec<u8>, Option<FileRange>) {
    let head_only = head.method == "HEAD";
    let mut out = Vec::with_capacity(512);
    let Some(root) = root else {
        response::simple(&mut out, 404, &[], !keep_alive, head_only, date);
        return (out, None);
    };
    let opened = match open(root, rel) {
        Ok(o) => o,
        Err(e) => {
            response::simple(&mut out, e.status(), &[], !keep_alive, head_only, date);
            return (out, None);
        }
    };
    let tag = etag(opened.size, opened.mtime);
    let header = |n: &str| {
        head.headers.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_slice())
    };
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("ETag".into(), tag.clone().into_bytes()),
        ("Last-Modified".into(), httpdate::fmt_http_date(opened.mtime).into_bytes()),
        ("Accept-Ranges".into(), b"bytes".to_vec()),
    ];
    let (status, range) = match plan(header, opened.size, opened.mtime, &tag) {
        Plan::NotModified => (304, None),
        Plan::Unsatisfiable => {
            headers.push(("Content-Range".into(), format!("bytes */{}", opened.size).into_bytes()));
            response::simple(&mut out, 416, &headers, !keep_alive, head_only, date);
            return (out, None);
        }
        Plan::Full => (200, Some((0, opened.size))),
        Plan::Partial(a, b) => {
            headers.push(("Content-Range".into(), format!("bytes {a}-{b}/{}", opened.size).into_bytes()));
            (206, Some((a, b - a + 1)))
        }
    };
    let mime = mime_guess::from_path(&opened.path).first_or_octet_stream();
    let ctype = if mime.type_() == mime_guess::mime::TEXT { format!("{mime}; charset=utf-8") } else { mime.to_string() };
    headers.push(("Content-Type".into(), ctype.into_bytes()));
    let framing = match range {
        Some((_, len)) => response::Framing::Length(len),
        None => response::Framing::NoBody,
    };
    response::write_head(
        &mut out,
        &response::Head {
            status,
            reason: None,
            headers: &headers,
            framing,
            close: !keep_alive,
            version_minor: head.version_minor,
            client_keep_alive_10: head.version_minor == 0 && keep_alive,
        },
        date,
    );
    let file = match range {
        Some((offset, len)) if !head_only && len > 0 => Some(FileRange { file: opened.file, offset, remaining: len }),
        _ => None,
    };
    (out, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a [u8]> + 'a {
        move |n| pairs.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_bytes())
    }

    #[test]
    fn ranges() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let p = |r: &str| plan(h(&[("Range", r)]), 1000, t, "\"x\"");
        assert_eq!(p("bytes=0-99"), Plan::Partial(0, 99));
        assert_eq!(p("bytes=900-"), Plan::Partial(900, 999));
        assert_eq!(p("bytes=-100"), Plan::Partial(900, 999));
        assert_eq!(p("bytes=-5000"), Plan::Partial(0, 999));
        assert_eq!(p("bytes=990-5000"), Plan::Partial(990, 999));
        assert_eq!(p("bytes=1000-"), Plan::Unsatisfiable);
        assert_eq!(p("bytes=-0"), Plan::Unsatisfiable);
        assert_eq!(p("bytes=5-1"), Plan::Full);
        assert_eq!(p("bytes=0-1,5-6"), Plan::Full);
        assert_eq!(p("items=0-1"), Plan::Full);
        assert_eq!(p("bytes=x-1"), Plan::Full);
        assert_eq!(plan(h(&[("Range", "bytes=0-")]), 0, t, "\"x\""), Plan::Unsatisfiable);
    }

    #[test]
    fn conditionals() {
        let t = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let tag = etag(10, t);
        let date = httpdate::fmt_http_date(t);
        let later = httpdate::fmt_http_date(t + Duration::from_secs(5));
        let earlier = httpdate::fmt_http_date(t - Duration::from_secs(5));
        assert_eq!(plan(h(&[("If-None-Match", &tag)]), 10, t, &tag), Plan::NotModified);
        assert_eq!(plan(h(&[("If-None-Match", &format!("\"a\", W/{tag}"))]), 10, t, &tag), Plan::NotModified);
        assert_eq!(plan(h(&[("If-None-Match", "*")]), 10, t, &tag), Plan::NotModified);
        assert_eq!(plan(h(&[("If-None-Match", "\"other\"")]), 10, t, &tag), Plan::Full);
        // If-None-Match wins over If-Modified-Since
        assert_eq!(plan(h(&[("If-None-Match", "\"other\""), ("If-Modified-Since", &later)]), 10, t, &tag), Plan::Full);
        assert_eq!(plan(h(&[("If-Modified-Since", &date)]), 10, t, &tag), Plan::NotModified);
        assert_eq!(plan(h(&[("If-Modified-Since", &later)]), 10, t, &tag), Plan::NotModified);
        assert_eq!(plan(h(&[("If-Modified-Since", &earlier)]), 10, t, &tag), Plan::Full);
        assert_eq!(plan(h(&[("If-Modified-Since", "garbage")]), 10, t, &tag), Plan::Full);
        // If-Range: a stale validator gives the whole file
        assert_eq!(plan(h(&[("Range", "bytes=0-1"), ("If-Range", &tag)]), 10, t, &tag), Plan::Partial(0, 1));
        assert_eq!(plan(h(&[("Range", "bytes=0-1"), ("If-Range", "\"old\"")]), 10, t, &tag), Plan::Full);
        assert_eq!(plan(h(&[("Range", "bytes=0-1"), ("If-Range", &date)]), 10, t, &tag), Plan::Partial(0, 1));
        assert_eq!(plan(h(&[("Range", "bytes=0-1"), ("If-Range", &earlier)]), 10, t, &tag), Plan::Full);
    }

    #[test]
    fn paths_cannot_escape() {
        let dir = std::env::temp_dir().join(format!("squall-static-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        std::fs::write(root.join("sub/index.html"), b"i").unwrap();
        std::fs::write(dir.join("secret"), b"s").unwrap();
        let _ = std::os::unix::fs::symlink(dir.join("secret"), root.join("link-out"));
        let _ = std::os::unix::fs::symlink(root.join("a.txt"), root.join("link-in"));
        std::fs::create_dir_all(root.join("empty")).unwrap();
        let root = root.canonicalize().unwrap();
        assert_eq!(open(&root, "a.txt").unwrap().size, 1);
        assert_eq!(open(&root, "./a.txt").unwrap().size, 1);
        assert_eq!(open(&root, "sub/").unwrap().path, root.join("sub/index.html"));
        assert_eq!(open(&root, "link-in").unwrap().size, 1);
        assert_eq!(open(&root, "../secret").unwrap_err(), Refused::Forbidden);
        assert_eq!(open(&root, "%2e%2e/secret").unwrap_err(), Refused::Forbidden);
        assert_eq!(open(&root, "sub/%2E%2E/%2e%2e/secret").unwrap_err(), Refused::Forbidden);
        assert_eq!(open(&root, "%2fetc/passwd").unwrap_err(), Refused::Forbidden);
        assert_eq!(open(&root, "link-out").unwrap_err(), Refused::Forbidden);
        assert_eq!(open(&root, "a.txt%00.png").unwrap_err(), Refused::BadRequest);
        assert_eq!(open(&root, "%ff").unwrap_err(), Refused::BadRequest);
        assert_eq!(open(&root, "nope").unwrap_err(), Refused::NotFound);
        assert_eq!(open(&root, "empty").unwrap_err(), Refused::Forbidden);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
