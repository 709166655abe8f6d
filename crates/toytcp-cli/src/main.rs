//! `toytcp-cli`: runs ToyTCP from the command line.
//!
//! - `toytcp-cli connect ADDR PORT` / `toytcp-cli listen ADDR PORT`: netcat
//!   over ToyTCP on a raw socket, as root inside a network namespace
//!   (`scripts/netns.sh up`).
//! - `toytcp-cli demo`: the book's 3.7.3 run against `nc -l` on namespaces
//!   it makes and removes itself; without root, the simulator instead.
//! - `toytcp-cli sim [SCENARIO]` plays the runs of the book
//!   "Rustで始めるTCP自作入門" on two in-memory hosts in virtual time; it
//!   needs no privileges and finishes at once. Its link can lose,
//!   duplicate, reorder and corrupt packets and limit the rate (`--loss`,
//!   `--duplicate`, `--reorder`, `--corrupt`, `--rate`, …).
//!
//! What the applications print goes to stdout; with `-v` (or `RUST_LOG`) a
//! tcpdump-like trace of every segment, state transition and event goes to
//! stderr. Errors are one line on stderr and a non-zero exit status.

mod commands;

use clap::{ArgAction, Args, Parser, Subcommand};
use commands::Failure;
use commands::net::{ConnectArgs, ListenArgs};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use toytcp_cli::scenario::{self, Options, Scenario};
use toytcp_cli::sim::{self, WorldConfig};
use toytcp_cli::{congestion, logging, netns};
use toytcp_core::config::CongestionAlgorithm;
use toytcp_core::{ConnectionConfig, Duration};
use toytcp_sim::LinkConfig;

/// ToyTCP, a user-space TCP/IPv4 stack: command-line driver.
#[derive(Debug, Parser)]
#[command(name = "toytcp-cli", version)]
struct Cli {
    /// Trace segments, state transitions and events on stderr; -vv adds the
    /// core's debug log, -vvv everything. A non-empty RUST_LOG takes precedence.
    #[arg(short = 'v', long = "verbose", visible_alias = "trace", action = ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Connect to ADDR:PORT; stdin goes to the connection, the connection
    /// to stdout; end of stdin sends FIN, and the run ends once the peer
    /// has closed too. Needs root in a network namespace.
    Connect(ConnectArgs),
    /// Accept one connection on ADDR:PORT (print the peer on stderr), then
    /// the same as `connect`. Needs root in a network namespace.
    Listen(ListenArgs),
    /// The book's 3.7.3 run on a real network (three namespaces made and
    /// removed on the spot, `nc -l` in host2, ToyTCP in host1); without
    /// root, the simulator's runs instead.
    Demo,
    /// Run the book's scenarios on two in-memory hosts (host1 10.0.0.1,
    /// host2 10.0.1.1) in virtual time; needs no privileges.
    Sim(SimArgs),
}

/// Options of `sim`.
#[derive(Debug, Args)]
struct SimArgs {
    /// The scenario to run; all of them, in order, when omitted.
    #[arg(value_enum)]
    scenario: Option<Scenario>,

    /// Endpoint seed: host1 gets N, host2 N+1 (ISNs, ephemeral ports, timestamps).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,

    /// Send the bytes read from stdin instead of the built-in lines
    /// (transfer: as one write; echo: line by line).
    #[arg(long)]
    stdin: bool,

    /// The MSS both hosts announce, and the largest payload they send.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(64..=65495))]
    mss: Option<u16>,

    /// Both hosts' congestion controller [default: the core's].
    #[arg(long, value_name = "NAME", value_parser = congestion::value_parser())]
    cc: Option<CongestionAlgorithm>,

    /// Write every packet of the run to FILE (classic pcap, raw IPv4,
    /// virtual time; `tcpdump -nr FILE` reads it): every packet as sent,
    /// lost ones included. Needs a scenario.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,

    #[command(flatten)]
    link: LinkArgs,
}

/// The simulated link, named after netem's options where it has them
/// (`tc qdisc ... netem delay 20ms 5ms loss 10% duplicate 1% reorder 5%
/// corrupt 1% rate 10mbit`): toytcp-sim's per-direction link model.
#[derive(Debug, Args)]
#[command(next_help_heading = "Link (netem-like)")]
struct LinkArgs {
    /// One-way latency of the link, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    latency_ms: u64,

