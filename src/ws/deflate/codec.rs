//! The per-message compressor and inflater of permessage-deflate (RFC 7692
//! §7.2): inflated over flate2 with its zlib-rs backend (the only pure-Rust backend
//! that honours window bits; miniz ignores them).
//!
//! A message is compressed with a sync flush and the flush's trailing
//! `00 00 ff ff` is taken off; an inflater puts it back after the message's
//! last frame. Without context takeover each side resets after every
//! message. The inflater writes into the caller's buffer and never lets it
//! grow past the caller's limit (plus one byte, to see that it would): a
//! small frame that inflates to gigabytes is refused once the limit is
//! passed, having cost at most the limit.

use flate2::{Decompress, FlushDecompress, Status};

/// The sync flush's empty stored block that ends every message on the wire
/// without its last four bytes (RFC 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The most the inflater writes in one step (the output grows by this much
/// at a time, never past the limit).
const STEP: usize = 16 * 1024;

/// One direction's compressor (zlib-rs itself: flate2 has no memory level).
pub(crate) struct Deflater {
    c: zlib_rs::Deflate,
    takeover: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").field("takeover", &self.takeover).finish_non_exhaustive()
    }
}

/// zlib's default compression level and memory level.
pub(crate) const DEFAULT_LEVEL: u8 = 6;
pub(crate) const DEFAULT_MEM_LEVEL: u8 = 8;

impl Deflater {
    /// A raw-deflate compressor with a window of `window_bits` (clamped to
    /// 9..=15) that keeps its history between messages if `takeover`, at
    /// zlib's default level and memory level.
    pub(crate) fn new(window_bits: u8, takeover: bool) -> Deflater {
        Deflater::with_levels(window_bits, takeover, DEFAULT_LEVEL, DEFAULT_MEM_LEVEL)
    }

    /// As `new`, with a compression `level` (0..=9) and a memory level
    /// (1..=9: the hash table is 2^(mem_level + 7) entries, zlib's own
    /// meaning), each clamped to its range.
    pub(crate) fn with_levels(window_bits: u8, takeover: bool, level: u8, mem_level: u8) -> Deflater {
        let config = zlib_rs::DeflateConfig {
            level: i32::from(level.min(9)),
            // Negative: a raw stream, without zlib's header and checksum.
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            ..zlib_rs::DeflateConfig::default()
        };
        Deflater { c: zlib_rs::Deflate::new_with_config(config), takeover }
    }

    /// One message's payload compressed (tail taken off), or `None` when
    /// that is not smaller than `data`: the message then goes out as it is,
    /// and the compressor is reset, since its history now holds bytes the
    /// peer never saw (a reset is always safe: the peer's window just goes
    /// unused).
    pub(crate) fn compress(&mut self, data: &[u8]) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::with_capacity(data.len() / 2 + 64);
        let mut consumed = 0usize;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let (in0, out0) = (self.c.total_in(), self.c.total_out());
            let r = self.c.compress_uninit(&data[consumed..], out.spare_capacity_mut(), zlib_rs::DeflateFlush::SyncFlush);
            let produced = usize::try_from(self.c.total_out() - out0).unwrap_or(usize::MAX);
            // SAFETY: zlib-rs initialised the `produced` bytes it wrote
            // into the spare capacity (its contract for `compress_uninit`).
            unsafe { out.set_len(out.len() + produced) };
            if r.is_err() {
                self.c.reset();
                return None;
            }
            consumed += usize::try_from(self.c.total_in() - in0).unwrap_or(usize::MAX);
            // A sync flush is complete when it left room in the output.
            if consumed >= data.len() && out.len() < out.capacity() {
                break;
            }
        }
        let ok = out.ends_with(&TAIL);
        out.truncate(out.len().saturating_sub(TAIL.len()));
        if !ok || out.len() >= data.len() {
            self.c.reset();
            return None;
        }
        if !self.takeover {
            self.c.reset();
        }
        Some(out)
    }

    /// Forgets the history (the next message refers to nothing before it):
    /// after the connection was sent a frame another compressor made.
    pub(crate) fn reset(&mut self) {
        self.c.reset();
    }
}

/// Why inflating stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message inflates past the limit (close 1009).
    TooBig,
    /// Not a valid deflate stream, or data after its final block (close 1007).
    Corrupt,
}

/// One direction's inflater.
pub(crate) struct Inflater {
    d: Decompress,
    takeover: bool,
    /// The stream ended (a block with BFINAL): the rest of the message must
    /// be empty, and the next message starts a new stream.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("takeover", &self.takeover).field("ended", &self.ended).finish_non_exhaustive()
    }
}

impl Inflater {
    /// A raw-deflate inflater with a window of `window_bits` (clamped to
    /// 9..=15) that keeps its history between messages if `takeover`.
    pub(crate) fn new(window_bits: u8, takeover: bool) -> Inflater {
        Inflater { d: Decompress::new_with_window_bits(false, window_bits.clamp(9, 15)), takeover, ended: false }
    }

    /// Inflates the next piece of a message's compressed payload onto
    /// `out`, which never grows past `limit` bytes: `TooBig` as soon as the
    /// message would.
    pub(crate) fn feed(&mut self, input: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let mut pos = 0;
        loop {
            if self.ended {
                return if pos < input.len() { Err(InflateError::Corrupt) } else { Ok(()) };
            }
            let len = out.len();
            if len > limit {
                return Err(InflateError::TooBig);
            }
            // One byte past the limit is room enough to see it passed.
            let room = (limit - len).saturating_add(1).min(STEP);
            out.reserve_exact(room);
            out.resize(len + room, 0);
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self.d.decompress(&input[pos..], &mut out[len..], FlushDecompress::None);
            let produced = usize::try_from(self.d.total_out() - out0).unwrap_or(usize::MAX);
            let consumed = usize::try_from(self.d.total_in() - in0).unwrap_or(usize::MAX);
            out.truncate(len + produced);
            pos += consumed;
            // Output that passed the limit came before any error found in
            // the same step: the limit is reported first, as it would be
            // had the input come in smaller pieces.
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            match status {
                Err(_) => return Err(InflateError::Corrupt),
                Ok(Status::StreamEnd) => self.ended = true,
                Ok(Status::Ok) | Ok(Status::BufError) => {}
            }
            // Done when the input is used up and the output was not filled
            // (nothing left pending inside), or when no progress is possible.
            if (pos >= input.len() && produced < room) || (produced == 0 && consumed == 0) {
                return Ok(());
            }
        }
    }

    /// The message's last frame has been fed: puts the flush tail back
    /// (its output counts against the same limit), then resets for the
    /// next message when there is no context takeover or the stream ended.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), InflateError> {
        let r = if self.ended { Ok(()) } else { self.feed(&TAIL, out, limit) };
        if r.is_err() || !self.takeover || self.ended {
            self.reset();
        }
        r
    }

    /// Forgets the history and any message in progress.
    pub(crate) fn reset(&mut self) {
        // Decompress::reset keeps the window bits it was made with.
        self.d.reset(false);
        self.ended = false;
    }
}

#[cfg(test)]
mod tests;
