//! ICMP errors at the endpoint (RFC 9293 §3.9.2.2, MUST-54/55/56; RFC
//! 1122 §4.2.3.9; RFC 5461; RFC 5927 §4.1; RFC 1191): crafted messages
//! quoting real outgoing segments, and transfers across a "router" whose
//! next link has a smaller MTU and answers oversized DF packets with
//! Fragmentation Needed.

use core::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::wire::{self, IcmpError, emit_icmp_error};
use toytcp_core::{
    CloseReason, ConnectionConfig, ConnectionHandle, Duration, Endpoint, EndpointConfig, EndpointEvent, Event, Instant,
    State,
};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 2), 80);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

fn endpoint(seed: u64, connection: ConnectionConfig) -> Endpoint {
    Endpoint::new(EndpointConfig { seed, connection, ..EndpointConfig::default() })
}

/// The next packet the endpoint sends.
fn next_packet(ep: &mut Endpoint, now: Instant) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    ep.poll_transmit(now, &mut buf).map(|t| buf[..t.len].to_vec())
}

fn icmp(from: Ipv4Addr, kind: IcmpError, datagram: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = emit_icmp_error(from, kind, datagram, &mut buf).expect("ICMP message");
    buf[..n].to_vec()
}

fn closed_reason(ep: &mut Endpoint, h: ConnectionHandle) -> Option<CloseReason> {
    let mut reason = None;
    while let Some(e) = ep.poll_event() {
        if let EndpointEvent::Connection { handle, event: Event::Closed(r) } = e
            && handle == h
        {
            reason = Some(r);
        }
    }
    reason
}

/// A SYN answered by "port unreachable" from the peer: refused at once,
/// like a RST (RFC 1122 §4.2.3.9); the same with a sequence number that
/// is not in flight is ignored (RFC 5927 §4.1), and so is Source Quench
/// (MUST-55).
#[test]
fn port_unreachable_refuses_a_syn_but_only_with_the_right_sequence_number() {
    let now = Instant::from_millis(1);
    let mut client = endpoint(1, ConnectionConfig::default());
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    let syn = next_packet(&mut client, now).expect("SYN");

    // Off-path forgery: the right ports, a wrong sequence number.
    let mut forged = syn.clone();
    forged[24] ^= 0x80; // SEG.SEQ's top byte (IPv4 20 + TCP offset 4)
    client.handle(now, &icmp(*SERVER.ip(), IcmpError::PortUnreachable, &forged));
    assert_eq!(client.stats().icmp_out_of_window, 1);
    assert_eq!(client.connection(h).unwrap().state(), State::SynSent);

    client.handle(now, &icmp(ROUTER, IcmpError::SourceQuench, &syn));
    assert_eq!(client.stats().icmp_ignored, 1);
    assert_eq!(client.connection(h).unwrap().state(), State::SynSent);

    // A quote of a connection we do not have.
    let mut other = syn.clone();
    other[20] ^= 1; // source port
    client.handle(now, &icmp(*SERVER.ip(), IcmpError::PortUnreachable, &other));
    assert_eq!(client.stats().icmp_unmatched, 1);
    assert_eq!(client.connection(h).unwrap().state(), State::SynSent);

    client.handle(now, &icmp(*SERVER.ip(), IcmpError::PortUnreachable, &syn));
    assert_eq!(client.stats().icmp_acted, 1);
    assert_eq!(client.stats().icmp_in, 4);
    assert_eq!(client.connection(h).unwrap().state(), State::Closed);
    assert_eq!(closed_reason(&mut client, h), Some(CloseReason::Refused));
    assert_eq!(client.connection(h).unwrap().stats().icmp_errors, 1);
    assert!(next_packet(&mut client, now).is_none(), "nothing is sent after a refusal");
}

/// Protocol unreachable is a hard error too.
#[test]
fn protocol_unreachable_refuses_a_syn() {
    let now = Instant::from_millis(1);
    let mut client = endpoint(1, ConnectionConfig::default());
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    let syn = next_packet(&mut client, now).unwrap();
    client.handle(now, &icmp(*SERVER.ip(), IcmpError::ProtocolUnreachable, &syn));
    assert_eq!(closed_reason(&mut client, h), Some(CloseReason::Refused));
}

