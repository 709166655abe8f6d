//! A ToyTCP host whose application is arbitrary code: a [`ScriptedApp`]
//! reacting to the endpoint's events through an [`Io`] handle, with an
//! [`Observer`] that sees every packet, state transition and event.
//!
//! [`ToyHost`](crate::ToyHost) runs checked traffic models (every byte
//! from a keyed pattern); a [`ScriptedHost`] runs whatever the caller
//! writes — given bytes, printed output, a particular order of calls — and
//! leaves the judging to it. `toytcp-cli sim` runs the book's scenarios
//! this way.
//!
//! The host follows the core's documented loop after every input
//! (`handle`, `handle_timeout`) and after every application call, not only
//! once per input: `poll_transmit` until `None` (the packets wait for the
//! world's next [`Host::poll_transmit`]), then `poll_event`; the world asks
//! `poll_timeout`. So the observer sees a call's packets, events and
//! transitions in the order they happen.
//!
//! An application's first error is kept; [`Host::check`] reports it, which
//! stops [`World::run_until`](crate::World::run_until) after the step that
//! caused it, and [`ScriptedHost::take_error`] hands it back.

use crate::Host;
use core::net::{Ipv4Addr, SocketAddrV4};
use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use toytcp_core::wire;
use toytcp_core::{Connection, ConnectionHandle, Endpoint, EndpointConfig, EndpointEvent, FourTuple, Instant, State};

/// Largest IPv4 packet: the size of the transmit buffer.
const MAX_PACKET: usize = 65535;

/// An application's failure.
#[derive(Debug)]
pub enum AppError {
    /// An endpoint call failed.
    Call {
        /// The host's name.
        host: String,
        /// What the application tried (`send`, `listen`, …).
        what: &'static str,
        /// The core's error.
        error: toytcp_core::Error,
    },
    /// Anything else the application reports.
    Other(String),
}

impl core::fmt::Display for AppError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AppError::Call { host, what, error } => write!(f, "{host}: {what} failed: {error}"),
            AppError::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for AppError {}

/// Whether a packet left or entered the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received by the host.
    In,
    /// Sent by the host.
    Out,
}

/// Sees what happens on a [`ScriptedHost`], as it happens. Every method
/// does nothing by default.
pub trait Observer {
    /// A packet the host sent (when its endpoint produced it) or received
    /// (before the endpoint handles it).
    fn packet(&mut self, now: Instant, host: &str, dir: Direction, packet: &[u8]) {
        let _ = (now, host, dir, packet);
    }

    /// A connection went from `from` to `to`. A new connection starts
    /// from LISTEN if a listener made it and from CLOSED otherwise. `conn`
    /// is `None` when the endpoint has removed the connection (then `to`
    /// is CLOSED).
    fn transition(
        &mut self,
        now: Instant,
        host: &str,
        tuple: FourTuple,
        from: State,
        to: State,
        conn: Option<&Connection>,
    ) {
        let _ = (now, host, tuple, from, to, conn);
    }

    /// The endpoint reported `event`; `tuple` names its connection, if it
    /// has one and the host knows it.
    fn event(&mut self, now: Instant, host: &str, event: EndpointEvent, tuple: Option<FourTuple>) {
        let _ = (now, host, event, tuple);
    }
}

/// An observer that sees nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

/// The application running on a [`ScriptedHost`]. It is started once and
/// then sees every event of the host's endpoint, in order. `Any` lets the
/// caller read its state back ([`ScriptedHost::app`]).
pub trait ScriptedApp: Any {
    /// Called once by [`ScriptedHost::start`], before its first packet moves.
    fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError>;

    /// Called for each event the host's endpoint reports.
    fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError>;
}

/// Counters a [`ScriptedHost`] keeps about what it put on and took off
/// its links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Packets sent.
    pub packets_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Segments with SYN and without ACK (active opens and their retransmissions).
    pub syns_out: u64,
    /// Distinct SYNs without ACK, by 4-tuple and sequence number: connections
    /// attempted, retransmissions not counted.
    pub distinct_syns_out: u64,
    /// Segments with RST.
    pub rsts_out: u64,
}

