//! Buffer autotuning measurement (docs/notes/autotune.md): one ToyTCP →
//! ToyTCP bulk flow over the dumbbell of [`toytcp_sim::bench`] (100 Mbit/s,
//! a drop-tail queue of one bandwidth-delay product, no loss unless asked) with the
//! core's default `ConnectionConfig` at both ends — no explicit buffer
//! sizes — and, for comparison, with one or both buffers pinned at
//! 256 KiB (the default starting size; the ceiling set to it).
//! Prints goodput over the whole run and over its second half, and the
//! buffers at the end.
//!
//! `cargo run --release -p toytcp-sim --example autotune -- [SECS] [LOSS]`
//! (LOSS: random loss probability per data packet, default 0).

use toytcp_core::config::ConnectionConfig;
use toytcp_core::{Duration, EndpointConfig};
use toytcp_sim::app::Role;
use toytcp_sim::bench::{self, Dumbbell, FlowSpec, PathConfig, RECEIVER_ADDR, Shared, sender_addr};
use toytcp_sim::toyhost::ToyHost;

/// What one run measured.
struct Row {
    /// Goodput in Mbit/s over the whole run and over its second half.
    all: f64,
    tail: f64,
    /// At the end: the receiver's advertised window and buffer storage,
    /// the sender's send-buffer size (queued + room) and storage.
    rcv_wnd: u32,
    recv_mem: usize,
    send_buf: usize,
    send_mem: usize,
}

/// The connection of a host's first task.
fn conn_of(host: &Shared<ToyHost>) -> (u32, usize, usize) {
    let h = host.0.borrow();
    let handle = h.tasks().first().and_then(|t| t.handle).expect("connected");
    let c = h.endpoint().connection(handle).expect("open");
    (c.stats().rcv_wnd, c.buffer_memory(), c.send_queued() + c.send_capacity())
}

/// One flow for `secs` of virtual time.
fn run(rtt_ms: u64, secs: u64, loss: f64, connection: &ConnectionConfig) -> Row {
    let seed = 7;
    let mut path = PathConfig { rtt: Duration::from_millis(rtt_ms), ..PathConfig::issue5() };
    path.queue_bytes = path.bdp_bytes() as usize;
    path.loss = loss;
    let mut db = Dumbbell::new(seed, path);
    let flow = FlowSpec { congestion: connection.congestion, start: Duration::ZERO, bytes: None };
    let app = bench::flow_app(0, &flow, seed);
    let config = |s: u64| EndpointConfig { seed: s, connection: connection.clone(), ..EndpointConfig::default() };
    let receiver = Shared::new(ToyHost::new(
        "receiver",
        RECEIVER_ADDR,
        sender_addr(0),
        config(seed ^ 0x5eed),
        std::slice::from_ref(&app),
        Role::Server,
    ));
    let sender =
        Shared::new(ToyHost::new("sender0", sender_addr(0), RECEIVER_ADDR, config(seed + 1), &[app], Role::Client));
    db.set_receiver(Box::new(receiver.clone()));
    db.add_sender(Box::new(sender.clone()));
    let h = receiver.clone();
    let probe: bench::Probe = Box::new(move || h.0.borrow().tasks().first().map_or(0, |t| t.received));
    let half = Duration::from_secs(secs / 2);
    let first = bench::measure(&mut db, std::slice::from_ref(&probe), Duration::ZERO, half).expect("run");
    let second = bench::measure(&mut db, std::slice::from_ref(&probe), half, Duration::from_secs(secs)).expect("run");
    let mbps = |bytes: u64, span: Duration| bench::bits_per_second(bytes, span) / 1e6;
    let (rcv_wnd, recv_mem, _) = conn_of(&receiver);
    let (_, send_mem, send_buf) = conn_of(&sender);
    Row {
        all: mbps(first[0] + second[0], Duration::from_secs(secs)),
        tail: mbps(second[0], Duration::from_secs(secs) - half),
        rcv_wnd,
        recv_mem,
        send_buf,
        send_mem,
    }
}

fn main() {
    let secs: u64 = std::env::args().nth(1).map_or(10, |s| s.parse().expect("SECS"));
    let loss: f64 = std::env::args().nth(2).map_or(0.0, |s| s.parse().expect("LOSS (a probability)"));
    let default = ConnectionConfig::default();
    let kib256 = 256 * 1024;
    let pinned = ConnectionConfig { send_buffer_max: kib256, recv_buffer_max: kib256, ..ConnectionConfig::default() };
    let send_pinned = ConnectionConfig { send_buffer_max: kib256, ..ConnectionConfig::default() };
    let recv_pinned = ConnectionConfig { recv_buffer_max: kib256, ..ConnectionConfig::default() };
    println!(
        "| RTT | config | goodput 0–{secs} s (Mbit/s) | second half (Mbit/s) | receiver: window at end | \
         receiver: buffer storage | sender: send buffer | sender: buffer storage |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for rtt in [20, 40] {
        for (label, c) in [
            ("default (autotuning)", &default),
            ("both buffers pinned at 256 KiB", &pinned),
            ("send buffer pinned", &send_pinned),
            ("receive buffer pinned", &recv_pinned),
        ] {
            let r = run(rtt, secs, loss, c);
            println!(
                "| {rtt} ms | {label} | {:.1} | {:.1} | {} | {} | {} | {} |",
                r.all, r.tail, r.rcv_wnd, r.recv_mem, r.send_buf, r.send_mem
            );
        }
    }
}
