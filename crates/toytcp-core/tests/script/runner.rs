//! Runs a parsed [`Script`] against one `toytcp_core` [`Endpoint`] in
//! virtual time.
//!
//! The runner plays the network and the application. It keeps `now`; before
//! each line at time T it fires every timer due by T (in deadline order,
//! each at its own deadline) and queues what the stack emits, tagged with
//! the emission time. Then:
//!
//! - a `>` line takes the oldest queued segment and checks it field by
//!   field and that it was emitted at T (± the tolerance). If nothing is
//!   queued it lets timers due within the tolerance fire first;
//! - every other line first checks that nothing emitted before T (less the
//!   tolerance) is still unconsumed: a segment the script did not expect
//!   is an error at the first line that comes after it;
//! - `<` lines build a real IPv4 packet with `wire::emit` and feed it to
//!   `Endpoint::handle`; application calls go to the endpoint's API.
//!
//! After every input and call the outputs are drained as the core contract
//! says: `poll_transmit` until `None`, `poll_timeout`, `poll_event` until
//! `None`. At the end of the script no unconsumed segment may remain.

use super::ast::*;
use super::debug_fields;
use super::format::{self, differences, layout_like};
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use toytcp_core::Error;
use toytcp_core::connection::Event;
use toytcp_core::endpoint::{ConnectionHandle, Endpoint, EndpointConfig, EndpointEvent};
use toytcp_core::seq::SeqNum;
use toytcp_core::time::{Duration, Instant};
use toytcp_core::wire::{self, Flags, SackBlock, Segment, SegmentHeader, TcpOptions, Timestamps};

/// How many segments (both directions) a failure report shows.
const HISTORY: usize = 10;
/// Size of the buffer handed to `poll_transmit` and `wire::emit`.
const PACKET_BUF: usize = 65535;
/// A drain that yields more segments than this means the stack is looping.
const MAX_SEGMENTS_PER_DRAIN: usize = 10_000;

/// Why a script failed: the script line, and a message that may span lines.
#[derive(Debug)]
pub struct Failure {
    pub line: usize,
    pub message: String,
}

type Res<T> = Result<T, String>;

/// Runs `script`. `progress` is kept at the number of the line being run,
/// so a caller that catches a panic in the core can say where it happened.
/// With `verbose`, every line and every segment is printed as it happens.
pub fn run(script: &Script, verbose: bool, progress: &mut usize) -> Result<(), Failure> {
    let mut runner = Runner::new(script, verbose).map_err(|(line, message)| Failure { line, message })?;
    for line in &script.lines {
        *progress = line.number;
        if verbose {
            println!("    line {:>3} {}", line.number, line.source);
        }
        runner.step(line).map_err(|m| runner.failure(line.number, m))?;
    }
    let last = script.lines.last().map_or(0, |l| l.number);
    if !runner.outbound.is_empty() {
        let left: Vec<String> = runner.outbound.iter().map(|p| format!("\n    {}", runner.describe(p))).collect();
        let message = format!("the script ended with unconsumed outbound segment(s):{}", left.concat());
        return Err(runner.failure(last, message));
    }
    Ok(())
}

/// Addresses and ports that `<` and `>` lines use unless they say otherwise.
#[derive(Clone, Copy)]
struct Flow {
    local_addr: Ipv4Addr,
    remote_addr: Ipv4Addr,
    local_port: Option<u16>,
    remote_port: u16,
}

/// A segment the stack emitted and no `>` line has consumed yet.
struct Emitted {
    at: Instant,
    bytes: Vec<u8>,
    /// Where the `Transmit` said to send it (must agree with the IP header).
    src: Ipv4Addr,
    dst: Ipv4Addr,
}

/// A connection the script opened with `connect` or `accept`.
struct Conn {
    handle: ConnectionHandle,
    local_port: u16,
    remote: SocketAddrV4,
    /// Bytes handed to `send` so far: the next `send` continues the pattern here.
    sent: u64,
    /// Bytes read by `recv` so far: the next read must match the pattern here.
    received: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// `<`: peer to stack.
    In,
    /// `>`: stack to peer.
    Out,
}

