//! The parsed form of a packet script.
//!
//! Nothing here depends on `toytcp-core`: a script is plain data, with
//! sequence numbers still *relative* (to the local ISS or the remote ISN) and
//! times in microseconds of virtual time. The runner turns it into real
//! segments and calls.

use std::net::Ipv4Addr;

/// Microseconds in one second; script times are kept in microseconds.
pub const MICROS_PER_SEC: u64 = 1_000_000;

/// TCP control bits with their wire values (RFC 9293 §3.1, RFC 3168).
pub mod flag {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    /// tcpdump's letters, in the order tcpdump prints them (`.` is ACK).
    pub const LETTERS: [(u8, char); 8] =
        [(SYN, 'S'), (FIN, 'F'), (RST, 'R'), (PSH, 'P'), (URG, 'U'), (ECE, 'E'), (CWR, 'W'), (ACK, '.')];
}

/// A whole script: header directives, then timed lines in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    pub header: Header,
    pub lines: Vec<Line>,
}

/// Everything the directives before the first timed line can set.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Address of the stack under test (`local`).
    pub local_addr: Ipv4Addr,
    /// Address of the scripted peer (`remote`).
    pub remote_addr: Ipv4Addr,
    /// Port of the stack under test, if known before `listen`/`connect`.
    pub local_port: Option<u16>,
    /// Port of the scripted peer (`remote_port`).
    pub remote_port: u16,
    /// The stack's initial send sequence number (`iss`).
    pub iss: u32,
    /// The scripted peer's initial sequence number (`remote_iss`).
    pub remote_iss: u32,
    /// How far an outbound segment's emission time may be from its line's
    /// time, in microseconds (`tolerance`).
    pub tolerance: u64,
    /// `config key=value` settings, in script order.
    pub config: Vec<Setting>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            local_addr: Ipv4Addr::new(10, 0, 0, 1),
            remote_addr: Ipv4Addr::new(10, 0, 0, 2),
            local_port: None,
            remote_port: 40000,
            iss: 0,
            remote_iss: 0,
            tolerance: 1000,
            config: Vec::new(),
        }
    }
}

/// One `key=value` from a `config` directive.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// Script line the setting is on (for error messages).
    pub line: usize,
    pub key: String,
    pub value: String,
}

/// One timed line.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    /// 1-based line number in the script file.
    pub number: usize,
    /// Absolute virtual time of the line, in microseconds.
    pub time: u64,
    /// The line as written (without its comment), for verbose output.
    pub source: String,
    pub step: Step,
}

/// What a timed line does.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `< …`: the scripted peer sends this segment to the stack.
    Inject(SegmentSpec),
    /// `< raw HEX`: the peer sends these exact IPv4 packet bytes.
    InjectRaw(Vec<u8>),
    /// `< icmp KIND [mtu N] [seq ±D]`: an ICMP error from the peer's
    /// address quoting the last segment a `>` line matched.
    InjectIcmp(IcmpSpec),
    /// `> …`: the stack must have emitted this segment at this time.
    Expect(SegmentSpec),
    /// `quiet`: nothing unconsumed has been emitted up to this time.
    Quiet,
    /// An application call, with the result it must have.
    Call(Call),
    /// An assertion about the stack's state.
    Check(Check),
}

/// A TCP segment as written in a script, sequence numbers relative.
///
/// On `<` lines `seq` is relative to the remote ISN and `ack` (and SACK
/// blocks) to the local ISS; on `>` lines the other way round. So the same
/// numbers describe a byte in both directions, as in packetdrill.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentSpec {
    /// Control bits (see [`flag`]).
    pub flags: u8,
    /// Relative sequence number of the first octet (or of the SYN/FIN).
    pub seq: u32,
    /// Payload length in octets (SYN and FIN not counted).
    pub len: u32,
    /// Relative acknowledgment number.
    pub ack: Option<u32>,
    /// Window field as on the wire (unscaled). `None` on a `>` line: not checked.
    pub win: Option<u16>,
    /// Urgent pointer. `None` on a `>` line: not checked.
    pub urg: Option<u16>,
    pub options: OptionsSpec,
    /// Port of the stack, when this line is not about the current flow.
    pub local_port: Option<u16>,
    /// Port of the peer, when this line is not about the current flow.
    pub remote_port: Option<u16>,
    /// `<` only: corrupt the TCP checksum after building the packet.
    pub bad_checksum: bool,
}

/// The `<…>` part of a segment line.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionsSpec {
    /// `<...>`: any options at all (`>` lines only).
    Any,
    /// Exactly these options (empty when the line has no `<…>`).
    List(Vec<TcpOpt>),
}

