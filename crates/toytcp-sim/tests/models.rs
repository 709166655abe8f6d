//! Each application model and each fault on its own, and the checks
//! themselves: a run that cannot succeed must fail, with a pcap.

use std::net::Ipv4Addr;
use toytcp_core::{ConnectionConfig, Duration, Instant};
use toytcp_sim::app::Role;
use toytcp_sim::{AppModel, AppSpec, GilbertElliott, Host, LinkConfig, Scenario, ToyHost, World, run, run_with};

/// A clean scenario (1 ms links, default TCP settings) running `models`.
fn clean(models: &[AppModel]) -> Scenario {
    let mut s = Scenario::from_seed(99);
    s.client_to_server = LinkConfig::default();
    s.server_to_client = LinkConfig::default();
    s.client = ConnectionConfig::default();
    s.server = ConnectionConfig::default();
    s.fault_phase = Duration::from_secs(5);
    s.apps = models
        .iter()
        .enumerate()
        .map(|(i, model)| AppSpec {
            model: model.clone(),
            port: 7000 + i as u16,
            start: Duration::from_millis(i as u64),
            key: i as u64,
        })
        .collect();
    s.liveness_bound = s.default_liveness_bound();
    s
}

fn pass(s: &Scenario) -> toytcp_sim::Report {
    run(s).unwrap_or_else(|f| panic!("{f}"))
}

#[test]
fn every_model_on_a_clean_link() {
    let models = vec![
        AppModel::Bulk { up: 1_000_000, down: 0 },
        AppModel::Bulk { up: 300_000, down: 300_000 },
        AppModel::Echo { bytes: 100_000, chunk: 7 },
        AppModel::RequestResponse { count: 500, request: 1, response: 1 },
        AppModel::RequestResponse { count: 20, request: 3000, response: 20_000 },
        AppModel::HalfClose { up: 50_000, down: 70_000 },
        AppModel::Conversation { steps: vec![(0, 10), (5, 0), (1, 1), (0, 0), (3000, 70_000), (1, 0)] },
        AppModel::Abort { down: 500_000, after: 1000 },
        AppModel::Refused,
        AppModel::Simultaneous { up: 100_000, down: 50_000 },
    ];
    for m in &models {
        let r = pass(&clean(std::slice::from_ref(m)));
        assert!(r.world.deliveries > 0, "{m:?}");
    }
    // All at once, on one pair of endpoints.
    pass(&clean(&models));
}

#[test]
fn mss_extremes() {
    for mss in [64u16, 536, 9000] {
        let mut s = clean(&[AppModel::Bulk { up: 200_000, down: 100_000 }]);
        s.client.mss = mss;
        s.server.mss = mss;
        s.client_to_server.mtu = usize::from(mss) + 40;
        s.server_to_client.mtu = usize::from(mss) + 40;
        pass(&s);
    }
}

#[test]
fn tiny_buffers() {
    let mut s = clean(&[AppModel::Bulk { up: 20_000, down: 20_000 }, AppModel::Echo { bytes: 5000, chunk: 100 }]);
    for c in [&mut s.client, &mut s.server] {
        c.send_buffer = 100;
        c.recv_buffer = 100;
    }
    s.liveness_bound = s.default_liveness_bound();
    pass(&s);
}

