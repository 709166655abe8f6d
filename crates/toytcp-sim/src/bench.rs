//! Building blocks of the loss-recovery and congestion-control benchmark
//! (`benches/recovery.rs`, issue 5) and of its smoke test.
//!
//! The topology is a dumbbell with one receiving host:
//!
//! ```text
//! sender 0 ─┐  access links: no delay,
//! sender 1 ─┤  unlimited rate                 bottleneck (PathConfig)
//!    …      ├──────────────── router ═══════════════════════════════ receiver
//! sender N ─┘                 (forwards at once)   data →: rate, drop-tail queue,
//!                                                  latency, random loss, reordering
//!                                                  ← ACKs: rate, latency
//! ```
//!
//! Every sender's packets cross the router, so one [`Tap`] sees each data
//! segment as it was *sent* (at the router, before the bottleneck's loss,
//! queue and reordering) and as it was *delivered* (at the receiver). From
//! those two views it counts, per flow and independently of the stacks'
//! own counters:
//! - retransmitted segments: sent segments starting below the highest
//!   sequence number sent before them;
//! - spurious retransmissions: delivered segments all of whose bytes had
//!   already been delivered (with no duplication on the link, a second
//!   delivery of the same bytes means a retransmission was not needed);
//! - the in-order prefix of the stream delivered on the wire.
//!
//! Goodput is measured at the receiving application ([`Probe`]): bytes read
//! in order, each checked against the sender's keyed pattern.
//!
//! Hosts are handed to the world wrapped in [`Shared`], so that the
//! benchmark can still read them (e.g. a receiver's byte counts) between
//! two [`World::run_until`] calls.

use crate::Host;
use crate::app::{AppModel, AppSpec, Role};
use crate::link::LinkConfig;
use crate::toyhost::ToyHost;
use crate::world::{HostId, LinkId, SimError, World};
use core::net::Ipv4Addr;
use std::cell::{Ref, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{ConnectionConfig, Duration, EndpointConfig, Instant, wire};

/// The receiver's address. Every host of a dumbbell is in 10.0.0.0/24, so
/// stacks that route by subnet (smoltcp) reach each other without routes.
pub const RECEIVER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// The router's address (it terminates no connection).
pub const ROUTER_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
/// The first flow's server port; flow `i` uses `BASE_PORT + i`.
pub const BASE_PORT: u16 = 5001;

/// Address of sender `i` (0-based, at most 98 senders).
pub fn sender_addr(i: usize) -> Ipv4Addr {
    assert!(i < 99, "at most 99 senders");
    Ipv4Addr::new(10, 0, 0, 1 + i as u8)
}

/// The bottleneck path between the router and the receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct PathConfig {
    /// Bottleneck rate in bit/s, both directions.
    pub rate_bps: u64,
    /// Round-trip propagation delay, split evenly over the two directions
    /// (serialization and queueing come on top).
    pub rtt: Duration,
    /// Drop-tail queue of the data direction in bytes.
    pub queue_bytes: usize,
    /// Largest IPv4 packet (the MTU).
    pub mtu: usize,
    /// Random loss probability per data packet (data direction only).
    pub loss: f64,
    /// Random loss probability per packet of the ACK direction.
    pub ack_loss: f64,
    /// Probability that a data packet is held back by an extra delay in
    /// `1 µs ..= reorder_delay` (data direction only).
    pub reorder: f64,
    /// Largest extra delay of a reordered packet.
    pub reorder_delay: Duration,
}

impl PathConfig {
    /// The issue-5 path: 100 Mbit/s, 20 ms RTT, a drop-tail queue of one
    /// bandwidth-delay product (250,000 bytes ≈ 166 packets of 1500
    /// bytes), MTU 1500, no loss, no reordering.
    pub fn issue5() -> Self {
        let mut p = PathConfig {
            rate_bps: 100_000_000,
            rtt: Duration::from_millis(20),
            queue_bytes: 0,
            mtu: 1500,
            loss: 0.0,
            ack_loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
        };
        p.queue_bytes = p.bdp_bytes() as usize;
        p
    }

