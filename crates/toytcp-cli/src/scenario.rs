//! The book's runs ("Rustで始めるTCP自作入門" 3.5.9, 3.6.5, 3.7.3) as
//! scenarios on two simulated hosts, with checks of how they must end.
//!
//! host1 (10.0.0.1) is the client, host2 (10.0.1.1) the server on port
//! 40000, as in the book's network namespaces. Each scenario runs a
//! [`Client`] and a [`Server`] application, then checks that the bytes
//! arrived intact, that both sides closed gracefully and that the client
//! sent exactly one SYN (the book's bug report shows two) — unless the
//! link's faults ([`WorldConfig::links`]) may have lost it.

use crate::sim::{App, AppError, Io, SimError, World, WorldConfig};
use core::net::{Ipv4Addr, SocketAddrV4};
use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use toytcp_core::{CloseReason, ConnectionHandle, EndpointEvent, Error, Event};

/// host1's address (the book's `host1` namespace).
pub const HOST1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// host2's address (the book's `host2` namespace).
pub const HOST2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
/// The port the server listens on.
pub const SERVER_PORT: u16 = 40000;

/// Lines the client sends when no input is given.
const TRANSFER_LINES: [&[u8]; 2] = [b"hello\n", b"hoge\n"];
/// Lines the echo client sends when no input is given.
const ECHO_LINES: [&[u8]; 3] = [b"hello\n", b"hoge\n", b"fuga\n"];

/// A scenario of the `sim` subcommand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Book 3.5.9 / 3.6.5: host1 connects to host2:40000; both print the connection.
    Handshake,
    /// Book 3.7.3: host1 sends "hello" and "hoge"; host2 prints what it receives.
    Transfer,
    /// The book's echo server on host2; host1 sends lines and prints the echoes.
    Echo,
}

impl Scenario {
    /// Every scenario, in the book's order.
    pub const ALL: [Scenario; 3] = [Scenario::Handshake, Scenario::Transfer, Scenario::Echo];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Handshake => "handshake",
            Scenario::Transfer => "transfer",
            Scenario::Echo => "echo",
        }
    }

    /// Where in the book the scenario comes from.
    pub fn source(self) -> &'static str {
        match self {
            Scenario::Handshake => "book 3.5.9 / 3.6.5",
            Scenario::Transfer => "book 3.7.3",
            Scenario::Echo => "book's echoserver",
        }
    }
}

/// How a scenario is run.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The simulated network.
    pub world: WorldConfig,
    /// Bytes for the client to send instead of the built-in lines
    /// (`transfer`: all at once; `echo`: line by line).
    pub input: Option<Vec<u8>>,
    /// Write every packet of the run to this pcap file (also when the run fails).
    pub pcap: Option<PathBuf>,
}