/// A connection's addresses and the state it was last seen in.
#[derive(Clone, Copy, Debug)]
struct Seen {
    tuple: FourTuple,
    state: State,
}

/// The host without its application: what an [`Io`] works on.
struct Core {
    name: String,
    addr: Ipv4Addr,
    ep: Endpoint,
    observer: Box<dyn Observer>,
    /// Events drained from the endpoint, not yet given to the application.
    pending: VecDeque<EndpointEvent>,
    /// Connections as of the last drain, to report state transitions.
    seen: BTreeMap<ConnectionHandle, Seen>,
    /// Every SYN (without ACK) sent: addresses and ISN.
    syns: BTreeSet<(SocketAddrV4, SocketAddrV4, u32)>,
    counters: HostCounters,
    /// Packets drained from the endpoint, for the world's next `poll_transmit`.
    outbox: Vec<Vec<u8>>,
    /// What the application wrote and nobody has taken yet.
    output: Vec<u8>,
    /// The buffer `poll_transmit` writes into.
    scratch: Vec<u8>,
}

impl Core {
    /// The output loop: transmit until `None`, then events. Transitions
    /// are reported before (those the input or call made) and after
    /// (those the output made).
    fn drain(&mut self, now: Instant) {
        self.note_transitions(now);
        while let Some(t) = self.ep.poll_transmit(now, &mut self.scratch) {
            let packet = self.scratch[..t.len].to_vec();
            self.count_out(&packet);
            self.observer.packet(now, &self.name, Direction::Out, &packet);
            self.outbox.push(packet);
        }
        while let Some(event) = self.ep.poll_event() {
            let tuple = match event {
                EndpointEvent::Incoming { .. } => None,
                EndpointEvent::Connection { handle, .. } => {
                    self.ep.connection(handle).map(Connection::four_tuple).or(self.seen.get(&handle).map(|s| s.tuple))
                }
            };
            self.observer.event(now, &self.name, event, tuple);
            self.pending.push_back(event);
        }
        self.note_transitions(now);
    }

    fn count_out(&mut self, packet: &[u8]) {
        self.counters.packets_out += 1;
        let Ok(seg) = wire::parse(packet) else { return };
        let flags = seg.header.flags;
        if flags.syn() && !flags.ack() {
            self.counters.syns_out += 1;
            let src = SocketAddrV4::new(seg.src_addr, seg.header.src_port);
            let dst = SocketAddrV4::new(seg.dst_addr, seg.header.dst_port);
            if self.syns.insert((src, dst, seg.header.seq.0)) {
                self.counters.distinct_syns_out += 1;
            }
        }
        if flags.rst() {
            self.counters.rsts_out += 1;
        }
    }

    /// Compares every connection's state with the last look and reports
    /// the differences.
    fn note_transitions(&mut self, now: Instant) {
        let handles: Vec<ConnectionHandle> = self.ep.handles().collect();
        for &h in &handles {
            let Some(conn) = self.ep.connection(h) else { continue };
            let (tuple, state) = (conn.four_tuple(), conn.state());
            let before = match self.seen.get(&h) {
                Some(seen) => seen.state,
                None if self.listened(tuple.local) => State::Listen,
                None => State::Closed,
            };
            if before != state {
                self.observer.transition(now, &self.name, tuple, before, state, Some(conn));
            }
            self.seen.insert(h, Seen { tuple, state });
        }
        let gone: Vec<ConnectionHandle> = self.seen.keys().filter(|h| !handles.contains(h)).copied().collect();
        for h in gone {
            if let Some(Seen { tuple, state }) = self.seen.remove(&h)
                && state != State::Closed
            {
                self.observer.transition(now, &self.name, tuple, state, State::Closed, None);
            }
        }
    }

    /// True if a listener (exact or wildcard) holds `local`.
    fn listened(&self, local: SocketAddrV4) -> bool {
        self.ep.listener_state(local).is_some()
            || self.ep.listener_state(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port())).is_some()
    }
}

/// An application's view of its host during one callback. Every call is
/// followed by the output loop, so packets, events and transitions it
/// causes are picked up at once.
pub struct Io<'a> {
    core: &'a mut Core,
    now: Instant,
}

