//! Buffer autotuning: the receive buffer grows with what the application
//! reads per round trip, the send buffer with what the congestion window
//! and the peer's window allow. Both only grow, up to the configured
//! ceilings (`ConnectionConfig::recv_buffer_max`, `send_buffer_max`), and
//! only when those lie above the starting sizes; a buffer pinned by the
//! configuration never changes. Storage follows the data held (the rings
//! are lazily allocated), so a higher ceiling costs memory only while data
//! actually waits in the buffer.
//!
//! Receiver: the idea of "Dynamic Right-Sizing" (M. Fisk and W. Feng,
//! "Dynamic Right-Sizing in TCP", 2001), as Linux's `tcp_rcv_space_adjust`
//! applies it: a sender the window does not hold back delivers at most a
//! congestion window per round trip, and in slow start doubles it each
//! round trip, so a receive buffer of twice what the application read in
//! the last round trip never limits it. The round trip is measured from
//! the timestamp echo of the data segments when timestamps are on (RFC 7323
//! §4: TSecr echoes one of our ACKs, sent one round trip earlier, queueing
//! included), else it is the connection's smoothed RTT.
//!
//! Sender: the buffer must hold everything in flight plus the next flight:
//! twice min(cwnd, SND.WND), as Linux keeps its send buffer at about twice
//! the congestion window (`tcp_sndbuf_expand`).
//!
//! The window-scale shift is fixed on the SYN (RFC 7323 §2.3), so it is
//! chosen from the receive ceiling (`ConnectionConfig::rcv_wscale`). A
//! larger buffer only moves the right edge of the window right; it never
//! moves left (RFC 9293 §3.8.6.2.1).

use super::Connection;
use crate::congestion::CongestionControl;
use crate::time::{Duration, Instant};
use crate::wire::Segment;

impl Connection {
    /// The largest receive buffer this connection may grow to: the
    /// configured ceiling, limited by what the agreed window scale can
    /// express, and never below the buffer's current size.
    pub(super) fn recv_buffer_ceiling(&self) -> usize {
        let expressible = usize::try_from(self.max_rcv_window()).unwrap_or(usize::MAX);
        self.config.recv_buffer_max.min(expressible).max(self.recv_buf.capacity())
    }

    /// True while the receive buffer may still grow.
    fn recv_may_grow(&self) -> bool {
        self.config.recv_autotune() && self.recv_buf.capacity() < self.recv_buffer_ceiling()
    }

    /// After in-order data arrived: take a receiver RTT sample from the
    /// segment's timestamp echo, and once a round trip has passed since the
    /// last measurement, grow the receive buffer to twice what the
    /// application read per round trip, if that is more than it holds.
    pub(super) fn rcv_space_adjust(&mut self, now: Instant, seg: &Segment<'_>) {
        if !self.recv_may_grow() {
            return;
        }
        // Only full-sized segments (as Linux's `tcp_rcv_rtt_measure_ts`):
        // a small one is more likely sent after a pause, its TSecr echoing
        // an ACK from before the pause rather than one round trip ago.
        if self.ts_ok
            && seg.payload.len() as u32 >= self.rcv_mss
            && let Some(ts) = seg.header.options.timestamps
            && ts.tsecr != 0
        {
            let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
            // Whole milliseconds: a 0 says "under a millisecond", too
            // coarse to use (the smoothed RTT stands in then).
            // A sample beyond the largest RTO cannot be a round trip: an
            // echo of a stale (or forged) TSval, which would let one
            // measurement count a long stretch of reading and grow the
            // buffer to its ceiling.
            let max_ms = self.config.max_rto.as_millis().min(u128::from(u32::MAX / 1000)) as u32;
            if (ms as i32) > 0 && ms <= max_ms {
                let sample = ms.saturating_mul(1000);
                // Smoothed with gain 1/8, as SRTT (RFC 6298 §2.3).
                self.rcv_rtt_us =
                    if self.rcv_rtt_us == 0 { sample } else { self.rcv_rtt_us - self.rcv_rtt_us / 8 + sample / 8 };
            }
        }
        let rtt = if self.rcv_rtt_us > 0 {
            Duration::from_micros(u64::from(self.rcv_rtt_us))
        } else if let Some(srtt) = self.rtt.srtt() {
            srtt
        } else {
            return;
        };
        let elapsed = now.saturating_duration_since(self.drs_time);
        if elapsed < rtt || elapsed.is_zero() {
            return;
        }
        let read = self.recv_buf.consumed() as u32;
        let copied = u64::from(read.wrapping_sub(self.drs_read));
        self.drs_time = now;
        self.drs_read = read;
        // What the application read per round trip (the measurement ends
        // with the first segment after a round trip, or later after a
        // pause: scale it back to one round trip).
        let per_rtt = u128::from(copied) * rtt.as_micros() / elapsed.as_micros().max(1);
        let target = usize::try_from(per_rtt.saturating_mul(2)).unwrap_or(usize::MAX);
        let cap = self.recv_buf.capacity();
        if target > cap {
            let grown = target.min(self.recv_buffer_ceiling());
            tracing::trace!(conn = %self.tuple.local, from = cap, to = grown, "receive buffer grows");
            self.recv_buf.set_capacity(grown);
        }
    }