/// Runs one scenario, writing what the applications print to `out`.
/// A failed check is a [`SimError::Check`].
pub fn run(scenario: Scenario, opts: &Options, out: &mut dyn Write) -> Result<(), SimError> {
    let server_addr = SocketAddrV4::new(HOST2, SERVER_PORT);
    let (client, server) = match scenario {
        Scenario::Handshake => (
            Client { print_connected: true, ..Client::new(server_addr) },
            Server { print_accepted: true, ..Server::new(server_addr) },
        ),
        Scenario::Transfer => {
            let chunks = match &opts.input {
                Some(input) => vec![input.clone()],
                None => TRANSFER_LINES.iter().map(|l| l.to_vec()).collect(),
            };
            (
                Client { chunks: chunks.into(), ..Client::new(server_addr) },
                Server { print_received: true, ..Server::new(server_addr) },
            )
        }
        Scenario::Echo => {
            let chunks: VecDeque<Vec<u8>> = match &opts.input {
                Some(input) => input.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec).collect(),
                None => ECHO_LINES.iter().map(|l| l.to_vec()).collect(),
            };
            let client = Client { chunks, lockstep: true, print_received: true, ..Client::new(server_addr) };
            (client, Server { echo: true, ..Server::new(server_addr) })
        }
    };
    let expected: Vec<u8> = client.chunks.iter().flatten().copied().collect();

    // Create the pcap file first: a bad path fails before the run, not
    // after its output.
    let mut pcap_file = match &opts.pcap {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| SimError::Pcap(path.clone(), e))?),
        None => None,
    };
    let config = WorldConfig { capture: opts.world.capture || opts.pcap.is_some(), ..opts.world.clone() };
    let mut world = World::new(&config, [("host1", HOST1, Box::new(client)), ("host2", HOST2, Box::new(server))]);
    let ran = world.run(out);
    if let (Some(path), Some(file), Some(bytes)) = (&opts.pcap, pcap_file.as_mut(), world.pcap()) {
        std::io::Write::write_all(file, &bytes).map_err(|e| SimError::Pcap(path.clone(), e))?;
    }
    ran?;

    let (host1, host2) = (world.host(0), world.host(1));
    let (Some(client), Some(server)) = (host1.app::<Client>(), host2.app::<Server>()) else {
        unreachable!("host1 runs the client, host2 the server")
    };
    let fail = |what: String| Err(SimError::Check(format!("{what} (at {} s of virtual time)", world.now())));
    let Some(local) = client.local else { return fail("the client never connected".into()) };
    match server.peer {
        None => return fail("the server never accepted a connection".into()),
        Some(peer) if peer != local => return fail(format!("the server accepted {peer}, but the client is {local}")),
        Some(_) => {}
    }
    if server.received != expected {
        // On a lossy link the likely cause: the client gave up.
        let cause = match client.closed {
            Some(CloseReason::Graceful) | None => String::new(),
            Some(reason) => format!(": the client's connection ended with: {reason}"),
        };
        return fail(format!(
            "the server received {} bytes, expected {} bytes{}{cause}",
            server.received.len(),
            expected.len(),
            if server.received.len() == expected.len() { " (contents differ)" } else { "" }
        ));
    }
    if scenario == Scenario::Echo && client.received != expected {
        return fail(format!("the client got {} bytes of echo, expected {}", client.received.len(), expected.len()));
    }
    for (who, closed) in [("client", client.closed), ("server", server.closed)] {
        if closed != Some(CloseReason::Graceful) {
            let how = closed.map_or_else(|| "never closed".to_string(), |r| format!("ended with: {r}"));
            return fail(format!("the {who}'s connection {how}"));
        }
    }
    // The book's bug report shows two SYNs from two ports: two connections.
    let counters = host1.counters();
    if counters.distinct_syns_out != 1 {
        return fail(format!("the client opened {} connections, expected 1", counters.distinct_syns_out));
    }
    // A retransmitted SYN is only expected when the link may lose the SYN
    // or its SYN-ACK, or when the round trip can exceed the initial RTO.
    let rtt = opts.world.base_rtt() + opts.world.extra_delay();
    if counters.syns_out != 1 && !opts.world.can_lose_packets() && rtt < opts.world.connection.initial_rto {
        return fail(format!("the client sent {} SYNs, expected exactly 1", counters.syns_out));
    }
    Ok(())
}

/// Sends its chunks in order, then shuts its write side down and reads
/// until the peer's FIN; with `lockstep` it waits for each chunk's echo
/// before sending the next (like the book's interactive echoclient).
#[derive(Debug)]
pub struct Client {
    remote: SocketAddrV4,
    /// Chunks still to send; each is one `send` (its first part may be sent already).
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of the front chunk already sent.
    sent_of_front: usize,
    /// Bytes sent in total.
    sent: usize,
    lockstep: bool,
    print_connected: bool,
    print_received: bool,
    conn: Option<ConnectionHandle>,
    /// The client's address, once connected.
    local: Option<SocketAddrV4>,
    shut: bool,
    closing: bool,
    received: Vec<u8>,
    closed: Option<CloseReason>,
}

impl Client {
    fn new(remote: SocketAddrV4) -> Self {
        Client {
            remote,
            chunks: VecDeque::new(),
            sent_of_front: 0,
            sent: 0,
            lockstep: false,
            print_connected: false,
            print_received: false,
            conn: None,
            local: None,
            shut: false,
            closing: false,
            received: Vec::new(),
            closed: None,
        }
    }

    /// Sends as much as the send buffer (and lockstep) allows; shuts down after the last chunk.
    fn pump(&mut self, io: &mut Io<'_>, h: ConnectionHandle) -> Result<(), AppError> {
        while let Some(chunk) = self.chunks.front() {
            if self.lockstep && self.sent_of_front == 0 && self.received.len() < self.sent {
                return Ok(());
            }
            match io.send(h, &chunk[self.sent_of_front..]) {
                Ok(n) => {
                    self.sent_of_front += n;
                    self.sent += n;
                    if self.sent_of_front == chunk.len() {
                        self.chunks.pop_front();
                        self.sent_of_front = 0;
                    }
                }
                Err(Error::WouldBlock) => return Ok(()),
                Err(error) => return Err(io.call_error("send", error)),
            }
        }
        if !self.shut {
            self.shut = true;
            io.shutdown(h)?;
        }
        Ok(())
    }
}

