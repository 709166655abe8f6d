//! Runs `sim_scenario` inputs outside libFuzzer, with timing and the
//! scenario's settings: `cargo run --release --example simone -- FILE...`.
fn main() {
    for arg in std::env::args().skip(1) {
        let data = std::fs::read(&arg).expect("readable input");
        let s = toytcp_sim::scenario_from_bytes(&data);
        eprintln!("{arg}:\n{}", s.describe());
        let t = std::time::Instant::now();
        let r = toytcp_sim::run(&s);
        match r {
            Ok(r) => eprintln!("ok in {:?}: end {} app bytes {} {:?}", t.elapsed(), r.end, r.app_bytes, r.world),
            Err(f) => eprintln!("FAILED in {:?}: {f}", t.elapsed()),
        }
    }
}
