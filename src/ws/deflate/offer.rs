//! permessage-deflate negotiation (RFC 7692 §5 and §7.1), server side: the
//! client's offers in `Sec-WebSocket-Extensions` against the route's policy,
//! the first acceptable offer wins, and the response header value.
//!
//! Grammar (RFC 6455 §9.1 with RFC 7692 §7.1):
//!
//! ```text
//! extension-list  = 1#extension            ; comma-separated, headers concatenated
//! extension       = name *( ";" param )
//! param           = token [ "=" ( token | quoted-string ) ]
//! ```
//!
//! An element of the list that is malformed (bad token, unknown or
//! duplicated parameter, a window value outside 8..=15 or written with a
//! leading zero, a value on a flag) declines that offer only: the next
//! element is still considered, and the handshake never fails for it.
//! Extensions of other names are skipped.
//!
//! Window 8: zlib-style compressors cannot make a raw stream with a 256-byte
//! window (zlib silently uses 9; zlib-rs refuses 8), so when the client asks
//! `server_max_window_bits=8` the offer is accepted with
//! `server_max_window_bits=8` in the response and the server never
//! compresses a message on that connection (RSV1 is per message, so sending
//! plain messages is always allowed); the client may still compress. When
//! the client's own window is 8, the inflater runs with 9: a larger window
//! reads any stream a smaller one made (and a zlib peer told 8 uses 9).

/// The server's policy for one route: what it asks of, and grants to,
/// clients. Window bits are 9..=15 for the server's own compressor and
/// 8..=15 for the window it asks the client to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    /// Never keep the compressor's history between messages (answered as
    /// `server_no_context_takeover` whether or not the client asked).
    pub(crate) server_no_context_takeover: bool,
    /// Ask the client not to keep its history (so the server's inflater
    /// needs none between messages): `client_no_context_takeover`.
    pub(crate) client_no_context_takeover: bool,
    /// The largest window the server's compressor uses (9..=15).
    pub(crate) server_max_window_bits: u8,
    /// The largest window the server asks the client to use (8..=15); only
    /// sent when the client offered `client_max_window_bits`.
    pub(crate) client_max_window_bits: u8,
    /// The dedicated compressor's level (0..=9; zlib's meaning).
    pub(crate) level: u8,
    /// The dedicated compressor's memory level (1..=9; zlib's meaning: a
    /// hash table of 2^(mem_level + 7) entries).
    pub(crate) mem_level: u8,
}

impl Policy {
    /// The `shared` mode: no context takeover either way, full windows.
    pub(crate) const SHARED: Policy = Policy {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
        level: super::codec::DEFAULT_LEVEL,
        mem_level: super::codec::DEFAULT_MEM_LEVEL,
    };

    /// The `dedicated` mode: context takeover both ways (unless the client
    /// asks otherwise), the server's compressor window `window_bits`, at
    /// zlib's default level and memory level.
    pub(crate) const fn dedicated(window_bits: u8) -> Policy {
        Policy::dedicated_with(window_bits, super::codec::DEFAULT_LEVEL, super::codec::DEFAULT_MEM_LEVEL)
    }

    /// The `dedicated` mode with the compressor's `level` and `mem_level`.
    pub(crate) const fn dedicated_with(window_bits: u8, level: u8, mem_level: u8) -> Policy {
        Policy {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: window_bits,
            client_max_window_bits: 15,
            level,
            mem_level,
        }
    }

    /// Whether the window values are in range (a C caller's options are
    /// checked with this before a route is made).
    pub(crate) fn is_valid(&self) -> bool {
        (9..=15).contains(&self.server_max_window_bits)
            && (8..=15).contains(&self.client_max_window_bits)
            && self.level <= 9
            && (1..=9).contains(&self.mem_level)
    }
}

/// The parameters both sides use after the handshake, from the server's
/// side of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server resets its compressor after every message.
    pub(crate) server_no_context_takeover: bool,
    /// The client resets its compressor after every message (so the
    /// server's inflater may reset too).
    pub(crate) client_no_context_takeover: bool,
    /// The window the server's messages use (8..=15; 8 means never compress).
    pub(crate) server_max_window_bits: u8,
    /// The window the client's messages use at most (8..=15).
    pub(crate) client_max_window_bits: u8,
    /// Whether `server_max_window_bits` was named in the response.
    server_bits_sent: bool,
    /// Whether `client_max_window_bits` was named in the response.
    client_bits_sent: bool,
}

impl Agreed {
    /// Whether the server may compress its messages (no window-8 limit).
    pub(crate) fn server_compresses(&self) -> bool {
        self.server_max_window_bits >= 9
    }

