//! Routes: a method and a regular expression matched against the whole
//! request path (Tornado's `Application` rules), with captured groups handed
//! to the handler percent-decoded.
//!
//! Matching order is registration order; the first pattern that matches the
//! path decides. If it matched for another method only, the answer is 405
//! with the methods that would have matched (`Allow`); if nothing matched,
//! 404. Patterns without regex metacharacters are compared as plain strings
//! (the common case costs a string comparison, not a regex run).

use regex::Regex;

use crate::{Error, ErrorKind, Result};

/// How a pattern is matched.
#[derive(Debug)]
enum Matcher {
    Literal(String),
    Regex(Regex),
}

/// One route. `T` is what the server attaches (the handler).
#[derive(Debug)]
pub(crate) struct Route<T> {
    /// Upper-case method, or None for any method.
    method: Option<String>,
    matcher: Matcher,
    pub(crate) target: T,
}

/// The result of a lookup.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Route index and the byte spans of the captured groups (None for a
    /// group that did not participate).
    Found(usize, Vec<Option<(usize, usize)>>),
    /// A route matched the path for other methods: these (for `Allow`).
    MethodNotAllowed(Vec<String>),
    NotFound,
}

/// An ordered list of routes.
#[derive(Debug)]
pub(crate) struct Router<T> {
    routes: Vec<Route<T>>,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl<T> Router<T> {
    /// Adds a route. `method` is an HTTP method token ("GET") or "*" / "" for
    /// any; `pattern` a regex matched against the whole path (anchors are
    /// added).
    pub(crate) fn add(&mut self, method: &str, pattern: &str, target: T) -> Result<usize> {
        let method = match method {
            "" | "*" => None,
            m if is_token(m) => Some(m.to_ascii_uppercase()),
            _ => return Err(Error::new(ErrorKind::InvalidArg, format!("{method:?} is not an HTTP method"))),
        };
        if pattern.is_empty() {
            return Err(Error::new(ErrorKind::InvalidArg, "the route pattern is empty"));
        }
        let matcher = if pattern.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_~".contains(&b)) {
            Matcher::Literal(pattern.to_owned())
        } else {
            let anchored = format!("^(?:{})$", pattern.trim_start_matches('^').trim_end_matches('$'));
            let re = Regex::new(&anchored)
                .map_err(|e| Error::new(ErrorKind::InvalidArg, format!("bad route pattern {pattern:?}: {e}")))?;
            Matcher::Regex(re)
        };
        self.routes.push(Route { method, matcher, target });
        Ok(self.routes.len() - 1)
    }

    pub(crate) fn get(&self, index: usize) -> Option<&Route<T>> {
        self.routes.get(index)
    }

    /// Finds the route for `method` and `path` (the path without the query).
    pub(crate) fn lookup(&self, method: &str, path: &str) -> Lookup {
        let mut allow: Vec<String> = Vec::new();
        for (i, r) in self.routes.iter().enumerate() {
            let captures = match &r.matcher {
                Matcher::Literal(l) => {
                    if l != path {
                        continue;
                    }
                    Vec::new()
                }
                Matcher::Regex(re) => {
                    let Some(c) = re.captures(path) else { continue };
                    c.iter().skip(1).map(|m| m.map(|m| (m.start(), m.end()))).collect()
                }
            };
            match &r.method {
                None => return Lookup::Found(i, captures),
                Some(m) if m == method => return Lookup::Found(i, captures),
                // HEAD is answered by a GET route (the body is dropped).
                Some(m) if m == "GET" && method == "HEAD" => return Lookup::Found(i, captures),
                Some(m) => {
                    if !allow.contains(m) {
                        allow.push(m.clone());
                    }
                    if m == "GET" && !allow.iter().any(|a| a == "HEAD") {
                        allow.push("HEAD".to_owned());
                    }
                }
            }
        }
        if allow.is_empty() { Lookup::NotFound } else { Lookup::MethodNotAllowed(allow) }
    }
}

