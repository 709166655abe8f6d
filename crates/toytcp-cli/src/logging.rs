//! The `tracing` subscriber: the trace on stderr.
//!
//! The CLI's own INFO lines (segments, transitions, events) are printed
//! bare, so that they read like tcpdump output; anything else keeps its
//! level and target (`WARN toytcp_core::endpoint: …`).

use core::fmt;
use std::io::IsTerminal;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Filter directives for `-v` counted `verbose` times.
fn directives(verbose: u8) -> &'static str {
    match verbose {
        0 => "warn",
        1 => "warn,toytcp_cli=info",
        2 => "info,toytcp_cli=debug,toytcp_core=debug",
        _ => "trace",
    }
}

/// Installs the subscriber: a non-empty `RUST_LOG` decides what is shown,
/// otherwise the `-v` count does. Colours only on a terminal without `NO_COLOR`.
pub fn init(verbose: u8) {
    let from_env = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let filter =
        from_env.and_then(|v| EnvFilter::try_new(v).ok()).unwrap_or_else(|| EnvFilter::new(directives(verbose)));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_env_filter(filter)
        .event_format(Plain)
        .init();
}

/// Bare messages for the CLI's INFO lines, `LEVEL target: message` for the rest.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let meta = event.metadata();
        if !(*meta.level() == Level::INFO && meta.target().starts_with("toytcp_cli")) {
            write!(writer, "{} {}: ", meta.level(), meta.target())?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
