//! Arbitrary bytes → `toytcp_core::wire::parse` never panics; every packet
//! that parses round-trips through `wire::emit`; ToyTCP and smoltcp agree
//! on what they accept and on every header field and option. The oracle
//! and its documented exclusions are in `toytcp_fuzz::wire_agree`; the
//! first input byte selects checksum repair (`toytcp_fuzz::run_segment_parse`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = toytcp_fuzz::run_segment_parse(data) {
        panic!("{e}");
    }
});
