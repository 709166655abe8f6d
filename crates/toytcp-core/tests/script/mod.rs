//! A packetdrill-like packet-script runner for `toytcp-core`.
//!
//! A script (`tests/scripts/*.pkt`, format in `tests/scripts/README.md`)
//! plays the peer and the application against one `Endpoint` in virtual
//! time: `<` lines inject segments, `>` lines say exactly which segment the
//! stack must emit and when, other lines are application calls and
//! assertions.
//!
//! - [`ast`]: the parsed form of a script (plain data, no core types);
//! - [`parse`]: text → [`ast::Script`], with line-numbered errors;
//! - [`format`]: segments back to script syntax, and comparison;
//! - [`debug_fields`]: reading `Stats` fields for `expect stat`;
//! - [`runner`]: the virtual-time driver against the real core;
//! - `selftest`: scripts that must fail, and how.

pub mod ast;
pub mod debug_fields;
pub mod format;
pub mod parse;
pub mod runner;
#[cfg(test)]
mod selftest;

pub use runner::Failure;

/// Parses and runs one script's text. A panic inside the core is caught
/// and reported as a failure at the line that was running.
pub fn run_text(text: &str, verbose: bool) -> Result<(), Failure> {
    let script = parse::parse(text).map_err(|e| Failure { line: e.line, message: e.message })?;
    let mut line = 0;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner::run(&script, verbose, &mut line)));
    match result {
        Ok(outcome) => outcome,
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            Err(Failure { line, message: format!("the stack panicked: {what}") })
        }
    }
}
