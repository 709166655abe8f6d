//! Runs `connection` inputs outside libFuzzer and prints the decoded
//! input first: `cargo run --example connone -- FILE...`. Set
//! `RUST_LOG=debug`-style tracing yourself if needed; this only decodes
//! and runs.
fn main() {
    for arg in std::env::args().skip(1) {
        let data = std::fs::read(&arg).expect("readable input");
        let input = toytcp_fuzz::conn::Input::decode(&data);
        eprintln!("{arg}: {:?}", input.setup);
        for (i, op) in input.ops.iter().enumerate() {
            eprintln!("  {i:3} {op:?}");
        }
        let w = toytcp_fuzz::conn::World::run(&input);
        eprintln!("ok: {:?}, states {:?}", w.totals(), w.states());
    }
}
