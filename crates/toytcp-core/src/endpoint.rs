//! Many connections on one host: demultiplexing by 4-tuple, listeners with
//! accept queues, ephemeral ports, ISNs, and replies to segments that match
//! nothing.
//!
//! The [`Endpoint`] follows the same contract as a
//! [`Connection`]: getters; inputs
//! ([`handle`](Endpoint::handle), [`handle_timeout`](Endpoint::handle_timeout));
//! application calls addressed by [`ConnectionHandle`]; outputs drained after
//! every input or call — [`poll_transmit`](Endpoint::poll_transmit) until
//! `None`, then [`poll_timeout`](Endpoint::poll_timeout), then
//! [`poll_event`](Endpoint::poll_event).
//!
//! Internally only connections that may have something to send are polled
//! (a dirty queue), and deadlines sit in a heap, so the cost per segment
//! does not grow with the number of connections.

use crate::Transmit;
use crate::connection::{Connection, ConnectionConfig, Event, FourTuple, IcmpOutcome, State};
use crate::error::Error;
use crate::isn::Secrets;
use crate::seq::SeqNum;
use crate::time::Instant;
use crate::wire::{self, Flags, IcmpMessage, IcmpParseError, ParseError, Segment, SegmentHeader, TcpOptions};
use core::cmp::Reverse;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

mod demux;
mod slab;

/// Replies to unmatched segments waiting to be sent; more are dropped.
const MAX_PENDING_RSTS: usize = 1024;

/// Endpoint settings.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Seeds every secret (ISN, ephemeral port, timestamp offsets). On a
    /// real network this must be a secret random value (RFC 6528 §3,
    /// MUST-9): with a known seed, ISNs can be predicted. The default (0)
    /// is for simulations and tests, which want reproducibility.
    pub seed: u64,
    /// Settings for every connection this endpoint creates.
    pub connection: ConnectionConfig,
    /// Lowest ephemeral port (RFC 6056 §2.1 suggests 1024–65535; IANA's range is 49152–65535).
    pub ephemeral_port_min: u16,
    /// Highest ephemeral port.
    pub ephemeral_port_max: u16,
    /// Most connections at once (TIME-WAIT included); SYNs beyond are dropped.
    pub max_connections: usize,
    /// Tests only: every connection's ISS, with the timestamp clock offset 0.
    pub fixed_iss: Option<SeqNum>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            seed: 0,
            connection: ConnectionConfig::default(),
            ephemeral_port_min: 49152,
            ephemeral_port_max: 65535,
            max_connections: 1 << 20,
            fixed_iss: None,
        }
    }
}

/// Names one connection of an [`Endpoint`]. Stale handles (of removed
/// connections) are detected and answered with [`Error::InvalidHandle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionHandle {
    index: u32,
    generation: u32,
}

/// What the endpoint tells the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// A connection completed its handshake on this listener; `accept` it.
    Incoming {
        /// The listening address.
        listener: SocketAddrV4,
    },
    /// An event of one connection.
    Connection {
        /// Which connection.
        handle: ConnectionHandle,
        /// What happened.
        event: Event,
    },
}

/// Endpoint-wide counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Packets given to [`Endpoint::handle`].
    pub packets_in: u64,
    /// Packets dropped as malformed, by [`ParseError::index`].
    pub malformed: [u64; ParseError::ALL.len()],
    /// Segments that matched no connection or listener.
    pub unmatched: u64,
    /// RSTs sent in reply to unmatched segments (RFC 9293 §3.10.7.1).
    pub rsts_sent: u64,
    /// RST replies dropped because too many were pending.
    pub rsts_dropped: u64,
    /// SYNs dropped because the listener's backlog was full.
    pub syns_dropped_backlog: u64,
    /// SYNs dropped because `max_connections` was reached.
    pub syns_dropped_limit: u64,
    /// Connections opened actively.
    pub active_opens: u64,
    /// Connections opened by listeners.
    pub passive_opens: u64,
    /// TIME-WAIT connections replaced by a new SYN (RFC 9293 §3.6.1).
    pub time_wait_reused: u64,
    /// Segments from or to a non-unicast address, discarded (MUST-57).
    pub bad_address: u64,
    /// ICMP messages received (any type; also counted in `packets_in`).
    pub icmp_in: u64,
    /// ICMP messages dropped as malformed (see [`wire::parse_icmp`]).
    pub icmp_malformed: u64,
    /// ICMP errors quoting a segment of no open connection, and ICMP
    /// messages that are not errors about TCP (echo, redirect, …).
    pub icmp_unmatched: u64,
    /// ICMP errors whose quoted sequence number was not in flight,
    /// ignored (RFC 5927 §4.1).
    pub icmp_out_of_window: u64,
    /// ICMP errors a connection ignored ([`IcmpOutcome::Ignored`]: Source
    /// Quench, an MTU not below the current one, …).
    pub icmp_ignored: u64,
    /// ICMP errors a connection acted on ([`IcmpOutcome::Acted`]).
    pub icmp_acted: u64,
}

/// True for an address a TCP connection may use at either end.
fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_broadcast() || a.is_multicast() || a.is_unspecified())
}

impl EndpointStats {
    /// Malformed packets of one kind.
    pub fn malformed_of(&self, kind: ParseError) -> u64 {
        self.malformed[kind.index()]
    }

    /// All malformed packets: TCP ones of every kind plus malformed ICMP
    /// (a corrupted TCP packet whose protocol byte now says ICMP lands
    /// there).
    pub fn malformed_total(&self) -> u64 {
        self.malformed.iter().sum::<u64>() + self.icmp_malformed
    }
}

