//! The runs of the loss-recovery benchmark (`benches/recovery.rs`), shared
//! with its smoke test (`tests/recovery_smoke.rs`): one function per kind
//! of run, for every stack pairing, on the dumbbell of
//! [`toytcp_sim::bench`].
#![allow(dead_code, reason = "each test or bench binary uses a different part")]

use super::smol_bulk::{BulkSpec, Open, SmolBulkHost, Stream};
use smoltcp::socket::tcp::CongestionControl;
use std::net::SocketAddrV4;
use std::time::Instant as WallClock;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{Duration, Instant};
use toytcp_sim::LinkStats;
use toytcp_sim::bench::{
    self, BASE_PORT, Dumbbell, FlowSpec, FlowTap, PathConfig, Probe, RECEIVER_ADDR, Shared, sender_addr,
};

/// ToyTCP's CUBIC controller (RFC 9438): the benchmark's CUBIC rows and
/// the smoke test read it from here. `None` would skip those rows (the
/// harness predates the controller and still compiles without it).
pub fn toytcp_cubic() -> Option<CongestionAlgorithm> {
    Some(CongestionAlgorithm::Cubic)
}

/// Who sends and who receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// ToyTCP → ToyTCP with this controller at the sender.
    ToyTcp(CongestionAlgorithm),
    /// smoltcp (CUBIC) → smoltcp: the peer to beat, on its own.
    Smoltcp,
    /// smoltcp (CUBIC) → ToyTCP receiver.
    SmoltcpToToyTcp,
}

impl Stack {
    /// A row label.
    pub fn label(&self) -> String {
        match self {
            Stack::ToyTcp(a) => format!("ToyTCP {a:?}"),
            Stack::Smoltcp => "smoltcp CUBIC -> smoltcp".into(),
            Stack::SmoltcpToToyTcp => "smoltcp CUBIC -> ToyTCP".into(),
        }
    }
}

/// Send and receive buffer of every socket: 4 MiB, eight times the
/// largest window the path can use (BDP + queue = 500 kB).
pub const BUFFER: usize = 4 << 20;

/// Port smoltcp senders connect from.
const SMOL_PORT: u16 = 49152;

/// What one single-flow run measured.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Bytes the receiving application read in order within the run.
    pub bytes: u64,
    /// The measured span of virtual time.
    pub span: Duration,
    /// What the tap saw of the flow.
    pub tap: FlowTap,
    /// The bottleneck's data direction.
    pub data_link: LinkStats,
    /// Wall-clock seconds the run took.
    pub wall: f64,
}

impl Outcome {
    /// Goodput in bit/s.
    pub fn goodput_bps(&self) -> f64 {
        bench::bits_per_second(self.bytes, self.span)
    }
}

/// Builds a one-flow dumbbell for `stack`; returns it with the receiver's probe.
pub fn single_flow(stack: Stack, path: &PathConfig, seed: u64, bytes: Option<u64>) -> (Dumbbell, Probe) {
    let total = bytes.unwrap_or(bench::UNLIMITED);
    let (congestion, mtu) = (CongestionAlgorithm::default(), path.mtu);
    match stack {
        Stack::ToyTcp(congestion) => {
            let flow = FlowSpec { congestion, start: Duration::ZERO, bytes };
            let (db, mut probes) = bench::toytcp_dumbbell(seed, path.clone(), &[flow], BUFFER);
            (db, probes.remove(0))
        }
        Stack::Smoltcp => {
            let mut db = Dumbbell::new(seed, path.clone());
            let stream = Stream { key: toytcp_sim::rng::mix64(seed), total };
            let sink = Shared::new(SmolBulkHost::new(BulkSpec {
                rx: Some(stream),
                ..smol_spec(RECEIVER_ADDR, Open::Listen { port: BASE_PORT }, mtu)
            }));
            db.set_receiver(Box::new(sink.clone()));
            db.add_sender(Box::new(smol_sender(stream, mtu)));
            (db, Box::new(move || sink.0.borrow().received()))
        }
        Stack::SmoltcpToToyTcp => {
            let flow = FlowSpec { congestion, start: Duration::ZERO, bytes };
            let mut db = Dumbbell::new(seed, path.clone());
            let (receiver, mut probes) = bench::toytcp_receiver(&[flow], seed, BUFFER);
            db.set_receiver(Box::new(receiver));
            let key = bench::client_stream_key(&bench::flow_app(0, &flow, seed));
            db.add_sender(Box::new(smol_sender(Stream { key, total }, mtu)));
            (db, probes.remove(0))
        }
    }
}

/// A smoltcp host of the dumbbell at `addr` opening as `open`: CUBIC,
/// [`BUFFER`]-byte socket buffers, an MTU of `mtu`, moving nothing yet.
fn smol_spec(addr: std::net::Ipv4Addr, open: Open, mtu: usize) -> BulkSpec {
    BulkSpec { mtu, buffer: BUFFER, cc: CongestionControl::Cubic, ..BulkSpec::new(addr, open) }
}

