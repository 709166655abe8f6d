//! [`SmolBulkHost`]: a smoltcp bulk-transfer application on a [`SmolHost`],
//! as a [`toytcp_sim::Host`] of the simulator's world.
//!
//! One type serves every smoltcp bulk peer of the tests and benchmarks:
//! the both-way [`AppModel::Bulk`](toytcp_sim::AppModel::Bulk) peer of
//! `tests/interop_smoltcp_world.rs` (send one stream, close, read the other
//! to its end) and the one-way sender and sink of the recovery benchmark's
//! dumbbell (`tests/common/recovery.rs`). Each direction is optional
//! ([`BulkSpec::tx`], [`BulkSpec::rx`]); both streams are the simulator's
//! keyed patterns ([`toytcp_sim::app::fill_pattern`]), so a smoltcp sender
//! can feed a ToyTCP receiver and the other way round, and every byte read
//! is checked.
#![allow(dead_code, reason = "each test or bench binary uses a different part of the host")]

use super::smol::{PacketPool, SmolHost};
use smoltcp::socket::tcp;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{Duration, Instant};
use toytcp_sim::app::{check_pattern, fill_pattern};

/// How the host's socket opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Open {
    /// Actively, to `remote` from `local_port`.
    Connect {
        /// The peer.
        remote: SocketAddrV4,
        /// Our port.
        local_port: u16,
    },
    /// Passively, listening on `port`.
    Listen {
        /// The port.
        port: u16,
    },
}

/// One direction of the connection: `total` bytes of the pattern keyed `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stream {
    /// The pattern's key.
    pub key: u64,
    /// Its length in bytes (a `u64::MAX`-like total never ends).
    pub total: u64,
}

/// What a [`SmolBulkHost`] is and does.
#[derive(Clone, Copy, Debug)]
pub struct BulkSpec {
    /// The host's address (a /24).
    pub addr: Ipv4Addr,
    /// The device's MTU.
    pub mtu: usize,
    /// Bytes of each of the socket's send and receive buffers.
    pub buffer: usize,
    /// The socket's congestion controller.
    pub cc: tcp::CongestionControl,
    /// How the socket opens.
    pub open: Open,
    /// The stream we send, then close our side (FIN). `None`: we send
    /// nothing and never close (a pure sink).
    pub tx: Option<Stream>,
    /// The stream the peer sends, read and checked up to its FIN, which
    /// must come after exactly `total` bytes. `None`: we read nothing and
    /// expect no FIN (a pure sender).
    pub rx: Option<Stream>,
}

impl BulkSpec {
    /// A host at `addr` opening as `open` that moves nothing yet: MTU
    /// 1500, 64 KiB socket buffers, no congestion control (smoltcp's
    /// default without the `socket-tcp-cubic` feature, see [`SmolHost`]).
    pub fn new(addr: Ipv4Addr, open: Open) -> Self {
        BulkSpec { addr, mtu: 1500, buffer: 64 * 1024, cc: tcp::CongestionControl::None, open, tx: None, rx: None }
    }
}

/// Bytes the application writes or reads per socket call.
const APP_CHUNK: usize = 64 * 1024;

/// A smoltcp interface and socket running a [`BulkSpec`].
pub struct SmolBulkHost {
    smol: SmolHost,
    spec: BulkSpec,
    /// Bytes written into the socket.
    sent: u64,
    /// Bytes read from the socket, in order, all checked.
    received: u64,
    closed_write: bool,
    eof: bool,
    error: Option<String>,
    now: Instant,
    buf: Vec<u8>,
}

impl SmolBulkHost {
    /// A host running `spec`, opened at time zero.
    pub fn new(spec: BulkSpec) -> Self {
        let now = Instant::ZERO;
        let mut smol = SmolHost::new(now, spec.addr, spec.mtu, spec.buffer, PacketPool::default());
        smol.set_congestion_control(spec.cc);
        match spec.open {
            Open::Connect { remote, local_port } => smol.connect(remote, local_port),
            Open::Listen { port } => smol.listen(port),
        }
        SmolBulkHost {
            smol,
            spec,
            sent: 0,
            received: 0,
            closed_write: false,
            eof: false,
            error: None,
            now,
            buf: vec![0; APP_CHUNK],
        }
    }

