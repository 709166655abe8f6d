//! The stack: shared state, the I/O thread and the calls that open
//! connections and listeners.

use crate::route::Netlink;
use crate::stream::{TcpListener, TcpStream};
use crate::sys::{RawSocket, Waker};
use crate::{Config, Direction, Observer, closed_error, core_error};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use toytcp_core::{CloseReason, ConnectionHandle, Endpoint, EndpointEvent, EndpointStats, FourTuple, State};

/// Connections and listeners a listener may hold half-open or unaccepted.
const BACKLOG: usize = 128;
/// Packets received per lock hold before the thread lets application
/// threads in again.
const RX_BATCH: usize = 64;
/// Largest IPv4 packet.
const BUF_LEN: usize = 65536;
/// How long the I/O thread goes on driving closing connections (FIN-WAIT,
/// LAST-ACK) after every handle to the stack is gone.
const LINGER: Duration = Duration::from_secs(60);
/// Local addresses are re-read at most this often when a packet arrives
/// for an address not (yet) known.
const ADDR_REFRESH: Duration = Duration::from_secs(1);

/// One ToyTCP host on this network namespace: a raw TCP socket, a raw
/// ICMP socket (ICMP errors about our segments go to the endpoint: refusals,
/// Path MTU Discovery, soft errors) and the I/O thread owning the
/// [`Endpoint`]. Cheap to clone; every clone, stream and
/// listener keeps the stack running. Once all are dropped the I/O thread
/// finishes closing what is still closing (at most a minute; connections
/// in TIME-WAIT are let go) and exits.
#[derive(Clone)]
pub struct Stack {
    pub(crate) shared: Arc<Shared>,
    _user: Arc<UserHandle>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack").finish_non_exhaustive()
    }
}

/// Dropped with the last user handle: tells the I/O thread to wind down.
struct UserHandle {
    shared: Arc<Shared>,
}

impl Drop for UserHandle {
    fn drop(&mut self) {
        self.shared.detached.store(true, Ordering::SeqCst);
        self.shared.waker.wake();
    }
}

/// What application threads and the I/O thread share.
pub(crate) struct Shared {
    inner: Mutex<Inner>,
    waker: Waker,
    /// A wake-up is pending: later pokes need not write the eventfd again.
    poke_pending: AtomicBool,
    /// Every user handle is gone.
    detached: AtomicBool,
    start: std::time::Instant,
    observer: Option<Arc<dyn Observer>>,
    /// Route lookups in the stack's namespace.
    netlink: Mutex<Netlink>,
}

/// The state behind the lock.
pub(crate) struct Inner {
    pub(crate) ep: Endpoint,
    /// Condition variables of connections handed to the application.
    pub(crate) conns: HashMap<ConnectionHandle, Arc<Condvar>>,
    /// Condition variables of listeners.
    pub(crate) listeners: HashMap<SocketAddrV4, Arc<Condvar>>,
    /// Set when the I/O thread has stopped: every call fails with it.
    pub(crate) stopped: Option<String>,
    /// IPv4 addresses of this namespace.
    local_addrs: Vec<Ipv4Addr>,
    addrs_read_at: std::time::Instant,
    /// Last state reported to the observer, per connection.
    observed: HashMap<ConnectionHandle, (FourTuple, State)>,
}

impl Inner {
    /// Fails when the I/O thread is gone.
    pub(crate) fn check_running(&self) -> io::Result<()> {
        match &self.stopped {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!("the ToyTCP stack has stopped: {why}"))),
        }
    }
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere leaves consistent enough state for the other
        // threads to fail cleanly (the I/O thread marks itself stopped).
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The core's clock: microseconds since the stack started.
    pub(crate) fn now(&self) -> toytcp_core::Instant {
        toytcp_core::Instant::from_micros(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX))
    }

    /// Asks the I/O thread to drain what an application call produced.
    pub(crate) fn poke(&self) {
        if !self.poke_pending.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }

    /// Sleeps on `cv` until notified or `deadline`; `Err(())` once the
    /// deadline has passed.
    pub(crate) fn wait<'a>(
        &self,
        cv: &Condvar,
        guard: MutexGuard<'a, Inner>,
        deadline: Option<std::time::Instant>,
    ) -> Result<MutexGuard<'a, Inner>, MutexGuard<'a, Inner>> {
        match deadline {
            None => Ok(cv.wait(guard).unwrap_or_else(PoisonError::into_inner)),
            Some(d) => {
                let left = d.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return Err(guard);
                }
                let (g, _) = cv.wait_timeout(guard, left).unwrap_or_else(PoisonError::into_inner);
                Ok(g)
            }
        }
    }
}

