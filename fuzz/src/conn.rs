//! The `connection` fuzz target's world: two ToyTCP endpoints, a client and
//! a server with a listener, joined by a packet queue the fuzzer controls,
//! plus segments the fuzzer forges, clock jumps and application calls.
//!
//! After every step, every connection of both endpoints must pass
//! `Connection::check_invariants` (SND.UNA ≤ SND.NXT ≤ SND.MAX, buffers
//! within capacity, RCV.NXT within the advertised window, …), and:
//!
//! - every packet an endpoint emits parses (`wire::parse`);
//! - a packet with one bit flipped is rejected by the parser (the Internet
//!   checksum detects every single-bit error, RFC 1071 §2(B));
//! - the bytes an application reads are the bytes sent at those sequence
//!   numbers. Every sender, real or forged, fills its payload with
//!   [`pattern`] of the absolute sequence number of each byte, so whatever
//!   a receiver accepts in order must read back as `pattern(seq)` for the
//!   sequence numbers it was delivered at. A reassembly or trimming error
//!   shows up as a mismatch.
//!
//! Inputs are decoded with `arbitrary` ([`Setup`] then [`Op`]s until the
//! data runs out). [`Encode`] writes the bytes that decode to a given
//! input, for the seed corpus.

use arbitrary::{Arbitrary, Unstructured};
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::{HashMap, VecDeque};
use toytcp_core::config::{CongestionAlgorithm, Keepalive};
use toytcp_core::wire::{self, Flags, IcmpError, SackBlock, SegmentHeader, TcpOptions, Timestamps};
use toytcp_core::{ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, Instant, SeqNum};

/// The client's address.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The server's address.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The server's listening port.
pub const PORT: u16 = 80;
/// A server port nobody listens on.
pub const CLOSED_PORT: u16 = 81;

/// Most operations run per input (longer inputs are truncated).
pub const MAX_OPS: usize = 512;
/// Most packets kept in flight; more are dropped (a drop-tail queue).
const MAX_QUEUE: usize = 4096;
/// Most packets one endpoint may emit in one drain before we call it a
/// transmit loop.
const MAX_TRANSMITS_PER_DRAIN: usize = 100_000;
/// Largest payload of a forged segment.
const MAX_FORGED_PAYLOAD: usize = 9000;

/// The byte every sender puts at absolute sequence number `seq` (a
/// multiplicative hash, so an offset error of any size is caught with
/// probability 255/256 per byte).
pub fn pattern(seq: u32) -> u8 {
    (seq.wrapping_mul(0x9E37_79B1) >> 24) as u8
}

/// Settings for both endpoints.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Endpoint seed (ISNs, ports, timestamp offsets).
    pub seed: u32,
    /// Offer timestamps (RFC 7323).
    pub timestamps: bool,
    /// Offer SACK (RFC 2018).
    pub sack: bool,
    /// Offer window scaling (RFC 7323).
    pub window_scale: bool,
    /// Disable Nagle.
    pub nodelay: bool,
    /// Picks the MSS from [`MSS_CHOICES`].
    pub mss: u8,
    /// Picks the send buffer from [`BUFFER_CHOICES`].
    pub send_buffer: u8,
    /// Picks the receive buffer from [`BUFFER_CHOICES`].
    pub recv_buffer: u8,
    /// Complete the handshake before the operations run.
    pub handshake: bool,
    /// Loss-recovery switches, each bit turning one default off (or
    /// swapping the controller): see [`RECOVERY_BITS`].
    pub recovery: u8,
}

/// What each bit of [`Setup::recovery`] does: 1 `sack_recovery` off, 2
/// `rack` off, 4 `prr` off, 8 `frto` off, 16 `hystart` off, 32 NewReno
/// instead of CUBIC. Zero is the core's defaults.
pub const RECOVERY_BITS: u8 = 0x3f;

/// MSS values a [`Setup`] can pick (the simulator's range is 64–9000).
pub const MSS_CHOICES: [u16; 5] = [64, 536, 1000, 1460, 9000];
/// Buffer sizes a [`Setup`] can pick: tiny, odd, small, just under and well
/// over 64 KiB (so window scaling matters).
pub const BUFFER_CHOICES: [usize; 5] = [512, 3001, 8192, 65535, 300_000];

