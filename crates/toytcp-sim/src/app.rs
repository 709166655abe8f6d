//! Application models: what the programs on both ends of a connection do,
//! and the checks they make on every byte.
//!
//! Every byte a model sends comes from a keyed pattern ([`fill_pattern`]):
//! byte `i` of a stream is a hash of the stream's key and `i`. The
//! receiver checks each byte against the pattern at its offset, so a
//! duplicated, lost, reordered or corrupted byte is caught where it
//! happens, and at end of stream the count must equal what the peer sent.

use crate::rng::mix64;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;
use toytcp_core::config::Keepalive;
use toytcp_core::{CloseReason, ConnectionHandle, Duration, Endpoint, Error, Instant};

/// What one client/server pair does over one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppModel {
    /// Both sides send at once (`up` bytes from the client, `down` from the
    /// server), shut down their write side when done, read to end of
    /// stream, then close.
    Bulk {
        /// Client → server bytes.
        up: u64,
        /// Server → client bytes.
        down: u64,
    },
    /// The book's echo server: the client writes `bytes` in writes of at
    /// most `chunk` bytes and shuts down; the server writes back whatever
    /// it reads and shuts down at end of stream; the client checks the echo.
    Echo {
        /// Bytes sent (and echoed).
        bytes: u64,
        /// Largest single write of the client.
        chunk: u32,
    },
    /// `count` exchanges: the client writes a `request`-byte request and
    /// waits for the `response`-byte answer before the next one.
    RequestResponse {
        /// Exchanges.
        count: u32,
        /// Request size in bytes (at least 1).
        request: u32,
        /// Response size in bytes.
        response: u32,
    },
    /// A sequence of exchanges of any sizes: in step `i` the client sends
    /// `steps[i].0` bytes; once the server has them all it answers with
    /// `steps[i].1` bytes, and the client waits for the answer before the
    /// next step (an empty request is answered at once, an empty answer is
    /// not waited for). Then both shut down.
    Conversation {
        /// (request, response) sizes per step.
        steps: Vec<(u32, u32)>,
    },
    /// Simultaneous open (RFC 9293 §3.5, figure 8): nobody listens; both
    /// hosts connect to each other at the same instant from fixed ports
    /// (the client from `port + 1000` to `port`), then move data as
    /// [`AppModel::Bulk`] does.
    Simultaneous {
        /// Client → server bytes.
        up: u64,
        /// Server → client bytes.
        down: u64,
    },
    /// Half-close (RFC 9293 §3.10.4): the client sends `up` bytes and shuts
    /// down; only after end of stream does the server send `down` bytes and
    /// close; the client reads them to end of stream.
    HalfClose {
        /// Client → server bytes.
        up: u64,
        /// Server → client bytes, sent after the client's FIN.
        down: u64,
    },
    /// The server sends `down` bytes; the client aborts (RST) after reading
    /// `after` of them. The server, with keepalive on, must learn of the
    /// reset (Reset, or TimedOut when every probe is lost).
    Abort {
        /// Bytes the server offers.
        down: u64,
        /// Bytes read by the client before it aborts (at least 1).
        after: u64,
    },
    /// The client connects to a port nobody listens on and must see
    /// "connection refused" (RFC 9293 §3.10.7.1, §3.10.7.3).
    Refused,
}

/// Total of the first `k` entries of one side of a conversation.
fn conversation_sum(steps: &[(u32, u32)], k: usize, client: bool) -> u64 {
    steps[..k.min(steps.len())].iter().map(|&(c, s)| u64::from(if client { c } else { s })).sum()
}

/// The largest `k` with `conversation_sum(steps, k, client) <= bytes`.
fn conversation_steps_done(steps: &[(u32, u32)], bytes: u64, client: bool) -> usize {
    let mut total = 0u64;
    for (k, &(c, s)) in steps.iter().enumerate() {
        total += u64::from(if client { c } else { s });
        if total > bytes {
            return k;
        }
    }
    steps.len()
}

