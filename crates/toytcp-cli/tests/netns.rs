//! ToyTCP on a real network: the built `toytcp-cli` in Linux network
//! namespaces against the kernel's TCP (netcat, socat, std::net) and
//! against itself — the book's runs (3.5.9, 3.6.5, 3.7.3), bulk transfers
//! through the router with and without loss, an echo server under 50
//! concurrent clients, and bad input.
//!
//! Every test makes its own copy of the book's topology (`scripts/netns.sh`
//! with a unique prefix) and removes it on drop, even when it fails; every
//! process it starts is killed on drop and every wait is bounded. Without
//! root the tests print why and skip (the not-root and bad-address tests
//! run anyway). As root, missing tools are a failure that names the
//! packages to install.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use toytcp_cli::netns::{self, Topology};
use toytcp_cli::pcap;
use toytcp_core::wire;

const BIN: &str = env!("CARGO_BIN_EXE_toytcp-cli");
const HOST1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const HOST2: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const PORT: u16 = 40000;
const MIB: usize = 1 << 20;

/// The topology for one test, or `None` (printed) when the test must skip.
fn topology(test: &str) -> Option<Topology> {
    if let Some(reason) = netns::unavailable_reason() {
        eprintln!("skipped {test}: {reason} (these tests need root and `ip netns`)");
        return None;
    }
    let missing: Vec<&str> =
        ["nc", "socat", "tcpdump", "setpriv"].into_iter().filter(|t| netns::find_program(t).is_none()).collect();
    assert!(missing.is_empty(), "{} missing: apt-get install -y {}", missing.join(", "), netns::PACKAGES);
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let prefix = format!("tt{}x{}-", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    Some(Topology::up(&prefix).unwrap_or_else(|e| panic!("{test}: netns.sh up: {e}")))
}

/// A process started in a namespace: killed and reaped on drop; stdout
/// collected whole, stderr line by line (so that a test can wait for one).
struct Proc {
    name: String,
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
    stderr_reader: Option<JoinHandle<()>>,
}

impl Proc {
    /// Starts `ip netns exec PREFIXhost PROGRAM ARGS` with `stdin`.
    fn start(topo: &Topology, host: &str, program: &str, args: &[&str], stdin: Stdio) -> Proc {
        Proc::spawn(format!("{host}: {program} {}", args.join(" ")), topo.exec(host, program).args(args), stdin)
    }

    /// Starts `cmd` (RUST_LOG cleared) with `stdin`, stdout and stderr piped.
    fn spawn(name: String, cmd: &mut Command, stdin: Stdio) -> Proc {
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = Some(netns::collect(child.stdout.take()));
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().expect("stderr is piped");
        let stderr_reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
        Proc { name, child, stdout, lines, stderr: Vec::new(), stderr_reader }
    }

    /// Waits for a stderr line containing `needle`; panics after `timeout`.
    fn wait_stderr(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "{}: no stderr line with {needle:?} within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// Waits for the exit at most `timeout` (killing it then): the status
    /// (`None` when killed), stdout, and stderr.
    fn finish(&mut self, timeout: Duration) -> (Option<ExitStatus>, Vec<u8>, String) {
        let status = netns::wait_timeout(&mut self.child, timeout).expect("wait");
        if let Some(reader) = self.stderr_reader.take() {
            let _ = reader.join();
        }
        self.stderr.extend(self.lines.try_iter());
        let out = self.stdout.take().map(|h| h.join().unwrap_or_default()).unwrap_or_default();
        (status, out, self.stderr.join("\n"))
    }

    /// Like [`Proc::finish`], asserting exit status 0 in time.
    fn finish_ok(&mut self, timeout: Duration) -> (Vec<u8>, String) {
        let (status, out, err) = self.finish(timeout);
        match status {
            Some(s) if s.success() => (out, err),
            Some(s) => panic!("{} failed ({s}); stderr:\n{err}", self.name),
            None => panic!("{} did not finish within {timeout:?}; stderr:\n{err}", self.name),
        }
    }

    /// Stops a process with SIGINT (tcpdump writes out what it holds) and
    /// waits for it at most `timeout`.
    fn interrupt(&mut self, timeout: Duration) -> String {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        self.finish(timeout).2
    }

    /// Stops a server that runs until killed.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        self.finish(Duration::from_secs(10)).2
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nc -l ADDR PORT` in `host` with stdin from /dev/null and waits
/// until the kernel listens.
fn nc_listen(topo: &Topology, host: &str, addr: Ipv4Addr) -> Proc {
    let p = Proc::start(topo, host, "nc", &["-l", &addr.to_string(), &PORT.to_string()], Stdio::null());
    assert!(
        netns::wait_for_listener(p.child.id(), SocketAddrV4::new(addr, PORT), Duration::from_secs(5)),
        "nc -l {addr} {PORT} is not listening"
    );
    p
}

/// Starts `toytcp-cli listen ADDR PORT ARGS` in `host` and waits for its
/// `listening on` line.
fn toytcp_listen(topo: &Topology, host: &str, addr: Ipv4Addr, args: &[&str], stdin: Stdio) -> Proc {
    let (a, p) = (addr.to_string(), PORT.to_string());
    let mut all = vec!["listen", a.as_str(), p.as_str()];
    all.extend_from_slice(args);
    let mut proc = Proc::start(topo, host, BIN, &all, stdin);
    proc.wait_stderr(&format!("listening on {addr}:{PORT}"), Duration::from_secs(10));
    proc
}

/// `toytcp-cli connect ADDR PORT ARGS` in `host`.
fn toytcp_connect(topo: &Topology, host: &str, addr: Ipv4Addr, args: &[&str], stdin: Stdio) -> Proc {
    let (a, p) = (addr.to_string(), PORT.to_string());
    let mut all = vec!["connect", a.as_str(), p.as_str()];
    all.extend_from_slice(args);
    Proc::start(topo, host, BIN, &all, stdin)
}

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "toytcp-netns-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("make scratch dir");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` pseudo-random bytes from `seed` (xorshift64*), written to `path`.
fn random_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        data.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    data.truncate(len);
    std::fs::write(path, &data).expect("write input file");
    data
}

/// `sha256sum FILE`'s digest.
fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// Segments with SYN and without ACK from `src` in a capture.
fn syns_from(capture: &pcap::Capture, src: Ipv4Addr) -> Vec<(u16, u32)> {
    capture
        .ipv4_packets()
        .into_iter()
        .filter_map(|p| wire::parse(p).ok())
        .filter(|s| s.src_addr == src && s.header.flags.contains(wire::Flags::SYN) && !s.header.flags.ack())
        .map(|s| (s.header.src_port, s.header.seq.0))
        .collect()
}

/// Book 3.5.9: ToyTCP in host1 connects to `nc -l` in host2 and the trace
/// shows the handshake complete.
#[test]
fn book_3_5_9_connect_to_netcat() {
    let Some(topo) = topology("book_3_5_9_connect_to_netcat") else { return };
    let mut nc = nc_listen(&topo, "host2", HOST2);
    let mut cli = toytcp_connect(&topo, "host1", HOST2, &["-v"], Stdio::null());
    let (out, err) = cli.finish_ok(Duration::from_secs(20));
    assert!(out.is_empty());
    assert!(err.contains("SYN-SENT -> ESTABLISHED"), "trace:\n{err}");
    assert!(
        err.contains(&format!("Out {HOST1}:")) && err.contains(&format!(" > {HOST2}:{PORT} SYN seq")),
        "trace:\n{err}"
    );
    assert!(err.contains("event Connected"), "trace:\n{err}");
    // The host column is the namespace's name, found by the CLI itself.
    assert!(err.contains(&format!(" {} Out {HOST1}:", topo.ns("host1"))), "trace:\n{err}");
    nc.finish_ok(Duration::from_secs(10));
}

/// Book 3.6.5: `nc` in host2 connects to ToyTCP listening in host1; the
/// peer's address is printed.
#[test]
fn book_3_6_5_netcat_connects_to_toytcp() {
    let Some(topo) = topology("book_3_6_5_netcat_connects_to_toytcp") else { return };
    let mut server = toytcp_listen(&topo, "host1", HOST1, &["-v"], Stdio::null());
    let mut nc = Proc::start(&topo, "host2", "nc", &["-w", "10", &HOST1.to_string(), &PORT.to_string()], Stdio::null());
    let accepted = server.wait_stderr("accepted ", Duration::from_secs(10));
    assert!(accepted.starts_with(&format!("accepted {HOST2}:")), "{accepted}");
    let port: u16 = accepted.rsplit(':').next().and_then(|p| p.parse().ok()).expect("peer port");
    assert!(port >= 1024, "{accepted}");
    nc.finish_ok(Duration::from_secs(20));
    let (_, err) = server.finish_ok(Duration::from_secs(20));
    assert!(err.contains("LISTEN -> SYN-RECEIVED"), "trace:\n{err}");
    assert!(err.contains("SYN-RECEIVED -> ESTABLISHED"), "trace:\n{err}");
}

/// Book 3.6.5, second half: ToyTCP connects to ToyTCP.
#[test]
fn book_3_6_5_toytcp_to_toytcp() {
    let Some(topo) = topology("book_3_6_5_toytcp_to_toytcp") else { return };
    let mut server = toytcp_listen(&topo, "host1", HOST1, &[], Stdio::null());
    let mut client = toytcp_connect(&topo, "host2", HOST1, &["-v"], Stdio::null());
    let accepted = server.wait_stderr("accepted ", Duration::from_secs(10));
    let (_, trace) = client.finish_ok(Duration::from_secs(20));
    server.finish_ok(Duration::from_secs(20));
    let port = accepted.strip_prefix(&format!("accepted {HOST2}:")).unwrap_or_else(|| panic!("{accepted}"));
    assert!(
        trace.contains(&format!("Out {HOST2}:{port} > {HOST1}:{PORT} SYN seq")),
        "the client's SYN came from another port than {port}:\n{trace}"
    );
    assert!(trace.contains("SYN-SENT -> ESTABLISHED"), "trace:\n{trace}");
}

/// Book 3.7.3, the run that failed in the book: `nc -l` prints exactly
/// what ToyTCP sent, both exit 0, and exactly one SYN left the client —
/// on the wire (tcpdump in host2) and in the client's own `--pcap`.
#[test]
fn book_3_7_3_hello_hoge() {
    let Some(topo) = topology("book_3_7_3_hello_hoge") else { return };
    let scratch = Scratch::new("3_7_3");
    let wire_cap = scratch.path("host2.pcap");
    let own_cap = scratch.path("client.pcap");
    let mut tcpdump = Proc::start(
        &topo,
        "host2",
        "tcpdump",
        &["-n", "-U", "--immediate-mode", "-i", "host2-veth1", "-w", wire_cap.to_str().expect("utf-8 path"), "tcp"],
        Stdio::null(),
    );
    tcpdump.wait_stderr("listening on", Duration::from_secs(10));
    let mut nc = nc_listen(&topo, "host2", HOST2);
    let mut client =
        toytcp_connect(&topo, "host1", HOST2, &["--pcap", own_cap.to_str().expect("utf-8 path")], Stdio::piped());
    client.child.stdin.take().expect("stdin").write_all(b"hello\nhoge\n").expect("write stdin");
    let (client_out, _) = client.finish_ok(Duration::from_secs(20));
    let (printed, _) = nc.finish_ok(Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&printed), "hello\nhoge\n");
    assert!(client_out.is_empty());
    tcpdump.interrupt(Duration::from_secs(10));

    let on_wire = pcap::read(File::open(&wire_cap).expect("tcpdump's file")).expect("tcpdump's pcap");
    let syns = syns_from(&on_wire, HOST1);
    assert_eq!(syns.len(), 1, "SYNs from the client on the wire: {syns:?}");
    let own = pcap::read(File::open(&own_cap).expect("--pcap file")).expect("--pcap file parses");
    assert_eq!(own.linktype, pcap::LINKTYPE_RAW);
    assert_eq!(syns_from(&own, HOST1), syns, "the client's pcap and the wire disagree on the SYN");
    let fins = own
        .ipv4_packets()
        .into_iter()
        .filter_map(|p| wire::parse(p).ok())
        .filter(|s| s.header.flags.contains(wire::Flags::FIN))
        .count();
    assert!(fins >= 2, "both FINs are in the client's pcap ({fins} found)");
}

/// `--mss 536` on a real network: the kernel in host2 sees MSS 536 on
/// ToyTCP's SYN (tcpdump there), no segment it receives carries more than
/// 536 bytes, and 2 MiB still arrive byte-exact.
#[test]
fn mss_536_reaches_the_kernel_peer() {
    let Some(topo) = topology("mss_536_reaches_the_kernel_peer") else { return };
    let scratch = Scratch::new("mss536");
    let (input, output, wire_cap) = (scratch.path("in"), scratch.path("out"), scratch.path("host2.pcap"));
    let len = 2 * MIB;
    random_file(&input, len, 0x5eed_0536);
    let mut tcpdump = Proc::start(
        &topo,
        "host2",
        "tcpdump",
        &["-n", "-U", "--immediate-mode", "-i", "host2-veth1", "-w", wire_cap.to_str().expect("utf-8 path"), "tcp"],
        Stdio::null(),
    );
    tcpdump.wait_stderr("listening on", Duration::from_secs(10));
    let listen = format!("TCP-LISTEN:{PORT},bind={HOST2},reuseaddr");
    let sink = format!("OPEN:{},creat,trunc", output.display());
    let mut socat = Proc::start(&topo, "host2", "socat", &["-u", &listen, &sink], Stdio::null());
    assert!(netns::wait_for_listener(socat.child.id(), SocketAddrV4::new(HOST2, PORT), Duration::from_secs(5)));
    let stdin = Stdio::from(File::open(&input).expect("open input"));
    let mut client = toytcp_connect(&topo, "host1", HOST2, &["--mss", "536", "-v"], stdin);
    let (_, trace) = client.finish_ok(Duration::from_secs(60));
    socat.finish_ok(Duration::from_secs(20));
    tcpdump.interrupt(Duration::from_secs(10));
    assert_eq!(sha256(&output), sha256(&input), "the data arrived changed");
    assert!(trace.contains(": stats cc "), "the trace shows the connection's stats:\n{trace}");

    let on_wire = pcap::read(File::open(&wire_cap).expect("tcpdump's file")).expect("tcpdump's pcap");
    let segs: Vec<wire::Segment<'_>> = on_wire.ipv4_packets().into_iter().filter_map(|p| wire::parse(p).ok()).collect();
    let syn = segs
        .iter()
        .find(|s| s.src_addr == HOST1 && s.header.flags.syn() && !s.header.flags.ack())
        .expect("ToyTCP's SYN on host2's wire");
    assert_eq!(syn.header.options.mss, Some(536), "the MSS option the kernel peer received");
    let sizes: Vec<usize> = segs.iter().filter(|s| s.src_addr == HOST1).map(|s| s.payload.len()).collect();
    let largest = sizes.iter().copied().max().unwrap_or(0);
    assert!(largest <= 536, "a segment of {largest} bytes reached host2");
    assert!(largest >= 536 - 40, "full segments are near the MSS (largest {largest})");
}

/// Loss on the router's forwarding path, both directions.
fn add_loss(topo: &Topology, probability: &str) {
    topo.run(
        "router",
        &[
            "iptables",
            "-A",
            "FORWARD",
            "-m",
            "statistic",
            "--mode",
            "random",
            "--probability",
            probability,
            "-j",
            "DROP",
        ],
    )
    .expect("add the loss rule");
}

/// 50 MiB from ToyTCP in host1 to `socat` in host2, byte-exact; `args`
/// go to `toytcp-cli connect`.
fn bulk_toytcp_to_kernel(test: &str, loss: Option<&str>, args: &[&str], limit: Duration) {
    let Some(topo) = topology(test) else { return };
    if let Some(p) = loss {
        add_loss(&topo, p);
    }
    let scratch = Scratch::new(test);
    let (input, output) = (scratch.path("in"), scratch.path("out"));
    random_file(&input, 50 * MIB, 0x5eed_0001);
    let listen = format!("TCP-LISTEN:{PORT},bind={HOST2},reuseaddr");
    let sink = format!("OPEN:{},creat,trunc", output.display());
    let mut socat = Proc::start(&topo, "host2", "socat", &["-u", &listen, &sink], Stdio::null());
    assert!(netns::wait_for_listener(socat.child.id(), SocketAddrV4::new(HOST2, PORT), Duration::from_secs(5)));
    let started = Instant::now();
    let mut client = toytcp_connect(&topo, "host1", HOST2, args, Stdio::from(File::open(&input).expect("open input")));
    client.finish_ok(limit);
    socat.finish_ok(Duration::from_secs(20));
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{test}: 50 MiB ToyTCP -> kernel in {secs:.2} s ({:.1} MiB/s)", 50.0 / secs);
    assert_eq!(std::fs::metadata(&output).expect("output").len(), 50 * MIB as u64);
    assert_eq!(sha256(&output), sha256(&input));
}

/// 50 MiB from `socat` in host2 to ToyTCP listening in host1, byte-exact.
fn bulk_kernel_to_toytcp(test: &str, loss: Option<&str>, limit: Duration) {
    let Some(topo) = topology(test) else { return };
    if let Some(p) = loss {
        add_loss(&topo, p);
    }
    let scratch = Scratch::new(test);
    let (input, output) = (scratch.path("in"), scratch.path("out"));
    random_file(&input, 50 * MIB, 0x5eed_0002);
    let mut cmd = topo.exec("host1", BIN);
    cmd.args(["listen", &HOST1.to_string(), &PORT.to_string()]);
    let mut server = spawn_to_file(cmd, &output);
    server.wait_stderr("listening on", Duration::from_secs(10));
    let started = Instant::now();
    let source = format!("OPEN:{}", input.display());
    let target = format!("TCP:{HOST1}:{PORT}");
    let mut socat = Proc::start(&topo, "host2", "socat", &["-u", &source, &target], Stdio::null());
    socat.finish_ok(limit);
    server.finish_ok(Duration::from_secs(30));
    let secs = started.elapsed().as_secs_f64();
    eprintln!("{test}: 50 MiB kernel -> ToyTCP in {secs:.2} s ({:.1} MiB/s)", 50.0 / secs);
    assert_eq!(std::fs::metadata(&output).expect("output").len(), 50 * MIB as u64);
    assert_eq!(sha256(&output), sha256(&input));
}

/// Starts `cmd` with stdin from /dev/null and stdout into `path`.
fn spawn_to_file(mut cmd: Command, path: &Path) -> Proc {
    let file = File::create(path).expect("create output");
    let mut child = cmd
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start toytcp-cli listen");
    let (tx, lines) = mpsc::channel();
    let err = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Proc {
        name: "host1: toytcp-cli listen > file".to_owned(),
        child,
        stdout: None,
        lines,
        stderr: Vec::new(),
        stderr_reader: Some(reader),
    }
}

#[test]
fn bulk_50mib_toytcp_to_kernel() {
    bulk_toytcp_to_kernel("bulk_50mib_toytcp_to_kernel", None, &[], Duration::from_secs(120));
}

#[test]
fn bulk_50mib_kernel_to_toytcp() {
    bulk_kernel_to_toytcp("bulk_50mib_kernel_to_toytcp", None, Duration::from_secs(120));
}

/// With 5 % loss each way the congestion window stays a few segments wide;
/// SACK recovery, RACK and tail loss probes repair most losses without a
/// timeout, so the default 1 s RTO floor (RFC 6298) is kept.
#[test]
fn bulk_50mib_toytcp_to_kernel_5pct_loss() {
    bulk_toytcp_to_kernel("bulk_50mib_toytcp_to_kernel_5pct_loss", Some("0.05"), &[], Duration::from_secs(600));
}

#[test]
fn bulk_50mib_kernel_to_toytcp_5pct_loss() {
    bulk_kernel_to_toytcp("bulk_50mib_kernel_to_toytcp_5pct_loss", Some("0.05"), Duration::from_secs(600));
}

/// The book's echo server in ToyTCP (host1) and 50 kernel clients in host2
/// at once, each sending 1,000 messages and reading each echo back whole.
#[test]
fn echo_server_50_concurrent_kernel_clients() {
    let Some(topo) = topology("echo_server_50_concurrent_kernel_clients") else { return };
    let mut server = toytcp_listen(&topo, "host1", HOST1, &["--echo"], Stdio::null());
    let ns_path = PathBuf::from("/run/netns").join(topo.ns("host2"));
    let clients: Vec<JoinHandle<Result<(), String>>> = (0..50)
        .map(|c| {
            let ns_path = ns_path.clone();
            std::thread::spawn(move || echo_client(&ns_path, c))
        })
        .collect();
    let mut failures = Vec::new();
    for (c, h) in clients.into_iter().enumerate() {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("client {c}: {e}")),
            Err(_) => failures.push(format!("client {c}: panicked")),
        }
    }
    let err = server.stop();
    assert!(failures.is_empty(), "{}\nserver stderr:\n{err}", failures.join("\n"));
    assert_eq!(err.matches("accepted ").count(), 50, "server stderr:\n{err}");
}

