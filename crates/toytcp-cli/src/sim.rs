//! An in-memory world: ToyTCP endpoints ("hosts") joined by a link with a
//! fixed one-way latency, run in virtual time.
//!
//! The clock never waits: it jumps straight to the next packet arrival or
//! the earliest `poll_timeout` deadline, so a run that spans a 60-second
//! TIME-WAIT finishes at once and is the same on every run for a given
//! seed.
//!
//! Every host is driven with the core's documented loop: after each input
//! (`handle`, `handle_timeout`) and each application call, `poll_transmit`
//! until `None`, then `poll_timeout`, then `poll_event`. Applications are
//! [`App`]s that react to the endpoint's events through an [`Io`] handle,
//! whose calls run that loop for them.
//!
//! Tracing (target `toytcp_cli::sim`, level INFO): one line per segment
//! sent (`Out`) and received (`In`) in [`trace`] form, one
//! per state transition (`SYN-SENT -> ESTABLISHED`), one per event, and the
//! connection's counters ([`trace::stats_line`]) after the transitions
//! [`trace::shows_stats`] names.
//!
//! With [`WorldConfig::capture`] the link records every packet as it is
//! sent, for [`World::pcap`].

use crate::trace::{self, Direction};
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use toytcp_core::wire;
use toytcp_core::{
    Connection, ConnectionConfig, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, FourTuple,
    Instant, State,
};

/// Largest IPv4 packet; the size of the transmit buffer.
const MAX_PACKET: usize = 65535;

/// Inputs (packet deliveries and timeouts) after which a run is declared stuck.
const MAX_STEPS: u64 = 10_000_000;

/// Why a run failed. `Display` gives one plain line.
#[derive(Debug)]
pub enum SimError {
    /// An application call failed locally (a bug in the application or the core).
    Call {
        /// Which host.
        host: &'static str,
        /// What the application tried.
        what: &'static str,
        /// The core's error.
        error: toytcp_core::Error,
    },
    /// Writing the application's output failed (e.g. a closed pipe).
    Output(std::io::Error),
    /// Writing the pcap file failed.
    Pcap(std::path::PathBuf, std::io::Error),
    /// Virtual time passed the limit with work still pending.
    TimeLimit(Instant),
    /// Too many inputs without the world going quiet.
    Stuck(u64),
    /// A scenario's check failed.
    Check(String),
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SimError::Call { host, what, error } => write!(f, "{host}: {what} failed: {error}"),
            SimError::Output(e) => write!(f, "cannot write output: {e}"),
            SimError::Pcap(path, e) => write!(f, "cannot write {}: {e}", path.display()),
            SimError::TimeLimit(t) => write!(f, "still busy at the time limit (at {t} s of virtual time)"),
            SimError::Stuck(steps) => write!(f, "no progress after {steps} steps"),
            SimError::Check(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for SimError {}

impl From<std::io::Error> for SimError {
    fn from(e: std::io::Error) -> Self {
        SimError::Output(e)
    }
}

/// Counters a host keeps about what it put on the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Segments with SYN and without ACK (active opens and their retransmissions).
    pub syns_out: u64,
    /// Distinct SYNs without ACK, by 4-tuple and sequence number: connections
    /// attempted, retransmissions not counted.
    pub distinct_syns_out: u64,
    /// Segments with RST.
    pub rsts_out: u64,
}

/// What the world remembers of a connection between two looks: its
/// addresses and the state it was last seen in.
#[derive(Clone, Copy, Debug)]
struct Seen {
    tuple: FourTuple,
    state: State,
}

/// One host: an endpoint with its address and the driver's bookkeeping.
#[derive(Debug)]
pub struct Host {
    name: &'static str,
    addr: Ipv4Addr,
    ep: Endpoint,
    /// The endpoint's earliest deadline, as of the last drain.
    deadline: Option<Instant>,
    /// Events drained from the endpoint, not yet given to the application.
    pending: VecDeque<EndpointEvent>,
    /// Connections as of the last drain, to report state transitions.
    seen: BTreeMap<ConnectionHandle, Seen>,
    /// Every SYN (without ACK) sent: addresses and ISN.
    syns: BTreeSet<(SocketAddrV4, SocketAddrV4, u32)>,
    counters: HostCounters,
}

impl Host {
    /// The host's name in traces and messages (`host1`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The host's IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The host's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.ep
    }

    /// What the host put on and took off the link.
    pub fn counters(&self) -> HostCounters {
        self.counters
    }

