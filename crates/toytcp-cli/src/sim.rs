//! The `sim` subcommand's front end over the simulator crate: two ToyTCP
//! endpoints ("hosts") driven by callback [`App`]s, joined by a clean
//! fixed-latency link of a [`toytcp_sim::World`], run in virtual time.
//!
//! The simulator's world owns the clock, the link and the capture: the
//! clock never waits, it jumps straight to the next packet arrival or the
//! earliest `poll_timeout` deadline, so a run that spans a 60-second
//! TIME-WAIT finishes at once and is the same on every run for a given
//! seed. This module adds what the command line needs on top: a
//! [`toytcp_sim::Host`] ([`SimHost`]) whose application is arbitrary code
//! reacting to events (the simulator's own hosts run checked traffic
//! models instead), the trace, and the application's output.
//!
//! Every host is driven with the core's documented loop: after each input
//! (`handle`, `handle_timeout`) and each application call, `poll_transmit`
//! until `None`, then `poll_timeout`, then `poll_event`. Applications react
//! to the endpoint's events through an [`Io`] handle, whose calls run that
//! loop for them.
//!
//! Tracing (target `toytcp_cli::sim`, level INFO): one line per segment
//! sent (`Out`) and received (`In`) in [`trace`] form, one per state
//! transition (`SYN-SENT -> ESTABLISHED`), one per event, and the
//! connection's counters ([`trace::stats_line`]) after the transitions
//! [`trace::shows_stats`] names.
//!
//! With [`WorldConfig::capture`] the world records every packet as it is
//! sent, for [`World::pcap`].

use crate::trace::{self, Direction};
use core::net::{Ipv4Addr, SocketAddrV4};
use std::any::Any;
use std::cell::Ref;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use toytcp_core::wire;
use toytcp_core::{
    Connection, ConnectionConfig, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, FourTuple,
    Instant, State,
};
use toytcp_sim::bench::Shared;
use toytcp_sim::{LinkConfig, LinkId, Stop};

/// Largest IPv4 packet: the size of the transmit buffer and the link's MTU.
const MAX_PACKET: usize = 65535;

/// Inputs (packet deliveries and timeouts) after which a run is declared runaway.
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
    /// Virtual time reached the limit with work still pending.
    TimeLimit(Instant),
    /// The simulator stopped the run (e.g. too many inputs without the
    /// world going quiet).
    World(toytcp_sim::SimError),
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
            SimError::World(e) => write!(f, "simulator: {e}"),
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

/// What a host remembers of a connection between two looks: its
/// addresses and the state it was last seen in.
#[derive(Clone, Copy, Debug)]
struct Seen {
    tuple: FourTuple,
    state: State,
}

/// A host without its application: the endpoint, the packets and output
/// waiting for the world, and the trace's bookkeeping.
#[derive(Debug)]
struct Core {
    name: &'static str,
    addr: Ipv4Addr,
    ep: Endpoint,
    /// Events drained from the endpoint, not yet given to the application.
    pending: VecDeque<EndpointEvent>,
    /// Connections as of the last drain, to report state transitions.
    seen: BTreeMap<ConnectionHandle, Seen>,
    /// Every SYN (without ACK) sent: addresses and ISN.
    syns: BTreeSet<(SocketAddrV4, SocketAddrV4, u32)>,
    counters: HostCounters,
    /// Packets drained from the endpoint, for the world's next `poll_transmit`.
    outbox: Vec<Vec<u8>>,
    /// What the application wrote, not yet handed to the caller's output.
    output: Vec<u8>,
    /// The caller-owned buffer `poll_transmit` writes into.
    scratch: Vec<u8>,
}