impl AppModel {
    /// Bytes the client sends in total.
    pub fn client_total(&self) -> u64 {
        match *self {
            AppModel::Conversation { ref steps } => conversation_sum(steps, steps.len(), true),
            AppModel::Bulk { up, .. } | AppModel::HalfClose { up, .. } | AppModel::Simultaneous { up, .. } => up,
            AppModel::Echo { bytes, .. } => bytes,
            AppModel::RequestResponse { count, request, .. } => u64::from(count) * u64::from(request.max(1)),
            AppModel::Abort { .. } | AppModel::Refused => 0,
        }
    }

    /// Bytes the server sends in total.
    pub fn server_total(&self) -> u64 {
        match *self {
            AppModel::Conversation { ref steps } => conversation_sum(steps, steps.len(), false),
            AppModel::Bulk { down, .. }
            | AppModel::HalfClose { down, .. }
            | AppModel::Abort { down, .. }
            | AppModel::Simultaneous { down, .. } => down,
            AppModel::Echo { bytes, .. } => bytes,
            AppModel::RequestResponse { count, response, .. } => u64::from(count) * u64::from(response),
            AppModel::Refused => 0,
        }
    }
}

/// One application pair of a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppSpec {
    /// What the pair does.
    pub model: AppModel,
    /// The server's port (nobody listens on it for [`AppModel::Refused`]).
    pub port: u16,
    /// When the client connects.
    pub start: Duration,
    /// Key of the data patterns.
    pub key: u64,
}

/// Fills `out` with bytes `offset..offset + out.len()` of the stream keyed `key`.
pub fn fill_pattern(key: u64, offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let pos = offset + i as u64;
        *b = (mix64(key ^ (pos >> 3).wrapping_mul(0x2545_F491_4F6C_DD1D)) >> ((pos & 7) * 8)) as u8;
    }
}

/// The offset of the first byte of `data` that differs from the stream
/// keyed `key` at `offset`, if any.
pub fn check_pattern(key: u64, offset: u64, data: &[u8]) -> Option<u64> {
    let mut expected = [0u8; 4096];
    for (n, chunk) in data.chunks(expected.len()).enumerate() {
        let at = offset + (n * expected.len()) as u64;
        fill_pattern(key, at, &mut expected[..chunk.len()]);
        if let Some(i) = chunk.iter().zip(&expected).position(|(a, b)| a != b) {
            return Some(at + i as u64);
        }
    }
    None
}

/// Which end of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Connects.
    Client,
    /// Listens and accepts.
    Server,
}

/// Largest echo backlog the server holds before it stops reading.
const ECHO_BACKLOG: usize = 64 * 1024;

/// One side of an application pair running on a [`ToyHost`](crate::ToyHost).
#[derive(Debug)]
pub struct Task {
    /// The pair.
    pub spec: AppSpec,
    /// Which side this is.
    pub role: Role,
    /// The connection, once connected or accepted.
    pub handle: Option<ConnectionHandle>,
    /// Bytes written into the connection.
    pub sent: u64,
    /// Bytes read from it (all checked).
    pub received: u64,
    /// Our write side is shut down.
    pub shut: bool,
    /// End of stream read.
    pub eof: bool,
    /// `close` (or `abort`) called.
    pub close_called: bool,
    /// How the connection ended.
    pub closed: Option<CloseReason>,
    /// The first check that failed.
    pub error: Option<String>,
    echo: VecDeque<u8>,
}

impl Task {
    /// A side of `spec`.
    pub fn new(spec: AppSpec, role: Role) -> Self {
        Task {
            spec,
            role,
            handle: None,
            sent: 0,
            received: 0,
            shut: false,
            eof: false,
            close_called: false,
            closed: None,
            error: None,
            echo: VecDeque::new(),
        }
    }

    /// The task is over: its connection closed (an error is kept in `error`).
    pub fn finished(&self) -> bool {
        self.closed.is_some()
    }