    /// Bytes written into the socket so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes read from the socket so far, in order, all checked.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The peer's stream has been read to its end.
    pub fn eof(&self) -> bool {
        self.eof
    }

    /// "client" or "server", for messages.
    fn side(&self) -> &'static str {
        match self.spec.open {
            Open::Connect { .. } => "client",
            Open::Listen { .. } => "server",
        }
    }

    /// The application: write our stream and close, read the peer's and
    /// check it. True if it moved anything.
    fn app(&mut self) -> bool {
        let mut progress = false;
        let s = self.smol.socket();
        if let Some(tx) = self.spec.tx {
            while self.sent < tx.total && s.can_send() {
                // Generate no more pattern than the socket takes.
                let room = s.send_capacity() - s.send_queue();
                let n = (tx.total - self.sent).min(self.buf.len() as u64).min(room as u64) as usize;
                if n == 0 {
                    break;
                }
                fill_pattern(tx.key, self.sent, &mut self.buf[..n]);
                match s.send_slice(&self.buf[..n]) {
                    Ok(0) => break,
                    Ok(k) => {
                        self.sent += k as u64;
                        progress = true;
                    }
                    Err(e) => {
                        self.error.get_or_insert(format!("send: {e}"));
                        break;
                    }
                }
            }
            if self.sent == tx.total && !self.closed_write && s.may_send() {
                s.close();
                self.closed_write = true;
                progress = true;
            }
        }
        if let Some(rx) = self.spec.rx {
            while !self.eof {
                match s.recv_slice(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if let Some(at) = check_pattern(rx.key, self.received, &self.buf[..n]) {
                            self.error.get_or_insert(format!("byte {at} differs from what the peer sent"));
                        }
                        self.received += n as u64;
                        progress = true;
                    }
                    Err(tcp::RecvError::Finished) => {
                        if self.received != rx.total {
                            self.error
                                .get_or_insert(format!("end of stream after {} of {} bytes", self.received, rx.total));
                        }
                        self.eof = true;
                        progress = true;
                    }
                    Err(tcp::RecvError::InvalidState) => break,
                }
            }
        }
        progress
    }

    /// Runs interface and application until neither moves.
    fn drive(&mut self, now: Instant) {
        self.now = now;
        for _ in 0..1000 {
            let progress = self.app();
            self.smol.poll(now);
            if !progress {
                return;
            }
        }
        self.error.get_or_insert_with(|| "application still busy after 1000 rounds".into());
    }
}

impl toytcp_sim::Host for SmolBulkHost {
    fn addr(&self) -> Ipv4Addr {
        self.smol.addr()
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.smol.deliver_copy(packet);
        self.drive(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.drive(now);
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.drive(now);
        while let Some(p) = self.smol.take_tx() {
            out.push(p);
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // Never ask to be woken at or before the present again: smoltcp
        // answers "now" while it has something queued, which one more
        // `drive` at the next microsecond settles.
        let now = self.now;
        self.smol.poll_at(now).map(|t| t.max(now + Duration::from_micros(1)))
    }

    fn app_done(&self) -> bool {
        let tx_done = self.spec.tx.is_none() || self.closed_write;
        let rx_done = self.spec.rx.is_none() || self.eof;
        // Once both sides have closed, the close handshake must finish too
        // (TIME-WAIT counts as done: smoltcp leaves it on its own timer).
        let handshake_done =
            !(self.closed_write && self.eof) || matches!(self.smol.state(), tcp::State::Closed | tcp::State::TimeWait);
        tx_done && rx_done && handshake_done
    }

    fn check(&self) -> Result<(), String> {
        match &self.error {
            Some(e) => Err(format!("smoltcp {}: {e}", self.side())),
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        let total = |s: Option<Stream>| s.map_or("-".to_string(), |s| s.total.to_string());
        format!(
            "smoltcp {} at {}: {} of {} bytes sent, closed {}, {} of {} received, eof {}, socket {}\n",
            self.side(),
            self.smol.addr(),
            self.sent,
            total(self.spec.tx),
            self.closed_write,
            self.received,
            total(self.spec.rx),
            self.eof,
            self.smol.state()
        )
    }
}