impl Io<'_> {
    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The host's IPv4 address.
    pub fn addr(&self) -> Ipv4Addr {
        self.core.addr
    }

    /// The host's name.
    pub fn host_name(&self) -> &str {
        &self.core.name
    }

    /// A connection, if the handle is live.
    pub fn connection(&self, h: ConnectionHandle) -> Option<&Connection> {
        self.core.ep.connection(h)
    }

    /// Appends to the host's output, for [`ScriptedHost::take_output`]
    /// (e.g. what a program would print).
    pub fn write_out(&mut self, bytes: &[u8]) {
        self.core.output.extend_from_slice(bytes);
    }

    /// An [`AppError::Call`] naming this host.
    pub fn call_error(&self, what: &'static str, error: toytcp_core::Error) -> AppError {
        AppError::Call { host: self.core.name.clone(), what, error }
    }

    /// [`Endpoint::listen`].
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<(), AppError> {
        let r = self.core.ep.listen(local, backlog);
        self.after(r, "listen")
    }

    /// [`Endpoint::connect`] from the host's address.
    pub fn connect(&mut self, remote: SocketAddrV4) -> Result<ConnectionHandle, AppError> {
        let r = self.core.ep.connect(self.now, self.core.addr, remote);
        self.after(r, "connect")
    }

    /// [`Endpoint::accept`].
    pub fn accept(&mut self, listener: SocketAddrV4) -> Option<ConnectionHandle> {
        let h = self.core.ep.accept(listener);
        self.core.drain(self.now);
        h
    }

    /// [`Endpoint::send`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn send(&mut self, h: ConnectionHandle, data: &[u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.core.ep.send(h, data);
        self.core.drain(self.now);
        r
    }

    /// [`Endpoint::recv`]; `WouldBlock` and other errors are returned as the core's error.
    pub fn recv(&mut self, h: ConnectionHandle, buf: &mut [u8]) -> Result<usize, toytcp_core::Error> {
        let r = self.core.ep.recv(h, buf);
        self.core.drain(self.now);
        r
    }

    /// [`Endpoint::shutdown`].
    pub fn shutdown(&mut self, h: ConnectionHandle) -> Result<(), AppError> {
        let r = self.core.ep.shutdown(h);
        self.after(r, "shutdown")
    }

    /// [`Endpoint::close`].
    pub fn close(&mut self, h: ConnectionHandle) -> Result<(), AppError> {
        let r = self.core.ep.close(h);
        self.after(r, "close")
    }

    /// [`Endpoint::set_nodelay`].
    pub fn set_nodelay(&mut self, h: ConnectionHandle, nodelay: bool) -> Result<(), AppError> {
        let r = self.core.ep.set_nodelay(h, nodelay);
        self.after(r, "set_nodelay")
    }

    /// Runs the output loop and names a failed call.
    fn after<T>(&mut self, r: Result<T, toytcp_core::Error>, what: &'static str) -> Result<T, AppError> {
        self.core.drain(self.now);
        r.map_err(|error| self.call_error(what, error))
    }
}

/// A ToyTCP endpoint run by a [`ScriptedApp`]; see the module docs.
pub struct ScriptedHost {
    core: Core,
    app: Box<dyn ScriptedApp>,
    error: Option<AppError>,
}

impl ScriptedHost {
    /// A host named `name` at `addr`, running `app` once [started](Self::start),
    /// reporting to `observer`.
    pub fn new(
        name: &str,
        addr: Ipv4Addr,
        config: EndpointConfig,
        app: Box<dyn ScriptedApp>,
        observer: Box<dyn Observer>,
    ) -> Self {
        ScriptedHost {
            core: Core {
                name: name.to_owned(),
                addr,
                ep: Endpoint::new(config),
                observer,
                pending: VecDeque::new(),
                seen: BTreeMap::new(),
                syns: BTreeSet::new(),
                counters: HostCounters::default(),
                outbox: Vec::new(),
                output: Vec::new(),
                scratch: vec![0; MAX_PACKET],
            },
            app,
            error: None,
        }
    }

    /// Starts the application at `now` (normally before the world runs,
    /// at its current time), then gives it the events its calls caused.
    ///
    /// # Errors
    /// The application's error, which is not kept.
    pub fn start(&mut self, now: Instant) -> Result<(), AppError> {
        self.app.start(&mut Io { core: &mut self.core, now })?;
        self.dispatch(now)
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.core.ep
    }