#[derive(Debug)]
struct Listener {
    backlog: usize,
    /// Established, not yet accepted.
    accept_queue: VecDeque<ConnectionHandle>,
    /// In SYN-RECEIVED.
    half_open: usize,
}

/// One connection and the endpoint's bookkeeping for it, held inline in
/// the slab (bookkeeping first: it shares a cache line with the start of
/// the connection).
#[derive(Debug)]
#[repr(C)]
struct Slot {
    generation: u32,
    /// Established and waiting in the listener's accept queue.
    queued: bool,
    /// The application gave the handle up (close/abort): remove once closed.
    released: bool,
    /// In the dirty queue.
    dirty: bool,
    /// The listener that created it, until the application accepts it.
    listener: Option<SocketAddrV4>,
    /// The slot's entry on the timer heap: never later than the
    /// connection's own deadline (`poll_timeout`), possibly earlier (the
    /// heap is refreshed lazily, see [`Endpoint::pump`]).
    deadline: Option<Instant>,
    conn: Connection,
}

/// A host's TCP: owns every connection and listener. See the module docs.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    /// `config.connection`, shared by every connection.
    connection_config: Arc<ConnectionConfig>,
    secrets: Secrets,
    slots: slab::Slab<Slot>,
    generations: Vec<u32>,
    free: Vec<u32>,
    live: usize,
    /// 4-tuple → slot index (see `demux`).
    by_tuple: demux::Demux,
    /// The last `by_tuple` hit: consecutive segments usually belong to the
    /// same connection, and this spares hashing the 4-tuple (SipHash) for
    /// each. Cleared whenever an entry leaves `by_tuple`.
    last_lookup: Option<(FourTuple, u32)>,
    listeners: HashMap<SocketAddrV4, Listener>,
    dirty: VecDeque<u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    rsts: VecDeque<(Ipv4Addr, Ipv4Addr, SegmentHeader)>,
    events: VecDeque<EndpointEvent>,
    port_counter: u32,
    stats: EndpointStats,
    /// Connections reopened from TIME-WAIT whose new incarnation has not
    /// reached ESTABLISHED yet: (new, old) slot handles. The old one stays
    /// in its slot, out of `by_tuple`, so that it can return to TIME-WAIT
    /// if the SYN turns out to be an old duplicate (RFC 9293 §3.6.1).
    reopened: Vec<(ConnectionHandle, ConnectionHandle)>,
}

impl Endpoint {
    /// A host with no connections.
    pub fn new(config: EndpointConfig) -> Self {
        let secrets = Secrets::from_seed(config.seed);
        let by_tuple = demux::Demux::new(secrets.demux);
        Endpoint {
            connection_config: Arc::new(config.connection.clone()),
            config,
            secrets,
            slots: slab::Slab::new(),
            generations: Vec::new(),
            free: Vec::new(),
            live: 0,
            by_tuple,
            last_lookup: None,
            listeners: HashMap::new(),
            dirty: VecDeque::new(),
            timers: BinaryHeap::new(),
            rsts: VecDeque::new(),
            events: VecDeque::new(),
            port_counter: 0,
            stats: EndpointStats::default(),
            reopened: Vec::new(),
        }
    }

