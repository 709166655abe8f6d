//! The `sim` subcommand's front end over the simulator crate: two ToyTCP
//! hosts running callback applications ([`ScriptedHost`]s) on a
//! [`toytcp_sim::World`], joined by a link of the simulator's own model
//! ([`LinkConfig`]: latency, jitter, rate, queue, and netem-like faults —
//! loss, duplication, reordering, corruption — set per direction), in
//! virtual time.
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
//! [`trace::shows_stats`] names. At the end of a run, one line per link
//! direction says what the link did ([`link_line`]): a segment sent and
//! lost shows as an `Out` line without its `In`, and its retransmission
//! as a second `Out` with the same sequence number.
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
use toytcp_sim::{LinkConfig, LinkId, LinkStats, Stop};

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
    /// The link, one [`LinkConfig`] per direction: `links[0]` carries
    /// packets from host 0 to host 1, `links[1]` back. The default is a
    /// clean 1 ms path whose MTU carries any IPv4 packet. [`World::new`]
    /// panics when one fails [`LinkConfig::validate`]: check user input
    /// first (e.g. with [`percent`]).
    pub links: [LinkConfig; 2],
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
            links: [clean_link(Duration::from_millis(1)), clean_link(Duration::from_millis(1))],
            seed: 0,
            time_limit: Duration::from_secs(3600),
            connection: ConnectionConfig::default(),
            capture: false,
        }
    }
}

impl WorldConfig {
    /// Sets both directions' one-way latency.
    pub fn set_latency(&mut self, latency: Duration) {
        for link in &mut self.links {
            link.latency = latency;
        }
    }

    /// The round-trip time of the path without queueing, jitter or
    /// reordering: both directions' latency.
    pub fn base_rtt(&self) -> Duration {
        self.links[0].latency + self.links[1].latency
    }

    /// Whether the link can drop or damage a packet on its own: random
    /// loss, burst loss, partitions, corruption, or a rate-limited queue
    /// (drop-tail). Delay alone (jitter, reordering) does not count.
    pub fn can_lose_packets(&self) -> bool {
        self.links.iter().any(|l| {
            l.loss > 0.0
                || l.corrupt > 0.0
                || l.burst.is_some()
                || !l.partitions.is_empty()
                || l.bandwidth_bps.is_some()
        })
    }

    /// The longest delay a packet can get on top of `base_rtt` over a
    /// round trip, short of queueing: jitter and reordering.
    pub fn extra_delay(&self) -> Duration {
        let mut extra = Duration::ZERO;
        for l in &self.links {
            extra += l.jitter;
            if l.reorder > 0.0 {
                extra += l.reorder_delay;
            }
        }
        extra
    }
}

/// A clean path with the given one-way latency and an MTU that carries
/// any IPv4 packet: the simulator's defaults otherwise (no faults,
/// unlimited rate).
pub fn clean_link(latency: Duration) -> LinkConfig {
    LinkConfig { latency, mtu: MAX_PACKET, ..LinkConfig::default() }
}

/// Parses a percentage for `--loss` and the like: a decimal number in
/// `0..=100`, optionally followed by `%` (as netem writes it), as a
/// probability in `0.0..=1.0`.
///
/// # Errors
///
/// A message for clap when the text is not such a number.
pub fn percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    let pct: f64 = number.parse().map_err(|_| format!("'{text}' is not a percentage (a number from 0 to 100)"))?;
    if !(0.0..=100.0).contains(&pct) {
        return Err(format!("{text} is not in 0..=100 percent"));
    }
    Ok(pct / 100.0)
}

/// Parses a rate for `--rate` in bits per second: a positive decimal
/// number of Mbit/s, or a number with one of `tc`'s units `bit`, `kbit`,
/// `mbit`, `gbit` (any case): `10`, `10mbit`, `1.5mbit`, `500kbit`, `1gbit`.
/// At least 1 bit/s, at most 1000 gbit.
///
/// # Errors
///
/// A message for clap when the text is not such a rate.
pub fn rate_bps(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, unit) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(suffix, unit)| lower.strip_suffix(suffix).map(|n| (n, unit)))
        .unwrap_or((lower.as_str(), 1e6));
    let value: f64 =
        number.trim().parse().map_err(|_| format!("'{text}' is not a rate (e.g. 10 for 10 Mbit/s, 500kbit, 1gbit)"))?;
    let bps = (value * unit).round();
    if !(1.0..=1e12).contains(&bps) {
        return Err(format!("{text} is not between 1 bit/s and 1000 gbit/s"));
    }
    Ok(bps as u64)
}

