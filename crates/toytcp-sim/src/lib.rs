//! ToyTCP's deterministic network simulator.
//!
//! A [`World`] holds [`Host`]s joined by links whose every fault — latency
//! and jitter, bandwidth and a drop-tail queue, MTU, random and burst loss,
//! duplication, reordering, corruption, partitions — is drawn from one
//! seed ([`LinkConfig`]). Virtual time jumps from event to event, so a run
//! of minutes of virtual time takes milliseconds and is the same on every
//! machine.
//!
//! On top of the world:
//! - [`ToyHost`]: a ToyTCP [`Endpoint`](toytcp_core::Endpoint) driven by
//!   application models ([`AppModel`]) that check every byte they receive;
//! - [`scripted::ScriptedHost`]: a ToyTCP endpoint run by arbitrary
//!   callback code ([`scripted::ScriptedApp`]) with an observer of every
//!   packet, state transition and event (what `toytcp-cli sim` runs);
//! - [`Scenario`]: all settings of a run, derived from a seed
//!   ([`Scenario::from_seed`]) or from fuzzer bytes
//!   ([`scenario_from_bytes`]), run by [`run`] / [`run_scenario`] with a
//!   safety phase (faults on) and a liveness phase (faults off, everything
//!   must finish and close);
//! - [`pcap`]: classic pcap output, readable by `tcpdump -r`;
//! - [`bench`](mod@bench): the dumbbell topology, packet tap and measurements of the
//!   loss-recovery benchmark (`benches/recovery.rs`).
//!
//! # Running
//!
//! ```text
//! cargo test --release -p toytcp-sim                     # everything; the swarm runs 200 seeds
//! TOYTCP_SEEDS=2000 cargo test --release -p toytcp-sim   # the CI criterion
//! TOYTCP_SEEDS=100000 cargo test --release -p toytcp-sim --test swarm -- --nocapture
//! TOYTCP_SEED_START=100000 TOYTCP_SEEDS=100000 …         # the next 100,000
//! TOYTCP_SEED=4725 cargo test --release -p toytcp-sim --test swarm -- --nocapture   # one seed, verbose
//! TOYTCP_PCAP=/tmp/caps TOYTCP_SEED=7 cargo test --release -p toytcp-sim --test swarm   # pcaps of a passing run
//! PROPTEST_CASES=1000 cargo test --release -p toytcp-sim --test proptest_sim
//! ```
//!
//! A failing seed prints its settings, both hosts' connections and
//! counters, the pcap paths (`…-link0.pcap` as delivered,
//! `…-link0-sent.pcap` as sent) and the command that reproduces it.
//!
//! Ideas from TigerBeetle's VOPR (one seed derives every setting; safety
//! then liveness) and str0m's netem (a sans-IO link model).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod app;
pub mod bench;
pub mod link;
pub mod pcap;
pub mod rng;
pub mod scenario;
pub mod scripted;
pub mod toyhost;
pub mod world;

pub use app::{AppModel, AppSpec};
pub use link::{GilbertElliott, LinkConfig, LinkStats};
pub use scenario::{Failure, Report, RunOptions, Scenario, run, run_scenario, run_with, scenario_from_bytes};
pub use toyhost::{CheckCost, ToyHost};
pub use world::{HostId, LinkId, SimError, Stop, World, WorldStats};

use core::net::Ipv4Addr;
use toytcp_core::Instant;

/// A host kind the [`World`] can drive: a ToyTCP endpoint with its
/// application model ([`ToyHost`]), or another stack (e.g. smoltcp in the
/// interop tests).
///
/// The world calls, for each input, `handle_packet` or `handle_timeout`,
/// then `poll_transmit` once (the host appends every packet it has), then
/// `check`; before choosing the next step it asks every host for
/// `poll_timeout`.
pub trait Host {
    /// The host's IPv4 address; packets to it are routed over its links.
    fn addr(&self) -> Ipv4Addr;
    /// A packet arrives from a link.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// The deadline returned by `poll_timeout` (or a later time) has come.
    fn handle_timeout(&mut self, now: Instant);
    /// Appends every IPv4 packet the host wants to send now.
    fn poll_transmit(&mut self, now: Instant, out: &mut Vec<Vec<u8>>);
    /// When `handle_timeout` must be called next, if ever.
    fn poll_timeout(&mut self) -> Option<Instant>;
    /// The application model has finished (and, for ToyTCP hosts, every
    /// connection has reached CLOSED).
    fn app_done(&self) -> bool;
    /// The host's invariants; the first violated one as an error. Called
    /// after every step, so a host may spread its costliest checks over
    /// several calls (as [`ToyHost`] does); [`check_all`](Self::check_all)
    /// checks everything at once.
    fn check(&self) -> Result<(), String>;
    /// Every invariant [`check`](Self::check) may defer, checked now (the
    /// end of a run).
    fn check_all(&self) -> Result<(), String> {
        self.check()
    }
    /// Packets dropped as malformed so far, for hosts that count them. The
    /// world checks that every corrupted packet delivered adds one.
    fn malformed_packets(&self) -> Option<u64> {
        None
    }
    /// A multi-line description of the host's state for failure reports
    /// (connections, their states and counters, application progress).
    fn describe(&self) -> String {
        format!("host {}", self.addr())
    }
}
