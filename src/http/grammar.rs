//! The ABNF rules of RFC 9110, RFC 9112 and RFC 3986 that decide framing,
//! routing or the response, one function per rule. Shared by the server's
//! request decoder (`h1`) and the client's response decoder
//! (`client::response`); pure functions over bytes, no state.
//!
//! Each function names the rule and the section it implements. The
//! decisions where squall is stricter or more lenient than a rule allows are
//! in docs/ARCHITECTURE.md, "HTTP/1.1 parsing: the grammar and our
//! decisions".

/// Longest chunk-ext accepted on one chunk line (RFC 9112 §7.1.1 lets a
/// recipient limit it; ours: 4 KiB).
pub(crate) const MAX_CHUNK_EXT: usize = 4096;

/// RFC 9110 §5.6.2: `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
/// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §5.6.2: `token = 1*tchar`.
pub(crate) fn is_token(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|&b| is_tchar(b))
}

/// RFC 9110 §5.5: `field-vchar = VCHAR / obs-text`, with SP and HTAB allowed
/// inside a field value. NUL, CR, LF, the other controls and DEL are not.
pub(crate) fn is_field_value(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || b == b' ' || (0x21..=0x7e).contains(&b) || b >= 0x80)
}

/// RFC 9112 §5: `field-line = field-name ":" OWS field-value OWS` (without
/// its CRLF): no whitespace before the colon, no obs-fold (a line starting
/// with whitespace has no token before its colon).
pub(crate) fn field_line(line: &[u8]) -> bool {
    match line.iter().position(|&b| b == b':') {
        Some(c) => is_token(&line[..c]) && is_field_value(trim_ows(&line[c + 1..])),
        None => false,
    }
}

/// RFC 9110 §5.6.3: OWS = *( SP / HTAB ), stripped from both ends.
pub(crate) fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |e| e + 1);
    &v[start..end.max(start)]
}

/// RFC 9110 §5.6.1: the elements of a `#rule` list. A recipient accepts
/// empty elements ("a, , b") and OWS around commas; empty ones are dropped.
/// (Commas inside quoted strings are not special-cased: none of the lists
/// read here has a quoted-string element that decides anything.)
pub(crate) fn list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    v.split(|&b| b == b',').map(trim_ows).filter(|e| !e.is_empty())
}

/// RFC 9110 §8.6: `Content-Length = 1*DIGIT`; None for anything else and
/// for a value that does not fit in a u64 (leading zeros are digits too).
pub(crate) fn decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    v.iter().try_fold(0u64, |acc, d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// RFC 9110 §8.6: the Content-Length field lines of a message, a list of
/// identical values ("5, 5" or two lines of 5) being one value. Ok(None)
/// when there is none; Err for an empty list, a malformed element, an
/// overflow or differing values.
pub(crate) fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    for value in values {
        let mut any = false;
        for item in list(value) {
            any = true;
            let n = decimal(item).ok_or("Only integer Content-Length is allowed (1*DIGIT)")?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length values");
            }
            length = Some(n);
        }
        if !any {
            return Err("empty Content-Length");
        }
    }
    Ok(length)
}

/// A transfer coding as listed in Transfer-Encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Coding {
    /// The coding name, lowercased (RFC 9112 §7: case-insensitive).
    pub(crate) name: Vec<u8>,
    /// Whether parameters followed the name.
    pub(crate) params: bool,
}

/// RFC 9112 §6.1 and §7: `Transfer-Encoding = #transfer-coding`,
/// `transfer-coding = token *( OWS ";" OWS transfer-parameter )`,
/// `transfer-parameter = token BWS "=" BWS ( token / quoted-string )`.
/// Appends the codings of one field line; Err when an element is malformed.
pub(crate) fn transfer_codings(value: &[u8], out: &mut Vec<Coding>) -> Result<(), &'static str> {
    for element in list(value) {
        let mut parts = element.split(|&b| b == b';');
        let name = trim_ows(parts.next().unwrap_or_default());
        if !is_token(name) {
            return Err("malformed transfer coding");
        }
        let mut params = false;
        for p in parts {
            params = true;
            let Some(eq) = p.iter().position(|&b| b == b'=') else { return Err("malformed transfer coding") };
            let (k, v) = (trim_ows(&p[..eq]), trim_ows(&p[eq + 1..]));
            if !is_token(k) || !(is_token(v) || quoted_string(v) == Some(v.len())) {
                return Err("malformed transfer coding");
            }
        }
        out.push(Coding { name: name.to_ascii_lowercase(), params });
    }
    Ok(())
}

