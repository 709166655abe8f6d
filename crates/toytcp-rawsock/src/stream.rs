//! Blocking, `std::net`-like listeners and streams on a [`Stack`].

use crate::stack::Stack;
use crate::{closed_error, core_error};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use toytcp_core::{CloseReason, ConnectionHandle, Error, FourTuple, Stats};

/// A listening socket, like [`std::net::TcpListener`]. Dropping it stops
/// listening; connections not yet accepted are reset.
pub struct TcpListener {
    stack: Stack,
    addr: SocketAddrV4,
    cv: Arc<Condvar>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("addr", &self.addr).finish()
    }
}

impl TcpListener {
    pub(crate) fn new(stack: Stack, addr: SocketAddrV4, cv: Arc<Condvar>) -> Self {
        TcpListener { stack, addr, cv }
    }

    /// Listens on `addr` with the process-wide default stack, created on
    /// first use with [`Config::default`](crate::Config::default) in the
    /// calling thread's network namespace. See [`Stack::bind`].
    pub fn bind(addr: SocketAddrV4) -> io::Result<TcpListener> {
        Stack::default_stack()?.bind(addr)
    }

    /// Blocks until a connection has completed its handshake and returns it
    /// with the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddrV4)> {
        let shared = &self.stack.shared;
        let mut inner = shared.lock();
        loop {
            inner.check_running()?;
            if let Some(h) = inner.ep.accept(self.addr) {
                let Some(tuple) = inner.ep.connection(h).map(|c| c.four_tuple()) else { continue };
                let cv = Arc::new(Condvar::new());
                inner.conns.insert(h, Arc::clone(&cv));
                drop(inner);
                tracing::debug!("accepted {} on {}", tuple.remote, tuple.local);
                return Ok((TcpStream::new(self.stack.clone(), h, tuple, cv), tuple.remote));
            }
            inner = match shared.wait(&self.cv, inner, None) {
                Ok(g) | Err(g) => g,
            };
        }
    }

    /// The address listened on.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        Ok(self.addr)
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        let shared = &self.stack.shared;
        let mut inner = shared.lock();
        inner.ep.unlisten(self.addr);
        inner.listeners.remove(&self.addr);
        drop(inner);
        shared.poke();
    }
}

/// One ToyTCP connection, like [`std::net::TcpStream`]: `Read` and `Write`
/// on the stream and on `&TcpStream`, usable from several threads at once.
///
/// Reads return `Ok(0)` at the end of the stream (the peer's FIN, after
/// every byte before it) and `ConnectionReset` once the peer has reset the
/// connection. A read or write that runs into its timeout fails with
/// `WouldBlock`, as std's sockets do on Linux.
///
/// Dropping the stream closes it gracefully (a FIN after the data still
/// queued; a RST instead if received data was left unread, RFC 1122
/// §4.2.2.13); the stack keeps driving it through the closing states.
pub struct TcpStream {
    stack: Stack,
    handle: ConnectionHandle,
    tuple: FourTuple,
    cv: Arc<Condvar>,
    read_shut: AtomicBool,
    timeouts: Mutex<Timeouts>,
}

#[derive(Clone, Copy, Default)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("local", &self.tuple.local).field("remote", &self.tuple.remote).finish()
    }
}

impl TcpStream {
    pub(crate) fn new(stack: Stack, handle: ConnectionHandle, tuple: FourTuple, cv: Arc<Condvar>) -> Self {
        TcpStream {
            stack,
            handle,
            tuple,
            cv,
            read_shut: AtomicBool::new(false),
            timeouts: Mutex::new(Timeouts::default()),
        }
    }

    /// Connects with the process-wide default stack (see
    /// [`TcpListener::bind`]); blocks until ESTABLISHED. See [`Stack::connect`].
    pub fn connect(addr: SocketAddrV4) -> io::Result<TcpStream> {
        Stack::default_stack()?.connect(addr)
    }

