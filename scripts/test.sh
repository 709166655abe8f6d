#!/usr/bin/env bash
# The whole test suite: doc tests (the README's drive-loop example among
# them), unit and integration tests of every crate, then the packet scripts
# once more with their per-script report and `N passed, N failed` line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --doc
cargo test --workspace --all-targets
echo "== packet scripts (crates/toytcp-core/tests/scripts)"
cargo test -p toytcp-core --test scripts -- --nocapture --exact scripts
