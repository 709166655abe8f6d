//! Scale benchmark (issue 3, "Scale"): many concurrent connections through
//! one ToyTCP endpoint, each doing request/response exchanges with another
//! endpoint, in the same zero-latency in-memory loop as the throughput
//! benchmark (except that each packet is handed over as soon as it is
//! emitted, so the loop itself holds no queue of packets).
//!
//! Reports
//! - the CPU cost per segment with 10,000 connections against one
//!   connection doing the same total number of exchanges (target: within
//!   1.5×), and
//! - the heap memory of an idle established connection beyond the data it
//!   holds (target: ≤ 2 KiB), measured with a counting global allocator:
//!   right after the handshake, right after the exchanges (buffers still
//!   holding their storage), and once the buffers' release timer has run.
//!
//! `cargo bench -p toytcp-sim --bench scale`; `TOYTCP_SCALE_CONNS=N` and
//! `TOYTCP_SCALE_ROUNDS=R` change the 10,000 connections × 10 exchanges,
//! `TOYTCP_SCALE_REPEAT=K` the number of runs of each case (default 5; the fastest
//! counts), and `TOYTCP_SCALE_ONLY=many` skips the single-connection case.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant as WallClock;
use toytcp_core::{
    Connection, ConnectionConfig, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, Error, Event,
    Instant,
};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only
// keeps a byte count on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

const MTU: usize = 1500;
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 7;
const REQUEST: usize = 100;
const RESPONSE: usize = 300;

/// A request of round `round`.
fn request(round: u32) -> [u8; REQUEST] {
    let mut q = [b'q'; REQUEST];
    q[..4].copy_from_slice(&round.to_be_bytes());
    q
}

struct World {
    now: Instant,
    client: Endpoint,
    server: Endpoint,
    /// The packet in flight.
    packet: Vec<u8>,
    packets: u64,
    /// Every client connection, in the order opened.
    clients: Vec<ConnectionHandle>,
    /// Connections established, on each side.
    client_connected: usize,
    server_accepted: usize,
    /// Requests answered by the server.
    answered: u64,
    rounds: u32,
    finished: usize,
    scratch: Vec<u8>,
}

fn config(seed: u64) -> EndpointConfig {
    EndpointConfig {
        seed,
        connection: ConnectionConfig { mss: (MTU - 40) as u16, ..ConnectionConfig::default() },
        ..EndpointConfig::default()
    }
}

impl World {
    fn new(rounds: u32) -> Self {
        let mut server = Endpoint::new(config(2));
        server.listen(SocketAddrV4::new(SERVER, PORT), 1 << 16).expect("listen");
        World {
            now: Instant::from_millis(1),
            client: Endpoint::new(config(1)),
            server,
            packet: vec![0; MTU],
            packets: 0,
            clients: Vec::new(),
            client_connected: 0,
            server_accepted: 0,
            answered: 0,
            rounds,
            finished: 0,
            scratch: vec![0; 64 * 1024],
        }
    }

    /// Client side: read responses; send the next request after each.
    ///
    /// The applications keep no per-connection state (that would add a
    /// lookup of their own per packet): a request carries its round number
    /// in its first 4 bytes and the response echoes it. With these sizes
    /// and a lossless zero-latency link every message arrives in one
    /// segment and is read whole, which the reads assert.
    fn client_events(&mut self) {
        while let Some(ev) = self.client.poll_event() {
            let EndpointEvent::Connection { handle, event } = ev else { continue };
            match event {
                Event::Connected => self.client_connected += 1,
                Event::Readable => loop {
                    match self.client.recv(handle, &mut self.scratch) {
                        Ok(0) | Err(Error::WouldBlock) => break,
                        Ok(n) => {
                            assert_eq!(n % RESPONSE, 0, "a response was split");
                            for r in self.scratch[..n].chunks(RESPONSE) {
                                let round = u32::from_be_bytes([r[0], r[1], r[2], r[3]]) + 1;
                                if round < self.rounds {
                                    let sent = self.client.send(handle, &request(round)).expect("send");
                                    assert_eq!(sent, REQUEST);
                                } else {
                                    self.finished += 1;
                                }
                            }
                        }
                        Err(e) => panic!("client recv: {e}"),
                    }
                },
                _ => {}
            }
        }
    }