    // ----- getters -------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// A connection, if the handle is live.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.slot(h).map(|s| &s.conn)
    }

    /// Number of connections held (TIME-WAIT and unaccepted ones included).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// Handles of every connection held.
    pub fn handles(&self) -> impl Iterator<Item = ConnectionHandle> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| ConnectionHandle { index: i as u32, generation: s.generation }))
    }

    /// The state of a listener address (`State::Listen`) or `None`.
    pub fn listener_state(&self, local: SocketAddrV4) -> Option<State> {
        self.listeners.contains_key(&local).then_some(State::Listen)
    }

    // ----- application calls --------------------------------------------

    /// Starts listening on `local` (address `0.0.0.0` for any) with room for
    /// `backlog` connections that are half-open or not yet accepted.
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<(), Error> {
        if local.port() == 0 {
            return Err(Error::InvalidAddress);
        }
        if self.listeners.contains_key(&local) {
            return Err(Error::AddrInUse);
        }
        self.listeners.insert(local, Listener { backlog: backlog.max(1), accept_queue: VecDeque::new(), half_open: 0 });
        Ok(())
    }

    /// Stops listening; queued connections not yet accepted are reset.
    pub fn unlisten(&mut self, local: SocketAddrV4) {
        let Some(l) = self.listeners.remove(&local) else { return };
        for h in l.accept_queue {
            if let Some(slot) = self.slot_mut(h) {
                slot.listener = None;
                slot.queued = false;
                slot.released = true;
                let _ = slot.conn.abort();
                self.touch(h.index);
            }
        }
        let orphans: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().filter(|s| s.listener == Some(local)).map(|_| i as u32))
            .collect();
        for i in orphans {
            if let Some(slot) = self.slots[i as usize].as_mut() {
                slot.listener = None;
                slot.released = true;
                let _ = slot.conn.abort();
            }
            self.touch(i);
        }
    }

    /// Active open from `local_addr` with an ephemeral port chosen per
    /// RFC 6056 §3.3.3 that never reuses a 4-tuple this endpoint holds
    /// (TIME-WAIT included). The connection is registered before its SYN
    /// is emitted, so the SYN-ACK always finds it.
    pub fn connect(
        &mut self,
        now: Instant,
        local_addr: Ipv4Addr,
        remote: SocketAddrV4,
    ) -> Result<ConnectionHandle, Error> {
        Self::check_remote(remote)?;
        let (min, max) = (self.config.ephemeral_port_min, self.config.ephemeral_port_max);
        if min == 0 || min > max {
            return Err(Error::NoEphemeralPorts);
        }
        let num = u32::from(max - min) + 1;
        let offset = self.secrets.port_offset(local_addr, remote);
        for i in 0..num {
            let port = min + (offset.wrapping_add(self.port_counter).wrapping_add(i) % num) as u16;
            let local = SocketAddrV4::new(local_addr, port);
            let tuple = FourTuple { local, remote };
            if self.find(&tuple).is_some() || self.port_listened(local) {
                continue;
            }
            self.port_counter = self.port_counter.wrapping_add(i + 1);
            return Ok(self.open(now, tuple));
        }
        Err(Error::NoEphemeralPorts)
    }

    /// Active open from an explicit local address and port.
    pub fn connect_from(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> Result<ConnectionHandle, Error> {
        Self::check_remote(remote)?;
        if local.port() == 0 || local.ip().is_unspecified() {
            return Err(Error::InvalidAddress);
        }
        let tuple = FourTuple { local, remote };
        if self.find(&tuple).is_some() {
            return Err(Error::AddrInUse);
        }
        Ok(self.open(now, tuple))
    }

    /// Takes the oldest established connection from a listener's accept queue.
    pub fn accept(&mut self, listener: SocketAddrV4) -> Option<ConnectionHandle> {
        let h = self.listeners.get_mut(&listener)?.accept_queue.pop_front()?;
        let slot = self.slot_mut(h)?;
        slot.listener = None;
        slot.queued = false;
        Some(h)
    }

    /// [`Connection::send`] on a handle.
    pub fn send(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, Error> {
        self.with_conn(h, |c| c.send(data))
    }

    /// [`Connection::recv`] on a handle.
    pub fn recv(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> Result<usize, Error> {
        self.with_conn(h, |c| c.recv(buf))
    }

    /// [`Connection::shutdown`] on a handle.
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), Error> {
        self.with_conn(h, |c| c.shutdown())
    }

    /// [`Connection::close`] on a handle; the handle is released and the
    /// connection removed once it reaches CLOSED (after TIME-WAIT).
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), Error> {
        self.slot_mut(h).ok_or(Error::InvalidHandle)?.released = true;
        self.with_conn(h, |c| c.close())
    }

    /// [`Connection::abort`] on a handle; the handle is released.
    pub fn abort(&mut self, h: ConnectionHandle) -> Result<(), Error> {
        self.slot_mut(h).ok_or(Error::InvalidHandle)?.released = true;
        self.with_conn(h, |c| c.abort())
    }

    /// [`Connection::set_nodelay`] on a handle.
    pub fn set_nodelay(&mut self, h: ConnectionHandle, nodelay: bool) -> Result<(), Error> {
        self.with_conn(h, |c| {
            c.set_nodelay(nodelay);
            Ok(())
        })
    }

    /// Runs `f` on a connection and takes care of its outputs afterwards.
    pub fn with_conn<T>(
        &mut self,
        h: ConnectionHandle,
        f: impl FnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let slot = self.slot_mut(h).ok_or(Error::InvalidHandle)?;
        let r = f(&mut slot.conn);
        self.touch(h.index);
        r
    }

    // ----- inputs --------------------------------------------------------

    /// Feeds one received IPv4 packet. Malformed packets are counted by
    /// kind and dropped.
    ///
    /// ICMP (protocol 1) is taken too: an error message quoting a segment
    /// of one of our connections goes to that connection
    /// ([`Connection::handle_icmp`], RFC 9293 §3.9.2.2); see
    /// [`handle_icmp`](Self::handle_icmp).
    ///
    /// A segment for an open connection has its TCP checksum verified by
    /// the connection while the payload is copied into the receive buffer
    /// (`Connection::handle_unverified`); every other packet is verified
    /// in full ([`wire::parse`]'s checks) before anything acts on it.
    pub fn handle(&mut self, now: Instant, packet: &[u8]) {
        self.stats.packets_in += 1;
        let (seg, check) = match wire::parse_unverified(packet) {
            Ok(parsed) => parsed,
            Err(ParseError::NotTcp) if packet.get(9) == Some(&1) => return self.icmp_packet(now, packet),
            Err(e) => return self.malformed(e),
        };
        // The addresses are covered by the (verified) IPv4 header checksum;
        // the ports are not verified yet, but a wrong lookup only stages
        // bytes nobody can read before the checksum rejects the packet.
        if is_unicast(seg.src_addr) && is_unicast(seg.dst_addr) {
            let tuple = FourTuple {
                local: SocketAddrV4::new(seg.dst_addr, seg.header.dst_port),
                remote: SocketAddrV4::new(seg.src_addr, seg.header.src_port),
            };
            if let Some(index) = self.lookup(&tuple)
                && let Some(slot) = self.slots[index as usize].as_mut()
                && !matches!(slot.conn.state(), State::Closed | State::TimeWait)
            {
                if slot.conn.handle_unverified(now, &seg, check) {
                    self.touch(index);
                } else {
                    self.malformed(ParseError::BadTcpChecksum);
                }
                return;
            }
        }
        if !check.verify(seg.payload) {
            return self.malformed(ParseError::BadTcpChecksum);
        }
        self.handle_segment(now, &seg);
    }

    /// An IPv4 packet of protocol 1 (ICMP): parsed, counted, and passed
    /// on if it is an error about a TCP segment.
    fn icmp_packet(&mut self, now: Instant, packet: &[u8]) {
        self.stats.icmp_in += 1;
        match wire::parse_icmp(packet) {
            Ok(msg) => self.handle_icmp(now, &msg),
            Err(IcmpParseError::Malformed) => {
                self.stats.icmp_malformed += 1;
                tracing::debug!("dropped malformed ICMP message");
            }
            Err(IcmpParseError::NotTcpError | IcmpParseError::NotIcmp) => self.stats.icmp_unmatched += 1,
        }
    }

    /// Feeds one parsed ICMP error: the connection whose segment it quotes
    /// (quoted source = our address and port) checks and acts on it
    /// ([`Connection::handle_icmp`]); an error about no open connection
    /// is counted and dropped.
    pub fn handle_icmp(&mut self, now: Instant, msg: &IcmpMessage) {
        let tuple = FourTuple { local: msg.quoted.src, remote: msg.quoted.dst };
        let Some(index) = self.lookup(&tuple) else {
            self.stats.icmp_unmatched += 1;
            return;
        };
        let Some(slot) = self.slots[index as usize].as_mut() else { return };
        if slot.conn.state() == State::Closed {
            self.stats.icmp_unmatched += 1;
            return;
        }
        match slot.conn.handle_icmp(now, msg) {
            IcmpOutcome::Acted => self.stats.icmp_acted += 1,
            IcmpOutcome::Ignored => self.stats.icmp_ignored += 1,
            IcmpOutcome::OutOfWindow => self.stats.icmp_out_of_window += 1,
        }
        self.touch(index);
    }

    fn malformed(&mut self, e: ParseError) {
        self.stats.malformed[e.index()] += 1;
        tracing::debug!("dropped malformed packet: {e}");
    }

    /// Feeds one parsed segment.
    pub fn handle_segment(&mut self, now: Instant, seg: &Segment<'_>) {
        let h = &seg.header;
        if !is_unicast(seg.src_addr) || !is_unicast(seg.dst_addr) {
            // TCP is unicast only: segments from or to broadcast, multicast
            // or unspecified addresses are discarded without a reply
            // (RFC 9293 §3.9.2.1 and §3.10.7.2, MUST-57; RFC 1122 §4.2.3.10).
            self.stats.bad_address += 1;
            return;
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(seg.dst_addr, h.dst_port),
            remote: SocketAddrV4::new(seg.src_addr, h.src_port),
        };
        let mut reopened_after = None;
        if let Some(index) = self.lookup(&tuple) {
            let conn = &self.slots[index as usize].as_ref().expect("indexed slot exists").conn;
            if conn.state() == State::Closed {
                // Closed but still held by the application: to the wire the
                // connection no longer exists (RFC 9293 §3.10.7.1).
                self.by_tuple.remove(&tuple, index);
                self.last_lookup = None;
                self.restore_reopened(index);
                return self.handle_segment(now, seg);
            }
            let reuse = {
                conn.state() == State::TimeWait
                    && h.flags.syn()
                    && !h.flags.ack()
                    && !h.flags.rst()
                    && h.seq > conn.rcv_nxt()
                    && self.listener_for(tuple.local).is_some()
            };
            if !reuse {
                if let Some(slot) = self.slots[index as usize].as_mut() {
                    slot.conn.handle_segment(now, seg);
                }
                self.touch(index);
                return;
            }
            // RFC 9293 §3.6.1: a new SYN with a higher sequence number may
            // reopen a connection in TIME-WAIT (MAY-2), provided the
            // endpoint "(2) returns to TIME-WAIT state if the SYN turns out
            // to be an old duplicate". The old incarnation steps aside (out
            // of the demultiplexing table, its slot and timers kept) until
            // the new one is established, and comes back if the new one
            // dies before that (see `restore_reopened`).
            self.stats.time_wait_reused += 1;
            let old = self.slots[index as usize].as_ref().map(|s| ConnectionHandle { index, generation: s.generation });
            reopened_after = Some(conn.snd_max());
            self.by_tuple.remove(&tuple, index);
            self.last_lookup = None;
            if let Some(key) = self.listener_for(tuple.local) {
                let new = self.listener_segment(now, key, seg, reopened_after);
                if let Some(old) = old {
                    match new {
                        Some(new) => self.reopened.push((new, old)),
                        // No room for the new incarnation: the old one stays.
                        None => self.by_tuple.insert(&tuple, old.index),
                    }
                }
            }
            return;
        }
        if let Some(key) = self.listener_for(tuple.local) {
            self.listener_segment(now, key, seg, reopened_after);
            return;
        }
        self.stats.unmatched += 1;
        self.reply_rst(seg);
    }

    /// Processes expired deadlines of every connection.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((deadline, index, generation))) = self.timers.peek() {
            if deadline > now {
                break;
            }
            self.timers.pop();
            let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else { continue };
            if slot.generation != generation || slot.deadline != Some(deadline) {
                continue;
            }
            slot.deadline = None;
            match slot.conn.poll_timeout() {
                Some(due) if due <= now => {
                    slot.conn.handle_timeout(now);
                    self.touch(index);
                }
                // The entry was early (the deadline moved later since):
                // re-arm at the real one without waking the connection.
                Some(due) => {
                    slot.deadline = Some(due);
                    self.timers.push(Reverse((due, index, generation)));
                }
                None => {}
            }
        }
    }

    // ----- outputs -------------------------------------------------------

    /// Writes the next packet to send into `buf`; see [`Connection::poll_transmit`].
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((src, dst, header)) = self.rsts.pop_front() {
            match wire::emit(src, dst, &header, &[], buf) {
                Ok(len) => {
                    self.stats.rsts_sent += 1;
                    return Some(Transmit { src, dst, len });
                }
                Err(e) => tracing::warn!("cannot emit RST: {e}"),
            }
        }
        while let Some(&index) = self.dirty.front() {
            let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else {
                self.dirty.pop_front();
                continue;
            };
            if let Some(t) = slot.conn.poll_transmit(now, buf) {
                self.pump(index);
                return Some(t);
            }
            slot.dirty = false;
            self.dirty.pop_front();
            self.pump(index);
        }
        None
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must run.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((deadline, index, generation))) = self.timers.peek() {
            let slot = self.slots.get_mut(index as usize).and_then(Option::as_mut);
            let Some(slot) = slot.filter(|s| s.generation == generation && s.deadline == Some(deadline)) else {
                self.timers.pop();
                continue;
            };
            // The slot's entry, early if the connection's deadline has
            // moved later (see `pump`): then replaced by the real one.
            let due = slot.conn.poll_timeout();
            if due == Some(deadline) {
                return due;
            }
            self.timers.pop();
            slot.deadline = due;
            if let Some(due) = due {
                self.timers.push(Reverse((due, index, generation)));
            }
        }
        None
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }

    // ----- internals -----------------------------------------------------

    fn check_remote(remote: SocketAddrV4) -> Result<(), Error> {
        if remote.port() == 0
            || remote.ip().is_unspecified()
            || remote.ip().is_broadcast()
            || remote.ip().is_multicast()
        {
            return Err(Error::InvalidAddress);
        }
        Ok(())
    }

    fn port_listened(&self, local: SocketAddrV4) -> bool {
        self.listener_for(local).is_some()
    }

    /// The listener key matching a local address: exact, then wildcard.
    fn listener_for(&self, local: SocketAddrV4) -> Option<SocketAddrV4> {
        if self.listeners.contains_key(&local) {
            return Some(local);
        }
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port());
        self.listeners.contains_key(&any).then_some(any)
    }

    /// The slot index of a 4-tuple's connection (see `last_lookup`).
    #[inline]
    fn lookup(&mut self, tuple: &FourTuple) -> Option<u32> {
        if let Some((t, index)) = self.last_lookup
            && t == *tuple
        {
            return Some(index);
        }
        let index = self.find(tuple)?;
        self.last_lookup = Some((*tuple, index));
        Some(index)
    }

    /// The slot index of a 4-tuple's connection, from the table.
    fn find(&self, tuple: &FourTuple) -> Option<u32> {
        let slots = &self.slots;
        self.by_tuple.get(tuple, |i| {
            slots.get(i as usize).and_then(Option::as_ref).is_some_and(|s| s.conn.four_tuple() == *tuple)
        })
    }

    fn slot(&self, h: ConnectionHandle) -> Option<&Slot> {
        self.slots.get(h.index as usize)?.as_ref().filter(|s| s.generation == h.generation)
    }

    fn slot_mut(&mut self, h: ConnectionHandle) -> Option<&mut Slot> {
        self.slots.get_mut(h.index as usize)?.as_mut().filter(|s| s.generation == h.generation)
    }

    fn iss_for(&self, now: Instant, tuple: &FourTuple) -> (SeqNum, u32) {
        match self.config.fixed_iss {
            Some(iss) => (iss, 0),
            None => (self.secrets.isn(now, tuple), self.secrets.ts_offset(tuple)),
        }
    }

    fn open(&mut self, now: Instant, tuple: FourTuple) -> ConnectionHandle {
        let (iss, ts_offset) = self.iss_for(now, &tuple);
        let conn = Connection::connect_shared(now, Arc::clone(&self.connection_config), tuple, iss, ts_offset);
        self.stats.active_opens += 1;
        let h = self.insert(conn, None);
        self.touch(h.index);
        h
    }

    fn insert(&mut self, conn: Connection, listener: Option<SocketAddrV4>) -> ConnectionHandle {
        let tuple = conn.four_tuple();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        let generation = self.generations[index as usize];
        self.slots[index as usize] =
            Some(Slot { conn, generation, listener, queued: false, released: false, dirty: false, deadline: None });
        self.by_tuple.insert(&tuple, index);
        self.live += 1;
        ConnectionHandle { index, generation }
    }

    fn remove(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::take) else { return };
        let tuple = slot.conn.four_tuple();
        self.last_lookup = None;
        self.by_tuple.remove(&tuple, index);
        self.restore_reopened(index);
        if let Some(key) = slot.listener
            && let Some(l) = self.listeners.get_mut(&key)
        {
            let h = ConnectionHandle { index, generation: slot.generation };
            if slot.queued {
                l.accept_queue.retain(|&q| q != h);
            } else {
                l.half_open = l.half_open.saturating_sub(1);
            }
        }
        self.generations[index as usize] = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.live -= 1;
    }

    /// After any input or call on a connection: queue it for output,
    /// forward its events, refresh its deadline, and remove it once closed
    /// and no longer wanted.
    fn touch(&mut self, index: u32) {
        if let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut)
            && !slot.dirty
        {
            slot.dirty = true;
            self.dirty.push_back(index);
        }
        self.pump(index);
    }

    fn pump(&mut self, index: u32) {
        let Some(slot) = self.slots.get_mut(index as usize).and_then(Option::as_mut) else { return };
        let handle = ConnectionHandle { index, generation: slot.generation };
        let mut connected = false;
        while let Some(event) = slot.conn.poll_event() {
            connected |= event == Event::Connected;
            if event == Event::Connected
                && !slot.queued
                && let Some(key) = slot.listener
                && let Some(l) = self.listeners.get_mut(&key)
            {
                l.half_open = l.half_open.saturating_sub(1);
                l.accept_queue.push_back(handle);
                slot.queued = true;
                self.events.push_back(EndpointEvent::Incoming { listener: key });
            }
            self.events.push_back(EndpointEvent::Connection { handle, event });
        }
        // The heap is refreshed lazily: a deadline that moves later (or
        // goes away) keeps the slot's earlier entry, which `poll_timeout`
        // and `handle_timeout` correct when it reaches the top. Only a
        // deadline earlier than the entry (or the first one) is pushed.
        // Deadlines change on nearly every segment (delayed ACK,
        // retransmission, keepalive and release timers), and a push into a
        // heap of tens of thousands of entries costs cache misses.
        if let Some(d) = slot.conn.poll_timeout()
            && slot.deadline.is_none_or(|entry| d < entry)
        {
            slot.deadline = Some(d);
            self.timers.push(Reverse((d, index, slot.generation)));
        }
        let unwanted = slot.released || slot.listener.is_some();
        let done = slot.conn.is_closed() && unwanted && !slot.dirty;
        if connected && !self.reopened.is_empty() {
            self.settle_reopened(handle);
        }
        if done {
            self.remove(index);
        }
        if self.timers.len() > 2 * self.live + 64 {
            self.compact_timers();
        }
    }

    /// Drops superseded entries from the timer heap. Entries are left
    /// behind whenever a connection's deadline changes and are normally
    /// discarded when they reach the top; while virtual or real time stands
    /// still they would pile up under a valid earlier deadline, so the heap
    /// is compacted once it holds more than twice as many entries as there
    /// are connections (amortised O(1) per push).
    fn compact_timers(&mut self) {
        let slots = &self.slots;
        self.timers.retain(|&Reverse((deadline, index, generation))| {
            slots
                .get(index as usize)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.generation == generation && s.deadline == Some(deadline))
        });
    }

    /// A segment for a listener (RFC 9293 §3.10.7.2). `reopened_after` is
    /// the old SND.MAX when the SYN replaces a connection in TIME-WAIT.
    /// Returns the new connection, if one was created.
    fn listener_segment(
        &mut self,
        now: Instant,
        key: SocketAddrV4,
        seg: &Segment<'_>,
        reopened_after: Option<SeqNum>,
    ) -> Option<ConnectionHandle> {
        let h = &seg.header;
        if h.flags.rst() {
            return None;
        }
        if h.flags.ack() {
            self.reply_rst(seg);
            return None;
        }
        if !h.flags.syn() {
            return None;
        }
        let l = self.listeners.get(&key)?;
        if l.half_open + l.accept_queue.len() >= l.backlog {
            self.stats.syns_dropped_backlog += 1;
            return None;
        }
        if self.live >= self.config.max_connections {
            self.stats.syns_dropped_limit += 1;
            return None;
        }
        let tuple = FourTuple {
            local: SocketAddrV4::new(seg.dst_addr, h.dst_port),
            remote: SocketAddrV4::new(seg.src_addr, h.src_port),
        };
        let (mut iss, ts_offset) = self.iss_for(now, &tuple);
        if let Some(old_snd_max) = reopened_after
            && iss.diff(old_snd_max) < 0
        {
            // RFC 9293 §3.6.1, MAY-2 condition (1): the new incarnation's ISS
            // must exceed every sequence number the old one used. Like Linux
            // (tcp_timewait_state_process), start a whole unscaled window
            // beyond the old SND.NXT.
            iss = old_snd_max + 65535 + 2;
        }
        let conn = Connection::accept_shared(now, Arc::clone(&self.connection_config), seg, iss, ts_offset);
        if let Some(l) = self.listeners.get_mut(&key) {
            l.half_open += 1;
        }
        self.stats.passive_opens += 1;
        let handle = self.insert(conn, Some(key));
        self.touch(handle.index);
        Some(handle)
    }

    /// The connection in slot `index` left the demultiplexing table. If it
    /// was the new incarnation of a connection reopened from TIME-WAIT and
    /// never reached ESTABLISHED (the peer reset our SYN-ACK: the SYN was an
    /// old duplicate, RFC 9293 §3.10.7.1), the old incarnation, still in
    /// TIME-WAIT, takes the 4-tuple back (RFC 9293 §3.6.1, MAY-2 condition
    /// (2)). Also forgets pairs whose old incarnation is the one leaving.
    fn restore_reopened(&mut self, index: u32) {
        if self.reopened.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.reopened.len() {
            let (new, old) = self.reopened[i];
            if old.index == index {
                self.reopened.swap_remove(i);
            } else if new.index == index {
                self.reopened.swap_remove(i);
                if let Some(slot) = self.slot(old)
                    && slot.conn.state() == State::TimeWait
                {
                    let tuple = slot.conn.four_tuple();
                    self.by_tuple.insert(&tuple, old.index);
                    self.last_lookup = None;
                }
            } else {
                i += 1;
            }
        }
    }

    /// The new incarnation of a connection reopened from TIME-WAIT is
    /// established: the old one is gone for good.
    fn settle_reopened(&mut self, new: ConnectionHandle) {
        if let Some(i) = self.reopened.iter().position(|&(n, _)| n == new) {
            let (_, old) = self.reopened.swap_remove(i);
            if self.slot(old).is_some() {
                self.remove(old.index);
            }
        }
    }

    /// RFC 9293 §3.10.7.1: the reply to a segment for a connection that
    /// does not exist — never a RST for a RST.
    fn reply_rst(&mut self, seg: &Segment<'_>) {
        let h = &seg.header;
        if h.flags.rst() {
            return;
        }
        if self.rsts.len() >= MAX_PENDING_RSTS {
            self.stats.rsts_dropped += 1;
            return;
        }
        let (seq, ack, flags) = if h.flags.ack() {
            (h.ack, SeqNum(0), Flags::RST)
        } else {
            (SeqNum(0), h.seq + seg.seg_len(), Flags::RST | Flags::ACK)
        };
        let header = SegmentHeader {
            src_port: h.dst_port,
            dst_port: h.src_port,
            seq,
            ack,
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
        };
        self.rsts.push_back((seg.dst_addr, seg.src_addr, header));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::ConnectionConfig;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);

    /// Moves every packet both ways until nothing moves; returns them all.
    fn exchange(now: Instant, a: &mut Endpoint, b: &mut Endpoint) -> Vec<Vec<u8>> {
        let mut all = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let mut moved = false;
            while let Some(t) = a.poll_transmit(now, &mut buf) {
                b.handle(now, &buf[..t.len]);
                all.push(buf[..t.len].to_vec());
                moved = true;
            }
            while let Some(t) = b.poll_transmit(now, &mut buf) {
                a.handle(now, &buf[..t.len]);
                all.push(buf[..t.len].to_vec());
                moved = true;
            }
            if !moved {
                return all;
            }
        }
    }

    /// Every single-bit corruption of an in-order data segment is rejected
    /// and counted by the receive fast path (checksum verified while the
    /// text is staged in the receive buffer), nothing of it becomes
    /// readable or is answered, and the intact segment is then delivered
    /// exactly. Both client connections have the same ISS and ports one
    /// bit apart, so some corruptions of the source port make the segment
    /// look in order for the *other* connection and are staged there.
    #[test]
    fn corrupted_segments_are_rejected_on_the_fast_path() {
        let now = Instant::from_millis(1);
        let config = |seed| EndpointConfig {
            seed,
            connection: ConnectionConfig { recv_buffer: 4096, ..ConnectionConfig::default() },
            fixed_iss: Some(SeqNum(7)),
            ..EndpointConfig::default()
        };
        let mut client = Endpoint::new(config(1));
        let mut server = Endpoint::new(config(2));
        server.listen(SERVER, 8).unwrap();
        let c1 = client.connect_from(now, SocketAddrV4::new(CLIENT, 40000), SERVER).unwrap();
        let c2 = client.connect_from(now, SocketAddrV4::new(CLIENT, 40001), SERVER).unwrap();
        exchange(now, &mut client, &mut server);
        let s1 = server.accept(SERVER).unwrap();
        let s2 = server.accept(SERVER).unwrap();
        let (s1, s2) =
            if server.connection(s1).unwrap().four_tuple().remote.port() == 40000 { (s1, s2) } else { (s2, s1) };

        // Text of odd length, so the checksum's odd-byte padding is covered.
        let text: Vec<u8> = (0..333u32).map(|i| (i * 7 + 1) as u8).collect();
        client.send(c1, &text).unwrap();
        let mut buf = [0u8; 2048];
        let t = client.poll_transmit(now, &mut buf).expect("data segment");
        let packet = buf[..t.len].to_vec();
        assert_eq!(wire::parse(&packet).unwrap().payload, &text[..]);

        let mut out = [0u8; 2048];
        let mut read = [0u8; 4096];
        for bit in 0..packet.len() * 8 {
            let mut bad = packet.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            let before = server.stats().malformed_total();
            server.handle(now, &bad);
            assert_eq!(server.stats().malformed_total(), before + 1, "bit {bit} accepted");
            assert!(server.poll_transmit(now, &mut out).is_none(), "bit {bit} answered");
            for h in [s1, s2] {
                assert_eq!(server.recv(h, &mut read), Err(Error::WouldBlock), "bit {bit} delivered");
            }
        }

        // A corruption that turns the protocol byte into ICMP, with an IPv4
        // header checksum to match (several flipped bits can do that; a
        // fuzzed simulator run did): still counted as malformed, once.
        let mut as_icmp = packet.clone();
        as_icmp[9] = 1;
        as_icmp[10..12].copy_from_slice(&[0, 0]);
        let sum = as_icmp[..20].chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum::<u32>();
        let sum = (sum & 0xffff) + (sum >> 16);
        as_icmp[10..12].copy_from_slice(&(!((sum & 0xffff) + (sum >> 16)) as u16).to_be_bytes());
        let before = server.stats().malformed_total();
        server.handle(now, &as_icmp);
        assert_eq!(server.stats().malformed_total(), before + 1, "protocol turned into ICMP");
        assert!(server.poll_transmit(now, &mut out).is_none());

        // The intact segment, then the same text on the other connection.
        server.handle(now, &packet);
        assert_eq!(server.recv(s1, &mut read), Ok(text.len()));
        assert_eq!(&read[..text.len()], &text[..]);
        client.send(c2, &text[..100]).unwrap();
        exchange(now, &mut client, &mut server);
        assert_eq!(server.recv(s2, &mut read), Ok(100));
        assert_eq!(&read[..100], &text[..100]);
        assert_eq!(server.recv(s1, &mut read), Err(Error::WouldBlock));
    }

    /// The earliest deadline of every connection, as the connections see it.
    fn earliest(ep: &Endpoint) -> Option<Instant> {
        ep.handles().filter_map(|h| ep.connection(h).and_then(Connection::poll_timeout)).min()
    }

    /// The timer heap is refreshed lazily (a deadline that moves later
    /// keeps its earlier entry), yet `poll_timeout` always reports exactly
    /// the earliest deadline of any connection, so drivers never wake up
    /// early; and every deadline is served. Several connections exchange
    /// data with pauses in between, closing at the end, with the check
    /// after every step.
    #[test]
    fn poll_timeout_is_exactly_the_earliest_connection_deadline() {
        let mut now = Instant::from_millis(1);
        let mut client = Endpoint::new(EndpointConfig { seed: 1, ..EndpointConfig::default() });
        let mut server = Endpoint::new(EndpointConfig { seed: 2, ..EndpointConfig::default() });
        server.listen(SERVER, 64).unwrap();
        let conns: Vec<_> = (0..5).map(|_| client.connect(now, CLIENT, SERVER).unwrap()).collect();
        let mut accepted = Vec::new();
        let mut read = [0u8; 4096];
        let mut timeouts = 0;
        for step in 0..400u32 {
            exchange(now, &mut client, &mut server);
            while let Some(h) = server.accept(SERVER) {
                accepted.push(h);
            }
            for (i, &c) in conns.iter().enumerate() {
                if (step as usize + i).is_multiple_of(3) && step < 300 {
                    let _ = client.send(c, &[i as u8; 700]);
                }
                if step == 300 {
                    client.close(c).unwrap();
                }
            }
            for &h in &accepted {
                if step.is_multiple_of(2) {
                    while server.recv(h, &mut read).is_ok_and(|n| n > 0) {}
                }
                if step == 301 {
                    let _ = server.close(h);
                }
            }
            exchange(now, &mut client, &mut server);
            for ep in [&mut client, &mut server] {
                assert_eq!(ep.poll_timeout(), earliest(ep), "step {step}");
                while ep.poll_event().is_some() {}
            }
            // Move time: by a little (deadlines move later while others are
            // pending), or to the next deadline.
            let next = [client.poll_timeout(), server.poll_timeout()].into_iter().flatten().min();
            now = match next {
                Some(t) if step % 4 == 3 => {
                    timeouts += 1;
                    t
                }
                _ => now + crate::time::Duration::from_millis(7),
            };
            client.handle_timeout(now);
            server.handle_timeout(now);
            for ep in [&mut client, &mut server] {
                assert_eq!(ep.poll_timeout(), earliest(ep), "step {step} after timeouts");
                assert!(earliest(ep).is_none_or(|t| t > now), "step {step}: a due deadline was not served");
            }
        }
        assert!(timeouts > 50);
        assert_eq!(accepted.len(), 5);
    }

    /// `unlisten` resets the listener's queued and half-open connections
    /// (and only those: another listener's connection stays queued), and
    /// they are removed once their RST is out.
    #[test]
    fn unlisten_resets_only_its_own_connections() {
        let now = Instant::from_millis(1);
        let other = SocketAddrV4::new(*SERVER.ip(), 81);
        let mut client = Endpoint::new(EndpointConfig { seed: 1, ..EndpointConfig::default() });
        let mut server = Endpoint::new(EndpointConfig { seed: 2, ..EndpointConfig::default() });
        server.listen(SERVER, 8).unwrap();
        server.listen(other, 8).unwrap();
        let queued = [client.connect(now, CLIENT, SERVER).unwrap(), client.connect(now, CLIENT, SERVER).unwrap()];
        let kept = client.connect(now, CLIENT, other).unwrap();
        exchange(now, &mut client, &mut server);
        // A half-open one: its SYN reaches the server, the SYN-ACK is lost.
        let half = client.connect(now, CLIENT, SERVER).unwrap();
        let mut buf = [0u8; 2048];
        let t = client.poll_transmit(now, &mut buf).unwrap();
        server.handle(now, &buf[..t.len]);
        assert!(server.poll_transmit(now, &mut buf).is_some(), "SYN-ACK");
        assert_eq!(server.connection_count(), 4);

        server.unlisten(SERVER);
        let mut resets = 0;
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let seg = wire::parse(&buf[..t.len]).unwrap();
            assert!(seg.header.flags.rst());
            assert_eq!(seg.header.src_port, SERVER.port());
            resets += 1;
            client.handle(now, &buf[..t.len]);
        }
        assert_eq!(resets, 3);
        assert_eq!(server.connection_count(), 1);
        assert_eq!(server.accept(SERVER), None);
        let h = server.accept(other).expect("the other listener's connection is still queued");
        assert_eq!(server.connection(h).unwrap().state(), State::Established);
        for c in queued {
            assert_eq!(client.connection(c).unwrap().state(), State::Closed);
        }
        assert_eq!(client.connection(kept).unwrap().state(), State::Established);
        assert_eq!(client.connection(half).unwrap().state(), State::SynSent);
    }

    /// Out-of-order text, which is not staged, is verified on its own:
    /// a corrupted copy is counted and never held, the intact one is.
    #[test]
    fn corrupted_out_of_order_segment_is_rejected() {
        let now = Instant::from_millis(1);
        let mut client = Endpoint::new(EndpointConfig { seed: 1, ..EndpointConfig::default() });
        let mut server = Endpoint::new(EndpointConfig { seed: 2, ..EndpointConfig::default() });
        server.listen(SERVER, 8).unwrap();
        let c = client.connect(now, CLIENT, SERVER).unwrap();
        exchange(now, &mut client, &mut server);
        let s = server.accept(SERVER).unwrap();
        client.set_nodelay(c, true).unwrap();
        client.send(c, b"first").unwrap();
        let mut buf = [0u8; 2048];
        let first = client.poll_transmit(now, &mut buf).map(|t| buf[..t.len].to_vec()).unwrap();
        client.send(c, b"second").unwrap();
        let second = client.poll_transmit(now, &mut buf).map(|t| buf[..t.len].to_vec()).unwrap();

        let mut bad = second.clone();
        *bad.last_mut().unwrap() ^= 0x10;
        server.handle(now, &bad);
        assert_eq!(server.stats().malformed_of(ParseError::BadTcpChecksum), 1);
        server.handle(now, &first);
        let mut read = [0u8; 64];
        assert_eq!(server.recv(s, &mut read), Ok(5));
        assert_eq!(server.recv(s, &mut read), Err(Error::WouldBlock), "the corrupted copy was held");
        server.handle(now, &second);
        assert_eq!(server.recv(s, &mut read), Ok(6));
        assert_eq!(&read[..6], b"second");
    }
}