/// Where a forged segment goes.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// To an existing connection, from its peer's address and port.
    Conn,
    /// To the server's listening port from another client port.
    Listener {
        /// Source port.
        src_port: u16,
    },
    /// To a port with no listener.
    ClosedPort {
        /// Source port.
        src_port: u16,
    },
}

/// A forged segment. Sequence numbers are offsets from the receiving
/// connection's live values (RCV.NXT for SEQ, SND.MAX for ACK and SACK),
/// timestamps offsets from the last ones seen on the wire.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forge {
    /// Towards the server (else the client).
    pub to_server: bool,
    /// Which connection of the receiving endpoint.
    pub sel: u8,
    /// Where it goes.
    pub target: Target,
    /// Control bits.
    pub flags: u8,
    /// SEG.SEQ − RCV.NXT.
    pub seq_off: i32,
    /// SEG.ACK − SND.MAX.
    pub ack_off: i32,
    /// Payload length (capped at 9000).
    pub len: u16,
    /// SEG.WND.
    pub window: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option.
    pub ws: Option<u8>,
    /// SACK-permitted option.
    pub sack_ok: bool,
    /// Timestamps option: TSval and TSecr offsets.
    pub ts: Option<(i32, i32)>,
    /// Up to two SACK blocks: left − SND.MAX and length (any u32, so
    /// blocks may wrap the sequence space).
    pub sack: [Option<(i32, u32)>; 2],
}

/// One step.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Deliver the oldest packet in flight.
    Deliver,
    /// Deliver up to 64 packets, in order.
    DeliverMany,
    /// Lose the oldest packet.
    Drop,
    /// Duplicate the oldest packet (the copy goes last).
    Duplicate,
    /// Move the oldest packet to position `to` (reordering).
    Reorder {
        /// New position, modulo the queue length.
        to: u8,
    },
    /// Flip one bit of the oldest packet, then deliver it.
    Corrupt {
        /// Byte index, modulo the packet length.
        at: u16,
        /// Bit index, modulo 8.
        bit: u8,
    },
    /// Deliver a forged segment.
    Forge(Forge),
    /// Advance the clock by `ms` milliseconds.
    Advance {
        /// Milliseconds.
        ms: u16,
    },
    /// Advance the clock to the earliest deadline of either endpoint.
    AdvanceToDeadline,
    /// Advance the clock by `secs` seconds.
    AdvanceSecs {
        /// Seconds.
        secs: u8,
    },
    /// Application send of `len` bytes.
    Send {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
        /// Bytes offered.
        len: u16,
    },
    /// Application recv into a `len`-byte buffer.
    Recv {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
        /// Buffer length.
        len: u16,
    },
    /// Application shutdown (half-close).
    Shutdown {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
    },
    /// Application close.
    Close {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
    },
    /// Application abort.
    Abort {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
    },
    /// Nagle off or on.
    SetNodelay {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
        /// Nagle off.
        on: bool,
    },
    /// Keepalive with `idle_ms` idle time and interval (0 turns it off).
    SetKeepalive {
        /// On the client (else the server).
        client: bool,
        /// Which connection.
        sel: u8,
        /// Idle time and probe interval in milliseconds.
        idle_ms: u16,
    },
    /// The client opens another connection, to the listener or to a closed port.
    Connect {
        /// To the closed port.
        closed_port: bool,
    },
    /// A router drops the oldest packet in flight and answers its sender
    /// with an ICMP error (RFC 792) quoting it: [`ICMP_KINDS`]`[kind %
    /// len]`, with `mtu` as the next-hop MTU of Fragmentation Needed.
    /// `stale` flips the quoted SEQ's top bit, so it is not in flight
    /// (RFC 5927 §4.1: ignored).
    Icmp {
        /// Picks the error from [`ICMP_KINDS`].
        kind: u8,
        /// Next-hop MTU (Fragmentation Needed only; 0 = unknown).
        mtu: u16,
        /// Quote a sequence number that is not in flight.
        stale: bool,
    },
}

/// The ICMP errors an [`Op::Icmp`] can send (Fragmentation Needed's MTU
/// comes from the op).
pub const ICMP_KINDS: [IcmpError; 11] = [
    IcmpError::FragmentationNeeded { next_hop_mtu: 0 },
    IcmpError::PortUnreachable,
    IcmpError::ProtocolUnreachable,
    IcmpError::HostUnreachable,
    IcmpError::NetUnreachable,
    IcmpError::SourceRouteFailed,
    IcmpError::AdminProhibited,
    IcmpError::SourceQuench,
    IcmpError::TimeExceeded,
    IcmpError::ParameterProblem,
    IcmpError::FragmentationNeeded { next_hop_mtu: 0 },
];