/// One echo client, on a thread moved into host2's network namespace.
fn echo_client(ns_path: &Path, c: usize) -> Result<(), String> {
    let ns = File::open(ns_path).map_err(|e| format!("open {}: {e}", ns_path.display()))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("setns: {e}"))?;
    let addr = SocketAddrV4::new(HOST1, PORT);
    let mut s =
        TcpStream::connect_timeout(&addr.into(), Duration::from_secs(10)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut echoed = Vec::new();
    for i in 0..1000 {
        let msg = format!("client {c} message {i} {}\n", "x".repeat((c * 7 + i) % 200));
        s.write_all(msg.as_bytes()).map_err(|e| format!("write {i}: {e}"))?;
        echoed.resize(msg.len(), 0);
        s.read_exact(&mut echoed).map_err(|e| format!("read echo {i}: {e}"))?;
        if echoed != msg.as_bytes() {
            return Err(format!("message {i}: sent {msg:?}, got {:?}", String::from_utf8_lossy(&echoed)));
        }
    }
    s.shutdown(std::net::Shutdown::Write).map_err(|e| format!("shutdown: {e}"))?;
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).map_err(|e| format!("read to end: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("{} unexpected bytes after the last echo", rest.len()));
    }
    Ok(())
}

/// A closed port on a kernel host: RST, "connection refused", exit 1. The
/// kernel in host2 is alone there, so its RSTs may go out: this test
/// removes host2's RST filter.
#[test]
fn closed_port_is_refused() {
    let Some(topo) = topology("closed_port_is_refused") else { return };
    topo.run(
        "host2",
        &[
            "iptables",
            "-D",
            "OUTPUT",
            "-p",
            "tcp",
            "--tcp-flags",
            "RST",
            "RST",
            "-m",
            "owner",
            "!",
            "--uid-owner",
            "0",
            "-j",
            "DROP",
        ],
    )
    .expect("remove host2's RST filter");
    let mut cli = Proc::start(&topo, "host1", BIN, &["connect", &HOST2.to_string(), "40001"], Stdio::null());
    let (status, out, err) = cli.finish(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(1), "stderr:\n{err}");
    assert!(out.is_empty());
    assert_eq!(err, format!("toytcp-cli: connect to {HOST2}:40001: connection refused"));
}

