//! What the real-network mode shows of a raw-socket stack: a
//! [`toytcp_rawsock::Observer`] that traces every segment, state
//! transition and event in the [`trace`] format, and writes
//! every segment to a pcap file.
//!
//! Trace lines (target `toytcp_cli::net`, level INFO) read like the
//! simulator's:
//!
//! ```text
//! 0.000112 host1 Out 10.0.0.1:49152 > 10.0.1.1:40000 SYN seq 123 win 65535 len 0 <mss 1460,…>
//! 0.000410 host1 10.0.0.1:49152 - 10.0.1.1:40000: SYN-SENT -> ESTABLISHED
//! 0.000410 host1 10.0.0.1:49152 - 10.0.1.1:40000: stats cc newreno segs out 1 in 1 … srtt 0.298ms …
//! 0.000412 host1 10.0.0.1:49152 - 10.0.1.1:40000: event Connected
//! ```
//!
//! A connection's counters ([`trace::stats_line`], with the name of its
//! congestion controller) follow the transitions that matter to a reader:
//! into ESTABLISHED, and into TIME-WAIT, LAST-ACK or CLOSED (the last look
//! at a connection that ends).
//!
//! Time is seconds since the observer was made; the host is the network
//! namespace the process runs in (`host1` under `ip netns exec host1`),
//! found without spawning anything.

use crate::pcap::PcapWriter;
use crate::trace::{self, Direction};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use toytcp_core::{Event, FourTuple, Instant, State, Stats};

/// Trace target of the real-network mode.
pub const TARGET: &str = "toytcp_cli::net";

/// Traces and records a stack's segments, transitions and events, and
/// keeps every live connection's state so that the CLI can wait for a
/// graceful close to finish before it exits.
#[derive(Debug)]
pub struct Observer {
    start: SystemTime,
    host: String,
    pcap: Option<Mutex<PcapState>>,
    /// State of every connection not yet CLOSED, as last reported.
    states: Mutex<HashMap<FourTuple, State>>,
    /// Signalled on every state change.
    changed: Condvar,
}

/// The pcap file and the first error writing it (later packets are not
/// written once one failed).
#[derive(Debug)]
struct PcapState {
    writer: PcapWriter<BufWriter<File>>,
    error: Option<io::Error>,
    /// When the buffer was last flushed: a server that runs until it is
    /// killed loses at most [`PCAP_FLUSH_EVERY`] of packets.
    flushed_at: std::time::Instant,
}

/// Longest a written packet waits in the pcap buffer.
const PCAP_FLUSH_EVERY: Duration = Duration::from_millis(200);

impl Observer {
    /// An observer that traces (when the `toytcp_cli::net` target is
    /// enabled) and, with `pcap`, creates that file and writes every
    /// segment to it.
    pub fn new(pcap: Option<&Path>) -> io::Result<Observer> {
        let pcap = match pcap {
            Some(path) => {
                let writer = PcapWriter::new(BufWriter::new(File::create(path)?))?;
                Some(Mutex::new(PcapState { writer, error: None, flushed_at: std::time::Instant::now() }))
            }
            None => None,
        };
        Ok(Observer {
            start: SystemTime::now(),
            host: namespace_name().unwrap_or_else(|| "-".to_owned()),
            pcap,
            states: Mutex::new(HashMap::new()),
            changed: Condvar::new(),
        })
    }

    /// Waits until the connection `tuple` has finished closing — TIME-WAIT
    /// (our FIN acknowledged, theirs received: RFC 9293 §3.6) or CLOSED —
    /// at most `timeout`; true if it did.
    pub fn wait_closed(&self, tuple: FourTuple, timeout: Duration) -> bool {
        let done = |states: &HashMap<FourTuple, State>| {
            states.get(&tuple).is_none_or(|s| matches!(s, State::TimeWait | State::Closed))
        };
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let (states, _) =
            self.changed.wait_timeout_while(states, timeout, |s| !done(s)).unwrap_or_else(PoisonError::into_inner);
        done(&states)
    }

    /// The host column of the trace: the network namespace's name, or `-`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Flushes the pcap file and reports the first error met writing it.
    pub fn finish(&self) -> io::Result<()> {
        let Some(pcap) = &self.pcap else { return Ok(()) };
        let mut state = pcap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(e) = state.error.take() {
            return Err(e);
        }
        state.writer.flush()
    }

    /// `at` as the trace's clock: time since the observer was made.
    fn clock(&self, at: SystemTime) -> Instant {
        let since = at.duration_since(self.start).unwrap_or_default();
        Instant::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }
}

