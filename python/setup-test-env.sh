#!/usr/bin/env bash
# Create (once) the Python environment for weightscope's Python tests and print its path.
#
#   venv="$(python/setup-test-env.sh | tail -n 1)"
#   "$venv/bin/python" -m pytest ...
#
# The venv lives OUTSIDE the clone, in a cache directory keyed by the contents of
# python/requirements-test.txt, so a machine installs it once (several GB: the Linux torch
# wheel on PyPI is the CUDA build, see python/TEST-ENV.md) and later runs reuse it at no
# cost; changing a pin gives a new key, hence a fresh venv.
#
# Environment:
#   WEIGHTSCOPE_PY_ENV  venv path (default: ${XDG_CACHE_HOME:-$HOME/.cache}/weightscope/py-test-<hash>)
#   PYTHON              interpreter that creates the venv (default: python3; needs >= 3.11,
#                       torch 2.15 and transformers 5.24 require it; the pins were resolved on 3.11)
#
# Progress goes to stderr; the last line on stdout is the venv path.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REQ="$HERE/requirements-test.txt"
PYTHON="${PYTHON:-python3}"

# Hash with the interpreter itself: sha256sum is not on every machine (macOS has shasum).
HASH="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest()[:12])' "$REQ")"
VENV="${WEIGHTSCOPE_PY_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/weightscope/py-test-$HASH}"
# What the marker must say: the requirements and the interpreter the venv was built with.
# A venv points at its base interpreter, so a changed Python (a new runner image) must also
# give a fresh venv, even where WEIGHTSCOPE_PY_ENV pins the path.
PYVER="$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
WANT="requirements-sha256-prefix=$HASH python=$PYVER"
MARKER="$VENV/.weightscope-test-env-complete"

ready() {
    [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$VENV/bin/python" ]]
}

if ready; then
    echo "$VENV"
    exit 0
fi

mkdir -p "$(dirname "$VENV")"
# Two jobs on one machine (e.g. parallel CI steps) must not install into the same venv at
# once: hold a lock next to it while creating it (flock is in util-linux; skipped where absent).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock 9
    if ready; then  # the other job finished it while we waited
        echo "$VENV"
        exit 0
    fi
fi

# No marker (or a stale one): an interrupted install is redone from scratch, never trusted.
if [[ -e "$VENV" ]]; then
    echo "setup-test-env: removing incomplete or outdated $VENV" >&2
    rm -rf "$VENV"
fi

echo "setup-test-env: creating $VENV with $PYTHON $PYVER" >&2
start=$SECONDS
"$PYTHON" -m venv "$VENV"
# --only-binary: every pin has a wheel; a source build would mean a wrong pin or platform.
# --no-cache-dir: the venv is the cache; keeping the wheels too would double the disk use.
# pip's output goes to stderr so that stdout carries only the path.
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --no-cache-dir \
    --only-binary=:all: -r "$REQ" >&2
# A smoke test before trusting the venv: the CUDA build of torch must import and train on
# the CPU (CUDA hidden, as on a machine without a GPU).
CUDA_VISIBLE_DEVICES="" "$VENV/bin/python" - >&2 <<'PY'
import lightning, numpy, pandas, pytest, safetensors, torch, tqdm, transformers
from transformers.pytorch_utils import Conv1D
m = torch.nn.Linear(4, 2)
opt = torch.optim.SGD(m.parameters(), lr=0.1)
m(torch.ones(3, 4)).sum().backward()
opt.step()
print(f"torch {torch.__version__} (cuda available: {torch.cuda.is_available()}), "
      f"transformers {transformers.__version__}, lightning {lightning.__version__}")
PY
echo "$WANT" >"$MARKER"
echo "setup-test-env: ready in $((SECONDS - start)) s" >&2
echo "$VENV"
