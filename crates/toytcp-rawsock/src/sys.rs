//! The operating-system pieces: the raw IPv4/TCP socket, the I/O thread's
//! wake-up eventfd and the OS seed.
//!
//! Every socket here belongs to the network namespace of the thread that
//! created it, which is what lets a test `setns(2)` into a namespace on one
//! thread and use the stack from any other.

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockProtocol, SockType, SockaddrIn, sockopt};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Socket buffer size asked for on the raw socket: a bulk transfer puts a
/// whole receive window of segments in flight toward it at once.
const RAW_SOCKET_BUFFER: usize = 8 << 20;

/// The message a user sees when raw sockets are not allowed.
pub(crate) const NEED_CAP_NET_RAW: &str = "ToyTCP needs a raw socket, which requires root (CAP_NET_RAW): run as root inside a \
     network namespace: sudo scripts/netns.sh up, then sudo ip netns exec host1 …";

/// Converts a nix error into an `io::Error` that names the failed step.
pub(crate) fn os_error(what: &str, e: Errno) -> io::Error {
    let base = io::Error::from(e);
    io::Error::new(base.kind(), format!("{what}: {base}"))
}

/// A raw `AF_INET`/`IPPROTO_TCP` socket: receives every TCP packet the
/// kernel delivers locally (whole IPv4 packets) and sends complete IPv4
/// packets written by the core (`IP_HDRINCL`, raw(7)).
#[derive(Debug)]
pub(crate) struct RawSocket {
    fd: OwnedFd,
}

/// `ICMP_FILTER` (raw(7), `<linux/icmp.h>`): a bit mask of the ICMP types
/// a raw `IPPROTO_ICMP` socket does *not* receive. libc has no constant.
const ICMP_FILTER: libc::c_int = 1;

/// The ICMP error types TCP acts on (RFC 9293 §3.9.2.2): Destination
/// Unreachable (3), Source Quench (4, counted and discarded), Time Exceeded
/// (11), Parameter Problem (12).
const ICMP_ERROR_TYPES: [u32; 4] = [3, 4, 11, 12];

impl RawSocket {
    /// A raw `AF_INET`/`IPPROTO_ICMP` socket, receive-only: every ICMP
    /// message the kernel delivers locally is copied to it (raw(7)), with
    /// its IPv4 header. Filtered to the error types TCP acts on, so echo
    /// traffic does not reach the I/O thread.
    pub(crate) fn open_icmp() -> io::Result<RawSocket> {
        let fd = socket::socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Icmp)
            .map_err(|e| match e {
                Errno::EPERM | Errno::EACCES => io::Error::new(io::ErrorKind::PermissionDenied, NEED_CAP_NET_RAW),
                e => os_error("cannot open a raw IPv4/ICMP socket", e),
            })?;
        let pass = ICMP_ERROR_TYPES.iter().fold(0u32, |m, t| m | 1 << t);
        let filter: u32 = !pass;
        // SAFETY: `fd` is an open socket owned here; the option value points
        // at a live u32 (struct icmp_filter) whose size is passed alongside.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_RAW,
                ICMP_FILTER,
                (&filter as *const u32).cast(),
                std::mem::size_of::<u32>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            // Only a cost: the core counts and drops what it does not use.
            tracing::debug!("cannot set ICMP_FILTER: {}", Errno::last());
        }
        if socket::setsockopt(&fd, sockopt::RcvBufForce, &(1usize << 20)).is_err() {
            let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &(1usize << 20));
        }
        Ok(RawSocket { fd })
    }

    /// Opens the socket in the calling thread's network namespace.
    pub(crate) fn open(so_mark: Option<u32>) -> io::Result<RawSocket> {
        let fd = socket::socket(AddressFamily::Inet, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::Tcp)
            .map_err(|e| match e {
                Errno::EPERM | Errno::EACCES => io::Error::new(io::ErrorKind::PermissionDenied, NEED_CAP_NET_RAW),
                e => os_error("cannot open a raw IPv4/TCP socket", e),
            })?;
        set_hdrincl(&fd)?;
        if let Some(mark) = so_mark {
            socket::setsockopt(&fd, sockopt::Mark, &mark).map_err(|e| os_error("cannot set SO_MARK", e))?;
        }
        // Large buffers: the *Force variants need CAP_NET_ADMIN; fall back
        // to what the sysctl limits allow.
        if socket::setsockopt(&fd, sockopt::RcvBufForce, &RAW_SOCKET_BUFFER).is_err() {
            let _ = socket::setsockopt(&fd, sockopt::RcvBuf, &RAW_SOCKET_BUFFER);
        }
        if socket::setsockopt(&fd, sockopt::SndBufForce, &RAW_SOCKET_BUFFER).is_err() {
            let _ = socket::setsockopt(&fd, sockopt::SndBuf, &RAW_SOCKET_BUFFER);
        }
        Ok(RawSocket { fd })
    }

    /// Receives one packet without blocking; `WouldBlock` when none is queued.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        socket::recv(self.fd.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT).map_err(io::Error::from)
    }

    /// Sends one complete IPv4 packet toward `dst` (blocking while the
    /// socket's send buffer is full).
    pub(crate) fn send(&self, packet: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        let addr = SockaddrIn::from(SocketAddrV4::new(dst, 0));
        loop {
            match socket::sendto(self.fd.as_raw_fd(), packet, &addr, MsgFlags::empty()) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        }
    }
}

impl AsFd for RawSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `IP_HDRINCL` (raw(7)): the packets we send carry their own IPv4 header.
/// nix has no wrapper for this option.
fn set_hdrincl(fd: &OwnedFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: `fd` is an open socket owned by the caller; the option value
    // points at a live c_int whose size is passed alongside it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_HDRINCL,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(os_error("cannot set IP_HDRINCL", Errno::last())) }
}

/// Wakes the I/O thread out of `poll(2)`.
#[derive(Debug)]
pub(crate) struct Waker {
    fd: EventFd,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
        let fd = EventFd::from_flags(EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| os_error("cannot create an eventfd", e))?;
        Ok(Waker { fd })
    }

    /// Makes the eventfd readable.
    pub(crate) fn wake(&self) {
        // EAGAIN only when the counter is about to overflow: it is readable then anyway.
        if let Err(e) = self.fd.write(1)
            && e != Errno::EAGAIN
        {
            tracing::warn!("cannot wake the ToyTCP I/O thread: {e}");
        }
    }

    /// Clears the readable state.
    pub(crate) fn drain(&self) {
        let _ = self.fd.read();
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// 64 bits from the OS random source, for the endpoint's secrets.
pub(crate) fn os_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)) {
        Ok(()) => u64::from_ne_bytes(bytes),
        Err(e) => {
            // Not secret, but distinct per run: better than a constant.
            tracing::warn!("cannot read /dev/urandom ({e}); seeding from the clock and pid");
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
            nanos ^ (u64::from(std::process::id()) << 32)
        }
    }
}

/// The kernel's ephemeral port range in the calling thread's namespace
/// (`net.ipv4.ip_local_port_range`), if readable.
pub(crate) fn kernel_port_range() -> Option<(u16, u16)> {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut it = text.split_whitespace().map(|s| s.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) => Some((lo, hi)),
        _ => None,
    }
}
