//! One TCP connection: the RFC 9293 state machine with its buffers,
//! retransmission, flow control and congestion control.
//!
//! A [`Connection`] is driven purely through its methods, in four groups
//! (quinn-proto style):
//!
//! - **getters** (`&self`): [`state`](Connection::state),
//!   [`stats`](Connection::stats), [`four_tuple`](Connection::four_tuple), …
//! - **inputs**: [`handle_segment`](Connection::handle_segment) and
//!   [`handle_timeout`](Connection::handle_timeout). They never fail for
//!   what the peer did: bad segments are counted, dropped or answered as
//!   the RFCs say. A spurious `handle_timeout` is a no-op.
//! - **application calls**: [`send`](Connection::send),
//!   [`recv`](Connection::recv), [`shutdown`](Connection::shutdown),
//!   [`close`](Connection::close), [`abort`](Connection::abort), option
//!   setters. Local misuse is a typed [`Error`].
//! - **outputs**, drained after every input or application call, in this
//!   order: [`poll_transmit`](Connection::poll_transmit) until `None`, then
//!   [`poll_timeout`](Connection::poll_timeout), then
//!   [`poll_event`](Connection::poll_event).
//!
//! Names follow RFC 9293 §3.3.1. One deliberate addition: `snd_max`, the
//! highest sequence number sent so far, because after a retransmission
//! timeout `snd_nxt` is pulled back to `snd_una` (go-back-N) while ACKs up
//! to `snd_max` stay acceptable.

mod autotune;
mod counters;
mod events;
mod icmp;
mod input;
mod loss;
mod output;
mod timers;
mod types;
mod unverified;

pub use crate::config::{ConnectionConfig, Keepalive};
pub use icmp::{IcmpOutcome, MIN_PATH_MTU};
pub use types::{CloseReason, Event, FourTuple, SoftError, State, Stats};

use crate::congestion::{CongestionControl, Controller};
use crate::error::Error;
use crate::reassembly::RecvBuffer;
use crate::rtt::RttEstimator;
use crate::sendbuf::SendBuffer;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::Segment;
use std::sync::Arc;
use timers::Timers;

/// The MSS assumed when the peer's SYN carries none (RFC 9293 §3.7.1).
const DEFAULT_PEER_MSS: u16 = 536;

