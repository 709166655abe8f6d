//! HyStart++ (RFC 9406): leave slow start when the RTT starts to climb, with
//! a Conservative Slow Start (CSS) phase that undoes a premature exit.
//!
//! A component, not a controller: NewReno and CUBIC both run their slow
//! start through [`HyStart::slow_start`], which applies RFC 5681 slow start
//! (L = 1 SMSS) when HyStart++ is off or no longer applies, and RFC 9406
//! §4.2 otherwise.
//!
//! HyStart++ runs only during the initial slow start, while ssthresh still
//! holds its initial, arbitrarily high value (RFC 9406 §4.2: "An
//! implementation SHOULD use HyStart++ only for the initial slow start ...
//! and fall back to using standard slow start for the remainder of the
//! connection lifetime"). A congestion event or an RTO sets ssthresh, which
//! is how a loss during slow start or CSS ends HyStart++ (RFC 9406 §4.3:
//! the sender "exits slow start and CSS and enters loss recovery"). Should
//! that event be undone and ssthresh restored to its initial value,
//! HyStart++ picks up where it stood.
//!
//! A round's minimum RTT folds in every sample of the round, and the round
//! is judged on each ACK once it has N_RTT_SAMPLE samples, as in RFC 9406
//! §4.2's pseudocode. (Judging only the first N_RTT_SAMPLE samples, as
//! Linux does, was tried: the exit test comes out the same, since the
//! minimum only falls, but CSS is then left on the next round's first
//! samples, and in the simulator that variant overshot more often.)

use super::AckEvent;
use crate::seq::SeqNum;
use crate::time::Duration;

/// RFC 9406 §4.1: lower bound of the RTT increase that ends slow start (µs).
pub const MIN_RTT_THRESH_US: u32 = 4_000;
/// RFC 9406 §4.1: upper bound of that RTT increase (µs).
pub const MAX_RTT_THRESH_US: u32 = 16_000;
/// RFC 9406 §4.1: the threshold is the last round's minimum RTT over this.
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.1: RTT samples a round needs before it is judged.
pub const N_RTT_SAMPLE: u8 = 8;
/// RFC 9406 §4.1: CSS grows the window this many times slower.
pub const CSS_GROWTH_DIVISOR: u32 = 4;
/// RFC 9406 §4.1: rounds of CSS before congestion avoidance.
pub const CSS_ROUNDS: u8 = 5;
/// RFC 9406 §4.2's L in segments: the most bytes one ACK may add to the
/// window in slow start (CSS adds a quarter of it).
///
/// RFC 9406 §4.1 recommends 8 for a sender that does not pace. ToyTCP keeps
/// RFC 5681's L = 1 SMSS (equation 2, RFC 3465), the limit its standard
/// slow start and packet scripts already use, so that switching HyStart++
/// on changes only when slow start ends, not how fast it grows. One
/// constant to change if the pace of slow start is to be raised.
pub const L_SEGMENTS: u32 = 1;

/// "Infinity" for the RTT fields (µs).
const INFINITY: u32 = u32::MAX;

/// What one slow-start ACK did (RFC 9406 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowStartStep {
    /// Grow cwnd by this many bytes.
    pub grow: u32,
    /// CSS_ROUNDS rounds of CSS are over: after growing, set ssthresh to
    /// cwnd and enter congestion avoidance.
    pub enter_avoidance: bool,
}

/// HyStart++ state (RFC 9406 §4.2), 24 bytes. RTTs are kept in whole
/// microseconds, saturating at about 71 minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HyStart {
    /// `config.hystart`: when false, slow start is plain RFC 5681.
    enabled: bool,
    /// RFC 9406 `rttSampleCount`, saturating.
    rtt_sample_count: u8,
    /// Rounds spent in CSS, the round CSS began in counting as the first
    /// (RFC 9406 §4.2: "that partial round counts towards the limit").
    css_rounds: u8,
    /// RFC 9406 `windowEnd`: SND.NXT when the current round began; the
    /// round ends with the ACK that covers it. `None` before the first round.
    window_end: Option<SeqNum>,
    /// RFC 9406 `lastRoundMinRTT` (µs).
    last_round_min_rtt: u32,
    /// RFC 9406 `currentRoundMinRTT` (µs).
    current_round_min_rtt: u32,
    /// RFC 9406 `cssBaselineMinRtt` (µs); infinity outside CSS.
    css_baseline_min_rtt: u32,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(INFINITY - 1)
}