impl Stack {
    /// Creates a stack in the calling thread's network namespace: opens the
    /// raw socket (which stays in this namespace whichever thread uses the
    /// stack later) and starts the I/O thread.
    ///
    /// Errors: `PermissionDenied`, with a message saying how to run, when
    /// the process may not open raw sockets (no CAP_NET_RAW).
    pub fn new(config: Config) -> io::Result<Stack> {
        let socket = RawSocket::open(config.so_mark)?;
        let icmp = RawSocket::open_icmp()?;
        let mut netlink = Netlink::open()?;
        let local_addrs = netlink.addresses()?.into_iter().map(|a| a.addr).collect();
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                ep: Endpoint::new(config.endpoint.clone()),
                conns: HashMap::new(),
                listeners: HashMap::new(),
                stopped: None,
                local_addrs,
                addrs_read_at: std::time::Instant::now(),
                observed: HashMap::new(),
            }),
            waker: Waker::new()?,
            poke_pending: AtomicBool::new(false),
            detached: AtomicBool::new(false),
            start: std::time::Instant::now(),
            observer: config.observer.clone(),
            netlink: Mutex::new(netlink),
        });
        let io_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("toytcp-io".into())
            .spawn(move || IoThread::new(io_shared, socket, icmp).run())
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start the ToyTCP I/O thread: {e}")))?;
        let user = Arc::new(UserHandle { shared: Arc::clone(&shared) });
        Ok(Stack { shared, _user: user })
    }

    /// Opens a connection to `addr` and blocks until it is ESTABLISHED.
    /// The source address comes from the routing table of the stack's
    /// namespace.
    ///
    /// Errors: `ConnectionRefused` (the peer answered with RST, or with an
    /// ICMP port or protocol unreachable, RFC 1122 §4.2.3.9), `TimedOut`
    /// (every SYN retransmission went unanswered, RFC 9293 §3.8.3),
    /// `HostUnreachable` (they went unanswered after an ICMP error said
    /// the destination was unreachable),
    /// `InvalidInput` for an unusable address, or the routing error.
    pub fn connect(&self, addr: SocketAddrV4) -> io::Result<TcpStream> {
        self.open(addr, None)
    }

    /// [`connect`](Self::connect), giving up with `TimedOut` (and aborting
    /// the attempt) after `timeout`.
    pub fn connect_timeout(&self, addr: SocketAddrV4, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "connect timeout of zero"));
        }
        self.open(addr, Some(std::time::Instant::now() + timeout))
    }

    /// Listens on `addr` (`0.0.0.0` for every address of the namespace).
    ///
    /// Errors: `AddrInUse` when already listened on, `InvalidInput` for
    /// port 0, `AddrNotAvailable` for an address of another host.
    pub fn bind(&self, addr: SocketAddrV4) -> io::Result<TcpListener> {
        if !addr.ip().is_unspecified() && !self.is_local(*addr.ip())? {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{} is not an address of this network namespace", addr.ip()),
            ));
        }
        let cv = Arc::new(Condvar::new());
        {
            let mut inner = self.shared.lock();
            inner.check_running()?;
            inner.ep.listen(addr, BACKLOG).map_err(core_error)?;
            inner.listeners.insert(addr, Arc::clone(&cv));
        }
        tracing::debug!("listening on {addr}");
        Ok(TcpListener::new(self.clone(), addr, cv))
    }

    /// Endpoint-wide counters: packets in, malformed packets dropped (by
    /// kind), segments that matched nothing, RSTs sent, SYNs dropped.
    pub fn endpoint_stats(&self) -> EndpointStats {
        *self.shared.lock().ep.stats()
    }

    /// Whether `ip` is an address of the stack's namespace (re-reading the
    /// addresses when it is not known yet).
    fn is_local(&self, ip: Ipv4Addr) -> io::Result<bool> {
        if self.shared.lock().local_addrs.contains(&ip) {
            return Ok(true);
        }
        let addrs: Vec<Ipv4Addr> = self
            .shared
            .netlink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .addresses()?
            .into_iter()
            .map(|a| a.addr)
            .collect();
        let found = addrs.contains(&ip);
        let mut inner = self.shared.lock();
        inner.local_addrs = addrs;
        inner.addrs_read_at = std::time::Instant::now();
        Ok(found)
    }

    fn open(&self, addr: SocketAddrV4, deadline: Option<std::time::Instant>) -> io::Result<TcpStream> {
        if addr.port() == 0 || addr.ip().is_unspecified() || addr.ip().is_broadcast() || addr.ip().is_multicast() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot connect to {addr}")));
        }
        let src = self.shared.netlink.lock().unwrap_or_else(PoisonError::into_inner).source_for(*addr.ip())?;
        let cv = Arc::new(Condvar::new());
        let mut inner = self.shared.lock();
        inner.check_running()?;
        let now = self.shared.now();
        let h = inner.ep.connect(now, src, addr).map_err(core_error)?;
        inner.conns.insert(h, Arc::clone(&cv));
        let tuple = inner.ep.connection(h).map(|c| c.four_tuple());
        tracing::debug!("connecting {src} -> {addr}");
        self.shared.poke();
        loop {
            if let Err(e) = inner.check_running() {
                inner.conns.remove(&h);
                return Err(e);
            }
            let state = inner.ep.connection(h).map(|c| (c.state(), c.close_reason()));
            match state {
                Some((s, None)) if s.is_synchronized() => break,
                // It was established before the peer closed or reset it (a
                // fast peer): the application learns that by reading, as
                // with the kernel's sockets.
                Some((_, Some(CloseReason::Graceful | CloseReason::Reset))) => break,
                Some((State::Closed, reason)) | Some((_, reason @ Some(_))) => {
                    let _ = inner.ep.abort(h);
                    inner.conns.remove(&h);
                    drop(inner);
                    self.shared.poke();
                    return Err(closed_error(reason.unwrap_or(CloseReason::Aborted)));
                }
                None => {
                    inner.conns.remove(&h);
                    return Err(io::Error::new(io::ErrorKind::NotConnected, "connection vanished"));
                }
                Some(_) => {}
            }
            inner = match self.shared.wait(&cv, inner, deadline) {
                Ok(g) => g,
                Err(mut g) => {
                    let _ = g.ep.abort(h);
                    g.conns.remove(&h);
                    drop(g);
                    self.shared.poke();
                    return Err(io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {addr} timed out")));
                }
            };
        }
        drop(inner);
        let tuple = tuple.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection vanished"))?;
        Ok(TcpStream::new(self.clone(), h, tuple, cv))
    }

    /// The process-wide stack used by [`TcpListener::bind`] and
    /// [`TcpStream::connect`], created on first use with
    /// [`Config::default`] in the namespace of the thread that first needs
    /// it. A failed creation is not remembered: the next call tries again.
    pub(crate) fn default_stack() -> io::Result<Stack> {
        static DEFAULT: Mutex<Option<Stack>> = Mutex::new(None);
        let mut slot = DEFAULT.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let stack = Stack::new(Config::default())?;
        *slot = Some(stack.clone());
        Ok(stack)
    }
}