struct Runner {
    ep: Endpoint,
    now: Instant,
    verbose: bool,
    tolerance: Duration,
    /// The stack's and the peer's initial sequence numbers, the bases of
    /// relative numbering.
    local_iss: SeqNum,
    remote_iss: SeqNum,
    flow: Flow,
    /// Port of the last `listen`, the default for `accept`.
    listen_port: Option<u16>,
    outbound: VecDeque<Emitted>,
    /// The last segment a `>` line matched: what `< icmp` quotes.
    last_matched: Option<Vec<u8>>,
    /// Recent segments, rendered, for failure reports.
    history: VecDeque<String>,
    events: VecDeque<EndpointEvent>,
    conns: Vec<Conn>,
    /// Index into `conns` of the connection application calls act on.
    current: Option<usize>,
    buf: Vec<u8>,
}

impl Runner {
    fn new(script: &Script, verbose: bool) -> Result<Runner, (usize, String)> {
        let h = &script.header;
        let mut config = EndpointConfig { fixed_iss: Some(SeqNum(h.iss)), ..EndpointConfig::default() };
        // Scripts pin both buffers (no autotuning) unless they set a
        // ceiling with `send_buffer_max=` / `recv_buffer_max=`: their
        // window values and window-scale shifts are exact.
        config.connection.send_buffer_max = 0;
        config.connection.recv_buffer_max = 0;
        for setting in &h.config {
            apply_config(&mut config, &setting.key, &setting.value).map_err(|m| (setting.line, m))?;
        }
        Ok(Runner {
            ep: Endpoint::new(config),
            now: Instant::from_micros(0),
            verbose,
            tolerance: Duration::from_micros(h.tolerance),
            local_iss: SeqNum(h.iss),
            remote_iss: SeqNum(h.remote_iss),
            flow: Flow {
                local_addr: h.local_addr,
                remote_addr: h.remote_addr,
                local_port: h.local_port,
                remote_port: h.remote_port,
            },
            listen_port: None,
            outbound: VecDeque::new(),
            last_matched: None,
            history: VecDeque::new(),
            events: VecDeque::new(),
            conns: Vec::new(),
            current: None,
            buf: vec![0; PACKET_BUF],
        })
    }

    /// A failure at `line`, with the recent segments appended.
    fn failure(&self, line: usize, message: String) -> Failure {
        let mut message = message;
        if !self.history.is_empty() {
            message.push_str("\n  recent segments (oldest first):");
            for h in &self.history {
                message.push_str("\n    ");
                message.push_str(h);
            }
        }
        Failure { line, message }
    }

    fn step(&mut self, line: &Line) -> Res<()> {
        let at = Instant::from_micros(line.time);
        if let Step::Expect(spec) = &line.step {
            return self.expect_segment(spec, at);
        }
        self.advance(at, false)?;
        self.check_nothing_pending(at, matches!(line.step, Step::Quiet))?;
        match &line.step {
            Step::Inject(spec) => self.inject(spec),
            Step::InjectRaw(bytes) => {
                let text = self.render(self.now, Dir::In, bytes, None);
                self.deliver(bytes.clone(), text);
                self.drain()
            }
            Step::InjectIcmp(spec) => self.inject_icmp(spec),
            // `>` lines returned above; `quiet` is all checks.
            Step::Expect(_) | Step::Quiet => Ok(()),
            Step::Call(call) => {
                let result = self.call(call);
                self.drain()?;
                result
            }
            Step::Check(check) => self.check(check),
        }
    }

    // ------------------------------------------------------------ time

    /// Fires every timer due by `limit`, each at its own deadline, draining
    /// after each. With `until_output`, stops as soon as something has been
    /// emitted; otherwise `now` ends at `limit`.
    fn advance(&mut self, limit: Instant, until_output: bool) -> Res<()> {
        let mut fired_at_same_instant = 0;
        while let Some(deadline) = self.ep.poll_timeout() {
            if deadline > limit || (until_output && !self.outbound.is_empty()) {
                break;
            }
            let fire_at = deadline.max(self.now);
            if fire_at == self.now {
                fired_at_same_instant += 1;
                if fired_at_same_instant > 1000 {
                    return Err(format!(
                        "the stack's timer keeps firing at {} without moving on: poll_timeout still returns {} \
                         after handle_timeout",
                        fmt_instant(self.now),
                        fmt_instant(deadline)
                    ));
                }
            } else {
                fired_at_same_instant = 0;
            }
            self.now = fire_at;
            self.ep.handle_timeout(self.now);
            self.drain()?;
        }
        if !until_output {
            self.now = self.now.max(limit);
        }
        Ok(())
    }

