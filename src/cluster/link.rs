//! One Redis connection's protocol, sans-IO: the commands it has sent and
//! the replies it waits for, in order; pushes of a subscribing connection;
//! liveness by PING. It takes bytes and the time, and gives bytes and
//! events; the watcher in `redis.rs` owns the socket.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::config::Config;
use super::resp::{Decoder, Limits, Value, encode_command};

/// What a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// PUBLISH, pipelined.
    Publish,
    /// SUBSCRIBE / UNSUBSCRIBE, and the messages they bring.
    Subscribe,
}

/// A reply the connection waits for, in the order the commands went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Auth,
    Select,
    Publish,
    Ping,
}

/// What the connection heard.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// AUTH and SELECT (if any) were accepted.
    Ready,
    /// The oldest PUBLISH not yet answered was processed, by this many receivers.
    Published(i64),
    /// SUBSCRIBE confirmed for a channel.
    Subscribed(Vec<u8>),
    /// UNSUBSCRIBE confirmed for a channel.
    Unsubscribed(Vec<u8>),
    /// A message on a channel.
    Message(Vec<u8>, Vec<u8>),
}

/// Why the connection must be dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Broken {
    /// The server refused AUTH or SELECT (a wrong password): its words.
    Refused(String),
    /// Bytes that are not RESP2, or a reply that fits no command.
    Protocol(String),
    /// No answer to a PING within the timeout.
    Silent,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Refused(s) => write!(f, "the server refused the connection's set-up: {s}"),
            Broken::Protocol(s) => write!(f, "protocol error: {s}"),
            Broken::Silent => write!(f, "no answer to PING within the timeout"),
        }
    }
}

/// Channels per SUBSCRIBE / UNSUBSCRIBE command.
pub(crate) const BATCH: usize = 512;

/// One connection's protocol state.
#[derive(Debug)]
pub(crate) struct Link {
    dec: Decoder,
    out: Vec<u8>,
    expect: VecDeque<Expect>,
    ready: bool,
    ping: Duration,
    timeout: Duration,
    last_input: Instant,
    ping_sent: Option<Instant>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl Link {
    /// A connection just made at `now`: AUTH and SELECT as the config says.
    pub(crate) fn new(role: Role, cfg: &Config, now: Instant) -> Link {
        // A message is its envelope plus the RESP around it: room for both.
        let limits = Limits { max_bulk: cfg.max_message.saturating_add(4096).max(64 << 20), ..Limits::default() };
        let _ = role;
        let mut l = Link {
            dec: Decoder::new(limits),
            out: Vec::new(),
            expect: VecDeque::new(),
            ready: false,
            ping: cfg.ping,
            timeout: cfg.timeout,
            last_input: now,
            ping_sent: None,
        };
        if let Some(pw) = &cfg.password {
            match &cfg.user {
                Some(u) => encode_command(&mut l.out, &[b"AUTH", u.as_bytes(), pw.as_bytes()]),
                None => encode_command(&mut l.out, &[b"AUTH", pw.as_bytes()]),
            }
            l.expect.push_back(Expect::Auth);
        }
        if let Some(db) = cfg.db {
            encode_command(&mut l.out, &[b"SELECT", db.to_string().as_bytes()]);
            l.expect.push_back(Expect::Select);
        }
        l
    }

    /// Whether the set-up is through (at once when there is none: call
    /// [`Link::input`] with no bytes to hear `Ready`).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    pub(crate) fn publish(&mut self, channel: &[u8], payload: &[u8]) {
        encode_command(&mut self.out, &[b"PUBLISH", channel, payload]);
        self.expect.push_back(Expect::Publish);
    }

    /// SUBSCRIBE (`on`) or UNSUBSCRIBE `channels`, [`BATCH`] per command.
    pub(crate) fn subscribe(&mut self, on: bool, channels: &[&[u8]]) {
        for chunk in channels.chunks(BATCH) {
            let mut args: Vec<&[u8]> = Vec::with_capacity(chunk.len() + 1);
            args.push(if on { b"SUBSCRIBE" } else { b"UNSUBSCRIBE" });
            args.extend_from_slice(chunk);
            encode_command(&mut self.out, &args);
        }
    }