    /// What the host put on and took off its links.
    pub fn counters(&self) -> HostCounters {
        self.core.counters
    }

    /// The application, if it is a `T`.
    pub fn app<T: ScriptedApp>(&self) -> Option<&T> {
        let app: &dyn Any = self.app.as_ref();
        app.downcast_ref()
    }

    /// True if the application has written output not taken yet.
    pub fn has_output(&self) -> bool {
        !self.core.output.is_empty()
    }

    /// The application's output since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.core.output)
    }

    /// The application's first error, which [`Host::check`] reports.
    pub fn take_error(&mut self) -> Option<AppError> {
        self.error.take()
    }

    fn dispatch(&mut self, now: Instant) -> Result<(), AppError> {
        while let Some(event) = self.core.pending.pop_front() {
            self.app.on_event(&mut Io { core: &mut self.core, now }, event)?;
        }
        Ok(())
    }

    /// The output loop and the application's turn after an input.
    fn after_input(&mut self, now: Instant) {
        self.core.drain(now);
        if self.error.is_none()
            && let Err(e) = self.dispatch(now)
        {
            self.error = Some(e);
        }
    }
}

impl Host for ScriptedHost {
    fn addr(&self) -> Ipv4Addr {
        self.core.addr
    }

    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.core.observer.packet(now, &self.core.name, Direction::In, packet);
        self.core.counters.packets_in += 1;
        self.core.ep.handle(now, packet);
        self.after_input(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.core.ep.handle_timeout(now);
        self.after_input(now);
    }

    fn poll_transmit(&mut self, _now: Instant, out: &mut Vec<Vec<u8>>) {
        out.append(&mut self.core.outbox);
    }

    fn poll_timeout(&mut self) -> Option<Instant> {
        self.core.ep.poll_timeout()
    }

    /// No connection is left; whether the application got what it wanted
    /// is for its author to judge.
    fn app_done(&self) -> bool {
        self.core.ep.connection_count() == 0
    }

    fn check(&self) -> Result<(), String> {
        if let Some(e) = &self.error {
            return Err(e.to_string());
        }
        for h in self.core.ep.handles() {
            if let Some(c) = self.core.ep.connection(h)
                && let Err(e) = c.check_invariants()
            {
                return Err(format!("{} connection {}: {e}", self.core.name, c.four_tuple().local));
            }
        }
        Ok(())
    }

    fn malformed_packets(&self) -> Option<u64> {
        Some(self.core.ep.stats().malformed_total())
    }

