//! The world: hosts joined by links, run in virtual time.
//!
//! The clock never waits. Each step takes the earliest of (a) the next
//! packet arrival and (b) the earliest host deadline (`poll_timeout`),
//! moves the clock there and gives that one input to that one host, then
//! drains the host's packets onto its links. Ties are broken
//! deterministically: arrivals before deadlines, arrivals by the order in
//! which they were scheduled, deadlines by host id. With every random draw
//! coming from the world's seed, a run is a pure function of its seed and
//! hosts.
//!
//! After every step the world checks the host that ran ([`Host::check`]);
//! a corrupted packet must be rejected by the wire parser and, for hosts
//! that count them, show up as one more malformed packet.

use crate::Host;
use crate::link::{LinkConfig, LinkDirection, LinkStats, Scheduled};
use crate::pcap;
use crate::rng::SimRng;
use core::net::Ipv4Addr;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use toytcp_core::{Instant, wire};

/// Names a host of a [`World`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub usize);

/// Names a link of a [`World`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

/// Why [`World::run_until`] returned normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The predicate became true.
    Predicate,
    /// The deadline was reached first (the clock now reads the deadline).
    Deadline,
    /// Nothing is in flight and no host has a deadline.
    Idle,
}

/// A run went wrong: an invariant failed or the world misbehaved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    /// Virtual time of the failure.
    pub time: Instant,
    /// The host concerned, if any.
    pub host: Option<HostId>,
    /// What failed.
    pub message: String,
}

impl core::fmt::Display for SimError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.host {
            Some(h) => write!(f, "at {} host {}: {}", self.time, h.0, self.message),
            None => write!(f, "at {}: {}", self.time, self.message),
        }
    }
}

impl std::error::Error for SimError {}

/// World-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorldStats {
    /// Inputs given to hosts (packets and timeouts).
    pub steps: u64,
    /// Packets delivered to hosts.
    pub deliveries: u64,
    /// Timeouts given to hosts.
    pub timeouts: u64,
    /// Corrupted packets delivered (each one rejected by the parser).
    pub corrupted_delivered: u64,
    /// Packets sent to an address no link of the sender reaches.
    pub unroutable: u64,
}

#[derive(Debug)]
struct InFlight {
    at: Instant,
    order: u64,
    link: usize,
    dir: usize,
    packet: Vec<u8>,
    corrupted: bool,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

#[derive(Debug)]
struct Link {
    ends: [HostId; 2],
    /// `dirs[0]` carries packets from `ends[0]` to `ends[1]`.
    dirs: [LinkDirection; 2],
    /// Delivered packets (arrival time, bytes), both directions, when capturing.
    capture: Vec<(Instant, Vec<u8>)>,
    /// Packets handed to the link (send time, bytes), both directions,
    /// before any fault, when capturing.
    capture_sent: Vec<(Instant, Vec<u8>)>,
}

struct HostSlot {
    host: Box<dyn Host>,
    addr: Ipv4Addr,
    /// The last deadline handled, to catch a host whose deadline never moves.
    last_deadline: Option<Instant>,
    stalls: u32,
}

/// Hosts joined by links; see the module docs.
pub struct World {
    seed: u64,
    now: Instant,
    hosts: Vec<HostSlot>,
    links: Vec<Link>,
    /// (sending host, destination address) → (link, direction).
    routes: HashMap<(usize, Ipv4Addr), (usize, usize)>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_order: u64,
    faults: bool,
    capture: bool,
    trace_hash: u64,
    max_steps: u64,
    stats: WorldStats,
    scratch: Vec<Vec<u8>>,
    scheduled: Vec<Scheduled>,
}

/// FNV-1a, 64-bit: a stable hash for packet traces.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Consecutive timeouts at an unchanged past deadline before a host is
/// declared stuck (`handle_timeout` must move or clear the deadline).
const MAX_STALLS: u32 = 1000;

impl World {
    /// An empty world whose every random draw derives from `seed`. Faults
    /// are on and capture is off.
    pub fn new(seed: u64) -> Self {
        World {
            seed,
            now: Instant::ZERO,
            hosts: Vec::new(),
            links: Vec::new(),
            routes: HashMap::new(),
            in_flight: BinaryHeap::new(),
            next_order: 0,
            faults: true,
            capture: false,
            trace_hash: FNV_OFFSET,
            max_steps: 50_000_000,
            stats: WorldStats::default(),
            scratch: Vec::new(),
            scheduled: Vec::new(),
        }
    }