/// RFC 9110 §5.6.4: `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`,
/// `qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text`,
/// `quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )`. Returns the length
/// of the quoted string at the start of `v`.
pub(crate) fn quoted_string(v: &[u8]) -> Option<usize> {
    if v.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < v.len() {
        match v[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                let q = *v.get(i + 1)?;
                if !(q == b'\t' || q == b' ' || (0x21..=0x7e).contains(&q) || q >= 0x80) {
                    return None;
                }
                i += 2;
            }
            b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
    None
}

/// RFC 9112 §7.1: a chunk line without its CRLF,
/// `chunk-size [ chunk-ext ]` where `chunk-size = 1*HEXDIG` and
/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`,
/// `chunk-ext-name = token`, `chunk-ext-val = token / quoted-string`.
/// The size, or why the line is refused. Extensions are checked and dropped.
pub(crate) fn chunk_line(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err("malformed chunk size");
    }
    let size = line[..digits]
        .iter()
        .try_fold(0u64, |acc, &d| acc.checked_mul(16)?.checked_add(u64::from((d as char).to_digit(16)?)))
        .ok_or("chunk size overflows")?;
    let ext = &line[digits..];
    if ext.len() > MAX_CHUNK_EXT {
        return Err("chunk extensions too long");
    }
    if chunk_ext(ext) {
        Ok(size)
    } else {
        Err("malformed chunk extension")
    }
}

/// RFC 9112 §7.1.1 `chunk-ext`, the whole of `v` (BWS = OWS, RFC 9110 §5.6.3).
fn chunk_ext(v: &[u8]) -> bool {
    let ws = |i: usize| i + v[i..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    let tok = |i: usize| i + v[i..].iter().take_while(|&&b| is_tchar(b)).count();
    let mut i = 0;
    while i < v.len() {
        i = ws(i);
        if v.get(i) != Some(&b';') {
            return false; // trailing BWS or anything but ";"
        }
        i = ws(i + 1);
        let end = tok(i);
        if end == i {
            return false; // chunk-ext-name = token
        }
        i = end;
        let after_name = i;
        let j = ws(i);
        if v.get(j) == Some(&b'=') {
            let k = ws(j + 1);
            let end = tok(k);
            i = if end > k {
                end
            } else {
                match quoted_string(&v[k..]) {
                    Some(n) => k + n,
                    None => return false,
                }
            };
        } else {
            i = after_name;
        }
    }
    true
}

/// RFC 3986 §2.3 `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 `sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="`.
fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// Whether every byte of `v` is `allowed` or part of a `pct-encoded`
/// (RFC 3986 §2.1: "%" HEXDIG HEXDIG).
fn chars_or_pct(v: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%' {
            if !(v.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && v.get(i + 2).is_some_and(u8::is_ascii_hexdigit)) {
                return false;
            }
            i += 3;
        } else if allowed(v[i]) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// RFC 3986 §3.3 `pchar = unreserved / pct-encoded / sub-delims / ":" / "@"`.
fn is_pchar(b: u8) -> bool {
    is_unreserved(b) || is_sub_delim(b) || b == b':' || b == b'@'
}

/// Bytes RFC 3986 leaves out of a URI that browsers send unencoded in a
/// path or query (the WHATWG URL standard's path and query percent-encode
/// sets leave them alone): `[ ] { } | \ ^ \``. Accepted, a documented
/// difference from the grammar (docs/ARCHITECTURE.md): refusing them
/// would refuse `?filter[name]=x` from every browser, and none of them
/// delimits anything in HTTP/1.1 framing.
fn is_browser_extra(b: u8) -> bool {
    matches!(b, b'[' | b']' | b'{' | b'}' | b'|' | b'\\' | b'^' | b'`')
}

/// RFC 3986 §3.3 `path-abempty = *( "/" segment )`, then RFC 3986 §3.4
/// `[ "?" query ]` with `query = *( pchar / "/" / "?" )`, each also
/// taking [`is_browser_extra`].
fn path_and_query(v: &[u8]) -> bool {
    let (path, query) = match v.iter().position(|&b| b == b'?') {
        Some(q) => (&v[..q], Some(&v[q + 1..])),
        None => (v, None),
    };
    (path.is_empty() || path[0] == b'/')
        && chars_or_pct(path, |b| is_pchar(b) || b == b'/' || is_browser_extra(b))
        && query.is_none_or(|q| chars_or_pct(q, |b| is_pchar(b) || b == b'/' || b == b'?' || is_browser_extra(b)))
}

/// RFC 3986 §3.2.2 `host = IP-literal / IPv4address / reg-name` (IPv4address
/// is a subset of reg-name's characters), `IP-literal = "[" ( IPv6address /
/// IPvFuture ) "]"`, `reg-name = *( unreserved / pct-encoded / sub-delims )`.
pub(crate) fn is_uri_host(v: &[u8]) -> bool {
    if let Some(inner) = v.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]")) {
        return ipv6(inner) || ipv_future(inner);
    }
    chars_or_pct(v, |b| is_unreserved(b) || is_sub_delim(b))
}

