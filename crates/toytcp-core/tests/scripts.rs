//! Packet scripts (DESIGN.md "Testing layers", item 2): runs every
//! `tests/scripts/**/*.pkt` against `toytcp-core` in virtual time.
//!
//! ```text
//! cargo test -p toytcp-core --test scripts -- --nocapture      # see the per-script lines
//! TOYTCP_SCRIPT=passive cargo test -p toytcp-core --test scripts -- --nocapture
//! TOYTCP_SCRIPT_VERBOSE=1 TOYTCP_SCRIPT=close cargo test -p toytcp-core --test scripts -- --nocapture
//! ```
//!
//! `TOYTCP_SCRIPT=substring` runs only the scripts whose name contains it;
//! `TOYTCP_SCRIPT_VERBOSE=1` prints every line, segment and event as it
//! happens. The format is documented in `tests/scripts/README.md`.

mod script;

use std::path::{Path, PathBuf};

/// Every `*.pkt` below `dir`, sorted.
fn find_scripts(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot read {}: {e}", d.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "pkt") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let filter = std::env::var("TOYTCP_SCRIPT").unwrap_or_default();
    let verbose = std::env::var("TOYTCP_SCRIPT_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    let (mut passed, mut failed) = (0, 0);
    for path in find_scripts(&dir) {
        let name = path.strip_prefix(&dir).unwrap_or(&path).with_extension("").display().to_string();
        if !name.contains(&filter) {
            continue;
        }
        if verbose {
            println!("---- {name}");
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        match script::run_text(&text, verbose) {
            Ok(()) => {
                passed += 1;
                println!("ok   {name}");
            }
            Err(f) => {
                failed += 1;
                println!("FAIL {name}: line {}: {}", f.line, f.message);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    assert!(passed + failed > 0, "no script in {} matches TOYTCP_SCRIPT={filter:?}", dir.display());
    assert!(failed == 0, "{failed} packet script(s) failed; the FAIL lines above say where");
}