impl HyStart {
    /// Fresh state; `enabled` is `config.hystart`.
    pub fn new(enabled: bool) -> Self {
        HyStart {
            enabled,
            rtt_sample_count: 0,
            css_rounds: 0,
            window_end: None,
            last_round_min_rtt: INFINITY,
            current_round_min_rtt: INFINITY,
            css_baseline_min_rtt: INFINITY,
        }
    }

    /// HyStart++ is on and governs this slow start: the initial one, while
    /// ssthresh keeps its initial value `u32::MAX`.
    pub fn applies(&self, ssthresh: u32) -> bool {
        self.enabled && ssthresh == u32::MAX
    }

    /// In Conservative Slow Start (RFC 9406 §4.2).
    pub fn in_css(&self) -> bool {
        self.css_baseline_min_rtt != INFINITY
    }

    /// RFC 9406 §4.2, at the start of each round.
    fn start_round(&mut self, snd_nxt: SeqNum) {
        self.last_round_min_rtt = self.current_round_min_rtt;
        self.current_round_min_rtt = INFINITY;
        self.rtt_sample_count = 0;
        self.window_end = Some(snd_nxt);
    }

    /// One ACK of new data while cwnd < ssthresh: how much the window
    /// grows, and whether slow start is over. The caller skips
    /// application-limited ACKs (RFC 7661 §4.3) before asking.
    ///
    /// Rounds: the first ACK opens one with `windowEnd` = SND.NXT; the ACK
    /// that covers `windowEnd` is counted in its round, then opens the next
    /// (with SND.NXT as it stands before this ACK's own sending).
    pub fn slow_start(&mut self, ack: &AckEvent, ssthresh: u32) -> SlowStartStep {
        let limit = ack.delivered.min(L_SEGMENTS.saturating_mul(ack.smss));
        if !self.applies(ssthresh) {
            // RFC 5681 §3.1 equation (2).
            return SlowStartStep { grow: limit, enter_avoidance: false };
        }
        if self.window_end.is_none() {
            self.start_round(ack.snd_nxt);
        }
        let grow = if self.in_css() { limit / CSS_GROWTH_DIVISOR } else { limit };
        if let Some(rtt) = ack.rtt {
            self.current_round_min_rtt = self.current_round_min_rtt.min(micros(rtt));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }
        if self.rtt_sample_count >= N_RTT_SAMPLE {
            if !self.in_css() {
                // The minimum only falls as samples come in, so in effect
                // the round's first N_RTT_SAMPLE samples decide.
                if self.current_round_min_rtt != INFINITY && self.last_round_min_rtt != INFINITY {
                    let thresh =
                        (self.last_round_min_rtt / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH_US, MAX_RTT_THRESH_US);
                    if self.current_round_min_rtt >= self.last_round_min_rtt.saturating_add(thresh) {
                        // Delay increase: exit slow start and enter CSS.
                        self.css_baseline_min_rtt = self.current_round_min_rtt;
                        self.css_rounds = 1;
                    }
                }
            } else if self.current_round_min_rtt < self.css_baseline_min_rtt {
                // The RTT fell back below the baseline: the exit was
                // premature, resume slow start (RFC 9406 §4.2).
                self.css_baseline_min_rtt = INFINITY;
                self.css_rounds = 0;
            }
        }
        let mut enter_avoidance = false;
        if self.window_end.is_some_and(|end| ack.snd_una >= end) {
            if self.in_css() {
                if self.css_rounds >= CSS_ROUNDS {
                    // "If CSS_ROUNDS rounds are complete, enter congestion
                    // avoidance by setting the ssthresh to the current cwnd."
                    self.css_baseline_min_rtt = INFINITY;
                    enter_avoidance = true;
                }
                self.css_rounds += 1;
            }
            self.start_round(ack.snd_nxt);
        }
        SlowStartStep { grow, enter_avoidance }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::congestion::CongestionControl;
    use crate::time::Instant;

    /// Drives a controller's slow start ACK by ACK (one ACK per `smss`,
    /// the window refilled after each), round after round, with an RTT of
    /// 100 ms for three rounds, then 20 ms more every round, until ssthresh
    /// is set or `max_rounds` have passed. Returns the time reached.
    pub(crate) fn slow_start_with_rising_rtt(cc: &mut dyn CongestionControl, smss: u32, max_rounds: u64) -> Instant {
        let mut una = SeqNum(1);
        let mut nxt = una + cc.cwnd();
        let mut now = Instant::ZERO;
        let mut round_end = nxt;
        for round in 0..max_rounds {
            let rtt = Duration::from_millis(100 + 20 * round.saturating_sub(3));
            let end = round_end;
            while una < end {
                now += Duration::from_millis(1);
                una += smss;
                cc.on_ack(&AckEvent {
                    now,
                    delivered: smss,
                    prior_in_flight: nxt - una + smss,
                    smss,
                    rtt: Some(rtt),
                    min_rtt: Some(Duration::from_millis(100)),
                    srtt: Some(rtt),
                    snd_una: una,
                    snd_nxt: nxt,
                    app_limited: false,
                });
                if una >= end {
                    round_end = nxt;
                }
                if una + cc.cwnd() > nxt {
                    nxt = una + cc.cwnd();
                }
            }
            if cc.ssthresh() != u32::MAX {
                break;
            }
        }
        now
    }

    const MSS: u32 = 1000;

    /// A slow-starting sender driven ACK by ACK: one ACK per segment, the
    /// window refilled after each. A round of this harness is a HyStart++
    /// round: it ends with the ACK that covers the SND.NXT reported by the
    /// ACK that ended the round before.
    struct Flow {
        hs: HyStart,
        cwnd: u32,
        ssthresh: u32,
        snd_una: SeqNum,
        snd_nxt: SeqNum,
        round_end: Option<SeqNum>,
        now: Instant,
    }

    impl Flow {
        fn new(enabled: bool) -> Self {
            let cwnd = 10 * MSS;
            Flow {
                hs: HyStart::new(enabled),
                cwnd,
                ssthresh: u32::MAX,
                snd_una: SeqNum(1),
                snd_nxt: SeqNum(1) + cwnd,
                round_end: None,
                now: Instant::ZERO,
            }
        }

        /// One round whose ACKs carry `rtt_ms` (`None`: no sample). Returns,
        /// per ACK, whether HyStart++ was in CSS after it.
        fn round_with(&mut self, rtt_ms: Option<u64>) -> Vec<bool> {
            let end = self.round_end.unwrap_or(self.snd_nxt);
            let mut states = Vec::new();
            while self.snd_una < end {
                self.now += Duration::from_millis(1);
                self.snd_una += MSS;
                let ack = AckEvent {
                    now: self.now,
                    delivered: MSS,
                    prior_in_flight: self.snd_nxt - self.snd_una + MSS,
                    smss: MSS,
                    rtt: rtt_ms.map(Duration::from_millis),
                    min_rtt: None,
                    srtt: None,
                    snd_una: self.snd_una,
                    snd_nxt: self.snd_nxt,
                    app_limited: false,
                };
                let step = self.hs.slow_start(&ack, self.ssthresh);
                self.cwnd += step.grow;
                if step.enter_avoidance {
                    self.ssthresh = self.cwnd;
                }
                if self.snd_una >= end {
                    self.round_end = Some(self.snd_nxt);
                }
                if self.snd_una + self.cwnd > self.snd_nxt {
                    self.snd_nxt = self.snd_una + self.cwnd;
                }
                states.push(self.hs.in_css());
            }
            states
        }

        fn round(&mut self, rtt_ms: u64) -> Vec<bool> {
            self.round_with(Some(rtt_ms))
        }
    }

    #[test]
    fn rtt_increase_enters_css_on_the_eighth_sample() {
        let mut f = Flow::new(true);
        // Round 1 sets the baseline (there is no last round to compare with).
        assert!(f.round(100).iter().all(|css| !css));
        // RttThresh = clamp(100 / 8, 4, 16) = 12.5 ms: +12 ms is not enough.
        assert!(f.round(112).iter().all(|css| !css));
        // Last round's minimum is 112 ms (threshold 14 ms): 126 ms is.
        let before = f.cwnd;
        let states = f.round(126);
        let entered = states.iter().position(|&css| css).map(|i| i + 1);
        assert_eq!(entered, Some(usize::from(N_RTT_SAMPLE)));
        assert!(states[7..].iter().all(|&css| css));
        // The first 8 ACKs grew cwnd by an SMSS each, the rest by a quarter.
        let acks = states.len() as u32;
        assert!(acks > 8);
        assert_eq!(f.cwnd, before + 8 * MSS + (acks - 8) * (MSS / CSS_GROWTH_DIVISOR));
        assert_eq!(f.ssthresh, u32::MAX);
    }

    #[test]
    fn css_lasts_css_rounds_then_sets_ssthresh() {
        let mut f = Flow::new(true);
        f.round(100);
        // CSS begins in this round, which counts as CSS round 1.
        assert!(f.round(120).last() == Some(&true));
        for n in 2..CSS_ROUNDS {
            let before = f.cwnd;
            let states = f.round(120);
            assert!(states.iter().all(|&css| css), "left CSS in CSS round {n}");
            assert_eq!(f.cwnd, before + states.len() as u32 * (MSS / CSS_GROWTH_DIVISOR));
            assert_eq!(f.ssthresh, u32::MAX);
        }
        // The ACK that ends CSS round 5 ends slow start: ssthresh = cwnd.
        let states = f.round(120);
        assert_eq!(states.last(), Some(&false));
        assert!(states[..states.len() - 1].iter().all(|&css| css));
        assert_eq!(f.ssthresh, f.cwnd);
        assert!(!f.hs.applies(f.ssthresh));
    }

    #[test]
    fn css_returns_to_slow_start_when_rtt_falls() {
        let mut f = Flow::new(true);
        f.round(100);
        f.round(120);
        assert!(f.hs.in_css());
        f.round(120);
        assert!(f.hs.in_css());
        // The RTT falls below the CSS baseline (120 ms): slow start resumes
        // once the round has N_RTT_SAMPLE samples.
        let states = f.round(110);
        assert_eq!(states.iter().position(|&css| !css).map(|i| i + 1), Some(usize::from(N_RTT_SAMPLE)));
        assert!(states[7..].iter().all(|&css| !css));
        // Back in slow start, every ACK grows cwnd by an SMSS again, and a
        // steady RTT does not end it however many rounds pass.
        for _ in 0..4 {
            let before = f.cwnd;
            let states = f.round(110);
            assert!(states.iter().all(|&css| !css));
            assert_eq!(f.cwnd, before + states.len() as u32 * MSS);
        }
        assert_eq!(f.ssthresh, u32::MAX);
    }

    #[test]
    fn rtt_thresholds_are_clamped() {
        // A 10 ms RTT: RttThresh = max(4 ms, 10/8 ms) = 4 ms.
        let mut f = Flow::new(true);
        f.round(10);
        assert!(!f.round(13).contains(&true));
        assert!(f.round(17).contains(&true));
        // A 400 ms RTT: RttThresh = min(400/8 ms, 16 ms) = 16 ms.
        let mut f = Flow::new(true);
        f.round(400);
        assert!(!f.round(415).contains(&true));
        assert!(f.round(431).contains(&true));
    }

    #[test]
    fn disabled_or_after_a_loss_is_plain_slow_start() {
        for enabled in [false, true] {
            let mut f = Flow::new(enabled);
            if enabled {
                // A congestion event set ssthresh: HyStart++ no longer applies.
                f.ssthresh = 1 << 30;
            }
            for rtt in [100, 200, 400, 800, 1600] {
                let before = f.cwnd;
                let states = f.round(rtt);
                assert!(states.iter().all(|&css| !css));
                assert_eq!(f.cwnd, before + states.len() as u32 * MSS);
            }
        }
    }

    #[test]
    fn rounds_without_enough_samples_are_not_judged() {
        // ACKs that yield no RTT sample (Karn) do not count: no exit
        // however much the RTT grows in between.
        let mut f = Flow::new(true);
        f.round(100);
        f.round_with(None);
        f.round(100);
        f.round_with(None);
        assert!(!f.round(300).contains(&true));
        // Seven samples are not enough either; the eighth decides.
        let mut hs = HyStart::new(true);
        let ack = |una: u32, nxt: u32, rtt: u64| AckEvent {
            now: Instant::ZERO,
            delivered: MSS,
            prior_in_flight: 0,
            smss: MSS,
            rtt: Some(Duration::from_millis(rtt)),
            min_rtt: None,
            srtt: None,
            snd_una: SeqNum(una * MSS),
            snd_nxt: SeqNum(nxt * MSS),
            app_limited: false,
        };
        // Round 1 (window end 10) holds two samples of 100 ms.
        hs.slow_start(&ack(1, 10, 100), u32::MAX);
        hs.slow_start(&ack(10, 20, 100), u32::MAX);
        for una in 11..=17 {
            hs.slow_start(&ack(una, 30, 300), u32::MAX);
            assert!(!hs.in_css());
        }
        hs.slow_start(&ack(18, 30, 300), u32::MAX);
        assert!(hs.in_css());
    }
}