    /// The bandwidth-delay product in bytes (rate × propagation RTT).
    pub fn bdp_bytes(&self) -> u64 {
        (u128::from(self.rate_bps) * u128::from(self.rtt.as_micros() as u64) / 8_000_000) as u64
    }

    /// The data direction (router → receiver).
    pub fn data_link(&self) -> LinkConfig {
        LinkConfig {
            latency: Duration::from_micros(self.rtt.as_micros() as u64 / 2),
            bandwidth_bps: Some(self.rate_bps),
            queue_limit_bytes: self.queue_bytes,
            mtu: self.mtu,
            loss: self.loss,
            reorder: self.reorder,
            reorder_delay: self.reorder_delay,
            ..LinkConfig::default()
        }
    }

    /// The ACK direction (receiver → router): same rate and delay, a queue
    /// of 1 MiB, optional loss, no reordering.
    pub fn ack_link(&self) -> LinkConfig {
        LinkConfig {
            latency: Duration::from_micros(self.rtt.as_micros() as u64 - self.rtt.as_micros() as u64 / 2),
            bandwidth_bps: Some(self.rate_bps),
            queue_limit_bytes: 1 << 20,
            mtu: self.mtu,
            loss: self.ack_loss,
            ..LinkConfig::default()
        }
    }

    /// An access link between a sender and the router: no delay, no rate limit.
    pub fn access_link(&self) -> LinkConfig {
        LinkConfig { latency: Duration::ZERO, mtu: self.mtu, ..LinkConfig::default() }
    }
}

/// A host the world drives while the benchmark keeps a handle on it: the
/// world gets one clone (boxed), the caller keeps another and reads the
/// host between runs.
pub struct Shared<H>(pub Rc<RefCell<H>>);

impl<H> Shared<H> {
    /// Wraps `host`.
    pub fn new(host: H) -> Self {
        Shared(Rc::new(RefCell::new(host)))
    }
}

impl<H> Clone for Shared<H> {
    fn clone(&self) -> Self {
        Shared(Rc::clone(&self.0))
    }
}

impl<H: Host> Host for Shared<H> {
    fn addr(&self) -> Ipv4Addr {
        self.0.borrow().addr()
    }
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.0.borrow_mut().handle_packet(now, packet)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.borrow_mut().handle_timeout(now)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.0.borrow_mut().poll_transmit(now, out)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.0.borrow_mut().poll_timeout()
    }
    fn app_done(&self) -> bool {
        self.0.borrow().app_done()
    }
    fn check(&self) -> Result<(), String> {
        self.0.borrow().check()
    }
    fn check_all(&self) -> Result<(), String> {
        self.0.borrow().check_all()
    }
    fn malformed_packets(&self) -> Option<u64> {
        self.0.borrow().malformed_packets()
    }
    fn describe(&self) -> String {
        self.0.borrow().describe()
    }
}

/// Disjoint half-open ranges `[start, end)` of stream offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end, disjoint and not touching.
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Adds `[start, end)`; returns how many of its bytes were not in the set.
    pub fn insert(&mut self, start: u64, end: u64) -> u64 {
        if start >= end {
            return 0;
        }
        let (mut lo, mut hi) = (start, end);
        let mut covered = 0u64;
        // A range starting at or before `start` may overlap or touch it.
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back()
            && e >= start
        {
            covered += e.min(end) - start;
            lo = s;
            hi = hi.max(e);
            self.ranges.remove(&s);
        }
        // Ranges starting inside `(start, end]` overlap or touch it.
        while let Some((&s, &e)) = self.ranges.range(start..=end).next() {
            covered += e.min(end).saturating_sub(s.max(start));
            hi = hi.max(e);
            self.ranges.remove(&s);
        }
        self.ranges.insert(lo, hi);
        (end - start) - covered
    }

    /// The end of the range starting at 0 (0 if there is none).
    pub fn prefix(&self) -> u64 {
        match self.ranges.first_key_value() {
            Some((&0, &e)) => e,
            _ => 0,
        }
    }

    /// Number of disjoint ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// What the [`Tap`] saw of one flow (one direction of one connection).
