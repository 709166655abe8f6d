//! Keyed hashes for initial sequence numbers (RFC 6528), ephemeral port
//! selection (RFC 6056 §3.3.3) and timestamp offsets (RFC 7323 §5.4).
//!
//! The secret comes from the endpoint's seed, so a run is reproducible from
//! its seed while different seeds give unrelated sequence spaces.

use crate::connection::FourTuple;
use crate::seq::SeqNum;
use crate::time::Instant;
use core::hash::Hasher;
use core::net::{Ipv4Addr, SocketAddrV4};
use siphasher::sip::SipHasher24;

/// SplitMix64, used only to stretch the seed into key material.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The endpoint's secret keys.
#[derive(Clone, Debug)]
pub(crate) struct Secrets {
    isn: (u64, u64),
    port: (u64, u64),
    ts: (u64, u64),
    /// Keys the endpoint's demultiplexing table (derived last, so the
    /// other keys do not depend on it).
    pub demux: (u64, u64),
}

impl Secrets {
    /// Derives independent keys from `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut s = seed;
        let mut key = || (splitmix64(&mut s), splitmix64(&mut s));
        let (isn, port, ts) = (key(), key(), key());
        Secrets { isn, port, ts, demux: key() }
    }

    fn hash(key: (u64, u64), parts: &[&[u8]]) -> u64 {
        let mut h = SipHasher24::new_with_keys(key.0, key.1);
        for p in parts {
            h.write(p);
        }
        h.finish()
    }

    fn tuple_bytes(t: &FourTuple) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&t.local.ip().octets());
        b[4..6].copy_from_slice(&t.local.port().to_be_bytes());
        b[6..10].copy_from_slice(&t.remote.ip().octets());
        b[10..12].copy_from_slice(&t.remote.port().to_be_bytes());
        b
    }

    /// RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
    /// M a 4-microsecond timer, F SipHash-2-4.
    pub fn isn(&self, now: Instant, tuple: &FourTuple) -> SeqNum {
        let m = (now.as_micros() / 4) as u32;
        let f = Self::hash(self.isn, &[&Self::tuple_bytes(tuple)]) as u32;
        SeqNum(m.wrapping_add(f))
    }

    /// A per-connection offset for the timestamp clock (RFC 7323 §5.4), so
    /// TSval does not reveal uptime or link connections.
    pub fn ts_offset(&self, tuple: &FourTuple) -> u32 {
        Self::hash(self.ts, &[&Self::tuple_bytes(tuple)]) as u32
    }

    /// RFC 6056 §3.3.3 (Algorithm 3): the per-destination starting offset
    /// of the ephemeral port search.
    pub fn port_offset(&self, local: Ipv4Addr, remote: SocketAddrV4) -> u32 {
        Self::hash(self.port, &[&local.octets(), &remote.ip().octets(), &remote.port().to_be_bytes()]) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(lport: u16) -> FourTuple {
        FourTuple {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), lport),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 1, 1), 40000),
        }
    }

    #[test]
    fn isn_is_keyed_per_tuple_and_advances_with_the_clock() {
        let s = Secrets::from_seed(1);
        let t = Instant::from_micros(0);
        assert_ne!(s.isn(t, &tuple(1000)), s.isn(t, &tuple(1001)));
        assert_ne!(s.isn(t, &tuple(1000)), Secrets::from_seed(2).isn(t, &tuple(1000)));
        assert_eq!(s.isn(t, &tuple(1000)), Secrets::from_seed(1).isn(t, &tuple(1000)));
        // 4 µs per tick: one second later the ISN has moved 250 000.
        let later = s.isn(Instant::from_micros(1_000_000), &tuple(1000));
        assert_eq!(later - s.isn(t, &tuple(1000)), 250_000);
    }
}