/// The I/O thread: owns the raw sockets and the buffers.
struct IoThread {
    shared: Arc<Shared>,
    socket: RawSocket,
    /// ICMP errors (RFC 9293 §3.9.2.2): fed to the endpoint like segments.
    icmp: RawSocket,
    rx: Vec<u8>,
    tx: Vec<u8>,
    send_errors: u64,
}

/// Marks the stack stopped and wakes every waiter when the I/O thread
/// ends, normally or by a panic.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        if inner.stopped.is_none() {
            let why = if std::thread::panicking() { "the I/O thread panicked" } else { "shut down" };
            inner.stopped = Some(why.to_string());
        }
        for cv in inner.conns.values().chain(inner.listeners.values()) {
            cv.notify_all();
        }
    }
}

impl IoThread {
    fn new(shared: Arc<Shared>, socket: RawSocket, icmp: RawSocket) -> Self {
        IoThread { shared, socket, icmp, rx: vec![0; BUF_LEN], tx: vec![0; BUF_LEN], send_errors: 0 }
    }

    fn run(mut self) {
        let _guard = StopGuard(Arc::clone(&self.shared));
        let mut detached_at: Option<std::time::Instant> = None;
        let mut timeout = PollTimeout::ZERO;
        loop {
            let (sock_ready, wake_ready, icmp_ready) = {
                use std::os::fd::AsFd;
                let mut fds = [
                    PollFd::new(self.socket_fd(), PollFlags::POLLIN),
                    PollFd::new(self.shared.waker_fd(), PollFlags::POLLIN),
                    PollFd::new(self.icmp.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        self.shared.lock().stopped = Some(format!("poll failed: {e}"));
                        return;
                    }
                }
                (fds[0].any().unwrap_or(false), fds[1].any().unwrap_or(false), fds[2].any().unwrap_or(false))
            };
            if wake_ready {
                // Drain first, then clear: a poke between the two would
                // otherwise leave `poke_pending` set with the eventfd
                // empty, and every later poke would be lost.
                self.shared.waker.drain();
                self.shared.poke_pending.store(false, Ordering::Release);
            }
            let shared = Arc::clone(&self.shared);
            let mut inner = shared.lock();
            self.observe_states(&mut inner);
            if icmp_ready {
                self.receive(&mut inner, true);
            }
            if sock_ready {
                self.receive(&mut inner, false);
            }
            let now = shared.now();
            inner.ep.handle_timeout(now);
            // The core's output order: transmits, the next deadline, events.
            self.transmit(&mut inner);
            let deadline = inner.ep.poll_timeout();
            self.observe_states(&mut inner);
            Self::dispatch_events(&shared, &mut inner);
            if shared.detached.load(Ordering::SeqCst) {
                let started = *detached_at.get_or_insert_with(std::time::Instant::now);
                let done = inner.ep.handles().all(|h| {
                    inner.ep.connection(h).is_none_or(|c| matches!(c.state(), State::TimeWait | State::Closed))
                });
                if done || started.elapsed() >= LINGER {
                    tracing::debug!("ToyTCP stack exits ({} connections left)", inner.ep.connection_count());
                    inner.stopped = Some("shut down".into());
                    return;
                }
            }
            timeout = poll_timeout(deadline, shared.now(), detached_at.is_some());
        }
    }

