//! Support code for ToyTCP's cargo-fuzz targets (`fuzz_targets/`), kept in
//! a library so that it can be unit-tested on the stable toolchain
//! (`cargo test` in `fuzz/`) and shared with the seed-corpus generator.
//!
//! - [`wire_agree`]: the `segment_parse` oracle (ToyTCP's parser against
//!   its emitter and against smoltcp).
//! - [`conn`]: the `connection` target's two-endpoint world.
//! - [`encode`], [`seeds`]: the committed seed corpus.

pub mod checksum;
pub mod conn;
pub mod encode;
pub mod seeds;
pub mod wire_agree;

/// The `segment_parse` target's body: the first byte is a mode
/// ([`seeds::FIX_IP_CHECKSUM`], [`seeds::FIX_TCP_CHECKSUM`]: repair that
/// checksum so the fuzzer can reach the checks behind it), the rest is the
/// packet. Returns whether ToyTCP accepted the packet, or the disagreement
/// found.
pub fn run_segment_parse(data: &[u8]) -> Result<bool, String> {
    let Some((&mode, packet)) = data.split_first() else { return Ok(false) };
    let mut packet = packet.to_vec();
    fix_and_check(mode, &mut packet)
}

fn fix_and_check(mode: u8, packet: &mut [u8]) -> Result<bool, String> {
    checksum::fix_checksums(packet, mode & seeds::FIX_IP_CHECKSUM != 0, mode & seeds::FIX_TCP_CHECKSUM != 0);
    wire_agree::check(packet)
        .map(|v| v.is_ok())
        .map_err(|e| format!("{e}\npacket ({} bytes): {packet:02x?}", packet.len()))
}

/// The `sim_scenario` target's body: the bytes become a simulator
/// scenario (`toytcp_sim::scenario_from_bytes`: the first 8 bytes seed the
/// links' randomness, the rest choose links, faults, TCP settings and
/// applications), which must run with every invariant holding
/// (`toytcp_sim::run`: sequence invariants and byte-exact delivery in a
/// safety phase with faults, every application finished and every
/// connection closed in a liveness phase without).
pub fn run_sim_scenario(data: &[u8]) -> Result<toytcp_sim::Report, toytcp_sim::Failure> {
    toytcp_sim::run(&toytcp_sim::scenario_from_bytes(data))
}
