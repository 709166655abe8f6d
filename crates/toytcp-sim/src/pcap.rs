//! Classic pcap files (the libpcap format, microsecond timestamps) with
//! link type `LINKTYPE_RAW` (101): every record is a bare IPv4 packet, as
//! `tcpdump -r` and Wireshark read it. The one pcap writer of the
//! workspace: the simulator's captures and `toytcp-cli --pcap` (real
//! network and `sim`) both use it; a reader for tests comes with it.
//!
//! Layout: a 24-byte global header (magic `0xa1b2c3d4` in the writer's
//! byte order, version 2.4, time zone and accuracy 0, snap length, link
//! type), then per packet a 16-byte record header (seconds, microseconds,
//! captured length, original length) and the captured bytes.
//!
//! Time is the core's [`Instant`]: microseconds from an epoch the caller
//! chooses — the start of virtual time in the simulator, the Unix epoch
//! for captures of a real network (see [`unix_time`]).
//!
//! Nothing here opens a file: the writer works on any [`Write`] the caller
//! passes in (a `Vec<u8>`, a `BufWriter<File>`).
//!
//! Format: <https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! link types: <https://www.tcpdump.org/linktypes.html>.

use std::io::{self, Read, Write};
use toytcp_core::Instant;

/// `LINKTYPE_RAW`: packets begin with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// `LINKTYPE_ETHERNET`: packets begin with a 14-byte Ethernet header (what
/// `tcpdump -i veth -w` writes). Only read, never written.
pub const LINKTYPE_ETHERNET: u32 = 1;

/// Magic number of a microsecond-resolution pcap file.
const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Largest packet length recorded whole: the largest IPv4 packet.
pub const SNAPLEN: u32 = 65535;

/// Length of the global header.
const HEADER_LEN: usize = 24;

/// Length of a record header.
const RECORD_HEADER_LEN: usize = 16;

/// Writes the 24-byte file header (link type [`LINKTYPE_RAW`]).
pub fn write_header(w: &mut impl Write) -> io::Result<()> {
    let mut header = [0u8; HEADER_LEN];
    header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
    header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version major
    header[6..8].copy_from_slice(&4u16.to_le_bytes()); // version minor
    // thiszone (8..12) and sigfigs (12..16) stay 0.
    header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
    w.write_all(&header)
}