#[derive(Clone, Debug, Default)]
pub struct FlowTap {
    /// Data-bearing segments sent (seen at the router, before the bottleneck).
    pub segments_sent: u64,
    /// Payload bytes sent, retransmissions included.
    pub bytes_sent: u64,
    /// Sent segments that start below the highest sequence number sent
    /// before them: retransmissions, seen on the wire.
    pub retransmits_sent: u64,
    /// Data-bearing segments delivered to the receiver host.
    pub segments_delivered: u64,
    /// Payload bytes delivered, duplicates included.
    pub bytes_delivered: u64,
    /// Delivered segments every byte of which had been delivered before:
    /// spurious retransmissions (the link does not duplicate here).
    pub spurious_segments: u64,
    /// Delivered bytes that had been delivered before.
    pub duplicate_bytes: u64,
    /// The sender's ISN (from its SYN), the origin of stream offsets.
    isn: Option<u32>,
    /// Highest stream offset sent (end of the furthest segment).
    highest_sent: u64,
    /// Stream offsets delivered.
    delivered: RangeSet,
}

impl FlowTap {
    /// The stream offset of `seq`, unwrapped near `reference`.
    fn offset(&self, seq: u32, reference: u64) -> Option<u64> {
        let base = self.isn?.wrapping_add(1);
        let rel = seq.wrapping_sub(base);
        let delta = rel.wrapping_sub(reference as u32) as i32;
        reference.checked_add_signed(i64::from(delta))
    }

    /// Contiguous stream bytes from offset 0 delivered on the wire.
    pub fn in_order(&self) -> u64 {
        self.delivered.prefix()
    }

    /// Spurious retransmissions as a fraction of the segments sent.
    pub fn spurious_fraction(&self) -> f64 {
        if self.segments_sent == 0 { 0.0 } else { self.spurious_segments as f64 / self.segments_sent as f64 }
    }
}

/// Identifies a flow: the data sender's and receiver's (address, port).
pub type FlowKey = (Ipv4Addr, u16, Ipv4Addr, u16);

/// Per-flow observations of data segments (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Tap {
    flows: HashMap<FlowKey, FlowTap>,
}

impl Tap {
    /// A segment crossed the router on its way from a sender.
    pub fn observe_sent(&mut self, packet: &[u8]) {
        let Ok(seg) = wire::parse(packet) else { return };
        let h = &seg.header;
        let key = (seg.src_addr, h.src_port, seg.dst_addr, h.dst_port);
        if h.flags.syn() {
            self.flows.entry(key).or_default().isn = Some(h.seq.0);
        }
        if seg.payload.is_empty() {
            return;
        }
        let flow = self.flows.entry(key).or_default();
        let Some(start) = flow.offset(h.seq.0, flow.highest_sent) else { return };
        let end = start + seg.payload.len() as u64;
        flow.segments_sent += 1;
        flow.bytes_sent += seg.payload.len() as u64;
        if start < flow.highest_sent {
            flow.retransmits_sent += 1;
        }
        flow.highest_sent = flow.highest_sent.max(end);
    }

    /// A segment was delivered to the receiver host.
    pub fn observe_delivered(&mut self, packet: &[u8]) {
        let Ok(seg) = wire::parse(packet) else { return };
        if seg.payload.is_empty() {
            return;
        }
        let h = &seg.header;
        let key = (seg.src_addr, h.src_port, seg.dst_addr, h.dst_port);
        let Some(flow) = self.flows.get_mut(&key) else { return };
        let Some(start) = flow.offset(h.seq.0, flow.highest_sent) else { return };
        let len = seg.payload.len() as u64;
        let fresh = flow.delivered.insert(start, start + len);
        flow.segments_delivered += 1;
        flow.bytes_delivered += len;
        flow.duplicate_bytes += len - fresh;
        if fresh == 0 {
            flow.spurious_segments += 1;
        }
    }

