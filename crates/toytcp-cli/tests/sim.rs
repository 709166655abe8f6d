//! Runs the built `toytcp-cli` binary's `sim` subcommand and checks what it
//! prints: the book's expected runs, byte-exact transfer of stdin, errors
//! and the trace.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use toytcp_cli::pcap;
use toytcp_core::wire;

/// A file name in the temporary directory, unique to this process and `name`,
/// removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("toytcp-cli-sim-{}-{name}", std::process::id())))
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs `toytcp-cli ARGS` with `stdin` as its input and without RUST_LOG
/// (bounded like [`run_bounded`], generously: a sim run takes well under a
/// second).
fn run_with_input(args: &[&str], stdin: &[u8]) -> Output {
    run_bounded(args, stdin, std::time::Duration::from_secs(120))
}

fn run(args: &[&str]) -> Output {
    run_with_input(args, &[])
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts success, showing stderr otherwise.
fn assert_ok(out: &Output) {
    assert!(out.status.success(), "exit {:?}, stderr:\n{}", out.status, stderr(out));
}

/// Deterministic pseudo-random bytes (xorshift64*).
fn random_bytes(len: usize, mut state: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn transfer_prints_exactly_what_the_client_sent() {
    // Book 3.7.3: the server must print "hello" and "hoge".
    let out = run(&["sim", "transfer"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\nhoge\n");
    assert_eq!(stderr(&out), "", "no trace without -v");
}

#[test]
fn handshake_prints_both_ends_of_the_connection() {
    let out = run(&["sim", "handshake"]);
    assert_ok(&out);
    let text = stdout(&out);
    let accepted = text.lines().find_map(|l| l.strip_prefix("accepted 10.0.0.1:")).expect("an accepted line");
    let port: u16 = accepted.parse().expect("a port after the address");
    assert!(
        text.lines().any(|l| l == format!("connected 10.0.0.1:{port} -> 10.0.1.1:40000")),
        "the client's line names the port the server accepted:\n{text}"
    );
}

#[test]
fn echo_returns_every_line() {
    let out = run(&["sim", "echo"]);
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\nhoge\nfuga\n");
}

#[test]
fn all_scenarios_run_in_the_book_order() {
    let out = run(&["sim"]);
    assert_ok(&out);
    let text = stdout(&out);
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("== ")).collect();
    assert_eq!(headers.len(), 3, "{text}");
    assert!(headers[0].contains("handshake") && headers[1].contains("transfer") && headers[2].contains("echo"));
}

#[test]
fn stdin_round_trip_is_byte_exact() {
    let data = random_bytes(100 * 1024, 0x5eed_1234_abcd_0001);
    let out = run_with_input(&["sim", "transfer", "--stdin"], &data);
    assert_ok(&out);
    assert_eq!(out.stdout.len(), data.len());
    assert!(out.stdout == data, "the server's output differs from stdin");
}

#[test]
fn stdin_lines_for_the_book_example() {
    let out = run_with_input(&["sim", "transfer", "--stdin"], b"hello\nhoge\n");
    assert_ok(&out);
    assert_eq!(stdout(&out), "hello\nhoge\n");
    let out = run_with_input(&["sim", "echo", "--stdin"], b"one\ntwo\nno newline");
    assert_ok(&out);
    assert_eq!(stdout(&out), "one\ntwo\nno newline");
}

#[test]
fn unknown_scenario_is_a_usage_error() {
    let out = run(&["sim", "nosuch"]);
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(2), "clap's usage-error exit code");
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["sim", "--latency-ms", "fast"][..],
        &["sim", "--seed", "-1"],
        &["sim", "handshake", "--stdin"],
        &["sim", "--stdin"],
        &["sim", "--pcap", "/dev/null"],
        &["sim", "transfer", "--mss", "63"],
        &["sim", "transfer", "--cc", "NewReno"],
        &["nosuch"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn verbose_traces_segments_and_transitions() {
    for flag in ["-v", "--trace"] {
        let out = run(&["sim", "handshake", flag]);
        assert_ok(&out);
        let err = stderr(&out);
        let syn = err
            .lines()
            .find(|l| l.contains(" host1 Out 10.0.0.1:") && l.contains(" > 10.0.1.1:40000 SYN seq "))
            .unwrap_or_else(|| panic!("a SYN trace line in:\n{err}"));
        assert!(syn.starts_with("0.000000 "), "{syn}");
        assert!(syn.contains(" win ") && syn.contains(" len 0 <mss 1460"), "{syn}");
        assert!(err.lines().any(|l| l.contains("SYN ACK seq ") && l.contains(" ack ")), "{err}");
        assert!(err.lines().any(|l| l.ends_with("SYN-SENT -> ESTABLISHED")), "{err}");
        assert!(err.lines().any(|l| l.ends_with("LISTEN -> SYN-RECEIVED")), "{err}");
        assert!(err.lines().any(|l| l.ends_with("event Connected")), "{err}");
        // The application's output stays on stdout, apart from the trace.
        assert!(stdout(&out).lines().any(|l| l.starts_with("accepted 10.0.0.1:")));
        assert!(!err.contains("accepted"));
    }
}

#[test]
fn latency_sets_the_virtual_clock() {
    let out = run(&["sim", "handshake", "-v", "--latency-ms", "50"]);
    assert_ok(&out);
    let err = stderr(&out);
    assert!(err.lines().any(|l| l.starts_with("0.050000 host2 In ") && l.contains(" SYN seq ")), "{err}");
    assert!(err.lines().any(|l| l.starts_with("0.100000 host1 In ") && l.contains(" SYN ACK ")), "{err}");
}

#[test]
fn runs_are_reproducible_from_the_seed() {
    let a = run(&["sim", "handshake", "-v", "--seed", "7"]);
    let b = run(&["sim", "handshake", "-v", "--seed", "7"]);
    let c = run(&["sim", "handshake", "-v", "--seed", "8"]);
    assert_ok(&a);
    assert_ok(&c);
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stderr, b.stderr);
    assert_ne!(a.stderr, c.stderr, "another seed gives other ISNs");
}

#[test]
fn a_failed_check_is_one_plain_line_and_exit_1() {
    // A 400-second round trip outlasts every SYN retransmission: the client
    // gives up before the SYN-ACK arrives, so the handshake check fails.
    let out = run(&["sim", "handshake", "--latency-ms", "200000"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("toytcp-cli: sim handshake (seed 0): "), "{err}");
    assert!(out.stdout.is_empty(), "nothing was connected or accepted");
}

/// `--mss 536`: the SYN announces 536 and no segment carries more than 536
/// payload bytes (524 once the 12 bytes of timestamp option are taken out,
/// RFC 9293 §3.7.1), checked in the trace and in the `--pcap` file, and the
/// bytes still arrive exactly.
#[test]
fn mss_536_caps_every_segment_and_rides_on_the_syn() {
    let data = random_bytes(50 * 1024, 0x5eed_0536);
    let cap = TempFile::new("mss536.pcap");
    let out = run_with_input(&["-v", "sim", "transfer", "--stdin", "--mss", "536", "--pcap", cap.arg()], &data);
    assert_ok(&out);
    assert!(out.stdout == data, "the server's output differs from stdin");

    let trace = stderr(&out);
    let syn = trace
        .lines()
        .find(|l| l.contains(" host1 Out ") && l.contains(" SYN seq "))
        .unwrap_or_else(|| panic!("no SYN in the trace:\n{trace}"));
    assert!(syn.contains(" len 0 <mss 536,"), "{syn}");
    let lens: Vec<usize> = trace
        .lines()
        .filter(|l| l.contains(" host1 Out "))
        .filter_map(|l| l.split(" len ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    assert!(lens.iter().all(|&n| n <= 536), "segment lengths {lens:?}");
    assert_eq!(lens.iter().sum::<usize>(), data.len(), "every byte once, no retransmission on this clean link");

    let capture = pcap::read(std::fs::File::open(&cap.0).expect("the pcap file")).expect("a pcap file");
    assert_eq!(capture.linktype, pcap::LINKTYPE_RAW);
    let segs: Vec<_> = capture.ipv4_packets().into_iter().map(|p| wire::parse(p).expect("a valid segment")).collect();
    let client_syn = segs
        .iter()
        .find(|s| s.header.flags.syn() && !s.header.flags.ack())
        .expect("the client's SYN is in the capture");
    assert_eq!(client_syn.header.options.mss, Some(536));
    let data_segs: Vec<usize> = segs
        .iter()
        .filter(|s| s.src_addr == std::net::Ipv4Addr::new(10, 0, 0, 1) && !s.payload.is_empty())
        .map(|s| s.payload.len())
        .collect();
    assert!(data_segs.len() >= data.len() / 536, "{} data segments", data_segs.len());
    assert!(data_segs.iter().all(|&n| n <= 536), "payload lengths {data_segs:?}");
    assert_eq!(data_segs.iter().max(), Some(&(536 - 12)), "full segments fill the MSS less the timestamp option");
}

/// Without `--mss` the SYN announces the core's default and full segments
/// are larger than 536: the test above measures the option, not a default.
#[test]
fn default_mss_is_larger() {
    let data = random_bytes(20 * 1024, 0x5eed_1460);
    let out = run_with_input(&["-v", "sim", "transfer", "--stdin"], &data);
    assert_ok(&out);
    let trace = stderr(&out);
    let mss = toytcp_core::ConnectionConfig::default().mss;
    assert!(trace.contains(&format!(" len 0 <mss {mss},")), "{trace}");
    assert!(trace.lines().any(|l| l.contains(" host1 Out ") && l.contains(&format!(" len {} ", mss - 12))), "{trace}");
}

/// The `--pcap` file is what tcpdump reads: one line per packet sent.
#[test]
fn sim_pcap_is_readable_by_tcpdump() {
    let Some(tcpdump) =
        ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].into_iter().find(|p| std::path::Path::new(p).exists())
    else {
        eprintln!("skipped sim_pcap_is_readable_by_tcpdump: tcpdump is not installed (apt-get install -y tcpdump)");
        return;
    };
    let cap = TempFile::new("tcpdump.pcap");
    let out = run(&["sim", "echo", "--pcap", cap.arg()]);
    assert_ok(&out);
    let packets = pcap::read(std::fs::File::open(&cap.0).expect("pcap")).expect("parse").records.len();
    let dump = Command::new(tcpdump).args(["-n", "-r", cap.arg()]).output().expect("run tcpdump");
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(dump.status.success(), "tcpdump: {}", String::from_utf8_lossy(&dump.stderr));
    assert!(String::from_utf8_lossy(&dump.stderr).contains("link-type RAW"), "{:?}", dump.stderr);
    assert_eq!(text.lines().count(), packets, "{text}");
    assert!(text.lines().next().is_some_and(|l| l.contains("10.0.0.1.") && l.contains("Flags [S]")), "{text}");
    assert!(text.contains("options [mss 1460,"), "{text}");
}

/// `--cc` picks the controller; the trace's stats lines name it, and an
/// unknown name is a usage error that lists the known ones.
#[test]
fn cc_flag_names_the_controller_in_the_trace() {
    for &(name, _) in toytcp_cli::congestion::ALGORITHMS {
        let out = run(&["-v", "sim", "transfer", "--cc", name]);
        assert_ok(&out);
        let trace = stderr(&out);
        let stats: Vec<&str> = trace.lines().filter(|l| l.contains(": stats cc ")).collect();
        assert!(stats.len() >= 4, "stats at ESTABLISHED and at the end, on both hosts:\n{trace}");
        assert!(stats.iter().all(|l| l.contains(&format!(": stats cc {name} "))), "{trace}");
        assert!(stats.iter().all(|l| l.contains(" srtt ") && l.contains(" cwnd ")), "{trace}");
    }
    let out = run(&["sim", "--cc", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    let names: Vec<&str> = toytcp_cli::congestion::ALGORITHMS.iter().map(|&(n, _)| n).collect();
    assert!(stderr(&out).contains(&format!("[possible values: {}]", names.join(", "))), "{}", stderr(&out));
}

/// The stats line keeps microseconds: with a 1 ms one-way link the
/// handshake's RTT sample is 2 ms, shown as `srtt 2.000ms`, not rounded.
#[test]
fn stats_lines_show_srtt_to_the_microsecond() {
    let out = run(&["-v", "sim", "handshake", "--latency-ms", "1"]);
    assert_ok(&out);
    let trace = stderr(&out);
    let line = trace
        .lines()
        .find(|l| l.contains(" host1 ") && l.contains(": stats cc "))
        .unwrap_or_else(|| panic!("no stats line:\n{trace}"));
    assert!(line.contains(" srtt 2.000ms rttvar 1.000ms "), "{line}");
}

/// Runs `toytcp-cli ARGS` with `stdin` and without RUST_LOG, killing it if
/// it outlives `limit` (wall-clock) — a hang is a failure, not a stuck
/// test. Its output is drained while it runs, so a long trace cannot fill a
/// pipe and stall it.
fn run_bounded(args: &[&str], stdin: &[u8], limit: std::time::Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_toytcp-cli"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn toytcp-cli");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // A run that fails early closes its stdin: that write error is the
    // run's business, judged by its exit status and output.
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            r.read_to_end(&mut buf).expect("read toytcp-cli's output");
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout is piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr is piped")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll toytcp-cli") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("toytcp-cli {args:?} still running after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let _ = writer.join().expect("stdin writer");
    Output { status, stdout: stdout.join().expect("stdout reader"), stderr: stderr.join().expect("stderr reader") }
}

/// The trace's stats lines of `host` (`... host1 ADDR - ADDR: stats cc ...`).
fn stats_lines<'a>(trace: &'a str, host: &str) -> Vec<&'a str> {
    trace.lines().filter(|l| l.contains(&format!(" {host} ")) && l.contains(": stats cc ")).collect()
}

/// The number after `key ` in `line` (`key` after a space or a parenthesis).
fn field(line: &str, key: &str) -> u64 {
    line.replace('(', " ")
        .split(&format!(" {key} "))
        .nth(1)
        .and_then(|rest| rest.split([' ', ',', ')']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{key} N` in {line}"))
}

/// `--loss 10`, five seeds: the bytes always arrive exactly, and the link
/// accounts for every packet. The seeds whose link dropped some of them
/// (at 10 % nearly all; at least one, or the faults are not applied)
/// repair it by retransmission: the client's last stats line counts
/// retransmissions and the trace shows a data segment sent twice.
#[test]
fn loss_is_repaired_by_retransmission() {
    let data = random_bytes(20 * 1024, 0x5eed_0010);
    let mut repaired = 0;
    for seed in ["1", "2", "3", "4", "5"] {
        let out = run_bounded(
            &["-v", "sim", "transfer", "--stdin", "--loss", "10", "--seed", seed],
            &data,
            std::time::Duration::from_secs(60),
        );
        assert_ok(&out);
        assert!(out.stdout == data, "seed {seed}: the server's output differs from stdin");
        let trace = stderr(&out);
        let link = trace
            .lines()
            .find(|l| l.contains(" link host1 > host2: "))
            .unwrap_or_else(|| panic!("no link line:\n{trace}"));
        assert_eq!(field(link, "sent"), field(link, "delivered") + field(link, "lost"), "{link}");
        let last = *stats_lines(&trace, "host1").last().unwrap_or_else(|| panic!("no stats line:\n{trace}"));
        let mut data_seqs: Vec<u64> = trace
            .lines()
            .filter(|l| l.contains(" host1 Out ") && !l.contains(" len 0 "))
            .map(|l| field(l, "seq"))
            .collect();
        let sent = data_seqs.len();
        data_seqs.sort_unstable();
        data_seqs.dedup();
        if field(link, "random") > 0 && data_seqs.len() < sent {
            assert!(field(last, "retrans") > 0, "seed {seed}: a data segment sent twice, yet {last}");
            repaired += 1;
        }
    }
    assert!(repaired > 0, "no seed lost and retransmitted a data segment at 10 % loss");
}

/// The link's random draws come from the seed too: a lossy run repeats
/// exactly, trace and all; another seed loses other packets.
#[test]
fn lossy_runs_are_reproducible_from_the_seed() {
    let data = random_bytes(20 * 1024, 0x5eed_0011);
    let args = |seed| ["-v", "sim", "transfer", "--stdin", "--loss", "10", "--reorder", "5", "--seed", seed];
    let limit = std::time::Duration::from_secs(60);
    let a = run_bounded(&args("5"), &data, limit);
    let b = run_bounded(&args("5"), &data, limit);
    let c = run_bounded(&args("6"), &data, limit);
    assert_ok(&a);
    assert_ok(&c);
    assert!(a.stdout == data && c.stdout == data);
    assert_eq!(a.status.code(), b.status.code());
    assert!(a.stdout == b.stdout, "stdout differs between two runs with one seed");
    assert_eq!(stderr(&a), stderr(&b));
    assert_ne!(stderr(&a), stderr(&c));
}

/// `--loss 100`: nothing gets through, the client gives up and the run
/// ends at once in wall-clock time with one plain error line.
#[test]
fn total_loss_fails_with_one_line() {
    for scenario in ["handshake", "transfer", "echo"] {
        let out = run_bounded(&["sim", scenario, "--loss", "100"], b"", std::time::Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{scenario}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("toytcp-cli: sim {scenario} (seed 0): the client never connected")), "{err}");
        assert!(out.stdout.is_empty());
    }
}

/// `--fault-dir` picks the direction: with every packet to host1 lost,
/// host2 sees the client's SYNs but the client never sees the SYN-ACK.
#[test]
fn fault_dir_loses_one_direction_only() {
    let out = run_bounded(
        &["-v", "sim", "handshake", "--loss", "100", "--fault-dir", "to-host1"],
        b"",
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1));
    let trace = stderr(&out);
    assert!(trace.lines().any(|l| l.contains(" host2 In ") && l.contains(" SYN seq ")), "{trace}");
    assert!(trace.lines().any(|l| l.contains(" host2 Out ") && l.contains(" SYN ACK ")), "{trace}");
    assert!(!trace.lines().any(|l| l.contains(" host1 In ")), "{trace}");
    assert!(trace.lines().any(|l| l.contains(" link host1 > host2: ") && l.contains(" lost 0 ")), "{trace}");
}

/// Duplication, reordering, corruption, jitter and a rate limit with a
/// small queue together: the bytes still arrive exactly, and the link's
/// line shows each fault at work.
#[test]
fn other_faults_still_deliver_the_bytes() {
    let data = random_bytes(50 * 1024, 0x5eed_0012);
    let out = run_bounded(
        &[
            "-v",
            "sim",
            "transfer",
            "--stdin",
            "--duplicate",
            "10",
            "--reorder",
            "20",
            "--corrupt",
            "5",
            "--jitter-ms",
            "2",
            "--rate",
            "10mbit",
            "--queue-bytes",
            "8000",
            "--seed",
            "1",
        ],
        &data,
        std::time::Duration::from_secs(60),
    );
    assert_ok(&out);
    assert!(out.stdout == data, "the server's output differs from stdin");
    let trace = stderr(&out);
    let link = trace.lines().find(|l| l.contains(" link host1 > host2: ")).expect("a link line");
    for key in ["duplicated", "reordered", "corrupted"] {
        assert!(field(link, key) > 0, "{key}: {link}");
    }
}

/// Bad fault values are clap's usage errors, naming the option.
#[test]
fn bad_fault_values_are_usage_errors() {
    for (args, names) in [
        (&["sim", "--loss", "150"][..], "--loss"),
        (&["sim", "--loss", "abc"], "--loss"),
        (&["sim", "--loss=-5"], "--loss"),
        (&["sim", "--duplicate", "101"], "--duplicate"),
        (&["sim", "--reorder", "x"], "--reorder"),
        (&["sim", "--corrupt", "200%"], "--corrupt"),
        (&["sim", "--reorder-delay-ms", "0"], "--reorder-delay-ms"),
        (&["sim", "--rate", "0"], "--rate"),
        (&["sim", "--rate", "fast"], "--rate"),
        (&["sim", "--rate", "10", "--queue-bytes", "0"], "--queue-bytes"),
        (&["sim", "--queue-bytes", "3000"], "--rate"),
        (&["sim", "--fault-dir", "up"], "--fault-dir"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        // One plain line, like every other CLI error.
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("toytcp-cli: "), "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
}

/// Usage errors outside `sim` read the same: one `toytcp-cli: ` line, status
/// 2, the offending argument named. No root needed: they fail before any
/// socket is opened.
#[test]
fn usage_errors_are_one_line() {
    for (args, names) in [
        (&["connect"][..], "<ADDR>"),
        (&["connect", "10.0.0.1"], "<PORT>"),
        (&["listen", "10.0.0.1", "99999"], "99999"),
        (&["frobnicate"], "frobnicate"),
        (&["connect", "--bogus", "10.0.0.1", "1"], "--bogus"),
        (&["sim", "--stdin"], "--stdin"),
        (&["sim", "--stdin", "handshake"], "--stdin"),
        (&["sim", "--pcap", "/tmp/x.pcap"], "--pcap"),
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("toytcp-cli: ") && err.contains(names), "{args:?}: {err}");
    }
}