/// One TCP connection. See the [module documentation](self) for the
/// method groups and the order in which outputs are drained.
/// Fields are laid out by hand (`repr(C)`), those most segments touch
/// first and the rarely used ones last, so that with thousands of
/// connections a segment touches as few cache lines of its connection as
/// possible (BENCHMARKS.md §2). The rarely used tail is ordered by
/// alignment so that it leaves no padding holes.
#[derive(Debug)]
#[repr(C)]
pub struct Connection {
    tuple: FourTuple,
    state: State,
    ts_ok: bool,
    sack_ok: bool,
    /// Window scaling agreed (both SYNs carried the option, RFC 7323 §2.2).
    ws_ok: bool,
    /// Shift applied to the peer's window field (RFC 7323 §2).
    snd_wscale: u8,
    /// Our window-scale shift, applied to what we advertise.
    rcv_wscale: u8,
    /// An ACK must go out on the next `poll_transmit`.
    ack_now: bool,
    /// The application shut down its write side; our FIN follows the buffered data.
    fin_queued: bool,
    /// The peer's FIN has been consumed (`rcv_nxt` moved past it).
    fin_received: bool,
    /// The application closed its read side too (`close`).
    read_closed: bool,
    readable_signalled: bool,
    writable_wanted: bool,
    in_recovery: bool,
    /// Retransmit one segment at snd_una regardless of cwnd (fast retransmit, partial ACK).
    rexmit_pending: bool,
    /// A zero-window probe or keepalive probe is due.
    probe_due: bool,
    /// A SYN (or SYN-ACK) must be (re)sent.
    syn_due: bool,
    /// Send one small segment despite sender SWS avoidance (override timer fired).
    force_send: bool,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Highest sequence number sent plus one.
    snd_max: SeqNum,
    /// The peer's window, already scaled.
    snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    /// Largest window the peer has offered (RFC 9293 §3.8.6.2.1, and RFC 5961 §5.2 MAX.SND.WND).
    max_snd_wnd: u32,
    /// Sequence number of the first byte in the send buffer.
    snd_buf_seq: SeqNum,
    /// Effective send MSS: payload bytes per full segment (RFC 9293 §3.7.1).
    smss: u32,
    rcv_nxt: SeqNum,
    /// Right edge of the window we have advertised (never moves left, RFC 9293 §3.8.6.2.2).
    rcv_adv: SeqNum,
    /// Largest payload seen from the peer, the receiver's MSS estimate for delayed ACKs.
    rcv_mss: u32,
    /// TS.Recent and when it was set (RFC 7323 §4.3, §5.5).
    ts_recent: u32,
    /// Added to our millisecond clock to form TSval.
    ts_offset: u32,
    /// The ACK field of the last segment we sent (Last.ACK.sent, RFC 7323 §4.3).
    last_ack_sent: SeqNum,
    /// In-order bytes received since our last ACK (delayed ACK, RFC 9293 §3.8.6.3).
    unacked_bytes: u32,
    dupacks: u32,
    /// How far the last ACK that moved SND.UNA moved it (highest_ack −
    /// prev_highest_ack of RFC 6582 §4.2, for the ACK heuristic).
    last_advance: u32,
    /// Consecutive retransmission-timer expirations without progress.
    retries: u32,
    /// New data sent by limited transmit (RFC 3042) since SND.UNA last
    /// advanced; left out of FlightSize when fast retransmit sets ssthresh
    /// (RFC 5681 §3.2 step 2).
    limited_transmit_bytes: u32,
    /// NewReno `recover`: snd_max when recovery (or an RTO) began (RFC 6582 §3.2).
    recover: SeqNum,
    /// Shared with every connection of the endpoint (one copy, not one per
    /// connection); the option setters copy it on first write.
    config: Arc<ConnectionConfig>,
    ts_recent_age: Instant,
    last_recv: Instant,
    /// Since when the oldest unacknowledged data has been waiting for its
    /// ACK: its first transmission, or the last ACK that advanced (user timeout).
    stalled_since: Option<Instant>,
    send_buf: SendBuffer,
    recv_buf: RecvBuffer,
    timers: Timers,
    /// The congestion controller, held inline (an enum: no heap allocation
    /// or pointer chase per connection).
    cc: Controller,
    /// SACK scoreboard, transmission log, RACK-TLP, PRR and undo state
    /// (`loss.rs`).
    loss: loss::LossState,
    events: events::EventQueue,
    rtt: RttEstimator,
    stats: counters::Counters,
    /// Unanswered zero-window probes (reset by any acceptable ACK).
    probes_unanswered: u32,
    persist_backoff: u32,
    keepalive_unanswered: u32,
    challenge_count: u32,
    iss: SeqNum,
    irs: SeqNum,
    /// Sequence number of the peer's FIN, once seen (possibly ahead of `rcv_nxt`).
    peer_fin: Option<SeqNum>,
    /// Karn-safe RTT timing of one segment when timestamps are off: (end seq, sent at).
    rtt_probe: Option<(SeqNum, Instant)>,
    /// Stream offsets of the most recent out-of-order inserts, newest
    /// first: the first's range is the first SACK block, the others' the
    /// blocks repeated after it (RFC 2018 §4). Boxed on the first
    /// out-of-order arrival: most connections never need it.
    sack_recent: Option<Box<[Option<u64>; 4]>>,
    challenge_window_start: Instant,
    /// Receive-buffer autotuning: when the current measurement of the
    /// application's reads began (`autotune.rs`).
    drs_time: Instant,
    /// ... and the stream offset (low 32 bits) read by then.
    drs_read: u32,
    /// Receiver RTT estimate from the timestamp echo of data segments, in
    /// microseconds (0: none yet).
    rcv_rtt_us: u32,
    /// A duplicate segment to report as the first SACK block of the next
    /// ACK (D-SACK, RFC 2883 §4).
    dsack_out: Option<(SeqNum, SeqNum)>,
    /// A RST to emit: (SEQ, ACK for a RST+ACK). Set when aborting and when
    /// answering an unacceptable ACK in SYN-SENT / SYN-RECEIVED.
    rst_out: Option<(SeqNum, Option<SeqNum>)>,
    /// Opened by a listener (a reset in SYN-RECEIVED then just drops it).
    passive: bool,
    /// A retransmission timer fired during the handshake (RFC 6298 §5.7).
    syn_retransmitted: bool,
    close_reason: Option<CloseReason>,
}

