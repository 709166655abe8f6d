//! `toytcp-cli connect` and `toytcp-cli listen`: netcat over ToyTCP on a
//! raw socket (crate `toytcp-rawsock`), for use inside a network namespace.
//!
//! Both pump stdin into the connection and the connection into stdout. On
//! end of stdin the connection's sending side is shut down (FIN); the run
//! ends once the peer has closed its side too (a read returns 0), so a
//! half-closed connection keeps working in the other direction
//! (RFC 9293 §3.6).

use super::Failure;
use clap::Args;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use toytcp_cli::observe::Observer;
use toytcp_core::FourTuple;
use toytcp_core::config::CongestionAlgorithm;
use toytcp_rawsock::{Config, Stack, TcpStream};

/// Size of the copy buffers.
const CHUNK: usize = 64 * 1024;

/// Options shared by `connect` and `listen`.
#[derive(Clone, Debug, Args)]
pub struct NetArgs {
    /// Write every segment sent and received to FILE (classic pcap, raw
    /// IPv4; `tcpdump -nr FILE` reads it).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// The MSS to announce, and the largest payload to send.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(64..=65495))]
    pub mss: Option<u16>,

    /// Send small segments at once (disable the Nagle algorithm, RFC 9293 §3.7.4).
    #[arg(long)]
    pub nodelay: bool,

    /// The congestion controller [default: the core's]; the trace's
    /// `stats` lines name the one in use.
    #[arg(long, value_name = "NAME", value_parser = toytcp_cli::congestion::value_parser())]
    pub cc: Option<CongestionAlgorithm>,

    /// SYN retransmissions before `connect` gives up [default: 8, about 4 minutes].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=20))]
    pub syn_retries: Option<u32>,

    /// Lower bound of the retransmission timeout in milliseconds [default:
    /// 1000, RFC 6298 §2.4; Linux uses 200].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub min_rto: Option<u64>,
}

/// `toytcp-cli connect ADDR PORT`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The server's IPv4 address, e.g. 10.0.1.1.
    pub addr: String,
    /// The server's port.
    pub port: String,
    #[command(flatten)]
    pub net: NetArgs,
}

/// `toytcp-cli listen ADDR PORT`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// The local IPv4 address to listen on (0.0.0.0 for every address).
    pub addr: String,
    /// The local port.
    pub port: String,
    /// Keep accepting: after a connection ends, wait for the next one.
    #[arg(short = 'k', long = "keep-open")]
    pub keep: bool,
    /// Echo server (the book's echoserver): send everything back, serve
    /// connections concurrently, keep accepting; nothing from stdin.
    #[arg(long)]
    pub echo: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// Parses `ADDR PORT` (port 1 to 65535).
pub fn parse_addr(addr: &str, port: &str) -> Result<SocketAddrV4, Failure> {
    let ip: Ipv4Addr = addr
        .parse()
        .map_err(|_| Failure::usage(format!("bad address '{addr}': expected an IPv4 address such as 10.0.1.1")))?;
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| Failure::usage(format!("bad port '{port}': expected a number from 1 to 65535")))?;
    Ok(SocketAddrV4::new(ip, port))
}

/// Longest a finished run waits for its connection's last FIN/ACK
/// exchange before the process (and with it the stack) ends.
const LINGER: Duration = Duration::from_secs(5);

/// A started stack and what the commands need to report on it.
struct Net {
    stack: Stack,
    observer: Arc<Observer>,
    syn_retries: u32,
    nodelay: bool,
}

impl Net {
    /// Starts the stack: the driver's defaults (random seed, ephemeral
    /// ports above the kernel's), the settings from `args`, and the
    /// observer (trace, `--pcap`, connection states).
    fn start(args: &NetArgs) -> Result<Net, Failure> {
        let mut config = Config::default();
        let endpoint = &mut config.endpoint;
        if let Some(mss) = args.mss {
            endpoint.connection.mss = mss;
        }
        if let Some(n) = args.syn_retries {
            endpoint.connection.syn_retries = n;
        }
        endpoint.connection.nodelay = args.nodelay;
        if let Some(cc) = args.cc {
            endpoint.connection.congestion = cc;
        }
        if let Some(ms) = args.min_rto {
            endpoint.connection.min_rto = toytcp_core::Duration::from_millis(ms);
        }
        let syn_retries = endpoint.connection.syn_retries;
        let observer = Arc::new(Observer::new(args.pcap.as_deref()).map_err(|e| {
            let path = args.pcap.as_deref().unwrap_or_else(|| "".as_ref()).display();
            Failure::runtime(format!("cannot create {path}: {e}"))
        })?);
        config.observer = Some(Arc::clone(&observer) as Arc<dyn toytcp_rawsock::Observer>);
        let stack = Stack::new(config).map_err(|e| match e.kind() {
            ErrorKind::PermissionDenied => Failure::runtime(not_root_message()),
            _ => Failure::runtime(format!("cannot start the raw-socket stack: {e}")),
        })?;
        Ok(Net { stack, observer, syn_retries, nodelay: args.nodelay })
    }

