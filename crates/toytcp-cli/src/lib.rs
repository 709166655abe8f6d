//! The library behind `toytcp-cli`: drivers and tools that run ToyTCP's
//! sans-IO core.
//!
//! - [`sim`]: two in-memory hosts with callback applications on the
//!   simulator crate's world (one link, per-direction netem-like faults, virtual time).
//! - [`scenario`]: the runs of the book "Rustで始めるTCP自作入門" as
//!   scenarios on that world, with checks of how they must end.
//! - [`trace`]: tcpdump-like one-line packet summaries, shared by every driver.
//! - [`observe`]: the raw-socket stack's observer: the same trace, and pcap.
//! - [`pcap`]: classic pcap files (LINKTYPE_RAW): the simulator crate's
//!   writer and reader, the workspace's only one, re-exported.
//! - [`congestion`]: the congestion controllers `--cc` can name.
//! - [`netns`]: the book's three network namespaces, made and removed.
//! - [`logging`]: the `tracing` subscriber the binary installs.
//!
//! Nothing here prints except through `tracing` or an output handle the
//! caller passes in.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod congestion;
pub mod logging;
pub mod netns;
pub mod observe;
pub mod scenario;
pub mod sim;
pub mod trace;

pub use toytcp_sim::pcap;
