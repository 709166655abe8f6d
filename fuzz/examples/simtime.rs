//! Times `sim_scenario` units outside libFuzzer to find slow ones:
//!
//! ```text
//! cargo run --release --example simtime -- [--min-ms MS] [--random N] [--seeds N [--top K]] [--seed S] PATH...
//! ```
//!
//! PATH: input files or directories of them (e.g. `corpus/sim_scenario`,
//! `target/work/sim_scenario`); `--random N` adds N random inputs of
//! 16–1024 bytes; `--seeds N` generates N scenarios from 4096 random bytes
//! each and runs the K (default 20) with the most segments of the smaller
//! MSS to send. Random bytes come from a xorshift stream seeded by `--seed`.
//! Prints every unit slower than `--min-ms` (default 500) or failing, with
//! its settings and counters, then the ten slowest. (Release build without
//! the fuzzer's instrumentation: a unit runs several times faster here.)
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let mut inputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut min_ms = 500u64;
    let mut random = 0usize;
    let mut rseed = 0x9e37_79b9_7f4a_7c15u64;
    let mut seeds = 0u64;
    let mut top = 20usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--random" => random = args.next().and_then(|n| n.parse().ok()).expect("--random N"),
            "--min-ms" => min_ms = args.next().and_then(|n| n.parse().ok()).expect("--min-ms MS"),
            "--seeds" => seeds = args.next().and_then(|n| n.parse().ok()).expect("--seeds N"),
            "--top" => top = args.next().and_then(|n| n.parse().ok()).expect("--top N"),
            "--seed" => rseed = args.next().and_then(|n| n.parse().ok()).expect("--seed S"),
            path => {
                let p = std::path::Path::new(path);
                if p.is_dir() {
                    let mut entries: Vec<_> =
                        std::fs::read_dir(p).expect("readable dir").flatten().map(|e| e.path()).collect();
                    entries.sort();
                    for e in entries {
                        inputs.push((e.display().to_string(), std::fs::read(&e).expect("readable input")));
                    }
                } else {
                    inputs.push((path.to_string(), std::fs::read(p).expect("readable input")));
                }
            }
        }
    }
    let mut x = rseed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..random {
        let len = 16 + (next() % 1009) as usize;
        let bytes = (0..len).map(|_| next() as u8).collect();
        inputs.push((format!("random-{i}"), bytes));
    }
    // Scenarios as the generator draws them (random bytes long enough to
    // never run out), ranked by a crude cost: segments of the smaller MSS.
    let mut scenarios: Vec<(String, toytcp_sim::Scenario)> =
        inputs.iter().map(|(n, d)| (n.clone(), toytcp_sim::scenario_from_bytes(d))).collect();
    if seeds > 0 {
        let mut ranked: Vec<(u64, toytcp_sim::Scenario)> = (0..seeds)
            .map(|_| {
                let bytes: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
                let s = toytcp_sim::scenario_from_bytes(&bytes);
                let bytes: u64 = s.apps.iter().map(|a| a.model.client_total() + a.model.server_total()).sum();
                (bytes / u64::from(s.client.mss.min(s.server.mss)), s)
            })
            .collect();
        ranked.sort_by_key(|(c, _)| std::cmp::Reverse(*c));
        for (c, s) in ranked.into_iter().take(top) {
            scenarios.push((format!("seed-{}-segs-{c}", s.seed), s));
        }
    }
    let mut times: Vec<(Duration, String)> = Vec::new();
    let total = Instant::now();
    for (name, s) in &scenarios {
        let t = Instant::now();
        let r = toytcp_sim::run(s);
        let el = t.elapsed();
        if el >= Duration::from_millis(min_ms) || r.is_err() {
            match &r {
                Ok(r) => println!(
                    "SLOW {name} {el:?}: end {} app bytes {} {:?} links {:?}\n{}",
                    r.end,
                    r.app_bytes,
                    r.world,
                    r.links,
                    s.describe()
                ),
                Err(f) => println!("FAILED {name} {el:?}: {f}"),
            }
        }
        times.push((el, name.clone()));
    }
    times.sort();
    println!("{} units in {:?}; slowest:", times.len(), total.elapsed());
    for (d, n) in times.iter().rev().take(10) {
        println!("  {d:?} {n}");
    }
}