/// Soft errors never abort (MUST-56): the SYN keeps being retried, the
/// error is recorded, and when the retries run out the connection reports
/// the destination unreachable rather than a bare timeout.
#[test]
fn soft_errors_in_syn_sent_do_not_abort_and_explain_the_timeout() {
    let config = ConnectionConfig { syn_retries: 2, ..ConnectionConfig::default() };
    let mut now = Instant::from_millis(1);
    let mut client = endpoint(1, config);
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    let syn = next_packet(&mut client, now).unwrap();
    for kind in [
        IcmpError::NetUnreachable,
        IcmpError::SourceRouteFailed,
        IcmpError::TimeExceeded,
        IcmpError::ParameterProblem,
        IcmpError::HostUnreachable,
    ] {
        client.handle(now, &icmp(ROUTER, kind, &syn));
        assert_eq!(client.connection(h).unwrap().state(), State::SynSent, "{kind}");
    }
    let soft = client.connection(h).unwrap().stats().soft_error.expect("soft error recorded");
    assert_eq!(soft.error, IcmpError::HostUnreachable);
    assert_eq!(client.stats().icmp_acted, 5);
    let mut syns = 1;
    while let Some(t) = client.poll_timeout() {
        now = t;
        client.handle_timeout(now);
        while next_packet(&mut client, now).is_some() {
            syns += 1;
        }
    }
    assert_eq!(syns, 3, "the SYN was retried");
    assert_eq!(closed_reason(&mut client, h), Some(CloseReason::Unreachable));
}

/// Without any ICMP, a SYN timeout is still a plain timeout.
#[test]
fn a_timeout_without_icmp_stays_timed_out() {
    let config = ConnectionConfig { syn_retries: 1, ..ConnectionConfig::default() };
    let mut now = Instant::from_millis(1);
    let mut client = endpoint(1, config);
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    while next_packet(&mut client, now).is_some() {}
    while let Some(t) = client.poll_timeout() {
        now = t;
        client.handle_timeout(now);
        while next_packet(&mut client, now).is_some() {}
    }
    assert_eq!(closed_reason(&mut client, h), Some(CloseReason::TimedOut));
}

/// What the path does with a packet: `None` delivers it; `Some(answer)`
/// drops it, and `answer` (an ICMP message) goes back to the sender.
type Router<'a> = dyn FnMut(&[u8]) -> Option<Option<Vec<u8>>> + 'a;

/// Moves packets between client and server through `router`, which may
/// drop a packet and answer it with ICMP; time jumps to the next deadline
/// when nothing moves. Returns the virtual time taken.
struct Net {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
}

impl Net {
    fn new(config: ConnectionConfig) -> Self {
        let mut server = endpoint(2, config.clone());
        server.listen(SERVER, 8).unwrap();
        Net { client: endpoint(1, config), server, now: Instant::from_millis(1) }
    }

    /// One round: everything each side has to send, through `router`
    /// (which returns the ICMP answer to a dropped packet, if any).
    fn round(&mut self, router: &mut Router<'_>) -> bool {
        let mut moved = false;
        for from_client in [true, false] {
            loop {
                let (src, dst) = if from_client {
                    (&mut self.client, &mut self.server)
                } else {
                    (&mut self.server, &mut self.client)
                };
                let Some(p) = next_packet(src, self.now) else { break };
                moved = true;
                match router(&p) {
                    None => dst.handle(self.now, &p),
                    Some(Some(answer)) => src.handle(self.now, &answer),
                    Some(None) => {}
                }
            }
        }
        for ep in [&self.client, &self.server] {
            for h in ep.handles() {
                ep.connection(h).unwrap().check_invariants().unwrap();
            }
        }
        moved
    }

    /// Runs until `done` or the deadline; one millisecond per round.
    fn run(&mut self, limit: Duration, router: &mut Router<'_>, done: &mut dyn FnMut(&mut Net) -> bool) -> Duration {
        let start = self.now;
        while !done(self) {
            assert!(self.now.saturating_duration_since(start) < limit, "not done within {limit:?}");
            if !self.round(router) {
                let next = [self.client.poll_timeout(), self.server.poll_timeout()].into_iter().flatten().min();
                self.now = next.unwrap_or(self.now + Duration::from_millis(1)).max(self.now + Duration::from_millis(1));
            } else {
                self.now += Duration::from_millis(1);
            }
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
        }
        self.now.saturating_duration_since(start)
    }
}