    /// Flushes the pcap file, if any.
    fn finish(&self) -> Result<(), Failure> {
        self.observer.finish().map_err(|e| Failure::runtime(format!("cannot write the pcap file: {e}")))
    }

    /// Netcat's part for one connection ([`pump`]), then a graceful close
    /// that the process waits for (bounded by [`LINGER`]), so that the
    /// last ACK or FIN is on the wire before the stack goes away.
    fn converse(&self, stream: TcpStream) -> Result<(), Failure> {
        self.prepare(&stream)?;
        let tuple = FourTuple {
            local: stream.local_addr().map_err(|e| Failure::runtime(format!("local address: {e}")))?,
            remote: stream.peer_addr().map_err(|e| Failure::runtime(format!("peer address: {e}")))?,
        };
        pump(stream)?;
        if !self.observer.wait_closed(tuple, LINGER) {
            tracing::debug!("{} - {}: still closing after {LINGER:?}", tuple.local, tuple.remote);
        }
        Ok(())
    }

    /// Applies per-stream options.
    fn prepare(&self, stream: &TcpStream) -> Result<(), Failure> {
        if self.nodelay {
            stream.set_nodelay(true).map_err(|e| Failure::runtime(format!("cannot set nodelay: {e}")))?;
        }
        Ok(())
    }
}

/// The one line a user without CAP_NET_RAW sees, with the command they ran
/// in the shape that works.
pub fn not_root_message() -> String {
    let argv: Vec<String> = std::env::args().map(|a| shell_quote(&a)).collect();
    let shown = if argv.is_empty() { "toytcp-cli".to_owned() } else { argv.join(" ") };
    format!("run as root inside a network namespace: sudo scripts/netns.sh up, then sudo ip netns exec host1 {shown}")
}

/// `arg` quoted for a POSIX shell when it needs quoting.
fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=,@%+".contains(&b));
    if plain { arg.to_owned() } else { format!("'{}'", arg.replace('\'', r"'\''")) }
}

/// `toytcp-cli connect`.
pub fn connect(args: &ConnectArgs) -> Result<(), Failure> {
    let remote = parse_addr(&args.addr, &args.port)?;
    let net = Net::start(&args.net)?;
    let result = net
        .stack
        .connect(remote)
        .map_err(|e| connect_failure(remote, &e, net.syn_retries))
        .and_then(|s| net.converse(s));
    let flushed = net.finish();
    result.and(flushed)
}

/// The one line for a failed active open.
fn connect_failure(remote: SocketAddrV4, e: &io::Error, syn_retries: u32) -> Failure {
    let what = match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::TimedOut => {
            let s = if syn_retries == 1 { "" } else { "s" };
            format!("timed out after {syn_retries} SYN retransmission{s}")
        }
        // A router said why the SYNs went unanswered (ICMP destination
        // unreachable: a soft error kept until the retries ran out, RFC
        // 1122 §4.2.3.9), or a firewall answered "administratively
        // prohibited" (at once). nc says "No route to host" for both.
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => {
            "no route to host (ICMP destination unreachable)".to_owned()
        }
        ErrorKind::PermissionDenied => return Failure::runtime(not_root_message()),
        _ => e.to_string(),
    };
    Failure::runtime(format!("connect to {remote}: {what}"))
}

/// `toytcp-cli listen`.
pub fn listen(args: &ListenArgs) -> Result<(), Failure> {
    let local = parse_addr(&args.addr, &args.port)?;
    let net = Net::start(&args.net)?;
    let result = serve(&net, local, args);
    let flushed = net.finish();
    result.and(flushed)
}

