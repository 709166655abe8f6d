//! Routing-table queries over rtnetlink (rtnetlink(7)), without a shell:
//! the source address the kernel would use toward a destination (what
//! `ip route get DST` prints as `src`) and the IPv4 addresses of this
//! namespace (`ip -4 addr`).
//!
//! A netlink socket answers for the network namespace it was created in,
//! so a [`Netlink`] opened when a stack is created keeps answering for the
//! stack's namespace whichever thread asks later.

use crate::sys::os_error;
use nix::errno::Errno;
use nix::sys::socket::{self, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, sockopt};
use nix::sys::time::TimeVal;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

// Message types and flags from <linux/netlink.h> and <linux/rtnetlink.h>.
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PREFSRC: u16 = 7;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const AF_INET: u8 = libc::AF_INET as u8;

const NLMSG_HDRLEN: usize = 16;
const RTMSG_LEN: usize = 12;
const IFADDRMSG_LEN: usize = 8;

/// An IPv4 address of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IfAddr {
    /// Interface index.
    pub index: u32,
    /// The address.
    pub addr: Ipv4Addr,
    /// Prefix length of its subnet.
    pub prefix_len: u8,
}

impl IfAddr {
    fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = if self.prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix_len.min(32))) };
        (u32::from(self.addr) & mask) == (u32::from(ip) & mask)
    }
}