    /// Extra one-way delay, uniform in 0..=MS, without reordering.
    #[arg(long, value_name = "MS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    jitter_ms: u64,

    /// Drop each packet with probability PCT percent (0-100).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = sim::percent)]
    loss: f64,

    /// Deliver each packet twice with probability PCT percent.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = sim::percent)]
    duplicate: f64,

    /// Hold each packet back by up to --reorder-delay-ms with probability
    /// PCT percent, letting later ones overtake it.
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = sim::percent)]
    reorder: f64,

    /// The longest extra delay of a reordered packet, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    reorder_delay_ms: u64,

    /// Flip 1-3 bits of each packet with probability PCT percent (the
    /// receiver's checksum check drops it).
    #[arg(long, value_name = "PCT", default_value = "0", value_parser = sim::percent)]
    corrupt: f64,

    /// Bandwidth in Mbit/s, or with a unit: 500kbit, 10mbit, 1gbit
    /// [default: unlimited].
    #[arg(long, value_name = "RATE", value_parser = sim::rate_bps)]
    rate: Option<u64>,

    /// Drop-tail queue in front of --rate: bytes waiting beyond N are dropped.
    #[arg(long, value_name = "N", requires = "rate", value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    queue_bytes: Option<u64>,

    /// Which directions --loss, --duplicate, --reorder and --corrupt apply to
    /// (latency, jitter, rate and queue always apply to both).
    #[arg(long, value_enum, value_name = "DIR", default_value_t = FaultDir::Both)]
    fault_dir: FaultDir,
}

/// The directions of the link that get the faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum FaultDir {
    /// Both directions.
    Both,
    /// host1 -> host2 only: the client's segments (the data of `transfer`).
    ToHost2,
    /// host2 -> host1 only: the server's segments (ACKs, echoes).
    ToHost1,
}

impl LinkArgs {
    /// The link's two directions, host1 -> host2 first.
    fn links(&self) -> [LinkConfig; 2] {
        let latency = Duration::from_millis(self.latency_ms);
        [FaultDir::ToHost2, FaultDir::ToHost1].map(|dir| {
            let mut link = sim::clean_link(latency);
            link.jitter = Duration::from_millis(self.jitter_ms);
            link.bandwidth_bps = self.rate;
            if let Some(bytes) = self.queue_bytes {
                link.queue_limit_bytes = bytes as usize;
            }
            if self.fault_dir == FaultDir::Both || self.fault_dir == dir {
                link.loss = self.loss;
                link.duplicate = self.duplicate;
                link.reorder = self.reorder;
                link.reorder_delay = Duration::from_millis(self.reorder_delay_ms);
                link.corrupt = self.corrupt;
            }
            link
        })
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `--help` and `--version` print to stdout and exit 0 as usual; no
        // subcommand at all shows the whole help (on stderr, status 2).
        Err(e) if !e.use_stderr() || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            e.exit()
        }
        Err(e) => {
            eprintln!("toytcp-cli: {} (see --help)", one_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    logging::init(cli.verbose);
    match cli.command {
        Command::Sim(args) => sim_command(&args),
        Command::Connect(args) => finish(commands::net::connect(&args)),
        Command::Listen(args) => finish(commands::net::listen(&args)),
        Command::Demo => demo_command(cli.verbose),
    }
}

/// A usage error as one plain line: clap's message up to its first blank
/// line (which may list missing arguments on lines of their own), without
/// the `error: ` prefix and the usage block.
fn one_line(message: &str) -> String {
    let text: Vec<&str> = message.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let text = text.join(" ");
    text.strip_prefix("error: ").unwrap_or(&text).to_string()
}

/// Exit status of a real-network command; a failure is one line on stderr.
fn finish(result: Result<(), Failure>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("toytcp-cli: {f}");
            ExitCode::from(f.code)
        }
    }
}