impl Connection {
    fn new(now: Instant, config: Arc<ConnectionConfig>, tuple: FourTuple, iss: SeqNum, ts_offset: u32) -> Self {
        let smss = u32::from(config.mss).max(64);
        // Drained buffers keep their storage until the release timer frees
        // it (timers.rs, `BUFFER_RELEASE_DELAY`).
        let mut send_buf = SendBuffer::new(config.send_buffer);
        send_buf.set_retain_when_empty(usize::MAX);
        let mut recv_buf = RecvBuffer::new(config.recv_buffer, config.max_ooo_ranges);
        recv_buf.set_retain_when_empty(usize::MAX);
        Connection {
            tuple,
            state: State::Closed,
            passive: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: iss,
            max_snd_wnd: 0,
            snd_wscale: 0,
            snd_buf_seq: iss + 1,
            smss,
            irs: SeqNum(0),
            rcv_nxt: SeqNum(0),
            rcv_wscale: 0,
            rcv_adv: SeqNum(0),
            rcv_mss: 536.min(smss),
            ws_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_age: now,
            ts_offset,
            last_ack_sent: SeqNum(0),
            send_buf,
            recv_buf,
            fin_queued: false,
            peer_fin: None,
            fin_received: false,
            read_closed: false,
            timers: Timers::default(),
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            rtt_probe: None,
            retries: 0,
            stalled_since: None,
            probes_unanswered: 0,
            persist_backoff: 0,
            keepalive_unanswered: 0,
            last_recv: now,
            cc: Controller::new(&config, smss),
            dupacks: 0,
            last_advance: 0,
            limited_transmit_bytes: 0,
            in_recovery: false,
            recover: iss,
            rexmit_pending: false,
            loss: loss::LossState::new(),
            ack_now: false,
            unacked_bytes: 0,
            sack_recent: None,
            dsack_out: None,
            probe_due: false,
            syn_due: false,
            rst_out: None,
            force_send: false,
            syn_retransmitted: false,
            challenge_window_start: now,
            drs_time: now,
            drs_read: 0,
            rcv_rtt_us: 0,
            challenge_count: 0,
            events: events::EventQueue::default(),
            readable_signalled: false,
            writable_wanted: false,
            close_reason: None,
            stats: counters::Counters::default(),
            config,
        }
    }

    /// Active open (RFC 9293 §3.10.1): a connection in SYN-SENT whose SYN
    /// goes out on the next `poll_transmit`. `iss` comes from the endpoint's
    /// RFC 6528 generator; `ts_offset` is added to the millisecond clock to
    /// form TSval.
    pub fn connect(now: Instant, config: &ConnectionConfig, tuple: FourTuple, iss: SeqNum, ts_offset: u32) -> Self {
        Connection::connect_shared(now, Arc::new(config.clone()), tuple, iss, ts_offset)
    }

    /// [`connect`](Self::connect) with a configuration shared by many
    /// connections (an [`Endpoint`](crate::Endpoint) shares one).
    pub fn connect_shared(
        now: Instant,
        config: Arc<ConnectionConfig>,
        tuple: FourTuple,
        iss: SeqNum,
        ts_offset: u32,
    ) -> Self {
        let mut conn = Connection::new(now, config, tuple, iss, ts_offset);
        conn.set_state(State::SynSent);
        conn.syn_due = true;
        conn
    }

    /// Passive open: what a listener does with an acceptable SYN (RFC 9293
    /// §3.10.7.2, "third, check for a SYN"). The caller has already checked
    /// that `syn` carries SYN without ACK or RST. The connection starts in
    /// SYN-RECEIVED with its SYN-ACK due.
    pub fn accept(now: Instant, config: &ConnectionConfig, syn: &Segment<'_>, iss: SeqNum, ts_offset: u32) -> Self {
        Connection::accept_shared(now, Arc::new(config.clone()), syn, iss, ts_offset)
    }