    /// Adds a host; its address must be unique in the world.
    pub fn add_host(&mut self, host: Box<dyn Host>) -> HostId {
        let addr = host.addr();
        self.hosts.push(HostSlot { host, addr, last_deadline: None, stalls: 0 });
        HostId(self.hosts.len() - 1)
    }

    /// Joins `a` and `b` with a link: `a_to_b` applies to packets from `a`,
    /// `b_to_a` to packets from `b`. Each direction draws from its own
    /// random stream, derived from the seed and the link's index.
    ///
    /// # Panics
    /// If a host id is unknown or a configuration is invalid
    /// ([`LinkConfig::validate`]) — mistakes of the test author.
    pub fn connect(&mut self, a: HostId, b: HostId, a_to_b: LinkConfig, b_to_a: LinkConfig) -> LinkId {
        assert!(a.0 < self.hosts.len() && b.0 < self.hosts.len(), "unknown host");
        if let Err(e) = a_to_b.validate().and_then(|()| b_to_a.validate()) {
            panic!("invalid link configuration: {e}");
        }
        let index = self.links.len();
        let stream = 1000 + 2 * index as u64;
        self.links.push(Link {
            ends: [a, b],
            dirs: [
                LinkDirection::new(a_to_b, SimRng::new(self.seed, stream)),
                LinkDirection::new(b_to_a, SimRng::new(self.seed, stream + 1)),
            ],
            capture: Vec::new(),
            capture_sent: Vec::new(),
        });
        let (addr_a, addr_b) = (self.hosts[a.0].addr, self.hosts[b.0].addr);
        self.routes.insert((a.0, addr_b), (index, 0));
        self.routes.insert((b.0, addr_a), (index, 1));
        LinkId(index)
    }

    /// Routes packets that `host` sends to `dst` over `link` (which must
    /// have `host` at one end), for destinations that are not the link's
    /// other end: e.g. hosts behind a router host, as in a dumbbell
    /// topology. [`World::connect`] already routes each end to the other.
    ///
    /// # Panics
    /// If the host or link is unknown or `host` is not an end of `link` —
    /// mistakes of the test author.
    pub fn add_route(&mut self, host: HostId, dst: Ipv4Addr, link: LinkId) {
        assert!(host.0 < self.hosts.len() && link.0 < self.links.len(), "unknown host or link");
        let ends = self.links[link.0].ends;
        let dir = ends.iter().position(|&e| e == host).expect("the host is not an end of the link");
        self.routes.insert((host.0, dst), (link.0, dir));
    }

    // ----- getters -------------------------------------------------------

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// A host.
    pub fn host(&self, id: HostId) -> &dyn Host {
        self.hosts[id.0].host.as_ref()
    }

    /// A host, mutably (e.g. for application calls between runs).
    pub fn host_mut(&mut self, id: HostId) -> &mut dyn Host {
        self.hosts[id.0].host.as_mut()
    }

    /// Number of hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Number of links.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// Counters of one direction of a link: `0` from its first host, `1` back.
    pub fn link_stats(&self, link: LinkId, dir: usize) -> LinkStats {
        *self.links[link.0].dirs[dir & 1].stats()
    }

    /// World-wide counters.
    pub fn stats(&self) -> WorldStats {
        self.stats
    }

    /// A hash of every delivery so far: (arrival time, link, direction,
    /// corrupted, bytes). Equal seeds give equal hashes.
    pub fn trace_hash(&self) -> u64 {
        self.trace_hash
    }

