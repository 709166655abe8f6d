//! A run is a pure function of its seed: the same seed gives the same
//! packet trace (every delivery's time, link, direction and bytes hashed),
//! different seeds give different traces.

use toytcp_sim::{Scenario, run_scenario};

#[test]
fn same_seed_same_trace() {
    for seed in [1u64, 7, 42, 1234] {
        let a = run_scenario(seed).unwrap_or_else(|f| panic!("{f}"));
        let b = run_scenario(seed).unwrap_or_else(|f| panic!("{f}"));
        assert!(a.world.deliveries > 0, "seed {seed}: nothing delivered");
        assert_eq!(a, b, "seed {seed} gave two different runs");
    }
}

#[test]
fn different_seeds_different_traces() {
    let hashes: Vec<u64> =
        (100u64..110).map(|s| run_scenario(s).unwrap_or_else(|f| panic!("{f}")).trace_hash).collect();
    let mut unique = hashes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), hashes.len(), "{hashes:x?}");
}

#[test]
fn the_seed_alone_changes_the_trace() {
    // Same settings, different seed: the links' random streams and the
    // endpoints' ISNs differ, so the packets do.
    let mut s = Scenario::from_seed(5);
    let a = toytcp_sim::run(&s).unwrap_or_else(|f| panic!("{f}"));
    s.seed = 6;
    let b = toytcp_sim::run(&s).unwrap_or_else(|f| panic!("{f}"));
    assert_ne!(a.trace_hash, b.trace_hash);
}

#[test]
fn scenarios_from_bytes_are_deterministic_and_total() {
    for data in [&[][..], &[0xff; 64][..], b"some fuzzer input of no particular shape"] {
        let s = toytcp_sim::scenario_from_bytes(data);
        assert_eq!(s, toytcp_sim::scenario_from_bytes(data));
        assert!(!s.apps.is_empty());
    }
    // The empty input is the simplest scenario: no faults at all.
    let s = toytcp_sim::scenario_from_bytes(&[]);
    assert_eq!(s.client_to_server.loss, 0.0);
    assert!(s.client_to_server.partitions.is_empty());
    toytcp_sim::run(&s).unwrap_or_else(|f| panic!("{f}"));
}