fn ipv6(v: &[u8]) -> bool {
    // RFC 3986 §3.2.2 IPv6address: std's parser reads the same forms
    // (hex pieces, "::" once, an IPv4 tail), and no zone identifier.
    std::str::from_utf8(v).ok().is_some_and(|s| s.parse::<std::net::Ipv6Addr>().is_ok())
}

/// RFC 3986 §3.2.2 `IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )`.
fn ipv_future(v: &[u8]) -> bool {
    let Some(rest) = v.strip_prefix(b"v").or_else(|| v.strip_prefix(b"V")) else { return false };
    let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let Some(tail) = rest[hex..].strip_prefix(b".") else { return false };
    hex > 0 && !tail.is_empty() && tail.iter().all(|&b| is_unreserved(b) || is_sub_delim(b) || b == b':')
}

/// `uri-host [ ":" port ]` (RFC 9110 §7.2 Host, RFC 3986 §3.2.3
/// `port = *DIGIT`). `port_required` for authority-form (RFC 9112 §3.2.3:
/// `uri-host ":" port`).
pub(crate) fn is_host_port(v: &[u8], port_required: bool) -> bool {
    // A reg-name has no ":" and an IP-literal ends at "]": the port starts
    // at the first ":" after either.
    let host_end = if v.first() == Some(&b'[') {
        match v.iter().position(|&b| b == b']') {
            Some(e) => e + 1,
            None => return false,
        }
    } else {
        v.iter().position(|&b| b == b':').unwrap_or(v.len())
    };
    let (host, rest) = v.split_at(host_end);
    let port_ok = match rest.split_first() {
        None => !port_required,
        Some((b':', port)) => port.iter().all(u8::is_ascii_digit),
        Some(_) => false,
    };
    port_ok && is_uri_host(host)
}

/// The four forms of RFC 9112 §3.2 `request-target`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetForm {
    /// `origin-form = absolute-path [ "?" query ]`
    Origin,
    /// `absolute-form = absolute-URI`, an http or https URI: the range of
    /// its authority and where its path (or query) starts.
    Absolute { authority: (usize, usize), path: usize },
    /// `authority-form = uri-host ":" port`
    Authority,
    /// `asterisk-form = "*"`
    Asterisk,
}