    fn fail(&mut self, msg: String) {
        if self.error.is_none() {
            self.error = Some(format!("{:?} {:?} port {}: {msg}", self.role, self.spec.model, self.spec.port));
        }
    }

    fn tx_key(&self) -> u64 {
        match (self.role, &self.spec.model) {
            (Role::Client, _) | (Role::Server, AppModel::Echo { .. }) => mix64(self.spec.key ^ 1),
            (Role::Server, _) => mix64(self.spec.key ^ 2),
        }
    }

    fn rx_key(&self) -> u64 {
        match (self.role, &self.spec.model) {
            (Role::Server, _) | (Role::Client, AppModel::Echo { .. }) => mix64(self.spec.key ^ 1),
            (Role::Client, _) => mix64(self.spec.key ^ 2),
        }
    }

    fn tx_total(&self) -> u64 {
        match self.role {
            Role::Client => self.spec.model.client_total(),
            Role::Server => self.spec.model.server_total(),
        }
    }

    fn rx_total(&self) -> u64 {
        match self.role {
            Role::Client => self.spec.model.server_total(),
            Role::Server => self.spec.model.client_total(),
        }
    }

    /// Bytes that may have been written by now.
    fn tx_limit(&self) -> u64 {
        match (self.role, &self.spec.model) {
            (Role::Client, &AppModel::RequestResponse { request, response, .. }) => {
                let done = self.received / u64::from(response.max(1));
                let done = if response == 0 { self.sent / u64::from(request.max(1)) } else { done };
                ((done + 1) * u64::from(request.max(1))).min(self.tx_total())
            }
            (Role::Server, &AppModel::RequestResponse { request, response, .. }) => {
                (self.received / u64::from(request.max(1)) * u64::from(response)).min(self.tx_total())
            }
            (Role::Client, AppModel::Conversation { steps }) => {
                let answered = conversation_steps_done(steps, self.received, false);
                conversation_sum(steps, answered + 1, true)
            }
            (Role::Server, AppModel::Conversation { steps }) => {
                let asked = conversation_steps_done(steps, self.received, true);
                conversation_sum(steps, asked, false)
            }
            (Role::Server, AppModel::HalfClose { .. }) if !self.eof => 0,
            _ => self.tx_total(),
        }
    }

    fn wants_shutdown(&self) -> bool {
        match (self.role, &self.spec.model) {
            (_, AppModel::Refused) | (_, AppModel::Abort { .. }) => false,
            (Role::Server, AppModel::Echo { .. }) => self.eof && self.echo.is_empty(),
            (Role::Server, AppModel::HalfClose { .. }) => self.eof && self.sent == self.tx_total(),
            _ => self.sent == self.tx_total(),
        }
    }

    /// Starts a client (or either side of a simultaneous open): connects to `peer`.
    pub fn start(&mut self, ep: &mut Endpoint, now: Instant, local: Ipv4Addr, peer: Ipv4Addr) {
        let result = if let AppModel::Simultaneous { .. } = self.spec.model {
            let (client_port, server_port) = (self.spec.port.wrapping_add(1000), self.spec.port);
            let (ours, theirs) = match self.role {
                Role::Client => (client_port, server_port),
                Role::Server => (server_port, client_port),
            };
            ep.connect_from(now, SocketAddrV4::new(local, ours), SocketAddrV4::new(peer, theirs))
        } else {
            ep.connect(now, local, SocketAddrV4::new(peer, self.spec.port))
        };
        match result {
            Ok(h) => self.handle = Some(h),
            Err(e) => self.fail(format!("connect failed: {e}")),
        }
    }

    /// A server side got its connection.
    pub fn accepted(&mut self, ep: &mut Endpoint, h: ConnectionHandle) {
        self.handle = Some(h);
        if let AppModel::Abort { .. } = &self.spec.model {
            let keepalive = Keepalive { idle: Duration::from_secs(10), interval: Duration::from_secs(2), probes: 5 };
            let _ = ep.with_conn(h, |c| {
                c.set_keepalive(Some(keepalive));
                Ok(())
            });
        }
    }

