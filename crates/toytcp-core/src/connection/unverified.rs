//! The endpoint's receive fast path: a segment whose TCP checksum is
//! verified while its text is copied into the receive buffer (one pass
//! over the payload instead of two; RFC 1071 §2 makes the sum separable).

use super::{Connection, State};
use crate::time::Instant;
use crate::wire::{PendingChecksum, Segment};

impl Connection {
    /// Verifies `seg`'s TCP checksum (its header and pseudo-header already
    /// summed in `check`) and, only if it verifies, processes the segment
    /// like [`handle_segment`](Self::handle_segment). Returns false for a
    /// bad checksum: then nothing visible changed and the caller counts
    /// the packet as malformed.
    ///
    /// Text that starts at RCV.NXT in a state that accepts text is copied
    /// into the receive buffer beyond the readable bytes while it is
    /// summed (`RecvBuffer::stage`); `handle_segment` then finds it in
    /// place. Any other segment's payload is summed on its own first.
    pub(crate) fn handle_unverified(&mut self, now: Instant, seg: &Segment<'_>, check: PendingChecksum) -> bool {
        let in_order = matches!(self.state, State::Established | State::FinWait1 | State::FinWait2)
            && !self.read_closed
            && seg.header.seq == self.rcv_nxt;
        let staged = if in_order { self.recv_buf.stage(seg.payload, check) } else { None };
        let ok = staged.unwrap_or_else(|| check.verify(seg.payload));
        if ok {
            self.handle_segment(now, seg);
        }
        self.recv_buf.unstage();
        ok
    }
}
