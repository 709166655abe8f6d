//! ToyTCP against smoltcp inside the simulator's [`World`]: a smoltcp host
//! kind (`tests/common/smol_bulk.rs`, running the [`AppModel::Bulk`]
//! application) faces a [`ToyHost`] over the world's links, so the interop
//! runs see real latency and the links' seeded faults.
//!
//! Both directions (ToyTCP client → smoltcp server, smoltcp client →
//! ToyTCP server), 10 MB each way at once, byte-exact against the sim's
//! keyed patterns, graceful close; clean and with 2 % random loss each way
//! in a safety phase, then a fault-free liveness phase that must finish.

mod common;

use common::smol_bulk::{BulkSpec, Open, SmolBulkHost, Stream};
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{Duration, EndpointConfig, Instant};
use toytcp_sim::app::Role;
use toytcp_sim::rng::mix64;
use toytcp_sim::{AppModel, AppSpec, HostId, LinkConfig, LinkId, Stop, ToyHost, World};

const TOY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 8080;
const MB10: u64 = 10_000_000;

/// The smoltcp side of the [`AppModel::Bulk`] pair `spec` in `role`: send
/// our stream, close (FIN), read the peer's stream to its end, checking
/// every byte with the same keyed patterns as the ToyTCP application models.
fn smol_bulk(role: Role, spec: &AppSpec) -> SmolBulkHost {
    let AppModel::Bulk { up, down } = spec.model else { panic!("only the bulk model is implemented") };
    let client = Stream { key: mix64(spec.key ^ 1), total: up };
    let server = Stream { key: mix64(spec.key ^ 2), total: down };
    let (open, tx, rx) = match role {
        Role::Client => {
            (Open::Connect { remote: SocketAddrV4::new(TOY, spec.port), local_port: 50000 }, client, server)
        }
        Role::Server => (Open::Listen { port: spec.port }, server, client),
    };
    SmolBulkHost::new(BulkSpec { tx: Some(tx), rx: Some(rx), ..BulkSpec::new(SMOL, open) })
}

/// Builds the world, runs a safety phase with `loss` on both directions and
/// a fault-free liveness phase, and checks that both sides finished.
fn run(toy_role: Role, loss: f64, seed: u64) {
    let spec = AppSpec { model: AppModel::Bulk { up: MB10, down: MB10 }, port: PORT, start: Duration::ZERO, key: seed };
    let smol_role = if toy_role == Role::Client { Role::Server } else { Role::Client };
    let mut world = World::new(seed);
    let config = EndpointConfig { seed, ..EndpointConfig::default() };
    let toy =
        world.add_host(Box::new(ToyHost::new("toytcp", TOY, SMOL, config, std::slice::from_ref(&spec), toy_role)));
    let smol = world.add_host(Box::new(smol_bulk(smol_role, &spec)));
    let link = LinkConfig { latency: Duration::from_millis(5), loss, ..LinkConfig::default() };
    world.connect(toy, smol, link.clone(), link);
    let fault_end = Instant::ZERO + Duration::from_secs(1800);
    let describe =
        |w: &World| format!("{}{}{:?}", w.host(HostId(0)).describe(), w.host(HostId(1)).describe(), w.stats());
    if let Err(e) = world.run_until(fault_end, World::all_done) {
        panic!("safety phase: {e}\n{}", describe(&world));
    }
    world.set_faults(false);
    let stop = world.run_until(fault_end + Duration::from_secs(600), World::all_done);
    match stop {
        Ok(Stop::Predicate) => {}
        other => panic!("liveness phase: {other:?}\n{}", describe(&world)),
    }
    let links = [world.link_stats(LinkId(0), 0), world.link_stats(LinkId(0), 1)];
    let dropped: u64 = links.iter().map(|l| l.dropped_loss).sum();
    let sent: u64 = links.iter().map(|l| l.sent).sum();
    eprintln!("ToyTCP {toy_role:?}, loss {loss}: finished at {}: {sent} packets, {dropped} lost", world.now());
    assert_eq!(dropped > 0, loss > 0.0, "loss {loss} but {dropped} packets lost");
    assert!(links.iter().all(|l| l.dropped_mtu == 0), "a packet exceeded the MTU: {links:?}");
}

#[test]
fn world_toytcp_client_to_smoltcp_server() {
    run(Role::Client, 0.0, 11);
}

#[test]
fn world_smoltcp_client_to_toytcp_server() {
    run(Role::Server, 0.0, 12);
}

#[test]
fn world_toytcp_client_to_smoltcp_server_2_percent_loss() {
    run(Role::Client, 0.02, 13);
}

#[test]
fn world_smoltcp_client_to_toytcp_server_2_percent_loss() {
    run(Role::Server, 0.02, 14);
}
