//! The book's three-namespace network, made and removed from Rust: the
//! `demo` subcommand and the real-network tests use it.
//!
//! [`Topology::up`] runs `scripts/netns.sh up` (compiled into the binary,
//! so it works from any directory) with a name prefix, and dropping the
//! [`Topology`] runs `down`, so that namespaces never outlive their user,
//! even when a test fails. Helpers around it find programs, wait for a
//! kernel listener and bound a child's running time.

use std::io::{self, Read};
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// `scripts/netns.sh`, as it was when this crate was built.
pub const SCRIPT: &str = include_str!("../../../scripts/netns.sh");

/// What `scripts/netns.sh` needs, and what the real-network tests use.
pub const PACKAGES: &str = "iproute2 iptables ethtool netcat-openbsd socat tcpdump";

/// Three namespaces `PREFIXhost1`, `PREFIXrouter`, `PREFIXhost2`, removed on drop.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
}

impl Topology {
    /// Creates the namespaces (see `scripts/netns.sh`). On failure the
    /// error holds the script's own message, and whatever was made is removed.
    pub fn up(prefix: &str) -> io::Result<Topology> {
        let topo = Topology { prefix: prefix.to_owned() };
        let out = topo.script("up")?;
        if !out.status.success() {
            let msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(io::Error::other(if msg.is_empty() { format!("netns.sh up: {}", out.status) } else { msg }));
        }
        Ok(topo)
    }

    /// The prefix the namespaces carry.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full name of `host` (`host1`, `router`, `host2`).
    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// `ip netns exec PREFIXhost PROGRAM`, ready for arguments.
    pub fn exec(&self, host: &str, program: impl Into<PathBuf>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.arg("netns").arg("exec").arg(self.ns(host)).arg(program.into());
        cmd
    }

    /// Runs `ip netns exec PREFIXhost ARGS…` to completion; an error if it
    /// cannot start or exits unsuccessfully.
    pub fn run(&self, host: &str, args: &[&str]) -> io::Result<Output> {
        let (program, rest) = args.split_first().ok_or_else(|| io::Error::other("empty command"))?;
        let out = self.exec(host, program).args(rest).stdin(Stdio::null()).output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "{} in {}: {}: {}",
                args.join(" "),
                self.ns(host),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(out)
    }

    /// Removes the namespaces now (also done on drop).
    pub fn down(self) -> io::Result<()> {
        let out = self.script("down")?;
        if !out.status.success() {
            return Err(io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        Ok(())
    }

    /// `bash -c SCRIPT netns.sh ACTION` with `NETNS_PREFIX` set.
    fn script(&self, action: &str) -> io::Result<Output> {
        Command::new("bash")
            .arg("-c")
            .arg(SCRIPT)
            .arg("netns.sh")
            .arg(action)
            .env("NETNS_PREFIX", &self.prefix)
            .stdin(Stdio::null())
            .output()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Errors cannot be reported from a destructor; `down` is idempotent
        // and a later run with the same prefix cleans up what is left.
        let _ = self.script("down");
    }
}

/// True if the effective user is root (from `/proc/self/status`).
pub fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return false };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// The path of `name` in `PATH`, like `command -v`.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// Why the real network cannot be used here, if it cannot: not root, or a
/// tool `scripts/netns.sh` needs is missing.
pub fn unavailable_reason() -> Option<String> {
    if !is_root() {
        return Some("not root".to_owned());
    }
    let missing: Vec<&str> =
        ["bash", "ip", "iptables", "ethtool"].into_iter().filter(|t| find_program(t).is_none()).collect();
    if !missing.is_empty() {
        return Some(format!("{} not installed (sudo apt-get install -y {PACKAGES})", missing.join(", ")));
    }
    None
}

/// Waits until the kernel TCP listener `addr` exists in the network
/// namespace of process `pid` (from `/proc/PID/net/tcp`); false after
/// `timeout` or if the process ended.
pub fn wait_for_listener(pid: u32, addr: SocketAddrV4, timeout: Duration) -> bool {
    // /proc/net/tcp: local address as the in-memory u32 in hex, port in
    // hex, state 0A = LISTEN.
    let local = format!("{:08X}:{:04X}", u32::from_ne_bytes(addr.ip().octets()), addr.port());
    let any = format!("00000000:{:04X}", addr.port());
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")) else { return false };
        let listening = table.lines().skip(1).any(|line| {
            let mut fields = line.split_whitespace().skip(1);
            let (Some(l), Some(_remote), Some(state)) = (fields.next(), fields.next(), fields.next()) else {
                return false;
            };
            state == "0A" && (l == local || l == any)
        });
        if listening {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Waits for `child` at most `timeout`; kills it (and reaps it) when time
/// runs out and returns `None`.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads all of a child's pipe on a thread, so that the child never blocks
/// on a full pipe; join the handle for the bytes.
pub fn collect(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_in_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("surely-no-such-program-here").is_none());
    }

    #[test]
    fn script_is_the_real_one() {
        assert!(SCRIPT.starts_with("#!/usr/bin/env bash"));
        assert!(SCRIPT.contains("--uid-owner 0"));
    }
}
