//! `toytcp-cli demo`: the book's 3.7.3 run on a real network.
//!
//! As root (with `ip`, `iptables`, `ethtool`), it makes the book's three
//! namespaces under a private prefix, starts `nc -l 10.0.1.1 40000` in host2
//! (or `toytcp-cli listen` when netcat is not installed), sends
//! `hello\nhoge\n` from ToyTCP in host1 with the trace on, shows what the
//! server printed and removes the namespaces. The caller falls back to the
//! simulator when [`toytcp_cli::netns::unavailable_reason`] says so.

use super::Failure;
use std::io::Write;
use std::net::SocketAddrV4;
use std::process::Stdio;
use std::time::Duration;
use toytcp_cli::netns::{self, Topology};

/// What the client sends, and what the server must print.
const MESSAGE: &[u8] = b"hello\nhoge\n";

/// The server's address: host2, port 40000.
const SERVER: SocketAddrV4 = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 1, 1), 40000);

/// Longest the whole run may take.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs the demo; `verbose` is the `-v` count (the client always traces).
pub fn run(verbose: u8) -> Result<(), Failure> {
    let exe = std::env::current_exe().map_err(|e| Failure::runtime(format!("cannot find this program: {e}")))?;
    let topo = Topology::up(&format!("demo{}-", std::process::id()))
        .map_err(|e| Failure::runtime(format!("cannot make the namespaces: {e}")))?;
    let (h1, rt, h2) = (topo.ns("host1"), topo.ns("router"), topo.ns("host2"));
    let mut out = std::io::stdout().lock();
    let say = |out: &mut std::io::StdoutLock<'_>, line: String| {
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| Failure::runtime(format!("cannot write stdout: {e}")))
    };
    say(
        &mut out,
        format!("== book 3.7.3 on a real network: {h1} 10.0.0.1 <-> {rt} 10.0.0.254|10.0.1.254 <-> {h2} 10.0.1.1"),
    )?;

    let nc = netns::find_program("nc");
    let mut server = match &nc {
        Some(nc) => {
            say(&mut out, format!("$ ip netns exec {h2} nc -l {} {}", SERVER.ip(), SERVER.port()))?;
            let mut cmd = topo.exec("host2", nc);
            cmd.arg("-l").arg(SERVER.ip().to_string()).arg(SERVER.port().to_string());
            cmd
        }
        None => {
            say(
                &mut out,
                format!(
                    "(netcat is not installed: the server is ToyTCP too)\n$ ip netns exec {h2} toytcp-cli listen {} {}",
                    SERVER.ip(),
                    SERVER.port()
                ),
            )?;
            let mut cmd = topo.exec("host2", &exe);
            cmd.arg("listen").arg(SERVER.ip().to_string()).arg(SERVER.port().to_string());
            cmd
        }
    };
    let mut server = server
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG")
        .spawn()
        .map_err(|e| Failure::runtime(format!("cannot start the server: {e}")))?;
    let server_out = netns::collect(server.stdout.take());
    let server_err = netns::collect(server.stderr.take());
    if nc.is_some() && !netns::wait_for_listener(server.id(), SERVER, Duration::from_secs(5)) {
        let _ = server.kill();
        let _ = server.wait();
        return Err(Failure::runtime(format!(
            "nc -l did not start listening in {h2}: {}",
            String::from_utf8_lossy(&server_err.join().unwrap_or_default()).trim()
        )));
    }

    say(
        &mut out,
        format!(
            "$ printf 'hello\\nhoge\\n' | ip netns exec {h1} toytcp-cli -v connect {} {}",
            SERVER.ip(),
            SERVER.port()
        ),
    )?;
    let mut client = topo
        .exec("host1", &exe)
        .args(std::iter::repeat_n("-v", usize::from(verbose.max(1))))
        .arg("connect")
        .arg(SERVER.ip().to_string())
        .arg(SERVER.port().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| Failure::runtime(format!("cannot start the client: {e}")))?;
    if let Some(mut stdin) = client.stdin.take() {
        // A write error shows up as the client's own failure below.
        let _ = stdin.write_all(MESSAGE);
    }
    let client_status =
        netns::wait_timeout(&mut client, LIMIT).map_err(|e| Failure::runtime(format!("client: {e}")))?;
    let server_status =
        netns::wait_timeout(&mut server, LIMIT).map_err(|e| Failure::runtime(format!("server: {e}")))?;
    let printed = server_out.join().unwrap_or_default();
    let server_err = server_err.join().unwrap_or_default();

    let who = if nc.is_some() { "nc" } else { "toytcp-cli listen" };
    say(&mut out, format!("== {who} in {h2} printed:"))?;
    out.write_all(&printed)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::runtime(format!("cannot write stdout: {e}")))?;
    let server_err = String::from_utf8_lossy(&server_err);
    match (client_status, server_status) {
        (Some(c), Some(s)) if c.success() && s.success() && printed == MESSAGE => {
            say(
                &mut out,
                "== as the book expects: the server printed \"hello\" and \"hoge\", and both sides exited 0".to_owned(),
            )?;
            drop(topo);
            Ok(())
        }
        (None, _) => Err(Failure::runtime(format!("the client did not finish within {} s", LIMIT.as_secs()))),
        (_, None) => Err(Failure::runtime(format!("the server did not finish within {} s", LIMIT.as_secs()))),
        (Some(c), Some(s)) => Err(Failure::runtime(format!(
            "unexpected end: client {c}, server {s}, server printed {:?}{}",
            String::from_utf8_lossy(&printed),
            if server_err.trim().is_empty() { String::new() } else { format!(", server said: {}", server_err.trim()) }
        ))),
    }
}