    /// The data flow from host `addr` (the first by port, if it has
    /// several), if one was seen.
    pub fn flow_from(&self, addr: Ipv4Addr) -> Option<&FlowTap> {
        self.flows().into_iter().find(|(k, _)| k.0 == addr).map(|(_, f)| f)
    }

    /// The data-carrying flows, in key order.
    pub fn flows(&self) -> Vec<(FlowKey, &FlowTap)> {
        let mut v: Vec<_> = self.flows.iter().filter(|(_, f)| f.segments_sent > 0).map(|(k, f)| (*k, f)).collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }

    /// Sum over every flow.
    pub fn total(&self) -> FlowTap {
        let mut t = FlowTap::default();
        for f in self.flows.values() {
            t.segments_sent += f.segments_sent;
            t.bytes_sent += f.bytes_sent;
            t.retransmits_sent += f.retransmits_sent;
            t.segments_delivered += f.segments_delivered;
            t.bytes_delivered += f.bytes_delivered;
            t.spurious_segments += f.spurious_segments;
            t.duplicate_bytes += f.duplicate_bytes;
        }
        t
    }
}

/// The router: forwards every packet at once (the world routes it on by
/// destination) and shows the senders' segments to the [`Tap`].
pub struct Router {
    queue: Vec<Vec<u8>>,
    tap: Rc<RefCell<Tap>>,
}

