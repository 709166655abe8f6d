//! The `sim` subcommand's front end over the simulator crate: two ToyTCP
//! hosts running callback applications ([`ScriptedHost`]s) on a
//! [`toytcp_sim::World`], joined by a clean fixed-latency link, in virtual
//! time.
//!
//! The simulator does the work: its world owns the clock (it never waits,
//! it jumps straight to the next packet arrival or the earliest
//! `poll_timeout` deadline, so a run that spans a 60-second TIME-WAIT
//! finishes at once and is the same on every run for a given seed), the
//! link and the capture; its scripted hosts drive the endpoints with the
//! core's documented loop after every input and every application call.
//! This module adds the trace, the application's output and the
//! command line's errors.
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
use core::net::Ipv4Addr;
use std::cell::Ref;
use std::io::Write;
use toytcp_core::{Connection, ConnectionConfig, Duration, EndpointConfig, EndpointEvent, FourTuple, Instant, State};
use toytcp_sim::bench::Shared;
use toytcp_sim::scripted::{self, Observer, ScriptedHost};
use toytcp_sim::{LinkConfig, LinkId, Stop};

pub use toytcp_sim::scripted::{AppError, HostCounters, Io, ScriptedApp as App};

/// Largest IPv4 packet: the link's MTU.
const MAX_PACKET: usize = 65535;

/// Inputs (packet deliveries and timeouts) after which a run is declared runaway.
const MAX_STEPS: u64 = 10_000_000;

/// Why a run failed. `Display` gives one plain line.
#[derive(Debug)]
pub enum SimError {
    /// An application failed, e.g. a call failed locally (a bug in the
    /// application or the core).
    App(AppError),
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
            SimError::App(e) => e.fmt(f),
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

impl From<AppError> for SimError {
    fn from(e: AppError) -> Self {
        SimError::App(e)
    }
}

/// The trace: what a scripted host sees, as `tracing` lines.
#[derive(Clone, Copy, Debug, Default)]
pub struct Trace;

impl Observer for Trace {
    fn packet(&mut self, now: Instant, host: &str, dir: scripted::Direction, packet: &[u8]) {
        let dir = match dir {
            scripted::Direction::In => Direction::In,
            scripted::Direction::Out => Direction::Out,
        };
        tracing::info!("{}", trace::packet_line(now, host, dir, packet));
    }

    fn transition(
        &mut self,
        now: Instant,
        host: &str,
        tuple: FourTuple,
        from: State,
        to: State,
        conn: Option<&Connection>,
    ) {
        let FourTuple { local, remote } = tuple;
        tracing::info!("{now} {host} {local} - {remote}: {from} -> {to}");
        if let Some(conn) = conn
            && trace::shows_stats(to)
        {
            let line = trace::stats_line(conn.congestion_control(), &conn.stats());
            tracing::info!("{now} {host} {local} - {remote}: {line}");
        }
    }

    fn event(&mut self, now: Instant, host: &str, event: EndpointEvent, tuple: Option<FourTuple>) {
        match (event, tuple) {
            (EndpointEvent::Incoming { listener }, _) => tracing::info!("{now} {host} {listener}: event Incoming"),
            (EndpointEvent::Connection { event, .. }, Some(t)) => {
                tracing::info!("{now} {host} {} - {}: event {event:?}", t.local, t.remote);
            }
            (EndpointEvent::Connection { handle, event }, None) => {
                tracing::info!("{now} {host} {handle:?}: event {event:?}");
            }
        }
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

/// Two [`ScriptedHost`]s on a [`toytcp_sim::World`], joined by a link with a
/// fixed latency in both directions, no faults and an MTU that carries
/// any IPv4 packet.
pub struct World {
    world: toytcp_sim::World,
    /// The hosts, shared with `world`, which drives them.
    hosts: [Shared<ScriptedHost>; 2],
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
            Shared::new(ScriptedHost::new(name, addr, endpoint, app, Box::new(Trace)))
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
    pub fn host(&self, i: usize) -> Ref<'_, ScriptedHost> {
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
            let stop = self.world.run_until(self.time_limit, |_| hosts.iter().any(|h| h.0.borrow().has_output()));
            self.flush(out)?;
            match stop {
                Ok(Stop::Predicate) => {}
                Ok(Stop::Idle) => return Ok(()),
                Ok(Stop::Deadline) => return Err(SimError::TimeLimit(self.world.now())),
                Err(e) => {
                    let app_error = e.host.and_then(|h| self.hosts.get(h.0)?.0.borrow_mut().take_error());
                    return Err(app_error.map_or(SimError::World(e), SimError::App));
                }
            }
        }
    }

    /// Hands the hosts' output to `out`.
    fn flush(&self, out: &mut dyn Write) -> Result<(), SimError> {
        for host in &self.hosts {
            let output = host.0.borrow_mut().take_output();
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
    use core::net::SocketAddrV4;
    use toytcp_core::{Event, wire};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
    const PORT: u16 = 7;

    /// Connects to B:7, prints a line when connected, then tries to
    /// listen on port 0: a failing call.
    struct Failing;

    impl App for Failing {
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
            io.connect(SocketAddrV4::new(B, PORT)).map(drop)
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
            if let EndpointEvent::Connection { event: Event::Connected, .. } = event {
                io.write_out(b"connected\n");
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
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
            io.listen(SocketAddrV4::new(io.addr(), PORT), 4)
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
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
        assert!(matches!(&err, SimError::App(AppError::Call { host, what: "listen", .. }) if host == "a"), "{err}");
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
