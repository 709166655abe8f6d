//! ToyTCP against smoltcp inside the simulator's [`World`]: a smoltcp host
//! kind (implementing [`Host`], with the [`AppModel::Bulk`] application
//! built in) faces a [`ToyHost`] over the world's links, so the interop
//! runs see real latency and the links' seeded faults.
//!
//! Both directions (ToyTCP client → smoltcp server, smoltcp client →
//! ToyTCP server), 10 MB each way at once, byte-exact against the sim's
//! keyed patterns, graceful close; clean and with 2 % random loss each way
//! in a safety phase, then a fault-free liveness phase that must finish.

mod common;

use common::smol::{PacketPool, SmolHost};
use smoltcp::socket::tcp;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::{Duration, EndpointConfig, Instant};
use toytcp_sim::app::{Role, check_pattern, fill_pattern};
use toytcp_sim::rng::mix64;
use toytcp_sim::{AppModel, AppSpec, Host, HostId, LinkConfig, LinkId, Stop, ToyHost, World};

const TOY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SMOL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const PORT: u16 = 8080;
const MB10: u64 = 10_000_000;

/// A smoltcp interface and socket running one side of an
/// [`AppModel::Bulk`] pair: send our stream, close (FIN), read the peer's
/// stream to its end, checking every byte with the same keyed patterns as
/// the ToyTCP application models.
struct SmolBulkHost {
    smol: SmolHost,
    role: Role,
    tx_key: u64,
    rx_key: u64,
    tx_total: u64,
    rx_total: u64,
    sent: u64,
    received: u64,
    closed_write: bool,
    eof: bool,
    error: Option<String>,
    now: Instant,
    buf: Vec<u8>,
}

impl SmolBulkHost {
    fn new(role: Role, spec: &AppSpec) -> Self {
        let AppModel::Bulk { up, down } = spec.model else { panic!("only the bulk model is implemented") };
        let now = Instant::ZERO;
        let mut smol = SmolHost::new(now, SMOL, 1500, 64 * 1024, PacketPool::default());
        let (client_key, server_key) = (mix64(spec.key ^ 1), mix64(spec.key ^ 2));
        let (tx_key, rx_key, tx_total, rx_total) = match role {
            Role::Client => {
                smol.connect(SocketAddrV4::new(TOY, spec.port), 50000);
                (client_key, server_key, up, down)
            }
            Role::Server => {
                smol.listen(spec.port);
                (server_key, client_key, down, up)
            }
        };
        SmolBulkHost {
            smol,
            role,
            tx_key,
            rx_key,
            tx_total,
            rx_total,
            sent: 0,
            received: 0,
            closed_write: false,
            eof: false,
            error: None,
            now,
            buf: vec![0; 16 * 1024],
        }
    }

    /// The application: write, close when all is written, read and check.
    fn app(&mut self) -> bool {
        let mut progress = false;
        let s = self.smol.socket();
        while self.sent < self.tx_total && s.can_send() {
            let n = (self.tx_total - self.sent).min(self.buf.len() as u64) as usize;
            fill_pattern(self.tx_key, self.sent, &mut self.buf[..n]);
            match s.send_slice(&self.buf[..n]) {
                Ok(0) => break,
                Ok(n) => {
                    self.sent += n as u64;
                    progress = true;
                }
                Err(e) => {
                    self.error.get_or_insert(format!("smoltcp send: {e}"));
                    break;
                }
            }
        }
        if self.sent == self.tx_total && !self.closed_write && s.may_send() {
            s.close();
            self.closed_write = true;
            progress = true;
        }
        while !self.eof {
            match s.recv_slice(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(at) = check_pattern(self.rx_key, self.received, &self.buf[..n]) {
                        self.error.get_or_insert(format!("smoltcp received a wrong byte at offset {at}"));
                    }
                    self.received += n as u64;
                    progress = true;
                }
                Err(tcp::RecvError::Finished) => {
                    if self.received != self.rx_total {
                        self.error.get_or_insert(format!(
                            "smoltcp: end of stream after {} of {} bytes",
                            self.received, self.rx_total
                        ));
                    }
                    self.eof = true;
                    progress = true;
                }
                Err(tcp::RecvError::InvalidState) => break,
            }
        }
        progress
    }

    /// Runs interface and application until neither moves.
    fn drive(&mut self, now: Instant) {
        self.now = now;
        for _ in 0..1000 {
            let progress = self.app();
            self.smol.poll(now);
            if !progress {
                return;
            }
        }
        self.error.get_or_insert_with(|| "smoltcp application still busy after 1000 rounds".into());
    }
}

impl Host for SmolBulkHost {
    fn addr(&self) -> Ipv4Addr {
        self.smol.addr()
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.smol.deliver(packet.to_vec());
        self.drive(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.drive(now);
    }

    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>) {
        self.drive(now);
        while let Some(p) = self.smol.take_tx() {
            out.push(p);
        }
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        // Never ask to be woken at or before the present again: smoltcp
        // answers "now" while it has something queued, which one more
        // `drive` at the next microsecond settles.
        let now = self.now;
        self.smol.poll_at(now).map(|t| t.max(now + Duration::from_micros(1)))
    }

    fn app_done(&self) -> bool {
        // TIME-WAIT counts as done: smoltcp leaves it on its own timer.
        self.eof && self.closed_write && matches!(self.smol.state(), tcp::State::Closed | tcp::State::TimeWait)
    }

    fn check(&self) -> Result<(), String> {
        match &self.error {
            Some(e) => Err(format!("smoltcp {:?}: {e}", self.role)),
            None => Ok(()),
        }
    }

    fn describe(&self) -> String {
        format!(
            "smoltcp {:?} at {}: {} of {} bytes sent, closed {}, {} of {} received, eof {}, socket {}\n",
            self.role,
            self.smol.addr(),
            self.sent,
            self.tx_total,
            self.closed_write,
            self.received,
            self.rx_total,
            self.eof,
            self.smol.state()
        )
    }
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
    let smol = world.add_host(Box::new(SmolBulkHost::new(smol_role, &spec)));
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