impl Host for Router {
    fn addr(&self) -> Ipv4Addr {
        ROUTER_ADDR
    }
    fn handle_packet(&mut self, _now: Instant, packet: &[u8]) {
        if packet.len() >= 20 && packet[16..20] == RECEIVER_ADDR.octets() {
            self.tap.borrow_mut().observe_sent(packet);
        }
        self.queue.push(packet.to_vec());
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>) {
        out.append(&mut self.queue);
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn app_done(&self) -> bool {
        true
    }
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

/// The receiver's wrapper: shows each delivered packet to the [`Tap`]
/// before the host handles it.
pub struct Tapped {
    inner: Box<dyn Host>,
    tap: Rc<RefCell<Tap>>,
}

impl Host for Tapped {
    fn addr(&self) -> Ipv4Addr {
        self.inner.addr()
    }
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.tap.borrow_mut().observe_delivered(packet);
        self.inner.handle_packet(now, packet)
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now)
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.inner.poll_transmit(now, out)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.inner.poll_timeout()
    }
    fn app_done(&self) -> bool {
        self.inner.app_done()
    }
    fn check(&self) -> Result<(), String> {
        self.inner.check()
    }
    fn check_all(&self) -> Result<(), String> {
        self.inner.check_all()
    }
    fn malformed_packets(&self) -> Option<u64> {
        self.inner.malformed_packets()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// Reads how many bytes a flow's receiving application has read in order.
pub type Probe = Box<dyn Fn() -> u64>;

/// A world with the dumbbell topology of the module docs.
pub struct Dumbbell {
    /// The world (seeded; faults on).
    pub world: World,
    path: PathConfig,
    router: HostId,
    receiver: Option<HostId>,
    bottleneck: Option<LinkId>,
    senders: Vec<HostId>,
    tap: Rc<RefCell<Tap>>,
}

impl Dumbbell {
    /// A world holding only the router.
    pub fn new(seed: u64, path: PathConfig) -> Self {
        let mut world = World::new(seed);
        let tap = Rc::new(RefCell::new(Tap::default()));
        let router = world.add_host(Box::new(Router { queue: Vec::new(), tap: Rc::clone(&tap) }));
        Dumbbell { world, path, router, receiver: None, bottleneck: None, senders: Vec::new(), tap }
    }

    /// The path.
    pub fn path(&self) -> &PathConfig {
        &self.path
    }

    /// Adds the receiver (at [`RECEIVER_ADDR`]) behind the bottleneck.
    ///
    /// # Panics
    /// If a receiver was added before or `host` has another address.
    pub fn set_receiver(&mut self, host: Box<dyn Host>) -> HostId {
        assert!(self.receiver.is_none(), "one receiver per dumbbell");
        assert_eq!(host.addr(), RECEIVER_ADDR, "the receiver must be at RECEIVER_ADDR");
        let id = self.world.add_host(Box::new(Tapped { inner: host, tap: Rc::clone(&self.tap) }));
        let link = self.world.connect(self.router, id, self.path.data_link(), self.path.ack_link());
        self.receiver = Some(id);
        self.bottleneck = Some(link);
        id
    }

    /// Adds the next sender (at [`sender_addr`]`(n)`, `n` senders so far)
    /// on its own access link to the router.
    ///
    /// # Panics
    /// If no receiver was added yet or `host` has another address.
    pub fn add_sender(&mut self, host: Box<dyn Host>) -> HostId {
        let (Some(receiver), Some(bottleneck)) = (self.receiver, self.bottleneck) else {
            panic!("add the receiver first")
        };
        let addr = sender_addr(self.senders.len());
        assert_eq!(host.addr(), addr, "sender {} must be at {addr}", self.senders.len());
        let id = self.world.add_host(host);
        let access = self.world.connect(id, self.router, self.path.access_link(), self.path.access_link());
        self.world.add_route(id, RECEIVER_ADDR, access);
        self.world.add_route(receiver, addr, bottleneck);
        self.senders.push(id);
        id
    }

    /// The bottleneck link (direction 0 carries data, 1 ACKs).
    pub fn bottleneck(&self) -> Option<LinkId> {
        self.bottleneck
    }

    /// What the tap saw so far.
    pub fn tap(&self) -> Ref<'_, Tap> {
        self.tap.borrow()
    }

    /// Runs until virtual time `t` (or until nothing is left to do).
    pub fn run_until(&mut self, t: Instant) -> Result<(), SimError> {
        self.world.run_until(t, |_| false).map(|_| ())
    }

    /// Every host's state, for error reports.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for i in 0..self.world.host_count() {
            s.push_str(&self.world.host(HostId(i)).describe());
        }
        s
    }
}

/// Bytes each probe's flow delivered between `from` and `to` (virtual
/// time from the start of the run), running the world up to `to`.
pub fn measure(db: &mut Dumbbell, probes: &[Probe], from: Duration, to: Duration) -> Result<Vec<u64>, SimError> {
    db.run_until(Instant::ZERO + from)?;
    let before: Vec<u64> = probes.iter().map(|p| p()).collect();
    db.run_until(Instant::ZERO + to)?;
    Ok(probes.iter().zip(before).map(|(p, b)| p() - b).collect())
}

/// Goodput in bit/s of `bytes` over `span`.
pub fn bits_per_second(bytes: u64, span: Duration) -> f64 {
    bytes as f64 * 8.0 / (span.as_micros() as f64 / 1e6)
}

/// Jain's fairness index (Σx)² / (n·Σx²): 1 when all shares are equal,
/// 1/n when one flow takes everything. An empty or all-zero input gives 0.
pub fn jain_index(shares: &[f64]) -> f64 {
    let sum: f64 = shares.iter().sum();
    let squares: f64 = shares.iter().map(|x| x * x).sum();
    if shares.is_empty() || squares == 0.0 { 0.0 } else { sum * sum / (shares.len() as f64 * squares) }
}