/// The router that sends [`Op::Icmp`]'s messages.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

/// A decoded fuzz input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// Endpoint settings.
    pub setup: Setup,
    /// The steps, at most [`MAX_OPS`].
    pub ops: Vec<Op>,
}

impl Input {
    /// Decodes `data`: a [`Setup`], then [`Op`]s until the data runs out.
    pub fn decode(data: &[u8]) -> Input {
        let mut u = Unstructured::new(data);
        // Integers and enum tags read from exhausted data are zero, so
        // these never fail; fall back to defaults all the same.
        let setup = Setup::arbitrary(&mut u).unwrap_or(Setup {
            seed: 0,
            timestamps: false,
            sack: false,
            window_scale: false,
            nodelay: false,
            mss: 0,
            send_buffer: 0,
            recv_buffer: 0,
            handshake: false,
            recovery: 0,
        });
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < MAX_OPS {
            match Op::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        Input { setup, ops }
    }
}

/// The two endpoints, the wire between them and what the oracle tracks.
pub struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    /// Connections the client application holds (opened by it).
    client_handles: Vec<ConnectionHandle>,
    /// Connections the server application accepted.
    server_handles: Vec<ConnectionHandle>,
    /// Packets in flight: (to the server, bytes).
    queue: VecDeque<(bool, Vec<u8>)>,
    /// Bytes each application connection has had accepted by `send`.
    sent: HashMap<(bool, ConnectionHandle), u32>,
    /// The last timestamps each side put on the wire (TSval).
    last_tsval: [u32; 2],
    buf: Vec<u8>,
    /// Bytes read by the applications, checked against [`pattern`].
    bytes_read: u64,
    /// Packets the endpoints emitted.
    packets_out: u64,
}

impl World {
    /// Two endpoints with `setup`'s settings; the client connects to the
    /// server's listener, and with `setup.handshake` the handshake is run
    /// to completion without faults.
    pub fn new(setup: &Setup) -> World {
        let mut cfg = EndpointConfig { seed: u64::from(setup.seed), ..Default::default() };
        let c = &mut cfg.connection;
        c.timestamps = setup.timestamps;
        c.sack = setup.sack;
        c.window_scale = setup.window_scale;
        c.nodelay = setup.nodelay;
        c.mss = MSS_CHOICES[usize::from(setup.mss) % MSS_CHOICES.len()];
        c.send_buffer = BUFFER_CHOICES[usize::from(setup.send_buffer) % BUFFER_CHOICES.len()];
        c.recv_buffer = BUFFER_CHOICES[usize::from(setup.recv_buffer) % BUFFER_CHOICES.len()];
        let off = |bit: u8| setup.recovery & RECOVERY_BITS & bit != 0;
        c.sack_recovery = !off(1);
        c.rack = !off(2);
        c.prr = !off(4);
        c.frto = !off(8);
        c.hystart = !off(16);
        if off(32) {
            c.congestion = CongestionAlgorithm::NewReno;
        }
        c.time_wait = Duration::from_secs(2);
        c.min_rto = Duration::from_millis(200);
        c.syn_retries = 3;
        c.max_retries = 5;
        let mut server = Endpoint::new(EndpointConfig { seed: cfg.seed ^ 0x5eed, ..cfg.clone() });
        server.listen(SocketAddrV4::new(SERVER, PORT), 4).expect("listen on a fresh endpoint");
        let client = Endpoint::new(cfg);
        let mut w = World {
            now: Instant::from_millis(1),
            client,
            server,
            client_handles: Vec::new(),
            server_handles: Vec::new(),
            queue: VecDeque::new(),
            sent: HashMap::new(),
            last_tsval: [0; 2],
            buf: vec![0u8; 1 << 16],
            bytes_read: 0,
            packets_out: 0,
        };
        w.step(Op::Connect { closed_port: false });
        if setup.handshake {
            for _ in 0..4 {
                w.step(Op::DeliverMany);
            }
        }
        w
    }