    /// True when every host's application model has finished.
    pub fn all_done(&self) -> bool {
        self.hosts.iter().all(|h| h.host.app_done())
    }

    // ----- settings ------------------------------------------------------

    /// Turns faults (loss, burst loss, duplication, reordering, corruption,
    /// partitions) on or off for packets sent from now on. Off is the
    /// liveness phase.
    pub fn set_faults(&mut self, on: bool) {
        self.faults = on;
    }

    /// Records every delivered packet for [`pcap`](Self::pcap) from now on.
    pub fn set_capture(&mut self, on: bool) {
        self.capture = on;
    }

    /// Inputs after which a run is declared runaway.
    pub fn set_max_steps(&mut self, steps: u64) {
        self.max_steps = steps;
    }

    /// The captured packets of one link (both directions, as delivered, at
    /// their arrival times: what the receivers saw, with duplicates,
    /// reordering and corruption) as a classic pcap file with `LINKTYPE_RAW`.
    pub fn pcap(&self, link: LinkId) -> Vec<u8> {
        pcap::to_bytes(self.links[link.0].capture.iter().map(|(t, p)| (*t, p.as_slice())))
    }

    /// The packets handed to one link (both directions, at their send
    /// times, before any fault: what the senders sent, lost ones included)
    /// as a pcap file.
    pub fn pcap_sent(&self, link: LinkId) -> Vec<u8> {
        pcap::to_bytes(self.links[link.0].capture_sent.iter().map(|(t, p)| (*t, p.as_slice())))
    }

    /// Writes two pcaps per link to `dir` (created if missing):
    /// `{prefix}-link{N}.pcap` (as delivered) and `{prefix}-link{N}-sent.pcap`
    /// (as sent); returns the paths, delivered first.
    pub fn write_pcaps(&self, dir: &Path, prefix: &str) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut paths = Vec::new();
        for i in 0..self.links.len() {
            let path = dir.join(format!("{prefix}-link{i}.pcap"));
            std::fs::write(&path, self.pcap(LinkId(i)))?;
            paths.push(path);
            let path = dir.join(format!("{prefix}-link{i}-sent.pcap"));
            std::fs::write(&path, self.pcap_sent(LinkId(i)))?;
            paths.push(path);
        }
        Ok(paths)
    }

    // ----- running -------------------------------------------------------