/// Every fault on its own, at a high rate, both directions.
#[test]
fn each_fault_alone() {
    let partitions = vec![(Instant::from_millis(3), Instant::from_millis(3000))];
    let faults: Vec<(&str, LinkConfig)> = vec![
        ("loss", LinkConfig { loss: 0.3, ..LinkConfig::default() }),
        (
            "burst",
            LinkConfig {
                burst: Some(GilbertElliott { p_good_to_bad: 0.05, p_bad_to_good: 0.2, loss_in_bad: 1.0 }),
                ..LinkConfig::default()
            },
        ),
        ("duplicate", LinkConfig { duplicate: 0.3, ..LinkConfig::default() }),
        ("reorder", LinkConfig { reorder: 0.3, reorder_delay: Duration::from_millis(30), ..LinkConfig::default() }),
        ("corrupt", LinkConfig { corrupt: 0.2, ..LinkConfig::default() }),
        ("partition", LinkConfig { partitions, ..LinkConfig::default() }),
        (
            "narrow",
            LinkConfig {
                bandwidth_bps: Some(2_000_000),
                queue_limit_bytes: 6000,
                latency: Duration::from_millis(20),
                jitter: Duration::from_millis(5),
                ..LinkConfig::default()
            },
        ),
    ];
    for (name, link) in faults {
        let mut s =
            clean(&[AppModel::Bulk { up: 300_000, down: 100_000 }, AppModel::Echo { bytes: 20_000, chunk: 333 }]);
        s.client_to_server = link.clone();
        s.server_to_client = link;
        s.liveness_bound = s.default_liveness_bound();
        let r = pass(&s);
        let stats = [r.links[0], r.links[1]];
        let hit = |f: fn(&toytcp_sim::LinkStats) -> u64| stats.iter().map(f).sum::<u64>();
        let count = match name {
            "loss" => hit(|l| l.dropped_loss),
            "burst" => hit(|l| l.dropped_burst),
            "duplicate" => hit(|l| l.duplicated),
            "reorder" => hit(|l| l.reordered),
            "corrupt" => r.world.corrupted_delivered,
            "partition" => hit(|l| l.dropped_partition),
            _ => hit(|l| l.dropped_queue),
        };
        assert!(count > 0, "{name}: the fault never fired: {stats:?}");
    }
}

#[test]
fn a_run_that_cannot_finish_fails_with_a_pcap() {
    // The MTU is smaller than the SYN: nothing ever gets through.
    let mut s = clean(&[AppModel::Bulk { up: 10, down: 0 }]);
    s.client_to_server.mtu = 50;
    let dir = std::env::temp_dir().join(format!("toytcp-sim-test-{}", std::process::id()));
    let f = run_with(&s, &toytcp_sim::RunOptions { pcap_dir: Some(dir.clone()) }).expect_err("must fail");
    assert!(f.message.contains("larger than MSS"), "{f}");
    assert_eq!(f.pcaps.len(), 2);
    assert!(std::fs::metadata(&f.pcaps[0]).is_ok_and(|m| m.len() >= 24));
    assert!(f.to_string().contains("TOYTCP_SEED=99"), "{f}");
    let _ = std::fs::remove_dir_all(dir);

    // A receiver-less liveness failure: the server never listens.
    let mut s = clean(&[AppModel::Bulk { up: 10, down: 0 }]);
    s.client.syn_retries = 2;
    s.server_to_client.loss = 1.0;
    s.fault_phase = Duration::from_secs(600);
    let f = run(&s).expect_err("must fail");
    assert!(f.message.contains("timed out"), "{f}");
}

/// A host that accepts anything and counts nothing malformed: the world
/// must notice that it was handed a corrupted packet without rejecting it.
struct Blind(Ipv4Addr);

impl Host for Blind {
    fn addr(&self) -> Ipv4Addr {
        self.0
    }
    fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant, _: &mut Vec<Vec<u8>>) {}
    fn poll_timeout(&mut self) -> Option<Instant> {
        None
    }
    fn app_done(&self) -> bool {
        false
    }
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
    fn malformed_packets(&self) -> Option<u64> {
        Some(0)
    }
}

#[test]
fn a_corrupted_packet_must_be_counted_as_malformed() {
    let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 1, 1));
    let spec = AppSpec { model: AppModel::Bulk { up: 1, down: 0 }, port: 7000, start: Duration::ZERO, key: 1 };
    let client = ToyHost::new("client", a, b, Default::default(), &[spec], Role::Client);
    let mut world = World::new(1);
    let c = world.add_host(Box::new(client));
    let s = world.add_host(Box::new(Blind(b)));
    let corrupt = LinkConfig { corrupt: 1.0, ..LinkConfig::default() };
    world.connect(c, s, corrupt, LinkConfig::default());
    let err = world.run_until(Instant::from_secs_for_test(10), |_| false).expect_err("must be caught");
    assert!(err.message.contains("malformed counter"), "{err}");
}