/// Which form `t` is, or None when it is none of them (RFC 9112 §3.2,
/// RFC 3986 §3, §4.3). Which form a method may use is the caller's rule.
pub(crate) fn target_form(t: &[u8]) -> Option<TargetForm> {
    if t == b"*" {
        return Some(TargetForm::Asterisk);
    }
    if t.first() == Some(&b'/') {
        // absolute-path = 1*( "/" segment )
        return path_and_query(t).then_some(TargetForm::Origin);
    }
    // absolute-URI = scheme ":" hier-part [ "?" query ]; of the schemes only
    // http and https name something this server can be (RFC 9110 §4.2), and
    // their hier-part is "//" authority path-abempty.
    let colon = t.iter().position(|&b| b == b':')?;
    let scheme = &t[..colon];
    if scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https") {
        let rest = t[colon + 1..].strip_prefix(b"//")?;
        let start = colon + 3;
        let end = start + rest.iter().position(|&b| b == b'/' || b == b'?').unwrap_or(rest.len());
        // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid;
        // §4.2.4: userinfo ("@") is refused (is_host_port has no "@").
        let authority = &t[start..end];
        if authority.is_empty() || authority[0] == b':' || !is_host_port(authority, false) {
            return None;
        }
        return path_and_query(&t[end..]).then_some(TargetForm::Absolute { authority: (start, end), path: end });
    }
    is_host_port(t, true).then_some(TargetForm::Authority)
}

/// RFC 9112 §2.3 `HTTP-version = HTTP-name "/" DIGIT "." DIGIT`,
/// `HTTP-name = %s"HTTP"` (case-sensitive): (major, minor).
pub(crate) fn http_version(v: &[u8]) -> Option<(u8, u8)> {
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
            Some((major - b'0', minor - b'0'))
        }
        _ => None,
    }
}

/// RFC 9112 §2.2: every line of a head ends in CRLF; a bare CR or a bare LF
/// is refused (the smuggling-safe choice: §2.2 only MAY accept a bare LF).
/// `head` runs up to and including its empty last line.
pub(crate) fn crlf_lines(head: &[u8]) -> Result<(), &'static str> {
    for (i, &b) in head.iter().enumerate() {
        match b {
            b'\r' if head.get(i + 1) != Some(&b'\n') => return Err("bare CR"),
            b'\n' if i == 0 || head[i - 1] != b'\r' => return Err("bare LF"),
            _ => {}
        }
    }
    Ok(())
}

/// Where the head in `buf` ends (after its empty line), if it is all there.
/// Lines end at LF here; whether each LF has its CR is `crlf_lines`'s rule,
/// so a head with a bare LF is seen (and refused) rather than waited on.
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let from = from.saturating_sub(3).min(buf.len());
    let mut i = from;
    while let Some(p) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + p;
        if nl >= 1 && buf[nl - 1] == b'\n' {
            return Some(nl + 1);
        }
        if nl >= 2 && buf[nl - 1] == b'\r' && buf[nl - 2] == b'\n' {
            return Some(nl + 1);
        }
        i = nl + 1;
    }
    None
}

