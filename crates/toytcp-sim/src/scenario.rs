//! Scenarios: every setting of a run — link faults in each direction,
//! both endpoints' TCP settings, the application pairs, the length of the
//! fault phase and the liveness bound — derived from one seed (the swarm
//! runner) or from arbitrary bytes (the fuzzer), and the runner that
//! checks them.
//!
//! A run has two phases (as in TigerBeetle's VOPR):
//! 1. **safety**: faults on for `fault_phase` of virtual time; after every
//!    step the host that ran checks its invariants (sequence-space
//!    invariants of every connection, every byte received equal to the
//!    byte sent at that offset; a transmission log longer than
//!    [`CHECK_CREDIT`](crate::toyhost::CHECK_CREDIT) entries is walked only
//!    every few steps, and every log at the end) and every corrupted packet
//!    must be rejected;
//! 2. **liveness**: faults off (latency, bandwidth, queue and MTU stay);
//!    within `liveness_bound` every application must finish with the
//!    outcome its model expects and every connection must reach CLOSED
//!    (TIME-WAIT included).

use crate::app::{AppModel, AppSpec, Role};
use crate::link::{GilbertElliott, LinkConfig, LinkStats};
use crate::rng::{ByteSource, Draw, SimRng, mix64};
use crate::toyhost::ToyHost;
use crate::world::{HostId, LinkId, Stop, World, WorldStats};
use core::net::Ipv4Addr;
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{ConnectionConfig, Duration, EndpointConfig, Instant};

/// The client's address.
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The server's address.
pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);

/// Everything a run depends on.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Seeds the links' random streams and the endpoints' secrets.
    pub seed: u64,
    /// Client → server link direction.
    pub client_to_server: LinkConfig,
    /// Server → client link direction.
    pub server_to_client: LinkConfig,
    /// The client endpoint's connection settings.
    pub client: ConnectionConfig,
    /// The server endpoint's connection settings.
    pub server: ConnectionConfig,
    /// Application pairs, run at once (client on one host, server on the other).
    pub apps: Vec<AppSpec>,
    /// Length of the safety phase (faults on).
    pub fault_phase: Duration,
    /// Longest the liveness phase may take.
    pub liveness_bound: Duration,
}

/// A passed run's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The scenario's seed.
    pub seed: u64,
    /// Virtual time at the end.
    pub end: Instant,
    /// World counters.
    pub world: WorldStats,
    /// Per link direction: client → server, server → client.
    pub links: [LinkStats; 2],
    /// Hash of the packet trace (see [`World::trace_hash`]).
    pub trace_hash: u64,
    /// Application bytes delivered, both directions.
    pub app_bytes: u64,
}

/// A failed run: what to print and how to reproduce it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// The scenario's seed.
    pub seed: u64,
    /// What failed.
    pub message: String,
    /// The settings, one per line.
    pub settings: String,
    /// Every host's state at the failure.
    pub hosts: String,
    /// pcap files written for the run (one per link).
    pub pcaps: Vec<PathBuf>,
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(f, "seed {} FAILED: {}", self.seed, self.message)?;
        writeln!(f, "settings:\n{}", self.settings)?;
        writeln!(f, "hosts:\n{}", self.hosts)?;
        for p in &self.pcaps {
            writeln!(f, "pcap: {}", p.display())?;
        }
        write!(f, "reproduce: TOYTCP_SEED={} cargo test --release -p toytcp-sim --test swarm -- --nocapture", self.seed)
    }
}

impl std::error::Error for Failure {}

/// How to run a scenario.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Capture every link and write `seed-N-linkK.pcap` files here, whatever the outcome.
    pub pcap_dir: Option<PathBuf>,
}

/// A packet size category for the application models.
fn app_size(d: &mut impl Draw, cap: u64) -> u64 {
    let n = match d.range(0, 19) {
        0 => d.log_range(512 * 1024, 4 * 1024 * 1024),
        1..=3 => d.log_range(64 * 1024, 512 * 1024),
        _ => d.log_range(1, 64 * 1024),
    };
    n.min(cap)
}

/// An MSS: small (64–300), Ethernet-like (500–1460) or jumbo (to 9000).
fn mss_of(d: &mut impl Draw) -> u16 {
    match d.range(0, 9) {
        0..=1 => d.log_range(64, 300) as u16,
        2..=6 => d.range(500, 1460) as u16,
        _ => d.log_range(1461, 9000) as u16,
    }
}