impl App for Client {
    fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
        let h = io.connect(self.remote)?;
        io.set_nodelay(h, true)?;
        self.conn = Some(h);
        Ok(())
    }

    fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
        let EndpointEvent::Connection { handle: h, event } = event else { return Ok(()) };
        if Some(h) != self.conn {
            return Ok(());
        }
        match event {
            Event::Connected => {
                let tuple = io.connection(h).map(|c| c.four_tuple());
                self.local = tuple.map(|t| t.local);
                if let (true, Some(t)) = (self.print_connected, tuple) {
                    io.write_out(format!("connected {} -> {}\n", t.local, t.remote).as_bytes());
                }
                self.pump(io, h)?;
            }
            Event::Writable => self.pump(io, h)?,
            Event::Readable | Event::PeerFinished => {
                let before = self.received.len();
                let eof = read_available(io, h, &mut self.received)?;
                if self.print_received {
                    io.write_out(&self.received[before..]);
                }
                if self.received.len() > before {
                    self.pump(io, h)?;
                }
                if eof && !self.closing {
                    self.closing = true;
                    io.close(h)?;
                }
            }
            Event::Closed(reason) => self.closed = Some(reason),
        }
        Ok(())
    }
}

/// Listens, accepts one connection and reads it to the end, printing or
/// echoing what arrives; closes once the peer has finished (and, when
/// echoing, everything has been sent back).
#[derive(Debug)]
pub struct Server {
    local: SocketAddrV4,
    print_accepted: bool,
    print_received: bool,
    echo: bool,
    conn: Option<ConnectionHandle>,
    /// The accepted peer.
    peer: Option<SocketAddrV4>,
    received: Vec<u8>,
    /// Bytes received and not yet echoed.
    to_echo: VecDeque<u8>,
    eof: bool,
    closing: bool,
    closed: Option<CloseReason>,
}

impl Server {
    fn new(local: SocketAddrV4) -> Self {
        Server {
            local,
            print_accepted: false,
            print_received: false,
            echo: false,
            conn: None,
            peer: None,
            received: Vec::new(),
            to_echo: VecDeque::new(),
            eof: false,
            closing: false,
            closed: None,
        }
    }

    /// Reads what is there, prints or echoes it, and closes at the end.
    fn read(&mut self, io: &mut Io<'_>, h: ConnectionHandle) -> Result<(), AppError> {
        let before = self.received.len();
        self.eof |= read_available(io, h, &mut self.received)?;
        let new = &self.received[before..];
        if self.print_received {
            io.write_out(new);
        }
        if self.echo {
            self.to_echo.extend(new);
        }
        self.pump(io, h)
    }

    /// Echoes what it can; closes after end of stream once nothing is left to echo.
    fn pump(&mut self, io: &mut Io<'_>, h: ConnectionHandle) -> Result<(), AppError> {
        while !self.to_echo.is_empty() {
            let (front, _) = self.to_echo.as_slices();
            match io.send(h, front) {
                Ok(n) => drop(self.to_echo.drain(..n)),
                Err(Error::WouldBlock) => return Ok(()),
                Err(error) => return Err(io.call_error("send", error)),
            }
        }
        if self.eof && !self.closing {
            self.closing = true;
            io.close(h)?;
        }
        Ok(())
    }
}

impl App for Server {
    fn start(&mut self, io: &mut Io<'_>) -> Result<(), AppError> {
        io.listen(self.local, 16)
    }

    fn on_event(&mut self, io: &mut Io<'_>, event: EndpointEvent) -> Result<(), AppError> {
        match event {
            EndpointEvent::Incoming { listener } => {
                while let Some(h) = io.accept(listener) {
                    if self.conn.is_some() {
                        // One client at a time, like the book's examples.
                        io.close(h)?;
                        continue;
                    }
                    self.conn = Some(h);
                    let peer = io.connection(h).map(|c| c.four_tuple().remote);
                    self.peer = peer;
                    if let (true, Some(peer)) = (self.print_accepted, peer) {
                        io.write_out(format!("accepted {peer}\n").as_bytes());
                    }
                    io.set_nodelay(h, true)?;
                    // Data may have come with the handshake's last ACK.
                    self.read(io, h)?;
                }
            }
            EndpointEvent::Connection { handle: h, event } if Some(h) == self.conn => match event {
                Event::Readable | Event::PeerFinished => self.read(io, h)?,
                Event::Writable => self.pump(io, h)?,
                Event::Closed(reason) => self.closed = Some(reason),
                Event::Connected => {}
            },
            EndpointEvent::Connection { .. } => {}
        }
        Ok(())
    }
}

/// Reads everything available into `into`; true at end of stream. A
/// connection that ended abnormally reads as end of stream too (its
/// `Closed` event carries the reason).
fn read_available(io: &mut Io<'_>, h: ConnectionHandle, into: &mut Vec<u8>) -> Result<bool, AppError> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match io.recv(h, &mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => into.extend_from_slice(&buf[..n]),
            Err(Error::WouldBlock) => return Ok(false),
            Err(Error::Closed(_)) => return Ok(true),
            Err(error) => return Err(io.call_error("recv", error)),
        }
    }
}
