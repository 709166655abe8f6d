//! Arbitrary bytes → a simulator scenario (links with loss, burst loss,
//! duplication, reordering, corruption and partitions; both endpoints' TCP
//! settings; application pairs) → every invariant of
//! `toytcp_sim::run`: sequence invariants and byte-exact delivery while
//! faults are on, every application finished and every connection closed
//! once they stop. A failure panics with the simulator's report (seed,
//! settings, host states, pcap paths).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(failure) = toytcp_fuzz::run_sim_scenario(data) {
        panic!("{failure}");
    }
});