    /// Runs a whole input; panics with a description on the first
    /// violation.
    pub fn run(input: &Input) -> World {
        let mut w = World::new(&input.setup);
        for (i, op) in input.ops.iter().enumerate() {
            w.step(*op);
            if let Err(e) = w.check() {
                panic!("after op {i} ({op:?}): {e}");
            }
        }
        w
    }

    /// Bytes the applications read (all checked against [`pattern`]) and
    /// packets the endpoints emitted so far.
    pub fn totals(&self) -> (u64, u64) {
        (self.bytes_read, self.packets_out)
    }

    /// The states of every connection, client's first.
    pub fn states(&self) -> Vec<toytcp_core::State> {
        let mut v = Vec::new();
        for ep in [&self.client, &self.server] {
            let mut hs: Vec<_> = ep.handles().collect();
            hs.sort();
            v.extend(hs.into_iter().filter_map(|h| ep.connection(h)).map(|c| c.state()));
        }
        v
    }

    /// Applies one operation, then drains both endpoints' outputs.
    pub fn step(&mut self, op: Op) {
        match op {
            Op::Deliver => self.deliver(),
            Op::DeliverMany => {
                for _ in 0..64 {
                    if self.queue.is_empty() {
                        break;
                    }
                    self.deliver();
                    self.drain();
                }
            }
            Op::Drop => {
                self.queue.pop_front();
            }
            Op::Duplicate => {
                if let Some(p) = self.queue.front().cloned() {
                    self.enqueue(p);
                }
            }
            Op::Reorder { to } => {
                if let Some(p) = self.queue.pop_front() {
                    let at = usize::from(to) % (self.queue.len() + 1);
                    self.queue.insert(at, p);
                }
            }
            Op::Corrupt { at, bit } => {
                if let Some((to_server, mut pkt)) = self.queue.pop_front() {
                    let i = usize::from(at) % pkt.len();
                    pkt[i] ^= 1 << (bit % 8);
                    // RFC 1071 §2(B): the one's-complement sum detects every
                    // single-bit error, in the IPv4 header (its checksum) and
                    // in the TCP segment (the TCP checksum).
                    if let Ok(seg) = wire::parse(&pkt) {
                        panic!("a packet with bit {} of byte {i} flipped still parses: {seg:?}", bit % 8);
                    }
                    let now = self.now;
                    self.endpoint(to_server).handle(now, &pkt);
                }
            }
            Op::Forge(f) => self.forge(f),
            Op::Icmp { kind, mtu, stale } => {
                if let Some((to_server, mut pkt)) = self.queue.pop_front() {
                    if stale {
                        pkt[24] ^= 0x80; // SEG.SEQ's top byte (IPv4 20 + TCP 4)
                    }
                    let error = match ICMP_KINDS[usize::from(kind) % ICMP_KINDS.len()] {
                        IcmpError::FragmentationNeeded { .. } => IcmpError::FragmentationNeeded { next_hop_mtu: mtu },
                        e => e,
                    };
                    let mut buf = [0u8; 128];
                    let n = wire::emit_icmp_error(ROUTER, error, &pkt, &mut buf).expect("ICMP error fits");
                    let now = self.now;
                    self.endpoint(!to_server).handle(now, &buf[..n]);
                }
            }
            Op::Advance { ms } => self.advance(Duration::from_millis(u64::from(ms))),
            Op::AdvanceSecs { secs } => self.advance(Duration::from_secs(u64::from(secs))),
            Op::AdvanceToDeadline => {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
                let target = next.unwrap_or(self.now + Duration::from_millis(1)).max(self.now);
                self.now = target;
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
            }
            Op::Send { client, sel, len } => {
                if let Some(h) = self.handle(client, sel) {
                    self.send(client, h, usize::from(len));
                }
            }
            Op::Recv { client, sel, len } => {
                if let Some(h) = self.handle(client, sel) {
                    self.recv(client, h, usize::from(len));
                }
            }
            Op::Shutdown { client, sel } => {
                if let Some(h) = self.handle(client, sel) {
                    let _ = self.endpoint(!client).shutdown(h);
                }
            }
            Op::Close { client, sel } => {
                if let Some(h) = self.handle(client, sel) {
                    let _ = self.endpoint(!client).close(h);
                    self.forget(client, h);
                }
            }
            Op::Abort { client, sel } => {
                if let Some(h) = self.handle(client, sel) {
                    let _ = self.endpoint(!client).abort(h);
                    self.forget(client, h);
                }
            }
            Op::SetNodelay { client, sel, on } => {
                if let Some(h) = self.handle(client, sel) {
                    let _ = self.endpoint(!client).set_nodelay(h, on);
                }
            }
            Op::SetKeepalive { client, sel, idle_ms } => {
                if let Some(h) = self.handle(client, sel) {
                    let ka = (idle_ms > 0).then(|| {
                        let d = Duration::from_millis(u64::from(idle_ms));
                        Keepalive { idle: d, interval: d, probes: 3 }
                    });
                    let _ = self.endpoint(!client).with_conn(h, |c| {
                        c.set_keepalive(ka);
                        Ok(())
                    });
                }
            }
            Op::Connect { closed_port } => {
                let port = if closed_port { CLOSED_PORT } else { PORT };
                if self.client_handles.len() < 8
                    && let Ok(h) = self.client.connect(self.now, CLIENT, SocketAddrV4::new(SERVER, port))
                {
                    self.client_handles.push(h);
                }
            }
        }
        self.drain();
    }