    /// Collects the endpoint's outputs after an input or call: segments,
    /// then the timeout, then events (the order the core contract gives).
    fn drain(&mut self) -> Res<()> {
        let mut count = 0;
        while let Some(t) = self.ep.poll_transmit(self.now, &mut self.buf) {
            count += 1;
            if count > MAX_SEGMENTS_PER_DRAIN {
                return Err(format!("the stack emitted more than {MAX_SEGMENTS_PER_DRAIN} segments in one go"));
            }
            let bytes = self.buf[..t.len].to_vec();
            let emitted = Emitted { at: self.now, bytes, src: t.src, dst: t.dst };
            let text = self.describe(&emitted);
            self.remember(text);
            self.outbound.push_back(emitted);
        }
        let _ = self.ep.poll_timeout();
        while let Some(event) = self.ep.poll_event() {
            if self.verbose {
                println!("          {} event {}", format::time(self.now.as_micros()), self.event_text(&event));
            }
            self.events.push_back(event);
        }
        Ok(())
    }

    /// Fails if a segment emitted before `at` (less the tolerance) is still
    /// waiting for a `>` line; with `everything`, if any segment is.
    fn check_nothing_pending(&self, at: Instant, everything: bool) -> Res<()> {
        match self.outbound.iter().find(|p| everything || p.at + self.tolerance < at) {
            Some(p) => Err(format!("unexpected outbound segment:\n    {}", self.describe(p))),
            None => Ok(()),
        }
    }

    // ------------------------------------------------------------ segments

    /// `Connected (connection 1)`, `Incoming (listener 10.0.0.1:8080)`.
    fn event_text(&self, e: &EndpointEvent) -> String {
        match e {
            EndpointEvent::Incoming { listener } => format!("Incoming (listener {listener})"),
            EndpointEvent::Connection { handle, event } => match self.conns.iter().position(|c| c.handle == *handle) {
                Some(i) => format!("{event:?} (connection {})", i + 1),
                None => format!("{event:?} (a connection not yet accepted)"),
            },
        }
    }

    fn remember(&mut self, text: String) {
        if self.verbose {
            println!("          {text}");
        }
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(text);
    }

    /// Bases for relative numbering: (sequence base, acknowledgment base).
    fn bases(&self, dir: Dir) -> (SeqNum, SeqNum) {
        match dir {
            Dir::In => (self.remote_iss, self.local_iss),
            Dir::Out => (self.local_iss, self.remote_iss),
        }
    }

    /// A real segment in script terms: numbers relative, options laid out
    /// like `like` (if given), ports shown only where they are not the
    /// current flow's.
    fn to_spec(&self, seg: &Segment<'_>, dir: Dir, like: Option<&OptionsSpec>) -> SegmentSpec {
        let h = &seg.header;
        let (seq_base, ack_base) = self.bases(dir);
        let o = &h.options;
        let mut options = Vec::new();
        if let Some(mss) = o.mss {
            options.push(TcpOpt::Mss(mss));
        }
        if o.sack_permitted {
            options.push(TcpOpt::SackPermitted);
        }
        if let Some(ts) = o.timestamps {
            options.push(TcpOpt::Timestamps { val: Wild::Is(ts.tsval), ecr: Wild::Is(ts.tsecr) });
        }
        if let Some(ws) = o.window_scale {
            options.push(TcpOpt::WindowScale(ws));
        }
        if !o.sacks().is_empty() {
            options.push(TcpOpt::Sack(o.sacks().iter().map(|b| (b.left - ack_base, b.right - ack_base)).collect()));
        }
        if let Some(like) = like {
            options = layout_like(options, like);
        }
        let (local_port, remote_port) = match dir {
            Dir::In => (h.dst_port, h.src_port),
            Dir::Out => (h.src_port, h.dst_port),
        };
        SegmentSpec {
            flags: h.flags.0,
            seq: h.seq - seq_base,
            len: seg.payload.len() as u32,
            ack: (h.flags.ack() || h.ack.0 != 0).then(|| h.ack - ack_base),
            win: Some(h.window),
            urg: (h.flags.contains(Flags::URG) || h.urgent != 0).then_some(h.urgent),
            options: OptionsSpec::List(options),
            local_port: (Some(local_port) != self.flow.local_port).then_some(local_port),
            remote_port: (remote_port != self.flow.remote_port).then_some(remote_port),
            bad_checksum: false,
        }
    }

    /// One line for reports and verbose output: `1.040 > . 1:1(0) ack 101 win 65435`.
    fn render(&self, at: Instant, dir: Dir, bytes: &[u8], like: Option<&OptionsSpec>) -> String {
        let arrow = if dir == Dir::In { '<' } else { '>' };
        let time = format::time(at.as_micros());
        match wire::parse(bytes) {
            Ok(seg) => format!("{time} {arrow} {}", self.to_spec(&seg, dir, like)),
            Err(e) => format!("{time} {arrow} unparseable packet ({e:?}): {}", hex(bytes)),
        }
    }

