//! Tests of the runner itself: a script that is wrong must fail, at the
//! right line, with the expected and actual segments in script syntax.
//!
//! They lean only on the most basic behaviour of the core (a listener
//! answers a SYN with a SYN-ACK and retransmits it on the initial RTO).

use super::run_text;

const HEADER: &str = "config recv_buffer=65535 wscale=off sack=off ts=off initial_rto=1s\n";

/// Runs `body` after [`HEADER`] and returns the failure as
/// `line N: message`, panicking if the script passed.
fn failure(body: &str) -> String {
    match run_text(&format!("{HEADER}{body}"), false) {
        Ok(()) => panic!("script should have failed:\n{body}"),
        Err(f) => format!("line {}: {}", f.line, f.message),
    }
}

fn passes(body: &str) {
    if let Err(f) = run_text(&format!("{HEADER}{body}"), false) {
        panic!("script should pass, failed at line {}: {}\n{body}", f.line, f.message);
    }
}

const SYN: &str = "0 listen 8080\n+0 < S 0:0(0) win 65535 <mss 1460>\n";

#[test]
fn a_passing_handshake() {
    passes(&format!("{SYN}+0 > S. 0:0(0) ack 1 win 65535 <mss 1460>\n+.1 < . 1:1(0) ack 1 win 65535\n+0 accept\n"));
}

#[test]
fn a_wrong_field_shows_script_and_actual() {
    let f = failure(&format!("{SYN}+0 > S. 0:0(0) ack 1 win 1000 <mss 1460>\n"));
    assert!(f.starts_with("line 4: outbound segment does not match the script (win)"), "{f}");
    assert!(f.contains("script: 0.000 > S. 0:0(0) ack 1 win 1000 <mss 1460>"), "{f}");
    assert!(f.contains("actual: 0.000 > S. 0:0(0) ack 1 win 65535 <mss 1460>"), "{f}");
    assert!(f.contains("recent segments (oldest first):\n    0.000 < S 0:0(0) win 65535 <mss 1460>"), "{f}");

    let f = failure(&format!("{SYN}+0 > S. 0:0(0) ack 1 <mss 1460,sackOK>\n"));
    assert!(f.contains("(options)"), "{f}");
    let f = failure(&format!("{SYN}+0 > S. 0:0(0) ack 1 <mss 1460> rport 1234\n"));
    assert!(f.contains("(rport)"), "{f}");
    let f = failure(&format!("{SYN}+0 > S 0:0(0) <mss 1460>\n"));
    assert!(f.contains("(flags)"), "{f}");
}

#[test]
fn an_unexpected_segment_is_caught_at_the_next_line() {
    let f = failure(&format!("{SYN}+.5 quiet\n"));
    assert!(
        f.starts_with("line 4: unexpected outbound segment:\n    0.000 > S. 0:0(0) ack 1 win 65535 <mss 1460>"),
        "{f}"
    );
    let f = failure(&format!("{SYN}+.5 accept -> none\n"));
    assert!(f.starts_with("line 4: unexpected outbound segment"), "{f}");
    let f = failure(SYN);
    assert!(f.starts_with("line 3: the script ended with unconsumed outbound segment(s)"), "{f}");
}

#[test]
fn timing_is_exact_within_the_tolerance() {
    let synack = "> S. 0:0(0) ack 1 win 65535 <mss 1460>";
    // The SYN-ACK is retransmitted on the initial RTO, 1 s later.
    passes(&format!("{SYN}+0 {synack}\n+1 {synack}\n+.1 < . 1:1(0) ack 1 win 65535\n"));
    passes(&format!("{SYN}+0 {synack}\n+1.0009 {synack}\n+.1 < . 1:1(0) ack 1 win 65535\n"));
    let f = failure(&format!("{SYN}+0 {synack}\n+1.1 {synack}\n"));
    assert!(
        f.starts_with("line 5: outbound segment emitted at 1.000, the script expects it at 1.100 (tolerance 1ms)"),
        "{f}"
    );
    let f = failure(&format!("{SYN}+.5 {synack}\n"));
    assert!(f.starts_with("line 4: outbound segment emitted at 0.000, the script expects it at 0.500"), "{f}");
    let f = failure(&format!("{SYN}+0 {synack}\n+.9 {synack}\n"));
    assert!(f.starts_with("line 5: expected an outbound segment, but the stack emitted nothing by 0.900"), "{f}");
    assert!(f.contains("its next timer is at 1.000"), "{f}");
}

