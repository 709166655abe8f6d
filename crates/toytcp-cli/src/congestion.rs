//! The congestion controllers the `--cc NAME` option can select
//! ([`ConnectionConfig::congestion`](toytcp_core::ConnectionConfig::congestion)).
//!
//! [`ALGORITHMS`] is the one list: clap's parser, its `--help` and error
//! messages ("possible values: …") and the names in the trace all come from
//! it, so a controller the core gains needs one line there.

use clap::builder::{PossibleValuesParser, TypedValueParser};
use toytcp_core::config::CongestionAlgorithm;

/// Every selectable controller with its command-line name (the name the
/// core reports in `Connection::congestion_control`).
pub const ALGORITHMS: &[(&str, CongestionAlgorithm)] = &[
    // RFC 5681 / RFC 6582.
    ("newreno", CongestionAlgorithm::NewReno),
    // RFC 9438, with HyStart++ (RFC 9406).
    ("cubic", CongestionAlgorithm::Cubic),
];

/// The controller called `name` (case-sensitive), if there is one.
pub fn from_name(name: &str) -> Option<CongestionAlgorithm> {
    ALGORITHMS.iter().find(|(n, _)| *n == name).map(|&(_, a)| a)
}

/// The command-line name of `algorithm`.
pub fn name(algorithm: CongestionAlgorithm) -> &'static str {
    ALGORITHMS.iter().find(|(_, a)| *a == algorithm).map_or("unknown", |&(n, _)| n)
}

/// clap's value parser for `--cc`: accepts exactly the names in
/// [`ALGORITHMS`] and lists them in `--help` and in its error message.
pub fn value_parser() -> impl TypedValueParser<Value = CongestionAlgorithm> {
    PossibleValuesParser::new(ALGORITHMS.iter().map(|&(n, _)| n))
        .try_map(|n| from_name(&n).ok_or_else(|| format!("unknown congestion controller '{n}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &(n, a) in ALGORITHMS {
            assert_eq!(from_name(n), Some(a));
            assert_eq!(name(a), n);
        }
        assert_eq!(from_name("NewReno"), None);
        assert_eq!(from_name("bogus"), None);
    }

    #[test]
    fn the_core_default_is_selectable() {
        let default = toytcp_core::ConnectionConfig::default().congestion;
        assert_ne!(name(default), "unknown", "{default:?} is missing from ALGORITHMS");
    }
}