    fn describe(&self, p: &Emitted) -> String {
        self.render(p.at, Dir::Out, &p.bytes, None)
    }

    /// `<` line: build the packet with real checksums and hand it over.
    fn inject(&mut self, spec: &SegmentSpec) -> Res<()> {
        let local_port = spec
            .local_port
            .or(self.flow.local_port)
            .ok_or("the stack's port is not known yet: `listen` or `connect` first, or give `local_port` or `lport`")?;
        let mut options = TcpOptions::default();
        let OptionsSpec::List(list) = &spec.options else {
            return Err("`<...>` cannot be sent".into());
        };
        for opt in list {
            match opt {
                TcpOpt::Nop | TcpOpt::Eol => {}
                TcpOpt::Mss(n) => options.mss = Some(*n),
                TcpOpt::WindowScale(n) => options.window_scale = Some(*n),
                TcpOpt::SackPermitted => options.sack_permitted = true,
                TcpOpt::Timestamps { val: Wild::Is(tsval), ecr: Wild::Is(tsecr) } => {
                    options.timestamps = Some(Timestamps { tsval: *tsval, tsecr: *tsecr })
                }
                TcpOpt::Timestamps { .. } => return Err("`*` cannot be sent".into()),
                TcpOpt::Sack(blocks) => {
                    for (l, r) in blocks {
                        options.push_sack(SackBlock { left: self.local_iss + *l, right: self.local_iss + *r });
                    }
                }
            }
        }
        let header = SegmentHeader {
            src_port: spec.remote_port.unwrap_or(self.flow.remote_port),
            dst_port: local_port,
            seq: self.remote_iss + spec.seq,
            ack: spec.ack.map_or(SeqNum(0), |a| self.local_iss + a),
            flags: Flags(spec.flags),
            window: spec.win.unwrap_or(65535),
            urgent: spec.urg.unwrap_or(0),
            options,
        };
        let payload = pattern(stream_offset(spec.seq, spec.flags & flag::SYN != 0), spec.len as usize);
        let len = wire::emit(self.flow.remote_addr, self.flow.local_addr, &header, &[&payload], &mut self.buf)
            .map_err(|e| format!("cannot build this segment: {e}"))?;
        let mut bytes = self.buf[..len].to_vec();
        let mut text = self.render(self.now, Dir::In, &bytes, None);
        if spec.bad_checksum {
            // The TCP checksum field: 16 bytes into the TCP header, which
            // follows the IPv4 header (IHL words).
            let ihl = usize::from(bytes[0] & 0x0f) * 4;
            bytes[ihl + 16] ^= 0xff;
            text.push_str(" bad_csum");
        }
        self.deliver(bytes, text);
        self.drain()
    }

    /// `< icmp` line: an ICMP error from the peer's address quoting the
    /// last segment a `>` line matched, its SEQ moved by `seq_delta`.
    fn inject_icmp(&mut self, spec: &IcmpSpec) -> Res<()> {
        let mut quoted =
            self.last_matched.clone().ok_or("`< icmp` quotes the last `>` segment, and none matched yet")?;
        let seq = u32::from_be_bytes([quoted[24], quoted[25], quoted[26], quoted[27]]);
        let seq = seq.wrapping_add(spec.seq_delta as u32);
        quoted[24..28].copy_from_slice(&seq.to_be_bytes());
        use wire::IcmpError as E;
        let kind = match spec.kind {
            "net-unreachable" => E::NetUnreachable,
            "host-unreachable" => E::HostUnreachable,
            "protocol-unreachable" => E::ProtocolUnreachable,
            "port-unreachable" => E::PortUnreachable,
            "frag-needed" => E::FragmentationNeeded { next_hop_mtu: spec.mtu },
            "source-route-failed" => E::SourceRouteFailed,
            "admin-prohibited" => E::AdminProhibited,
            "source-quench" => E::SourceQuench,
            "time-exceeded" => E::TimeExceeded,
            "parameter-problem" => E::ParameterProblem,
            other => return Err(format!("unknown ICMP kind {other}")),
        };
        let mut buf = [0u8; 256];
        let n = wire::emit_icmp_error(self.flow.remote_addr, kind, &quoted, &mut buf)
            .ok_or("cannot build the ICMP error")?;
        let text = format!("{} < {spec}", format::time(self.now.as_micros()));
        self.deliver(buf[..n].to_vec(), text);
        self.drain()
    }

