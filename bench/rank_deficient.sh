#!/usr/bin/env bash
# Cost of the exact route for rank-deficient layers: a PyTorch checkpoint holding a stride-0
# view (one random row broadcast to N × N, rank 1, a few KB on disk), analysed with
# `--solver auto` (Gram, then the exact route because the spectrum spans > 1e11), `gram` and
# `svd`. Prints the wall time and peak RSS of each (GNU time).
#
#   bash bench/rank_deficient.sh [N ...]        (default: 2048 4096)
#
# Needs a Python with torch (PYTHON=..., default python3) and /usr/bin/time. Run from the
# repository root; builds the release binary first.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
SIZES=("${@:-2048 4096}")
read -r -a SIZES <<<"${SIZES[*]}"
OUT=bench/out/rank_deficient
mkdir -p "$OUT"
cargo build --release -q -p weightscope-cli
BIN="${CARGO_TARGET_DIR:-target}/release/weightscope"
for n in "${SIZES[@]}"; do
  "$PYTHON" - "$n" "$OUT/stride0_$n.pt" <<'PY'
import sys
import torch
n, path = int(sys.argv[1]), sys.argv[2]
row = torch.randn(1, n, generator=torch.Generator().manual_seed(0))
torch.save({"layer.weight": row.expand(n, n)}, path)
PY
  for solver in auto gram svd; do
    /usr/bin/time -f "N=$n --solver $solver: %e s wall, %M KiB peak RSS" \
      "$BIN" analyze "$OUT/stride0_$n.pt" --solver "$solver" -q \
      --json "$OUT/stride0_${n}_$solver.json" >/dev/null
  done
done
