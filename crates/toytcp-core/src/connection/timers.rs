//! The connection's timers (RFC 9293 §3.8, RFC 6298, RFC 1122 §4.2.3.6)
//! and what happens when each expires.

use super::{CloseReason, Connection, State};
use crate::time::Instant;

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
}

impl Timers {
    /// The earliest running deadline.
    pub fn next(&self) -> Option<Instant> {
        [self.rto, self.persist, self.delack, self.keepalive, self.time_wait].into_iter().flatten().min()
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
    }

    /// RFC 6298 §5.4–§5.6: retransmit the earliest unacknowledged segment
    /// (go-back-N from SND.UNA), back the timer off, collapse cwnd
    /// (RFC 5681 §3.1), and give up after the retry limit or user timeout
    /// (RFC 9293 §3.8.3).
    fn on_retransmission_timeout(&mut self, now: Instant) {
        if self.snd_una == self.snd_max {
            return;
        }
        self.retries += 1;
        self.stats.timeouts += 1;
        let handshake = matches!(self.state, State::SynSent | State::SynReceived);
        let limit = if handshake { self.config.syn_retries } else { self.config.max_retries };
        let since = *self.stalled_since.get_or_insert(now);
        let user_timeout_hit = self.config.user_timeout.is_some_and(|ut| now.saturating_duration_since(since) >= ut);
        if self.retries > limit || user_timeout_hit {
            self.enter_closed(CloseReason::TimedOut);
            return;
        }
        let flight = self.snd_max - self.snd_una;
        self.cc.on_rto(flight, self.smss);
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
            self.stats.window_probes += 1;
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
        self.stats.keepalive_probes += 1;
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