    /// Hands a packet to the endpoint; `text` is how history shows it.
    fn deliver(&mut self, bytes: Vec<u8>, text: String) {
        self.remember(text);
        self.ep.handle(self.now, &bytes);
    }

    /// `>` line: the oldest unconsumed segment must be this one, emitted now.
    fn expect_segment(&mut self, spec: &SegmentSpec, at: Instant) -> Res<()> {
        self.advance(at, false)?;
        if self.outbound.is_empty() {
            self.advance(at + self.tolerance, true)?;
        }
        let Some(p) = self.outbound.pop_front() else {
            let next = match self.ep.poll_timeout() {
                Some(d) => format!("; its next timer is at {}", fmt_instant(d)),
                None => "; it has no timer pending".to_string(),
            };
            return Err(format!(
                "expected an outbound segment, but the stack emitted nothing by {}{next}\n    script: {} > {spec}",
                fmt_instant(at),
                fmt_instant(at)
            ));
        };
        let seg = match wire::parse(&p.bytes) {
            Ok(seg) => seg,
            Err(e) => {
                let at = fmt_instant(at);
                let bytes = hex(&p.bytes);
                let why = format!("the stack emitted a packet that wire::parse rejects ({e:?})");
                return Err(format!("{why}\n    script: {at} > {spec}\n    bytes: {bytes}"));
            }
        };
        let actual = self.to_spec(&seg, Dir::Out, Some(&spec.options));
        let mut problems: Vec<String> = differences(spec, &actual).iter().map(|s| s.to_string()).collect();
        let want_local = spec.local_port.or(self.flow.local_port);
        if want_local.is_some_and(|p| p != seg.header.src_port) {
            problems.push("lport".into());
        }
        if spec.remote_port.unwrap_or(self.flow.remote_port) != seg.header.dst_port {
            problems.push("rport".into());
        }
        if (seg.src_addr, seg.dst_addr) != (self.flow.local_addr, self.flow.remote_addr) {
            problems.push(format!("addresses {} > {}", seg.src_addr, seg.dst_addr));
        }
        if (p.src, p.dst) != (seg.src_addr, seg.dst_addr) {
            problems.push(format!("Transmit says {} > {} but the IP header differs", p.src, p.dst));
        }
        if problems.is_empty() {
            let offset = stream_offset(actual.seq, seg.header.flags.syn());
            if let Some(i) = (0..seg.payload.len()).find(|&i| seg.payload[i] != pattern_byte(offset + i as u64)) {
                problems.push(format!(
                    "payload: byte at stream offset {} is {:#04x}, `send` wrote {:#04x}",
                    offset + i as u64,
                    seg.payload[i],
                    pattern_byte(offset + i as u64)
                ));
            }
        }
        let early = p.at + self.tolerance < at;
        let late = p.at > at + self.tolerance;
        if problems.is_empty() && !early && !late {
            self.last_matched = Some(p.bytes);
            return Ok(());
        }
        let mut actual_show = actual.clone();
        if want_local.is_some_and(|p| p != seg.header.src_port) {
            actual_show.local_port = Some(seg.header.src_port);
        }
        let mut message = if problems.is_empty() {
            format!(
                "outbound segment emitted at {}, the script expects it at {} (tolerance {})",
                fmt_instant(p.at),
                fmt_instant(at),
                format::duration(self.tolerance.as_micros() as u64)
            )
        } else {
            format!("outbound segment does not match the script ({})", problems.join(", "))
        };
        message.push_str(&format!(
            "\n    script: {} > {spec}\n    actual: {} > {actual_show}",
            fmt_instant(at),
            fmt_instant(p.at)
        ));
        Err(message)
    }

    // ------------------------------------------------------------ application

    fn current(&self) -> Res<&Conn> {
        self.current.map(|i| &self.conns[i]).ok_or_else(|| "no connection yet: `connect` or `accept` first".into())
    }

    fn adopt(&mut self, handle: ConnectionHandle) {
        let (local_port, remote) = match self.ep.connection(handle) {
            Some(c) => (c.four_tuple().local.port(), c.four_tuple().remote),
            None => {
                (self.flow.local_port.unwrap_or(0), SocketAddrV4::new(self.flow.remote_addr, self.flow.remote_port))
            }
        };
        self.conns.push(Conn { handle, local_port, remote, sent: 0, received: 0 });
        self.select(self.conns.len() - 1);
    }