    fn socket_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.socket.as_fd()
    }

    /// Feeds queued packets of the TCP or (`icmp`) the ICMP socket to the
    /// endpoint, draining transmits after each.
    fn receive(&mut self, inner: &mut Inner, icmp: bool) {
        for _ in 0..RX_BATCH {
            let socket = if icmp { &self.icmp } else { &self.socket };
            let n = match socket.recv(&mut self.rx) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // An ICMP error reported on the socket, e.g.; it is
                    // consumed by this read.
                    tracing::debug!("raw socket receive error: {e}");
                    continue;
                }
            };
            let packet = &self.rx[..n];
            if packet.len() < 20 || packet[0] >> 4 != 4 {
                continue;
            }
            let dst = Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]);
            if !self.is_local(inner, dst) {
                continue;
            }
            if let Some(obs) = &self.shared.observer {
                obs.packet(Direction::In, SystemTime::now(), packet);
            }
            inner.ep.handle(self.shared.now(), packet);
            self.transmit(inner);
            self.observe_states(inner);
        }
    }

    /// Whether the kernel handed us a packet for this namespace: the raw
    /// socket may see others (e.g. broadcast), which are not ToyTCP's.
    fn is_local(&self, inner: &mut Inner, dst: Ipv4Addr) -> bool {
        if inner.local_addrs.contains(&dst) {
            return true;
        }
        if inner.addrs_read_at.elapsed() < ADDR_REFRESH {
            return false;
        }
        inner.addrs_read_at = std::time::Instant::now();
        match self.shared.netlink.lock().unwrap_or_else(PoisonError::into_inner).addresses() {
            Ok(addrs) => inner.local_addrs = addrs.into_iter().map(|a| a.addr).collect(),
            Err(e) => tracing::warn!("cannot read this namespace's addresses: {e}"),
        }
        inner.local_addrs.contains(&dst)
    }

    /// `poll_transmit` until `None`, sending each packet.
    fn transmit(&mut self, inner: &mut Inner) {
        loop {
            let now = self.shared.now();
            let Some(t) = inner.ep.poll_transmit(now, &mut self.tx) else { return };
            let packet = &self.tx[..t.len];
            if let Some(obs) = &self.shared.observer {
                obs.packet(Direction::Out, SystemTime::now(), packet);
            }
            if let Err(e) = self.socket.send(packet, t.dst) {
                self.send_errors += 1;
                // Loud on the first failures and then on every power of
                // two, so a firewall dropping everything is visible without
                // flooding the log.
                if self.send_errors.is_power_of_two() {
                    let hint = if e.kind() == io::ErrorKind::PermissionDenied {
                        " (a firewall rule dropped it: exempt the driver's packets, see Config::so_mark)"
                    } else {
                        ""
                    };
                    tracing::warn!("cannot send to {} ({} failures so far): {e}{hint}", t.dst, self.send_errors);
                } else {
                    tracing::debug!("cannot send to {}: {e}", t.dst);
                }
            }
        }
    }

    /// Drains the endpoint's events and wakes the threads waiting on them.
    fn dispatch_events(shared: &Shared, inner: &mut Inner) {
        while let Some(event) = inner.ep.poll_event() {
            match event {
                EndpointEvent::Incoming { listener } => {
                    if let Some(cv) = inner.listeners.get(&listener) {
                        cv.notify_all();
                    }
                }
                EndpointEvent::Connection { handle, event } => {
                    if let Some(cv) = inner.conns.get(&handle) {
                        cv.notify_all();
                    }
                    if let Some(obs) = &shared.observer {
                        let tuple = inner
                            .ep
                            .connection(handle)
                            .map(|c| c.four_tuple())
                            .or_else(|| inner.observed.get(&handle).map(|(t, _)| *t));
                        if let Some(tuple) = tuple {
                            obs.event(tuple, &event);
                        }
                    }
                }
            }
        }
    }

    /// Reports state changes since the last look (observer only: this walks
    /// every connection).
    fn observe_states(&self, inner: &mut Inner) {
        let Some(obs) = &self.shared.observer else { return };
        let Inner { ep, observed, .. } = inner;
        let mut seen = 0;
        for h in ep.handles() {
            let Some(c) = ep.connection(h) else { continue };
            seen += 1;
            let (tuple, state) = (c.four_tuple(), c.state());
            match observed.get_mut(&h) {
                Some((_, last)) if *last == state => continue,
                Some((_, last)) => {
                    obs.state(tuple, *last, state);
                    *last = state;
                }
                None => {
                    let from = if state == State::SynSent { State::Closed } else { State::Listen };
                    obs.state(tuple, from, state);
                    observed.insert(h, (tuple, state));
                }
            }
            obs.stats(tuple, state, c.congestion_control(), &c.stats());
        }
        if seen != observed.len() {
            observed.retain(|h, (tuple, last)| {
                let live = ep.connection(*h).is_some();
                if !live && *last != State::Closed {
                    obs.state(*tuple, *last, State::Closed);
                }
                live
            });
        }
    }
}

