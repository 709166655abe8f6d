//! Printing segments back in script syntax, and comparing them.
//!
//! Failure messages show the expected and the actual segment in the very
//! syntax the script uses, so `Display` here is the inverse of the parser.

use super::ast::{OptionsSpec, SegmentSpec, TcpOpt, Wild, flag};
use std::fmt;

/// A relative sequence number as scripts write it: small numbers as they
/// are, numbers "behind" the base (≥ 2^31) as negatives (`-1000`).
pub fn rel(n: u32) -> String {
    if n >= 1 << 31 { (n as i32).to_string() } else { n.to_string() }
}

/// Flags in tcpdump letters (`S.`, `FP.`, `R`); `none` when no bit is set.
pub fn flags(bits: u8) -> String {
    let s: String = flag::LETTERS.iter().filter(|(b, _)| bits & b != 0).map(|(_, c)| *c).collect();
    if s.is_empty() { "none".to_string() } else { s }
}

/// Virtual time in seconds: `1.040` (or `1.040250` when it has microseconds).
pub fn time(micros: u64) -> String {
    let (s, us) = (micros / 1_000_000, micros % 1_000_000);
    if us.is_multiple_of(1000) { format!("{s}.{:03}", us / 1000) } else { format!("{s}.{us:06}") }
}

/// A duration in the unit that writes it shortest: `1s`, `40ms`, `250us`.
pub fn duration(micros: u64) -> String {
    if micros != 0 && micros.is_multiple_of(1_000_000) {
        format!("{}s", micros / 1_000_000)
    } else if micros.is_multiple_of(1000) {
        format!("{}ms", micros / 1000)
    } else {
        format!("{micros}us")
    }
}

impl fmt::Display for Wild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wild::Any => f.write_str("*"),
            Wild::Is(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for TcpOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOpt::Nop => f.write_str("nop"),
            TcpOpt::Eol => f.write_str("eol"),
            TcpOpt::Mss(n) => write!(f, "mss {n}"),
            TcpOpt::WindowScale(n) => write!(f, "wscale {n}"),
            TcpOpt::SackPermitted => f.write_str("sackOK"),
            TcpOpt::Timestamps { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOpt::Sack(blocks) => {
                f.write_str("sack")?;
                for (l, r) in blocks {
                    write!(f, " {}:{}", rel(*l), rel(*r))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for OptionsSpec {
    /// `<mss 1460,nop,wscale 7>`, `<...>`, or nothing for an empty list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionsSpec::Any => f.write_str("<...>"),
            OptionsSpec::List(list) if list.is_empty() => Ok(()),
            OptionsSpec::List(list) => {
                f.write_str("<")?;
                for (i, o) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{o}")?;
                }
                f.write_str(">")
            }
        }
    }
}

impl fmt::Display for SegmentSpec {
    /// `S. 0:0(0) ack 1 win 65535 <mss 1460>` — without the direction.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.seq.wrapping_add(self.len);
        write!(f, "{} {}:{}({})", flags(self.flags), rel(self.seq), rel(end), self.len)?;
        if let Some(a) = self.ack {
            write!(f, " ack {}", rel(a))?;
        }
        if let Some(w) = self.win {
            write!(f, " win {w}")?;
        }
        if let Some(u) = self.urg {
            write!(f, " urg {u}")?;
        }
        if self.options != OptionsSpec::List(Vec::new()) {
            write!(f, " {}", self.options)?;
        }
        if let Some(p) = self.local_port {
            write!(f, " lport {p}")?;
        }
        if let Some(p) = self.remote_port {
            write!(f, " rport {p}")?;
        }
        if self.bad_checksum {
            f.write_str(" bad_csum")?;
        }
        Ok(())
    }
}

/// Which option a [`TcpOpt`] is, ignoring its value.
fn kind(o: &TcpOpt) -> u8 {
    match o {
        TcpOpt::Eol => 0,
        TcpOpt::Nop => 1,
        TcpOpt::Mss(_) => 2,
        TcpOpt::WindowScale(_) => 3,
        TcpOpt::SackPermitted => 4,
        TcpOpt::Sack(_) => 5,
        TcpOpt::Timestamps { .. } => 8,
    }
}

/// Lays out `actual` options like `expected` for printing: same order, the
/// same `nop`s, then whatever `expected` did not mention. When the two match
/// they then print identically, and a real difference stands out.
pub fn layout_like(actual: Vec<TcpOpt>, expected: &OptionsSpec) -> Vec<TcpOpt> {
    let OptionsSpec::List(template) = expected else {
        return actual;
    };
    let mut rest = actual;
    let mut out = Vec::new();
    for t in template {
        match t {
            TcpOpt::Nop | TcpOpt::Eol => out.push(t.clone()),
            _ => {
                if let Some(i) = rest.iter().position(|a| kind(a) == kind(t)) {
                    out.push(rest.remove(i));
                }
            }
        }
    }
    out.extend(rest);
    out
}