    /// The documented output loop: transmit until `None`, then the
    /// deadline, then events. State changes are reported before (those the
    /// input or call made) and after (those the output made).
    fn drain(&mut self, now: Instant, link: &mut Link) {
        self.note_transitions(now);
        while let Some(t) = self.ep.poll_transmit(now, &mut link.scratch) {
            let packet = link.scratch[..t.len].to_vec();
            self.counters.packets_out += 1;
            if let Ok(seg) = wire::parse(&packet) {
                let flags = seg.header.flags;
                if flags.syn() && !flags.ack() {
                    self.counters.syns_out += 1;
                    let src = SocketAddrV4::new(seg.src_addr, seg.header.src_port);
                    let dst = SocketAddrV4::new(seg.dst_addr, seg.header.dst_port);
                    if self.syns.insert((src, dst, seg.header.seq.0)) {
                        self.counters.distinct_syns_out += 1;
                    }
                }
                if flags.rst() {
                    self.counters.rsts_out += 1;
                }
            }
            tracing::info!("{}", trace::packet_line(now, self.name, Direction::Out, &packet));
            if let Some(capture) = &mut link.capture {
                capture.push((now, packet.clone()));
            }
            link.queue.push_back(InFlight { arrival: now + link.latency, dst: t.dst, packet });
        }
        self.deadline = self.ep.poll_timeout();
        while let Some(event) = self.ep.poll_event() {
            tracing::info!("{now} {} {}", self.name, self.describe_event(event));
            self.pending.push_back(event);
        }
        self.note_transitions(now);
    }

    /// `LOCAL - REMOTE: event Connected`, or `LISTENER: event Incoming`.
    fn describe_event(&self, event: EndpointEvent) -> String {
        match event {
            EndpointEvent::Incoming { listener } => format!("{listener}: event Incoming"),
            EndpointEvent::Connection { handle, event } => {
                let who =
                    self.ep.connection(handle).map(Connection::four_tuple).or(self.seen.get(&handle).map(|s| s.tuple));
                match who {
                    Some(t) => format!("{} - {}: event {event:?}", t.local, t.remote),
                    None => format!("{handle:?}: event {event:?}"),
                }
            }
        }
    }

    /// Compares every connection's state with the last look and traces
    /// the differences. A new connection starts from LISTEN if a listener
    /// made it and from CLOSED otherwise; one the endpoint has removed
    /// ended in CLOSED.
    fn note_transitions(&mut self, now: Instant) {
        let handles: Vec<ConnectionHandle> = self.ep.handles().collect();
        for &h in &handles {
            let Some(conn) = self.ep.connection(h) else { continue };
            let (tuple, state) = (conn.four_tuple(), conn.state());
            let before = match self.seen.get(&h) {
                Some(seen) => seen.state,
                None if self.listened(tuple.local) => State::Listen,
                None => State::Closed,
            };
            if before != state {
                tracing::info!("{now} {} {} - {}: {before} -> {state}", self.name, tuple.local, tuple.remote);
                if trace::shows_stats(state) {
                    let line = trace::stats_line(conn.congestion_control(), &conn.stats());
                    tracing::info!("{now} {} {} - {}: {line}", self.name, tuple.local, tuple.remote);
                }
            }
            self.seen.insert(h, Seen { tuple, state });
        }
        let gone: Vec<ConnectionHandle> = self.seen.keys().filter(|h| !handles.contains(h)).copied().collect();
        for h in gone {
            if let Some(Seen { tuple: t, state }) = self.seen.remove(&h)
                && state != State::Closed
            {
                tracing::info!("{now} {} {} - {}: {state} -> {}", self.name, t.local, t.remote, State::Closed);
            }
        }
    }

    /// True if a listener (exact or wildcard) holds `local`.
    fn listened(&self, local: SocketAddrV4) -> bool {
        self.ep.listener_state(local).is_some()
            || self.ep.listener_state(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port())).is_some()
    }
}

/// A packet on its way.
#[derive(Debug)]
struct InFlight {
    arrival: Instant,
    dst: Ipv4Addr,
    packet: Vec<u8>,
}

/// The wire between the hosts: every packet arrives `latency` after it was
/// sent, in order (a fixed latency keeps the queue sorted by arrival).
#[derive(Debug)]
struct Link {
    latency: Duration,
    queue: VecDeque<InFlight>,
    /// The caller-owned buffer `poll_transmit` writes into.
    scratch: Vec<u8>,
    /// Every packet sent with its time, when capturing.
    capture: Option<Vec<(Instant, Vec<u8>)>>,
}

