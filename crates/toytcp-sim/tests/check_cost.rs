//! The simulator's invariant checks cost O(1) per step on average, however
//! many segments are in flight (regression: a fuzzed scenario with a 67-byte
//! MSS and a 264 KB send buffer spent 75% of its 1 s, and 37 s under the
//! fuzzer's instrumentation, walking the same transmission log again after
//! every one of its 139,000 steps).

use std::time::Instant as WallClock;
use toytcp_core::{ConnectionConfig, Duration, EndpointConfig, Instant};
use toytcp_sim::app::Role;
use toytcp_sim::bench::Shared;
use toytcp_sim::scenario::{CLIENT_ADDR, SERVER_ADDR};
use toytcp_sim::toyhost::CHECK_CREDIT;
use toytcp_sim::{AppModel, AppSpec, LinkConfig, ToyHost, World};

#[test]
fn a_long_transmission_log_is_not_walked_after_every_step() {
    // A small MSS and large buffers: thousands of segments in flight.
    let config =
        ConnectionConfig { mss: 64, send_buffer: 1 << 20, recv_buffer: 1 << 20, ..ConnectionConfig::default() };
    let endpoint = |seed| EndpointConfig { seed, connection: config.clone(), ..EndpointConfig::default() };
    let apps = [AppSpec { model: AppModel::Bulk { up: 2 << 20, down: 0 }, port: 7000, start: Duration::ZERO, key: 1 }];
    let client = Shared::new(ToyHost::new("client", CLIENT_ADDR, SERVER_ADDR, endpoint(1), &apps, Role::Client));
    let server = Shared::new(ToyHost::new("server", SERVER_ADDR, CLIENT_ADDR, endpoint(2), &apps, Role::Server));
    let mut world = World::new(7);
    let c = world.add_host(Box::new(client.clone()));
    let s = world.add_host(Box::new(server.clone()));
    let link = LinkConfig { latency: Duration::from_millis(50), queue_limit_bytes: 4 << 20, ..LinkConfig::default() };
    world.connect(c, s, link.clone(), link);
    let wall = WallClock::now();
    world.run_until(Instant::ZERO + Duration::from_secs(600), World::all_done).unwrap_or_else(|e| panic!("{e}"));
    assert!(world.all_done(), "transfer not finished at {}", world.now());
    for i in 0..2 {
        world.host(toytcp_sim::HostId(i)).check_all().unwrap_or_else(|e| panic!("{e}"));
    }
    let cost = client.0.borrow().check_cost();
    let steps = world.stats().steps;
    println!("{steps} steps in {:?}; client checks {cost:?}", wall.elapsed());
    // The test means something only if the log grew well past what is
    // walked on every step.
    assert!(cost.longest_log > 8 * CHECK_CREDIT, "the log never grew long: {cost:?}");
    // On average at most CHECK_CREDIT entries per call from the credit,
    // plus logs of up to CHECK_CREDIT entries walked whenever checked (one
    // connection here).
    assert!(
        cost.entries_walked <= 2 * CHECK_CREDIT * cost.calls,
        "{} entries walked in {} checks: more than 2 × {CHECK_CREDIT} per check",
        cost.entries_walked,
        cost.calls
    );
    // And the long log was walked nonetheless, now and then.
    assert!(cost.entries_walked > cost.longest_log, "the long log was never walked: {cost:?}");
}