impl Core {
    /// The documented output loop: transmit until `None`, then the
    /// deadline (the world asks for it), then events. State changes are
    /// reported before (those the input or call made) and after (those the
    /// output made).
    fn drain(&mut self, now: Instant) {
        self.note_transitions(now);
        while let Some(t) = self.ep.poll_transmit(now, &mut self.scratch) {
            let packet = self.scratch[..t.len].to_vec();
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
            self.outbox.push(packet);
        }
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

/// The application running on one host. It is started once and then sees
/// every event of its host's endpoint, in order. `Any` lets the caller
/// read its final state back ([`SimHost::app`]).
pub trait App: Any {
    /// Called once at time zero, before any packet moves.
    fn start(&mut self, io: &mut Io<'_>) -> Result<(), SimError>;

    /// Called for each event the host's endpoint reports.
    fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), SimError>;
}

/// An application's view of its host during one callback. Every call is
/// followed by the output loop, so packets, deadlines and events it causes
/// are picked up at once.
pub struct Io<'a> {
    core: &'a mut Core,
    now: Instant,
}

impl Io<'_> {
    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The host's IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.core.addr
    }

    /// The host's name (`host1`).
    pub fn host_name(&self) -> &'static str {
        self.core.name
    }

    /// A connection, if the handle is live.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.core.ep.connection(h)
    }

    /// Writes user-visible output (the program's stdout). [`World::run`]
    /// hands it to its output and flushes it after the step that wrote
    /// it, so that it interleaves with the trace on a terminal.
    pub fn write_out(&mut self, bytes: &[u8]) -> Result<(), SimError> {
        self.core.output.extend_from_slice(bytes);
        Ok(())
    }

    /// [`Endpoint::listen`].
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<(), SimError> {
        let r = self.core.ep.listen(local, backlog);
        self.after(r, "listen")
    }

    /// [`Endpoint::connect`] from the host's address.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<ConnectionHandle, SimError> {
        let r = self.core.ep.connect(self.now, self.core.addr, remote);
        self.after(r, "connect")
    }

    /// [`Endpoint::accept`].
    pub fn accept(&mut self, listener: SocketAddrV4) -> Option<ConnectionHandle> {
        let h = self.core.ep.accept(listener);
        self.core.drain(self.now);
        h
    }

    /// [`Endpoint::send`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn send(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.core.ep.send(h, data);
        self.core.drain(self.now);
        r
    }

    /// [`Endpoint::recv`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn recv(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.core.ep.recv(h, buf);
        self.core.drain(self.now);
        r
    }

    /// [`Endpoint::shutdown`].
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), SimError> {
        let r = self.core.ep.shutdown(h);
        self.after(r, "shutdown")
    }

    /// [`Endpoint::close`].
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), SimError> {
        let r = self.core.ep.close(h);
        self.after(r, "close")
    }

    /// [`Endpoint::set_nodelay`].
    pub fn set_nodelay(&mut self, h: ConnectionHandle, nodelay: bool) -> Result<(), SimError> {
        let r = self.core.ep.set_nodelay(h, nodelay);
        self.after(r, "set_nodelay")
    }

    /// Runs the output loop and names a failed call.
    fn after<T>(&mut self, r: Result<T, toytcp_core::Error>, what: &'static str) -> Result<T, SimError> {
        self.core.drain(self.now);
        r.map_err(|error| SimError::Call { host: self.core.name, what, error })
    }
}

/// One host: an endpoint, its [`App`] and the driver's bookkeeping; the
/// [`toytcp_sim::Host`] the world runs.
pub struct SimHost {
    core: Core,
    app: Box<dyn App>,
    /// The first error of the application; the world stops at the
    /// [`check`](toytcp_sim::Host::check) after the step that caused it.
    error: Option<SimError>,
}

impl SimHost {
    /// A host named `name` (in traces) at `addr`, not started.
    pub fn new(name: &'static str, addr: Ipv4Addr, config: EndpointConfig, app: Box<dyn App>) -> Self {
        SimHost {
            core: Core {
                name,
                addr,
                ep: Endpoint::new(config),
                pending: VecDeque::new(),
                seen: BTreeMap::new(),
                syns: BTreeSet::new(),
                counters: HostCounters::default(),
                outbox: Vec::new(),
                output: Vec::new(),
                scratch: vec![0; MAX_PACKET],
            },
            app,
            error: None,
        }
    }

