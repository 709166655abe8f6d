//! Script text → [`Script`]. Every problem is a [`ParseError`] carrying the
//! line number; nothing here panics, whatever the input.
//!
//! The grammar is documented for script writers in `tests/scripts/README.md`.
//! In short, each non-blank line (after stripping `//` comments) is either
//! a header directive (before the first timed line) or
//! `TIME STEP`, where TIME is `1.5` (absolute seconds) or `+0.2` (relative to
//! the previous line), optionally with a unit (`+40ms`).

use super::ast::*;
use std::fmt;
use std::net::Ipv4Addr;

/// A script that cannot be parsed: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

type Res<T> = Result<T, String>;

/// Parses a whole script.
pub fn parse(text: &str) -> Result<Script, ParseError> {
    let mut header = Header::default();
    let mut lines: Vec<Line> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let code = strip_comment(raw).trim();
        if code.is_empty() {
            continue;
        }
        let at_line = |message: String| ParseError { line: number, message };
        if code.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '.') {
            let (time_word, rest) = split_word(code);
            let previous = lines.last().map(|l| l.time);
            let time = parse_line_time(time_word, previous).map_err(at_line)?;
            let step = parse_step(rest).map_err(at_line)?;
            lines.push(Line { number, time, source: code.to_string(), step });
        } else if lines.is_empty() {
            parse_directive(code, number, &mut header).map_err(at_line)?;
        } else {
            return Err(at_line(format!("`{code}` has no time; header directives belong before the first timed line")));
        }
    }
    Ok(Script { header, lines })
}

fn strip_comment(line: &str) -> &str {
    line.find("//").map_or(line, |i| &line[..i])
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

// ---------------------------------------------------------------- numbers

fn parse_num<T: std::str::FromStr>(what: &str, s: Option<&str>) -> Res<T> {
    let s = s.ok_or_else(|| format!("`{what}` needs a value"))?;
    s.parse::<T>().map_err(|_| format!("`{what}`: `{s}` is not a valid {}", std::any::type_name::<T>()))
}

/// A sequence/ack number relative to some base; negatives wrap (`-1000`).
fn parse_rel(s: &str) -> Res<u32> {
    let n: i64 = s.parse().map_err(|_| format!("`{s}` is not a sequence number"))?;
    if !(i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n) {
        return Err(format!("sequence number `{s}` is out of range"));
    }
    Ok(n as u32)
}

/// `1.5`, `.04`, `40ms`, `250us` → microseconds. Without a unit the value
/// is in `default_unit` (microseconds per unit), or an error if `None`.
pub fn parse_micros(s: &str, default_unit: Option<u64>) -> Res<u64> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let unit_micros: u64 = match unit {
        "" => default_unit.ok_or_else(|| format!("`{s}` needs a unit: s, ms or us"))?,
        "s" => 1_000_000,
        "ms" => 1000,
        "us" | "µs" => 1,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use s, ms or us)")),
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits_ok(int) || !digits_ok(frac) || frac.len() > 9 {
        return Err(format!("`{s}` is not a time (examples: 1.5, +0.04, 40ms)"));
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| format!("`{s}` is too large"))? };
    let frac_val: u128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| format!("`{s}` is not a time"))? };
    let scale = 10u128.pow(frac.len() as u32);
    let scaled = (int * scale + frac_val) * u128::from(unit_micros);
    if !scaled.is_multiple_of(scale) {
        return Err(format!("`{s}` is finer than the 1 µs resolution of virtual time"));
    }
    u64::try_from(scaled / scale).map_err(|_| format!("`{s}` is too large"))
}

fn parse_line_time(word: &str, previous: Option<u64>) -> Res<u64> {
    let (relative, number) = match word.strip_prefix('+') {
        Some(n) => (true, n),
        None => (false, word),
    };
    let micros = parse_micros(number, Some(MICROS_PER_SEC))?;
    let base = previous.unwrap_or(0);
    let time = if relative { base.checked_add(micros).ok_or("time overflows")? } else { micros };
    if time < base {
        return Err(format!(
            "time {word} is before the previous line's {}; times never go backwards",
            super::format::time(base)
        ));
    }
    Ok(time)
}