/// Connects to `port` on host2, where `iptables -j REJECT --reject-with
/// REJECT_WITH` answers it, and checks that the CLI fails at once (not
/// after the SYN retries) with the one-line `what`.
fn rejected_connect(name: &str, port: u16, reject_with: &str, what: &str) {
    let Some(topo) = topology(name) else { return };
    let port = port.to_string();
    let reject =
        ["iptables", "-I", "INPUT", "-p", "tcp", "--dport", &port, "-j", "REJECT", "--reject-with", reject_with];
    topo.run("host2", &reject).expect("REJECT rule");
    let started = Instant::now();
    let mut cli = Proc::start(&topo, "host1", BIN, &["connect", &HOST2.to_string(), &port], Stdio::null());
    let (status, _, err) = cli.finish(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(1), "stderr:\n{err}");
    assert_eq!(err, format!("toytcp-cli: connect to {HOST2}:{port}: {what}"));
    assert!(started.elapsed() < Duration::from_secs(2), "failed only after {:?}", started.elapsed());
}

/// A firewall that rejects with ICMP port unreachable (`iptables -j
/// REJECT`) is reported like a RST refusal, at once (RFC 1122 §4.2.3.9),
/// not after the SYN retries run out.
#[test]
fn icmp_port_unreachable_is_refused_at_once() {
    rejected_connect("icmp_port_unreachable_is_refused_at_once", 40002, "icmp-port-unreachable", "connection refused");
}