    /// [`accept`](Self::accept) with a configuration shared by many
    /// connections (an [`Endpoint`](crate::Endpoint) shares one).
    pub fn accept_shared(
        now: Instant,
        config: Arc<ConnectionConfig>,
        syn: &Segment<'_>,
        iss: SeqNum,
        ts_offset: u32,
    ) -> Self {
        let tuple = FourTuple {
            local: core::net::SocketAddrV4::new(syn.dst_addr, syn.header.dst_port),
            remote: core::net::SocketAddrV4::new(syn.src_addr, syn.header.src_port),
        };
        let mut conn = Connection::new(now, config, tuple, iss, ts_offset);
        conn.passive = true;
        conn.state = State::Listen;
        conn.stats.segs_in += 1;
        conn.last_recv = now;
        conn.take_syn_options(syn);
        conn.irs = syn.header.seq;
        conn.rcv_nxt = syn.header.seq + 1;
        conn.init_rcv_window();
        // The SYN's window is never scaled (RFC 7323 §2.2).
        conn.snd_wnd = u32::from(syn.header.window);
        conn.max_snd_wnd = conn.snd_wnd;
        conn.snd_wl1 = syn.header.seq;
        conn.snd_wl2 = iss;
        conn.set_state(State::SynReceived);
        conn.syn_due = true;
        conn
    }

    // ----- getters -------------------------------------------------------

    /// The current RFC 9293 state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The connection's addresses.
    pub fn four_tuple(&self) -> FourTuple {
        self.tuple
    }

