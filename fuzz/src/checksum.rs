//! Checksum repair, so that the fuzzer can get past the IPv4 and TCP
//! checksums (RFC 791 §3.1, RFC 9293 §3.1) and explore what lies behind
//! them, and so that hand-assembled test packets are valid.
//!
//! The sums are computed here from RFC 1071 directly, independently of
//! etherparse (ToyTCP) and of smoltcp, so a shared mistake would show up as
//! a disagreement rather than be hidden.

/// RFC 1071 one's-complement sum of `parts` (concatenated), folded to 16
/// bits and complemented: the value to store in a checksum field that was
/// zero while summing.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u64::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum (`ip`) and/or the TCP checksum
/// (`tcp`) of `pkt` in place, as far as the header fields allow locating
/// them: the IHL must cover at least 20 bytes that are present, and for the
/// TCP checksum the total length must cover an IP payload of at least 18
/// bytes (up to the checksum field) and not exceed the buffer. Fields that
/// cannot be located are left alone; nothing panics.
pub fn fix_checksums(pkt: &mut [u8], ip: bool, tcp: bool) {
    let Some(&b0) = pkt.first() else { return };
    let ihl = usize::from(b0 & 0x0f) * 4;
    if ihl < 20 || pkt.len() < ihl {
        return;
    }
    if tcp {
        let total = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        if total >= ihl + 18 && total <= pkt.len() {
            let mut pseudo = [0u8; 12];
            pseudo[..8].copy_from_slice(&pkt[12..20]);
            pseudo[9] = 6;
            // The protocol in the pseudo-header is always TCP's, whatever the
            // IPv4 protocol field says: the parser only sums for TCP.
            pseudo[10..].copy_from_slice(&((total - ihl) as u16).to_be_bytes());
            let seg = &mut pkt[ihl..total];
            seg[16] = 0;
            seg[17] = 0;
            let ck = internet_checksum(&[&pseudo, seg]);
            seg[16..18].copy_from_slice(&ck.to_be_bytes());
        }
    }
    if ip {
        pkt[10] = 0;
        pkt[11] = 0;
        let ck = internet_checksum(&[&pkt[..ihl]]);
        pkt[10..12].copy_from_slice(&ck.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (before
        // complementing).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&data]), !0xddf2);
        // Splitting the data at an odd offset does not change the sum.
        assert_eq!(internet_checksum(&[&data[..3], &data[3..]]), !0xddf2);
    }

    #[test]
    fn fixed_packets_parse() {
        let mut pkt = vec![0u8; 40];
        pkt[0] = 0x45;
        pkt[2..4].copy_from_slice(&40u16.to_be_bytes());
        pkt[8] = 64;
        pkt[9] = 6;
        pkt[12..16].copy_from_slice(&[10, 0, 0, 1]);
        pkt[16..20].copy_from_slice(&[10, 0, 0, 2]);
        pkt[32] = 5 << 4;
        assert!(toytcp_core::wire::parse(&pkt).is_err());
        fix_checksums(&mut pkt, true, true);
        assert!(toytcp_core::wire::parse(&pkt).is_ok());
        // Junk that cannot be located is left alone without panicking.
        for len in 0..40 {
            let mut short = pkt[..len].to_vec();
            fix_checksums(&mut short, true, true);
        }
    }
}
