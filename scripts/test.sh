#!/usr/bin/env bash
# The whole test suite: doc tests (the README's drive-loop example among
# them); unit, integration and (as root) network-namespace tests of every
# crate; 2,000 simulator seeds in release mode; then the packet scripts once
# more with their per-script report and `N passed, N failed` line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --doc
cargo test --workspace --all-targets
echo "== simulator swarm: 2000 seeds (TOYTCP_SEEDS=2000 cargo test --release -p toytcp-sim)"
TOYTCP_SEEDS=2000 cargo test --release -p toytcp-sim
echo "== packet scripts (crates/toytcp-core/tests/scripts)"
cargo test -p toytcp-core --test scripts -- --nocapture --exact scripts