    /// Server side: accept; answer every request, echoing its round number.
    fn server_events(&mut self) {
        while let Some(ev) = self.server.poll_event() {
            match ev {
                EndpointEvent::Incoming { listener } => {
                    self.server.accept(listener).expect("queued");
                    self.server_accepted += 1;
                }
                EndpointEvent::Connection { handle, event: Event::Readable } => loop {
                    match self.server.recv(handle, &mut self.scratch) {
                        Ok(0) | Err(Error::WouldBlock) => break,
                        Ok(n) => {
                            assert_eq!(n % REQUEST, 0, "a request was split");
                            for q in 0..n / REQUEST {
                                let mut response = [b'r'; RESPONSE];
                                response[..4].copy_from_slice(&self.scratch[q * REQUEST..q * REQUEST + 4]);
                                let sent = self.server.send(handle, &response).expect("send");
                                assert_eq!(sent, RESPONSE);
                                self.answered += 1;
                            }
                        }
                        Err(e) => panic!("server recv: {e}"),
                    }
                },
                _ => {}
            }
        }
    }

    /// One round: every packet either endpoint has to send is handed to
    /// the other at once (zero latency, one packet buffer: the loop adds no
    /// per-connection state of its own), then the applications run.
    /// Returns false if nothing moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(t) = self.client.poll_transmit(self.now, &mut self.packet) {
            self.server.handle(self.now, &self.packet[..t.len]);
            self.packets += 1;
            moved = true;
        }
        self.server_events();
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.packet) {
            self.client.handle(self.now, &self.packet[..t.len]);
            self.packets += 1;
            moved = true;
        }
        self.client_events();
        moved
    }

    /// Runs until `done` holds, jumping to the next deadline when idle.
    fn run_until(&mut self, mut done: impl FnMut(&World) -> bool) {
        while !done(self) {
            if !self.step() {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
                let Some(next) = next else { panic!("stalled") };
                self.advance_to(next);
            }
        }
    }

    fn advance_to(&mut self, t: Instant) {
        self.now = t.max(self.now);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Lets virtual time pass, firing every deadline on the way and moving
    /// what they emit.
    fn idle_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            while self.step() {}
            let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
            match next {
                Some(t) if t <= end => self.advance_to(t),
                _ => break,
            }
        }
        self.now = end;
    }
}

