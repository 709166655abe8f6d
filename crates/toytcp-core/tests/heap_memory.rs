//! `Connection::heap_memory` against a counting allocator: dropping a
//! connection must free exactly the heap bytes it reports, in states where
//! every part it accounts for is allocated (lossy CUBIC transfer: SACK
//! scoreboard, rare loss-recovery state, rare counters, receiver SACK
//! history, out-of-order list, CUBIC undo snapshot; unread events: event
//! spill; own and shared configuration). A part that is allocated but not
//! counted, or counted but not allocated, makes the freed bytes differ.
//!
//! The allocator counts per thread, so the other tests of this binary,
//! running in parallel, do not disturb the figures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{Connection, ConnectionConfig, Duration, FourTuple, Instant, SeqNum, State, wire};

thread_local! {
    /// Heap bytes allocated minus freed by this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // During thread teardown the counter may be gone: nothing to count then.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

fn live() -> isize {
    LIVE.with(Cell::get)
}

/// The system allocator, counting live bytes per thread.
struct Counting;

// SAFETY: forwards every call to the system allocator unchanged and only
// keeps a byte count on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const LATENCY: Duration = Duration::from_millis(5);

/// Two connections wired by hand; `drop_data(i)` decides whether the
/// `i`-th client → server segment carrying data is lost.
struct Pair {
    now: Instant,
    client: Option<Connection>,
    server: Option<Connection>,
    config: Arc<ConnectionConfig>,
    /// Whether the server takes a copy of `config` of its own.
    server_own_config: bool,
    /// (arrival, to the server, packet)
    wire: VecDeque<(Instant, bool, Vec<u8>)>,
    data_segments: u64,
    drop_data: fn(u64) -> bool,
    /// Poll (and discard) the server's events.
    poll_server_events: bool,
}

impl Pair {
    fn new(config: ConnectionConfig, own_configs: bool, drop_data: fn(u64) -> bool) -> Self {
        let config = Arc::new(config);
        let tuple = FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 50000),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 40000),
        };
        let now = Instant::from_millis(1);
        let client = if own_configs {
            Connection::connect(now, &config, tuple, SeqNum(0xFFFF_0000), 7)
        } else {
            Connection::connect_shared(now, Arc::clone(&config), tuple, SeqNum(0xFFFF_0000), 7)
        };
        Pair {
            now,
            client: Some(client),
            server: None,
            config,
            server_own_config: own_configs,
            wire: VecDeque::new(),
            data_segments: 0,
            drop_data,
            poll_server_events: true,
        }
    }

    fn client(&mut self) -> &mut Connection {
        self.client.as_mut().expect("client exists")
    }

    fn server(&mut self) -> &mut Connection {
        self.server.as_mut().expect("server exists")
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 2048];
        let (now, arrival) = (self.now, self.now + LATENCY);
        while let Some(t) = self.client().poll_transmit(now, &mut buf) {
            let seg = wire::parse(&buf[..t.len]).expect("core emits valid packets");
            if !seg.payload.is_empty() {
                self.data_segments += 1;
                if (self.drop_data)(self.data_segments) {
                    continue;
                }
            }
            self.wire.push_back((arrival, true, buf[..t.len].to_vec()));
        }
        while self.client().poll_event().is_some() {}
        let poll_events = self.poll_server_events;
        if let Some(server) = self.server.as_mut() {
            while let Some(t) = server.poll_transmit(now, &mut buf) {
                self.wire.push_back((arrival, false, buf[..t.len].to_vec()));
            }
            while poll_events && server.poll_event().is_some() {}
        }
    }

    /// One packet arrival or deadline; false when nothing is pending.
    fn step(&mut self) -> bool {
        self.drain();
        let deadline = [
            self.client.as_ref().and_then(Connection::poll_timeout),
            self.server.as_ref().and_then(Connection::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min();
        let packet_first = match (self.wire.front().map(|p| p.0), deadline) {
            (None, None) => return false,
            (Some(p), Some(d)) => p <= d,
            (p, _) => p.is_some(),
        };
        if packet_first {
            let (at, to_server, packet) = self.wire.pop_front().expect("front exists");
            self.now = self.now.max(at);
            let (now, seg) = (self.now, wire::parse(&packet).expect("core emits valid packets"));
            if !to_server {
                self.client().handle_segment(now, &seg);
            } else if let Some(server) = self.server.as_mut() {
                server.handle_segment(now, &seg);
            } else {
                let server = if self.server_own_config {
                    Connection::accept(now, &self.config, &seg, SeqNum(0x7FFF_FFF0), 3)
                } else {
                    Connection::accept_shared(now, Arc::clone(&self.config), &seg, SeqNum(0x7FFF_FFF0), 3)
                };
                self.server = Some(server);
            }
        } else if let Some(d) = deadline {
            self.now = self.now.max(d);
            let now = self.now;
            self.client().handle_timeout(now);
            if let Some(s) = self.server.as_mut() {
                s.handle_timeout(now);
            }
        }
        self.drain();
        true
    }

    /// Steps until `done` holds (panics after too many steps or a stall).
    fn run_until(&mut self, what: &str, mut done: impl FnMut(&mut Pair) -> bool) {
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            assert!(self.step(), "stalled before {what}");
        }
        panic!("never reached {what}");
    }
}

