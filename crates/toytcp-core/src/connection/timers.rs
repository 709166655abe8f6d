//! The connection's timers (RFC 9293 §3.8, RFC 6298, RFC 1122 §4.2.3.6)
//! and what happens when each expires.

use super::{CloseReason, Connection, State};
use crate::congestion::CongestionControl;
use crate::time::{Duration, Instant};

/// Deadlines; `None` means the timer is stopped.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    /// Retransmission timer (RFC 6298 §5).
    pub rto: Option<Instant>,
    /// Persist timer: zero-window probes and the silly-window override (RFC 9293 §3.8.6.1).
    pub persist: Option<Instant>,
    /// Delayed ACK (RFC 9293 §3.8.6.3).
    pub delack: Option<Instant>,
    /// Keepalive (RFC 1122 §4.2.3.6).
    pub keepalive: Option<Instant>,
    /// TIME-WAIT (2×MSL), or the FIN-WAIT-2 timeout of a closed connection.
    pub time_wait: Option<Instant>,
    /// Tail loss probe timeout (RFC 8985 §7.2).
    pub tlp: Option<Instant>,
    /// RACK reordering timer (RFC 8985 §6.3).
    pub reorder: Option<Instant>,
    /// Frees the storage of buffers that drained empty (see
    /// [`BUFFER_RELEASE_DELAY`]); never causes a segment.
    pub release: Option<Instant>,
}

/// How long an empty send or receive buffer keeps its storage before the
/// connection frees it. Buffers grow with their contents; keeping the
/// storage while a transfer goes on spares a reallocation (and, for large
/// buffers, fresh pages from the OS) every time a buffer drains, while an
/// idle connection still gives its memory back.
pub(crate) const BUFFER_RELEASE_DELAY: Duration = Duration::from_secs(1);

impl Timers {
    /// The earliest running deadline.
    #[inline]
    pub fn next(&self) -> Option<Instant> {
        // Called after every input (through `poll_timeout`): a branch-free
        // minimum over the six deadlines, `None` mapped to "never".
        let key = |t: Option<Instant>| t.map_or(u64::MAX, Instant::as_micros);
        let min = key(self.rto)
            .min(key(self.persist))
            .min(key(self.delack))
            .min(key(self.keepalive))
            .min(key(self.time_wait))
            .min(key(self.release))
            .min(key(self.tlp))
            .min(key(self.reorder));
        let any = self.rto.is_some()
            | self.persist.is_some()
            | self.delack.is_some()
            | self.keepalive.is_some()
            | self.time_wait.is_some()
            | self.release.is_some()
            | self.tlp.is_some()
            | self.reorder.is_some();
        any.then_some(Instant::from_micros(min))
    }
}

fn expired(deadline: &mut Option<Instant>, now: Instant) -> bool {
    match *deadline {
        Some(t) if t <= now => {
            *deadline = None;
            true
        }
        _ => false,
    }
}

