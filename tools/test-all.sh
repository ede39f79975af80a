#!/usr/bin/env bash
# Every test of the project: the Rust workspace, then the Python package, built into the
# cached Python test environment outside the clone (python/setup-test-env.sh: the first run
# on a machine installs it, a few minutes; later runs reuse it).
#
#   tools/test-all.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace
# The Python tests also compare with the CSV of the CLI that `cargo test` just built.
target="${CARGO_TARGET_DIR:-target}"
WEIGHTSCOPE_CLI="$(cd "$target" && pwd)/debug/weightscope" python/run-tests.sh
