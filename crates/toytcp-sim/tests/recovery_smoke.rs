//! Smoke test of the loss-recovery benchmark (`benches/recovery.rs`): the
//! same harness code (`tests/common/recovery.rs`, `toytcp_sim::bench`) on
//! a small path — 10 Mbit/s, 20 ms RTT, a one-BDP queue — so that CI
//! compiles and exercises it. It checks sanity, not the benchmark's
//! performance targets: every byte arrives in order (each one is checked
//! against the sender's pattern by the receiving application), goodput is
//! positive and below the bottleneck rate, the packet tap's counts agree
//! with each other and with the link's.

mod common;

use common::recovery::{Stack, run_shared, run_single, toytcp_cubic};
use toytcp_core::Duration;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_sim::bench::{self, PathConfig};

/// 10 Mbit/s, 20 ms RTT, 25,000-byte queue (one BDP), MTU 1500.
fn small_path() -> PathConfig {
    let mut p = PathConfig { rate_bps: 10_000_000, ..PathConfig::issue5() };
    p.queue_bytes = p.bdp_bytes() as usize;
    p
}

fn stacks() -> Vec<Stack> {
    let mut v: Vec<Stack> = toytcp_cubic().into_iter().map(Stack::ToyTcp).collect();
    v.extend([Stack::ToyTcp(CongestionAlgorithm::NewReno), Stack::Smoltcp, Stack::SmoltcpToToyTcp]);
    v
}

#[test]
fn every_stack_delivers_a_finite_transfer_in_order_through_loss() {
    let path = PathConfig { loss: 0.01, ..small_path() };
    let total = 1_000_000;
    for stack in stacks() {
        let o = run_single(stack, &path, 3, Duration::from_secs(60), Some(total)).unwrap_or_else(|e| panic!("{e}"));
        let label = stack.label();
        assert_eq!(o.bytes, total, "{label}: {o:?}");
        assert_eq!(o.tap.in_order(), total, "{label}: the tap saw a different stream: {:?}", o.tap);
        assert!(o.data_link.dropped_loss > 0, "{label}: 1 % loss dropped nothing: {:?}", o.data_link);
        // Every lost data packet must have been sent again.
        assert!(o.tap.retransmits_sent > 0, "{label}: {:?}", o.tap);
        assert!(o.tap.segments_sent >= o.tap.segments_delivered, "{label}: {:?}", o.tap);
        assert!(o.tap.spurious_segments <= o.tap.retransmits_sent, "{label}: {:?}", o.tap);
    }
}

#[test]
fn unlimited_senders_fill_part_of_the_bottleneck_and_no_more() {
    let path = small_path();
    let span = Duration::from_secs(2);
    for stack in stacks() {
        let o = run_single(stack, &path, 5, span, None).unwrap_or_else(|e| panic!("{e}"));
        let label = stack.label();
        let bps = o.goodput_bps();
        assert!(bps > 0.0 && bps < path.rate_bps as f64, "{label}: {bps} bit/s over a {} bit/s path", path.rate_bps);
        // The application reads what arrived in order, and nothing beyond.
        assert!(o.bytes <= o.tap.in_order(), "{label}: app {} > wire {}", o.bytes, o.tap.in_order());
        assert_eq!(o.data_link.dropped_loss, 0, "{label}");
        // No random loss, but slow start overflows the queue: what is
        // resent must have been sent before, and a spurious retransmission
        // (go-back-N resends delivered data) is still a retransmission.
        assert!(o.tap.spurious_segments <= o.tap.retransmits_sent, "{label}: {:?}", o.tap);
    }
}

#[test]
fn reordering_is_applied_and_spurious_retransmissions_are_bounded_by_retransmissions() {
    let path = PathConfig { reorder: 0.1, reorder_delay: Duration::from_millis(10), ..small_path() };
    let o = run_single(Stack::ToyTcp(CongestionAlgorithm::NewReno), &path, 7, Duration::from_secs(3), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let s = o.data_link;
    assert!(s.reordered * 20 > s.sent && s.reordered * 5 < s.sent, "about 10 % held back: {s:?}");
    assert_eq!(s.dropped_loss, 0);
    assert!(o.tap.spurious_segments <= o.tap.retransmits_sent, "{:?}", o.tap);
    assert!(o.tap.duplicate_bytes >= o.tap.spurious_segments, "{:?}", o.tap);
    assert!(o.bytes > 0);
}

#[test]
fn flows_share_the_bottleneck_and_jain_reads_their_shares() {
    let path = small_path();
    let algs = [CongestionAlgorithm::NewReno; 2];
    let shares = run_shared(
        &algs,
        Duration::from_millis(500),
        Duration::from_millis(5),
        &path,
        9,
        Duration::from_secs(1),
        Duration::from_secs(4),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let g = shares.goodputs_bps();
    assert_eq!(g.len(), 2);
    assert!(g.iter().all(|&x| x > 0.0), "{g:?}");
    assert!(g.iter().sum::<f64>() <= path.rate_bps as f64, "{g:?}");
    let j = shares.jain();
    assert!(j > 0.5 && j <= 1.0 + 1e-12, "Jain index {j} of two flows");
    assert!((j - bench::jain_index(&g)).abs() < 1e-12);
    // The application reads no more than the flow's new bytes on the wire,
    // up to what a hole held back when the window opened (one buffer).
    for (app, wire) in shares.bytes.iter().zip(&shares.wire_bytes) {
        assert!(*wire > 0 && *app <= wire + common::recovery::BUFFER as u64, "{shares:?}");
    }
    assert!(shares.jain_wire() > 0.5 && shares.jain_wire() <= 1.0 + 1e-12, "{shares:?}");
    // Known inputs: equal shares give 1, one flow hogging gives 1/n.
    assert_eq!(bench::jain_index(&[3.0, 3.0]), 1.0);
    assert!((bench::jain_index(&[2.0, 0.0]) - 0.5).abs() < 1e-12);
}