/// The smoltcp sender of the dumbbell: sends `stream` to the receiver
/// (then closes, if the stream ends) and reads nothing.
fn smol_sender(stream: Stream, mtu: usize) -> SmolBulkHost {
    let open = Open::Connect { remote: SocketAddrV4::new(RECEIVER_ADDR, BASE_PORT), local_port: SMOL_PORT };
    SmolBulkHost::new(BulkSpec { tx: Some(stream), ..smol_spec(sender_addr(0), open, mtu) })
}

/// Runs one flow of `stack` for `span` of virtual time (sending `bytes`,
/// or without end) and measures goodput from the start.
pub fn run_single(
    stack: Stack,
    path: &PathConfig,
    seed: u64,
    span: Duration,
    bytes: Option<u64>,
) -> Result<Outcome, String> {
    let started = WallClock::now();
    let (mut db, probe) = single_flow(stack, path, seed, bytes);
    let delivered = bench::measure(&mut db, std::slice::from_ref(&probe), Duration::ZERO, span)
        .map_err(|e| format!("{}: {e}\n{}", stack.label(), db.describe()))?;
    let tap = db.tap().flow_from(sender_addr(0)).cloned().unwrap_or_default();
    let link = db.bottleneck().expect("receiver added");
    Ok(Outcome {
        bytes: delivered[0],
        span,
        tap,
        data_link: db.world.link_stats(link, 0),
        wall: started.elapsed().as_secs_f64(),
    })
}

/// What a multi-flow run measured.
#[derive(Clone, Debug)]
pub struct Shares {
    /// Bytes each flow's receiving application read within the window.
    pub bytes: Vec<u64>,
    /// New (not duplicate) payload bytes of each flow delivered to the
    /// receiver host within the window, as the tap saw them: the flow's
    /// share of the bottleneck, whether or not a hole holds it back from
    /// the application.
    pub wire_bytes: Vec<u64>,
    /// The measured window of virtual time.
    pub window: Duration,
    /// Wall-clock seconds the run took.
    pub wall: f64,
}

impl Shares {
    /// Goodput of each flow in bit/s.
    pub fn goodputs_bps(&self) -> Vec<f64> {
        self.bytes.iter().map(|&b| bench::bits_per_second(b, self.window)).collect()
    }

    /// Jain's index over the flows' goodputs.
    pub fn jain(&self) -> f64 {
        bench::jain_index(&self.goodputs_bps())
    }

    /// Jain's index over the flows' shares of the bottleneck ([`Shares::wire_bytes`]).
    pub fn jain_wire(&self) -> f64 {
        bench::jain_index(&self.wire_bytes.iter().map(|&b| b as f64).collect::<Vec<_>>())
    }
}

/// New payload bytes the tap saw delivered per sender.
fn wire_bytes(db: &Dumbbell, senders: usize) -> Vec<u64> {
    let tap = db.tap();
    (0..senders).map(|i| tap.flow_from(sender_addr(i)).map_or(0, |f| f.bytes_delivered - f.duplicate_bytes)).collect()
}

/// ToyTCP flows with controllers `algs`, flow `i` starting at
/// `i × stagger` plus a jitter below `jitter` drawn from `seed` (so that
/// fault-free runs with different seeds are different samples: without it
/// a seed only changes ISNs and ports and every seed replays one
/// trajectory), all sharing the bottleneck; measured from `from` to `to`.
pub fn run_shared(
    algs: &[CongestionAlgorithm],
    stagger: Duration,
    jitter: Duration,
    path: &PathConfig,
    seed: u64,
    from: Duration,
    to: Duration,
) -> Result<Shares, String> {
    let started = WallClock::now();
    let flows: Vec<FlowSpec> = algs
        .iter()
        .enumerate()
        .map(|(i, &congestion)| FlowSpec {
            congestion,
            start: Duration::from_micros(
                stagger.as_micros() as u64 * i as u64
                    + toytcp_sim::rng::mix64(seed ^ (i as u64 + 1)) % (jitter.as_micros() as u64).max(1),
            ),
            bytes: None,
        })
        .collect();
    let (mut db, probes) = bench::toytcp_dumbbell(seed, path.clone(), &flows, BUFFER);
    let fail = |db: &Dumbbell, e: toytcp_sim::SimError| format!("{e}\n{}", db.describe());
    db.run_until(Instant::ZERO + from).map_err(|e| fail(&db, e))?;
    let (app0, wire0) = (probes.iter().map(|p| p()).collect::<Vec<u64>>(), wire_bytes(&db, flows.len()));
    db.run_until(Instant::ZERO + to).map_err(|e| fail(&db, e))?;
    let bytes = probes.iter().zip(app0).map(|(p, b)| p() - b).collect();
    let wire_bytes = wire_bytes(&db, flows.len()).into_iter().zip(wire0).map(|(a, b)| a - b).collect();
    Ok(Shares { bytes, wire_bytes, window: to - from, wall: started.elapsed().as_secs_f64() })
}