/// Writes one record: a 16-byte header, then the packet (cut at the snap
/// length; the header keeps the original length). Seconds past `u32::MAX`
/// (the year 2106 for Unix time) are written as `u32::MAX`.
pub fn write_record(w: &mut impl Write, time: Instant, packet: &[u8]) -> io::Result<()> {
    let micros = time.as_micros();
    let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
    let captured = &packet[..packet.len().min(SNAPLEN as usize)];
    let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
    let mut record = [0u8; RECORD_HEADER_LEN];
    record[0..4].copy_from_slice(&secs.to_le_bytes());
    // Below 1,000,000: fits.
    record[4..8].copy_from_slice(&((micros % 1_000_000) as u32).to_le_bytes());
    // At most SNAPLEN: fits.
    record[8..12].copy_from_slice(&(captured.len() as u32).to_le_bytes());
    record[12..16].copy_from_slice(&orig_len.to_le_bytes());
    w.write_all(&record)?;
    w.write_all(captured)
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

/// `at` as an [`Instant`] counted from the Unix epoch: the timestamps of a
/// capture of a real network (times before the epoch become zero).
pub fn unix_time(at: std::time::SystemTime) -> Instant {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
}

/// A pcap stream being written: the header on creation, then one record
/// per [`PcapWriter::write_packet`]. It does not buffer itself; call
/// [`PcapWriter::flush`] before the end when the stream under it does.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header (link type [`LINKTYPE_RAW`]) to `out`.
    pub fn new(mut out: W) -> io::Result<Self> {
        write_header(&mut out)?;
        Ok(PcapWriter { out })
    }

    /// Appends one IPv4 packet seen at `at` ([`write_record`]).
    pub fn write_packet(&mut self, at: Instant, packet: &[u8]) -> io::Result<()> {
        write_record(&mut self.out, at, packet)
    }

    /// Flushes the stream underneath.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The stream underneath.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// One record of a pcap file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time, from the file's epoch (nanosecond files: truncated to
    /// microseconds).
    pub at: Instant,
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
/// nanosecond magic) — ours, or tcpdump's. A truncated last record ends
/// the capture, as it does for tcpdump when the writer was killed
/// mid-record; anything that is not a pcap header is an
/// [`io::ErrorKind::InvalidData`] error.
pub fn read(mut input: impl Read) -> io::Result<Capture> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("not a pcap file: {what}"));
    let header = bytes.get(..HEADER_LEN).ok_or_else(|| bad("shorter than the 24-byte header"))?;
    let (little, nanos) = match [header[0], header[1], header[2], header[3]] {
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
    // The upper bits of the field may carry FCS flags (pcap-savefile(5)).
    let linktype = u32_at(header, 20) & 0x0fff_ffff;
    let mut records = Vec::new();
    let mut rest = &bytes[HEADER_LEN..];
    while rest.len() >= RECORD_HEADER_LEN {
        let secs = u64::from(u32_at(rest, 0));
        let frac = u64::from(u32_at(rest, 4));
        let caplen = u32_at(rest, 8) as usize;
        let end = RECORD_HEADER_LEN.saturating_add(caplen);
        let Some(data) = rest.get(RECORD_HEADER_LEN..end) else { break };
        let micros = if nanos { frac / 1000 } else { frac };
        let at = Instant::from_micros(secs * 1_000_000 + micros);
        records.push(Record { at, data: data.to_vec() });
        rest = &rest[end..];
    }
    Ok(Capture { linktype, records })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_record_layout() {
        let bytes = to_bytes([(Instant::from_micros(3_000_005), &[0x45u8, 0, 0, 20][..])]);
        assert_eq!(bytes.len(), 24 + 16 + 4);
        assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(&bytes[4..8], &[2, 0, 4, 0]);
        assert_eq!(&bytes[8..16], &[0; 8]);
        assert_eq!(&bytes[16..20], &65535u32.to_le_bytes());
        assert_eq!(u32::from_le_bytes(bytes[20..24].try_into().unwrap()), 101);
        assert_eq!(u32::from_le_bytes(bytes[24..28].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(bytes[28..32].try_into().unwrap()), 5);
        assert_eq!(u32::from_le_bytes(bytes[32..36].try_into().unwrap()), 4);
        assert_eq!(u32::from_le_bytes(bytes[36..40].try_into().unwrap()), 4);
        assert_eq!(&bytes[40..], &[0x45, 0, 0, 20]);
    }

    #[test]
    fn writer_and_to_bytes_agree() {
        let packets: [(Instant, &[u8]); 2] =
            [(Instant::from_micros(1), b"first"), (Instant::from_micros(1_700_000_000_123_456), b"second!")];
        let mut w = PcapWriter::new(Vec::new()).expect("header");
        for (t, p) in packets {
            w.write_packet(t, p).expect("record");
        }
        assert_eq!(w.into_inner(), to_bytes(packets));
    }

    #[test]
    fn unix_time_counts_from_the_epoch() {
        let at = std::time::UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(unix_time(at), Instant::from_micros(1_700_000_000_123_456));
        let bytes = to_bytes([(unix_time(at), &b"x"[..])]);
        assert_eq!(&bytes[24..28], &1_700_000_000u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &123_456u32.to_le_bytes());
    }

    #[test]
    fn long_packets_are_cut_at_the_snap_length() {
        let big = vec![0x45u8; SNAPLEN as usize + 10];
        let bytes = to_bytes([(Instant::ZERO, big.as_slice())]);
        assert_eq!(bytes.len(), 24 + 16 + SNAPLEN as usize);
        assert_eq!(&bytes[32..36], &SNAPLEN.to_le_bytes());
        assert_eq!(&bytes[36..40], &(SNAPLEN + 10).to_le_bytes());
    }

    #[test]
    fn read_back_what_was_written() {
        let t = Instant::from_micros(5_000_007);
        let cap = read(to_bytes([(t, &b"first"[..]), (t, &b"second!"[..])]).as_slice()).expect("parse");
        assert_eq!(cap.linktype, LINKTYPE_RAW);
        assert_eq!(cap.ipv4_packets(), vec![&b"first"[..], &b"second!"[..]]);
        assert_eq!(cap.records[1].at, t);
    }

    #[test]
    fn big_endian_nanosecond_ethernet_files_are_read() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&[0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4]);
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_be_bytes());
        bytes.extend_from_slice(&1u32.to_be_bytes());
        let mut ipv4 = vec![0u8; 12];
        ipv4.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 1]);
        for f in [&ipv4, &arp] {
            bytes.extend_from_slice(&2u32.to_be_bytes());
            bytes.extend_from_slice(&1_500u32.to_be_bytes());
            bytes.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bytes.extend_from_slice(&(f.len() as u32).to_be_bytes());
            bytes.extend_from_slice(f);
        }
        let cap = read(bytes.as_slice()).expect("parse");
        assert_eq!(cap.linktype, LINKTYPE_ETHERNET);
        assert_eq!(cap.records.len(), 2);
        assert_eq!(cap.records[0].at, Instant::from_micros(2_000_001));
        assert_eq!(cap.ipv4_packets(), vec![&[0x45, 0x00][..]]);
    }

    #[test]
    fn garbage_is_an_error_and_truncation_ends_the_capture() {
        assert_eq!(read(&b"short"[..]).expect_err("too short").kind(), io::ErrorKind::InvalidData);
        assert_eq!(read(&[0u8; 24][..]).expect_err("bad magic").kind(), io::ErrorKind::InvalidData);
        let mut bytes = to_bytes([(Instant::ZERO, &b"whole"[..]), (Instant::ZERO, &b"cut short"[..])]);
        bytes.truncate(bytes.len() - 2);
        let cap = read(bytes.as_slice()).expect("parse");
        assert_eq!(cap.ipv4_packets(), vec![&b"whole"[..]]);
        // A record header claiming more than the file holds is the end, not a panic.
        let mut lying = to_bytes([]);
        lying.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        assert!(read(lying.as_slice()).expect("parse").records.is_empty());
    }
}