/// ToyTCP's settings for the benchmark: MSS 1460 (MTU 1500), `buffer`
/// bytes of send and receive buffer, controller `congestion`, everything
/// else at the core's defaults.
pub fn toytcp_config(seed: u64, congestion: CongestionAlgorithm, buffer: usize) -> EndpointConfig {
    EndpointConfig {
        seed,
        connection: ConnectionConfig {
            mss: 1460,
            send_buffer: buffer,
            recv_buffer: buffer,
            congestion,
            ..ConnectionConfig::default()
        },
        ..EndpointConfig::default()
    }
}

/// One flow of a run: who sends, with which controller, from when, how much.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    /// Controller of the ToyTCP sender (ignored by other stacks).
    pub congestion: CongestionAlgorithm,
    /// When the sender connects.
    pub start: Duration,
    /// Bytes to send, then close; `None` keeps sending.
    pub bytes: Option<u64>,
}

/// Bytes a bulk sender with no limit offers: more than any run moves.
pub const UNLIMITED: u64 = 1 << 50;

/// The application pair of flow `i` (port [`BASE_PORT`]` + i`).
pub fn flow_app(i: usize, flow: &FlowSpec, seed: u64) -> AppSpec {
    AppSpec {
        model: AppModel::Bulk { up: flow.bytes.unwrap_or(UNLIMITED), down: 0 },
        port: BASE_PORT + i as u16,
        start: flow.start,
        key: seed ^ ((i as u64) << 32),
    }
}

/// The key of the stream the client of `app` sends: what a sender of
/// another stack must fill with [`fill_pattern`](crate::app::fill_pattern)
/// for a ToyTCP receiver of `app` to accept it (the application models key
/// the client → server stream `mix64(key ^ 1)`).
pub fn client_stream_key(app: &AppSpec) -> u64 {
    crate::rng::mix64(app.key ^ 1)
}

/// A ToyTCP receiver for `flows` (one server task per flow) at
/// [`RECEIVER_ADDR`], and one probe per flow reading its task's byte count.
pub fn toytcp_receiver(flows: &[FlowSpec], seed: u64, buffer: usize) -> (Shared<ToyHost>, Vec<Probe>) {
    let apps: Vec<AppSpec> = flows.iter().enumerate().map(|(i, f)| flow_app(i, f, seed)).collect();
    let config = toytcp_config(seed ^ 0x5eed, CongestionAlgorithm::default(), buffer);
    let host = Shared::new(ToyHost::new("receiver", RECEIVER_ADDR, sender_addr(0), config, &apps, Role::Server));
    let probes = (0..flows.len())
        .map(|i| {
            let h = host.clone();
            let port = BASE_PORT + i as u16;
            Box::new(move || h.0.borrow().tasks().iter().find(|t| t.spec.port == port).map_or(0, |t| t.received))
                as Probe
        })
        .collect();
    (host, probes)
}

/// The ToyTCP sender of flow `i` at [`sender_addr`]`(i)`.
pub fn toytcp_sender(i: usize, flow: &FlowSpec, seed: u64, buffer: usize) -> Shared<ToyHost> {
    let config = toytcp_config(seed.wrapping_add(i as u64 + 1), flow.congestion, buffer);
    let app = flow_app(i, flow, seed);
    Shared::new(ToyHost::new(&format!("sender{i}"), sender_addr(i), RECEIVER_ADDR, config, &[app], Role::Client))
}