    /// Counters and current estimator/window values.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.snapshot();
        s.srtt = self.rtt.srtt();
        s.rttvar = self.rtt.rttvar();
        s.rto = self.rtt.rto();
        s.cwnd = self.cc.cwnd();
        s.ssthresh = self.cc.ssthresh();
        s.smss = self.smss;
        s.snd_wnd = self.snd_wnd;
        s.rcv_wnd = self.rcv_adv - self.rcv_nxt;
        s
    }

    /// True once the connection has reached CLOSED (after TIME-WAIT, a reset,
    /// a timeout or an abort) and has nothing left to emit.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.rst_out.is_none()
    }

    /// How the connection ended, once it has.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Our initial send sequence number.
    pub fn iss(&self) -> SeqNum {
        self.iss
    }

    /// Bytes that can be read now.
    pub fn recv_available(&self) -> usize {
        self.recv_buf.readable()
    }

    /// Room left in the send buffer.
    pub fn send_capacity(&self) -> usize {
        if self.fin_queued { 0 } else { self.send_buf.free() }
    }

    /// Bytes written by the application and not yet acknowledged.
    pub fn send_queued(&self) -> usize {
        self.send_buf.len()
    }

    /// Heap bytes held by the send and receive buffers (with the receiver's
    /// list of out-of-order ranges) and by the sender's transmission log
    /// and SACK scoreboard. Storage grows with the data held; a buffer
    /// that drains keeps its storage (for the next burst) until it has
    /// stayed empty for a second, then frees all but a few hundred bytes.
    /// [`heap_memory`](Connection::heap_memory) adds the rest of the
    /// connection's heap.
    pub fn buffer_memory(&self) -> usize {
        self.send_buf.allocated()
            + self.recv_buf.allocated()
            + self.loss.log.allocated()
            + self.loss.rare.sb.allocated()
    }

    /// Every heap byte this connection holds itself (not counting the
    /// `Connection` value, wherever it lives, nor the endpoint's tables):
    /// the buffers and loss-recovery storage of
    /// [`buffer_memory`](Connection::buffer_memory), plus each part boxed
    /// on first use (rare counters, rare loss-recovery state, the
    /// receiver's SACK history, CUBIC's undo snapshot, spilled events) and
    /// the configuration once the connection holds its own copy of it.
    /// [`heap_breakdown`](Connection::heap_breakdown) names the parts.
    pub fn heap_memory(&self) -> usize {
        self.heap_breakdown().iter().map(|&(_, bytes)| bytes).sum()
    }

    /// [`heap_memory`](Connection::heap_memory) part by part: a name and
    /// the heap bytes of each (0 for a part not allocated).
    pub fn heap_breakdown(&self) -> [(&'static str, usize); 10] {
        use core::mem::{align_of, size_of};
        // The configuration is the connection's own when it holds the only
        // reference: a standalone connection's, or an endpoint
        // connection's after an option setter copied it. The allocation
        // is the `Arc`'s two counters followed by the value.
        let config = if Arc::strong_count(&self.config) == 1 && Arc::weak_count(&self.config) == 0 {
            let align = align_of::<ConnectionConfig>().max(align_of::<usize>());
            (2 * size_of::<usize>() + size_of::<ConnectionConfig>()).next_multiple_of(align)
        } else {
            0
        };
        [
            ("send buffer", self.send_buf.allocated()),
            ("receive buffer and out-of-order list", self.recv_buf.allocated()),
            ("transmission log", self.loss.log.allocated()),
            ("SACK scoreboard", self.loss.rare.sb.allocated()),
            ("rare loss-recovery state", self.loss.rare.allocated()),
            ("rare counters", self.stats.allocated()),
            ("receiver SACK history", self.sack_recent.as_ref().map_or(0, |_| size_of::<[Option<u64>; 4]>())),
            ("congestion controller", self.cc.allocated()),
            ("event spill", self.events.allocated()),
            ("configuration", config),
        ]
    }

    /// True when the peer's FIN has arrived.
    pub fn peer_finished(&self) -> bool {
        self.fin_received
    }

    /// Checks the connection's internal sequence-space invariants and
    /// returns the first one violated. Meant for simulators, fuzzers and
    /// property tests, which call it after every step:
    /// SND.UNA ≤ SND.NXT ≤ SND.MAX (RFC 9293 §3.3.1, with SND.MAX the
    /// highest sent), the send buffer starting at SND.UNA (or one past it
    /// while SYN or FIN occupy it), buffers within capacity, and RCV.NXT
    /// never past the advertised right edge; and for loss recovery, the
    /// transmission log covering exactly [SND.UNA, SND.MAX) with consistent
    /// counters, the SACK scoreboard within [SND.UNA, SND.MAX], and pipe at
    /// most twice the flight (RFC 6675 §4 counts a retransmitted octet not
    /// deemed lost twice).
    ///
    /// Costs O(entries of the transmission log), i.e. O(segments in
    /// flight); [`check_invariants_quick`](Self::check_invariants_quick)
    /// skips that walk.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_invariants_walking(true)
    }

    /// Every invariant of [`check_invariants`](Self::check_invariants) but
    /// the walk of the transmission log (entries contiguous over [SND.UNA,
    /// SND.MAX), counters equal to their sums): O(1) in the segments in
    /// flight, for harnesses that check after every step and walk the log
    /// only as often as they can afford (see
    /// [`sent_log_len`](Self::sent_log_len)).
    pub fn check_invariants_quick(&self) -> Result<(), String> {
        self.check_invariants_walking(false)
    }

    /// Entries of the transmission log (one per segment in flight, RFC
    /// 6675 §4's scoreboard): what [`check_invariants`](Self::check_invariants)
    /// costs beyond [`check_invariants_quick`](Self::check_invariants_quick).
    pub fn sent_log_len(&self) -> usize {
        self.loss.log.len()
    }

    fn check_invariants_walking(&self, walk_log: bool) -> Result<(), String> {
        let fail = |what: &str| Err(format!("{what} ({})", self.sequence_summary()));
        if !(self.snd_una <= self.snd_nxt && self.snd_nxt <= self.snd_max) {
            return fail("SND.UNA <= SND.NXT <= SND.MAX violated");
        }
        let buf_lag = self.snd_buf_seq.diff(self.snd_una);
        if !(buf_lag == 0 || (buf_lag == 1 && self.snd_una == self.iss) || (buf_lag == -1 && self.fin_acked())) {
            return fail("send buffer does not start at SND.UNA");
        }
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        let seq_end = data_end + u32::from(self.fin_queued);
        if self.snd_max.diff(seq_end) > 0 {
            return fail("SND.MAX beyond the data and FIN ever queued");
        }
        if self.send_buf.len() > self.send_buf.capacity().max(1) {
            return fail("send buffer over capacity");
        }
        if self.recv_buf.readable() > self.recv_buf.capacity() {
            return fail("receive buffer over capacity");
        }
        if self.state.is_synchronized() && self.rcv_adv.diff(self.rcv_nxt) < 0 {
            return fail("RCV.NXT past the advertised window");
        }
        if self.cc.cwnd() == 0 {
            return fail("zero congestion window");
        }
        if let Err(what) = self.check_loss_invariants(walk_log) {
            return fail(what);
        }
        Ok(())
    }

    fn sequence_summary(&self) -> String {
        format!(
            "state {} iss {} snd_una {} snd_nxt {} snd_max {} snd_buf_seq {} queued {} fin {} rcv_nxt {} rcv_adv {}",
            self.state,
            self.iss,
            self.snd_una,
            self.snd_nxt,
            self.snd_max,
            self.snd_buf_seq,
            self.send_buf.len(),
            self.fin_queued,
            self.rcv_nxt,
            self.rcv_adv
        )
    }

    /// The name of the congestion controller in use.
    pub fn congestion_control(&self) -> &'static str {
        self.cc.name()
    }

    // ----- application calls --------------------------------------------

    /// Queues `data` for sending; returns how much fit in the send buffer.
    /// Data written before the handshake completes is sent after it
    /// (RFC 9293 §3.10.2).
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        if let Some(reason) = self.close_reason {
            return Err(Error::Closed(reason));
        }
        if self.fin_queued {
            return Err(Error::WriteClosed);
        }
        match self.state {
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {}
            _ => return Err(Error::WriteClosed),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = self.send_buf.write(data);
        if n == 0 {
            self.writable_wanted = true;
            return Err(Error::WouldBlock);
        }
        if n < data.len() {
            self.writable_wanted = true;
        }
        Ok(n)
    }

    /// Reads in-order data. `Ok(0)` means end of stream (the peer's FIN has
    /// arrived and everything before it was read); `Err(WouldBlock)` means
    /// nothing yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.recv_buf.readable() > 0 {
            let n = self.recv_buf.read(buf);
            if self.recv_buf.readable() == 0 {
                self.readable_signalled = false;
                // Drained: free the storage once the data flow pauses (the
                // data just read arrived no earlier than the last segment).
                self.arm_release(self.last_recv);
            }
            self.maybe_window_update();
            return Ok(n);
        }
        self.readable_signalled = false;
        if self.fin_received {
            return Ok(0);
        }
        match self.close_reason {
            Some(CloseReason::Graceful) | None => {}
            Some(reason) => return Err(Error::Closed(reason)),
        }
        if self.state == State::Closed {
            return Err(Error::Closed(self.close_reason.unwrap_or(CloseReason::Graceful)));
        }
        Err(Error::WouldBlock)
    }

    /// Shuts down the write side: a FIN follows the buffered data, reads go
    /// on (half-close, RFC 9293 §3.10.4). A second call is a no-op.
    pub fn shutdown(&mut self) -> Result<(), Error> {
        if let Some(reason) = self.close_reason {
            return Err(Error::Closed(reason));
        }
        if self.fin_queued {
            return Ok(());
        }
        match self.state {
            State::SynSent | State::SynReceived => {
                // The FIN goes out once the handshake completes, after any
                // data queued meanwhile. RFC 9293 §3.10.4 deletes the TCB
                // on CLOSE in SYN-SENT; we keep what the application queued
                // (`printf … | toytcp-cli connect` must deliver), and
                // `abort` remains the way to cancel a connection attempt.
                self.fin_queued = true;
            }
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => return Err(Error::NotConnected),
        }
        Ok(())
    }

    /// Closes both directions. With unread data pending the connection is
    /// reset instead (RFC 1122 §4.2.2.13), and so it is if data arrives
    /// later; otherwise this is [`shutdown`](Self::shutdown) plus dropping
    /// whatever is still received.
    pub fn close(&mut self) -> Result<(), Error> {
        if self.close_reason.is_some() || self.state == State::Closed {
            return Ok(());
        }
        self.read_closed = true;
        if self.recv_buf.readable() > 0 {
            return self.abort();
        }
        match self.shutdown() {
            Ok(()) | Err(Error::NotConnected) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Aborts: a RST goes out if the peer knows the connection, and the
    /// connection is closed at once (RFC 9293 §3.10.5).
    pub fn abort(&mut self) -> Result<(), Error> {
        if self.state == State::Closed {
            return Ok(());
        }
        if matches!(
            self.state,
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
        ) {
            self.rst_out = Some((self.snd_nxt.max(self.snd_una), None));
        }
        self.enter_closed(CloseReason::Aborted);
        Ok(())
    }

    /// Turns the Nagle algorithm off (`true`) or on (RFC 9293 §3.7.4).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        if self.config.nodelay != nodelay {
            Arc::make_mut(&mut self.config).nodelay = nodelay;
        }
    }

    /// Changes keepalive settings; `None` turns keepalive off.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        if self.config.keepalive != keepalive {
            Arc::make_mut(&mut self.config).keepalive = keepalive;
        }
        self.timers.keepalive = None;
        self.arm_keepalive(self.last_recv);
    }

    /// Changes the user timeout (RFC 5482).
    pub fn set_user_timeout(&mut self, timeout: Option<crate::time::Duration>) {
        if self.config.user_timeout != timeout {
            Arc::make_mut(&mut self.config).user_timeout = timeout;
        }
    }

    // ----- outputs -------------------------------------------------------

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- shared helpers ------------------------------------------------

    fn set_state(&mut self, state: State) {
        if self.state != state {
            tracing::debug!(conn = %self.tuple.local, remote = %self.tuple.remote, "{} -> {}", self.state, state);
            self.state = state;
        }
    }

    /// Moves to CLOSED, cancels timers and tells the application why. A
    /// timeout after a soft ICMP error is reported as
    /// [`CloseReason::Unreachable`] (see `icmp.rs`).
    fn enter_closed(&mut self, mut reason: CloseReason) {
        if reason == CloseReason::TimedOut && self.soft_error_explains_timeout() {
            reason = CloseReason::Unreachable;
        }
        self.set_state(State::Closed);
        self.timers = Timers::default();
        self.syn_due = false;
        self.ack_now = false;
        self.probe_due = false;
        self.rexmit_pending = false;
        if self.close_reason.is_none() {
            self.close_reason = Some(reason);
            self.events.push_back(Event::Closed(reason));
        }
    }

    /// Sets up the receive window right after learning IRS.
    fn init_rcv_window(&mut self) {
        let wnd = (self.recv_buf.window() as u64).min(self.max_rcv_window()) as u32;
        self.rcv_adv = self.rcv_nxt + wnd;
        self.last_ack_sent = self.rcv_nxt;
    }

    /// The largest window we can express with our shift.
    fn max_rcv_window(&self) -> u64 {
        65535u64 << self.rcv_wscale
    }

    /// Reads MSS, window scale, SACK-permitted and timestamps off a SYN
    /// (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2, RFC 2018 §2). An option
    /// is agreed when both SYNs carry it; we offer exactly what the config
    /// enables, so "the peer sent it and we enable it" is the same test for
    /// a SYN and for a SYN-ACK.
    fn take_syn_options(&mut self, syn: &Segment<'_>) {
        let o = &syn.header.options;
        let peer_mss = o.mss.unwrap_or(DEFAULT_PEER_MSS).max(64);
        if let (Some(peer_shift), true) = (o.window_scale, self.config.window_scale) {
            self.ws_ok = true;
            self.snd_wscale = peer_shift.min(14);
            self.rcv_wscale = self.config.rcv_wscale();
        } else {
            self.ws_ok = false;
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.sack_ok = o.sack_permitted && self.config.sack;
        if let (Some(ts), true) = (o.timestamps, self.config.timestamps) {
            self.ts_ok = true;
            self.ts_recent = ts.tsval;
            self.ts_recent_age = self.last_recv;
        } else {
            self.ts_ok = false;
        }
        let ts_overhead = if self.ts_ok { 12 } else { 0 };
        self.smss = (u32::from(peer_mss).min(u32::from(self.config.mss)) - ts_overhead).max(32);
        self.cc = Controller::new(&self.config, self.smss);
        self.rcv_mss = self.rcv_mss.min(self.smss).max(1);
    }

    /// Queues `Writable` if the application wanted room and now has some.
    fn signal_writable(&mut self) {
        if self.writable_wanted && self.send_buf.free() > 0 && !self.fin_queued {
            self.writable_wanted = false;
            self.events.push_back(Event::Writable);
        }
    }

    /// After the application read data: advertise a reopened window at once
    /// when the window we advertised has become small and the new right
    /// edge moves by at least min(buffer/2, MSS) (RFC 9293 §3.8.6.2.2).
    fn maybe_window_update(&mut self) {
        if !self.state.is_synchronized() || self.fin_received {
            return;
        }
        let advertised = self.rcv_adv - self.rcv_nxt;
        let cap = self.recv_buf.capacity() as u32;
        if advertised >= cap / 2 {
            return;
        }
        let free = (self.recv_buf.window() as u64).min(self.max_rcv_window()) as u32;
        let threshold = (cap / 2).min(self.smss.max(self.rcv_mss));
        if free.saturating_sub(advertised) >= threshold {
            self.ack_now = true;
        }
    }

    /// Our timestamp clock: milliseconds plus a per-connection offset (RFC 7323 §5.4).
    fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Sequence number of our FIN (valid once queued).
    fn fin_seq(&self) -> SeqNum {
        self.snd_buf_seq + self.send_buf.len() as u32
    }

    /// True when our FIN has been sent and acknowledged.
    fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.fin_seq() + 1
    }
}

#[cfg(test)]
mod tests;