/// Accepts and serves connections as `args` says.
fn serve(net: &Net, local: SocketAddrV4, args: &ListenArgs) -> Result<(), Failure> {
    let listener = net.stack.bind(local).map_err(|e| match e.kind() {
        ErrorKind::AddrInUse => Failure::runtime(format!("listen on {local}: address already in use")),
        ErrorKind::PermissionDenied => Failure::runtime(not_root_message()),
        _ => Failure::runtime(format!("listen on {local}: {e}")),
    })?;
    // Like `nc -lv`: tells the user (and scripts) that SYNs are now answered.
    eprintln!("listening on {local}");
    loop {
        let (stream, peer) = listener.accept().map_err(|e| Failure::runtime(format!("accept on {local}: {e}")))?;
        // What the user waits for: who connected (nc -v prints the same).
        eprintln!("accepted {peer}");
        if args.echo {
            net.prepare(&stream)?;
            thread::spawn(move || {
                if let Err(e) = echo(&stream) {
                    eprintln!("toytcp-cli: {peer}: {e}");
                }
            });
            continue;
        }
        if !args.keep {
            // One connection, like `nc -l`: later SYNs are refused (RST
            // from the endpoint) instead of waiting in the backlog.
            drop(listener);
            return net.converse(stream);
        }
        net.converse(stream)?;
    }
}

/// The book's echo server for one connection: everything read is written
/// back; the peer's FIN is answered with ours.
fn echo(stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut s = stream;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => s.write_all(&buf[..n])?,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.shutdown(Shutdown::Write)
}

/// stdin → connection (then FIN) on a thread, connection → stdout here;
/// returns when both are done.
fn pump(stream: TcpStream) -> Result<(), Failure> {
    let stream = Arc::new(stream);
    let sender = {
        let stream = Arc::clone(&stream);
        thread::spawn(move || stdin_to_stream(&stream))
    };
    // On failure here the sender thread may be blocked reading a terminal:
    // it is left behind, and the process ends with the error.
    stream_to_stdout(&stream)?;
    match sender.join() {
        Ok(result) => result,
        Err(_) => Err(Failure::runtime("the stdin thread panicked")),
    }
}

/// Copies stdin into the connection, then shuts its sending side down.
fn stdin_to_stream(stream: &TcpStream) -> Result<(), Failure> {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0u8; CHUNK];
    let mut out = stream;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Failure::runtime(format!("cannot read stdin: {e}"))),
        };
        out.write_all(&buf[..n]).map_err(|e| connection_failure("send", &e))?;
    }
    stream.shutdown(Shutdown::Write).map_err(|e| connection_failure("shutdown", &e))
}

/// Copies the connection to stdout until the peer's FIN.
fn stream_to_stdout(stream: &TcpStream) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; CHUNK];
    let mut input = stream;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(connection_failure("receive", &e)),
        };
        stdout
            .write_all(&buf[..n])
            .and_then(|()| stdout.flush())
            .map_err(|e| Failure::runtime(format!("cannot write stdout: {e}")))?;
    }
}

/// The one line for a connection that failed after it was established.
fn connection_failure(what: &str, e: &io::Error) -> Failure {
    match e.kind() {
        ErrorKind::ConnectionReset => Failure::runtime("connection reset by peer"),
        ErrorKind::TimedOut => Failure::runtime("connection timed out"),
        ErrorKind::BrokenPipe => Failure::runtime("connection closed by peer"),
        _ => Failure::runtime(format!("{what}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_ports() {
        assert_eq!(parse_addr("10.0.1.1", "40000").expect("valid"), "10.0.1.1:40000".parse().expect("addr"));
        let bad = parse_addr("10.0.1", "40000").expect_err("short address");
        assert_eq!(bad.code, 2);
        assert_eq!(bad.message, "bad address '10.0.1': expected an IPv4 address such as 10.0.1.1");
        assert!(parse_addr("host2", "1").is_err());
        assert_eq!(
            parse_addr("10.0.1.1", "0").expect_err("port 0").message,
            "bad port '0': expected a number from 1 to 65535"
        );
        assert!(parse_addr("10.0.1.1", "65536").is_err());
        assert!(parse_addr("10.0.1.1", "x").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("10.0.1.1"), "10.0.1.1");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn connect_failures_are_one_line() {
        let addr: SocketAddrV4 = "10.0.1.1:40001".parse().expect("addr");
        let refused = io::Error::from(ErrorKind::ConnectionRefused);
        assert_eq!(connect_failure(addr, &refused, 8).message, "connect to 10.0.1.1:40001: connection refused");
        let timed_out = io::Error::from(ErrorKind::TimedOut);
        assert_eq!(
            connect_failure(addr, &timed_out, 2).message,
            "connect to 10.0.1.1:40001: timed out after 2 SYN retransmissions"
        );
        let unreachable = io::Error::from(ErrorKind::HostUnreachable);
        assert_eq!(
            connect_failure(addr, &unreachable, 2).message,
            "connect to 10.0.1.1:40001: no route to host (ICMP destination unreachable)"
        );
    }
}