/// A dumbbell with ToyTCP at both ends of every flow: flow `i` from
/// sender `i` to the one receiver. Returns the world and the receiver's probes.
pub fn toytcp_dumbbell(seed: u64, path: PathConfig, flows: &[FlowSpec], buffer: usize) -> (Dumbbell, Vec<Probe>) {
    let mut db = Dumbbell::new(seed, path);
    let (receiver, probes) = toytcp_receiver(flows, seed, buffer);
    db.set_receiver(Box::new(receiver));
    for (i, f) in flows.iter().enumerate() {
        db.add_sender(Box::new(toytcp_sender(i, f, seed, buffer)));
    }
    (db, probes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_set_counts_new_bytes_and_merges() {
        let mut r = RangeSet::default();
        assert_eq!(r.insert(10, 20), 10);
        assert_eq!(r.prefix(), 0);
        assert_eq!(r.insert(0, 10), 10);
        assert_eq!((r.prefix(), r.len()), (20, 1));
        assert_eq!(r.insert(5, 15), 0);
        assert_eq!(r.insert(30, 40), 10);
        assert_eq!(r.insert(50, 60), 10);
        assert_eq!(r.len(), 3);
        // Spans the gap 20..30, overlaps 30..40, the gap 40..50 and part of 50..60.
        assert_eq!(r.insert(15, 55), 20);
        assert_eq!((r.prefix(), r.len()), (60, 1));
        assert_eq!(r.insert(60, 60), 0);
        assert_eq!(r.insert(59, 61), 1);
        assert_eq!(r.prefix(), 61);
    }

    #[test]
    fn jain_index_of_known_shares() {
        assert_eq!(jain_index(&[5.0, 5.0, 5.0, 5.0]), 1.0);
        assert!((jain_index(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
        // (1+2+3+4)² / (4·30) = 100/120.
        assert!((jain_index(&[1.0, 2.0, 3.0, 4.0]) - 100.0 / 120.0).abs() < 1e-12);
        assert_eq!(jain_index(&[]), 0.0);
        assert_eq!(jain_index(&[0.0, 0.0]), 0.0);
    }

    fn packet(seq: u32, flags: wire::Flags, len: usize) -> Vec<u8> {
        let header = wire::SegmentHeader {
            src_port: 40000,
            dst_port: BASE_PORT,
            seq: toytcp_core::SeqNum(seq),
            flags,
            window: 1000,
            ..wire::SegmentHeader::default()
        };
        let mut buf = vec![0u8; 2000];
        let n = wire::emit(sender_addr(0), RECEIVER_ADDR, &header, &[&vec![7u8; len]], &mut buf).expect("fits");
        buf.truncate(n);
        buf
    }

    #[test]
    fn tap_counts_retransmissions_and_spurious_ones_across_the_wrap() {
        let isn = u32::MAX - 1500;
        let mut tap = Tap::default();
        tap.observe_sent(&packet(isn, wire::Flags::SYN, 0));
        let seg = |i: u32| packet(isn.wrapping_add(1 + 1000 * i), wire::Flags::ACK, 1000);
        // Segments 0..4 sent (1 and 2 straddle the wrap), 1 is lost,
        // 3 arrives early; 1 is retransmitted (needed), then 3 (spurious).
        for i in 0..4 {
            tap.observe_sent(&seg(i));
        }
        for i in [0, 3, 2] {
            tap.observe_delivered(&seg(i));
        }
        tap.observe_sent(&seg(1));
        tap.observe_delivered(&seg(1));
        tap.observe_sent(&seg(3));
        tap.observe_delivered(&seg(3));
        // A pure ACK is no data segment.
        tap.observe_sent(&packet(isn.wrapping_add(4001), wire::Flags::ACK, 0));
        let f = tap.flow_from(sender_addr(0)).expect("flow seen");
        assert_eq!((f.segments_sent, f.retransmits_sent, f.bytes_sent), (6, 2, 6000));
        assert_eq!((f.segments_delivered, f.spurious_segments, f.duplicate_bytes), (5, 1, 1000));
        assert_eq!(f.in_order(), 4000);
        assert!((f.spurious_fraction() - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(tap.flows().len(), 1);
        assert_eq!(tap.total().spurious_segments, 1);
    }

    #[test]
    fn issue5_path_has_a_one_bdp_queue() {
        let p = PathConfig::issue5();
        assert_eq!(p.bdp_bytes(), 250_000);
        assert_eq!(p.queue_bytes, 250_000);
        assert_eq!(p.data_link().latency + p.ack_link().latency, Duration::from_millis(20));
    }
}
