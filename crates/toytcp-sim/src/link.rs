//! One direction of a link and the faults it applies, in the spirit of
//! Linux netem (and str0m's `netem` crate): latency and jitter, a
//! bandwidth with a drop-tail queue in front of it, an MTU, random and
//! Gilbert–Elliott burst loss, duplication, reordering, corruption and
//! partitions.
//!
//! Order of the decisions for each packet sent, at send time:
//! MTU → partition → burst loss → random loss → queue/serialization →
//! latency + jitter (order-preserving) → reordering (extra delay) →
//! corruption → duplication. "Faults" (partitions, losses, duplication,
//! reordering, corruption) can be switched off as a whole for a liveness
//! phase; latency, jitter, bandwidth, queue and MTU are properties of the
//! path and stay.

use crate::rng::{Draw, SimRng};
use core::net::Ipv4Addr;
use toytcp_core::wire::{self, IcmpError};
use toytcp_core::{Duration, Instant};

/// The two-state Gilbert–Elliott loss model: a "good" state without loss
/// and a "bad" state losing `loss_in_bad` of the packets; the state may
/// change before each packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GilbertElliott {
    /// Probability of entering the bad state, per packet, from the good one.
    pub p_good_to_bad: f64,
    /// Probability of leaving the bad state, per packet.
    pub p_bad_to_good: f64,
    /// Loss probability while in the bad state.
    pub loss_in_bad: f64,
}

/// Settings of one direction of a link.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way propagation delay.
    pub latency: Duration,
    /// Extra delay, uniform in `0..=jitter`; packets still arrive in order
    /// (reordering is its own fault).
    pub jitter: Duration,
    /// Serialization rate in bits per second; `None` sends instantly.
    pub bandwidth_bps: Option<u64>,
    /// Bytes waiting for the transmitter beyond which packets are dropped
    /// (drop-tail). Only meaningful with a bandwidth.
    pub queue_limit_bytes: usize,
    /// Largest IPv4 packet carried; larger ones are dropped (no fragmentation).
    pub mtu: usize,
    /// Independent loss probability per packet.
    pub loss: f64,
    /// Burst loss, applied before the independent loss.
    pub burst: Option<GilbertElliott>,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a packet is held back by an extra delay in
    /// `1µs..=reorder_delay`, letting later packets overtake it.
    pub reorder: f64,
    /// Largest extra delay of a reordered packet.
    pub reorder_delay: Duration,
    /// Probability that a packet gets 1–3 bit flips within one aligned
    /// 16-bit word, which the Internet checksum always detects.
    pub corrupt: f64,
    /// Intervals `[start, end)` during which every packet sent is lost.
    pub partitions: Vec<(Instant, Instant)>,
    /// Answer a packet dropped for exceeding the MTU, if it carries DF,
    /// with ICMP Fragmentation Needed from this address (type 3 code 4,
    /// next-hop MTU = `mtu`, RFC 1191 §4), as a router in front of a
    /// smaller link does; the message reaches the sender one `latency`
    /// later. `None` (the default) drops such packets silently, a Path MTU
    /// black hole (RFC 2923 §2.1).
    pub frag_needed_from: Option<Ipv4Addr>,
}

impl Default for LinkConfig {
    /// A clean 1 ms, 1500-byte-MTU path with unlimited bandwidth.
    fn default() -> Self {
        LinkConfig {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            bandwidth_bps: None,
            queue_limit_bytes: 1 << 20,
            mtu: 1500,
            loss: 0.0,
            burst: None,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(10),
            corrupt: 0.0,
            partitions: Vec::new(),
            frag_needed_from: None,
        }
    }
}

impl LinkConfig {
    /// Checks the settings: probabilities in `[0, 1]`, MTU at least 20.
    pub fn validate(&self) -> Result<(), String> {
        let mut probs = vec![("loss", self.loss), ("duplicate", self.duplicate), ("reorder", self.reorder)];
        probs.push(("corrupt", self.corrupt));
        if let Some(ge) = &self.burst {
            probs.extend([
                ("p_good_to_bad", ge.p_good_to_bad),
                ("p_bad_to_good", ge.p_bad_to_good),
                ("loss_in_bad", ge.loss_in_bad),
            ]);
        }
        for (name, p) in probs {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} = {p} is not a probability"));
            }
        }
        if self.mtu < 20 {
            return Err(format!("mtu {} is below an IPv4 header", self.mtu));
        }
        if self.bandwidth_bps == Some(0) {
            return Err("bandwidth of 0 bit/s".into());
        }
        Ok(())
    }
}