fn connection_config(d: &mut impl Draw, mss: u16) -> ConnectionConfig {
    let buffer = |d: &mut dyn FnMut(u64, u64) -> u64, pick: u64| match pick {
        0..=2 => d(64, 4 * u64::from(mss)) as usize,
        3..=12 => d(8 * 1024, 128 * 1024) as usize,
        _ => d(256 * 1024, 4 * 1024 * 1024) as usize,
    };
    let pick = d.range(0, 19);
    let send_buffer = buffer(&mut |lo, hi| d.log_range(lo, hi), pick);
    let pick = d.range(0, 19);
    let recv_buffer = buffer(&mut |lo, hi| d.log_range(lo, hi), pick);
    ConnectionConfig {
        mss,
        send_buffer,
        recv_buffer,
        max_ooo_ranges: d.pick(&[32, 1, 4, 8]),
        window_scale: !d.chance(0.2),
        sack: !d.chance(0.2),
        timestamps: !d.chance(0.2),
        nodelay: d.chance(0.3),
        min_rto: d.pick(&[Duration::from_secs(1), Duration::from_millis(200)]),
        delayed_ack: d.pick(&[Duration::from_millis(40), Duration::from_millis(1), Duration::from_millis(200)]),
        // TIME-WAIT must outlast the peer's FIN retransmissions (up to
        // max_rto apart), or a lost final ACK legitimately ends the peer's
        // LAST-ACK with a reset (RFC 9293 §3.6.1: 2×MSL).
        time_wait: d.pick(&[Duration::from_secs(60), Duration::from_secs(120)]),
        initial_window_segments: 10 - d.range(0, 9) as u32,
        // Every loss-recovery mechanism and both controllers, each on by
        // default and switched off (or swapped) often enough that their
        // fallbacks meet the same faults (issue 5: "switchable by config").
        congestion: d.pick(&[CongestionAlgorithm::Cubic, CongestionAlgorithm::NewReno]),
        hystart: !d.chance(0.2),
        sack_recovery: !d.chance(0.2),
        rack: !d.chance(0.2),
        prr: !d.chance(0.2),
        frto: !d.chance(0.2),
        ..ConnectionConfig::default()
    }
}

fn link_config(d: &mut impl Draw, mtu: usize, fault_phase: Duration) -> LinkConfig {
    let latency = Duration::from_micros(d.range(0, 100_000).max(d.range(0, 100_000)).max(50));
    let jitter = if d.chance(0.4) { d.duration(Duration::ZERO, latency / 2) } else { Duration::ZERO };
    let bandwidth_bps = d.chance(0.5).then(|| d.log_range(1_000_000, 1_000_000_000));
    // At least four packets of queue: with room for a single packet every
    // burst of two loses its second packet, and without SACK and
    // timestamps NewReno's `recover` (RFC 6582 §3.2) and Karn's rule
    // (RFC 6298 §5) then keep the RTO backed off at its maximum — a
    // pathology of that path, not a protocol error (see the report).
    let queue_limit_bytes = (d.log_range(4 * mtu as u64, 4 << 20) as usize).max(4 * mtu);
    let loss = if d.chance(0.4) { d.range_f64(0.0, 0.3) } else { 0.0 };
    let burst = d.chance(0.2).then(|| GilbertElliott {
        p_good_to_bad: d.range_f64(0.001, 0.05),
        p_bad_to_good: d.range_f64(0.05, 0.5),
        loss_in_bad: d.range_f64(0.3, 1.0),
    });
    let duplicate = if d.chance(0.25) { d.range_f64(0.0, 0.1) } else { 0.0 };
    let (reorder, reorder_delay) = if d.chance(0.25) {
        (d.range_f64(0.0, 0.2), d.duration(Duration::from_millis(1), Duration::from_millis(100)))
    } else {
        (0.0, Duration::from_millis(10))
    };
    let corrupt = if d.chance(0.25) { d.range_f64(0.0, 0.1) } else { 0.0 };
    let mut partitions = Vec::new();
    if d.chance(0.25) {
        for _ in 0..d.range(1, 3) {
            // Most transfers are over within seconds: aim there.
            let start = Instant::ZERO + d.duration(Duration::ZERO, fault_phase.min(Duration::from_secs(8)));
            let len = d.duration(Duration::from_millis(100), Duration::from_secs(10));
            partitions.push((start, start + len));
        }
    }
    LinkConfig {
        latency,
        jitter,
        bandwidth_bps,
        queue_limit_bytes,
        mtu,
        loss,
        burst,
        duplicate,
        reorder,
        reorder_delay,
        corrupt,
        partitions,
        frag_needed_from: None,
    }
}

