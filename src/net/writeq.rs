//! Writing a queue of buffers with `writev`: what the WebSocket connection
//! and the raw TCP stream both do with their output.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

/// Buffers handed to one `writev` at most.
pub(crate) const MAX_IOV: usize = 64;

/// Writes `out` (its first buffer from `*pos` on) through `writev` until it
/// is empty or the socket is full, popping what was written. Returns the
/// bytes written and how it stopped: `Ok` (all written, or `WouldBlock`),
/// or the error that ends the connection (`WriteZero` for a 0-byte write).
pub(crate) fn write_queue<T: AsRef<[u8]>>(
    out: &mut VecDeque<T>,
    pos: &mut usize,
    mut writev: impl FnMut(&[IoSlice<'_>]) -> io::Result<usize>,
) -> (usize, io::Result<()>) {
    let mut total = 0;
    while !out.is_empty() {
        let mut slices: [IoSlice<'_>; MAX_IOV] = std::array::from_fn(|_| IoSlice::new(&[]));
        let mut count = 0;
        for (i, o) in out.iter().take(MAX_IOV).enumerate() {
            let b = o.as_ref();
            slices[count] = IoSlice::new(if i == 0 { &b[*pos..] } else { b });
            count += 1;
        }
        match writev(&slices[..count]) {
            Ok(0) => return (total, Err(io::ErrorKind::WriteZero.into())),
            Ok(mut n) => {
                total += n;
                while n > 0 {
                    let left = out.front().expect("written bytes come from queued output").as_ref().len() - *pos;
                    if n >= left {
                        n -= left;
                        out.pop_front();
                        *pos = 0;
                    } else {
                        *pos += n;
                        n = 0;
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (total, Err(e)),
        }
    }
    (total, Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_pop_exactly_what_went_out() {
        let mut out: VecDeque<Vec<u8>> = [b"abc".to_vec(), Vec::new(), b"defg".to_vec()].into();
        let mut pos = 0;
        let mut sink = Vec::new();
        let budget = [2usize, 3, 0];
        let mut call = 0;
        let (n, r) = write_queue(&mut out, &mut pos, |bufs| {
            let allow = budget.get(call).copied().unwrap_or(0);
            call += 1;
            if allow == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let mut left = allow;
            for b in bufs {
                let k = left.min(b.len());
                sink.extend_from_slice(&b[..k]);
                left -= k;
            }
            Ok(allow - left)
        });
        assert!(r.is_ok());
        assert_eq!((n, sink.as_slice(), pos, out.len()), (5, &b"abcde"[..], 2, 1));
        let (n, r) = write_queue(&mut out, &mut pos, |_| Ok(0));
        assert_eq!((n, r.unwrap_err().kind()), (0, io::ErrorKind::WriteZero));
    }
}

/// What a send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    Queued,
    /// Queued, with more than the high-water mark buffered: the host
    /// should wait for `on_drain`.
    Backpressure,
}