/// A router whose next link has MTU `mtu` (with `report` as the next-hop
/// MTU it announces): bigger packets are dropped and answered with
/// Fragmentation Needed (RFC 1191 §4). Counts the answers.
fn small_link(mtu: usize, report: u16, answers: &mut u32) -> impl FnMut(&[u8]) -> Option<Option<Vec<u8>>> + '_ {
    move |p| {
        if p.len() <= mtu {
            return None;
        }
        *answers += 1;
        Some(Some(icmp(ROUTER, IcmpError::FragmentationNeeded { next_hop_mtu: report }, p)))
    }
}

/// Sends `total` bytes client → server across a 1400-byte link and checks
/// them byte-exact: the first full-size segments are answered with
/// Fragmentation Needed, SMSS drops to fit, everything in flight goes again
/// at once, without a timeout and without shrinking cwnd.
fn transfer_across_small_mtu(config: ConnectionConfig, report: u16, expect_mtu: u32) {
    let total = 200_000usize;
    let data: Vec<u8> = (0..total).map(|i| (i * 31 + 7) as u8).collect();
    let mut net = Net::new(config);
    let now = net.now;
    let c = net.client.connect(now, CLIENT, SERVER).unwrap();
    let mut answers = 0;
    let mut sent = 0;
    let mut received = Vec::new();
    let mut s = None;
    let mut cwnd_before = 0;
    {
        let mut router = small_link(1400, report, &mut answers);
        let elapsed = net.run(Duration::from_secs(5), &mut router, &mut |net| {
            if s.is_none() {
                s = net.server.accept(SERVER);
            }
            if sent < total
                && let Ok(n) = net.client.send(c, &data[sent..])
            {
                sent += n;
            }
            if cwnd_before == 0 {
                cwnd_before = net.client.connection(c).unwrap().stats().cwnd;
            }
            if let Some(s) = s {
                let mut buf = [0u8; 65536];
                while let Ok(n) = net.server.recv(s, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    received.extend_from_slice(&buf[..n]);
                }
            }
            received.len() == total
        });
        assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    }
    assert_eq!(received, data);
    let stats = net.client.connection(c).unwrap().stats();
    let overhead = 40 + if config_ts(&net) { 12 } else { 0 };
    assert_eq!(stats.smss + overhead, expect_mtu, "{stats:?}");
    assert_eq!(stats.timeouts, 0, "no retransmission timeout");
    assert_eq!(stats.fast_recoveries, 0, "no recovery (no window reduction)");
    assert!(stats.cwnd >= cwnd_before, "cwnd shrank: {} < {cwnd_before}", stats.cwnd);
    assert_eq!(stats.pmtu_reductions, 1);
    assert!(answers >= 1);
    assert!(net.client.stats().icmp_acted >= 1);
}

fn config_ts(net: &Net) -> bool {
    net.client.config().connection.timestamps
}

#[test]
fn sack_transfer_resegments_after_fragmentation_needed() {
    transfer_across_small_mtu(ConnectionConfig::default(), 1400, 1400);
}

#[test]
fn sack_without_rack_transfer_resegments_after_fragmentation_needed() {
    transfer_across_small_mtu(ConnectionConfig { rack: false, ..ConnectionConfig::default() }, 1400, 1400);
}

#[test]
fn newreno_transfer_resegments_after_fragmentation_needed() {
    let config = ConnectionConfig { sack: false, timestamps: false, ..ConnectionConfig::default() };
    transfer_across_small_mtu(config, 1400, 1400);
}

/// A router older than RFC 1191 reports MTU 0: the plateau below the
/// dropped 1500-byte datagram, 1492, is too big for the 1400-byte link,
/// so a second message brings it down to the next plateau, 1006.
#[test]
fn next_hop_mtu_zero_walks_down_the_plateaus() {
    let total = 50_000usize;
    let mut net = Net::new(ConnectionConfig::default());
    let now = net.now;
    let c = net.client.connect(now, CLIENT, SERVER).unwrap();
    let mut answers = 0;
    let mut router = small_link(1400, 0, &mut answers);
    let mut s = None;
    let mut got = 0;
    let mut sent = 0;
    net.run(Duration::from_secs(5), &mut router, &mut |net| {
        if s.is_none() {
            s = net.server.accept(SERVER);
        }
        if sent < total
            && let Ok(n) = net.client.send(c, &vec![1u8; total - sent])
        {
            sent += n;
        }
        if let Some(s) = s {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = net.server.recv(s, &mut buf) {
                got += n;
            }
        }
        got == total
    });
    let stats = net.client.connection(c).unwrap().stats();
    assert_eq!(stats.smss + 52, 1006);
    assert_eq!(stats.pmtu_reductions, 2);
}