fn app_spec(d: &mut impl Draw, index: usize, cap: u64) -> AppSpec {
    let model = match d.range(0, 19) {
        0..=5 => AppModel::Bulk { up: app_size(d, cap), down: if d.chance(0.4) { app_size(d, cap) } else { 0 } },
        6..=8 => AppModel::Echo { bytes: app_size(d, cap), chunk: d.log_range(1, 65536) as u32 },
        9..=12 => {
            let count = d.range(1, 50) as u32;
            let request = d.log_range(1, 4000) as u32;
            let response = d.log_range(1, 20_000) as u32;
            let per = u64::from(request) + u64::from(response);
            let count = count.min((cap / per).max(1) as u32);
            AppModel::RequestResponse { count, request, response }
        }
        13..=14 => AppModel::HalfClose { up: app_size(d, cap), down: app_size(d, cap) },
        15 => {
            let mut budget = cap;
            let steps = (0..d.range(1, 20))
                .map(|_| {
                    let c = d.log_range(1, 5000).saturating_sub(1).min(budget);
                    budget -= c;
                    let s = d.log_range(1, 20_000).saturating_sub(1).min(budget);
                    budget -= s;
                    (c as u32, s as u32)
                })
                .collect();
            AppModel::Conversation { steps }
        }
        16 => AppModel::Simultaneous { up: app_size(d, cap), down: app_size(d, cap) },
        17 => {
            let down = app_size(d, cap).max(2);
            AppModel::Abort { down, after: d.range(1, down - 1) }
        }
        _ => AppModel::Refused,
    };
    AppSpec {
        model,
        port: 7000 + index as u16,
        start: d.duration(Duration::ZERO, Duration::from_secs(2)),
        key: d.next_u64(),
    }
}

impl Scenario {
    /// The scenario of a seed: every setting drawn from the seed's own stream.
    pub fn from_seed(seed: u64) -> Scenario {
        Scenario::generate(seed, &mut SimRng::new(seed, 1))
    }

    /// Every setting drawn from `d`; the links' random streams use `seed`.
    pub fn generate(seed: u64, d: &mut impl Draw) -> Scenario {
        let fault_phase = d.duration(Duration::from_secs(2), Duration::from_secs(30));
        let client_mss = mss_of(d);
        let server_mss = if d.chance(0.3) { mss_of(d) } else { client_mss };
        let mtu =
            usize::from(client_mss.max(server_mss)) + 40 + if d.chance(0.3) { d.range(1, 200) as usize } else { 0 };
        let client = connection_config(d, client_mss);
        let server = connection_config(d, server_mss);
        let client_to_server = link_config(d, mtu, fault_phase);
        let server_to_client = link_config(d, mtu, fault_phase);
        // Keep runs short: no more data than a few hundred windows of the smallest buffer.
        let smallest = [client.send_buffer, client.recv_buffer, server.send_buffer, server.recv_buffer]
            .into_iter()
            .min()
            .unwrap_or(1) as u64;
        let cap = (smallest * 300).max(16 * 1024);
        // Usually one to three pairs at once, sometimes up to eight.
        let pairs = if d.chance(0.1) { d.range(4, 8) } else { d.range(1, 3) };
        let apps: Vec<AppSpec> = (0..pairs as usize).map(|i| app_spec(d, i, cap)).collect();
        let mut s = Scenario {
            seed,
            client_to_server,
            server_to_client,
            client,
            server,
            apps,
            fault_phase,
            liveness_bound: Duration::ZERO,
        };
        s.liveness_bound = s.default_liveness_bound();
        s
    }