trait FromSecs {
    fn from_secs_for_test(s: u64) -> Instant;
}
impl FromSecs for Instant {
    fn from_secs_for_test(s: u64) -> Instant {
        Instant::from_millis(s * 1000)
    }
}

#[test]
fn pcap_is_readable_by_tcpdump() {
    let s = clean(&[AppModel::Echo { bytes: 3000, chunk: 1000 }]);
    let dir = std::env::temp_dir().join(format!("toytcp-sim-pcap-{}", std::process::id()));
    let r = run_with(&s, &toytcp_sim::RunOptions { pcap_dir: Some(dir.clone()) }).unwrap_or_else(|f| panic!("{f}"));
    let path = dir.join("seed-99-link0.pcap");
    let bytes = std::fs::read(&path).expect("pcap written");
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
    // Count the records by walking the file.
    let mut off = 24;
    let mut records = 0u64;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        off += 16 + incl;
        records += 1;
    }
    assert_eq!(off, bytes.len());
    assert_eq!(records, r.world.deliveries);
    let sent = std::fs::read(dir.join("seed-99-link0-sent.pcap")).expect("sent pcap written");
    assert_eq!(sent.len(), bytes.len(), "a clean link delivers what it is given");
    match std::process::Command::new("tcpdump").arg("-nn").arg("-r").arg(&path).output() {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            assert_eq!(text.lines().count() as u64, records, "{text}");
            assert!(text.contains("10.0.0.1.") && text.contains("Flags [S]"), "{text}");
            assert!(!text.contains("bad"), "{text}");
        }
        Ok(out) => panic!("tcpdump -r failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) => eprintln!("SKIPPED the tcpdump part: tcpdump not runnable ({e}); apt-get install tcpdump"),
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Swarm seed 41232 (generator of the first 100,000-seed runs): an ACK
/// whose window was too old to be taken (a retransmission, lower SEG.SEQ)
/// still advanced SND.UNA, the sender's right edge slid right, and it sent
/// 351 bytes beyond the peer's 707-byte window ("RCV.NXT past the
/// advertised window" at 2.52 s). Fixed in the core: SND.WND shrinks by
/// what an ACK acknowledges until a window update is taken.
#[test]
fn regression_right_edge_kept_when_the_window_update_is_too_old() {
    let mut s = clean(&[]);
    s.seed = 41232;
    s.client_to_server = LinkConfig {
        latency: Duration::from_micros(78_200),
        bandwidth_bps: Some(265_297_738),
        queue_limit_bytes: 27599,
        mtu: 864,
        loss: 0.23571600299443335,
        ..LinkConfig::default()
    };
    s.server_to_client = LinkConfig {
        latency: Duration::from_micros(86_048),
        jitter: Duration::from_micros(21_039),
        bandwidth_bps: Some(67_543_002),
        queue_limit_bytes: 70937,
        mtu: 864,
        ..LinkConfig::default()
    };
    s.client = ConnectionConfig {
        mss: 824,
        send_buffer: 657_291,
        recv_buffer: 707,
        max_ooo_ranges: 1,
        timestamps: false,
        delayed_ack: Duration::from_millis(1),
        time_wait: Duration::from_secs(120),
        ..ConnectionConfig::default()
    };
    s.server = ConnectionConfig {
        mss: 824,
        send_buffer: 1_024_923,
        recv_buffer: 628_522,
        max_ooo_ranges: 1,
        nodelay: true,
        min_rto: Duration::from_millis(200),
        delayed_ack: Duration::from_millis(200),
        time_wait: Duration::from_secs(120),
        initial_window_segments: 7,
        ..ConnectionConfig::default()
    };
    s.apps = vec![
        AppSpec {
            model: AppModel::Echo { bytes: 9656, chunk: 10 },
            port: 7000,
            start: Duration::from_micros(405_370),
            key: 14618778518571661252,
        },
        AppSpec {
            model: AppModel::Echo { bytes: 3241, chunk: 2 },
            port: 7001,
            start: Duration::from_micros(987_143),
            key: 3776073410761350942,
        },
    ];
    s.fault_phase = Duration::from_secs(20);
    s.liveness_bound = s.default_liveness_bound();
    pass(&s);
}