/// An MTU not below the current one is ignored; a tiny one is raised to
/// the floor (`MIN_PATH_MTU`); a quote of data not in flight is ignored.
#[test]
fn fragmentation_needed_is_bounded_and_validated() {
    let mut net = Net::new(ConnectionConfig::default());
    let now = net.now;
    let c = net.client.connect(now, CLIENT, SERVER).unwrap();
    net.run(Duration::from_secs(1), &mut |_| None, &mut |net| {
        net.client.connection(c).unwrap().state() == State::Established
    });
    net.client.set_nodelay(c, true).unwrap();
    net.client.send(c, &[5u8; 1000]).unwrap();
    let seg = next_packet(&mut net.client, net.now).unwrap();
    assert_eq!(wire::parse(&seg).unwrap().payload.len(), 1000);
    let smss = |net: &Net| net.client.connection(c).unwrap().stats().smss;
    let before = smss(&net);

    net.client.handle(net.now, &icmp(ROUTER, IcmpError::FragmentationNeeded { next_hop_mtu: 1500 }, &seg));
    assert_eq!(smss(&net), before);
    assert_eq!(net.client.stats().icmp_ignored, 1);
    // The quoted datagram (1052 bytes) would have fitted a 1200-byte hop:
    // not a real drop (forged or stale, RFC 5927 §7), ignored.
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::FragmentationNeeded { next_hop_mtu: 1200 }, &seg));
    assert_eq!(smss(&net), before);
    assert_eq!(net.client.stats().icmp_ignored, 2);

    let mut stale = seg.clone();
    stale[24] ^= 0x40;
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::FragmentationNeeded { next_hop_mtu: 600 }, &stale));
    assert_eq!(smss(&net), before);
    assert_eq!(net.client.stats().icmp_out_of_window, 1);

    net.client.handle(net.now, &icmp(ROUTER, IcmpError::FragmentationNeeded { next_hop_mtu: 100 }, &seg));
    assert_eq!(smss(&net) + 52, toytcp_core::connection::MIN_PATH_MTU);
    // The 1000-byte segment goes again at once, as 500 + 500.
    let lens: Vec<usize> = std::iter::from_fn(|| next_packet(&mut net.client, net.now))
        .map(|p| wire::parse(&p).unwrap().payload.len())
        .collect();
    assert_eq!(lens, [500, 500]);
    // Host unreachable on an established connection: soft, recorded.
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::HostUnreachable, &seg));
    net.client.handle(net.now, &icmp(*SERVER.ip(), IcmpError::PortUnreachable, &seg));
    let conn = net.client.connection(c).unwrap();
    assert_eq!(conn.state(), State::Established, "hard errors are soft once synchronized (RFC 5461 §4)");
    assert_eq!(conn.stats().soft_error.map(|e| e.error), Some(IcmpError::PortUnreachable));
}