/// A firewall that rejects with "administratively prohibited" (firewalld's
/// default, `--reject-with icmp-admin-prohibited`) ends the connect at
/// once too, as "no route to host" (Linux: EHOSTUNREACH).
#[test]
fn icmp_admin_prohibited_ends_a_connect_at_once() {
    rejected_connect(
        "icmp_admin_prohibited_ends_a_connect_at_once",
        40003,
        "icmp-admin-prohibited",
        "no route to host (ICMP destination unreachable)",
    );
}

/// ToyTCP's own RSTs get through the namespace's filter (which drops the
/// kernel's): a kernel client connecting to a port ToyTCP does not listen
/// on, in a namespace where ToyTCP runs, is refused at once.
#[test]
fn toytcp_rst_passes_the_kernel_rst_filter() {
    let Some(topo) = topology("toytcp_rst_passes_the_kernel_rst_filter") else { return };
    let mut server = toytcp_listen(&topo, "host1", HOST1, &["-k"], Stdio::null());
    let started = Instant::now();
    let mut nc = Proc::start(&topo, "host2", "nc", &["-v", "-w", "5", &HOST1.to_string(), "40001"], Stdio::null());
    let (status, _, err) = nc.finish(Duration::from_secs(20));
    assert!(!status.expect("nc ends").success());
    assert!(err.contains("Connection refused"), "nc: {err}");
    assert!(started.elapsed() < Duration::from_secs(3), "refused only after {:?}", started.elapsed());
    server.stop();
}