    /// The endpoint on one side, read-only: the server if `server`.
    fn endpoint_ref(&self, server: bool) -> &Endpoint {
        if server { &self.server } else { &self.client }
    }

    /// The endpoint on one side: the server if `to_server`.
    fn endpoint(&mut self, to_server: bool) -> &mut Endpoint {
        if to_server { &mut self.server } else { &mut self.client }
    }

    fn handle(&self, client: bool, sel: u8) -> Option<ConnectionHandle> {
        let hs = if client { &self.client_handles } else { &self.server_handles };
        (!hs.is_empty()).then(|| hs[usize::from(sel) % hs.len()])
    }

    /// The application gave the handle up.
    fn forget(&mut self, client: bool, h: ConnectionHandle) {
        let hs = if client { &mut self.client_handles } else { &mut self.server_handles };
        hs.retain(|&x| x != h);
        self.sent.remove(&(client, h));
    }

    fn enqueue(&mut self, p: (bool, Vec<u8>)) {
        if self.queue.len() < MAX_QUEUE {
            self.queue.push_back(p);
        }
    }

    fn deliver(&mut self) {
        if let Some((to_server, pkt)) = self.queue.pop_front() {
            let now = self.now;
            self.endpoint(to_server).handle(now, &pkt);
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    fn send(&mut self, client: bool, h: ConnectionHandle, len: usize) {
        let Some(conn) = self.endpoint_ref(!client).connection(h) else { return };
        let offset = self.sent.get(&(client, h)).copied().unwrap_or(0);
        let start = conn.iss().0.wrapping_add(1).wrapping_add(offset);
        let data: Vec<u8> = (0..len as u32).map(|i| pattern(start.wrapping_add(i))).collect();
        if let Ok(n) = self.endpoint(!client).send(h, &data) {
            *self.sent.entry((client, h)).or_insert(0) += n as u32;
        }
    }

    fn recv(&mut self, client: bool, h: ConnectionHandle, len: usize) {
        let Some(conn) = self.endpoint_ref(!client).connection(h) else { return };
        // The sequence number of the next byte to read: RCV.NXT less what
        // is buffered, less the FIN if it has been received.
        let first =
            conn.rcv_nxt().0.wrapping_sub(conn.recv_available() as u32).wrapping_sub(u32::from(conn.peer_finished()));
        let summary = format!("{:?} rcv_nxt {} available {}", conn.state(), conn.rcv_nxt(), conn.recv_available());
        let mut buf = vec![0u8; len];
        if let Ok(n) = self.endpoint(!client).recv(h, &mut buf) {
            for (i, &b) in buf[..n].iter().enumerate() {
                let seq = first.wrapping_add(i as u32);
                assert_eq!(
                    b,
                    pattern(seq),
                    "byte {i} of {n} read (seq {seq}) is not the byte sent there ({summary}, client side: {client})"
                );
            }
            self.bytes_read += n as u64;
        }
    }

    fn forge(&mut self, f: Forge) {
        let to_server = f.to_server;
        let ep = self.endpoint_ref(to_server);
        let mut handles: Vec<ConnectionHandle> = ep.handles().collect();
        handles.sort();
        let conn =
            (!handles.is_empty()).then(|| handles[usize::from(f.sel) % handles.len()]).and_then(|h| ep.connection(h));
        let (base_seq, base_ack) = conn.map_or((0, 0), |c| (c.rcv_nxt().0, c.snd_max().0));
        let (src, dst) = match (f.target, conn) {
            (Target::Conn, Some(c)) => {
                let t = c.four_tuple();
                (t.remote, t.local)
            }
            (Target::Conn, None) => return,
            (Target::Listener { src_port }, _) | (Target::ClosedPort { src_port }, _) => {
                let (from, to) = if to_server { (CLIENT, SERVER) } else { (SERVER, CLIENT) };
                let port = if matches!(f.target, Target::Listener { .. }) { PORT } else { CLOSED_PORT };
                (SocketAddrV4::new(from, src_port), SocketAddrV4::new(to, port))
            }
        };
        let seq = base_seq.wrapping_add(f.seq_off as u32);
        let ack = base_ack.wrapping_add(f.ack_off as u32);
        let mut options =
            TcpOptions { mss: f.mss, window_scale: f.ws, sack_permitted: f.sack_ok, ..Default::default() };
        if let Some((val, ecr)) = f.ts {
            let (peer, us) = (usize::from(to_server), usize::from(!to_server));
            options.timestamps = Some(Timestamps {
                tsval: self.last_tsval[peer].wrapping_add(val as u32),
                tsecr: self.last_tsval[us].wrapping_add(ecr as u32),
            });
        }
        for &(off, len) in f.sack.iter().flatten() {
            let left = SeqNum(base_ack.wrapping_add(off as u32));
            options.push_sack(SackBlock { left, right: SeqNum(left.0.wrapping_add(len)) });
        }
        let flags = Flags(f.flags);
        // Data starts after the SYN's sequence number, if any.
        let data_seq = seq.wrapping_add(u32::from(flags.syn()));
        let len = usize::from(f.len) % (MAX_FORGED_PAYLOAD + 1);
        let payload: Vec<u8> = (0..len as u32).map(|i| pattern(data_seq.wrapping_add(i))).collect();
        let header = SegmentHeader {
            src_port: src.port(),
            dst_port: dst.port(),
            seq: SeqNum(seq),
            ack: SeqNum(ack),
            flags,
            window: f.window,
            urgent: 0,
            options,
        };
        let mut pkt = vec![0u8; wire::segment_overhead(&header.options) + payload.len()];
        // Options with a SACK block and everything else may exceed 40
        // bytes; such a segment cannot be sent, so skip it.
        if let Ok(n) = wire::emit(*src.ip(), *dst.ip(), &header, &[&payload], &mut pkt) {
            let now = self.now;
            self.endpoint(to_server).handle(now, &pkt[..n]);
        }
    }

    /// Drains both endpoints: packets (checked to parse) into the queue,
    /// events (accepting incoming connections), deadlines.
    fn drain(&mut self) {
        for from_client in [true, false] {
            for n in 0.. {
                let now = self.now;
                let ep = if from_client { &mut self.client } else { &mut self.server };
                let Some(t) = ep.poll_transmit(now, &mut self.buf) else { break };
                assert!(n < MAX_TRANSMITS_PER_DRAIN, "endless poll_transmit");
                let pkt = self.buf[..t.len].to_vec();
                match wire::parse(&pkt) {
                    Ok(seg) => {
                        if let Some(ts) = seg.header.options.timestamps {
                            self.last_tsval[usize::from(from_client)] = ts.tsval;
                        }
                    }
                    Err(e) => panic!("an endpoint emitted a packet that does not parse: {e:?}: {pkt:02x?}"),
                }
                self.packets_out += 1;
                self.enqueue((from_client, pkt));
            }
        }
        while self.client.poll_event().is_some() {}
        while let Some(e) = self.server.poll_event() {
            if let EndpointEvent::Incoming { listener } = e {
                while let Some(h) = self.server.accept(listener) {
                    self.server_handles.push(h);
                }
            }
        }
        let _ = (self.client.poll_timeout(), self.server.poll_timeout());
    }

    /// Every connection of both endpoints passes `check_invariants`.
    pub fn check(&self) -> Result<(), String> {
        for (name, ep) in [("client", &self.client), ("server", &self.server)] {
            for h in ep.handles() {
                if let Some(c) = ep.connection(h) {
                    c.check_invariants().map_err(|e| format!("{name} connection {h:?}: {e}"))?;
                }
            }
        }
        Ok(())
    }
}