    /// Bytes to write.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    pub(crate) fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Bytes read at `now` (none: only look whether the set-up is through).
    pub(crate) fn input(&mut self, bytes: &[u8], now: Instant, events: &mut Vec<Event>) -> Result<(), Broken> {
        if !bytes.is_empty() {
            self.last_input = now;
            self.ping_sent = None;
            self.dec.feed(bytes);
        }
        loop {
            if !self.ready && !self.expect.iter().any(|e| matches!(e, Expect::Auth | Expect::Select)) {
                self.ready = true;
                events.push(Event::Ready);
            }
            let v = match self.dec.next_value() {
                Ok(Some(v)) => v,
                Ok(None) => return Ok(()),
                Err(e) => return Err(Broken::Protocol(e.to_string())),
            };
            self.value(v, events)?;
        }
    }

    fn value(&mut self, v: Value, events: &mut Vec<Event>) -> Result<(), Broken> {
        // A subscribing connection's pushes: arrays whose first element names them.
        if let Value::Array(items) = &v {
            let kind = items.first().and_then(Value::as_bytes).unwrap_or_default();
            let bulk = |i: usize| items.get(i).and_then(Value::as_bytes).map(<[u8]>::to_vec);
            match (kind, items.len()) {
                (b"message", 3) => {
                    let (Some(ch), Some(data)) = (bulk(1), bulk(2)) else {
                        return Err(Broken::Protocol("a message push without its channel or data".into()));
                    };
                    events.push(Event::Message(ch, data));
                    return Ok(());
                }
                (b"subscribe", 3) | (b"unsubscribe", 3) => {
                    let Some(ch) = bulk(1) else {
                        return Err(Broken::Protocol("a subscription push without its channel".into()));
                    };
                    events.push(if kind == b"subscribe" { Event::Subscribed(ch) } else { Event::Unsubscribed(ch) });
                    return Ok(());
                }
                // PING on a subscribed connection: ["pong", ""].
                (b"pong", 2) if self.expect.front() == Some(&Expect::Ping) => {
                    self.expect.pop_front();
                    return Ok(());
                }
                _ => {}
            }
        }
        let Some(e) = self.expect.pop_front() else {
            return Err(Broken::Protocol(format!("a reply nobody asked for: {v:?}")));
        };
        match (e, v) {
            (Expect::Auth | Expect::Select, Value::Simple(_)) => Ok(()),
            (Expect::Auth | Expect::Select, Value::Error(s)) => Err(Broken::Refused(text(&s))),
            (Expect::Publish, Value::Integer(n)) => {
                events.push(Event::Published(n));
                Ok(())
            }
            (Expect::Ping, Value::Simple(s)) if s == b"PONG" => Ok(()),
            // A subscribing connection's errors (a SUBSCRIBE refused by
            // an ACL) and anything else out of place break it: resubscribing
            // on a new connection is the one repair.
            (e, v) => Err(Broken::Protocol(format!("{v:?} in answer to {e:?}"))),
        }
    }

