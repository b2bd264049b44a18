//! What a message looks like on the broker, and what a receiver keeps to
//! count what it missed. Sans-IO.
//!
//! ```text
//! offset  size  field
//! 0       4     magic "SQC1" (the 1 is the format's version)
//! 4       1     flags: bit 0 = binary (else text, valid UTF-8),
//!               bit 1 = never compress (sent with RSV1 clear: a secret)
//! 5       16    node id: random per cluster object (per process)
//! 21      8     sequence, big-endian: per (node, topic), from 1
//! 29      …     the message
//! ```
//!
//! The sequence counts per topic, not per node: a receiver subscribes to
//! some topics only, so a per-node counter would show every message on a
//! topic it does not hear as a gap. Per (node, topic) a jump is exactly
//! the messages lost, and a repeat is a replay (a publish sent again after
//! a reconnect whose first send Redis had processed), dropped.

use std::collections::HashMap;

pub(crate) const MAGIC: &[u8; 4] = b"SQC1";
pub(crate) const HEADER: usize = 29;

/// A node's identity.
pub(crate) type NodeId = [u8; 16];

/// Prepends the header to `data`.
#[cfg(test)]
pub(crate) fn encode(node: &NodeId, seq: u64, binary: bool, data: &[u8]) -> Vec<u8> {
    encode_with(node, seq, binary, true, data)
}

/// Prepends the header to `data`, `compress` false for a message its
/// receivers must never compress. An older receiver drops such a message
/// (unknown flag bit) rather than compress it.
pub(crate) fn encode_with(node: &NodeId, seq: u64, binary: bool, compress: bool, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(HEADER + data.len());
    v.extend_from_slice(MAGIC);
    v.push(u8::from(binary) | if compress { 0 } else { 2 });
    v.extend_from_slice(node);
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// A decoded envelope, borrowing the message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    pub(crate) node: NodeId,
    pub(crate) seq: u64,
    pub(crate) binary: bool,
    /// False: never compressed on the way to a subscriber.
    pub(crate) compress: bool,
    pub(crate) data: &'a [u8],
}

/// None for anything that is not an envelope of this version (another
/// program's message on the prefix): unknown flag bits, sequence 0, a
/// text message that is not UTF-8.
pub(crate) fn decode(b: &[u8]) -> Option<Envelope<'_>> {
    if b.len() < HEADER || &b[..4] != MAGIC || b[4] > 3 {
        return None;
    }
    let node: NodeId = b[5..21].try_into().ok()?;
    let seq = u64::from_be_bytes(b[21..29].try_into().ok()?);
    let binary = b[4] & 1 == 1;
    let compress = b[4] & 2 == 0;
    let data = &b[HEADER..];
    if seq == 0 || !binary && std::str::from_utf8(data).is_err() {
        return None;
    }
    Some(Envelope { node, seq, binary, compress, data })
}

/// What a receiver makes of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The next one (or the first heard from that publisher on the topic).
    InOrder,
    /// After this many lost ones.
    Gap(u64),
    /// Already delivered: drop it.
    Repeat,
}

/// The last sequence per (publisher, topic) this process delivered.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    last: HashMap<Box<str>, HashMap<NodeId, u64>>,
}

impl Tracker {
    pub(crate) fn see(&mut self, topic: &str, node: &NodeId, seq: u64) -> Seen {
        let nodes = match self.last.get_mut(topic) {
            Some(n) => n,
            None => self.last.entry(topic.into()).or_default(),
        };
        match nodes.get_mut(node) {
            None => {
                nodes.insert(*node, seq);
                Seen::InOrder
            }
            Some(last) if seq <= *last => Seen::Repeat,
            Some(last) => {
                let lost = seq - *last - 1;
                *last = seq;
                if lost == 0 { Seen::InOrder } else { Seen::Gap(lost) }
            }
        }
    }

    /// The process no longer hears `topic`: what it missed meanwhile is no
    /// loss, so the next message starts afresh.
    pub(crate) fn forget(&mut self, topic: &str) {
        self.last.remove(topic);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_junk() {
        let node = [7u8; 16];
        let e = encode(&node, 42, true, b"\x00\xff");
        assert_eq!(e.len(), HEADER + 2);
        assert_eq!(decode(&e), Some(Envelope { node, seq: 42, binary: true, compress: true, data: b"\x00\xff" }));
        let secret = encode_with(&node, 43, false, false, b"token");
        assert_eq!(decode(&secret), Some(Envelope { node, seq: 43, binary: false, compress: false, data: b"token" }));
        let t = encode(&node, 1, false, "héllo".as_bytes());
        assert_eq!(decode(&t).unwrap().data, "héllo".as_bytes());
        assert!(decode(&encode(&node, 1, false, b"\xff")).is_none(), "text not UTF-8");
        assert!(decode(&encode(&node, 0, true, b"")).is_none(), "sequence 0");
        assert!(decode(b"hello").is_none());
        assert!(decode(&e[..HEADER - 1]).is_none());
        let mut f = e.clone();
        f[4] = 4;
        assert!(decode(&f).is_none(), "unknown flags");
        let mut m = e;
        m[3] = b'2';
        assert!(decode(&m).is_none(), "another version");
    }

    #[test]
    fn gaps_and_repeats() {
        let (a, b) = ([1u8; 16], [2u8; 16]);
        let mut t = Tracker::default();
        assert_eq!(t.see("room", &a, 5), Seen::InOrder, "first heard");
        assert_eq!(t.see("room", &a, 6), Seen::InOrder);
        assert_eq!(t.see("room", &b, 1), Seen::InOrder, "publishers are apart");
        assert_eq!(t.see("room", &a, 9), Seen::Gap(2));
        assert_eq!(t.see("room", &a, 9), Seen::Repeat);
        assert_eq!(t.see("room", &a, 3), Seen::Repeat);
        assert_eq!(t.see("other", &a, 100), Seen::InOrder, "topics are apart");
        t.forget("room");
        assert_eq!(t.see("room", &a, 20), Seen::InOrder, "a new subscription starts afresh");
    }
}