/// An address the router has no route for: it answers each SYN with
/// ICMP network unreachable, a soft error (RFC 1122 §4.2.3.9, MUST-56), so
/// the SYN is retried until the retries run out, and the failure then
/// names the unreachable destination rather than a bare timeout (as Linux
/// reports EHOSTUNREACH).
#[test]
fn unreachable_address_times_out() {
    let Some(topo) = topology("unreachable_address_times_out") else { return };
    let started = Instant::now();
    let mut cli =
        Proc::start(&topo, "host1", BIN, &["connect", "10.0.2.1", "40000", "--syn-retries", "2"], Stdio::null());
    let (status, _, err) = cli.finish(Duration::from_secs(30));
    assert_eq!(status.and_then(|s| s.code()), Some(1), "stderr:\n{err}");
    assert_eq!(err, "toytcp-cli: connect to 10.0.2.1:40000: no route to host (ICMP destination unreachable)");
    // Not at once: the SYN was retried (1 + 2 + 4 s of timeouts).
    assert!(started.elapsed() >= Duration::from_secs(6), "gave up after {:?}", started.elapsed());
}

/// Without CAP_NET_RAW: one line saying how to run it. Runs as `nobody`
/// when the tests are root, as the current user otherwise.
#[test]
fn not_root_gets_the_clear_message() {
    let args = ["connect", "10.0.1.1", "40000"];
    let mut cmd = if netns::is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd.args(args).env_remove("RUST_LOG").stdin(Stdio::null()).output().expect("run toytcp-cli");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{err}");
    assert_eq!(
        err.trim_end(),
        format!(
            "toytcp-cli: run as root inside a network namespace: sudo scripts/netns.sh up, then sudo ip netns exec host1 {BIN} connect 10.0.1.1 40000"
        )
    );
}