/// What happened to the packets of one link direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to the link.
    pub sent: u64,
    /// Copies delivered (duplicates included).
    pub delivered: u64,
    /// Dropped for exceeding the MTU.
    pub dropped_mtu: u64,
    /// Of which answered with ICMP Fragmentation Needed
    /// ([`LinkConfig::frag_needed_from`]). The answer travels back, and its
    /// arrival counts in the other direction's `delivered`.
    pub frag_needed_sent: u64,
    /// Dropped during a partition.
    pub dropped_partition: u64,
    /// Dropped by the Gilbert–Elliott bad state.
    pub dropped_burst: u64,
    /// Dropped by independent random loss.
    pub dropped_loss: u64,
    /// Dropped by the full queue (drop-tail).
    pub dropped_queue: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets held back for reordering.
    pub reordered: u64,
    /// Packets whose bits were flipped.
    pub corrupted: u64,
}

/// A packet on its way: when it arrives, its bytes, and whether its bits were flipped.
#[derive(Debug)]
pub struct Scheduled {
    /// Arrival time at the far end.
    pub at: Instant,
    /// The packet as it will be delivered.
    pub packet: Vec<u8>,
    /// Bits were flipped on the way.
    pub corrupted: bool,
    /// An ICMP error for the sender: it travels back to the end the
    /// packet came from.
    pub back: bool,
}

/// The moving parts of one link direction.
#[derive(Debug)]
pub struct LinkDirection {
    config: LinkConfig,
    rng: SimRng,
    /// When the transmitter finishes the packets already queued.
    busy_until: Instant,
    /// Latest arrival scheduled in order (jitter never reorders).
    last_arrival: Instant,
    /// Gilbert–Elliott state.
    in_bad_state: bool,
    stats: LinkStats,
}

