//! Classic pcap files (the libpcap format, microsecond timestamps) with
//! link type `LINKTYPE_RAW` (101): every record is a bare IPv4 packet, as
//! `tcpdump -r` and Wireshark read it.
//!
//! Format: <https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! link types: <https://www.tcpdump.org/linktypes.html>.

use std::io::{self, Write};
use toytcp_core::Instant;

/// `LINKTYPE_RAW`: packets begin with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// Magic number of a microsecond-resolution pcap file.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Largest packet length recorded whole.
const SNAPLEN: u32 = 65535;

/// Writes the 24-byte file header.
pub fn write_header(w: &mut impl Write) -> io::Result<()> {
    w.write_all(&MAGIC_MICROS.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?; // version major
    w.write_all(&4u16.to_le_bytes())?; // version minor
    w.write_all(&0i32.to_le_bytes())?; // thiszone
    w.write_all(&0u32.to_le_bytes())?; // sigfigs
    w.write_all(&SNAPLEN.to_le_bytes())?;
    w.write_all(&LINKTYPE_RAW.to_le_bytes())
}

/// Writes one record: a 16-byte header, then the packet (cut at the snap length).
pub fn write_record(w: &mut impl Write, time: Instant, packet: &[u8]) -> io::Result<()> {
    let micros = time.as_micros();
    let incl = packet.len().min(SNAPLEN as usize);
    w.write_all(&((micros / 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&((micros % 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&(incl as u32).to_le_bytes())?;
    w.write_all(&(packet.len() as u32).to_le_bytes())?;
    w.write_all(&packet[..incl])
}

/// A whole pcap file in memory.
pub fn to_bytes<'a>(records: impl IntoIterator<Item = (Instant, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = write_header(&mut out);
    for (t, p) in records {
        let _ = write_record(&mut out, t, p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let bytes = to_bytes([(Instant::from_micros(3_000_005), &[0x45u8, 0, 0, 20][..])]);
        assert_eq!(bytes.len(), 24 + 16 + 4);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(bytes[32..36].try_into().unwrap()), 4);
        assert_eq!(&bytes[40..], &[0x45, 0, 0, 20]);
    }
}