fn parse_on_off(what: &str, s: Option<&str>) -> Res<bool> {
    match s {
        Some("on") => Ok(true),
        Some("off") => Ok(false),
        other => Err(format!("`{what}` takes `on` or `off`, got `{}`", other.unwrap_or(""))),
    }
}

// ---------------------------------------------------------------- directives

fn parse_directive(code: &str, number: usize, h: &mut Header) -> Res<()> {
    let mut words = code.split_whitespace();
    let name = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let one = |what: &str| -> Res<&str> {
        match args.as_slice() {
            [a] => Ok(a),
            _ => Err(format!("`{what}` takes exactly one value")),
        }
    };
    match name {
        "config" => {
            if args.is_empty() {
                return Err("`config` needs at least one key=value".into());
            }
            for a in &args {
                match a.split_once('=') {
                    Some((k, v)) if !k.is_empty() && !v.is_empty() => {
                        h.config.push(Setting { line: number, key: k.to_string(), value: v.to_string() })
                    }
                    _ => return Err(format!("`config`: `{a}` is not key=value")),
                }
            }
        }
        "local" => h.local_addr = parse_num("local", Some(one("local")?))?,
        "remote" => h.remote_addr = parse_num("remote", Some(one("remote")?))?,
        "local_port" => h.local_port = Some(parse_num("local_port", Some(one("local_port")?))?),
        "remote_port" => h.remote_port = parse_num("remote_port", Some(one("remote_port")?))?,
        "iss" => h.iss = parse_num("iss", Some(one("iss")?))?,
        "remote_iss" => h.remote_iss = parse_num("remote_iss", Some(one("remote_iss")?))?,
        "tolerance" => h.tolerance = parse_micros(one("tolerance")?, None)?,
        _ => {
            return Err(format!(
                "unknown directive `{name}` (directives: config, local, remote, local_port, remote_port, \
                 iss, remote_iss, tolerance; timed lines start with a time such as `0` or `+0.1`)"
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- steps

fn parse_step(rest: &str) -> Res<Step> {
    if let Some(seg) = rest.strip_prefix('<') {
        let (first, hex) = split_word(seg);
        if first == "raw" {
            return Ok(Step::InjectRaw(parse_hex(hex)?));
        }
        if first == "icmp" {
            return parse_icmp(hex).map(Step::InjectIcmp);
        }
        return Ok(Step::Inject(parse_segment(seg, Direction::Inbound)?));
    }
    if let Some(seg) = rest.strip_prefix('>') {
        return Ok(Step::Expect(parse_segment(seg, Direction::Outbound)?));
    }
    let (command, args) = split_word(rest);
    match command {
        "" => Err("a time must be followed by `<`, `>`, `quiet`, `expect …` or an application call".into()),
        "quiet" if args.is_empty() => Ok(Step::Quiet),
        "quiet" => Err("`quiet` takes no arguments".into()),
        "expect" => parse_expect(args),
        _ => parse_call(rest).map(Step::Call),
    }
}

/// `KIND [mtu N] [seq ±D]` after `< icmp`.
fn parse_icmp(text: &str) -> Res<IcmpSpec> {
    let mut words = text.split_whitespace();
    let name = words.next().ok_or("`< icmp` needs a kind, e.g. `port-unreachable` or `frag-needed mtu 1400`")?;
    let kind = ICMP_KINDS
        .iter()
        .find(|&&k| k == name)
        .ok_or_else(|| format!("`< icmp {name}`: unknown kind; one of {}", ICMP_KINDS.join(", ")))?;
    let mut spec = IcmpSpec { kind, mtu: 0, seq_delta: 0 };
    while let Some(word) = words.next() {
        let value = words.next().ok_or_else(|| format!("`< icmp`: `{word}` needs a value"))?;
        match word {
            "mtu" if *kind == "frag-needed" => {
                spec.mtu = value.parse().map_err(|_| format!("`< icmp`: bad mtu `{value}`"))?;
            }
            "seq" => {
                spec.seq_delta =
                    value.trim_start_matches('+').parse().map_err(|_| format!("`< icmp`: bad seq `{value}`"))?;
            }
            _ => return Err(format!("`< icmp {kind}`: unexpected `{word}` (`mtu N` for frag-needed, `seq ±D`)")),
        }
    }
    Ok(spec)
}

fn parse_hex(s: &str) -> Res<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err("`< raw` needs an even number of hex digits (a whole IPv4 packet)".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(text, 16).map_err(|_| format!("`< raw`: `{text}` is not a hex byte"))
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Inbound,
    Outbound,
}

/// `FLAGS START:END(LEN) [ack N] [win N] [urg N] [<OPTIONS>] [lport N] [rport N] [bad_csum]`
fn parse_segment(text: &str, dir: Direction) -> Res<SegmentSpec> {
    let (head, options_text, tail) = split_options(text)?;
    let mut words = head.split_whitespace().chain(tail.split_whitespace());
    let flags_word = words.next().ok_or("missing flags (S, S., ., P., F., R, …)")?;
    let flags = parse_flags(flags_word)?;
    let seq_word = words.next().ok_or("missing START:END(LEN) after the flags")?;
    let (seq, len) = parse_seq_range(seq_word)?;
    let mut spec = SegmentSpec {
        flags,
        seq,
        len,
        ack: None,
        win: (dir == Direction::Inbound).then_some(65535),
        urg: None,
        options: match options_text {
            None => OptionsSpec::List(Vec::new()),
            Some(o) => parse_options(o, dir)?,
        },
        local_port: None,
        remote_port: None,
        bad_checksum: false,
    };
    let mut seen: Vec<&str> = Vec::new();
    while let Some(word) = words.next() {
        if seen.contains(&word) {
            return Err(format!("`{word}` given twice"));
        }
        seen.push(word);
        match word {
            "ack" => spec.ack = Some(parse_rel(words.next().ok_or("`ack` needs a number")?)?),
            "win" => spec.win = Some(parse_num("win", words.next())?),
            "urg" => spec.urg = Some(parse_num("urg", words.next())?),
            "lport" => spec.local_port = Some(parse_num("lport", words.next())?),
            "rport" => spec.remote_port = Some(parse_num("rport", words.next())?),
            "bad_csum" if dir == Direction::Inbound => spec.bad_checksum = true,
            "bad_csum" => return Err("`bad_csum` only makes sense on `<` lines".into()),
            _ => {
                return Err(format!(
                    "unexpected `{word}` in a segment (expected ack, win, urg, <options>, lport, rport{})",
                    if dir == Direction::Inbound { ", bad_csum" } else { "" }
                ));
            }
        }
    }
    if flags & flag::ACK != 0 && spec.ack.is_none() {
        return Err("the ACK flag (`.`) is set but there is no `ack N`".into());
    }
    Ok(spec)
}

/// Splits `head <options> tail`; options never contain `<` or `>`.
fn split_options(text: &str) -> Res<(&str, Option<&str>, &str)> {
    let Some(open) = text.find('<') else {
        if text.contains('>') {
            return Err("`>` without a matching `<`".into());
        }
        return Ok((text, None, ""));
    };
    let close = text[open..].find('>').map(|i| open + i).ok_or("option list `<…` is not closed with `>`")?;
    let tail = &text[close + 1..];
    if text[..open].contains('>') || tail.contains(['<', '>']) {
        return Err("a segment has at most one option list `<…>`".into());
    }
    Ok((&text[..open], Some(&text[open + 1..close]), tail))
}

/// tcpdump letters: `S`, `S.`, `.`, `P.`, `F.`, `FP.`, `R`, `R.`, `U`, `E`, `W`; or `none`.
fn parse_flags(word: &str) -> Res<u8> {
    if word == "none" {
        return Ok(0);
    }
    let mut bits = 0u8;
    for c in word.chars() {
        let bit =
            flag::LETTERS.iter().find(|(_, l)| *l == c).map(|(b, _)| *b).ok_or_else(|| {
                format!("`{word}` is not a flag set: use tcpdump letters S F R P U E W and `.` for ACK")
            })?;
        if bits & bit != 0 {
            return Err(format!("flag `{c}` repeated in `{word}`"));
        }
        bits |= bit;
    }
    Ok(bits)
}

/// `START:END(LEN)` with END = START + LEN.
fn parse_seq_range(word: &str) -> Res<(u32, u32)> {
    let bad = || format!("`{word}` is not START:END(LEN), e.g. 1:101(100)");
    let (range, len) = word.strip_suffix(')').and_then(|w| w.split_once('(')).ok_or_else(bad)?;
    let (start, end) = range.split_once(':').ok_or_else(bad)?;
    let (start, end) = (parse_rel(start)?, parse_rel(end)?);
    let len: u32 = len.parse().map_err(|_| bad())?;
    if start.wrapping_add(len) != end {
        return Err(format!("`{word}`: END must be START + LEN"));
    }
    Ok((start, len))
}

/// The text between `<` and `>`: `...`, or a comma-separated list of
/// `nop`, `eol`, `mss N`, `wscale N`, `sackOK`, `TS val N ecr N`, `sack L:R …`.
fn parse_options(text: &str, dir: Direction) -> Res<OptionsSpec> {
    if text.trim() == "..." {
        return match dir {
            Direction::Outbound => Ok(OptionsSpec::Any),
            Direction::Inbound => Err("`<...>` (any options) only makes sense on `>` lines".into()),
        };
    }
    let mut list = Vec::new();
    for item in text.split(',') {
        let words: Vec<&str> = item.split_whitespace().collect();
        let opt = match words.as_slice() {
            ["nop"] => TcpOpt::Nop,
            ["eol"] => TcpOpt::Eol,
            ["sackOK" | "sackok"] => TcpOpt::SackPermitted,
            ["mss", n] => TcpOpt::Mss(parse_num("mss", Some(n))?),
            ["wscale", n] => TcpOpt::WindowScale(parse_num("wscale", Some(n))?),
            ["TS" | "ts", "val", v, "ecr", e] => {
                TcpOpt::Timestamps { val: parse_wild(v, dir)?, ecr: parse_wild(e, dir)? }
            }
            ["sack", blocks @ ..] if !blocks.is_empty() => {
                let parse_block = |b: &&str| -> Res<(u32, u32)> {
                    let (l, r) = b.split_once(':').ok_or_else(|| format!("SACK block `{b}` is not LEFT:RIGHT"))?;
                    Ok((parse_rel(l)?, parse_rel(r)?))
                };
                if blocks.len() > 4 {
                    return Err("at most 4 SACK blocks fit in a segment".into());
                }
                TcpOpt::Sack(blocks.iter().map(parse_block).collect::<Res<_>>()?)
            }
            _ => {
                return Err(format!(
                    "unknown option `{}` (options: nop, eol, mss N, wscale N, sackOK, TS val N ecr N, sack L:R …)",
                    item.trim()
                ));
            }
        };
        if !matches!(opt, TcpOpt::Nop | TcpOpt::Eol)
            && list.iter().any(|o| std::mem::discriminant(o) == std::mem::discriminant(&opt))
        {
            return Err(format!("option `{opt}` given twice"));
        }
        list.push(opt);
    }
    Ok(OptionsSpec::List(list))
}

fn parse_wild(s: &str, dir: Direction) -> Res<Wild> {
    match (s, dir) {
        ("*", Direction::Outbound) => Ok(Wild::Any),
        ("*", Direction::Inbound) => Err("`*` only makes sense on `>` lines".into()),
        _ => Ok(Wild::Is(parse_num("TS", Some(s))?)),
    }
}

// ---------------------------------------------------------------- calls

fn parse_call(text: &str) -> Res<Call> {
    let (call, outcome) = match text.split_once("->") {
        Some((c, o)) => (c.trim(), Some(parse_outcome(o.trim())?)),
        None => (text, None),
    };
    let words: Vec<&str> = call.split_whitespace().collect();
    let op = match words.as_slice() {
        ["listen", port] => Op::Listen { port: parse_num("listen", Some(port))?, backlog: 16 },
        ["listen", port, "backlog", n] => {
            Op::Listen { port: parse_num("listen", Some(port))?, backlog: parse_num("backlog", Some(n))? }
        }
        ["accept"] => Op::Accept { port: None },
        ["accept", port] => Op::Accept { port: Some(parse_num("accept", Some(port))?) },
        ["connect", target] => parse_connect(target, None)?,
        ["connect", target, "from", port] => parse_connect(target, Some(parse_num("from", Some(port))?))?,
        ["send", n] => Op::Send(parse_num("send", Some(n))?),
        ["recv", n] => match parse_num::<usize>("recv", Some(n))? {
            0 => return Err("`recv 0` reads nothing; use `expect recv_eof` for end of stream".into()),
            n => Op::Recv(n),
        },
        ["shutdown"] => Op::Shutdown,
        ["close"] => Op::Close,
        ["abort"] => Op::Abort,
        ["nodelay", v] => Op::NoDelay(parse_on_off("nodelay", Some(v))?),
        ["use", n] => match parse_num::<usize>("use", Some(n))? {
            0 => return Err("connections are numbered from 1".into()),
            n => Op::Use(n),
        },
        _ => {
            return Err(format!(
                "unknown step `{call}` (steps: < SEGMENT, > SEGMENT, quiet, expect …, listen PORT, accept, \
                 connect [ADDR:]PORT [from PORT], send N, recv N, shutdown, close, abort, nodelay on|off, use N)"
            ));
        }
    };
    if let Some(o) = &outcome {
        let fits = match o {
            Outcome::Error(_) => !matches!(op, Op::Use(_)),
            Outcome::Ok => !matches!(op, Op::Use(_) | Op::Accept { .. }),
            Outcome::Count(_) => matches!(op, Op::Send(_) | Op::Recv(_)),
            Outcome::Eof => matches!(op, Op::Recv(_)),
            Outcome::Nothing => matches!(op, Op::Accept { .. }),
        };
        if !fits {
            return Err(format!("`{call}` cannot have outcome `-> {}`", outcome_text(o)));
        }
    }
    Ok(Call { op, outcome })
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Count(n) => n.to_string(),
        Outcome::Eof => "eof".into(),
        Outcome::Nothing => "none".into(),
        Outcome::Error(e) => e.clone(),
    }
}

fn parse_outcome(s: &str) -> Res<Outcome> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(format!("`-> {s}`: an outcome is one word: a count, ok, eof, none or an error name"));
    }
    Ok(match s {
        "ok" => Outcome::Ok,
        "eof" => Outcome::Eof,
        "none" => Outcome::Nothing,
        _ if s.starts_with(|c: char| c.is_ascii_digit()) => Outcome::Count(parse_num("->", Some(s))?),
        _ => Outcome::Error(s.to_string()),
    })
}

fn parse_connect(target: &str, from: Option<u16>) -> Res<Op> {
    let (addr, port) = match target.rsplit_once(':') {
        Some((a, p)) => (Some(parse_num::<Ipv4Addr>("connect", Some(a))?), p),
        None => (None, target),
    };
    Ok(Op::Connect { addr, port: parse_num("connect", Some(port))?, from })
}

fn parse_expect(args: &str) -> Res<Step> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let check = match words.as_slice() {
        ["state", name] => Check::State(name.to_string()),
        ["event", "none"] => Check::Event(None),
        ["event", name] => Check::Event(Some(name.to_string())),
        [kind @ ("stat" | "endpoint_stat"), name, rest @ ..] => {
            let (op, value) = match rest {
                [value] => (CmpOp::Eq, value),
                [op, value] => {
                    (CmpOp::from_symbol(op).ok_or_else(|| format!("`{op}` is not one of == != < <= > >="))?, value)
                }
                _ => return Err(format!("`expect {kind}` takes NAME [OP] VALUE")),
            };
            let (name, value) = (name.to_string(), value.to_string());
            if *kind == "stat" { Check::Stat { name, op, value } } else { Check::EndpointStat { name, op, value } }
        }
        ["recv_eof"] => return Ok(Step::Call(Call { op: Op::Recv(1), outcome: Some(Outcome::Eof) })),
        ["recv_err", name] => {
            return Ok(Step::Call(Call { op: Op::Recv(1), outcome: Some(Outcome::Error(name.to_string())) }));
        }
        _ => {
            return Err(format!(
                "unknown `expect {args}` (expect state NAME | event NAME | event none | stat NAME [OP] VALUE | \
                 endpoint_stat NAME [OP] VALUE | recv_eof | recv_err ERROR)"
            ));
        }
    };
    Ok(Step::Check(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_step(line: &str) -> Step {
        let script = parse(line).unwrap_or_else(|e| panic!("{e}"));
        script.lines.into_iter().next().expect("one line").step
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should not parse").to_string()
    }

    #[test]
    fn header_and_times() {
        let s = parse(
            "// a comment\n\
             config mss=536 ts=off\n\
             local 192.168.0.1\n\
             iss 4294967000   // near the wrap\n\
             remote_iss 7\n\
             tolerance 5ms\n\
             \n\
             0 listen 8080\n\
             +.1 quiet\n\
             +40ms quiet\n\
             2 quiet\n\
             +0 quiet\n",
        )
        .unwrap();
        assert_eq!(s.header.local_addr, Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(s.header.iss, 4294967000);
        assert_eq!(s.header.remote_iss, 7);
        assert_eq!(s.header.tolerance, 5000);
        assert_eq!(s.header.config.len(), 2);
        assert_eq!((s.header.config[1].key.as_str(), s.header.config[1].line), ("ts", 2));
        let times: Vec<u64> = s.lines.iter().map(|l| l.time).collect();
        assert_eq!(times, [0, 100_000, 140_000, 2_000_000, 2_000_000]);
        assert_eq!(s.lines[0].number, 8);
        assert_eq!(s.lines[0].step, Step::Call(Call { op: Op::Listen { port: 8080, backlog: 16 }, outcome: None }));
    }

    #[test]
    fn segments() {
        let Step::Inject(syn) = one_step("0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>")
        else {
            panic!()
        };
        assert_eq!(syn.flags, flag::SYN);
        assert_eq!(syn.win, Some(65535));
        assert_eq!(syn.to_string(), "S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>");

        let Step::Inject(data) = one_step("0 < P. 1:101(100) ack 1") else { panic!() };
        assert_eq!((data.seq, data.len, data.ack, data.win), (1, 100, Some(1), Some(65535)));
        assert_eq!(data.options, OptionsSpec::List(vec![]));

        let Step::Expect(synack) = one_step("0 >S. 0:0(0) ack 1 <TS val * ecr 100> rport 40001") else { panic!() };
        assert_eq!(synack.win, None);
        assert_eq!(synack.remote_port, Some(40001));
        assert_eq!(synack.to_string(), "S. 0:0(0) ack 1 <TS val * ecr 100> rport 40001");

        let Step::Expect(any) = one_step("0 > F. 1:1(0) ack 1 <...>") else { panic!() };
        assert_eq!(any.options, OptionsSpec::Any);

        let Step::Expect(rst) = one_step("0 > R -1000:-1000(0)") else { panic!() };
        assert_eq!(rst.seq, u32::MAX - 999);
        assert_eq!(rst.to_string(), "R -1000:-1000(0)");

        let Step::Inject(bad) = one_step("0 < . 1:1(0) ack 1 win 0 urg 3 bad_csum lport 9") else { panic!() };
        assert!(bad.bad_checksum);
        assert_eq!((bad.win, bad.urg, bad.local_port), (Some(0), Some(3), Some(9)));

        let Step::Inject(sack) = one_step("0 < . 1:1(0) ack 1 <nop,nop,sack 1001:2001 3001:4001>") else { panic!() };
        assert_eq!(
            sack.options,
            OptionsSpec::List(vec![TcpOpt::Nop, TcpOpt::Nop, TcpOpt::Sack(vec![(1001, 2001), (3001, 4001)])])
        );

        assert_eq!(one_step("0 < raw 45 00 0a"), Step::InjectRaw(vec![0x45, 0, 0x0a]));
        assert_eq!(
            one_step("0 < icmp frag-needed mtu 1400 seq +3"),
            Step::InjectIcmp(IcmpSpec { kind: "frag-needed", mtu: 1400, seq_delta: 3 })
        );
        assert_eq!(
            one_step("0 < icmp port-unreachable"),
            Step::InjectIcmp(IcmpSpec { kind: "port-unreachable", mtu: 0, seq_delta: 0 })
        );
    }

    #[test]
    fn calls_and_checks() {
        let call = |line: &str| match one_step(line) {
            Step::Call(c) => c,
            other => panic!("{other:?}"),
        };
        assert_eq!(call("0 send 1000 -> 500").outcome, Some(Outcome::Count(500)));
        assert_eq!(call("0 recv 10 -> eof").outcome, Some(Outcome::Eof));
        assert_eq!(call("0 shutdown -> NotConnected").outcome, Some(Outcome::Error("NotConnected".into())));
        assert_eq!(call("0 accept -> none").outcome, Some(Outcome::Nothing));
        assert_eq!(
            call("0 connect 10.0.0.2:8080 from 5555").op,
            Op::Connect { addr: Some(Ipv4Addr::new(10, 0, 0, 2)), port: 8080, from: Some(5555) }
        );
        assert_eq!(call("0 connect 8080").op, Op::Connect { addr: None, port: 8080, from: None });
        assert_eq!(call("0 nodelay on").op, Op::NoDelay(true));
        assert_eq!(call("0 expect recv_eof"), Call { op: Op::Recv(1), outcome: Some(Outcome::Eof) });
        assert_eq!(one_step("0 expect state SYN-SENT"), Step::Check(Check::State("SYN-SENT".into())));
        assert_eq!(one_step("0 expect event none"), Step::Check(Check::Event(None)));
        assert_eq!(
            one_step("0 expect stat retransmits >= 2"),
            Step::Check(Check::Stat { name: "retransmits".into(), op: CmpOp::Ge, value: "2".into() })
        );
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        assert_eq!(error("0 listen 80\n\n1 < S 0:5(0)"), "line 3: `0:5(0)`: END must be START + LEN");
        assert_eq!(error("0 < . 1:1(0)"), "line 1: the ACK flag (`.`) is set but there is no `ack N`");
        assert!(error("1 quiet\n0.5 quiet").starts_with("line 2: time 0.5 is before"));
        assert!(error("0 quiet\niss 5").starts_with("line 2: `iss 5` has no time"));
        assert!(error("bogus 1").starts_with("line 1: unknown directive `bogus`"));
        assert!(error("0 < S 0:0(0) <...>").contains("only makes sense on `>` lines"));
        assert!(error("0 > S 0:0(0) <mss 1,mss 2>").contains("given twice"));
        assert!(error("0 > S 0:0(0) <mss 1").contains("not closed"));
        assert!(error("0 > Q 0:0(0)").contains("not a flag set"));
        assert!(error("0 > S 0:0(0) win 70000").contains("`win`: `70000` is not a valid u16"));
        assert!(error("0 send 5 -> eof").contains("cannot have outcome"));
        assert!(error("0 frobnicate").contains("unknown step `frobnicate`"));
        assert!(error("+0.0000001 quiet").contains("finer than"));
        assert!(error("0").contains("must be followed by"));
    }

    /// Mangled scripts must produce errors, never panics.
    #[test]
    fn no_panics_on_garbage() {
        let sample = "config mss=1460 ts=off\niss 5\n0 listen 8080\n+0 < S 0:0(0) win 65535 <mss 1460,TS val 1 ecr 0>\n\
                      +0 > S. 0:0(0) ack 1 <...>\n+.1 send 100 -> 50\n+0 expect stat x >= 1\n+0 < raw 4500\n";
        let bytes = sample.as_bytes();
        let alphabet = b" <>:().,+-*0123456789aSF.R/\n";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let mut s = bytes.to_vec();
            for _ in 0..1 + next() % 4 {
                let i = (next() % s.len() as u64) as usize;
                match next() % 3 {
                    0 => s[i] = alphabet[(next() % alphabet.len() as u64) as usize],
                    1 => {
                        s.remove(i);
                    }
                    _ => s.insert(i, alphabet[(next() % alphabet.len() as u64) as usize]),
                }
            }
            let _ = parse(&String::from_utf8_lossy(&s));
        }
    }
}