impl LinkDirection {
    /// A direction with its own random stream.
    pub fn new(config: LinkConfig, rng: SimRng) -> Self {
        LinkDirection {
            config,
            rng,
            busy_until: Instant::ZERO,
            last_arrival: Instant::ZERO,
            in_bad_state: false,
            stats: LinkStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Counts a delivery (done by the world when a packet arrives).
    pub(crate) fn count_delivery(&mut self) {
        self.stats.delivered += 1;
    }

    /// Sends `packet` at `now`; appends the copies that will arrive (none
    /// when it is lost) to `out`. With `faults` off only the path's own
    /// properties apply (latency, jitter, bandwidth, queue, MTU).
    pub fn transmit(&mut self, now: Instant, packet: Vec<u8>, faults: bool, out: &mut Vec<Scheduled>) {
        let c = &self.config;
        self.stats.sent += 1;
        if packet.len() > c.mtu {
            self.stats.dropped_mtu += 1;
            let df = packet.get(6).is_some_and(|b| b & 0x40 != 0);
            if let Some(router) = c.frag_needed_from
                && df
            {
                let next_hop_mtu = u16::try_from(c.mtu).unwrap_or(u16::MAX);
                let mut buf = [0u8; 128];
                let kind = IcmpError::FragmentationNeeded { next_hop_mtu };
                if let Some(n) = wire::emit_icmp_error(router, kind, &packet, &mut buf) {
                    self.stats.frag_needed_sent += 1;
                    let packet = buf[..n].to_vec();
                    out.push(Scheduled { at: now + c.latency, packet, corrupted: false, back: true });
                }
            }
            return;
        }
        if faults && c.partitions.iter().any(|&(start, end)| start <= now && now < end) {
            self.stats.dropped_partition += 1;
            return;
        }
        if faults && let Some(ge) = c.burst {
            if self.in_bad_state {
                if self.rng.chance(ge.p_bad_to_good) {
                    self.in_bad_state = false;
                }
            } else if self.rng.chance(ge.p_good_to_bad) {
                self.in_bad_state = true;
            }
            if self.in_bad_state && self.rng.chance(ge.loss_in_bad) {
                self.stats.dropped_burst += 1;
                return;
            }
        }
        if faults && self.rng.chance(c.loss) {
            self.stats.dropped_loss += 1;
            return;
        }
        let departure = match c.bandwidth_bps {
            Some(bps) => {
                let start = self.busy_until.max(now);
                let backlog_bytes = u128::from((start - now).as_micros() as u64) * u128::from(bps) / 8_000_000;
                if backlog_bytes + packet.len() as u128 > c.queue_limit_bytes as u128 {
                    self.stats.dropped_queue += 1;
                    return;
                }
                let tx_micros = (packet.len() as u128 * 8 * 1_000_000).div_ceil(u128::from(bps.max(1)));
                self.busy_until = start + Duration::from_micros(tx_micros.min(u128::from(u64::MAX)) as u64);
                self.busy_until
            }
            None => now,
        };
        let jitter = if c.jitter.is_zero() { Duration::ZERO } else { self.rng.duration(Duration::ZERO, c.jitter) };
        let mut at = (departure + c.latency + jitter).max(self.last_arrival);
        self.last_arrival = at;
        if faults && self.rng.chance(c.reorder) {
            at += self.rng.duration(Duration::from_micros(1), c.reorder_delay.max(Duration::from_micros(1)));
            self.stats.reordered += 1;
        }
        let duplicate = faults && self.rng.chance(c.duplicate);
        let copy = duplicate.then(|| packet.clone());
        let mut packet = packet;
        let mut corrupted = false;
        if faults && !packet.is_empty() && self.rng.chance(c.corrupt) {
            flip_bits(&mut self.rng, &mut packet);
            self.stats.corrupted += 1;
            corrupted = true;
        }
        out.push(Scheduled { at, packet, corrupted, back: false });
        if let Some(copy) = copy {
            let extra = self.rng.duration(Duration::ZERO, Duration::from_millis(1));
            self.stats.duplicated += 1;
            out.push(Scheduled { at: at + extra, packet: copy, corrupted: false, back: false });
        }
    }
}

/// Flips 1–3 distinct bits inside one 16-bit-aligned word of `packet`.
/// The Internet checksum (RFC 1071) detects any such change: the sum moves
/// by a nonzero amount smaller than 0xffff, so the IPv4 header checksum or
/// the TCP checksum (whichever covers the word) no longer verifies.
pub fn flip_bits(rng: &mut SimRng, packet: &mut [u8]) {
    let words = packet.len().div_ceil(2) as u64;
    let word = rng.range(0, words - 1) as usize * 2;
    let width = if word + 1 < packet.len() { 16 } else { 8 };
    let flips = rng.range(1, 3);
    let mut mask: u16 = 0;
    while mask.count_ones() < flips as u32 {
        mask |= 1 << rng.range(0, width - 1);
    }
    if width == 8 {
        packet[word] ^= mask as u8;
    } else {
        packet[word] ^= (mask >> 8) as u8;
        packet[word + 1] ^= mask as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(dir: &mut LinkDirection, n: usize, len: usize, gap: Duration, faults: bool) -> Vec<Scheduled> {
        let mut out = Vec::new();
        let mut t = Instant::ZERO;
        for i in 0..n {
            dir.transmit(t, vec![i as u8; len], faults, &mut out);
            t += gap;
        }
        out
    }

    #[test]
    fn clean_link_delays_in_order() {
        let mut d = LinkDirection::new(LinkConfig::default(), SimRng::new(1, 1));
        let out = packets(&mut d, 10, 100, Duration::from_micros(10), true);
        assert_eq!(out.len(), 10);
        for (i, s) in out.iter().enumerate() {
            assert_eq!(s.at, Instant::from_micros(1000 + 10 * i as u64));
            assert_eq!(s.packet[0], i as u8);
        }
    }

    /// With `frag_needed_from`, an oversized DF packet is answered with
    /// ICMP Fragmentation Needed quoting it, travelling back; without DF
    /// it is only dropped.
    #[test]
    fn mtu_answers_oversized_df_packets_with_frag_needed() {
        let router = Ipv4Addr::new(10, 0, 0, 254);
        let config = LinkConfig { mtu: 100, frag_needed_from: Some(router), ..LinkConfig::default() };
        let mut d = LinkDirection::new(config, SimRng::new(1, 1));
        let mut packet = vec![0u8; 101];
        packet[0] = 0x45;
        packet[6] = 0x40; // DF
        packet[9] = 6;
        packet[12..16].copy_from_slice(&[10, 0, 0, 1]);
        packet[16..20].copy_from_slice(&[10, 0, 1, 1]);
        packet[24..28].copy_from_slice(&[0, 0, 0, 42]); // TCP SEQ
        let mut out = Vec::new();
        d.transmit(Instant::ZERO, packet.clone(), true, &mut out);
        assert_eq!(out.len(), 1);
        assert!(out[0].back);
        assert_eq!(out[0].at, Instant::ZERO + Duration::from_millis(1));
        let m = wire::parse_icmp(&out[0].packet).expect("ICMP message");
        assert_eq!(m.error, IcmpError::FragmentationNeeded { next_hop_mtu: 100 });
        assert_eq!((m.from, m.to, m.quoted.seq.0), (router, Ipv4Addr::new(10, 0, 0, 1), 42));
        packet[6] = 0;
        d.transmit(Instant::ZERO, packet, true, &mut out);
        assert_eq!(out.len(), 1, "no DF, no ICMP");
        assert_eq!((d.stats().dropped_mtu, d.stats().frag_needed_sent), (2, 1));
    }

    #[test]
    fn mtu_drops_larger_packets() {
        let mut d = LinkDirection::new(LinkConfig { mtu: 100, ..LinkConfig::default() }, SimRng::new(1, 1));
        let mut out = Vec::new();
        d.transmit(Instant::ZERO, vec![0; 101], true, &mut out);
        d.transmit(Instant::ZERO, vec![0; 100], true, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(d.stats().dropped_mtu, 1);
    }

    #[test]
    fn bandwidth_serializes_and_queue_drops_tail() {
        // 8 Mbit/s: 1000 bytes take 1 ms; room for 2500 queued bytes.
        let cfg = LinkConfig {
            latency: Duration::ZERO,
            bandwidth_bps: Some(8_000_000),
            queue_limit_bytes: 2500,
            ..LinkConfig::default()
        };
        let mut d = LinkDirection::new(cfg, SimRng::new(1, 1));
        let out = packets(&mut d, 5, 1000, Duration::ZERO, true);
        let times: Vec<u64> = out.iter().map(|s| s.at.as_micros()).collect();
        assert_eq!(times, vec![1000, 2000]);
        assert_eq!(d.stats().dropped_queue, 3);
    }

    #[test]
    fn loss_rate_is_roughly_right_and_faults_can_be_switched_off() {
        let mut d = LinkDirection::new(LinkConfig { loss: 0.3, ..LinkConfig::default() }, SimRng::new(9, 1));
        let out = packets(&mut d, 10_000, 60, Duration::from_micros(1), true);
        assert!((6500..7500).contains(&out.len()), "{} delivered", out.len());
        let out = packets(&mut d, 1000, 60, Duration::from_micros(1), false);
        assert_eq!(out.len(), 1000);
    }

    #[test]
    fn partitions_drop_everything_inside_the_interval() {
        let cfg = LinkConfig {
            partitions: vec![(Instant::from_millis(2), Instant::from_millis(5))],
            ..LinkConfig::default()
        };
        let mut d = LinkDirection::new(cfg, SimRng::new(1, 1));
        let out = packets(&mut d, 10, 60, Duration::from_millis(1), true);
        assert_eq!(out.len(), 7);
        assert_eq!(d.stats().dropped_partition, 3);
    }

    #[test]
    fn burst_loss_comes_in_runs() {
        let ge = GilbertElliott { p_good_to_bad: 0.01, p_bad_to_good: 0.1, loss_in_bad: 1.0 };
        let mut d = LinkDirection::new(LinkConfig { burst: Some(ge), ..LinkConfig::default() }, SimRng::new(3, 1));
        let out = packets(&mut d, 20_000, 60, Duration::from_micros(1), true);
        let lost = 20_000 - out.len();
        // Stationary bad fraction 0.01 / 0.11 ≈ 9 %, mean burst 10 packets.
        assert!((1000..3000).contains(&lost), "{lost} lost");
        let mut longest = 0;
        let mut prev: Option<u8> = None;
        for s in &out {
            if let Some(p) = prev {
                longest = longest.max(s.packet[0].wrapping_sub(p));
            }
            prev = Some(s.packet[0]);
        }
        assert!(longest >= 10, "longest gap {longest}");
    }

    #[test]
    fn reorder_duplicate_corrupt_are_counted() {
        let cfg = LinkConfig { reorder: 0.2, duplicate: 0.1, corrupt: 0.1, ..LinkConfig::default() };
        let mut d = LinkDirection::new(cfg, SimRng::new(5, 1));
        let out = packets(&mut d, 1000, 60, Duration::from_micros(100), true);
        let s = *d.stats();
        assert_eq!(out.len() as u64, 1000 + s.duplicated);
        assert!(s.reordered > 100 && s.duplicated > 50 && s.corrupted > 50, "{s:?}");
        assert_eq!(out.iter().filter(|p| p.corrupted).count() as u64, s.corrupted);
        let mut sorted: Vec<u64> = out.iter().map(|p| p.at.as_micros()).collect();
        let before = sorted.clone();
        sorted.sort();
        assert_ne!(before, sorted, "reordering moved nothing");
    }

    #[test]
    fn bit_flips_change_one_word_only() {
        let mut rng = SimRng::new(11, 0);
        for len in [1usize, 2, 3, 40, 41] {
            for _ in 0..200 {
                let orig: Vec<u8> = (0..len as u8).collect();
                let mut p = orig.clone();
                flip_bits(&mut rng, &mut p);
                let changed: Vec<usize> = (0..len).filter(|&i| p[i] != orig[i]).collect();
                assert!(!changed.is_empty());
                assert!(changed.iter().all(|&i| i / 2 == changed[0] / 2), "{changed:?}");
                let bits: u32 = (0..len).map(|i| (p[i] ^ orig[i]).count_ones()).sum();
                assert!((1..=3).contains(&bits));
            }
        }
    }
}