/// The names of the connection's heap parts that are allocated.
fn allocated_parts(conn: &Connection) -> BTreeSet<&'static str> {
    conn.heap_breakdown().into_iter().filter(|&(_, bytes)| bytes > 0).map(|(name, _)| name).collect()
}

/// Drops `conn` and checks that exactly `heap_memory()` bytes were freed;
/// returns the parts that were allocated.
fn drop_and_check(who: &str, conn: Connection) -> BTreeSet<&'static str> {
    let parts = allocated_parts(&conn);
    let reported = conn.heap_memory();
    let breakdown = conn.heap_breakdown();
    let before = live();
    drop(conn);
    let freed = before - live();
    assert_eq!(
        freed, reported as isize,
        "{who}: dropping freed {freed} B, heap_memory() says {reported} B: {breakdown:?}"
    );
    parts
}

/// Every part named by `heap_breakdown`.
fn all_parts() -> BTreeSet<&'static str> {
    let c = Connection::connect(
        Instant::ZERO,
        &ConnectionConfig::default(),
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 2),
        },
        SeqNum(0),
        0,
    );
    c.heap_breakdown().into_iter().map(|(name, _)| name).collect()
}

#[test]
fn heap_memory_is_what_dropping_frees() {
    let mut seen = BTreeSet::new();

    // A lossy CUBIC transfer with SACK, stopped while every part but the
    // event spill is allocated on one side or the other; each connection
    // has a configuration of its own.
    let cubic = ConnectionConfig { congestion: CongestionAlgorithm::Cubic, ..ConnectionConfig::default() };
    let mut p = Pair::new(cubic, true, |i| i % 29 == 11);
    let data = vec![0x5a_u8; 16 * 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let wanted: BTreeSet<&str> = all_parts().into_iter().filter(|&n| n != "event spill").collect();
    p.run_until("every part allocated in a lossy transfer", |p| {
        if p.client().state() == State::Established {
            while p.client().send(&data).is_ok_and(|n| n > 0) {}
        }
        if let Some(server) = p.server.as_mut() {
            while server.recv(&mut buf).is_ok_and(|n| n > 0) {}
        }
        let mut now: BTreeSet<&str> = allocated_parts(p.client.as_ref().expect("client exists"));
        if let Some(server) = &p.server {
            now.extend(allocated_parts(server));
        }
        now.is_superset(&wanted)
    });
    assert!(p.client().stats().retransmits > 0, "the lossy run retransmitted nothing");
    seen.extend(drop_and_check("lossy client", p.client.take().expect("client exists")));
    seen.extend(drop_and_check("lossy server", p.server.take().expect("server exists")));

    // A server whose application never polls events: Connected, Readable,
    // PeerFinished and, after the client aborts, Closed spill past the
    // inline queue. Both connections share the configuration.
    let mut p = Pair::new(ConnectionConfig::default(), false, |_| false);
    p.poll_server_events = false;
    p.run_until("established", |p| p.client().state() == State::Established && p.server.is_some());
    p.client().send(b"hello").expect("send");
    p.client().shutdown().expect("shutdown");
    p.run_until("the server has the FIN", |p| p.server().peer_finished());
    p.client().abort().expect("abort");
    p.run_until("the server is reset", |p| p.server().state() == State::Closed);
    let server = p.server.take().expect("server exists");
    assert!(allocated_parts(&server).contains("event spill"), "{:?}", server.heap_breakdown());
    seen.extend(drop_and_check("unpolled server", server));
    seen.extend(drop_and_check("aborted client", p.client.take().expect("client exists")));

    let missed: Vec<_> = all_parts().difference(&seen).copied().collect();
    assert!(missed.is_empty(), "parts never allocated in this test (it checks nothing about them): {missed:?}");
}