    /// Runs until `stop` returns true (checked before every step), the
    /// clock would pass `deadline`, or nothing is left to do.
    pub fn run_until(&mut self, deadline: Instant, mut stop: impl FnMut(&World) -> bool) -> Result<Stop, SimError> {
        if self.stats.steps == 0 {
            // Let hosts announce their first packets (e.g. a SYN queued at creation).
            for i in 0..self.hosts.len() {
                self.drain(i)?;
            }
        }
        loop {
            if stop(self) {
                return Ok(Stop::Predicate);
            }
            if self.stats.steps >= self.max_steps {
                return Err(self.error(None, format!("runaway: {} steps", self.stats.steps)));
            }
            let next_packet = self.in_flight.peek().map(|Reverse(p)| p.at);
            let mut next_host: Option<(Instant, usize)> = None;
            for (i, h) in self.hosts.iter_mut().enumerate() {
                if let Some(t) = h.host.poll_timeout()
                    && next_host.is_none_or(|(best, _)| t < best)
                {
                    next_host = Some((t, i));
                }
            }
            let packet_first = match (next_packet, next_host) {
                (None, None) => return Ok(Stop::Idle),
                (Some(p), Some((h, _))) => p <= h.max(self.now),
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            let at = if packet_first { next_packet } else { next_host.map(|(t, _)| t) }.unwrap_or(self.now);
            if at > deadline {
                self.now = self.now.max(deadline);
                return Ok(Stop::Deadline);
            }
            self.now = self.now.max(at);
            self.stats.steps += 1;
            if packet_first {
                self.deliver()?;
            } else if let Some((t, i)) = next_host {
                self.timeout(i, t)?;
            }
        }
    }

    fn error(&self, host: Option<usize>, message: String) -> SimError {
        SimError { time: self.now, host: host.map(HostId), message }
    }

    fn deliver(&mut self) -> Result<(), SimError> {
        let Some(Reverse(p)) = self.in_flight.pop() else { return Ok(()) };
        let link = &mut self.links[p.link];
        link.dirs[p.dir].count_delivery();
        let to = link.ends[1 - p.dir].0;
        if self.capture {
            link.capture.push((p.at, p.packet.clone()));
        }
        let mut h = fnv1a(self.trace_hash, &p.at.as_micros().to_le_bytes());
        h = fnv1a(h, &[p.link as u8, (p.link >> 8) as u8, p.dir as u8, u8::from(p.corrupted)]);
        self.trace_hash = fnv1a(h, &p.packet);
        self.stats.deliveries += 1;
        let now = self.now;
        if p.corrupted {
            self.stats.corrupted_delivered += 1;
            if let Ok(seg) = wire::parse(&p.packet) {
                return Err(self.error(
                    Some(to),
                    format!("a corrupted packet parsed as valid: {:?} {:?}", seg.header, seg.payload.len()),
                ));
            }
        }
        let slot = &mut self.hosts[to];
        let malformed_before = slot.host.malformed_packets();
        slot.host.handle_packet(now, &p.packet);
        if p.corrupted
            && let (Some(before), Some(after)) = (malformed_before, slot.host.malformed_packets())
            && after != before + 1
        {
            return Err(self.error(
                Some(to),
                format!("corrupted packet delivered but the malformed counter went {before} -> {after}"),
            ));
        }
        self.after_input(to)
    }

    fn timeout(&mut self, i: usize, deadline: Instant) -> Result<(), SimError> {
        let now = self.now;
        let slot = &mut self.hosts[i];
        if slot.last_deadline == Some(deadline) && deadline < now {
            slot.stalls += 1;
            if slot.stalls > MAX_STALLS {
                return Err(self.error(Some(i), format!("deadline {deadline} stays in the past after handle_timeout")));
            }
        } else {
            slot.stalls = 0;
        }
        slot.last_deadline = Some(deadline);
        slot.host.handle_timeout(now);
        self.stats.timeouts += 1;
        self.after_input(i)
    }

    fn after_input(&mut self, i: usize) -> Result<(), SimError> {
        self.drain(i)?;
        if let Err(e) = self.hosts[i].host.check() {
            return Err(self.error(Some(i), e));
        }
        Ok(())
    }

    /// Sends whatever host `i` has to send onto its links.
    fn drain(&mut self, i: usize) -> Result<(), SimError> {
        let now = self.now;
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        self.hosts[i].host.poll_transmit(now, &mut out);
        for packet in out.drain(..) {
            if packet.len() < 20 {
                return Err(self.error(Some(i), format!("host sent a {}-byte packet", packet.len())));
            }
            let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
            let Some(&(link, dir)) = self.routes.get(&(i, dst)) else {
                self.stats.unroutable += 1;
                tracing::debug!(host = i, %dst, "unroutable packet dropped");
                continue;
            };
            if self.capture {
                self.links[link].capture_sent.push((now, packet.clone()));
            }
            let mut scheduled = std::mem::take(&mut self.scheduled);
            self.links[link].dirs[dir].transmit(now, packet, self.faults, &mut scheduled);
            for s in scheduled.drain(..) {
                self.next_order += 1;
                self.in_flight.push(Reverse(InFlight {
                    at: s.at,
                    order: self.next_order,
                    link,
                    // An ICMP answer goes back to the sender.
                    dir: if s.back { 1 - dir } else { dir },
                    packet: s.packet,
                    corrupted: s.corrupted,
                }));
            }
            self.scheduled = scheduled;
        }
        self.scratch = out;
        Ok(())
    }
}