/// One TCP option as written in a script.
#[derive(Clone, Debug, PartialEq)]
pub enum TcpOpt {
    /// `nop`: accepted for readability; padding is the emitter's business.
    Nop,
    /// `eol`: likewise ignored.
    Eol,
    /// `mss N`
    Mss(u16),
    /// `wscale N`
    WindowScale(u8),
    /// `sackOK`
    SackPermitted,
    /// `TS val N ecr N` (`*` matches anything on `>` lines)
    Timestamps { val: Wild, ecr: Wild },
    /// `sack L:R L:R …` (relative, like `ack`)
    Sack(Vec<(u32, u32)>),
}

/// A number that may be `*` on `>` lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wild {
    Any,
    Is(u32),
}

/// An application call and the result it must return.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub op: Op,
    /// `-> …`; `None` means the call's natural success (see [`Op`]).
    pub outcome: Option<Outcome>,
}

/// Application calls (RFC 9293 §3.9.1's user interface, roughly).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `listen PORT [backlog N]`
    Listen { port: u16, backlog: usize },
    /// `accept [PORT]`: PORT defaults to the last `listen`.
    Accept { port: Option<u16> },
    /// `connect [ADDR:]PORT [from LPORT]`
    Connect { addr: Option<Ipv4Addr>, port: u16, from: Option<u16> },
    /// `send N`: N pattern bytes; success means all N were accepted.
    Send(usize),
    /// `recv N`: success means exactly N pattern bytes were read.
    Recv(usize),
    /// `shutdown`
    Shutdown,
    /// `close`
    Close,
    /// `abort`
    Abort,
    /// `nodelay on|off`
    NoDelay(bool),
    /// `use N`: later calls act on the N-th connection (1-based, in order
    /// of `connect`/`accept`).
    Use(usize),
}

/// What `-> …` says a call returns.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// `-> ok`
    Ok,
    /// `-> N`: `send`/`recv` moved N bytes.
    Count(usize),
    /// `-> eof`: `recv` returned end of stream.
    Eof,
    /// `-> none`: `accept` had no connection.
    Nothing,
    /// `-> Name`: the call failed with the error whose `Debug` is `Name`.
    Error(String),
}

/// `expect …` assertions.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// `expect state NAME`
    State(String),
    /// `expect event NAME` / `expect event none`
    Event(Option<String>),
    /// `expect stat NAME [OP] VALUE`: a field of the connection's `Stats`.
    Stat { name: String, op: CmpOp, value: String },
    /// `expect endpoint_stat NAME [OP] VALUE`: a field of `EndpointStats`.
    EndpointStat { name: String, op: CmpOp, value: String },
}

/// Comparison for `expect stat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    /// The operator as written in scripts.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Parses `==`, `!=`, `<`, `<=`, `>`, `>=`.
    pub fn from_symbol(s: &str) -> Option<CmpOp> {
        Some(match s {
            "==" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            ">=" => CmpOp::Ge,
            _ => return None,
        })
    }

    /// Applies the comparison to an ordering of `actual` against `expected`.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

/// The payload pattern: the byte at stream offset `offset` (0 = first data
/// octet after the SYN). 251 is prime, so a segment shifted by any amount
/// short of 251 bytes shows up as wrong data.
pub fn pattern_byte(offset: u64) -> u8 {
    (offset % 251) as u8
}

/// `len` pattern bytes starting at stream offset `offset`.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| pattern_byte(offset + i)).collect()
}

/// Stream offset of the first payload octet of a segment whose relative
/// sequence number is `seq` (the SYN occupies relative sequence number 0).
pub fn stream_offset(seq: u32, syn: bool) -> u64 {
    u64::from(seq.wrapping_add(u32::from(syn)).wrapping_sub(1))
}

/// The ICMP error names a script may use, as written after `< icmp`.
pub const ICMP_KINDS: [&str; 10] = [
    "net-unreachable",
    "host-unreachable",
    "protocol-unreachable",
    "port-unreachable",
    "frag-needed",
    "source-route-failed",
    "admin-prohibited",
    "source-quench",
    "time-exceeded",
    "parameter-problem",
];

/// An `< icmp` line.
#[derive(Clone, Debug, PartialEq)]
pub struct IcmpSpec {
    /// One of [`ICMP_KINDS`].
    pub kind: &'static str,
    /// Next-hop MTU (`frag-needed` only; 0 when not given).
    pub mtu: u16,
    /// Added to the quoted sequence number (0: the segment as sent).
    pub seq_delta: i64,
}

impl std::fmt::Display for IcmpSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "icmp {}", self.kind)?;
        if self.mtu != 0 {
            write!(f, " mtu {}", self.mtu)?;
        }
        if self.seq_delta != 0 {
            write!(f, " seq {:+}", self.seq_delta)?;
        }
        Ok(())
    }
}