    /// The host's name in traces and messages (`host1`).
    pub fn name(&self) -> &'static str {
        self.core.name
    }

    /// The host's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.core.ep
    }

    /// What the host put on and took off the link.
    pub fn counters(&self) -> HostCounters {
        self.core.counters
    }

    /// The application, if it is a `T`.
    pub fn app<T: App>(&self) -> Option<&T> {
        let app: &dyn Any = self.app.as_ref();
        app.downcast_ref()
    }

    /// Starts the application at `now`, then gives it the events its
    /// calls caused.
    fn start(&mut self, now: Instant) -> Result<(), SimError> {
        self.app.start(&mut Io { core: &mut self.core, now })?;
        self.dispatch(now)
    }

    /// Gives the pending events to the application, including those its
    /// own calls cause.
    fn dispatch(&mut self, now: Instant) -> Result<(), SimError> {
        while let Some(event) = self.core.pending.pop_front() {
            self.app.on_event(&mut Io { core: &mut self.core, now }, event)?;
        }
        Ok(())
    }

    /// The output loop and the application's turn after an input; keeps
    /// the first error for [`check`](toytcp_sim::Host::check).
    fn after_input(&mut self, now: Instant) {
        self.core.drain(now);
        if self.error.is_none()
            && let Err(e) = self.dispatch(now)
        {
            self.error = Some(e);
        }
    }
}

impl toytcp_sim::Host for SimHost {
    fn addr(&self) -> Ipv4Addr {
        self.core.addr
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        tracing::info!("{}", trace::packet_line(now, self.core.name, Direction::In, packet));
        self.core.counters.packets_in += 1;
        self.core.ep.handle(now, packet);
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.core.ep.handle_timeout(now);
        self.after_input(now);
    }

    fn poll_transmit(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>) {
        out.append(&mut self.core.outbox);
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.core.ep.poll_timeout()
    }

    /// No connection is left (the application's own progress is the
    /// scenario's to judge).
    fn app_done(&self) -> bool {
        self.core.ep.connection_count() == 0
    }

    fn check(&self) -> Result<(), String> {
        self.error.as_ref().map_or(Ok(()), |e| Err(e.to_string()))
    }