/// What one direction of the link did, for the trace:
/// `link host1 > host2: sent 40 delivered 37 lost 3 (random 3, burst 0, partition 0, queue 0, mtu 0) duplicated 0 reordered 0 corrupted 0`.
pub fn link_line(from: &str, to: &str, s: &LinkStats) -> String {
    let lost = s.dropped_loss + s.dropped_burst + s.dropped_partition + s.dropped_queue + s.dropped_mtu;
    format!(
        "link {from} > {to}: sent {} delivered {} lost {lost} (random {}, burst {}, partition {}, queue {}, mtu {}) \
         duplicated {} reordered {} corrupted {}",
        s.sent,
        s.delivered,
        s.dropped_loss,
        s.dropped_burst,
        s.dropped_partition,
        s.dropped_queue,
        s.dropped_mtu,
        s.duplicated,
        s.reordered,
        s.corrupted,
    )
}

/// Two [`ScriptedHost`]s on a [`toytcp_sim::World`], joined by one link
/// configured per direction by [`WorldConfig::links`].
pub struct World {
    world: toytcp_sim::World,
    /// The hosts, shared with `world`, which drives them.
    hosts: [Shared<ScriptedHost>; 2],
    link: LinkId,
    names: [&'static str; 2],
    time_limit: Instant,
    capture: bool,
}

impl World {
    /// A world with one host per `(name, address, application)`, at time
    /// zero. Host `i` gets endpoint seed `config.seed + i`; the link's
    /// random draws come from the world's seed, `config.seed`.
    ///
    /// # Panics
    ///
    /// If a link configuration is invalid ([`LinkConfig::validate`]).
    pub fn new(config: &WorldConfig, hosts: [(&'static str, Ipv4Addr, Box<dyn App>); 2]) -> Self {
        let names = hosts.each_ref().map(|(name, _, _)| *name);
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
        // Faults with a probability of 0 draw nothing from the link's
        // random stream, so a clean link runs exactly as with faults off.
        world.set_faults(true);
        world.set_capture(config.capture);
        world.set_max_steps(MAX_STEPS);
        let ids = hosts.clone().map(|h| world.add_host(Box::new(h)));
        let [a_to_b, b_to_a] = config.links.clone();
        let link = world.connect(ids[0], ids[1], a_to_b, b_to_a);
        World { world, hosts, link, names, time_limit: Instant::ZERO + config.time_limit, capture: config.capture }
    }

    /// What the link has done so far in direction `dir`: `0` from host 0
    /// to host 1, `1` back.
    pub fn link_stats(&self, dir: usize) -> LinkStats {
        self.world.link_stats(self.link, dir)
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
        let result = self.run_inner(out);
        let now = self.world.now();
        for dir in 0..2 {
            let line = link_line(self.names[dir], self.names[1 - dir], &self.link_stats(dir));
            tracing::info!("{now} {line}");
        }
        result
    }

    fn run_inner(&mut self, out: &mut dyn Write) -> Result<(), SimError> {
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
        let mut config = WorldConfig { capture, ..WorldConfig::default() };
        config.set_latency(Duration::from_millis(5));
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

    #[test]
    fn percentages_are_probabilities() {
        assert_eq!(percent("0"), Ok(0.0));
        assert_eq!(percent("10"), Ok(0.1));
        assert_eq!(percent("2.5%"), Ok(0.025));
        assert_eq!(percent("100"), Ok(1.0));
        for bad in ["150", "-1", "100.01", "abc", "", "%", "NaN", "inf", "10 %%"] {
            let err = percent(bad).expect_err(bad);
            assert!(!err.contains('\n'), "{err}");
        }
    }

    #[test]
    fn rates_take_tc_units() {
        assert_eq!(rate_bps("10"), Ok(10_000_000));
        assert_eq!(rate_bps("1.5mbit"), Ok(1_500_000));
        assert_eq!(rate_bps("500kbit"), Ok(500_000));
        assert_eq!(rate_bps("1Gbit"), Ok(1_000_000_000));
        assert_eq!(rate_bps("9600bit"), Ok(9600));
        for bad in ["0", "0kbit", "-3", "fast", "10mbps", "2000gbit", "0.0000001"] {
            assert!(rate_bps(bad).is_err(), "{bad}");
        }
    }

    /// A lossy world counts what its link dropped; the rest was delivered
    /// or is still in flight when the application's error ends the run.
    #[test]
    fn link_counters_account_for_every_packet() {
        let mut config = WorldConfig::default();
        for link in &mut config.links {
            link.loss = 0.5;
        }
        assert!(config.can_lose_packets() && !WorldConfig::default().can_lose_packets());
        let mut w = World::new(&config, [("a", A, Box::new(Failing)), ("b", B, Box::new(Listener { accepted: 0 }))]);
        let _ = w.run(&mut std::io::sink());
        let (ab, ba) = (w.link_stats(0), w.link_stats(1));
        assert!(ab.dropped_loss > 0, "{ab:?}");
        for s in [ab, ba] {
            assert!(s.delivered + s.dropped_loss <= s.sent, "{s:?}");
        }
        let line = link_line("a", "b", &ab);
        assert!(
            line.starts_with(&format!(
                "link a > b: sent {} delivered {} lost {} (random {},",
                ab.sent, ab.delivered, ab.dropped_loss, ab.dropped_loss
            )),
            "{line}"
        );
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