/// The application running on one host. It is started once and then sees
/// every event of its host's endpoint, in order.
pub trait App {
    /// Called once at time zero, before any packet moves.
    fn start(&mut self, io: &mut Io<'_>) -> Result<(), SimError>;

    /// Called for each event the host's endpoint reports.
    fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), SimError>;
}

/// An application's view of its host during one callback. Every call is
/// followed by the output loop, so packets, deadlines and events it causes
/// are picked up at once.
pub struct Io<'a> {
    host: &'a mut Host,
    link: &'a mut Link,
    now: Instant,
    out: &'a mut dyn Write,
}

impl Io<'_> {
    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The host's IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.host.addr
    }

    /// The host's name (`host1`).
    pub fn host_name(&self) -> &'static str {
        self.host.name
    }

    /// A connection, if the handle is live.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.host.ep.connection(h)
    }

    /// Writes user-visible output (the program's stdout) and flushes it,
    /// so that it interleaves with the trace on a terminal.
    pub fn write_out(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.out.write_all(bytes)?;
        self.out.flush()?;
        Ok(())
    }

    /// [`Endpoint::listen`].
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<(), SimError> {
        let r = self.host.ep.listen(local, backlog);
        self.after(r, "listen")
    }

    /// [`Endpoint::connect`] from the host's address.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<ConnectionHandle, SimError> {
        let r = self.host.ep.connect(self.now, self.host.addr, remote);
        self.after(r, "connect")
    }

    /// [`Endpoint::accept`].
    pub fn accept(&mut self, listener: SocketAddrV4) -> Option<ConnectionHandle> {
        let h = self.host.ep.accept(listener);
        self.host.drain(self.now, self.link);
        h
    }

    /// [`Endpoint::send`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn send(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.host.ep.send(h, data);
        self.host.drain(self.now, self.link);
        r
    }

    /// [`Endpoint::recv`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn recv(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.host.ep.recv(h, buf);
        self.host.drain(self.now, self.link);
        r
    }

    /// [`Endpoint::shutdown`].
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), SimError> {
        let r = self.host.ep.shutdown(h);
        self.after(r, "shutdown")
    }

    /// [`Endpoint::close`].
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), SimError> {
        let r = self.host.ep.close(h);
        self.after(r, "close")
    }

    /// [`Endpoint::set_nodelay`].
    pub fn set_nodelay(&mut self, h: ConnectionHandle, nodelay: bool) -> Result<(), SimError> {
        let r = self.host.ep.set_nodelay(h, nodelay);
        self.after(r, "set_nodelay")
    }

    /// Runs the output loop and names a failed call.
    fn after<T>(&mut self, r: Result<T, toytcp_core::Error>, what: &'static str) -> Result<T, SimError> {
        self.host.drain(self.now, self.link);
        r.map_err(|error| SimError::Call { host: self.host.name, what, error })
    }
}

/// The settings of a [`World`].
#[derive(Clone, Debug)]
pub struct WorldConfig {
    /// One-way latency of the link.
    pub latency: Duration,
    /// Host `i` (counting from 0) gets endpoint seed `seed + i`.
    pub seed: u64,
    /// Virtual time after which a run that is still busy fails.
    pub time_limit: Duration,
    /// Every host's connection settings (MSS, congestion controller, …).
    pub connection: ConnectionConfig,
    /// Record every packet for [`World::pcap`].
    pub capture: bool,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            latency: Duration::from_millis(1),
            seed: 0,
            time_limit: Duration::from_secs(3600),
            connection: ConnectionConfig::default(),
            capture: false,
        }
    }
}

/// Hosts, the link between them and the virtual clock.
#[derive(Debug)]
pub struct World {
    now: Instant,
    time_limit: Instant,
    hosts: Vec<Host>,
    link: Link,
    steps: u64,
}