    /// After an ACK: grow the send buffer to twice min(cwnd, SND.WND), up
    /// to the ceiling, and tell a blocked writer about the new room.
    pub(super) fn sndbuf_expand(&mut self) {
        if !self.config.send_autotune() {
            return;
        }
        let cap = self.send_buf.capacity();
        let ceiling = self.config.send_buffer_ceiling();
        if cap >= ceiling {
            return;
        }
        let target = 2 * self.cc.cwnd().min(self.snd_wnd) as usize;
        if target > cap {
            let grown = target.min(ceiling);
            tracing::trace!(conn = %self.tuple.local, from = cap, to = grown, "send buffer grows");
            self.send_buf.set_capacity(grown);
            self.signal_writable();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConnectionConfig;
    use crate::connection::{Event, FourTuple};
    use crate::error::Error;
    use crate::seq::SeqNum;
    use crate::wire;
    use core::net::{Ipv4Addr, SocketAddrV4};
    use std::collections::VecDeque;

    /// One-way delay: a 40 ms round trip, no rate limit, no loss.
    const ONE_WAY: Duration = Duration::from_millis(20);
    /// The applications run at least this often.
    const TICK: Duration = Duration::from_millis(1);
    const KIB: usize = 1024;

    /// How the receiving application reads.
    #[derive(Clone, Copy)]
    enum Reader {
        /// Everything, at every tick.
        Fast,
        /// At most this many bytes per 40 ms, spread over the ticks.
        Rate(usize),
    }

    /// A client that writes without end to a server whose application
    /// reads as `reader` says, over a fixed-delay path. Checks on every
    /// segment the server sends that the right edge of its window never
    /// moves left (RFC 9293 §3.8.6.2.1).
    struct Pair {
        now: Instant,
        start: Instant,
        client: Connection,
        server: Option<Connection>,
        server_cfg: ConnectionConfig,
        wire: VecDeque<(Instant, bool, Vec<u8>)>,
        reader: Reader,
        read: usize,
        written: usize,
        /// The client's writes found the buffer full this many times, and
        /// it was told `Writable` this many times.
        blocked: usize,
        writable: usize,
        right_edge: Option<SeqNum>,
        /// RCV.NXT + RCV.WND as the server holds it.
        rcv_adv: Option<SeqNum>,
        largest_window: u32,
    }

    impl Pair {
        fn new(client_cfg: &ConnectionConfig, server_cfg: &ConnectionConfig, reader: Reader) -> Self {
            let tuple = FourTuple {
                local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000),
                remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 40000),
            };
            let now = Instant::from_millis(1);
            Pair {
                now,
                start: now,
                client: Connection::connect(now, client_cfg, tuple, SeqNum(0xFFFF_0000), 7),
                server: None,
                server_cfg: server_cfg.clone(),
                wire: VecDeque::new(),
                reader,
                read: 0,
                written: 0,
                blocked: 0,
                writable: 0,
                right_edge: None,
                rcv_adv: None,
                largest_window: 0,
            }
        }

        fn server(&self) -> &Connection {
            self.server.as_ref().expect("server accepted")
        }

        /// The applications' turn, then both sides' output.
        fn apps_and_output(&mut self) {
            let chunk = [0x5au8; 16 * KIB];
            loop {
                match self.client.send(&chunk) {
                    Ok(n) => self.written += n,
                    Err(Error::WouldBlock) => {
                        self.blocked += 1;
                        break;
                    }
                    Err(e) => panic!("client send: {e:?}"),
                }
            }
            if let Some(server) = self.server.as_mut() {
                let allowed = match self.reader {
                    Reader::Fast => usize::MAX,
                    Reader::Rate(per_rtt) => {
                        let elapsed = self.now.saturating_duration_since(self.start).as_micros() as usize;
                        (per_rtt * elapsed / 40_000).saturating_sub(self.read)
                    }
                };
                let mut buf = vec![0u8; 64 * KIB];
                let mut left = allowed;
                while left > 0 {
                    let want = left.min(buf.len());
                    match server.recv(&mut buf[..want]) {
                        Ok(n) if n > 0 => {
                            self.read += n;
                            left -= n;
                        }
                        _ => break,
                    }
                }
            }
            let mut buf = vec![0u8; 2048];
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                self.wire.push_back((self.now + ONE_WAY, true, buf[..t.len].to_vec()));
            }
            while let Some(e) = self.client.poll_event() {
                if e == Event::Writable {
                    self.writable += 1;
                }
            }
            if let Some(server) = self.server.as_mut() {
                while let Some(t) = server.poll_transmit(self.now, &mut buf) {
                    let seg = wire::parse(&buf[..t.len]).expect("valid packet");
                    if seg.header.flags.ack() && !seg.header.flags.syn() {
                        let wnd = u32::from(seg.header.window) << server.rcv_wscale;
                        let edge = seg.header.ack + wnd;
                        // The edge on the wire moves left only by less than
                        // a unit of the shift, and only with the window
                        // that close to the end of the buffer (RFC 7323
                        // §2.4; data up to RCV.ADV is still taken); RCV.ADV,
                        // the edge the server holds, never moves left.
                        if let Some(prev) = self.right_edge {
                            let unit = 1u32 << server.rcv_wscale;
                            let full = (server.rcv_adv - server.rcv_nxt) + unit > server.recv_buf.window() as u32;
                            assert!(
                                edge >= prev || full,
                                "right edge moved left: {prev} -> {edge} (ack {} field {} rcv_nxt {} rcv_adv {} free {})",
                                seg.header.ack,
                                seg.header.window,
                                server.rcv_nxt,
                                server.rcv_adv,
                                server.recv_buf.window()
                            );
                            assert!(prev - edge < (1 << server.rcv_wscale) || edge >= prev);
                        }
                        if let Some(prev) = self.rcv_adv {
                            assert!(server.rcv_adv >= prev, "RCV.ADV moved left: {prev} -> {}", server.rcv_adv);
                        }
                        self.rcv_adv = Some(server.rcv_adv);
                        self.right_edge = Some(edge);
                        self.largest_window = self.largest_window.max(wnd);
                    }
                    self.wire.push_back((self.now + ONE_WAY, false, buf[..t.len].to_vec()));
                }
                while server.poll_event().is_some() {}
            }
        }

