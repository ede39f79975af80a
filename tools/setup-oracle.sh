#!/usr/bin/env bash
# Create the Python oracle venv used by tools/make_example.py and tools/make_fixtures.py.
#
#   tools/setup-oracle.sh [VENV_DIR]        (default: .venv-oracle, relative to the cwd)
#
# Environment:
#   PYTHON   interpreter used to create the venv (default: python3; 3.11 was used)
#   torch comes from PyPI (its CUDA build, several GB); pip's PIP_EXTRA_INDEX_URL can point at
#   a CPU-only wheel index where one is reachable.
#
# Then, from the repository root:
#   .venv-oracle/bin/python tools/make_example.py
#   .venv-oracle/bin/python tools/make_fixtures.py
set -euo pipefail

VENV_DIR="${1:-.venv-oracle}"
PYTHON="${PYTHON:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

"$PYTHON" -m venv "$VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -r "$HERE/requirements-oracle.txt"
"$VENV_DIR/bin/python" - <<'PY'
import importlib.metadata as md
for d in ("weightwatcher", "powerlaw", "digit-recognizer-py", "numpy", "scipy", "torch", "safetensors"):
    print(f"{d}=={md.version(d)}")
PY
echo "oracle venv ready: $VENV_DIR"
