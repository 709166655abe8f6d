//! A smoltcp host: one smoltcp [`Interface`] with one TCP socket, on a
//! `Medium::Ip` device whose "wire" is a pair of in-memory packet queues.
//!
//! smoltcp is a dev-dependency only, so this host kind lives in test code
//! and is shared by the interop tests and the recovery benchmark
//! (`mod common;`) and the throughput benchmark
//! (`#[path = "../tests/common/smol.rs"] mod smol;`).
//!
//! The device advertises the default [`ChecksumCapabilities`]: smoltcp
//! computes the IPv4 and TCP checksums of every packet it sends and verifies
//! them on every packet it receives, as ToyTCP always does.
//!
//! Packets are `Vec<u8>` buffers taken from and returned to a [`PacketPool`]
//! shared by every host of a run, so a long run does not allocate per packet.
//!
//! The crate enables smoltcp's `socket-tcp-cubic` feature (for the recovery
//! benchmark), which would make CUBIC every socket's default; [`SmolHost`]
//! sets `CongestionControl::None` explicitly, smoltcp's default without the
//! feature, so that the interop tests and the throughput benchmark behave as
//! before. [`SmolHost::set_congestion_control`] picks another.
//!
//! `smol_bulk.rs` runs a bulk application on a [`SmolHost`] as a host of
//! the simulator's world.
#![allow(dead_code, reason = "each test or bench binary uses a different part of the host")]

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

/// Recycled packet buffers, shared by all hosts of one run.
#[derive(Clone, Default)]
pub struct PacketPool(Rc<RefCell<Vec<Vec<u8>>>>);

impl PacketPool {
    /// A buffer `len` bytes long. Its contents are unspecified (whatever a
    /// previous packet left): the caller overwrites them.
    pub fn take(&self, len: usize) -> Vec<u8> {
        let mut v = self.0.borrow_mut().pop().unwrap_or_default();
        if v.len() < len {
            v.resize(len, 0);
        } else {
            v.truncate(len);
        }
        v
    }

    /// Gives a buffer back for reuse.
    pub fn give(&self, v: Vec<u8>) {
        let mut pool = self.0.borrow_mut();
        if pool.len() < 4096 {
            pool.push(v);
        }
    }
}

/// Outgoing packets of a device plus the pool, shared by the tokens that
/// smoltcp holds at the same time.
struct Outbox {
    tx: VecDeque<Vec<u8>>,
    pool: PacketPool,
}

/// A `Medium::Ip` device over two in-memory queues.
pub struct QueueDevice {
    rx: VecDeque<Vec<u8>>,
    out: RefCell<Outbox>,
    mtu: usize,
}

impl QueueDevice {
    fn new(mtu: usize, pool: PacketPool) -> Self {
        QueueDevice { rx: VecDeque::new(), out: RefCell::new(Outbox { tx: VecDeque::new(), pool }), mtu }
    }
}

/// Receive token: one packet, returned to the pool once consumed.
pub struct RxToken<'a> {
    buf: Vec<u8>,
    out: &'a RefCell<Outbox>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf);
        let pool = self.out.borrow().pool.clone();
        pool.give(self.buf);
        r
    }
}

/// Transmit token: queues the packet smoltcp writes.
pub struct TxToken<'a> {
    out: &'a RefCell<Outbox>,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.out.borrow().pool.take(len);
        let r = f(&mut buf);
        self.out.borrow_mut().tx.push_back(buf);
        r
    }
}

impl Device for QueueDevice {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: smoltcp::time::Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let buf = self.rx.pop_front()?;
        Some((RxToken { buf, out: &self.out }, TxToken { out: &self.out }))
    }

    fn transmit(&mut self, _now: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        Some(TxToken { out: &self.out })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        // Compute on send, verify on receive (the default, spelled out).
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

/// Converts ToyTCP's virtual time to smoltcp's.
pub fn smol_time(now: toytcp_core::Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.as_micros() as i64)
}

/// Converts smoltcp's time back (negative times clamp to zero).
pub fn toy_time(t: smoltcp::time::Instant) -> toytcp_core::Instant {
    toytcp_core::Instant::from_micros(t.total_micros().max(0) as u64)
}

/// One smoltcp interface with one TCP socket.
pub struct SmolHost {
    iface: Interface,
    device: QueueDevice,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    addr: Ipv4Addr,
}

impl SmolHost {
    /// A host at `addr/24` with an MTU of `mtu` and socket buffers of
    /// `buffer` bytes each way.
    pub fn new(now: toytcp_core::Instant, addr: Ipv4Addr, mtu: usize, buffer: usize, pool: PacketPool) -> Self {
        let mut device = QueueDevice::new(mtu, pool);
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = u64::from(u32::from(addr));
        let mut iface = Interface::new(config, &mut device, smol_time(now));
        iface.update_ip_addrs(|ips| {
            ips.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).expect("one address fits");
        });
        let mut socket =
            tcp::Socket::new(tcp::SocketBuffer::new(vec![0; buffer]), tcp::SocketBuffer::new(vec![0; buffer]));
        socket.set_congestion_control(tcp::CongestionControl::None);
        let mut sockets = SocketSet::new(Vec::new());
        let tcp = sockets.add(socket);
        SmolHost { iface, device, sockets, tcp, addr }
    }

    /// This host's address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The TCP socket.
    pub fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }

    /// Chooses the socket's congestion controller.
    pub fn set_congestion_control(&mut self, cc: tcp::CongestionControl) {
        self.socket().set_congestion_control(cc);
    }

    /// The TCP socket's state.
    pub fn state(&self) -> tcp::State {
        self.sockets.get::<tcp::Socket>(self.tcp).state()
    }

    /// Listens on `port`.
    pub fn listen(&mut self, port: u16) {
        self.socket().listen(port).expect("socket is closed and port non-zero");
    }

    /// Connects from `local_port` to `remote`.
    pub fn connect(&mut self, remote: SocketAddrV4, local_port: u16) {
        let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp);
        let remote = IpEndpoint::new(IpAddress::Ipv4(*remote.ip()), remote.port());
        socket.connect(self.iface.context(), remote, local_port).expect("socket is closed and addresses valid");
    }

    /// Hands a received IPv4 packet to the device (processed on the next [`SmolHost::poll`]).
    pub fn deliver(&mut self, packet: Vec<u8>) {
        self.device.rx.push_back(packet);
    }

    /// Hands over a copy of a received IPv4 packet, in a buffer from the
    /// pool (processed on the next [`SmolHost::poll`]).
    pub fn deliver_copy(&mut self, packet: &[u8]) {
        let mut buf = self.device.out.borrow().pool.take(packet.len());
        buf.copy_from_slice(packet);
        self.deliver(buf);
    }

    /// Runs the interface: every queued packet in, everything due out.
    pub fn poll(&mut self, now: toytcp_core::Instant) {
        self.iface.poll(smol_time(now), &mut self.device, &mut self.sockets);
    }

    /// The next packet the interface sent, if any.
    pub fn take_tx(&mut self) -> Option<Vec<u8>> {
        self.device.out.get_mut().tx.pop_front()
    }

    /// When the interface next wants to be polled (`None`: only on input).
    pub fn poll_at(&mut self, now: toytcp_core::Instant) -> Option<toytcp_core::Instant> {
        self.iface.poll_at(smol_time(now), &self.sockets).map(toy_time)
    }
}