impl toytcp_rawsock::Observer for Observer {
    fn packet(&self, dir: toytcp_rawsock::Direction, at: SystemTime, packet: &[u8]) {
        let dir = match dir {
            toytcp_rawsock::Direction::In => Direction::In,
            toytcp_rawsock::Direction::Out => Direction::Out,
        };
        tracing::info!(target: TARGET, "{}", trace::packet_line(self.clock(at), &self.host, dir, packet));
        if let Some(pcap) = &self.pcap {
            let mut state = pcap.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if state.error.is_none() {
                let mut result = state.writer.write_packet(crate::pcap::unix_time(at), packet);
                if result.is_ok() && state.flushed_at.elapsed() >= PCAP_FLUSH_EVERY {
                    state.flushed_at = std::time::Instant::now();
                    result = state.writer.flush();
                }
                if let Err(e) = result {
                    state.error = Some(e);
                }
            }
        }
    }

    fn state(&self, tuple: FourTuple, from: State, to: State) {
        {
            let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
            if to == State::Closed {
                states.remove(&tuple);
            } else {
                states.insert(tuple, to);
            }
        }
        self.changed.notify_all();
        let now = self.clock(SystemTime::now());
        tracing::info!(target: TARGET, "{now} {} {} - {}: {from} -> {to}", self.host, tuple.local, tuple.remote);
    }

    fn event(&self, tuple: FourTuple, event: &Event) {
        let now = self.clock(SystemTime::now());
        tracing::info!(target: TARGET, "{now} {} {} - {}: event {event:?}", self.host, tuple.local, tuple.remote);
    }

    fn stats(&self, tuple: FourTuple, state: State, congestion_control: &'static str, stats: &Stats) {
        if !trace::shows_stats(state) {
            return;
        }
        let now = self.clock(SystemTime::now());
        let line = trace::stats_line(congestion_control, stats);
        tracing::info!(target: TARGET, "{now} {} {} - {}: {line}", self.host, tuple.local, tuple.remote);
    }
}

/// The name under `/run/netns` of the network namespace this process is
/// in, if `ip netns` made it: the entry whose inode is our
/// `/proc/self/ns/net`.
pub fn namespace_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").ok()?;
    std::fs::read_dir("/run/netns").ok()?.flatten().find_map(|entry| {
        let meta = std::fs::metadata(entry.path()).ok()?;
        (meta.dev() == ours.dev() && meta.ino() == ours.ino()).then(|| entry.file_name().to_string_lossy().into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use toytcp_rawsock::Observer as _;

    fn tuple() -> FourTuple {
        FourTuple { local: "10.0.0.1:50000".parse().expect("addr"), remote: "10.0.1.1:40000".parse().expect("addr") }
    }

    #[test]
    fn waits_for_time_wait_or_closed() {
        let obs = Observer::new(None).expect("observer");
        let t = tuple();
        obs.state(t, State::Closed, State::SynSent);
        obs.state(t, State::SynSent, State::Established);
        obs.state(t, State::Established, State::FinWait1);
        assert!(!obs.wait_closed(t, Duration::from_millis(10)), "FIN-WAIT-1 is still closing");
        obs.state(t, State::FinWait1, State::TimeWait);
        assert!(obs.wait_closed(t, Duration::ZERO));
        obs.state(t, State::TimeWait, State::Closed);
        assert!(obs.wait_closed(t, Duration::ZERO), "a removed connection is closed");
    }

    #[test]
    fn a_state_change_on_another_thread_ends_the_wait() {
        let obs = std::sync::Arc::new(Observer::new(None).expect("observer"));
        let t = tuple();
        obs.state(t, State::CloseWait, State::LastAck);
        let other = std::sync::Arc::clone(&obs);
        let closer = std::thread::spawn(move || other.state(t, State::LastAck, State::Closed));
        assert!(obs.wait_closed(t, Duration::from_secs(10)));
        closer.join().expect("closer thread");
    }

    #[test]
    fn pcap_gets_every_packet() {
        let dir = std::env::temp_dir().join(format!("toytcp-observe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("t.pcap");
        let obs = Observer::new(Some(&path)).expect("observer");
        obs.packet(toytcp_rawsock::Direction::Out, SystemTime::now(), &[0x45, 0, 0, 20]);
        obs.packet(toytcp_rawsock::Direction::In, SystemTime::now(), &[0x45, 1]);
        obs.finish().expect("flush");
        let cap = crate::pcap::read(File::open(&path).expect("open")).expect("parse");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(cap.ipv4_packets(), vec![&[0x45, 0, 0, 20][..], &[0x45, 1][..]]);
    }
}