    fn describe(&self) -> String {
        let mut s = format!("{} ({})", self.core.name, self.core.addr);
        for h in self.core.ep.handles() {
            if let Some(c) = self.core.ep.connection(h) {
                let t = c.four_tuple();
                s.push_str(&format!("\n  {} - {}: {}", t.local, t.remote, c.state()));
            }
        }
        s
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

/// Two [`SimHost`]s on a [`toytcp_sim::World`], joined by a link with a
/// fixed latency in both directions, no faults and an MTU that carries
/// any IPv4 packet.
pub struct World {
    world: toytcp_sim::World,
    /// The hosts, shared with `world`, which drives them.
    hosts: [Shared<SimHost>; 2],
    link: LinkId,
    time_limit: Instant,
    capture: bool,
}

impl World {
    /// A world with one host per `(name, address, application)`, at time
    /// zero. Host `i` gets endpoint seed `config.seed + i`.
    pub fn new(config: &WorldConfig, hosts: [(&'static str, Ipv4Addr, Box<dyn App>); 2]) -> Self {
        let mut i = 0u64;
        let hosts = hosts.map(|(name, addr, app)| {
            let endpoint = EndpointConfig {
                seed: config.seed.wrapping_add(i),
                connection: config.connection.clone(),
                ..EndpointConfig::default()
            };
            i += 1;
            Shared::new(SimHost::new(name, addr, endpoint, app))
        });
        let mut world = toytcp_sim::World::new(config.seed);
        world.set_faults(false);
        world.set_capture(config.capture);
        world.set_max_steps(MAX_STEPS);
        let ids = hosts.clone().map(|h| world.add_host(Box::new(h)));
        let link = LinkConfig { latency: config.latency, mtu: MAX_PACKET, ..LinkConfig::default() };
        let link = world.connect(ids[0], ids[1], link.clone(), link);
        World { world, hosts, link, time_limit: Instant::ZERO + config.time_limit, capture: config.capture }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.world.now()
    }

    /// Host `i` (0 or 1).
    pub fn host(&self, i: usize) -> Ref<'_, SimHost> {
        self.hosts[i].0.borrow()
    }

    /// Every packet sent so far, at its send time, as a classic pcap file
    /// (`LINKTYPE_RAW`, virtual time from 0), if the world was made with
    /// [`WorldConfig::capture`].
    pub fn pcap(&self) -> Option<Vec<u8>> {
        self.capture.then(|| self.world.pcap_sent(self.link))
    }

    /// Starts the applications (host 0 first) and runs until nothing is
    /// left to do: no packet in flight and no deadline on any host. User
    /// output goes to `out`, flushed after every step that wrote some.
    ///
    /// # Errors
    ///
    /// The first error an application returns, [`SimError::TimeLimit`]
    /// when the world does not go quiet in time, or the simulator's own
    /// ([`SimError::World`]).
    pub fn run(&mut self, out: &mut dyn Write) -> Result<(), SimError> {
        for host in &self.hosts {
            let started = host.0.borrow_mut().start(self.world.now());
            self.flush(out)?;
            started?;
        }
        loop {
            let hosts = &self.hosts;
            let stop =
                self.world.run_until(self.time_limit, |_| hosts.iter().any(|h| !h.0.borrow().core.output.is_empty()));
            self.flush(out)?;
            match stop {
                Ok(Stop::Predicate) => {}
                Ok(Stop::Idle) => return Ok(()),
                Ok(Stop::Deadline) => return Err(SimError::TimeLimit(self.world.now())),
                Err(e) => {
                    let app_error = e.host.and_then(|h| self.hosts.get(h.0)?.0.borrow_mut().error.take());
                    return Err(app_error.unwrap_or(SimError::World(e)));
                }
            }
        }
    }

    /// Hands the hosts' output to `out`.
    fn flush(&self, out: &mut dyn Write) -> Result<(), SimError> {
        for host in &self.hosts {
            let output = std::mem::take(&mut host.0.borrow_mut().core.output);
            if !output.is_empty() {
                out.write_all(&output)?;
                out.flush()?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toytcp_core::Event;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
    const PORT: u16 = 7;

    /// Connects to B:7, prints a line when connected, then tries to
    /// listen on port 0: a failing call.
    struct Failing;

    impl App for Failing {
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), SimError> {
            io.connect(SocketAddrV4::new(B, PORT)).map(drop)
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), SimError> {
            if let EndpointEvent::Connection { event: Event::Connected, .. } = event {
                io.write_out(b"connected\n")?;
                io.listen(SocketAddrV4::new(A, 0), 1)?;
            }
            Ok(())
        }
    }

    /// Listens on B:7 and accepts; leaves the connection alone.
    struct Listener {
        accepted: usize,
    }

    impl App for Listener {
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), SimError> {
            io.listen(SocketAddrV4::new(io.addr(), PORT), 4)
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), SimError> {
            if let EndpointEvent::Incoming { listener } = event {
                while io.accept(listener).is_some() {
                    self.accepted += 1;
                }
            }
            Ok(())
        }
    }

    fn world(capture: bool) -> World {
        let config = WorldConfig { latency: Duration::from_millis(5), capture, ..WorldConfig::default() };
        World::new(&config, [("a", A, Box::new(Failing)), ("b", B, Box::new(Listener { accepted: 0 }))])
    }

    /// The application's error ends the run as itself, at the step that
    /// made it, after the output written before it.
    #[test]
    fn an_application_error_stops_the_run_after_its_output() {
        let mut w = world(false);
        let mut out = Vec::new();
        let err = w.run(&mut out).expect_err("the listen call fails");
        assert!(matches!(err, SimError::Call { host: "a", what: "listen", .. }), "{err}");
        assert_eq!(out, b"connected\n");
        assert_eq!(w.now(), Instant::ZERO + Duration::from_millis(10), "one round trip: the SYN-ACK's arrival");
        assert_eq!(w.host(1).app::<Listener>().map(|l| l.accepted), Some(0), "the final ACK is still on its way");
        assert!(w.host(0).app::<Listener>().is_none(), "host a runs a Failing");
        let c = w.host(0).counters();
        assert_eq!((c.packets_out, c.packets_in, c.syns_out, c.distinct_syns_out), (2, 1, 1, 1));
        assert!(w.pcap().is_none(), "no capture asked for");
    }

    /// The capture holds every packet at its send time, both directions.
    #[test]
    fn pcap_has_every_packet_sent() {
        let mut w = world(true);
        let _ = w.run(&mut std::io::sink());
        let capture = crate::pcap::read(&w.pcap().expect("capture on")[..]).expect("a pcap file");
        let times: Vec<u64> = capture.records.iter().map(|r| r.at.as_micros()).collect();
        assert_eq!(times, [0, 5_000, 10_000], "SYN, SYN-ACK, ACK");
        let sources: Vec<Ipv4Addr> =
            capture.ipv4_packets().iter().map(|p| wire::parse(p).expect("a segment").src_addr).collect();
        assert_eq!(sources, [A, B, A]);
    }
}
