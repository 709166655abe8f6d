#!/usr/bin/env bash
# The whole test suite: unit tests, packet scripts, doc tests (the README's
# drive-loop example among them) and the CLI's tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
