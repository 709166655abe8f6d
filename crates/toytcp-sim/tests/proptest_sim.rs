//! Property tests over whole scenarios: link faults, TCP settings and
//! application operation sequences are drawn by proptest strategies, so a
//! failure shrinks toward a small scenario (fewer faults, fewer and
//! smaller exchanges) before it is reported.
//!
//! `PROPTEST_CASES=N` changes the number of cases (default 24 here).

use proptest::prelude::*;
use toytcp_core::{ConnectionConfig, Duration, Instant};
use toytcp_sim::{AppModel, AppSpec, GilbertElliott, LinkConfig, RunOptions, Scenario, run_with};

fn link(mtu: usize) -> impl Strategy<Value = LinkConfig> {
    (
        (1u64..100, 0u64..20, prop::option::of(1_000_000u64..1_000_000_000), 4usize..1000),
        (0.0f64..0.3, prop::option::of((0.001f64..0.05, 0.05f64..0.5, 0.3f64..1.0))),
        (0.0f64..0.1, 0.0f64..0.2, 1u64..100, 0.0f64..0.1),
        prop::option::of((0u64..10_000, 100u64..5000)),
    )
        .prop_map(move |((lat, jit, bw, queue_pkts), (loss, burst), (dup, reorder, reorder_ms, corrupt), part)| {
            LinkConfig {
                latency: Duration::from_millis(lat),
                jitter: Duration::from_millis(jit),
                bandwidth_bps: bw,
                queue_limit_bytes: queue_pkts * mtu,
                mtu,
                loss,
                burst: burst.map(|(g, b, l)| GilbertElliott { p_good_to_bad: g, p_bad_to_good: b, loss_in_bad: l }),
                duplicate: dup,
                reorder,
                reorder_delay: Duration::from_millis(reorder_ms),
                corrupt,
                partitions: part
                    .map(|(start, len)| vec![(Instant::from_millis(start), Instant::from_millis(start + len))])
                    .unwrap_or_default(),
                frag_needed_from: None,
            }
        })
}

/// An application model; `Conversation` is an arbitrary sequence of
/// request/response operations.
fn model() -> impl Strategy<Value = AppModel> {
    prop_oneof![
        (0u64..200_000, 0u64..100_000).prop_map(|(up, down)| AppModel::Bulk { up, down }),
        (0u64..50_000, 1u32..5000).prop_map(|(bytes, chunk)| AppModel::Echo { bytes, chunk }),
        (1u32..30, 1u32..2000, 0u32..5000).prop_map(|(count, request, response)| AppModel::RequestResponse {
            count,
            request,
            response
        }),
        prop::collection::vec((0u32..3000, 0u32..3000), 1..12).prop_map(|steps| AppModel::Conversation { steps }),
        (0u64..50_000, 0u64..50_000).prop_map(|(up, down)| AppModel::HalfClose { up, down }),
        (2u64..100_000)
            .prop_flat_map(|down| (Just(down), 1..down))
            .prop_map(|(down, after)| AppModel::Abort { down, after }),
        Just(AppModel::Refused),
        (0u64..50_000, 0u64..50_000).prop_map(|(up, down)| AppModel::Simultaneous { up, down }),
    ]
}

fn tcp(mss: u16) -> impl Strategy<Value = ConnectionConfig> {
    (64usize..400_000, 64usize..400_000, any::<(bool, bool, bool, bool)>(), 1u32..10).prop_map(
        move |(send_buffer, recv_buffer, (window_scale, sack, timestamps, nodelay), iw)| ConnectionConfig {
            mss,
            send_buffer,
            recv_buffer,
            window_scale,
            sack,
            timestamps,
            nodelay,
            initial_window_segments: iw,
            ..ConnectionConfig::default()
        },
    )
}

fn scenario() -> impl Strategy<Value = Scenario> {
    prop_oneof![64u16..300, 500u16..1461, 1461u16..=9000]
        .prop_flat_map(|mss| {
            let mtu = usize::from(mss) + 40;
            (
                any::<u64>(),
                tcp(mss),
                tcp(mss),
                link(mtu),
                link(mtu),
                prop::collection::vec((model(), 0u64..2000), 1..=3),
                1u64..20,
            )
        })
        .prop_map(|(seed, client, server, c2s, s2c, models, fault_secs)| {
            let apps = models
                .into_iter()
                .enumerate()
                .map(|(i, (model, start_ms))| AppSpec {
                    model,
                    port: 7000 + i as u16,
                    start: Duration::from_millis(start_ms),
                    key: seed ^ i as u64,
                })
                .collect();
            let mut s = Scenario {
                seed,
                client_to_server: c2s,
                server_to_client: s2c,
                client,
                server,
                apps,
                fault_phase: Duration::from_secs(fault_secs),
                liveness_bound: Duration::ZERO,
            };
            s.liveness_bound = s.default_liveness_bound();
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_scenario_is_safe_and_live(s in scenario()) {
        match run_with(&s, &RunOptions::default()) {
            Ok(r) => prop_assert!(r.world.deliveries > 0, "nothing was delivered"),
            Err(f) => prop_assert!(false, "{}", f),
        }
    }
}