struct Run {
    conns: usize,
    packets: u64,
    seconds: f64,
    mem_established: f64,
    mem_after_exchange: f64,
    mem_idle: f64,
    /// Mean `Connection::heap_memory()` of the idle connections, part by
    /// part (`Connection::heap_breakdown`): the share of `mem_idle` the
    /// connections hold themselves.
    heap_idle: Vec<(&'static str, f64)>,
}

/// `conns` connections, each doing `rounds` request/response exchanges.
fn run(conns: usize, rounds: u32) -> Run {
    let mut w = World::new(rounds);
    w.clients.reserve(conns);
    let base = live();
    for _ in 0..conns {
        let h = w.client.connect(w.now, CLIENT, SocketAddrV4::new(SERVER, PORT)).expect("connect");
        w.clients.push(h);
    }
    w.run_until(|w| w.client_connected == conns && w.server_accepted == conns);
    w.idle_for(Duration::from_millis(100));
    let per_conn = |now: usize| (now as f64 - base as f64) / (2 * conns) as f64;
    let mem_established = per_conn(live());

    // The measured phase: every connection sends its first request, and
    // each response triggers the next request.
    let packets_before = w.packets;
    let start = WallClock::now();
    for i in 0..conns {
        let h = w.clients[i];
        assert_eq!(w.client.send(h, &request(0)).expect("send"), REQUEST);
    }
    w.run_until(|w| w.finished == conns);
    let seconds = start.elapsed().as_secs_f64();
    let packets = w.packets - packets_before;

    // Flush the last delayed ACKs, then measure; then let the buffers'
    // release timer run and measure again.
    w.idle_for(Duration::from_millis(100));
    let mem_after_exchange = per_conn(live());
    w.idle_for(Duration::from_secs(2));
    let mem_idle = per_conn(live());
    let mut heap_idle: Vec<(&'static str, f64)> = Vec::new();
    for (ep, h) in w.client.handles().map(|h| (&w.client, h)).chain(w.server.handles().map(|h| (&w.server, h))) {
        let parts = ep.connection(h).expect("alive").heap_breakdown();
        heap_idle.resize(parts.len(), ("", 0.0));
        for (sum, (name, bytes)) in heap_idle.iter_mut().zip(parts) {
            *sum = (name, sum.1 + bytes as f64 / (2 * conns) as f64);
        }
    }
    for &h in &w.clients {
        let c = w.client.connection(h).expect("alive");
        assert_eq!(c.send_queued(), 0);
        assert_eq!(c.recv_available(), 0);
    }
    assert_eq!(w.answered, conns as u64 * u64::from(rounds));
    Run { conns, packets, seconds, mem_established, mem_after_exchange, mem_idle, heap_idle }
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().unwrap_or_else(|e| {
            eprintln!("error: {name}={v:?}: {e}");
            std::process::exit(2)
        }),
        Err(_) => default,
    }
}

fn main() {
    let testing = !std::env::args().any(|a| a == "--bench");
    let conns = env_num("TOYTCP_SCALE_CONNS", if testing { 200 } else { 10_000 }) as usize;
    let rounds = env_num("TOYTCP_SCALE_ROUNDS", 10) as u32;
    if conns == 0 || rounds == 0 {
        eprintln!("error: TOYTCP_SCALE_CONNS and TOYTCP_SCALE_ROUNDS must be positive");
        std::process::exit(2);
    }
    println!(
        "request/response: {REQUEST}-byte requests, {RESPONSE}-byte responses; size_of::<Connection>() = {} bytes",
        std::mem::size_of::<Connection>()
    );
    // Same total number of exchanges for both: one connection does them all
    // in turn. `TOYTCP_SCALE_ONLY=many` skips the single run (for profiling).
    // Each case runs `TOYTCP_SCALE_REPEAT` times (default 5), alternating;
    // the fastest run of each counts (the machine is shared and noisy),
    // and the median ratio of the back-to-back pairs is printed too.
    let only_many = std::env::var("TOYTCP_SCALE_ONLY").is_ok_and(|v| v == "many");
    let repeat = env_num("TOYTCP_SCALE_REPEAT", if testing { 1 } else { 5 }).max(1);
    let per_packet = |r: &Run| r.seconds / r.packets as f64;
    let fastest = |a: Run, b: Run| if per_packet(&b) < per_packet(&a) { b } else { a };
    let (mut single, mut many): (Option<Run>, Option<Run>) = (None, None);
    // The ratio of each pair of runs made back to back, as well: a
    // second figure that a lucky fastest run of one case cannot skew.
    let mut pair_ratios = Vec::new();
    for _ in 0..repeat {
        let mut this_single = None;
        if !only_many {
            let r = run(1, rounds * conns as u32);
            this_single = Some(per_packet(&r));
            single = Some(match single.take() {
                Some(s) => fastest(s, r),
                None => r,
            });
        }
        let r = run(conns, rounds);
        if let Some(s) = this_single {
            pair_ratios.push(per_packet(&r) / s);
        }
        many = Some(match many.take() {
            Some(m) => fastest(m, r),
            None => r,
        });
    }
    let many = many.expect("at least one run");
    for r in single.iter().chain([&many]) {
        println!(
            "{:>6} connection(s): {:>8} packets in {:.3} s = {:>6.0} ns/packet; heap per connection: \
             established {:.0} B, after exchanges {:.0} B, idle (release timer run) {:.0} B",
            r.conns,
            r.packets,
            r.seconds,
            r.seconds * 1e9 / r.packets as f64,
            r.mem_established,
            r.mem_after_exchange,
            r.mem_idle
        );
    }
    if let Some(single) = &single {
        let ratio = (many.seconds / many.packets as f64) / (single.seconds / single.packets as f64);
        println!("cost per packet, {conns} connections vs 1: {ratio:.2}x (target <= 1.5x)");
        pair_ratios.sort_by(f64::total_cmp);
        let shown: Vec<String> = pair_ratios.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "  (fastest vs fastest; back-to-back pairs: median {:.2}x of [{}])",
            pair_ratios[pair_ratios.len() / 2],
            shown.join(", ")
        );
    }
    println!("idle established connection: {:.0} B beyond held data (target <= 2048 B)", many.mem_idle);
    // The figure above counts every live heap byte (counting allocator),
    // so it includes whatever the connections allocate; this splits off
    // what they hold themselves (buffers and the parts boxed on first use).
    let own: f64 = many.heap_idle.iter().map(|p| p.1).sum();
    let parts: Vec<String> =
        many.heap_idle.iter().filter(|p| p.1 > 0.0).map(|(name, bytes)| format!("{name} {bytes:.0} B")).collect();
    println!(
        "  of which Connection::heap_memory() {own:.0} B [{}], size_of::<Connection>() {} B (in the endpoint's \
         slab), the rest the endpoints' tables and spare capacity",
        parts.join(", "),
        std::mem::size_of::<Connection>()
    );
}