/// A route-netlink socket bound to the namespace it was opened in.
#[derive(Debug)]
pub(crate) struct Netlink {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// Opens a route-netlink socket in the calling thread's namespace.
    pub(crate) fn open() -> io::Result<Netlink> {
        let fd =
            socket::socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)
                .map_err(|e| os_error("cannot open a netlink socket", e))?;
        // A lost answer must not hang the caller.
        socket::setsockopt(&fd, sockopt::ReceiveTimeout, &TimeVal::new(2, 0))
            .map_err(|e| os_error("cannot set a netlink receive timeout", e))?;
        Ok(Netlink { fd, seq: 0, buf: vec![0; 32 * 1024] })
    }

    /// The source address the kernel would pick toward `dst`
    /// (RTM_GETROUTE, like `ip route get`).
    pub(crate) fn source_for(&mut self, dst: Ipv4Addr) -> io::Result<Ipv4Addr> {
        let mut body = [0u8; RTMSG_LEN + 8];
        body[0] = AF_INET; // rtm_family
        body[1] = 32; // rtm_dst_len
        body[RTMSG_LEN..RTMSG_LEN + 2].copy_from_slice(&8u16.to_ne_bytes());
        body[RTMSG_LEN + 2..RTMSG_LEN + 4].copy_from_slice(&RTA_DST.to_ne_bytes());
        body[RTMSG_LEN + 4..].copy_from_slice(&dst.octets());
        let mut found: Option<(Option<Ipv4Addr>, Option<u32>, Option<Ipv4Addr>)> = None;
        self.request(RTM_GETROUTE, NLM_F_REQUEST, &body, |ty, payload| {
            if ty != RTM_NEWROUTE || payload.len() < RTMSG_LEN {
                return;
            }
            let (mut prefsrc, mut oif, mut gateway) = (None, None, None);
            for (kind, value) in attrs(&payload[RTMSG_LEN..]) {
                match (kind, value.len()) {
                    (RTA_PREFSRC, 4) => prefsrc = Some(ipv4(value)),
                    (RTA_GATEWAY, 4) => gateway = Some(ipv4(value)),
                    (RTA_OIF, 4) => oif = Some(u32::from_ne_bytes([value[0], value[1], value[2], value[3]])),
                    _ => {}
                }
            }
            found = Some((prefsrc, oif, gateway));
        })
        .map_err(|e| io::Error::new(e.kind(), format!("no route to {dst}: {e}")))?;
        let Some((prefsrc, oif, gateway)) = found else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("no route to {dst}")));
        };
        if let Some(src) = prefsrc {
            return Ok(src);
        }
        // No preferred source on the route: an address of the outgoing
        // interface, on the next hop's subnet if there is one.
        let next_hop = gateway.unwrap_or(dst);
        let addrs = self.addresses()?;
        let on_oif: Vec<IfAddr> = addrs.into_iter().filter(|a| Some(a.index) == oif).collect();
        on_oif.iter().find(|a| a.contains(next_hop)).or_else(|| on_oif.first()).map(|a| a.addr).ok_or_else(|| {
            io::Error::new(io::ErrorKind::AddrNotAvailable, format!("no IPv4 address to reach {dst} from"))
        })
    }

    /// Every IPv4 address of this namespace (RTM_GETADDR dump).
    pub(crate) fn addresses(&mut self) -> io::Result<Vec<IfAddr>> {
        let mut body = [0u8; IFADDRMSG_LEN];
        body[0] = AF_INET;
        let mut out = Vec::new();
        self.request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &body, |ty, payload| {
            if ty != RTM_NEWADDR || payload.len() < IFADDRMSG_LEN || payload[0] != AF_INET {
                return;
            }
            let prefix_len = payload[1];
            let index = u32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]);
            let (mut local, mut address) = (None, None);
            for (kind, value) in attrs(&payload[IFADDRMSG_LEN..]) {
                match (kind, value.len()) {
                    (IFA_LOCAL, 4) => local = Some(ipv4(value)),
                    (IFA_ADDRESS, 4) => address = Some(ipv4(value)),
                    _ => {}
                }
            }
            if let Some(addr) = local.or(address) {
                out.push(IfAddr { index, addr, prefix_len });
            }
        })?;
        Ok(out)
    }

    /// Sends one request and feeds every answer message (type, payload
    /// after the netlink header) to `on_msg` until the request is done.
    fn request(&mut self, ty: u16, flags: u16, body: &[u8], mut on_msg: impl FnMut(u16, &[u8])) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let len = NLMSG_HDRLEN + body.len();
        let mut msg = Vec::with_capacity(len);
        msg.extend_from_slice(&(len as u32).to_ne_bytes());
        msg.extend_from_slice(&ty.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        socket::sendto(self.fd.as_raw_fd(), &msg, &NetlinkAddr::new(0, 0), MsgFlags::empty())
            .map_err(|e| os_error("netlink request failed", e))?;
        let dump = flags & NLM_F_DUMP != 0;
        loop {
            let n = match socket::recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty()) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer from the kernel over netlink"));
                }
                Err(e) => return Err(os_error("netlink receive failed", e)),
            };
            let mut data = &self.buf[..n];
            while data.len() >= NLMSG_HDRLEN {
                let msg_len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                let msg_ty = u16::from_ne_bytes([data[4], data[5]]);
                let msg_seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
                if msg_len < NLMSG_HDRLEN || msg_len > data.len() {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "malformed netlink answer"));
                }
                let payload = &data[NLMSG_HDRLEN..msg_len];
                data = &data[align4(msg_len).min(data.len())..];
                if msg_seq != seq {
                    continue; // an answer to an earlier, abandoned request
                }
                match msg_ty {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let code = payload.get(..4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
                        if code == 0 {
                            return Ok(()); // an acknowledgment
                        }
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                    _ => {
                        on_msg(msg_ty, payload);
                        if !dump {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

/// Route attributes (`struct rtattr` chain): (type, value).
fn attrs(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]);
        if len < 4 || len > data.len() {
            return None;
        }
        let value = &data[4..len];
        data = &data[align4(len).min(data.len())..];
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_walk_stops_at_truncation() {
        let mut data = Vec::new();
        data.extend_from_slice(&8u16.to_ne_bytes());
        data.extend_from_slice(&RTA_PREFSRC.to_ne_bytes());
        data.extend_from_slice(&[10, 0, 0, 1]);
        data.extend_from_slice(&6u16.to_ne_bytes()); // 6 bytes: padded to 8
        data.extend_from_slice(&99u16.to_ne_bytes());
        data.extend_from_slice(&[1, 2, 0, 0]);
        data.extend_from_slice(&200u16.to_ne_bytes()); // claims more than there is
        data.extend_from_slice(&1u16.to_ne_bytes());
        let got: Vec<(u16, Vec<u8>)> = attrs(&data).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got, vec![(RTA_PREFSRC, vec![10, 0, 0, 1]), (99, vec![1, 2])]);
    }

    #[test]
    fn subnet_membership() {
        let a = IfAddr { index: 1, addr: Ipv4Addr::new(10, 0, 1, 254), prefix_len: 24 };
        assert!(a.contains(Ipv4Addr::new(10, 0, 1, 1)));
        assert!(!a.contains(Ipv4Addr::new(10, 0, 2, 1)));
        let all = IfAddr { prefix_len: 0, ..a };
        assert!(all.contains(Ipv4Addr::new(192, 168, 0, 1)));
    }

    #[test]
    fn loopback_routes_from_itself() {
        // Every namespace has a loopback route, root or not.
        let mut nl = Netlink::open().expect("netlink socket");
        let src = nl.source_for(Ipv4Addr::LOCALHOST).expect("route to 127.0.0.1");
        assert!(src.is_loopback(), "{src}");
    }
}
