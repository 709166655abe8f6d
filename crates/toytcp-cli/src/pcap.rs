//! A classic pcap file writer (and a reader for tests) for raw IPv4 packets.
//!
//! The format is the original libpcap one: a 24-byte global header
//! (magic `0xa1b2c3d4` in the writer's byte order, version 2.4, snap length,
//! link type) followed by one 16-byte record header (seconds, microseconds,
//! captured length, original length) per packet. The link type is
//! `LINKTYPE_RAW` (101): every record starts with an IPv4 header, no link
//! layer. tcpdump and Wireshark read these files as they are
//! (`tcpdump -nr FILE`).

use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// `LINKTYPE_RAW`: packets start with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// `LINKTYPE_ETHERNET`: packets start with a 14-byte Ethernet header (what
/// `tcpdump -i veth` writes).
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Snap length written into the header: the largest IPv4 packet.
const SNAPLEN: u32 = 65535;

/// Magic number of a microsecond-resolution pcap file.
const MAGIC: u32 = 0xa1b2_c3d4;

/// Writes packets to a pcap stream. Call [`PcapWriter::flush`] before the
/// end: the writer does not buffer itself, but the stream under it may.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (link type [`LINKTYPE_RAW`]) to `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (8..12) and sigfigs (12..16) stay 0.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one IPv4 packet seen at `at` (truncated to the snap length;
    /// the record keeps the original length).
    pub fn write_packet(&mut self, at: SystemTime, packet: &[u8]) -> io::Result<()> {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = u32::try_from(since.as_secs()).unwrap_or(u32::MAX);
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let captured = &packet[..packet.len().min(SNAPLEN as usize)];
        let mut record = [0u8; 16];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&since.subsec_micros().to_le_bytes());
        record[8..12].copy_from_slice(&(captured.len() as u32).to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(captured)
    }

    /// Flushes the stream underneath.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One record of a pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time.
    pub at: SystemTime,
    /// The captured bytes (link-layer header included, if the link type has one).
    pub data: Vec<u8>,
}

/// A whole pcap file: its link type and records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The link type from the global header ([`LINKTYPE_RAW`], [`LINKTYPE_ETHERNET`], …).
    pub linktype: u32,
    /// Every record, in file order.
    pub records: Vec<Record>,
}

impl Capture {
    /// The IPv4 packets of the capture: records as they are for
    /// [`LINKTYPE_RAW`]; for [`LINKTYPE_ETHERNET`], the payload of frames
    /// whose EtherType is IPv4 (0x0800). Other link types give nothing.
    pub fn ipv4_packets(&self) -> Vec<&[u8]> {
        self.records
            .iter()
            .filter_map(|r| match self.linktype {
                LINKTYPE_RAW => Some(r.data.as_slice()),
                LINKTYPE_ETHERNET if r.data.get(12..14) == Some(&[0x08, 0x00]) => r.data.get(14..),
                _ => None,
            })
            .collect()
    }
}

/// Reads a classic pcap stream (either byte order, microsecond or
/// nanosecond magic). A truncated last record ends the capture, as it does
/// for tcpdump when the writer was killed mid-record.
pub fn read(mut input: impl Read) -> io::Result<Capture> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a pcap file: {what}"));
    let header = bytes.get(..24).ok_or_else(|| bad("shorter than the 24-byte header"))?;
    let magic = [header[0], header[1], header[2], header[3]];
    let (little, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Err(bad("unknown magic number")),
    };
    let u32_at = |b: &[u8], i: usize| {
        let v = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if little { u32::from_le_bytes(v) } else { u32::from_be_bytes(v) }
    };
    let linktype = u32_at(header, 20) & 0x0fff_ffff;
    let mut records = Vec::new();
    let mut rest = &bytes[24..];
    while rest.len() >= 16 {
        let secs = u32_at(rest, 0);
        let frac = u32_at(rest, 4);
        let caplen = u32_at(rest, 8) as usize;
        let Some(data) = rest.get(16..16 + caplen) else { break };
        let sub = if nanos {
            std::time::Duration::from_nanos(frac.into())
        } else {
            std::time::Duration::from_micros(frac.into())
        };
        let at = UNIX_EPOCH + std::time::Duration::from_secs(secs.into()) + sub;
        records.push(Record { at, data: data.to_vec() });
        rest = &rest[16 + caplen..];
    }
    Ok(Capture { linktype, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        let at = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000);
        w.write_packet(at, &[0x45, 1, 2]).expect("record");
        let bytes = w.out;
        assert_eq!(bytes.len(), 24 + 16 + 3);
        assert_eq!(&bytes[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0]);
        assert_eq!(&bytes[16..20], &65535u32.to_le_bytes());
        assert_eq!(&bytes[20..24], &101u32.to_le_bytes());
        assert_eq!(&bytes[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &123_456u32.to_le_bytes());
        assert_eq!(&bytes[32..36], &3u32.to_le_bytes());
        assert_eq!(&bytes[36..40], &3u32.to_le_bytes());
        assert_eq!(&bytes[40..], &[0x45, 1, 2]);
    }

    #[test]
    fn read_back_what_was_written() {
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        let at = UNIX_EPOCH + Duration::new(5, 7_000);
        w.write_packet(at, b"first").expect("record");
        w.write_packet(at, b"second!").expect("record");
        let cap = read(w.out.as_slice()).expect("parse");
        assert_eq!(cap.linktype, LINKTYPE_RAW);
        assert_eq!(cap.ipv4_packets(), vec![&b"first"[..], &b"second!"[..]]);
        assert_eq!(cap.records[0].at, at);
    }

    #[test]
    fn ethernet_frames_yield_their_ipv4_payload() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_be_bytes());
        bytes.extend_from_slice(&1u32.to_be_bytes());
        let mut frame = vec![0u8; 12];
        frame.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        for f in [&frame, &arp] {
            bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0]);
            bytes.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bytes.extend_from_slice(f);
        }
        let cap = read(bytes.as_slice()).expect("parse");
        assert_eq!(cap.linktype, LINKTYPE_ETHERNET);
        assert_eq!(cap.records.len(), 2);
        assert_eq!(cap.ipv4_packets(), vec![&[0x45, 0x00][..]]);
    }

    #[test]
    fn garbage_is_an_error_and_truncation_ends_the_capture() {
        assert_eq!(read(&b"short"[..]).expect_err("too short").kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&[0u8; 24][..]).expect_err("bad magic").kind(), io::ErrorKind::InvalidData);
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        w.write_packet(UNIX_EPOCH, b"whole").expect("record");
        w.write_packet(UNIX_EPOCH, b"cut short").expect("record");
        let mut bytes = w.out;
        bytes.truncate(bytes.len() - 2);
        assert_eq!(read(bytes.as_slice()).expect("parse").records.len(), 1);
    }
}