    /// A generous bound on the liveness phase: five maximal RTOs and a
    /// TIME-WAIT, plus four times a crude estimate of the transfer time
    /// (one round trip per smallest window, serialization at the slower
    /// bandwidth, one round trip and two delayed ACKs per exchange).
    pub fn default_liveness_bound(&self) -> Duration {
        let links = [&self.client_to_server, &self.server_to_client];
        let one_way = |l: &LinkConfig| l.latency + l.jitter + l.reorder_delay;
        let rtt = one_way(links[0]) + one_way(links[1]) + self.client.delayed_ack.max(self.server.delayed_ack);
        let window =
            [self.client.send_buffer, self.client.recv_buffer, self.server.send_buffer, self.server.recv_buffer]
                .into_iter()
                .min()
                .unwrap_or(1)
                .clamp(1, usize::from(self.client.mss.min(self.server.mss))) as u64;
        let bytes: u64 = self.apps.iter().map(|a| a.model.client_total() + a.model.server_total()).sum();
        let exchanges: u64 = self
            .apps
            .iter()
            .map(|a| match a.model {
                AppModel::RequestResponse { count, .. } => u64::from(count),
                AppModel::Conversation { ref steps } => steps.len() as u64,
                _ => 1,
            })
            .sum();
        let slowest = links.iter().filter_map(|l| l.bandwidth_bps).min().unwrap_or(u64::MAX);
        let serialization = Duration::from_micros((u128::from(bytes) * 8 * 1_000_000 / u128::from(slowest)) as u64);
        let rounds = bytes / window + 2 * exchanges + 10;
        let estimate = rtt * rounds as u32 + serialization + (rtt + self.client.delayed_ack * 2) * exchanges as u32;
        let time_wait = self.client.time_wait.max(self.server.time_wait);
        Duration::from_secs(300) + time_wait + estimate * 4
    }

    /// All settings, one per line.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "  seed {} fault_phase {:?} liveness_bound {:?}",
            self.seed, self.fault_phase, self.liveness_bound
        );
        let _ = writeln!(s, "  link client->server {:?}", self.client_to_server);
        let _ = writeln!(s, "  link server->client {:?}", self.server_to_client);
        let _ = writeln!(s, "  client tcp {:?}", self.client);
        let _ = writeln!(s, "  server tcp {:?}", self.server);
        for a in &self.apps {
            let _ = writeln!(s, "  app {a:?}");
        }
        s
    }

    /// The world of this scenario: client host 0, server host 1, link 0.
    pub fn build(&self) -> World {
        let mut world = World::new(self.seed);
        let endpoint = |cfg: &ConnectionConfig, stream: u64| EndpointConfig {
            seed: mix64(self.seed ^ stream),
            connection: cfg.clone(),
            ..EndpointConfig::default()
        };
        let client =
            ToyHost::new("client", CLIENT_ADDR, SERVER_ADDR, endpoint(&self.client, 11), &self.apps, Role::Client);
        let server =
            ToyHost::new("server", SERVER_ADDR, CLIENT_ADDR, endpoint(&self.server, 12), &self.apps, Role::Server);
        let c = world.add_host(Box::new(client));
        let s = world.add_host(Box::new(server));
        world.connect(c, s, self.client_to_server.clone(), self.server_to_client.clone());
        world
    }
}

/// A scenario from arbitrary bytes (for cargo-fuzz): the first 8 bytes
/// are the seed, the rest drive every choice (zeros once exhausted, which
/// picks the simplest setting). Never panics.
pub fn scenario_from_bytes(data: &[u8]) -> Scenario {
    let mut d = ByteSource::new(data);
    let seed = d.next_u64();
    Scenario::generate(seed, &mut d)
}

/// Runs the scenario of `seed`; see [`run`].
pub fn run_scenario(seed: u64) -> Result<Report, Failure> {
    run(&Scenario::from_seed(seed))
}

