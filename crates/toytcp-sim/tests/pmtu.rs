//! Path MTU Discovery in the simulator: a link whose MTU is below what the
//! endpoints' MSS implies, answering oversized DF packets with ICMP
//! Fragmentation Needed like a router (RFC 1191 §4), and the same link
//! dropping them silently (a black hole, RFC 2923 §2.1).

use std::net::Ipv4Addr;
use toytcp_core::{ConnectionConfig, Duration};
use toytcp_sim::{AppModel, AppSpec, LinkConfig, Scenario, run};

/// Bulk both ways between two ToyTCP hosts (MSS 1460) over 1400-byte
/// links; `icmp` makes the links answer with Fragmentation Needed.
fn scenario(icmp: bool) -> Scenario {
    let mut s = Scenario::from_seed(7);
    let router = icmp.then_some(Ipv4Addr::new(10, 0, 0, 254));
    let link = LinkConfig { mtu: 1400, frag_needed_from: router, ..LinkConfig::default() };
    s.client_to_server = link.clone();
    s.server_to_client = link;
    s.client = ConnectionConfig::default();
    s.server = ConnectionConfig::default();
    s.fault_phase = Duration::from_secs(5);
    s.apps = vec![AppSpec {
        model: AppModel::Bulk { up: 1_000_000, down: 300_000 },
        port: 7000,
        start: Duration::ZERO,
        key: 0,
    }];
    s.liveness_bound = s.default_liveness_bound();
    s
}

#[test]
fn frag_needed_lets_a_bulk_transfer_through_a_smaller_link() {
    let report = run(&scenario(true)).unwrap_or_else(|f| panic!("{f}"));
    for (dir, l) in report.links.iter().enumerate() {
        assert!(l.frag_needed_sent >= 1, "direction {dir}: {l:?}");
        // One initial window at the old size (10 segments), then nothing
        // too big: the retransmissions went out at the new size at once.
        assert_eq!(l.dropped_mtu, l.frag_needed_sent, "direction {dir}: {l:?}");
        assert!(l.frag_needed_sent <= 20, "direction {dir}: {l:?}");
    }
}

#[test]
fn a_silent_mtu_drop_is_a_black_hole() {
    let failure = run(&scenario(false)).expect_err("full-size segments cannot cross without PMTUD");
    eprintln!("{failure}");
}