/// `toytcp-cli demo`: the real network when it can be had, else `sim`.
fn demo_command(verbose: u8) -> ExitCode {
    match netns::unavailable_reason() {
        None => finish(commands::demo::run(verbose)),
        Some(reason) => {
            eprintln!("toytcp-cli: {reason}: running the in-memory simulator instead");
            match Cli::parse_from(["toytcp-cli", "sim"]).command {
                Command::Sim(args) => sim_command(&args),
                _ => unreachable!("parsed as `sim`"),
            }
        }
    }
}

/// `toytcp-cli sim`.
fn sim_command(args: &SimArgs) -> ExitCode {
    // Usage errors clap cannot see: one line and status 2, as in `main`.
    let usage_error = |message: &str| {
        eprintln!("toytcp-cli: {message} (see --help)");
        ExitCode::from(2)
    };
    if args.stdin && !matches!(args.scenario, Some(Scenario::Transfer | Scenario::Echo)) {
        return usage_error("--stdin needs the `transfer` or `echo` scenario");
    }
    if args.pcap.is_some() && args.scenario.is_none() {
        return usage_error("--pcap needs a scenario (one run per file)");
    }
    let input = if args.stdin {
        let mut buf = Vec::new();
        if let Err(e) = std::io::stdin().lock().read_to_end(&mut buf) {
            eprintln!("toytcp-cli: cannot read stdin: {e}");
            return ExitCode::FAILURE;
        }
        Some(buf)
    } else {
        None
    };
    let mut connection = ConnectionConfig::default();
    if let Some(mss) = args.mss {
        connection.mss = mss;
    }
    if let Some(cc) = args.cc {
        connection.congestion = cc;
    }
    let opts = Options {
        world: WorldConfig { links: args.link.links(), seed: args.seed, connection, ..WorldConfig::default() },
        input,
        pcap: args.pcap.clone(),
    };
    let mut stdout = std::io::stdout().lock();
    let scenarios = match args.scenario {
        Some(s) => vec![s],
        None => Scenario::ALL.to_vec(),
    };
    for s in &scenarios {
        if scenarios.len() > 1 {
            // Deliberate user output: which of the book's runs follows.
            if let Err(e) = writeln!(stdout, "== {} ({}) ==", s.name(), s.source()) {
                eprintln!("toytcp-cli: cannot write output: {e}");
                return ExitCode::FAILURE;
            }
        }
        if let Err(e) = scenario::run(*s, &opts, &mut stdout) {
            let _ = stdout.flush();
            eprintln!("toytcp-cli: sim {} (seed {}): {e}", s.name(), args.seed);
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = stdout.flush() {
        eprintln!("toytcp-cli: cannot write output: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_args(args: &[&str]) -> SimArgs {
        let argv = ["toytcp-cli", "sim"].into_iter().chain(args.iter().copied());
        match Cli::try_parse_from(argv).expect("valid arguments").command {
            Command::Sim(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    /// `demo`'s fallback runs `sim` with clap's defaults: a clean 1 ms link.
    #[test]
    fn defaults_are_a_clean_link() {
        let links = sim_args(&[]).link.links();
        assert_eq!(links, WorldConfig::default().links);
        assert_eq!(links[0], sim::clean_link(Duration::from_millis(1)));
    }

    #[test]
    fn faults_go_where_fault_dir_says() {
        let common = ["--loss", "10", "--duplicate", "2", "--reorder", "5", "--corrupt", "1", "--rate", "5"];
        for (dir, expect) in [("both", [true, true]), ("to-host2", [true, false]), ("to-host1", [false, true])] {
            let args: Vec<&str> = common.iter().copied().chain(["--fault-dir", dir, "--latency-ms", "7"]).collect();
            let links = sim_args(&args).link.links();
            for (link, faulty) in links.iter().zip(expect) {
                assert_eq!(link.loss, if faulty { 0.1 } else { 0.0 }, "{dir}");
                assert_eq!(link.duplicate, if faulty { 0.02 } else { 0.0 }, "{dir}");
                assert_eq!(link.reorder, if faulty { 0.05 } else { 0.0 }, "{dir}");
                assert_eq!(link.corrupt, if faulty { 0.01 } else { 0.0 }, "{dir}");
                assert_eq!(link.latency, Duration::from_millis(7), "path properties go both ways");
                assert_eq!(link.bandwidth_bps, Some(5_000_000), "{dir}");
                assert!(link.validate().is_ok());
            }
        }
    }
}