    /// The connection ended: checks the outcome against the model.
    pub fn on_closed(&mut self, ep: &mut Endpoint, reason: CloseReason) {
        if self.closed.is_some() {
            return;
        }
        self.closed = Some(reason);
        if !self.close_called
            && let Some(h) = self.handle
        {
            // Release the handle so that the endpoint can forget the connection.
            let _ = ep.close(h);
            self.close_called = true;
        }
        let ok = match (self.role, &self.spec.model) {
            (Role::Client, AppModel::Refused) => reason == CloseReason::Refused,
            (Role::Client, AppModel::Abort { .. }) => reason == CloseReason::Aborted,
            (Role::Server, AppModel::Abort { .. }) => matches!(reason, CloseReason::Reset | CloseReason::TimedOut),
            _ => reason == CloseReason::Graceful,
        };
        if !ok {
            self.fail(format!("connection ended with \"{reason}\" (sent {}, received {})", self.sent, self.received));
        } else if reason == CloseReason::Graceful && (!self.eof || self.sent != self.tx_total()) {
            self.fail(format!(
                "closed gracefully with eof {} sent {}/{} received {}/{}",
                self.eof,
                self.sent,
                self.tx_total(),
                self.received,
                self.rx_total()
            ));
        }
    }

    /// Moves data; returns true if anything happened.
    pub fn step(&mut self, ep: &mut Endpoint, rx: &mut [u8], tx: &mut [u8]) -> bool {
        let Some(h) = self.handle else { return false };
        if self.close_called || self.closed.is_some() {
            return false;
        }
        let mut progress = false;
        // Read and check.
        while !self.eof && self.echo.len() < ECHO_BACKLOG {
            match ep.recv(h, rx) {
                Ok(0) => {
                    self.eof = true;
                    progress = true;
                    if self.received != self.rx_total() {
                        self.fail(format!("end of stream after {} of {} bytes", self.received, self.rx_total()));
                    }
                }
                Ok(n) => {
                    progress = true;
                    let data = &rx[..n];
                    if self.received + n as u64 > self.rx_total() {
                        self.fail(format!(
                            "{} bytes received, only {} sent",
                            self.received + n as u64,
                            self.rx_total()
                        ));
                    } else if let Some(at) = check_pattern(self.rx_key(), self.received, data) {
                        self.fail(format!("byte {at} differs from what the peer sent"));
                    }
                    if let (Role::Server, AppModel::Echo { .. }) = (self.role, &self.spec.model) {
                        self.echo.extend(data);
                    }
                    self.received += n as u64;
                    if let (Role::Client, &AppModel::Abort { after, .. }) = (self.role, &self.spec.model)
                        && self.received >= after
                    {
                        self.close_called = true;
                        if let Err(e) = ep.abort(h) {
                            self.fail(format!("abort failed: {e}"));
                        }
                        return true;
                    }
                }
                Err(Error::WouldBlock | Error::Closed(_)) => break,
                Err(e) => {
                    self.fail(format!("recv failed: {e}"));
                    break;
                }
            }
        }
        // Write.
        if let (Role::Server, AppModel::Echo { .. }) = (self.role, &self.spec.model) {
            while !self.echo.is_empty() {
                let (front, _) = self.echo.as_slices();
                match ep.send(h, front) {
                    Ok(n) => {
                        self.echo.drain(..n);
                        self.sent += n as u64;
                        progress = true;
                    }
                    Err(Error::WouldBlock | Error::Closed(_)) => break,
                    Err(e) => {
                        self.fail(format!("send failed: {e}"));
                        break;
                    }
                }
            }
        } else {
            let chunk = match &self.spec.model {
                AppModel::Echo { chunk, .. } => (*chunk as usize).max(1),
                _ => tx.len(),
            };
            while self.sent < self.tx_limit() {
                // Generate no more pattern than the send buffer takes.
                let room = ep.connection(h).map_or(0, |c| c.send_capacity());
                let n = ((self.tx_limit() - self.sent) as usize).min(chunk).min(tx.len()).min(room);
                if n == 0 {
                    break;
                }
                fill_pattern(self.tx_key(), self.sent, &mut tx[..n]);
                match ep.send(h, &tx[..n]) {
                    Ok(k) => {
                        self.sent += k as u64;
                        progress = true;
                    }
                    Err(Error::WouldBlock | Error::Closed(_)) => break,
                    Err(e) => {
                        self.fail(format!("send failed: {e}"));
                        break;
                    }
                }
            }
        }
        if !self.shut && self.wants_shutdown() {
            self.shut = true;
            progress = true;
            match ep.shutdown(h) {
                Ok(()) | Err(Error::Closed(_)) => {}
                Err(e) => self.fail(format!("shutdown failed: {e}")),
            }
        }
        if self.shut && self.eof && !self.close_called {
            self.close_called = true;
            progress = true;
            if let Err(e) = ep.close(h) {
                self.fail(format!("close failed: {e}"));
            }
        }
        progress
    }