    fn select(&mut self, index: usize) {
        let c = &self.conns[index];
        self.flow.local_port = Some(c.local_port);
        self.flow.remote_port = c.remote.port();
        self.flow.remote_addr = *c.remote.ip();
        self.current = Some(index);
    }

    fn call(&mut self, call: &Call) -> Res<()> {
        let now = self.now;
        let got: Result<Outcome, Error> = match &call.op {
            Op::Listen { port, backlog } => {
                let r = self.ep.listen(SocketAddrV4::new(self.flow.local_addr, *port), *backlog);
                if r.is_ok() {
                    self.listen_port = Some(*port);
                    self.flow.local_port = Some(*port);
                }
                r.map(|()| Outcome::Ok)
            }
            Op::Accept { port } => {
                let port = port.or(self.listen_port).ok_or("`accept` before any `listen`: say which port")?;
                match self.ep.accept(SocketAddrV4::new(self.flow.local_addr, port)) {
                    Some(h) => {
                        self.adopt(h);
                        Ok(Outcome::Ok)
                    }
                    None => Ok(Outcome::Nothing),
                }
            }
            Op::Connect { addr, port, from } => {
                let remote = SocketAddrV4::new(addr.unwrap_or(self.flow.remote_addr), *port);
                let r = match from {
                    Some(lport) => self.ep.connect_from(now, SocketAddrV4::new(self.flow.local_addr, *lport), remote),
                    None => self.ep.connect(now, self.flow.local_addr, remote),
                };
                r.map(|h| {
                    self.adopt(h);
                    Outcome::Ok
                })
            }
            Op::Send(n) => {
                let index = self.current.ok_or("no connection yet: `connect` or `accept` first")?;
                let conn = &mut self.conns[index];
                let r = self.ep.send(conn.handle, &pattern(conn.sent, *n));
                if let Ok(k) = r {
                    conn.sent += k as u64;
                }
                r.map(Outcome::Count)
            }
            Op::Recv(n) => return self.recv(*n, call.outcome.as_ref()),
            Op::Shutdown => self.ep.shutdown(self.current()?.handle).map(|()| Outcome::Ok),
            Op::Close => self.ep.close(self.current()?.handle).map(|()| Outcome::Ok),
            Op::Abort => self.ep.abort(self.current()?.handle).map(|()| Outcome::Ok),
            Op::NoDelay(on) => self.ep.set_nodelay(self.current()?.handle, *on).map(|()| Outcome::Ok),
            Op::Use(n) => {
                if *n > self.conns.len() {
                    return Err(format!("`use {n}`: only {} connection(s) opened so far", self.conns.len()));
                }
                self.select(n - 1);
                return Ok(());
            }
        };
        let natural = match &call.op {
            Op::Send(n) => Outcome::Count(*n),
            _ => Outcome::Ok,
        };
        check_outcome(call.outcome.as_ref().unwrap_or(&natural), got)
    }

    /// `recv N`: reads until N bytes, end of stream or nothing more, and
    /// checks the bytes against the pattern the peer sent.
    fn recv(&mut self, n: usize, expected: Option<&Outcome>) -> Res<()> {
        let index = self.current.ok_or("no connection yet: `connect` or `accept` first")?;
        let (h, offset) = (self.conns[index].handle, self.conns[index].received);
        let mut data = Vec::new();
        let mut buf = vec![0u8; n];
        let got = loop {
            match self.ep.recv(h, &mut buf[..n - data.len()]) {
                Ok(k) if k > 0 => {
                    data.extend_from_slice(&buf[..k]);
                    if data.len() == n {
                        break Ok(Outcome::Count(n));
                    }
                }
                // Whatever stops a read part-way, the count is what happened.
                _ if !data.is_empty() => break Ok(Outcome::Count(data.len())),
                Ok(_) => break Ok(Outcome::Eof),
                Err(e) => break Err(e),
            }
        };
        self.conns[index].received += data.len() as u64;
        self.drain()?;
        if let Some(i) = (0..data.len()).find(|&i| data[i] != pattern_byte(offset + i as u64)) {
            return Err(format!(
                "`recv` returned wrong data: byte at stream offset {} is {:#04x}, the peer sent {:#04x}",
                offset + i as u64,
                data[i],
                pattern_byte(offset + i as u64)
            ));
        }
        check_outcome(expected.unwrap_or(&Outcome::Count(n)), got)
    }

    // ------------------------------------------------------------ expect