/// Garbage carrying protocol 1 is counted as malformed ICMP, never panics,
/// and touches no connection.
#[test]
fn malformed_icmp_is_counted_and_dropped() {
    let now = Instant::from_millis(1);
    let mut client = endpoint(1, ConnectionConfig::default());
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    let syn = next_packet(&mut client, now).unwrap();
    let good = icmp(*SERVER.ip(), IcmpError::PortUnreachable, &syn);
    let mut malformed = 0;
    for len in 20..good.len() {
        let mut p = good[..len].to_vec();
        // Keep the outer header consistent so the packet reaches the ICMP parser.
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[10..12].copy_from_slice(&[0, 0]);
        let sum = !fold(&p[..20]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        client.handle(now, &p);
        malformed += 1;
    }
    assert_eq!(client.stats().icmp_malformed, malformed);
    assert_eq!(client.connection(h).unwrap().state(), State::SynSent);
}

/// RFC 1071 sum of big-endian words.
fn fold(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Sets up an established connection with `max_retries` 2, sends `len`
/// bytes that are lost, and returns the client, its handle and the lost
/// segment.
fn established_with_lost_data(now: Instant) -> (Net, ConnectionHandle, Vec<u8>) {
    let config = ConnectionConfig { max_retries: 2, ..ConnectionConfig::default() };
    let mut net = Net::new(config);
    let c = net.client.connect(now, CLIENT, SERVER).unwrap();
    net.run(Duration::from_secs(1), &mut |_| None, &mut |net| {
        net.client.connection(c).unwrap().state() == State::Established
    });
    net.client.send(c, &[9u8; 100]).unwrap();
    let lost = next_packet(&mut net.client, net.now).unwrap();
    (net, c, lost)
}

/// Runs the client's timers (nothing delivered) until it closes.
fn time_out(net: &mut Net) {
    while let Some(t) = net.client.poll_timeout() {
        net.now = t;
        net.client.handle_timeout(net.now);
        while next_packet(&mut net.client, net.now).is_some() {}
    }
}

/// A soft error about data that then times out is the reason reported
/// (as Linux reports EHOSTUNREACH rather than ETIMEDOUT).
#[test]
fn a_retransmission_timeout_after_a_soft_error_is_unreachable() {
    let (mut net, c, lost) = established_with_lost_data(Instant::from_millis(1));
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::NetUnreachable, &lost));
    assert_eq!(net.client.connection(c).unwrap().state(), State::Established);
    time_out(&mut net);
    assert_eq!(closed_reason(&mut net.client, c), Some(CloseReason::Unreachable));
}

/// A soft error that was followed by progress (an ACK) says nothing about
/// a later timeout: that stays a plain timeout.
#[test]
fn a_soft_error_before_progress_does_not_explain_a_later_timeout() {
    let (mut net, c, lost) = established_with_lost_data(Instant::from_millis(1));
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::HostUnreachable, &lost));
    // The data gets through after all and is acknowledged.
    net.now += Duration::from_millis(5);
    net.server.handle(net.now, &lost);
    net.run(Duration::from_secs(1), &mut |_| None, &mut |net| {
        net.client.connection(c).unwrap().stats().bytes_acked == 100
    });
    // Then the path dies.
    net.now += Duration::from_millis(5);
    net.client.send(c, &[9u8; 100]).unwrap();
    while next_packet(&mut net.client, net.now).is_some() {}
    time_out(&mut net);
    assert_eq!(closed_reason(&mut net.client, c), Some(CloseReason::TimedOut));
}

/// A firewall's "administratively prohibited" (firewalld's default reject)
/// ends a connect at once, as in Linux; once synchronized it is soft.
#[test]
fn admin_prohibited_ends_a_connect_but_not_a_connection() {
    let mut now = Instant::from_millis(1);
    let mut client = endpoint(1, ConnectionConfig::default());
    let h = client.connect(now, CLIENT, SERVER).unwrap();
    let syn = next_packet(&mut client, now).unwrap();
    now += Duration::from_millis(1);
    client.handle(now, &icmp(ROUTER, IcmpError::AdminProhibited, &syn));
    assert_eq!(closed_reason(&mut client, h), Some(CloseReason::Unreachable));

    let (mut net, c, lost) = established_with_lost_data(Instant::from_millis(1));
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::AdminProhibited, &lost));
    assert_eq!(net.client.connection(c).unwrap().state(), State::Established);
}

/// Progress forgets a soft error: after an ACK the connection's stats no
/// longer carry it, so a keepalive or persist timeout later on is not
/// blamed on it (RFC 1122 §4.2.3.9; Linux clears sk_err_soft on ACK).
#[test]
fn an_ack_clears_the_soft_error() {
    let (mut net, c, lost) = established_with_lost_data(Instant::from_millis(1));
    net.client.handle(net.now, &icmp(ROUTER, IcmpError::HostUnreachable, &lost));
    assert!(net.client.connection(c).unwrap().stats().soft_error.is_some());
    net.now += Duration::from_millis(5);
    net.server.handle(net.now, &lost);
    net.run(Duration::from_secs(1), &mut |_| None, &mut |net| {
        net.client.connection(c).unwrap().stats().bytes_acked == 100
    });
    assert_eq!(net.client.connection(c).unwrap().stats().soft_error, None);
}