    /// One line: model, side and progress.
    pub fn describe(&self) -> String {
        format!(
            "{:?} {:?} port {}: sent {}/{} received {}/{} shut {} eof {} closed {:?}{}",
            self.role,
            self.spec.model,
            self.spec.port,
            self.sent,
            self.tx_total(),
            self.received,
            self.rx_total(),
            self.shut,
            self.eof,
            self.closed,
            self.error.as_deref().map(|e| format!(" ERROR {e}")).unwrap_or_default()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_positional_and_keyed() {
        let mut a = [0u8; 100];
        fill_pattern(1, 0, &mut a);
        let mut b = [0u8; 50];
        fill_pattern(1, 50, &mut b);
        assert_eq!(&a[50..], &b);
        assert_eq!(check_pattern(1, 0, &a), None);
        assert_eq!(check_pattern(1, 50, &b), None);
        assert_eq!(check_pattern(2, 0, &a), Some(0));
        let mut c = a;
        c[77] ^= 1;
        assert_eq!(check_pattern(1, 0, &c), Some(77));
        // A shifted copy (a duplicate or a lost byte) does not match.
        assert!(check_pattern(1, 1, &a[..99]).is_some());
        let big: Vec<u8> = {
            let mut v = vec![0u8; 10_000];
            fill_pattern(3, 5, &mut v);
            v
        };
        assert_eq!(check_pattern(3, 5, &big), None);
    }

    #[test]
    fn conversation_waits_for_each_non_empty_answer() {
        let steps = vec![(0, 10), (5, 0), (1, 1)];
        let spec = AppSpec { model: AppModel::Conversation { steps }, port: 1, start: Duration::ZERO, key: 0 };
        let mut client = Task::new(spec.clone(), Role::Client);
        let mut server = Task::new(spec, Role::Server);
        assert_eq!((client.tx_total(), server.tx_total()), (6, 11));
        // Step 0 has an empty request: the server answers at once.
        assert_eq!((client.tx_limit(), server.tx_limit()), (0, 10));
        // With the answer in, the client sends steps 1 and 2 (step 1's
        // answer is empty, nothing to wait for)…
        client.received = 10;
        assert_eq!(client.tx_limit(), 6);
        // …and the server answers step 2 once both requests are in.
        server.received = 5;
        assert_eq!(server.tx_limit(), 10);
        server.received = 6;
        assert_eq!(server.tx_limit(), 11);
    }

    #[test]
    fn totals_follow_the_model() {
        let m = AppModel::RequestResponse { count: 3, request: 10, response: 7 };
        assert_eq!((m.client_total(), m.server_total()), (30, 21));
        let m = AppModel::Echo { bytes: 5, chunk: 1 };
        assert_eq!((m.client_total(), m.server_total()), (5, 5));
        assert_eq!((AppModel::Refused.client_total(), AppModel::Refused.server_total()), (0, 0));
    }
}