    fn check(&mut self, check: &Check) -> Res<()> {
        match check {
            Check::State(want) => {
                let c = self.current()?;
                let actual = self.ep.connection(c.handle).map(|c| c.state());
                let (name, debug) = match actual {
                    Some(s) => (s.to_string(), format!("{s:?}")),
                    None => ("CLOSED".to_string(), "Closed".to_string()),
                };
                if names_match(want, &name) || names_match(want, &debug) {
                    Ok(())
                } else {
                    let gone = if actual.is_none() { " (the endpoint no longer has the connection)" } else { "" };
                    Err(format!("state is {name}{gone}, the script expects {want}"))
                }
            }
            Check::Event(want) => self.expect_event(want.as_deref()),
            Check::Stat { name, op, value } => {
                let c = self.current()?;
                let stats = self.ep.connection(c.handle).map(|c| format!("{:?}", c.stats()));
                let stats = stats.ok_or("the endpoint no longer has the connection, so it has no stats")?;
                check_stat("stat", &stats, name, *op, value)
            }
            Check::EndpointStat { name, op, value } => {
                check_stat("endpoint_stat", &format!("{:?}", self.ep.stats()), name, *op, value)
            }
        }
    }

    /// `expect event NAME`: the next event of the current connection
    /// (`Incoming`: of the endpoint) must be NAME. `Readable` and `Writable`
    /// are skipped unless NAME is one of them; `none` means no other event
    /// is pending.
    fn expect_event(&mut self, want: Option<&str>) -> Res<()> {
        let incoming = want.is_some_and(|w| names_match(w, "Incoming"));
        let handle = if incoming { None } else { Some(self.current()?.handle) };
        let ours = |e: &EndpointEvent| match (e, handle) {
            (EndpointEvent::Connection { handle: h, .. }, Some(mine)) => *h == mine,
            (EndpointEvent::Incoming { .. }, None) => true,
            _ => false,
        };
        let name = |e: &EndpointEvent| match e {
            EndpointEvent::Connection { event, .. } => format!("{event:?}"),
            EndpointEvent::Incoming { .. } => "Incoming".to_string(),
        };
        let minor = |e: &EndpointEvent| {
            matches!(e, EndpointEvent::Connection { event: Event::Readable | Event::Writable, .. })
                && !want.is_some_and(|w| names_match(w, &name(e)))
        };
        let pending: Vec<String> = self.events.iter().filter(|e| ours(e)).map(name).collect();
        let pending = if pending.is_empty() { "none".to_string() } else { pending.join(", ") };
        let next = self.events.iter().position(|e| ours(e) && !minor(e));
        match (want, next) {
            (None, None) => Ok(()),
            (None, Some(i)) => Err(format!("event {} is pending, the script expects none", name(&self.events[i]))),
            (Some(w), None) => Err(format!("no {w} event (pending for this connection: {pending})")),
            (Some(w), Some(i)) if names_match(w, &name(&self.events[i])) => {
                // Consume it and the minor events of ours before it.
                let mut index = 0;
                self.events.retain(|e| {
                    let keep = index > i || !ours(e);
                    index += 1;
                    keep
                });
                Ok(())
            }
            (Some(w), Some(i)) => Err(format!(
                "the next event is {}, the script expects {w} (pending for this connection: {pending})",
                name(&self.events[i])
            )),
        }
    }
}

/// `expect stat` / `expect endpoint_stat`: finds `name` in a `Debug`
/// rendering and compares it with `value`.
fn check_stat(kind: &str, debug: &str, name: &str, op: CmpOp, value: &str) -> Res<()> {
    let fields = debug_fields::flatten(debug);
    let Some((_, actual)) = fields.iter().find(|(n, _)| n == name) else {
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!("no {kind} `{name}`; they are: {}", names.join(", ")));
    };
    match debug_fields::compare(actual, value) {
        Some(ord) if op.holds(ord) => Ok(()),
        _ => Err(format!("{kind} {name} is {actual}, the script expects {} {value}", op.symbol())),
    }
}

/// Compares a call's result with the script's `-> …`.
fn check_outcome(expected: &Outcome, got: Result<Outcome, Error>) -> Res<()> {
    let text = |o: &Outcome| match o {
        Outcome::Ok => "ok".to_string(),
        Outcome::Count(n) => format!("{n}"),
        Outcome::Eof => "eof".to_string(),
        Outcome::Nothing => "none".to_string(),
        Outcome::Error(e) => e.clone(),
    };
    match (expected, got) {
        (Outcome::Error(want), Err(e)) if error_matches(want, &format!("{e:?}")) => Ok(()),
        (want, Ok(got)) if *want == got => Ok(()),
        (want, Ok(got)) => Err(format!("the call returned {}, the script expects {}", text(&got), text(want))),
        (want, Err(e)) => Err(format!("the call failed with {e:?}, the script expects {}", text(want))),
    }
}

