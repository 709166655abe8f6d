//! The swarm runner: many scenarios, every setting derived from the seed.
//!
//! - `TOYTCP_SEED=N` runs exactly scenario N (and prints its settings);
//! - `TOYTCP_SEEDS=N` runs seeds `TOYTCP_SEED_START..+N` (default 200 from 0);
//! - `TOYTCP_PCAP=dir` writes every run's pcaps there (failing runs are
//!   always written, by default under the temporary directory).
//!
//! A failure prints the seed, the settings, every host's state and the pcap
//! paths; the run ends with `N passed, N failed`.

use std::time::Instant as WallClock;
use toytcp_sim::{Scenario, run};

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse() {
        Ok(n) => Some(n),
        Err(e) => panic!("{name}={v:?} is not a number: {e}"),
    }
}

#[test]
fn swarm() {
    let started = WallClock::now();
    let seeds: Vec<u64> = match env_u64("TOYTCP_SEED") {
        Some(seed) => {
            eprintln!("{}", Scenario::from_seed(seed).describe());
            vec![seed]
        }
        None => {
            let start = env_u64("TOYTCP_SEED_START").unwrap_or(0);
            let n = env_u64("TOYTCP_SEEDS").unwrap_or(200);
            (start..start + n).collect()
        }
    };
    let (mut passed, mut failed) = (0u64, Vec::new());
    let mut virtual_secs = 0u64;
    let mut bytes = 0u64;
    let mut slowest = (0u64, 0f64);
    let mut faults = [0u64; 7];
    let mut faulty_runs = 0u64;
    let mut corrupted = 0u64;
    for (i, &seed) in seeds.iter().enumerate() {
        if i > 0 && i % 1000 == 0 {
            eprintln!(
                "swarm: {i} seeds done in {:.0} s, {} failed so far: {failed:?}",
                started.elapsed().as_secs_f64(),
                failed.len()
            );
        }
        let t0 = WallClock::now();
        let outcome = run(&Scenario::from_seed(seed));
        let secs = t0.elapsed().as_secs_f64();
        if secs > slowest.1 {
            slowest = (seed, secs);
        }
        match outcome {
            Ok(report) => {
                passed += 1;
                for l in &report.links {
                    faults[0] += l.dropped_loss;
                    faults[1] += l.dropped_burst;
                    faults[2] += l.dropped_partition;
                    faults[3] += l.dropped_queue;
                    faults[4] += l.duplicated;
                    faults[5] += l.reordered;
                    faults[6] += l.corrupted;
                }
                faulty_runs += u64::from(report.links.iter().any(|l| l.delivered != l.sent));
                corrupted += report.world.corrupted_delivered;
                virtual_secs += report.end.as_millis() / 1000;
                bytes += report.app_bytes;
            }
            Err(failure) => {
                eprintln!("{failure}\n");
                failed.push(seed);
            }
        }
    }
    eprintln!(
        "swarm: {} seeds in {:.1} s wall (slowest: seed {} {:.2} s), {} s virtual, {} application bytes; failed seeds: {:?}",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        slowest.0,
        slowest.1,
        virtual_secs,
        bytes,
        failed
    );
    eprintln!(
        "swarm: faults in passed runs: lost {} (burst {}, partition {}, queue {}), duplicated {}, reordered {}, \
         corrupted {} ({} delivered, all rejected); {} of {} runs had links that did not deliver exactly the packets sent",
        faults[0], faults[1], faults[2], faults[3], faults[4], faults[5], faults[6], corrupted, faulty_runs, passed
    );
    eprintln!("{passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "{} of {} seeds failed: {failed:?}", failed.len(), seeds.len());
}

/// Seeds that once failed, with what they caught; run on every
/// `cargo test`, whatever `TOYTCP_SEEDS` says.
const REGRESSION_SEEDS: &[(u64, &str)] = &[
    (
        101606,
        "NewReno without SACK or timestamps after a go-back-N RTO: every later loss below `recover` \
     waited for the 60 s backed-off RTO (fixed by the RFC 6582 §4.2 ACK heuristic)",
    ),
    (
        102675,
        "simultaneous open with window scaling and ~170-byte buffers: the SYN-ACK's window was scaled \
     (RFC 7323 §2.2 says never), both ends sent past the other's window and then traded \
     out-of-window ACKs forever",
    ),
];

#[test]
fn regression_seeds() {
    for &(seed, what) in REGRESSION_SEEDS {
        if let Err(e) = run(&Scenario::from_seed(seed)) {
            panic!("seed {seed} failed again ({what}): {e}");
        }
    }
}
