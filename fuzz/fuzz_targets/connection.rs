//! An arbitrary sequence of deliveries, losses, duplications, reorderings,
//! bit flips, forged segments, clock jumps and application calls against a
//! client and a server endpoint: no panic, and every connection's sequence
//! invariants hold after every step (`toytcp_fuzz::conn`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use toytcp_fuzz::conn::{Input, World};

fuzz_target!(|data: &[u8]| {
    World::run(&Input::decode(data));
});