impl World {
    /// A world with one host per `(name, address)`, no packets in flight, at time zero.
    pub fn new(config: &WorldConfig, hosts: &[(&'static str, Ipv4Addr)]) -> Self {
        let hosts = hosts
            .iter()
            .enumerate()
            .map(|(i, &(name, addr))| Host {
                name,
                addr,
                ep: Endpoint::new(EndpointConfig {
                    seed: config.seed.wrapping_add(i as u64),
                    connection: config.connection.clone(),
                    ..EndpointConfig::default()
                }),
                deadline: None,
                pending: VecDeque::new(),
                seen: BTreeMap::new(),
                syns: BTreeSet::new(),
                counters: HostCounters::default(),
            })
            .collect();
        World {
            now: Instant::ZERO,
            time_limit: Instant::ZERO + config.time_limit,
            hosts,
            link: Link {
                latency: config.latency,
                queue: VecDeque::new(),
                scratch: vec![0; MAX_PACKET],
                capture: config.capture.then(Vec::new),
            },
            steps: 0,
        }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Host `i`.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// Every packet sent so far as a classic pcap file (`LINKTYPE_RAW`,
    /// virtual time from 0), if the world was made with
    /// [`WorldConfig::capture`].
    pub fn pcap(&self) -> Option<Vec<u8>> {
        let capture = self.link.capture.as_ref()?;
        Some(crate::pcap::to_bytes(capture.iter().map(|(t, p)| (*t, p.as_slice()))))
    }

    /// Runs `apps[i]` on host `i` until nothing is left to do: no packet
    /// in flight and no deadline on any host. User output goes to `out`.
    ///
    /// # Errors
    ///
    /// The first error an application returns, or [`SimError::TimeLimit`] /
    /// [`SimError::Stuck`] when the world does not go quiet.
    ///
    /// # Panics
    ///
    /// If there is not exactly one application per host.
    pub fn run(&mut self, apps: &mut [&mut dyn App], out: &mut dyn Write) -> Result<(), SimError> {
        assert_eq!(apps.len(), self.hosts.len(), "one application per host");
        for (i, app) in apps.iter_mut().enumerate() {
            app.start(&mut self.io(i, out))?;
            self.dispatch(i, &mut **app, out)?;
        }
        while let Some(next) = self.next_instant() {
            if next > self.time_limit {
                return Err(SimError::TimeLimit(self.now));
            }
            self.now = self.now.max(next);
            while self.link.queue.front().is_some_and(|p| p.arrival <= self.now) {
                let Some(p) = self.link.queue.pop_front() else { break };
                self.step()?;
                self.deliver(p, apps, out)?;
            }
            for (i, app) in apps.iter_mut().enumerate() {
                if self.hosts[i].deadline.is_some_and(|d| d <= self.now) {
                    self.step()?;
                    let host = &mut self.hosts[i];
                    host.ep.handle_timeout(self.now);
                    host.drain(self.now, &mut self.link);
                    self.dispatch(i, &mut **app, out)?;
                }
            }
        }
        Ok(())
    }

    /// The earliest packet arrival or host deadline.
    fn next_instant(&self) -> Option<Instant> {
        let arrival = self.link.queue.front().map(|p| p.arrival);
        self.hosts.iter().filter_map(|h| h.deadline).chain(arrival).min()
    }

    fn step(&mut self) -> Result<(), SimError> {
        self.steps += 1;
        if self.steps > MAX_STEPS { Err(SimError::Stuck(self.steps)) } else { Ok(()) }
    }

    /// Hands a packet to the host that owns its destination address.
    fn deliver(&mut self, p: InFlight, apps: &mut [&mut dyn App], out: &mut dyn Write) -> Result<(), SimError> {
        let Some(i) = self.hosts.iter().position(|h| h.addr == p.dst) else {
            tracing::info!("{} dropped (no host has {}): {}", self.now, p.dst, trace::summary(&p.packet));
            return Ok(());
        };
        let host = &mut self.hosts[i];
        tracing::info!("{}", trace::packet_line(self.now, host.name, Direction::In, &p.packet));
        host.counters.packets_in += 1;
        host.ep.handle(self.now, &p.packet);
        host.drain(self.now, &mut self.link);
        self.dispatch(i, &mut *apps[i], out)
    }

    /// Gives host `i`'s pending events to its application, including those
    /// its own calls cause.
    fn dispatch(&mut self, i: usize, app: &mut dyn App, out: &mut dyn Write) -> Result<(), SimError> {
        while let Some(event) = self.hosts[i].pending.pop_front() {
            app.on_event(&mut self.io(i, out), event)?;
        }
        Ok(())
    }

    fn io<'a>(&'a mut self, i: usize, out: &'a mut dyn Write) -> Io<'a> {
        Io { host: &mut self.hosts[i], link: &mut self.link, now: self.now, out }
    }
}