    fn describe(&self) -> String {
        let mut s = format!("{} ({}): {:?}", self.core.name, self.core.addr, self.core.counters);
        for h in self.core.ep.handles() {
            if let Some(c) = self.core.ep.connection(h) {
                let t = c.four_tuple();
                s.push_str(&format!("\n  conn {} -> {} {}", t.local, t.remote, c.state()));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Shared;
    use crate::{LinkConfig, Stop, World};
    use std::cell::RefCell;
    use std::rc::Rc;
    use toytcp_core::{CloseReason, Duration, Error, Event};

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
    const PORT: u16 = 7;

    /// Every observation as one line, shared with the test.
    #[derive(Clone, Default)]
    struct Log(Rc<RefCell<Vec<String>>>);

    impl Observer for Log {
        fn packet(&mut self, now: Instant, host: &str, dir: Direction, packet: &[u8]) {
            let seg = wire::parse(packet).expect("a valid segment");
            self.0.borrow_mut().push(format!("{now} {host} {dir:?} {} len {}", seg.header.flags, seg.payload.len()));
        }

        fn transition(
            &mut self,
            now: Instant,
            host: &str,
            t: FourTuple,
            from: State,
            to: State,
            c: Option<&Connection>,
        ) {
            let live = if c.is_some() { "" } else { " (removed)" };
            self.0.borrow_mut().push(format!("{now} {host} {} {from} -> {to}{live}", t.local.ip()));
        }

        fn event(&mut self, now: Instant, host: &str, event: EndpointEvent, tuple: Option<FourTuple>) {
            let who = tuple.map_or_else(|| "-".to_owned(), |t| t.local.ip().to_string());
            let what = match event {
                EndpointEvent::Incoming { .. } => "Incoming".to_owned(),
                EndpointEvent::Connection { event, .. } => format!("{event:?}"),
            };
            self.0.borrow_mut().push(format!("{now} {host} {who} {what}"));
        }
    }

    /// Sends `data`, shuts down, reads to end of stream, closes.
    struct Sender {
        data: &'static [u8],
        conn: Option<ConnectionHandle>,
        closed: Option<CloseReason>,
    }

    impl ScriptedApp for Sender {
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
            self.conn = Some(io.connect(SocketAddrV4::new(B, PORT))?);
            Ok(())
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
            let EndpointEvent::Connection { handle: h, event } = event else { return Ok(()) };
            match event {
                Event::Connected => {
                    let n = io.send(h, self.data).map_err(|e| io.call_error("send", e))?;
                    assert_eq!(n, self.data.len(), "a few bytes fit the send buffer");
                    io.shutdown(h)?;
                }
                Event::PeerFinished => io.close(h)?,
                Event::Closed(reason) => self.closed = Some(reason),
                Event::Readable | Event::Writable => {}
            }
            Ok(())
        }
    }

    /// Accepts, prints what arrives, closes at end of stream. With
    /// `fail`, tries to listen a second time on the accepted connection.
    struct Printer {
        fail: bool,
        closed: Option<CloseReason>,
    }

    impl ScriptedApp for Printer {
        fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
            io.listen(SocketAddrV4::new(B, PORT), 4)
        }

        fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
            match event {
                EndpointEvent::Incoming { listener } => {
                    if self.fail {
                        io.listen(listener, 4)?;
                    }
                    while io.accept(listener).is_some() {}
                }
                EndpointEvent::Connection { handle: h, event: Event::Readable | Event::PeerFinished } => {
                    let mut buf = [0u8; 64];
                    loop {
                        match io.recv(h, &mut buf) {
                            Ok(0) => return io.close(h),
                            Ok(n) => io.write_out(&buf[..n]),
                            Err(Error::WouldBlock) => return Ok(()),
                            Err(e) => return Err(io.call_error("recv", e)),
                        }
                    }
                }
                EndpointEvent::Connection { event: Event::Closed(reason), .. } => self.closed = Some(reason),
                EndpointEvent::Connection { .. } => {}
            }
            Ok(())
        }
    }

    /// Two started hosts on a 5 ms link, handles on them, and their shared log.
    fn pair(fail: bool) -> (World, [Shared<ScriptedHost>; 2], Log) {
        let log = Log::default();
        let sender = Sender { data: b"hello\n", conn: None, closed: None };
        let a = ScriptedHost::new("a", A, EndpointConfig::default(), Box::new(sender), Box::new(log.clone()));
        let printer = Printer { fail, closed: None };
        let config = EndpointConfig { seed: 1, ..EndpointConfig::default() };
        let b = ScriptedHost::new("b", B, config, Box::new(printer), Box::new(log.clone()));
        let hosts = [Shared::new(a), Shared::new(b)];
        for h in &hosts {
            h.0.borrow_mut().start(Instant::ZERO).expect("connect and listen");
        }
        let mut world = World::new(0);
        let [ia, ib] = hosts.clone().map(|h| world.add_host(Box::new(h)));
        let link = LinkConfig { latency: Duration::from_millis(5), ..LinkConfig::default() };
        world.connect(ia, ib, link.clone(), link);
        (world, hosts, log)
    }

    const END: Instant = Instant::from_micros(600_000_000);

