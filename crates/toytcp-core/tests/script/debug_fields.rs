//! Reading named values out of a `Debug` rendering, for `expect stat`.
//!
//! `expect stat NAME VALUE` names a field of the connection's `Stats` as its
//! `Debug` output prints it, with nested structs joined by dots
//! (`rtt.srtt`). Going through `Debug` keeps the harness in step with
//! whatever `Stats` grows, without a table of field names to maintain.

use std::cmp::Ordering;

/// Flattens `Name { a: 1, b: Inner { c: 2ms }, d: Some(3), e: [1, 2] }`
/// into `[("a", "1"), ("b.c", "2ms"), ("d", "3"), ("e", "[1, 2]")]`.
/// `Some(x)` is read as `x`; lists, tuples and enums with data stay as text.
pub fn flatten(debug: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut p = Reader { s: debug.as_bytes(), i: 0 };
    p.value("", &mut out);
    out
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| b.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn text(&self, from: usize) -> String {
        String::from_utf8_lossy(&self.s[from..self.i]).trim().to_string()
    }

    /// A word, number, duration or quoted string.
    fn atom(&mut self) -> String {
        self.skip_ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'"') {
            self.i += 1;
            while let Some(&b) = self.s.get(self.i) {
                self.i += 1;
                if b == b'\\' {
                    self.i += 1;
                } else if b == b'"' {
                    break;
                }
            }
            self.i = self.i.min(self.s.len());
        } else {
            while self.s.get(self.i).is_some_and(|b| !b"{}()[],:".contains(b) && !b.is_ascii_whitespace()) {
                self.i += 1;
            }
        }
        self.text(start)
    }

    /// Skips a bracketed group starting at the current `(`/`[`/`{`.
    fn skip_group(&mut self) {
        let mut depth = 0usize;
        while let Some(&b) = self.s.get(self.i) {
            self.i += 1;
            match b {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    fn value(&mut self, path: &str, out: &mut Vec<(String, String)>) {
        let start = self.i;
        let word = self.atom();
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                loop {
                    match self.peek() {
                        None => return,
                        Some(b'}') => {
                            self.i += 1;
                            return;
                        }
                        Some(b',') => self.i += 1,
                        Some(_) => {
                            let before = self.i;
                            let name = self.atom();
                            if self.peek() == Some(b':') {
                                self.i += 1;
                            }
                            let child = if path.is_empty() { name } else { format!("{path}.{name}") };
                            self.value(&child, out);
                            if self.i == before {
                                self.i += 1; // unreadable byte: step over it
                            }
                        }
                    }
                }
            }
            Some(b'(') if word == "Some" => {
                self.i += 1;
                self.value(path, out);
                if self.peek() == Some(b')') {
                    self.i += 1;
                }
            }
            Some(b'(' | b'[') => {
                self.skip_group();
                out.push((path.to_string(), compact(&self.text(start))));
            }
            _ => out.push((path.to_string(), word)),
        }
    }
}

/// Rewrites `{:#?}`'s multi-line groups the way `{:?}` prints them.
fn compact(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut s = words.join(" ");
    for (from, to) in [("( ", "("), ("[ ", "["), (" )", ")"), (" ]", "]"), (",)", ")"), (",]", "]")] {
        s = s.replace(from, to);
    }
    s
}

/// Compares a value read from `Debug` with one written in a script:
/// integers as integers, durations (`200ms`, `1.5s`, `0ns`) as durations,
/// anything else as text (equal or incomparable).
pub fn compare(actual: &str, expected: &str) -> Option<Ordering> {
    if let (Ok(a), Ok(e)) = (actual.parse::<i128>(), expected.parse::<i128>()) {
        return Some(a.cmp(&e));
    }
    if let (Some(a), Some(e)) = (nanos(actual), nanos(expected)) {
        return Some(a.cmp(&e));
    }
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-', ' '], "");
    (norm(actual) == norm(expected)).then_some(Ordering::Equal)
}

/// A duration as `Debug` prints it (or a script writes it), in nanoseconds.
fn nanos(s: &str) -> Option<u128> {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = s.split_at(split);
    let unit_ns: u128 = match unit {
        "ns" => 1,
        "µs" | "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        _ => return None,
    };
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || frac.len() > 12 {
        return None;
    }
    let scale = 10u128.pow(frac.len() as u32);
    let mantissa: u128 = format!("{int}{frac}").parse().ok()?;
    Some(mantissa * unit_ns / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Inner {
        srtt: Option<std::time::Duration>,
        rto: std::time::Duration,
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Why {
        Checksum,
        Other(u8),
    }

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Stats {
        segs_in: u64,
        rtt: Inner,
        last: Option<Why>,
        gone: Option<u8>,
        why: Why,
        hist: [u8; 2],
        name: &'static str,
    }

    #[test]
    fn flattens_nested_debug() {
        let stats = Stats {
            segs_in: 3,
            rtt: Inner { srtt: Some(std::time::Duration::from_micros(1500)), rto: std::time::Duration::from_secs(1) },
            last: Some(Why::Checksum),
            gone: None,
            why: Why::Other(4),
            hist: [1, 2],
            name: "a, b",
        };
        for text in [format!("{stats:?}"), format!("{stats:#?}")] {
            let fields = flatten(&text);
            let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
            assert_eq!(get("segs_in"), Some("3"), "{fields:?}");
            assert_eq!(get("rtt.srtt"), Some("1.5ms"));
            assert_eq!(get("rtt.rto"), Some("1s"));
            assert_eq!(get("last"), Some("Checksum"));
            assert_eq!(get("gone"), Some("None"));
            assert_eq!(get("why"), Some("Other(4)"));
            assert_eq!(get("hist"), Some("[1, 2]"));
            assert_eq!(get("name"), Some("\"a, b\""));
        }
    }

    #[test]
    fn compares_numbers_durations_and_names() {
        assert_eq!(compare("3", "3"), Some(Ordering::Equal));
        assert_eq!(compare("3", "10"), Some(Ordering::Less));
        assert_eq!(compare("1.5ms", "1500us"), Some(Ordering::Equal));
        assert_eq!(compare("200ms", "1s"), Some(Ordering::Less));
        assert_eq!(compare("0ns", "0ms"), Some(Ordering::Equal));
        assert_eq!(compare("Checksum", "checksum"), Some(Ordering::Equal));
        assert_eq!(compare("None", "3"), None);
    }
}