    /// `Write`: no more data will be sent, a FIN follows what is queued
    /// (half-close, RFC 9293 §3.10.4); reads go on. `Read`: later reads
    /// return `Ok(0)`. `Both`: the two.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.read_shut.store(true, Ordering::SeqCst);
            let _guard = self.stack.shared.lock();
            self.cv.notify_all();
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            let r = {
                let mut inner = self.stack.shared.lock();
                inner.check_running()?;
                inner.ep.shutdown(self.handle)
            };
            self.stack.shared.poke();
            r.map_err(core_error)?;
        }
        Ok(())
    }

    /// Turns the Nagle algorithm off (`true`) or back on (RFC 9293 §3.7.4).
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        let r = self.stack.shared.lock().ep.set_nodelay(self.handle, on);
        self.stack.shared.poke();
        r.map_err(core_error)
    }

    /// Longest a read waits for data; `None` waits forever. A zero
    /// duration is `InvalidInput`, as in std.
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.timeouts.lock().unwrap_or_else(PoisonError::into_inner).read = d;
        Ok(())
    }

    /// Longest a write waits for room in the send buffer; `None` waits
    /// forever. A zero duration is `InvalidInput`, as in std.
    pub fn set_write_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        check_timeout(d)?;
        self.timeouts.lock().unwrap_or_else(PoisonError::into_inner).write = d;
        Ok(())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV4> {
        Ok(self.tuple.remote)
    }

    /// Our address.
    pub fn local_addr(&self) -> io::Result<SocketAddrV4> {
        Ok(self.tuple.local)
    }

    /// The connection's counters (segments, bytes, retransmissions, RTT,
    /// windows), like Linux's `tcp_info`.
    pub fn stats(&self) -> io::Result<Stats> {
        let inner = self.stack.shared.lock();
        inner
            .ep
            .connection(self.handle)
            .map(|c| c.stats())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection no longer exists"))
    }

    /// The name of the connection's congestion controller (`newreno`, …),
    /// as chosen by [`ConnectionConfig::congestion`](toytcp_core::ConnectionConfig::congestion).
    pub fn congestion_control(&self) -> io::Result<&'static str> {
        let inner = self.stack.shared.lock();
        inner
            .ep
            .connection(self.handle)
            .map(|c| c.congestion_control())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection no longer exists"))
    }

    fn deadline(&self, read: bool) -> Option<std::time::Instant> {
        let t = *self.timeouts.lock().unwrap_or_else(PoisonError::into_inner);
        let d = if read { t.read } else { t.write };
        d.map(|d| std::time::Instant::now() + d)
    }

    fn do_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self.deadline(true);
        let shared = &self.stack.shared;
        let mut inner = shared.lock();
        loop {
            if self.read_shut.load(Ordering::SeqCst) {
                return Ok(0);
            }
            inner.check_running()?;
            match inner.ep.recv(self.handle, buf) {
                Ok(n) => {
                    drop(inner);
                    if n > 0 {
                        // Reading may reopen the window: let the I/O
                        // thread send the update.
                        shared.poke();
                    }
                    return Ok(n);
                }
                Err(Error::WouldBlock) => {}
                Err(Error::Closed(CloseReason::Graceful)) => return Ok(0),
                Err(e) => return Err(core_error(e)),
            }
            inner = shared
                .wait(&self.cv, inner, deadline)
                .map_err(|_| io::Error::new(io::ErrorKind::WouldBlock, "read timed out"))?;
        }
    }

    fn do_write(&self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let deadline = self.deadline(false);
        let shared = &self.stack.shared;
        let mut inner = shared.lock();
        loop {
            inner.check_running()?;
            match inner.ep.send(self.handle, buf) {
                Ok(n) => {
                    drop(inner);
                    shared.poke();
                    return Ok(n);
                }
                Err(Error::WouldBlock) => {}
                Err(Error::Closed(CloseReason::Graceful)) | Err(Error::WriteClosed) => {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, Error::WriteClosed));
                }
                Err(Error::Closed(reason)) => return Err(closed_error(reason)),
                Err(e) => return Err(core_error(e)),
            }
            inner = shared
                .wait(&self.cv, inner, deadline)
                .map_err(|_| io::Error::new(io::ErrorKind::WouldBlock, "write timed out"))?;
        }
    }
}

fn check_timeout(d: Option<Duration>) -> io::Result<()> {
    if d == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "cannot set a zero duration timeout"));
    }
    Ok(())
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.do_read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    /// Data is handed to the stack by `write`; nothing is held back here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.do_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        let shared = &self.stack.shared;
        let mut inner = shared.lock();
        if let Err(e) = inner.ep.close(self.handle) {
            tracing::debug!("closing {} -> {}: {e}", self.tuple.local, self.tuple.remote);
        }
        inner.conns.remove(&self.handle);
        drop(inner);
        shared.poke();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<TcpStream>();
        assert_send_sync::<TcpListener>();
        assert_send_sync::<Stack>();
    }

    #[test]
    fn zero_timeouts_are_rejected() {
        assert_eq!(check_timeout(Some(Duration::ZERO)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert!(check_timeout(None).is_ok());
        assert!(check_timeout(Some(Duration::from_millis(1))).is_ok());
    }
}