/// Names compare without regard to case, `-`, `_` or spaces, so
/// `SYN-SENT`, `syn_sent` and `SynSent` are one state.
fn names_match(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['-', '_', ' '], "");
    norm(a) == norm(b)
}

/// `Closed(Reset)` is matched by `Closed(Reset)`, `Closed` or `Reset`.
fn error_matches(want: &str, debug: &str) -> bool {
    let outer = debug.split('(').next().unwrap_or(debug);
    let inner = debug.split_once('(').map_or(debug, |(_, rest)| rest.trim_end_matches(')'));
    [debug, outer, inner].iter().any(|candidate| names_match(want, candidate))
}

/// Applies one `config key=value`.
fn apply_config(config: &mut EndpointConfig, key: &str, value: &str) -> Res<()> {
    let c = &mut config.connection;
    let num = |v: &str| v.parse::<u64>().map_err(|_| format!("config {key}: `{v}` is not a number"));
    let dur = |v: &str| super::parse::parse_micros(v, None).map(Duration::from_micros);
    let on_off = |v: &str| match v {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("config {key}: `{v}` is not on/off")),
    };
    let small = |n: u64| u32::try_from(n).map_err(|_| format!("config {key}: {n} is too large"));
    match key {
        "mss" => c.mss = u16::try_from(num(value)?).map_err(|_| format!("config mss: {value} is too large"))?,
        "send_buffer" => c.send_buffer = num(value)? as usize,
        "recv_buffer" => c.recv_buffer = num(value)? as usize,
        "send_buffer_max" => c.send_buffer_max = num(value)? as usize,
        "recv_buffer_max" => c.recv_buffer_max = num(value)? as usize,
        "max_ooo_ranges" => c.max_ooo_ranges = num(value)? as usize,
        "wscale" | "window_scale" => c.window_scale = on_off(value)?,
        "sack" => c.sack = on_off(value)?,
        "ts" | "timestamps" => c.timestamps = on_off(value)?,
        "nodelay" => c.nodelay = on_off(value)?,
        "initial_rto" => c.initial_rto = dur(value)?,
        "min_rto" => c.min_rto = dur(value)?,
        "max_rto" => c.max_rto = dur(value)?,
        "delayed_ack" => c.delayed_ack = dur(value)?,
        "time_wait" => c.time_wait = dur(value)?,
        "syn_retries" => c.syn_retries = small(num(value)?)?,
        "max_retries" => c.max_retries = small(num(value)?)?,
        "user_timeout" => c.user_timeout = if value == "off" { None } else { Some(dur(value)?) },
        "keepalive" => c.keepalive = on_off(value)?.then(Default::default),
        "keepalive_idle" => c.keepalive.get_or_insert_with(Default::default).idle = dur(value)?,
        "keepalive_interval" => c.keepalive.get_or_insert_with(Default::default).interval = dur(value)?,
        "keepalive_probes" => c.keepalive.get_or_insert_with(Default::default).probes = small(num(value)?)?,
        "initial_window" => c.initial_window_segments = small(num(value)?)?,
        "challenge_ack_limit" => c.challenge_ack_limit = small(num(value)?)?,
        "sack_recovery" => c.sack_recovery = on_off(value)?,
        "rack" => c.rack = on_off(value)?,
        "prr" => c.prr = on_off(value)?,
        "frto" => c.frto = on_off(value)?,
        "congestion" | "cc" => c.congestion = value.parse().map_err(|e| format!("config congestion: {e}"))?,
        "hystart" => c.hystart = on_off(value)?,
        "seed" => config.seed = num(value)?,
        _ => {
            return Err(format!(
                "unknown config key `{key}` (keys: mss, send_buffer, recv_buffer, send_buffer_max, \
                 recv_buffer_max, max_ooo_ranges, wscale, sack, ts, \
                 nodelay, initial_rto, min_rto, max_rto, delayed_ack, time_wait, syn_retries, max_retries, \
                 user_timeout, keepalive, keepalive_idle, keepalive_interval, keepalive_probes, initial_window, \
                 challenge_ack_limit, sack_recovery, rack, prr, frto, seed)"
            ));
        }
    }
    Ok(())
}

fn fmt_instant(t: Instant) -> String {
    format::time(t.as_micros())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