/// Whether an actual option list satisfies an expected one: same options
/// with the same values, `*` matching any value, `nop`/`eol` and order
/// ignored.
pub fn options_match(expected: &OptionsSpec, actual: &[TcpOpt]) -> bool {
    let OptionsSpec::List(expected) = expected else {
        return true;
    };
    let significant = |list: &[TcpOpt]| -> Vec<TcpOpt> {
        let mut v: Vec<TcpOpt> = list.iter().filter(|o| !matches!(o, TcpOpt::Nop | TcpOpt::Eol)).cloned().collect();
        v.sort_by_key(kind);
        v
    };
    let (e, a) = (significant(expected), significant(actual));
    e.len() == a.len() && e.iter().zip(&a).all(|(e, a)| option_matches(e, a))
}

fn option_matches(expected: &TcpOpt, actual: &TcpOpt) -> bool {
    let wild = |e: &Wild, a: &Wild| matches!(e, Wild::Any) || e == a;
    match (expected, actual) {
        (TcpOpt::Timestamps { val: ev, ecr: ee }, TcpOpt::Timestamps { val: av, ecr: ae }) => {
            wild(ev, av) && wild(ee, ae)
        }
        (e, a) => e == a,
    }
}

/// Names of the fields in which `actual` fails to satisfy `expected`
/// (`flags`, `seq`, `len`, `ack`, `win`, `urg`, `options`). Fields that
/// `expected` leaves open (`win`, `urg`, `ack` without the ACK bit, `<...>`)
/// are not compared. Ports and payload bytes are the runner's business.
pub fn differences(expected: &SegmentSpec, actual: &SegmentSpec) -> Vec<&'static str> {
    let mut d = Vec::new();
    if expected.flags != actual.flags {
        d.push("flags");
    }
    if expected.seq != actual.seq {
        d.push("seq");
    }
    if expected.len != actual.len {
        d.push("len");
    }
    if expected.ack.is_some() && expected.ack != actual.ack {
        d.push("ack");
    }
    if expected.win.is_some() && expected.win != actual.win {
        d.push("win");
    }
    if expected.urg.is_some() && expected.urg != actual.urg {
        d.push("urg");
    }
    let actual_opts = match &actual.options {
        OptionsSpec::List(l) => l.as_slice(),
        OptionsSpec::Any => &[],
    };
    if !options_match(&expected.options, actual_opts) {
        d.push("options");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, len: u32, options: OptionsSpec) -> SegmentSpec {
        SegmentSpec {
            flags,
            seq,
            len,
            ack: Some(1),
            win: Some(65535),
            urg: None,
            options,
            local_port: None,
            remote_port: None,
            bad_checksum: false,
        }
    }

    #[test]
    fn prints_in_script_syntax() {
        let s = seg(
            flag::SYN | flag::ACK,
            0,
            0,
            OptionsSpec::List(vec![
                TcpOpt::Mss(1460),
                TcpOpt::SackPermitted,
                TcpOpt::Timestamps { val: Wild::Any, ecr: Wild::Is(100) },
                TcpOpt::Nop,
                TcpOpt::WindowScale(7),
            ]),
        );
        assert_eq!(s.to_string(), "S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val * ecr 100,nop,wscale 7>");
        let mut d = seg(flag::FIN | flag::PSH | flag::ACK, 1, 100, OptionsSpec::Any);
        d.win = None;
        d.remote_port = Some(40001);
        assert_eq!(d.to_string(), "FP. 1:101(100) ack 1 <...> rport 40001");
        let r = seg(flag::RST, u32::MAX - 999, 0, OptionsSpec::List(vec![]));
        assert_eq!(r.to_string(), "R -1000:-1000(0) ack 1 win 65535");
        assert_eq!(flags(0), "none");
        assert_eq!(time(1_040_000), "1.040");
        assert_eq!(time(1_040_001), "1.040001");
        assert_eq!(duration(40_000), "40ms");
        assert_eq!(duration(2_000_000), "2s");
        assert_eq!(duration(0), "0ms");
    }

    #[test]
    fn options_compare_by_meaning() {
        let want = OptionsSpec::List(vec![
            TcpOpt::Mss(1460),
            TcpOpt::Nop,
            TcpOpt::Timestamps { val: Wild::Any, ecr: Wild::Is(7) },
        ]);
        let got = vec![TcpOpt::Timestamps { val: Wild::Is(123), ecr: Wild::Is(7) }, TcpOpt::Mss(1460)];
        assert!(options_match(&want, &got));
        assert!(!options_match(&want, &got[..1]));
        let bad_ecr = vec![TcpOpt::Timestamps { val: Wild::Is(1), ecr: Wild::Is(8) }, TcpOpt::Mss(1460)];
        assert!(!options_match(&want, &bad_ecr));
        assert!(options_match(&OptionsSpec::Any, &got));
        assert!(!options_match(&OptionsSpec::List(vec![]), &got));
        assert_eq!(
            layout_like(got, &want),
            vec![TcpOpt::Mss(1460), TcpOpt::Nop, TcpOpt::Timestamps { val: Wild::Is(123), ecr: Wild::Is(7) }]
        );
    }

    #[test]
    fn differences_skip_open_fields() {
        let mut want = seg(flag::ACK, 1, 0, OptionsSpec::List(vec![]));
        want.win = None;
        let mut got = seg(flag::ACK, 1, 0, OptionsSpec::List(vec![]));
        got.win = Some(1234);
        assert!(differences(&want, &got).is_empty());
        got.seq = 2;
        got.options = OptionsSpec::List(vec![TcpOpt::Mss(536)]);
        assert_eq!(differences(&want, &got), vec!["seq", "options"]);
    }
}
