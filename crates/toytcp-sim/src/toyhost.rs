//! The ToyTCP host kind: one [`Endpoint`] plus the application models
//! ([`Task`]s) running on it, driven with the core's documented loop —
//! after every input or application call, `poll_transmit` until `None`,
//! then `poll_timeout`, then `poll_event`.

use crate::Host;
use crate::app::{AppSpec, Role, Task};
use core::net::{Ipv4Addr, SocketAddrV4};
use std::cell::Cell;
use std::fmt::Write as _;
use toytcp_core::{Endpoint, EndpointConfig, EndpointEvent, Event, Instant};

/// Largest IPv4 packet: the size of the transmit buffer.
const MAX_PACKET: usize = 65535;

/// Application rounds per input after which a host is declared spinning.
const MAX_APP_ROUNDS: u32 = 100_000;

/// Transmission-log entries [`ToyHost::check`](crate::Host::check) may
/// walk per call, on average. Every connection's O(1) invariants are
/// checked on every call; the walk of its transmission log
/// ([`Connection::check_invariants`], O(segments in flight)) is paid from a
/// credit that grows by this much per call, so a log of up to this many
/// entries is walked on every call and a longer one every
/// `len / CHECK_CREDIT` calls or so. Without the credit, a transfer with a
/// small MSS and a large window (thousands of segments in flight, over a
/// hundred thousand steps) spent most of its time walking the same log
/// again after each step: quadratic, seconds per run, and tens of seconds
/// under the fuzzer's instrumentation. `check_all` walks every log.
///
/// [`Connection::check_invariants`]: toytcp_core::Connection::check_invariants
pub const CHECK_CREDIT: u64 = 64;

/// A ToyTCP endpoint with its applications.
pub struct ToyHost {
    name: String,
    addr: Ipv4Addr,
    peer: Ipv4Addr,
    endpoint: Endpoint,
    tasks: Vec<Task>,
    /// Client tasks not started yet, by start time.
    pending_starts: Vec<(Instant, usize)>,
    errors: Vec<String>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    packet: Vec<u8>,
    /// Log entries the next checks may walk (see [`CHECK_CREDIT`]).
    check_credit: Cell<u64>,
    /// What checking has cost so far (see [`ToyHost::check_cost`]).
    cost: Cell<CheckCost>,
}

/// What [`ToyHost`]'s invariant checks have cost so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckCost {
    /// Calls of `check` (one per step the host ran) and `check_all`.
    pub calls: u64,
    /// Transmission-log entries walked by full connection checks.
    pub entries_walked: u64,
    /// The longest transmission log seen by a check.
    pub longest_log: u64,
}

impl ToyHost {
    /// A host at `addr` whose clients connect to `peer`. For each spec the
    /// host runs the `role` side; servers listen at once (except for
    /// [`AppModel::Refused`](crate::AppModel::Refused), whose port stays
    /// closed), clients connect at their start time.
    pub fn new(
        name: &str,
        addr: Ipv4Addr,
        peer: Ipv4Addr,
        config: EndpointConfig,
        specs: &[AppSpec],
        role: Role,
    ) -> Self {
        let mut host = ToyHost {
            name: name.to_string(),
            addr,
            peer,
            endpoint: Endpoint::new(config),
            tasks: Vec::new(),
            pending_starts: Vec::new(),
            errors: Vec::new(),
            rx: vec![0; 64 * 1024],
            tx: vec![0; 64 * 1024],
            packet: vec![0; MAX_PACKET],
            check_credit: Cell::new(0),
            cost: Cell::new(CheckCost::default()),
        };
        for spec in specs {
            let index = host.tasks.len();
            let mut task = Task::new(spec.clone(), role);
            match role {
                Role::Server if spec.model == crate::AppModel::Refused => {
                    // Nothing to do: the client's connection must be refused.
                    task.closed = Some(toytcp_core::CloseReason::Refused);
                }
                Role::Server if matches!(spec.model, crate::AppModel::Simultaneous { .. }) => {
                    host.pending_starts.push((Instant::ZERO + spec.start, index));
                }
                Role::Server => {
                    if let Err(e) = host.endpoint.listen(SocketAddrV4::new(addr, spec.port), 16) {
                        host.errors.push(format!("listen on port {} failed: {e}", spec.port));
                    }
                }
                Role::Client => host.pending_starts.push((Instant::ZERO + spec.start, index)),
            }
            host.tasks.push(task);
        }
        host.pending_starts.sort();
        host
    }

    /// The host's name (for reports).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The application tasks.
    pub fn tasks(&self) -> &[Task] {
        &self.tasks
    }