/// Runs a scenario. Capture is off; when `TOYTCP_PCAP=dir` is set every
/// run is captured there. A failing run is run again with capture on
/// (runs are deterministic) and its pcaps are written to `TOYTCP_PCAP` or
/// the system's temporary directory under `toytcp-sim/`.
pub fn run(scenario: &Scenario) -> Result<Report, Failure> {
    let env_dir = std::env::var_os("TOYTCP_PCAP").filter(|d| !d.is_empty()).map(PathBuf::from);
    let first = run_with(scenario, &RunOptions { pcap_dir: env_dir.clone() });
    match first {
        Ok(r) => Ok(r),
        Err(f) if !f.pcaps.is_empty() => Err(f),
        Err(mut f) => {
            let dir = env_dir.unwrap_or_else(|| std::env::temp_dir().join("toytcp-sim"));
            if let Err(again) = run_with(scenario, &RunOptions { pcap_dir: Some(dir) }) {
                if again.message != f.message {
                    f.message = format!("{} (NOT REPRODUCED on the captured re-run: {})", f.message, again.message);
                }
                f.pcaps = again.pcaps;
            }
            Err(f)
        }
    }
}

/// Runs a scenario with explicit options; panics inside the run are
/// caught and reported as failures.
pub fn run_with(scenario: &Scenario, options: &RunOptions) -> Result<Report, Failure> {
    let mut world = scenario.build();
    world.set_capture(options.pcap_dir.is_some());
    let outcome = catch_unwind(AssertUnwindSafe(|| phases(&mut world, scenario)));
    let message = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(msg)) => Some(msg),
        Err(panic) => Some(format!(
            "panic: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string payload)")
        )),
    };
    let mut pcaps = Vec::new();
    if let Some(dir) = &options.pcap_dir {
        match world.write_pcaps(dir, &format!("seed-{}", scenario.seed)) {
            Ok(p) => pcaps = p,
            Err(e) => tracing::warn!("cannot write pcaps to {}: {e}", dir.display()),
        }
    }
    match message {
        None => Ok(Report {
            seed: scenario.seed,
            end: world.now(),
            world: world.stats(),
            links: [world.link_stats(LinkId(0), 0), world.link_stats(LinkId(0), 1)],
            trace_hash: world.trace_hash(),
            app_bytes: scenario.apps.iter().map(|a| a.model.client_total() + a.model.server_total()).sum(),
        }),
        Some(message) => {
            let mut hosts = catch_unwind(AssertUnwindSafe(|| {
                (0..world.host_count()).map(|i| world.host(HostId(i)).describe()).collect::<String>()
            }))
            .unwrap_or_else(|_| "(describing the hosts panicked)".into());
            let _ = writeln!(hosts, "at {}: {:?}", world.now(), world.stats());
            let _ = writeln!(hosts, "link client->server {:?}", world.link_stats(LinkId(0), 0));
            let _ = write!(hosts, "link server->client {:?}", world.link_stats(LinkId(0), 1));
            Err(Failure { seed: scenario.seed, message, settings: scenario.describe(), hosts, pcaps })
        }
    }
}

fn phases(world: &mut World, scenario: &Scenario) -> Result<(), String> {
    let fault_end = Instant::ZERO + scenario.fault_phase;
    world.run_until(fault_end, World::all_done).map_err(|e| format!("safety phase: {e}"))?;
    mtu_respected(world)?;
    world.set_faults(false);
    let bound = fault_end + scenario.liveness_bound;
    let stop = world.run_until(bound, World::all_done).map_err(|e| format!("liveness phase: {e}"))?;
    if !world.all_done() {
        let why = match stop {
            Stop::Idle => "nothing left to happen",
            _ => "bound reached",
        };
        return Err(format!("liveness: not finished at {} ({why}; bound {bound})", world.now()));
    }
    mtu_respected(world)?;
    for i in 0..world.host_count() {
        world.host(HostId(i)).check_all().map_err(|e| format!("final check: {e}"))?;
    }
    Ok(())
}

/// The path MTU is the larger MSS plus 40 bytes of IPv4 and TCP headers
/// (and maybe more), so a packet dropped for its size carried more TCP
/// options plus data than the MSS allows (RFC 9293 §3.7.1, RFC 6691 §2).
fn mtu_respected(world: &World) -> Result<(), String> {
    for dir in 0..2 {
        // A drop answered with ICMP Fragmentation Needed is Path MTU
        // Discovery at work (RFC 1191), not a sender fault.
        let stats = world.link_stats(LinkId(0), dir);
        let dropped = stats.dropped_mtu - stats.frag_needed_sent;
        if dropped > 0 {
            let from = ["client", "server"][dir];
            return Err(format!("{from} sent {dropped} packets larger than MSS + 40 (dropped by the MTU)"));
        }
    }
    Ok(())
}