    /// The window for the server's compressor (9..=15).
    pub(crate) fn deflate_window(&self) -> u8 {
        self.server_max_window_bits.max(9)
    }

    /// The window for the server's inflater (9..=15; see the module doc for 8).
    pub(crate) fn inflate_window(&self) -> u8 {
        self.client_max_window_bits.max(9)
    }

    /// The `Sec-WebSocket-Extensions` value of the 101 response.
    pub(crate) fn response_value(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_bits_sent {
            s.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        if self.client_bits_sent {
            s.push_str(&format!("; client_max_window_bits={}", self.client_max_window_bits));
        }
        s
    }
}

/// One `permessage-deflate` offer's parameters, as written by the client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value.
    client_max_window_bits: Option<Option<u8>>,
}

/// Negotiates from every `Sec-WebSocket-Extensions` header value of the
/// request (in order): the first `permessage-deflate` offer that parses and
/// that the policy can answer wins. `None`: no extension is accepted (the
/// response then names none).
pub(crate) fn negotiate<'a>(headers: impl IntoIterator<Item = &'a str>, policy: &Policy) -> Option<Agreed> {
    for value in headers {
        for element in split_outside_quotes(value, b',') {
            if let Some(offer) = parse_offer(element)
                && let Some(agreed) = answer(&offer, policy)
            {
                return Some(agreed);
            }
        }
    }
    None
}

/// The client's side: the server's `Sec-WebSocket-Extensions` answer to
/// our offer (`permessage-deflate; client_max_window_bits`). `Err` when it
/// is not one well-formed `permessage-deflate` element (the client then
/// fails the connection, RFC 7692 §5.1); the result's fields keep their
/// server-side meaning (the server's window, the client's window, ...).
pub(crate) fn client_accepts(value: &str) -> Result<Agreed, &'static str> {
    let mut elements = split_outside_quotes(value, b',');
    let first = elements.next().ok_or("an empty extension answer")?;
    if elements.next().is_some() {
        return Err("more than one extension in the answer");
    }
    let offer = parse_offer(first).ok_or("a malformed or unknown extension in the answer")?;
    let client_bits = match offer.client_max_window_bits {
        None => 15,
        Some(Some(n)) => n,
        Some(None) => return Err("client_max_window_bits without a value in the answer"),
    };
    Ok(Agreed {
        server_no_context_takeover: offer.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover,
        server_max_window_bits: offer.server_max_window_bits.unwrap_or(15),
        client_max_window_bits: client_bits,
        server_bits_sent: false,
        client_bits_sent: false,
    })
}

/// The policy's answer to one well-formed offer (RFC 7692 §7.1.1, §7.1.2).
fn answer(offer: &Offer, policy: &Policy) -> Option<Agreed> {
    if !policy.is_valid() {
        return None;
    }
    // server_max_window_bits: the client's limit on the server's window; the
    // server may always name a smaller window of its own.
    let (server_bits, server_bits_sent) = match offer.server_max_window_bits {
        Some(n) => (n.min(policy.server_max_window_bits), true),
        None => (policy.server_max_window_bits, policy.server_max_window_bits < 15),
    };
    // client_max_window_bits: only answered when the client offered it; when
    // it did not, the client may use up to 15 whatever the policy wants.
    let (client_bits, client_bits_sent) = match offer.client_max_window_bits {
        None => (15, false),
        Some(None) => (policy.client_max_window_bits, policy.client_max_window_bits < 15),
        Some(Some(n)) => (n.min(policy.client_max_window_bits), true),
    };
    Some(Agreed {
        server_no_context_takeover: offer.server_no_context_takeover || policy.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover || policy.client_no_context_takeover,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
        server_bits_sent,
        client_bits_sent,
    })
}

/// Parses one element of the extension list if it is a well-formed
/// `permessage-deflate` offer; `None` for another extension or a malformed one.
fn parse_offer(element: &str) -> Option<Offer> {
    let mut parts = split_outside_quotes(element, b';');
    let name = parts.next()?.trim_matches(is_ows);
    if !name.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    for param in parts {
        let param = param.trim_matches(is_ows);
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim_matches(is_ows), Some(param_value(v.trim_matches(is_ows))?)),
            None => (param, None),
        };
        if !is_token(key) {
            return None;
        }
        // Parameter names are compared exactly: RFC 7692 spells them in
        // lower case and a token is case-sensitive unless said otherwise.
        match (key, value) {
            ("server_no_context_takeover", None) if !offer.server_no_context_takeover => {
                offer.server_no_context_takeover = true;
            }
            ("client_no_context_takeover", None) if !offer.client_no_context_takeover => {
                offer.client_no_context_takeover = true;
            }
            ("server_max_window_bits", Some(v)) if offer.server_max_window_bits.is_none() => {
                offer.server_max_window_bits = Some(window_bits(v)?);
            }
            ("client_max_window_bits", v) if offer.client_max_window_bits.is_none() => {
                offer.client_max_window_bits = Some(match v {
                    Some(v) => Some(window_bits(v)?),
                    None => None,
                });
            }
            // unknown, duplicated, a value on a flag, or a window without one
            _ => return None,
        }
    }
    Some(offer)
}