/// A bad address is one line and exit status 2, before anything is opened.
#[test]
fn bad_address_is_one_line() {
    let out = Command::new(BIN).args(["connect", "10.0.1", "40000"]).output().expect("run toytcp-cli");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "toytcp-cli: bad address '10.0.1': expected an IPv4 address such as 10.0.1.1\n"
    );
    let out = Command::new(BIN).args(["listen", "10.0.0.1", "http"]).output().expect("run toytcp-cli");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "toytcp-cli: bad port 'http': expected a number from 1 to 65535\n"
    );
}

/// `toytcp-cli demo` as root: the book's 3.7.3 on its own namespaces.
#[test]
fn demo_runs_the_book_on_a_real_network() {
    if let Some(reason) = netns::unavailable_reason() {
        eprintln!("skipped demo_runs_the_book_on_a_real_network: {reason}");
        return;
    }
    let mut demo = Proc::spawn("toytcp-cli demo".to_owned(), Command::new(BIN).arg("demo"), Stdio::null());
    let (out, err) = demo.finish_ok(Duration::from_secs(60));
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("printed:\nhello\nhoge\n== as the book expects"), "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("SYN-SENT -> ESTABLISHED"), "stderr:\n{err}");
}

/// `toytcp-cli demo` without root says so and runs the simulator.
#[test]
fn demo_without_root_falls_back_to_the_simulator() {
    let mut cmd = if netns::is_root() {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = cmd.arg("demo").env_remove("RUST_LOG").stdin(Stdio::null()).output().expect("run toytcp-cli");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr:\n{err}");
    assert_eq!(err, "toytcp-cli: not root: running the in-memory simulator instead\n");
    assert!(String::from_utf8_lossy(&out.stdout).contains("hello\nhoge\n"));
}