    /// Runs the applications until nothing moves.
    fn drive(&mut self, now: Instant) {
        while let Some(&(at, index)) = self.pending_starts.first() {
            if at > now {
                break;
            }
            self.pending_starts.remove(0);
            self.tasks[index].start(&mut self.endpoint, now, self.addr, self.peer);
        }
        for _ in 0..MAX_APP_ROUNDS {
            let mut progress = false;
            while let Some(event) = self.endpoint.poll_event() {
                progress = true;
                match event {
                    EndpointEvent::Incoming { listener } => {
                        while let Some(h) = self.endpoint.accept(listener) {
                            let task = self.tasks.iter_mut().find(|t| {
                                t.role == Role::Server && t.spec.port == listener.port() && t.handle.is_none()
                            });
                            match task {
                                Some(t) => t.accepted(&mut self.endpoint, h),
                                None => {
                                    self.errors.push(format!("unexpected connection on {listener}"));
                                    let _ = self.endpoint.abort(h);
                                }
                            }
                        }
                    }
                    EndpointEvent::Connection { handle, event: Event::Closed(reason) } => {
                        if let Some(t) = self.tasks.iter_mut().find(|t| t.handle == Some(handle)) {
                            t.on_closed(&mut self.endpoint, reason);
                        }
                    }
                    EndpointEvent::Connection { .. } => {}
                }
            }
            for t in &mut self.tasks {
                progress |= t.step(&mut self.endpoint, &mut self.rx, &mut self.tx);
            }
            if !progress {
                return;
            }
        }
        self.errors.push(format!("applications still busy after {MAX_APP_ROUNDS} rounds"));
    }
}

impl ToyHost {
    /// What the invariant checks have cost so far: calls, log entries
    /// walked (on average at most [`CHECK_CREDIT`] per call beyond logs of
    /// up to that length), the longest log seen.
    pub fn check_cost(&self) -> CheckCost {
        self.cost.get()
    }
}

impl Host for ToyHost {
    fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.endpoint.handle(now, packet);
        self.drive(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.drive(now);
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        while let Some(t) = self.endpoint.poll_transmit(now, &mut self.packet) {
            out.push(self.packet[..t.len].to_vec());
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        let start = self.pending_starts.first().map(|&(t, _)| t);
        match (self.endpoint.poll_timeout(), start) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn app_done(&self) -> bool {
        self.pending_starts.is_empty() && self.tasks.iter().all(Task::finished) && self.endpoint.connection_count() == 0
    }

    fn check(&self) -> Result<(), String> {
        if let Some(e) = self.errors.first() {
            return Err(format!("{}: {e}", self.name));
        }
        if let Some(e) = self.tasks.iter().find_map(|t| t.error.as_ref()) {
            return Err(format!("{}: {e}", self.name));
        }
        let mut credit = self.check_credit.get().saturating_add(CHECK_CREDIT);
        let mut cost = self.cost.get();
        cost.calls += 1;
        for h in self.endpoint.handles() {
            if let Some(c) = self.endpoint.connection(h) {
                let entries = c.sent_log_len() as u64;
                cost.longest_log = cost.longest_log.max(entries);
                let walk = entries <= CHECK_CREDIT || credit >= entries;
                if entries > CHECK_CREDIT && walk {
                    credit -= entries;
                }
                let checked = if walk {
                    cost.entries_walked += entries;
                    c.check_invariants()
                } else {
                    c.check_invariants_quick()
                };
                if let Err(e) = checked {
                    return Err(format!("{} connection {}: {e}", self.name, c.four_tuple().local));
                }
            }
        }
        self.check_credit.set(credit);
        self.cost.set(cost);
        Ok(())
    }

    fn check_all(&self) -> Result<(), String> {
        self.check_credit.set(u64::MAX);
        let all = self.check();
        self.check_credit.set(0);
        all
    }

    fn malformed_packets(&self) -> Option<u64> {
        Some(self.endpoint.stats().malformed_total())
    }

    fn describe(&self) -> String {
        let mut s = format!("{} ({}): {:?}\n", self.name, self.addr, self.endpoint.stats());
        for t in &self.tasks {
            let _ = writeln!(s, "  app {}", t.describe());
        }
        for h in self.endpoint.handles() {
            if let Some(c) = self.endpoint.connection(h) {
                let st = c.stats();
                let _ = writeln!(
                    s,
                    "  conn {} -> {} {} queued {} readable {} peer_fin {} reason {:?}\n    {:?}",
                    c.four_tuple().local,
                    c.four_tuple().remote,
                    c.state(),
                    c.send_queued(),
                    c.recv_available(),
                    c.peer_finished(),
                    c.close_reason(),
                    st
                );
            }
        }
        s
    }
}