        /// Runs for `span` of virtual time, or until `done`.
        fn run(&mut self, span: Duration, done: impl Fn(&Pair) -> bool) {
            let end = self.now + span;
            self.apps_and_output();
            while self.now < end && !done(self) {
                let deadline = [self.client.poll_timeout(), self.server.as_ref().and_then(|s| s.poll_timeout())]
                    .into_iter()
                    .flatten()
                    .chain([self.now + TICK])
                    .min()
                    .expect("tick");
                if let Some(&(at, to_server, _)) = self.wire.front()
                    && at <= deadline
                {
                    let pkt = self.wire.pop_front().expect("front").2;
                    self.now = self.now.max(at);
                    let seg = wire::parse(&pkt).expect("valid packet");
                    if to_server {
                        match self.server.as_mut() {
                            Some(s) => s.handle_segment(self.now, &seg),
                            None => {
                                self.server =
                                    Some(Connection::accept(self.now, &self.server_cfg, &seg, SeqNum(0x7FFF_FFF0), 3))
                            }
                        }
                    } else {
                        self.client.handle_segment(self.now, &seg);
                    }
                } else {
                    self.now = deadline;
                    self.client.handle_timeout(self.now);
                    if let Some(s) = self.server.as_mut() {
                        s.handle_timeout(self.now);
                    }
                }
                self.apps_and_output();
                self.client.check_invariants().expect("client invariants");
                if let Some(s) = &self.server {
                    s.check_invariants().expect("server invariants");
                }
            }
        }
    }

    /// Both ceilings at 1 MiB (quicker to reach than the defaults).
    fn one_mib_ceilings() -> ConnectionConfig {
        ConnectionConfig { send_buffer_max: 1 << 20, recv_buffer_max: 1 << 20, ..ConnectionConfig::default() }
    }

    /// The shift comes from the ceiling (RFC 7323 §2.3), at most 14; a
    /// pinned buffer keeps today's shift; a tiny starting buffer limits it.
    #[test]
    fn window_scale_from_the_ceiling() {
        let default = ConnectionConfig::default();
        assert!(default.recv_autotune() && default.send_autotune());
        assert_eq!(default.rcv_wscale(), 7, "6 MiB needs shift 7");
        let pinned = ConnectionConfig { recv_buffer_max: 256 * KIB, ..ConnectionConfig::default() };
        assert!(!pinned.recv_autotune());
        assert_eq!(pinned.rcv_wscale(), 3, "256 KiB needs shift 3");
        let huge =
            ConnectionConfig { recv_buffer: 16 << 20, recv_buffer_max: usize::MAX, ..ConnectionConfig::default() };
        assert_eq!(huge.rcv_wscale(), 14);
        let tiny = ConnectionConfig { recv_buffer: 100, ..ConnectionConfig::default() };
        assert_eq!(tiny.rcv_wscale(), 0, "a 100-byte buffer must not round to a zero window");
        let small = ConnectionConfig { recv_buffer: 4096, ..ConnectionConfig::default() };
        assert_eq!(small.rcv_wscale(), 6, "64 units of 64 bytes");
    }

    /// An application that drains everything at once lets the receive
    /// buffer, and the advertised window with it, grow past what 256 KiB
    /// with shift 3 could offer; the sender's buffer grows with cwnd.
    #[test]
    fn buffers_grow_when_drained_fast() {
        let cfg = ConnectionConfig::default();
        let mut p = Pair::new(&cfg, &cfg, Reader::Fast);
        p.run(Duration::from_secs(2), |p| p.largest_window > 1 << 20);
        let server = p.server();
        assert_eq!(server.rcv_wscale, 7);
        assert!(server.recv_buf.capacity() > 1 << 20, "receive buffer {}", server.recv_buf.capacity());
        assert!(p.largest_window > 1 << 20, "largest window {}", p.largest_window);
        assert!(p.client.send_buf.capacity() > 256 * KIB, "send buffer {}", p.client.send_buf.capacity());
        // The writer blocked on the full buffer and was woken as it grew.
        assert!(p.blocked > 0 && p.writable > 0, "blocked {} writable {}", p.blocked, p.writable);
        assert!(p.read > 1 << 20, "read {}", p.read);
    }

    /// An application reading 32 KiB per round trip, an eighth of the
    /// buffer, never makes the receive buffer grow.
    #[test]
    fn receive_buffer_stays_when_app_reads_slowly() {
        let cfg = ConnectionConfig::default();
        let mut p = Pair::new(&cfg, &cfg, Reader::Rate(32 * KIB));
        p.run(Duration::from_secs(3), |_| false);
        assert!(p.read > 2 * KIB * 1000, "read {}", p.read);
        assert_eq!(p.server().recv_buf.capacity(), 256 * KIB);
        assert!(p.largest_window <= 256 * KIB as u32);
    }

    /// Growth stops at the ceilings, exactly.
    #[test]
    fn growth_stops_at_the_ceiling() {
        let cfg = one_mib_ceilings();
        let mut p = Pair::new(&cfg, &cfg, Reader::Fast);
        p.run(Duration::from_secs(2), |_| false);
        assert_eq!(p.server().recv_buf.capacity(), 1 << 20);
        assert_eq!(p.client.send_buf.capacity(), 1 << 20);
        assert!(p.largest_window <= 1 << 20);
        assert!(p.largest_window > 1 << 19, "largest window {}", p.largest_window);
    }

    /// A ceiling at (or below) the starting size pins the buffer: nothing
    /// changes, the shift included.
    #[test]
    fn pinned_buffers_never_grow() {
        let cfg = ConnectionConfig { send_buffer_max: 256 * KIB, recv_buffer_max: 0, ..ConnectionConfig::default() };
        let mut p = Pair::new(&cfg, &cfg, Reader::Fast);
        p.run(Duration::from_secs(1), |_| false);
        assert_eq!(p.server().rcv_wscale, 3);
        assert_eq!(p.server().recv_buf.capacity(), 256 * KIB);
        assert_eq!(p.client.send_buf.capacity(), 256 * KIB);
        assert!(p.largest_window <= 256 * KIB as u32);
    }

    /// Without window scaling the window cannot pass 65535: the receive
    /// buffer grows no further than that.
    #[test]
    fn growth_capped_by_unscaled_window() {
        let client = ConnectionConfig { window_scale: false, ..ConnectionConfig::default() };
        let server = ConnectionConfig { recv_buffer: 16 * KIB, ..ConnectionConfig::default() };
        let mut p = Pair::new(&client, &server, Reader::Fast);
        p.run(Duration::from_secs(1), |_| false);
        assert_eq!(p.server().rcv_wscale, 0);
        assert_eq!(p.server().recv_buf.capacity(), 65535);
        assert_eq!(p.largest_window, 65535);
    }
}
