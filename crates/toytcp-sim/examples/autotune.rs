//! Buffer autotuning measurement (docs/notes/autotune.md): one ToyTCP →
//! ToyTCP bulk flow over the dumbbell of [`toytcp_sim::bench`] (100 Mbit/s,
//! a drop-tail queue of one bandwidth-delay product, no loss) with the
//! core's default `ConnectionConfig` at both ends — no explicit buffer
//! sizes — and, for comparison, with one or both buffers pinned at
//! 256 KiB (the default starting size; the ceiling set to it).
//! Prints goodput over the whole run and over its second half.
//!
//! `cargo run --release -p toytcp-sim --example autotune -- [SECS]`

use toytcp_core::config::ConnectionConfig;
use toytcp_core::{Duration, EndpointConfig};
use toytcp_sim::app::Role;
use toytcp_sim::bench::{self, Dumbbell, FlowSpec, PathConfig, RECEIVER_ADDR, Shared, sender_addr};
use toytcp_sim::toyhost::ToyHost;

/// Goodput in Mbit/s of one flow: (whole run, second half).
fn run(rtt_ms: u64, secs: u64, connection: &ConnectionConfig) -> (f64, f64) {
    let seed = 7;
    let mut path = PathConfig { rtt: Duration::from_millis(rtt_ms), ..PathConfig::issue5() };
    path.queue_bytes = path.bdp_bytes() as usize;
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
    db.add_sender(Box::new(sender));
    let h = receiver.clone();
    let probe: bench::Probe = Box::new(move || h.0.borrow().tasks().first().map_or(0, |t| t.received));
    let half = Duration::from_secs(secs / 2);
    let first = bench::measure(&mut db, std::slice::from_ref(&probe), Duration::ZERO, half).expect("run");
    let second = bench::measure(&mut db, std::slice::from_ref(&probe), half, Duration::from_secs(secs)).expect("run");
    let mbps = |bytes: u64, span: Duration| bench::bits_per_second(bytes, span) / 1e6;
    (mbps(first[0] + second[0], Duration::from_secs(secs)), mbps(second[0], Duration::from_secs(secs) - half))
}

fn main() {
    let secs: u64 = std::env::args().nth(1).map_or(10, |s| s.parse().expect("SECS"));
    let default = ConnectionConfig::default();
    let kib256 = 256 * 1024;
    let pinned = ConnectionConfig { send_buffer_max: kib256, recv_buffer_max: kib256, ..ConnectionConfig::default() };
    let send_pinned = ConnectionConfig { send_buffer_max: kib256, ..ConnectionConfig::default() };
    let recv_pinned = ConnectionConfig { recv_buffer_max: kib256, ..ConnectionConfig::default() };
    println!("| RTT | config | goodput 0–{secs} s (Mbit/s) | second half (Mbit/s) |");
    println!("|---|---|---|---|");
    for rtt in [20, 40] {
        for (label, c) in [
            ("default (autotuning)", &default),
            ("both buffers pinned at 256 KiB", &pinned),
            ("send buffer pinned", &send_pinned),
            ("receive buffer pinned", &recv_pinned),
        ] {
            let (all, tail) = run(rtt, secs, c);
            println!("| {rtt} ms | {label} | {all:.1} | {tail:.1} |");
        }
    }
}