/// A parameter value: a token, or a quoted string whose unescaped content
/// is a token (RFC 7692 §7.1). `None` when malformed.
fn param_value(v: &str) -> Option<String> {
    let out = if let Some(inner) = v.strip_prefix('"') {
        let inner = inner.strip_suffix('"')?;
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.push(chars.next()?),
                '"' => return None,
                c => out.push(c),
            }
        }
        out
    } else {
        v.to_string()
    };
    is_token(&out).then_some(out)
}

/// A window size: 1*DIGIT without leading zeros, 8..=15 (RFC 7692 §7.1.2).
fn window_bits(v: String) -> Option<u8> {
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
        return None;
    }
    let n: u8 = v.parse().ok()?;
    (8..=15).contains(&n).then_some(n)
}

fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// RFC 7230 token: 1*tchar.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Splits on `sep` outside double-quoted strings (a backslash escapes the
/// next character inside one). An unterminated quote runs to the end, and
/// that piece then fails to parse.
fn split_outside_quotes(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut quoted = false;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        while i < bytes.len() {
            let b = bytes[i];
            if quoted && b == b'\\' {
                i += 2;
                continue;
            }
            if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                let piece = &s[start..i];
                i += 1;
                start = i;
                return Some(piece);
            }
            i += 1;
        }
        done = true;
        Some(&s[start.min(s.len())..])
    })
}

/// The fuzz driver: `data` split at NUL bytes into `Sec-WebSocket-Extensions`
/// values, negotiated under every policy the fronts can make (shared,
/// dedicated at each window, with `client_no_context_takeover`, small client
/// windows), and each value read as a server's answer by the client. Checks:
/// an agreement keeps within the policy (windows in range, the server's no
/// larger than the policy's, the no-context-takeover flags the policy
/// forces), its response value reads back through the client's parser as
/// the same agreement, and negotiation is the same whether the values come
/// one by one or joined into one list. Panics only on a bug.
pub(crate) fn fuzz_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let values: Vec<&str> = text.split('\0').collect();
    let mut policies = vec![Policy::SHARED];
    for bits in 9..=15u8 {
        policies.push(Policy::dedicated(bits));
        let mut p = Policy::dedicated_with(bits, 1, 1);
        p.client_no_context_takeover = true;
        p.client_max_window_bits = bits - 1;
        policies.push(p);
    }
    for policy in &policies {
        let agreed = negotiate(values.iter().copied(), policy);
        let joined = values.join(", ");
        let once = negotiate([joined.as_str()], policy);
        // joining with ", " can only merge two values when one ends inside
        // a quoted string; then the element boundaries differ legitimately
        if !text.contains('"') {
            assert_eq!(agreed, once, "negotiation depends on how the values are split: {values:?}");
        }
        let Some(a) = agreed else { continue };
        assert!((8..=15).contains(&a.server_max_window_bits) && a.server_max_window_bits <= policy.server_max_window_bits.max(8));
        assert!((8..=15).contains(&a.client_max_window_bits));
        assert!(!policy.server_no_context_takeover || a.server_no_context_takeover);
        assert!(!policy.client_no_context_takeover || a.client_no_context_takeover);
        let value = a.response_value();
        let back = client_accepts(&value).unwrap_or_else(|e| panic!("our answer {value:?} does not parse: {e}"));
        assert_eq!(
            (back.server_no_context_takeover, back.client_no_context_takeover, back.server_max_window_bits),
            (a.server_no_context_takeover, a.client_no_context_takeover, a.server_max_window_bits),
            "{value}"
        );
        if a.client_bits_sent {
            assert_eq!(back.client_max_window_bits, a.client_max_window_bits, "{value}");
        }
    }
    for v in &values {
        if let Ok(a) = client_accepts(v) {
            assert!((8..=15).contains(&a.server_max_window_bits) && (8..=15).contains(&a.client_max_window_bits), "{v}");
        }
    }
}

#[cfg(test)]
mod tests;
