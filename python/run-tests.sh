#!/usr/bin/env bash
# Build and install the weightscope Python package into the Python test environment, then
# run its tests.
#
#   python/run-tests.sh [pytest args...]
#
# The environment is the cached venv of python/setup-test-env.sh (its last stdout line), or
# the venv named by WEIGHTSCOPE_TEST_VENV (a venv with numpy, pandas, pytest, maturin,
# safetensors and optionally torch). The extension is built in release mode (the analysis
# is ~10-50x slower in a debug build) with the cargo target dir of the workspace
# (CARGO_TARGET_DIR if set). Set WEIGHTSCOPE_CLI to a weightscope binary built from this
# same checkout to also compare with the CLI's CSV for more option sets (the golden CSVs are
# always compared; a binary from another branch may have other columns).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -n "${WEIGHTSCOPE_TEST_VENV:-}" ]]; then
    env="$WEIGHTSCOPE_TEST_VENV"
else
    env="$(python/setup-test-env.sh | tail -n 1)"
fi
if [[ ! -x "$env/bin/python" ]]; then
    echo "run-tests: no Python environment at '$env'" >&2
    exit 2
fi

# The maturin build backend runs the `maturin` binary from PATH: the venv's.
export PATH="$env/bin:$PATH"
start=$SECONDS
# --no-build-isolation: build with the venv's pinned maturin (no download); --no-deps: numpy
# and pandas are already pinned there.
# The dev profile (dependencies at opt-level 3: see Cargo.toml) reuses the dependencies
# `cargo test` built, where a release build (thin LTO) would take ~12 min more on 2 cores; the
# test models are small. A user's `pip install ./python` builds in release.
export MATURIN_PEP517_ARGS="${MATURIN_PEP517_ARGS:---profile dev}"
"$env/bin/python" -m pip install --disable-pip-version-check --no-input \
    --no-build-isolation --no-deps --force-reinstall ./python >&2
echo "run-tests: built and installed the package in $((SECONDS - start)) s" >&2

# Run from the tests' folder's parent so that `import weightscope` is the installed package
# (with its extension), not the source folder python/weightscope.
cd "$ROOT"
set +e
"$env/bin/python" -m pytest python/tests -q -p no:cacheprovider --import-mode=importlib "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
    echo "run-tests: pytest collected no tests" >&2
    exit 1
fi
exit $rc