/// Percent-decodes a captured path segment (`+` stays `+`, as in a path).
pub(crate) fn decode_capture(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The `router` fuzz target's driver: looks up `data` (a method picked by
/// the first byte, then the path) in a fixed table of literal and regex
/// routes, and percent-decodes each capture and the whole path. Captured
/// spans must lie on character boundaries of the path, a 405 must not list
/// the method asked for, and a decoded capture, percent-encoded again, must
/// decode to itself. Panics only on a bug.
pub(crate) fn fuzz_lookup(data: &[u8]) {
    use std::sync::LazyLock;
    static ROUTER: LazyLock<Router<()>> = LazyLock::new(|| {
        let mut r = Router::default();
        for (m, p) in [
            ("GET", "/"),
            ("POST", "/echo"),
            ("GET", r"/args/([a-z0-9]+)/(\d+)"),
            ("PUT", r"/args/([a-z0-9]+)/(\d+)"),
            ("*", r"/any/(x)?(y)"),
            ("GET", r"/files/(.*)"),
            ("DELETE", r"/u/([^/]+)/p/([^/]*)"),
            ("GET", r"/é/(\w+)"),
        ] {
            r.add(m, p, ()).expect("fixed route");
        }
        r
    });
    const METHODS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"];
    let Some((&m, path)) = data.split_first() else { return };
    let method = METHODS[usize::from(m) % METHODS.len()];
    let path = String::from_utf8_lossy(path);
    let check_decode = |raw: &str| {
        let decoded = decode_capture(raw);
        if !raw.contains('%') {
            assert_eq!(decoded, raw);
        }
        let again = percent_encoding::utf8_percent_encode(&decoded, percent_encoding::NON_ALPHANUMERIC).to_string();
        assert_eq!(decode_capture(&again), decoded, "{raw:?} decoded, encoded and decoded again");
    };
    check_decode(&path);
    match ROUTER.lookup(method, &path) {
        Lookup::Found(i, spans) => {
            let route = ROUTER.get(i).expect("a found route exists");
            if let Matcher::Literal(l) = &route.matcher {
                assert_eq!(l, &*path);
                assert!(spans.is_empty());
            }
            for (a, b) in spans.into_iter().flatten() {
                assert!(a <= b && b <= path.len() && path.is_char_boundary(a) && path.is_char_boundary(b));
                check_decode(&path[a..b]);
            }
        }
        Lookup::MethodNotAllowed(allow) => {
            assert!(!allow.is_empty() && !allow.iter().any(|a| a == method));
            assert!(method != "HEAD" || !allow.iter().any(|a| a == "GET"));
        }
        Lookup::NotFound => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        let mut r = Router::default();
        r.add("GET", "/", "root").unwrap();
        r.add("POST", "/echo", "echo").unwrap();
        r.add("GET", r"/args/([a-z0-9]+)/(\d+)", "args").unwrap();
        r.add("PUT", r"/args/([a-z0-9]+)/(\d+)", "args-put").unwrap();
        r.add("*", r"/any/(x)?(y)", "any").unwrap();
        r
    }

    #[test]
    fn literal_and_regex_routes() {
        let r = router();
        assert_eq!(r.lookup("GET", "/"), Lookup::Found(0, vec![]));
        assert_eq!(r.lookup("HEAD", "/"), Lookup::Found(0, vec![]));
        assert_eq!(r.lookup("POST", "/echo"), Lookup::Found(1, vec![]));
        assert_eq!(r.lookup("GET", "/args/abc/42"), Lookup::Found(2, vec![Some((6, 9)), Some((10, 12))]));
        assert_eq!(r.lookup("PUT", "/args/abc/42"), Lookup::Found(3, vec![Some((6, 9)), Some((10, 12))]));
        assert_eq!(r.lookup("DELETE", "/any/y"), Lookup::Found(4, vec![None, Some((5, 6))]));
    }

    #[test]
    fn whole_path_only() {
        let r = router();
        assert_eq!(r.lookup("GET", "/args/abc/42/more"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "x/args/abc/42"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "/args/ABC/42"), Lookup::NotFound);
        assert_eq!(r.lookup("GET", "/echo/"), Lookup::NotFound);
    }

    #[test]
    fn method_not_allowed_lists_allow() {
        let r = router();
        assert_eq!(r.lookup("GET", "/echo"), Lookup::MethodNotAllowed(vec!["POST".into()]));
        assert_eq!(r.lookup("POST", "/"), Lookup::MethodNotAllowed(vec!["GET".into(), "HEAD".into()]));
        assert_eq!(
            r.lookup("DELETE", "/args/a/1"),
            Lookup::MethodNotAllowed(vec!["GET".into(), "HEAD".into(), "PUT".into()])
        );
    }

    #[test]
    fn bad_routes_are_errors() {
        let mut r: Router<()> = Router::default();
        assert_eq!(r.add("GET", "/(unclosed", ()).unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(r.add("G ET", "/", ()).unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(r.add("GET", "", ()).unwrap_err().kind(), ErrorKind::InvalidArg);
        assert_eq!(r.add("get", "/x", ()).unwrap(), 0);
        assert_eq!(r.lookup("GET", "/x"), Lookup::Found(0, vec![]));
    }

    #[test]
    fn captures_decode() {
        assert_eq!(decode_capture("a%20b+c"), "a b+c");
        assert_eq!(decode_capture("%zz"), "%zz");
    }
}
