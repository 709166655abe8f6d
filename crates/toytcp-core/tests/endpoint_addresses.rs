//! Endpoint-level checks that need addresses a packet script cannot
//! express: SYNs from or to broadcast and multicast addresses.

use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::wire::{self, Flags, SegmentHeader, TcpOptions};
use toytcp_core::{Endpoint, EndpointConfig, Instant, SeqNum};

fn syn(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let header = SegmentHeader {
        src_port: 40000,
        dst_port: 8080,
        seq: SeqNum(1000),
        ack: SeqNum(0),
        flags: Flags::SYN,
        window: 65535,
        urgent: 0,
        options: TcpOptions { mss: Some(1460), ..Default::default() },
    };
    let mut buf = vec![0u8; 128];
    let n = wire::emit(src, dst, &header, &[], &mut buf).expect("fits");
    buf.truncate(n);
    buf
}

/// RFC 9293 §3.10.7.2 and §3.9.2.1 (MUST-57): TCP is unicast only; such
/// SYNs get neither a SYN-ACK nor a RST, and are counted.
#[test]
fn syns_from_or_to_non_unicast_addresses_are_discarded_silently() {
    let mut ep = Endpoint::new(EndpointConfig::default());
    ep.listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080), 8).unwrap();
    let now = Instant::from_millis(1);
    let peer = Ipv4Addr::new(10, 0, 0, 2);
    let me = Ipv4Addr::new(10, 0, 0, 1);
    let mut buf = [0u8; 1600];
    for (src, dst) in [
        (peer, Ipv4Addr::BROADCAST),
        (peer, Ipv4Addr::new(224, 0, 0, 1)),
        (Ipv4Addr::new(239, 1, 2, 3), me),
        (Ipv4Addr::BROADCAST, me),
        (Ipv4Addr::UNSPECIFIED, me),
    ] {
        ep.handle(now, &syn(src, dst));
        assert_eq!(ep.poll_transmit(now, &mut buf), None, "no reply to a SYN {src} -> {dst}");
    }
    assert_eq!(ep.stats().bad_address, 5);
    assert_eq!(ep.connection_count(), 0);

    // The same SYN between unicast addresses opens a connection.
    ep.handle(now, &syn(peer, me));
    let t = ep.poll_transmit(now, &mut buf).expect("SYN-ACK");
    let reply = wire::parse(&buf[..t.len]).unwrap();
    assert_eq!(reply.header.flags, Flags::SYN | Flags::ACK);
    assert_eq!(reply.header.ack, SeqNum(1001));
}