/// The `grammar` fuzz target's driver: runs every rule over `data` (and
/// its lines) and checks each answer against a second way of reaching it
/// (re-encoding a parsed value, a naive search, an implied rule); panics
/// only on a bug.
pub(crate) fn fuzz_check(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for &v in &lines {
        // decimal: the value printed back is the digits without leading zeros
        if let Some(n) = decimal(v) {
            let digits = v.iter().position(|&b| b != b'0').map_or(&b"0"[..], |p| &v[p..]);
            assert_eq!(n.to_string().as_bytes(), digits, "decimal {v:?}");
        }
        // chunk_line: the size re-encoded in either case, with the same extensions
        if let Ok(size) = chunk_line(v) {
            let digits = v.iter().take_while(|b| b.is_ascii_hexdigit()).count();
            for hex in [format!("{size:x}"), format!("{size:X}")] {
                let mut again = hex.into_bytes();
                again.extend_from_slice(&v[digits..]);
                assert_eq!(chunk_line(&again), Ok(size), "chunk line {v:?}");
            }
        }
        // transfer_codings: the names listed again without parameters read the same
        let mut codings = Vec::new();
        if transfer_codings(v, &mut codings).is_ok() {
            let names: Vec<&[u8]> = codings.iter().map(|c| c.name.as_slice()).collect();
            let mut again = Vec::new();
            transfer_codings(&names.join(&b", "[..]), &mut again).expect("codings listed again");
            assert_eq!(again.iter().map(|c| c.name.as_slice()).collect::<Vec<_>>(), names);
            assert!(codings.iter().all(|c| is_token(&c.name) && !c.name.iter().any(u8::is_ascii_uppercase)));
        }
        // quoted_string: a prefix that starts and ends with DQUOTE
        if let Some(n) = quoted_string(v) {
            assert!(n >= 2 && n <= v.len() && v[0] == b'"' && v[n - 1] == b'"', "quoted {v:?}");
        }
        // host and port: a required port implies an optional one
        if is_host_port(v, true) {
            assert!(is_host_port(v, false), "host {v:?}");
        }
        // request-target: no byte of a target may be a delimiter of the request line
        if let Some(form) = target_form(v) {
            assert!(v.iter().all(|&b| b > 0x20 && b < 0x7f), "target {v:?} has a space, control or non-ASCII byte");
            match form {
                TargetForm::Asterisk => assert_eq!(v, b"*"),
                TargetForm::Origin => assert_eq!(v[0], b'/'),
                TargetForm::Authority => assert!(is_host_port(v, true)),
                TargetForm::Absolute { authority: (a, b), path } => {
                    assert!(a < b && b == path && path <= v.len(), "target {v:?}");
                    assert!(is_host_port(&v[a..b], false), "authority of {v:?}");
                    assert!(path == v.len() || matches!(v[path], b'/' | b'?'));
                }
            }
        }
        if field_line(v) {
            assert!(is_field_value(v) && !v.starts_with(b" ") && !v.starts_with(b"\t"), "field line {v:?}");
        }
        if let Some((major, minor)) = http_version(v) {
            assert_eq!(format!("HTTP/{major}.{minor}").as_bytes(), v);
        }
    }
    // content_length: the values as separate lines or as one list agree
    let one = content_length(lines.iter().copied());
    if let Ok(Some(n)) = one {
        assert_eq!(content_length(std::iter::once(&lines.join(&b","[..])[..])), Ok(Some(n)), "{lines:?}");
        assert!(lines.iter().flat_map(|l| list(l)).all(|e| decimal(e) == Some(n)));
    }
    // crlf_lines: accepted exactly when every CR precedes an LF and every LF follows a CR
    let paired = (0..data.len()).all(|i| match data[i] {
        b'\r' => data.get(i + 1) == Some(&b'\n'),
        b'\n' => i > 0 && data[i - 1] == b'\r',
        _ => true,
    });
    assert_eq!(crlf_lines(data).is_ok(), paired);
    // head_end: the same as a naive search, and the same when searched the
    // way a connection does (each prefix that lacks the end, then further on)
    let naive = (0..data.len()).find(|&i| data[..=i].ends_with(b"\n\n") || data[..=i].ends_with(b"\n\r\n")).map(|i| i + 1);
    assert_eq!(head_end(data, 0), naive, "head end of {data:?}");
    let mut searched = 0;
    for cut in [data.len() / 3, data.len() / 2, data.len()] {
        match head_end(&data[..cut], searched) {
            Some(e) => {
                assert_eq!(Some(e), naive);
                break;
            }
            None => {
                assert!(naive.is_none_or(|e| e > cut));
                searched = cut;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_field_values() {
        assert!(is_token(b"GET") && is_token(b"x-a_b.c~!#$%&'*+^`|"));
        for bad in [&b""[..], b"a b", b"a:b", b"a\"b", b"(x)", b"a/b", b"\xc3\xa9"] {
            assert!(!is_token(bad), "{bad:?}");
        }
        assert!(is_field_value(b"a b\tc \x80\xff ~!"));
        for bad in [&b"a\x00b"[..], b"a\rb", b"a\nb", b"a\x7fb", b"\x01"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
    }

    #[test]
    fn content_length_rule() {
        let cl = |vs: &[&[u8]]| content_length(vs.iter().copied());
        assert_eq!(cl(&[]), Ok(None));
        assert_eq!(cl(&[b"5"]), Ok(Some(5)));
        assert_eq!(cl(&[b"5, 5", b"5"]), Ok(Some(5)));
        assert_eq!(cl(&[b"5,,5,"]), Ok(Some(5)), "empty list elements");
        assert_eq!(cl(&[b"0000000000000000000000007"]), Ok(Some(7)), "leading zeros");
        assert_eq!(cl(&[b"18446744073709551615"]), Ok(Some(u64::MAX)));
        for bad in [&b"5, 6"[..], b"", b" , ", b"+5", b"-5", b"5 5", b"0x5", b"5a", b"18446744073709551616", b"\"5\""] {
            assert!(cl(&[bad]).is_err(), "{bad:?}");
        }
        assert!(cl(&[b"5", b"6"]).is_err(), "two lines that differ");
    }

    #[test]
    fn transfer_coding_rule() {
        let tc = |v: &[u8]| {
            let mut out = vec![];
            transfer_codings(v, &mut out).map(|()| out.into_iter().map(|c| (String::from_utf8(c.name).unwrap(), c.params)).collect::<Vec<_>>())
        };
        assert_eq!(tc(b"chunked"), Ok(vec![("chunked".into(), false)]));
        assert_eq!(tc(b" , GZip ,\tChunked,"), Ok(vec![("gzip".into(), false), ("chunked".into(), false)]));
        assert_eq!(tc(b"x-foo;q=1 ; r=\"a\\\"b\""), Ok(vec![("x-foo".into(), true)]));
        assert_eq!(tc(b""), Ok(vec![]));
        for bad in [&b"chun ked"[..], b"\"chunked\"", b"chunked;", b"chunked;x", b"gzip;=1", b"a;b=c d", b"a/b"] {
            assert!(tc(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chunk_line_rule() {
        assert_eq!(chunk_line(b"0"), Ok(0));
        assert_eq!(chunk_line(b"1aF"), Ok(0x1af));
        assert_eq!(chunk_line(b"000000000000000000000010"), Ok(16), "leading zeros do not overflow");
        assert_eq!(chunk_line(b"ffffffffffffffff"), Ok(u64::MAX));
        assert_eq!(chunk_line(b"5;a"), Ok(5));
        assert_eq!(chunk_line(b"5 ; a = b ;c=\"q \\\" ;\";d"), Ok(5), "BWS and quoted-pair");
        assert_eq!(chunk_line(b"5\t;\ta"), Ok(5));
        assert_eq!(chunk_line(b"10000000000000000"), Err("chunk size overflows"));
        for bad in [
            &b""[..], b" 5", b"+5", b"-5", b"0x5", b"5_0", b"5 ", b"5\t", b"5 5", b"5;", b"5;=x", b"5;a=", b"5;a=\"x",
            b"5;a b", b"5;a=b c", b"5;a=\"\x01\"", b"5\r", b"5;a\rb", b"g", b"5,6", b"5;a=b;",
        ] {
            assert!(chunk_line(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let mut long = b"5;a=".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_CHUNK_EXT));
        assert_eq!(chunk_line(&long), Err("chunk extensions too long"));
        long.truncate(MAX_CHUNK_EXT + 1);
        assert_eq!(chunk_line(&long), Ok(5), "exactly the cap");
    }

    #[test]
    fn host_rule() {
        for ok in [
            &b"example.com"[..], b"example.com:8080", b"EXAMPLE.com:", b"127.0.0.1", b"999.1.1.1", b"[::1]", b"[::1]:80",
            b"[2001:db8::7]", b"[::ffff:1.2.3.4]", b"[v1.x:y]", b"a%20b", b"a!$&'()*+,;=b", b"", b"_x~-.",
        ] {
            assert!(is_host_port(ok, false), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"a b"[..], b"a/b", b"a@b", b"a:b:c", b"a:8x", b"[::1", b"[::1]x", b"[::g]", b"[fe80::1%25eth0]", b"a%2", b"a%zz",
            b"\xc3\xa9", b"a\"b", b"a?b", b"a#b", b"[v.x]", b"[vx.y]", b"a\\b", b"a:80 ",
        ] {
            assert!(!is_host_port(bad, false), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(is_host_port(b"a:443", true) && is_host_port(b"a:", true) && !is_host_port(b"a", true));
    }

    #[test]
    fn target_form_rule() {
        use TargetForm::*;
        assert_eq!(target_form(b"/"), Some(Origin));
        assert_eq!(target_form(b"/a/b;c=d/%7e:@!$&'()*+,;=?q=1/2?3&x=%20"), Some(Origin));
        assert_eq!(target_form(b"//a"), Some(Origin), "empty segments are segments");
        assert_eq!(target_form(b"*"), Some(Asterisk));
        assert_eq!(target_form(b"example.com:443"), Some(Authority));
        assert_eq!(target_form(b"[::1]:443"), Some(Authority));
        assert_eq!(target_form(b"http://h:8/p?q"), Some(Absolute { authority: (7, 10), path: 10 }));
        assert_eq!(target_form(b"HTTPS://h"), Some(Absolute { authority: (8, 9), path: 9 }));
        assert_eq!(target_form(b"http://h?x"), Some(Absolute { authority: (7, 8), path: 8 }));
        // What browsers send unencoded (a documented difference from RFC 3986).
        for ok in [&b"/?filter[name]=x"[..], b"/a{b}", b"/a|b", b"/a\\b", b"/a^b", b"/a`b", b"/[x]?q={}|^`\\"] {
            assert_eq!(target_form(ok), Some(Origin), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..], b"a", b"/a b", b"/a#f", b"/a%", b"/a%4", b"/a%4g", b"/\xc3\xa9", b"/a\"", b"/<", b"/>", b"/?<",
            b"/\x7f", b"/\x00", b"/\t", b"**", b"*/", b"http://", b"http:///p",
            b"http://u@h/", b"http://h:x/", b"http://:80/", b"ftp://h/", b"http:/h", b"h", b"mailto:a@b", b"http://h/a b",
        ] {
            assert_eq!(target_form(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn version_rule() {
        assert_eq!(http_version(b"HTTP/1.1"), Some((1, 1)));
        assert_eq!(http_version(b"HTTP/1.0"), Some((1, 0)));
        assert_eq!(http_version(b"HTTP/2.0"), Some((2, 0)));
        assert_eq!(http_version(b"HTTP/1.9"), Some((1, 9)));
        for bad in [&b"http/1.1"[..], b"HTTP/1.10", b"HTTP/11", b"HTTP/1", b"HTTP/1.1 ", b"HTTP/a.1", b"HTTPS/1.1", b" HTTP/1.1"] {
            assert_eq!(http_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn line_endings_rule() {
        assert!(crlf_lines(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").is_ok());
        assert_eq!(crlf_lines(b"GET / HTTP/1.1\nHost: h\r\n\r\n"), Err("bare LF"));
        assert_eq!(crlf_lines(b"GET / HTTP/1.1\r\nHost: h\r\n\n"), Err("bare LF"));
        assert_eq!(crlf_lines(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), Err("bare CR"));
        assert_eq!(crlf_lines(b"GET / HTTP/1.1\r\r\n\r\n"), Err("bare CR"));
        assert_eq!(head_end(b"a\r\nb\r\n\r\nbody", 0), Some(8));
        assert_eq!(head_end(b"a\nb\n\nbody", 0), Some(5));
        assert_eq!(head_end(b"a\r\nb\r\n", 0), None);
        assert_eq!(head_end(b"a\r\nb\r\n\r", 0), None);
    }
}