    /// Time passed: a PING after `ping` of silence, broken after `timeout`
    /// more. Returns when to look again.
    pub(crate) fn tick(&mut self, now: Instant) -> Result<Instant, Broken> {
        if let Some(sent) = self.ping_sent {
            if now.saturating_duration_since(sent) >= self.timeout {
                return Err(Broken::Silent);
            }
            return Ok(sent + self.timeout);
        }
        let due = self.last_input + self.ping;
        if now < due {
            return Ok(due);
        }
        encode_command(&mut self.out, &[b"PING"]);
        self.expect.push_back(Expect::Ping);
        self.ping_sent = Some(now);
        Ok(now + self.timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Config {
        Config::parse(url).unwrap()
    }

    fn feed(l: &mut Link, b: &[u8], now: Instant) -> Result<Vec<Event>, Broken> {
        let mut ev = Vec::new();
        l.input(b, now, &mut ev).map(|()| ev)
    }

    #[test]
    fn auth_select_then_ready() {
        let t = Instant::now();
        let mut l = Link::new(Role::Publish, &cfg("redis://u:pw@h/3"), t);
        assert_eq!(l.take_output(), b"*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n");
        assert_eq!(feed(&mut l, b"", t), Ok(vec![]));
        l.publish(b"sq:a", b"x");
        assert_eq!(feed(&mut l, b"+OK\r\n", t), Ok(vec![]));
        assert!(!l.is_ready());
        assert_eq!(feed(&mut l, b"+OK\r\n:2\r\n", t), Ok(vec![Event::Ready, Event::Published(2)]));
        let mut plain = Link::new(Role::Publish, &cfg("redis://h"), t);
        assert!(plain.take_output().is_empty());
        assert_eq!(feed(&mut plain, b"", t), Ok(vec![Event::Ready]));
    }

    #[test]
    fn wrong_password_is_refused() {
        let t = Instant::now();
        let mut l = Link::new(Role::Subscribe, &cfg("redis://:bad@h"), t);
        let r = feed(&mut l, b"-WRONGPASS invalid username-password pair\r\n", t);
        assert!(matches!(r, Err(Broken::Refused(ref s)) if s.starts_with("WRONGPASS")), "{r:?}");
    }

    #[test]
    fn pushes() {
        let t = Instant::now();
        let mut l = Link::new(Role::Subscribe, &cfg("redis://h"), t);
        feed(&mut l, b"", t).unwrap();
        let chans: Vec<Vec<u8>> = (0..BATCH + 1).map(|i| format!("p:{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = chans.iter().map(Vec::as_slice).collect();
        l.subscribe(true, &refs);
        let out = l.take_output();
        assert!(out.starts_with(format!("*{}\r\n$9\r\nSUBSCRIBE\r\n", BATCH + 1).as_bytes()), "batches of {BATCH}");
        assert!(out.ends_with(b"*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\np:512\r\n"));
        let ev = feed(
            &mut l,
            b"*3\r\n$9\r\nsubscribe\r\n$3\r\np:0\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$3\r\np:0\r\n$2\r\n\x00\x01\r\n*3\r\n$11\r\nunsubscribe\r\n$3\r\np:0\r\n:0\r\n",
            t,
        )
        .unwrap();
        assert_eq!(
            ev,
            vec![
                Event::Subscribed(b"p:0".to_vec()),
                Event::Message(b"p:0".to_vec(), vec![0, 1]),
                Event::Unsubscribed(b"p:0".to_vec())
            ]
        );
        assert!(feed(&mut l, b":1\r\n", t).is_err(), "a reply nobody asked for");
    }

    #[test]
    fn ping_on_a_virtual_clock() {
        let t0 = Instant::now();
        let c = cfg("redis://h?ping_ms=100&timeout_ms=300");
        let mut l = Link::new(Role::Subscribe, &c, t0);
        feed(&mut l, b"", t0).unwrap();
        assert_eq!(l.tick(t0 + Duration::from_millis(50)), Ok(t0 + Duration::from_millis(100)));
        assert!(!l.has_output());
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.tick(t1), Ok(t1 + Duration::from_millis(300)));
        assert_eq!(l.take_output(), b"*1\r\n$4\r\nPING\r\n");
        // a subscribed connection's pong
        assert_eq!(feed(&mut l, b"*2\r\n$4\r\npong\r\n$0\r\n\r\n", t1), Ok(vec![]));
        let t2 = t1 + Duration::from_millis(100);
        l.tick(t2).unwrap();
        // an unsubscribed one's
        assert_eq!(feed(&mut l, b"+PONG\r\n", t2), Ok(vec![]));
        let t3 = t2 + Duration::from_millis(100);
        l.tick(t3).unwrap();
        assert_eq!(l.tick(t3 + Duration::from_millis(299)), Ok(t3 + Duration::from_millis(300)));
        assert_eq!(l.tick(t3 + Duration::from_millis(300)), Err(Broken::Silent));
    }
}