#[test]
fn calls_events_and_stats_are_checked() {
    let open = format!("{SYN}+0 > S. 0:0(0) ack 1 win 65535 <mss 1460>\n+.1 < . 1:1(0) ack 1 win 65535\n+0 accept\n");
    let f = failure(&format!("{open}+0 expect event Closed(Reset)\n"));
    assert!(f.starts_with("line 7: the next event is Connected, the script expects Closed(Reset)"), "{f}");
    let f = failure(&format!("{open}+0 expect state CLOSE-WAIT\n"));
    let expected = [
        "line 7: state is ESTABLISHED, the script expects CLOSE-WAIT",
        "  recent segments (oldest first):",
        "    0.000 < S 0:0(0) win 65535 <mss 1460>",
        "    0.000 > S. 0:0(0) ack 1 win 65535 <mss 1460>",
        "    0.100 < . 1:1(0) ack 1 win 65535",
    ];
    assert_eq!(f, expected.join("\n"));
    let f = failure(&format!("{open}+0 recv 10\n"));
    assert!(f.starts_with("line 7: the call failed with WouldBlock, the script expects 10"), "{f}");
    let f = failure(&format!("{open}+0 expect stat no_such_thing 1\n"));
    assert!(f.starts_with("line 7: no stat `no_such_thing`; they are: segs_in, "), "{f}");
    let f = failure(&format!("{open}+0 expect stat retransmits > 0\n"));
    assert!(f.starts_with("line 7: stat retransmits is 0, the script expects > 0"), "{f}");
    passes(&format!("{open}+0 expect event Connected\n+0 expect event none\n+0 expect state established\n"));
}

#[test]
fn data_must_follow_the_pattern() {
    use toytcp_core::seq::SeqNum;
    use toytcp_core::wire::{self, Flags, SegmentHeader};
    let open = format!("{SYN}+0 > S. 0:0(0) ack 1 win 65535 <mss 1460>\n+.1 < . 1:1(0) ack 1 win 65535\n+0 accept\n");
    passes(&format!("{open}+0 < P. 1:11(10) ack 1 win 65535\n+0 recv 10\n+.04 > . 1:1(0) ack 11 win 65525\n"));
    let f = failure(&format!("{open}+0 < P. 1:11(10) ack 1 win 65535\n+0 recv 10 -> 5\n"));
    assert!(f.starts_with("line 8: the call returned 10, the script expects 5"), "{f}");

    // The same segment built by hand with the wrong bytes, sent raw.
    let header = SegmentHeader {
        src_port: 40000,
        dst_port: 8080,
        seq: SeqNum(1),
        ack: SeqNum(1),
        flags: Flags::PSH | Flags::ACK,
        window: 65535,
        ..SegmentHeader::default()
    };
    let mut buf = [0u8; 100];
    let len = wire::emit([10, 0, 0, 2].into(), [10, 0, 0, 1].into(), &header, &[b"XXXXXXXXXX"], &mut buf).unwrap();
    let hex: String = buf[..len].iter().map(|b| format!("{b:02x}")).collect();
    let f = failure(&format!("{open}+0 < raw {hex}\n+0 recv 10\n"));
    assert!(
        f.starts_with("line 8: `recv` returned wrong data: byte at stream offset 0 is 0x58, the peer sent 0x00"),
        "{f}"
    );
    assert!(f.contains("0.100 < P. 1:11(10) ack 1 win 65535"), "{f}");
}

#[test]
fn setup_errors_name_their_line() {
    assert_eq!(run_text("config bogus=1\n0 quiet\n", false).err().map(|f| f.line), Some(1));
    let f = run_text("0 quiet\n+1 < S 0:0(0)\n", false).expect_err("no port known");
    assert_eq!(f.line, 2);
    assert!(f.message.starts_with("the stack's port is not known yet"), "{}", f.message);
    let f = run_text("\n\n0 > S 0:0(0) ack\n", false).expect_err("parse error");
    assert_eq!((f.line, f.message.as_str()), (3, "`ack` needs a number"));
}

#[test]
fn relative_numbers_survive_the_wrap() {
    // Both ISNs just below 2^32: the numbers in the script stay small.
    let script = "iss 4294967000\nremote_iss 4294966000\n\
        0 listen 8080\n\
        +0 < S 0:0(0) win 65535 <mss 1460>\n\
        +0 > S. 0:0(0) ack 1 win 65535 <mss 1460>\n\
        +.1 < . 1:1(0) ack 1 win 65535\n\
        +0 accept\n\
        +0 < . 1:1461(1460) ack 1 win 65535\n\
        +0 < P. 1461:2921(1460) ack 1 win 65535\n\
        +0 > . 1:1(0) ack 2921 win 62615\n\
        +0 recv 2920\n\
        +0 send 2000\n\
        +0 > . 1:1461(1460) ack 2921 win 65535\n\
        +.1 < . 2921:2921(0) ack 1461 win 65535\n\
        +0 > P. 1461:2001(540) ack 2921 win 65535\n\
        +.1 < . 2921:2921(0) ack 2001 win 65535\n\
        +0 expect stat bytes_acked 2000\n";
    if let Err(f) = run_text(&format!("{HEADER}{script}"), false) {
        panic!("line {}: {}", f.line, f.message);
    }
}
