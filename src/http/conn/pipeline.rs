//! Pipeline order: requests of one connection are answered in the order
//! they came, whichever thread finishes them; output moves from the oldest
//! requests' outboxes to the connection's output queue as it becomes due.

use std::collections::VecDeque;

use super::{Conn, OutItem};
use crate::http::request::{OutputReady, apply_output, take_immediate};
use crate::reactor::Reactor;

impl Conn {
    /// Too many requests in flight: stop decoding new ones until some finish.
    /// Too much body held by the requests in flight: the same.
    pub(super) fn cap_pipeline(&mut self) {
        if self.inflight.len() >= self.max_pipeline as usize {
            self.pauses.pipeline_full = true;
        }
        if self.bodies_in_flight() > self.flow.high {
            self.pauses.bodies_held = true;
        }
    }

    /// Body bytes the requests in flight hold (buffered bodies; a streamed
    /// body is counted by its own gate).
    fn bodies_in_flight(&self) -> usize {
        self.inflight.iter().filter_map(|f| f.req.as_ref()).map(|r| r.data.body.len()).sum()
    }

    /// Applies output produced on this thread by handlers.
    pub(super) fn apply_immediate(&mut self, r: &mut Reactor) {
        loop {
            let batch = take_immediate();
            if batch.is_empty() {
                return;
            }
            for output in batch {
                if output.conn.token == self.token && output.conn.generation == self.generation {
                    self.take_output(r, output);
                } else {
                    apply_output(r, output);
                }
            }
        }
    }

    pub(super) fn take_output(&mut self, r: &mut Reactor, output: OutputReady) {
        let Some(index) = output.seq.checked_sub(self.write_seq) else { return };
        let Some(slot) = self.inflight.get_mut(index as usize) else { return };
        let Some(req) = slot.req.as_ref() else { return };
        let (bytes, done, close) = req.take_outbox();
        crate::http::request::append_bytes(&mut slot.out, bytes);
        slot.done |= done;
        slot.close |= close;
        self.pump(r);
    }

    /// Moves finished (and streaming) output of the oldest requests, in
    /// order, to the output queue.
    pub(super) fn pump(&mut self, r: &mut Reactor) {
        let mut wrote = false;
        while let Some(front) = self.inflight.front_mut() {
            let bytes = std::mem::take(&mut front.out);
            let done = front.done;
            // the handler's status, or the one in a made response's head (a
            // made response is done from the start: its head is in `bytes`)
            let status = if done { front.status(&bytes) } else { 0 };
            if !bytes.is_empty() {
                self.push_bytes(bytes);
                wrote = true;
            }
            if !done {
                break;
            }
            let f = self.inflight.pop_front().expect("front exists");
            if let Some(file) = f.file {
                self.out_bytes += usize::try_from(file.remaining).unwrap_or(usize::MAX);
                self.out.push_back(OutItem::File(file));
                wrote = true;
            }
            // its latency ends when the output written passes what is queued now
            if !cfg!(feature = "bench-metrics-off") {
                self.ends.push_back((self.written + self.out_bytes as u64, f.since));
            }
            self.count(crate::metrics::status_counter(status), 1);
            self.write_seq += 1;
            if f.close {
                // Nothing after a closing response is written.
                self.close_after_output();
                self.stop_taking_requests();
                self.abandon_inflight();
                break;
            }
        }
        if wrote {
            self.publish_backlog();
            self.mark_dirty(r);
            if self.out_bytes > self.flow.high {
                self.pauses.output_backlog = true;
            }
        }
        if self.pauses.pipeline_full && self.inflight.len() < self.max_pipeline as usize && self.takes_requests() {
            self.pauses.pipeline_full = false;
            // Not from here: pump may run in the middle of a decode.
            self.pauses.ended = true;
        }
        if self.pauses.bodies_held && self.bodies_in_flight() < self.flow.low && self.takes_requests() {
            self.pauses.bodies_held = false;
            self.pauses.ended = true;
        }
        self.after_response(r);
    }

    /// When nothing is in flight: the connection is idle (its keep-alive
    /// timeout runs), or, if it reads no more requests, it closes once the
    /// output is written.
    pub(super) fn after_response(&mut self, r: &mut Reactor) {
        if self.inflight.is_empty() && self.current.is_none() {
            self.decoder.on_response_done(r.now_ms());
            // Idle from here: keep no queue capacity around.
            self.inflight = VecDeque::new();
            if !self.takes_requests() {
                self.close_after_output();
            }
        }
    }

    /// A request the client will never see answered: tell its handler.
    pub(super) fn abandon_inflight(&mut self) {
        for f in self.inflight.drain(..) {
            if let Some(req) = f.req {
                req.mark_closed();
            }
        }
    }
}