impl Connection {
    /// Processes every timer that has expired at `now`. Calling it early,
    /// late or twice is harmless: only expired deadlines act.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        if expired(&mut self.timers.time_wait, now) {
            let reason = if self.state == State::TimeWait { CloseReason::Graceful } else { CloseReason::TimedOut };
            self.enter_closed(reason);
            return;
        }
        if expired(&mut self.timers.rto, now) {
            self.on_retransmission_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if expired(&mut self.timers.reorder, now) {
            self.on_reorder_timeout(now);
        }
        if expired(&mut self.timers.tlp, now) {
            self.on_tlp_timeout();
        }
        if expired(&mut self.timers.persist, now) {
            self.on_persist_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if expired(&mut self.timers.delack, now) {
            self.ack_now = true;
        }
        if expired(&mut self.timers.keepalive, now) {
            self.on_keepalive_timeout(now);
        }
        if expired(&mut self.timers.release, now) {
            self.send_buf.release_if_empty();
            self.recv_buf.release_if_empty();
            self.loss.log.release_if_empty();
        }
    }

    /// Arms the release timer, counting from `from`, when a buffer has
    /// drained but still holds more storage than a drained buffer keeps for
    /// good ([`RETAIN_WHEN_EMPTY`](crate::sendbuf::RETAIN_WHEN_EMPTY)).
    pub(super) fn arm_release(&mut self, from: Instant) {
        use crate::sendbuf::RETAIN_WHEN_EMPTY;
        let send_idle = self.send_buf.is_empty() && self.send_buf.allocated() > RETAIN_WHEN_EMPTY;
        let recv_idle = self.recv_buf.is_empty() && self.recv_buf.allocated() > RETAIN_WHEN_EMPTY;
        let log_idle = self.loss.log.is_empty() && self.loss.log.allocated() > RETAIN_WHEN_EMPTY;
        if (send_idle || recv_idle || log_idle) && self.timers.release.is_none() && self.state != State::Closed {
            self.timers.release = Some(from + BUFFER_RELEASE_DELAY);
        }
    }

    /// RFC 6298 §5.4–§5.6: retransmit the earliest unacknowledged segment
    /// (go-back-N from SND.UNA), back the timer off, collapse cwnd
    /// (RFC 5681 §3.1), and give up after the retry limit or user timeout
    /// (RFC 9293 §3.8.3).
    fn on_retransmission_timeout(&mut self, now: Instant) {
        if self.snd_una == self.snd_max {
            return;
        }
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        if self.state.is_synchronized() && self.snd_wnd == 0 && self.snd_una < data_end {
            // The peer shrank its window to zero under data in flight:
            // retransmitting into a closed window cannot succeed, so hand
            // over to the persist timer, whose probes keep the connection
            // open for as long as the peer answers them (RFC 9293 §3.8.6.1,
            // MUST-35/MUST-36/MUST-37). The data goes again (go-back-N)
            // when the window reopens.
            self.snd_nxt = self.snd_una;
            self.rtt_probe = None;
            self.timers.persist = Some(now + self.persist_interval());
            return;
        }
        self.retries += 1;
        self.stats.rare().timeouts += 1;
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        let limit = if handshake { self.config.syn_retries } else { self.config.max_retries };
        let since = *self.stalled_since.get_or_insert(now);
        let user_timeout_hit = self.config.user_timeout.is_some_and(|ut| now.saturating_duration_since(since) >= ut);
        if self.retries > limit || user_timeout_hit {
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        let flight = self.snd_max - self.snd_una;
        self.cc.on_rto(now, flight, self.smss);
        let was_in_recovery = self.in_recovery;
        self.in_recovery = false;
        self.dupacks = 0;
        self.limited_transmit_bytes = 0;
        self.recover = self.snd_max;
        self.rexmit_pending = false;
        self.rtt_probe = None;
        self.rtt.backoff();
        if handshake {
            self.syn_retransmitted = true;
            self.syn_due = true;
            self.snd_nxt = self.iss;
        } else if self.sack_mode() {
            // RFC 6675 §5.1: SACKed data is not sent again.
            self.sack_on_rto(was_in_recovery);
        } else {
            self.snd_nxt = self.snd_una;
        }
        let mut next = now + self.rtt.rto();
        if let Some(ut) = self.config.user_timeout {
            // Wake up when the user timeout runs out, not at the next
            // backed-off RTO (RFC 9293 §3.8.3: abort "within the timeout").
            next = next.min(since + ut);
        }
        self.timers.rto = Some(next);
    }

    /// Zero window: probe, backing off, and give up only after
    /// `max_retries` probes in a row go unanswered. Non-zero window: the
    /// silly-window override — send what fits (RFC 9293 §3.8.6.2.1).
    fn on_persist_timeout(&mut self, now: Instant) {
        let data_end = self.snd_buf_seq + self.send_buf.len() as u32;
        if self.snd_nxt >= data_end || !self.state.is_synchronized() {
            return;
        }
        if self.snd_wnd == 0 {
            if self.probes_unanswered >= self.config.max_retries {
                self.enter_closed(CloseReason::TimedOut);
                return;
            }
            self.probes_unanswered += 1;
            self.probe_due = true;
            self.stats.rare().window_probes += 1;
            self.persist_backoff += 1;
            self.timers.persist = Some(now + self.persist_interval());
        } else {
            self.force_send = true;
        }
    }

    /// RFC 1122 §4.2.3.6: probe an idle connection; after `probes` probes
    /// without an answer, declare it dead.
    fn on_keepalive_timeout(&mut self, now: Instant) {
        let Some(ka) = self.config.keepalive else { return };
        if !matches!(self.state, State::Established | State::CloseWait) {
            return;
        }
        if self.snd_una != self.snd_max {
            // Data outstanding: the retransmission timer is in charge.
            self.timers.keepalive = Some(now + ka.idle);
            return;
        }
        if self.keepalive_unanswered >= ka.probes {
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        self.keepalive_unanswered += 1;
        self.stats.rare().keepalive_probes += 1;
        self.probe_due = true;
        self.timers.keepalive = Some(now + ka.interval);
    }

    /// (Re)starts the keepalive idle timer from `from`, if keepalive is on.
    pub(super) fn arm_keepalive(&mut self, from: Instant) {
        if let Some(ka) = self.config.keepalive
            && matches!(self.state, State::Established | State::CloseWait)
        {
            self.timers.keepalive = Some(from + ka.idle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BUFFER_RELEASE_DELAY;
    use crate::sendbuf::RETAIN_WHEN_EMPTY;
    use crate::wire;
    use crate::{Connection, ConnectionConfig, FourTuple, Instant, SeqNum};
    use core::net::{Ipv4Addr, SocketAddrV4};

    /// Moves every packet between the two until nothing moves (zero latency).
    fn settle(now: Instant, client: &mut Connection, server: &mut Option<Connection>, cfg: &ConnectionConfig) {
        let mut buf = vec![0u8; 2048];
        loop {
            let mut moved = false;
            while let Some(t) = client.poll_transmit(now, &mut buf) {
                let seg = wire::parse(&buf[..t.len]).expect("valid");
                match server.as_mut() {
                    Some(s) => s.handle_segment(now, &seg),
                    None => *server = Some(Connection::accept(now, cfg, &seg, SeqNum(9000), 0)),
                }
                moved = true;
            }
            if let Some(s) = server.as_mut() {
                while let Some(t) = s.poll_transmit(now, &mut buf) {
                    client.handle_segment(now, &wire::parse(&buf[..t.len]).expect("valid"));
                    moved = true;
                }
                let mut sink = [0u8; 4096];
                while s.recv(&mut sink).is_ok_and(|n| n > 0) {
                    moved = true;
                }
                while s.poll_event().is_some() {}
            }
            while client.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    /// A drained buffer keeps its storage while data keeps flowing and
    /// frees it once the connection has been idle for
    /// `BUFFER_RELEASE_DELAY`; the release timer sends nothing.
    #[test]
    fn drained_buffers_are_released_after_an_idle_delay() {
        let cfg = ConnectionConfig::default();
        let tuple = FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 80),
        };
        let mut now = Instant::from_millis(5);
        let mut client = Connection::connect(now, &cfg, tuple, SeqNum(1000), 0);
        let mut server = None;
        settle(now, &mut client, &mut server, &cfg);
        let data = vec![0x42u8; 100_000];
        let mut sent = 0;
        while sent < data.len() {
            sent += client.send(&data[sent..]).expect("send");
            settle(now, &mut client, &mut server, &cfg);
        }
        // Flush a delayed ACK, if any, well before the release delay.
        now += crate::Duration::from_millis(200);
        client.handle_timeout(now);
        server.as_mut().expect("accepted").handle_timeout(now);
        settle(now, &mut client, &mut server, &cfg);
        let server = server.as_mut().expect("accepted");
        assert_eq!(client.send_queued(), 0);
        assert_eq!(server.recv_available(), 0);
        assert!(client.buffer_memory() > RETAIN_WHEN_EMPTY, "send storage kept: {}", client.buffer_memory());
        assert!(server.buffer_memory() > RETAIN_WHEN_EMPTY, "receive storage kept: {}", server.buffer_memory());
        for conn in [&mut client, server] {
            let deadline = conn.poll_timeout().expect("release timer armed");
            assert!(deadline <= now + BUFFER_RELEASE_DELAY);
            conn.handle_timeout(deadline);
            let mut buf = vec![0u8; 2048];
            assert!(conn.poll_transmit(deadline, &mut buf).is_none(), "the release timer sent something");
            assert!(conn.buffer_memory() <= 2 * RETAIN_WHEN_EMPTY, "storage freed: {}", conn.buffer_memory());
            assert_eq!(conn.poll_timeout(), None, "nothing else pending on an idle connection");
        }
    }
}