    /// Every observation, in order, the client's port left out: the
    /// transition before the packet it causes, `In` before what it causes,
    /// events after the output of the input that raised them.
    #[test]
    fn the_observer_sees_packets_transitions_and_events_in_order() {
        let (mut world, _hosts, log) = pair(false);
        assert_eq!(world.run_until(END, |_| false), Ok(Stop::Idle));
        let expected = [
            "0.000000 a 10.0.0.1 CLOSED -> SYN-SENT",
            "0.000000 a Out SYN len 0",
            "0.005000 b In SYN len 0",
            "0.005000 b 10.0.1.1 LISTEN -> SYN-RECEIVED",
            "0.005000 b Out SYN ACK len 0",
            "0.010000 a In SYN ACK len 0",
            "0.010000 a 10.0.0.1 SYN-SENT -> ESTABLISHED",
            "0.010000 a Out ACK len 0",
            "0.010000 a 10.0.0.1 Connected",
            "0.010000 a Out ACK PSH len 6",
            "0.010000 a 10.0.0.1 ESTABLISHED -> FIN-WAIT-1",
            "0.010000 a Out FIN ACK len 0",
            "0.015000 b In ACK len 0",
            "0.015000 b 10.0.1.1 SYN-RECEIVED -> ESTABLISHED",
            "0.015000 b - Incoming",
            "0.015000 b 10.0.1.1 Connected",
            "0.015000 b In ACK PSH len 6",
            "0.015000 b 10.0.1.1 Readable",
            "0.015000 b In FIN ACK len 0",
            "0.015000 b 10.0.1.1 ESTABLISHED -> CLOSE-WAIT",
            "0.015000 b Out ACK len 0",
            "0.015000 b 10.0.1.1 PeerFinished",
            "0.015000 b 10.0.1.1 CLOSE-WAIT -> LAST-ACK",
            "0.015000 b Out FIN ACK len 0",
            "0.020000 a In ACK len 0",
            "0.020000 a 10.0.0.1 FIN-WAIT-1 -> FIN-WAIT-2",
            "0.020000 a In FIN ACK len 0",
            "0.020000 a 10.0.0.1 FIN-WAIT-2 -> TIME-WAIT",
            "0.020000 a Out ACK len 0",
            "0.020000 a 10.0.0.1 PeerFinished",
            "0.025000 b In ACK len 0",
            "0.025000 b 10.0.1.1 LAST-ACK -> CLOSED",
            "0.025000 b 10.0.1.1 Closed(Graceful)",
            "60.020000 a 10.0.0.1 TIME-WAIT -> CLOSED",
            "60.020000 a 10.0.0.1 Closed(Graceful)",
        ];
        assert_eq!(*log.0.borrow(), expected);
    }

    /// The application's output, final state and the host's counters are
    /// there to read after the run.
    #[test]
    fn output_apps_and_counters_after_the_run() {
        let (mut world, hosts, _log) = pair(false);
        assert_eq!(world.run_until(END, |w| w.now() > Instant::ZERO + Duration::from_millis(15)), Ok(Stop::Predicate));
        assert_eq!(hosts[1].0.borrow_mut().take_output(), b"hello\n");
        assert!(!hosts[1].0.borrow().has_output(), "taken");
        assert_eq!(world.run_until(END, |_| false), Ok(Stop::Idle));
        assert!(world.all_done(), "both endpoints forgot their connections");
        let (a, b) = (hosts[0].0.borrow(), hosts[1].0.borrow());
        assert_eq!(a.app::<Sender>().and_then(|s| s.closed), Some(CloseReason::Graceful));
        assert_eq!(b.app::<Printer>().and_then(|p| p.closed), Some(CloseReason::Graceful));
        assert!(a.app::<Printer>().is_none(), "host a runs a Sender");
        let expected = HostCounters { packets_out: 5, packets_in: 3, syns_out: 1, distinct_syns_out: 1, rsts_out: 0 };
        assert_eq!(a.counters(), expected);
        assert_eq!((b.counters().packets_out, b.counters().packets_in, b.counters().syns_out), (3, 5, 0));
    }

    /// A failed call stops the world after the step that made it; the
    /// error comes back whole.
    #[test]
    fn an_application_error_stops_the_world() {
        let (mut world, hosts, _log) = pair(true);
        let err = world.run_until(END, |_| false).expect_err("the second listen fails");
        assert_eq!(err.host, Some(crate::HostId(1)));
        assert_eq!(err.time, Instant::ZERO + Duration::from_millis(15), "the handshake's last ACK");
        assert!(err.message.starts_with("b: listen failed: "), "{err}");
        let app_error = hosts[1].0.borrow_mut().take_error();
        assert!(
            matches!(app_error, Some(AppError::Call { what: "listen", error: Error::AddrInUse, .. })),
            "{app_error:?}"
        );
    }
}