impl Shared {
    fn waker_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.waker.as_fd()
    }
}

/// Milliseconds until `deadline`, rounded up so the thread never wakes
/// early and spins; capped at one second while lingering.
fn poll_timeout(deadline: Option<toytcp_core::Instant>, now: toytcp_core::Instant, lingering: bool) -> PollTimeout {
    let cap = if lingering { Some(1000u64) } else { None };
    let ms = deadline.map(|d| {
        let micros = d.as_micros().saturating_sub(now.as_micros());
        micros.div_ceil(1000)
    });
    let ms = match (ms, cap) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match ms {
        None => PollTimeout::NONE,
        Some(ms) => PollTimeout::try_from(ms.min(i32::MAX as u64)).unwrap_or(PollTimeout::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use toytcp_core::Instant;

    #[test]
    fn poll_timeout_rounds_up_and_caps() {
        let now = Instant::from_micros(1_000);
        assert_eq!(poll_timeout(None, now, false), PollTimeout::NONE);
        assert_eq!(poll_timeout(Some(Instant::from_micros(500)), now, false), PollTimeout::ZERO);
        assert_eq!(poll_timeout(Some(Instant::from_micros(1_001)), now, false), PollTimeout::try_from(1u64).unwrap());
        assert_eq!(poll_timeout(Some(Instant::from_micros(41_000)), now, false), PollTimeout::try_from(40u64).unwrap());
        assert_eq!(poll_timeout(None, now, true), PollTimeout::try_from(1000u64).unwrap());
        assert_eq!(
            poll_timeout(Some(Instant::from_micros(u64::MAX)), now, false),
            PollTimeout::try_from(i32::MAX as u64).unwrap()
        );
    }
}
