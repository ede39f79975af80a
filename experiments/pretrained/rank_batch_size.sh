#!/usr/bin/env bash
# α̂ (and the other summary metrics) against test accuracy over the batch-size experiment's
# runs, with `weightscope rank --accuracy`. The checkpoints are git-ignored: train them first
# (experiments/batch_size/README.md), e.g. from the repository root
#
#   cargo run --manifest-path experiments/batch_size/Cargo.toml -- --data ../shared/data/mnist \
#     --out /tmp/bs-results --batch-sizes 500,250,100,32,16,8,4,2 \
#     --wd-runs 32:0.0005,32:0.05 --epochs 5 --train-subset 20000 --seed 0
#
# then run this script from the repository root. CKPTS (default
# experiments/batch_size/checkpoints) holds <run>/final.safetensors and <run>/train.json.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
ckpts="${CKPTS:-experiments/batch_size/checkpoints}"
out=experiments/pretrained/results/batch_size
ws=target/release/weightscope
mkdir -p "$out"

# model,accuracy with model = the path exactly as passed to rank (test accuracy of train.json).
{
  echo "model,accuracy"
  for d in "$ckpts"/*/; do
    run="$(basename "$d")"
    [[ -f "$d/final.safetensors" && -f "$d/train.json" ]] || continue
    python3 -c 'import json,sys; print(sys.argv[1] + "," + str(json.load(open(sys.argv[2]))["test_acc"]))' \
      "$ckpts/$run/final.safetensors" "$d/train.json"
  done
} > "$out/accuracy.csv"
mapfile -t runs < <(tail -n +2 "$out/accuracy.csv" | cut -d, -f1)
echo "${#runs[@]} runs"

# All three layers (fc3 is 10×512: ten eigenvalues), then the two hidden layers only.
"$ws" rank "${runs[@]}" --accuracy "$out/accuracy.csv" -o "$out/rank_all.csv" --threads 2 \
  >/dev/null
"$ws" rank "${runs[@]}" --accuracy "$out/accuracy.csv" -o "$out/rank_fc1_fc2.csv" \
  --layers fc1,fc2 --threads 2 >/dev/null
# The eight batch-size runs alone (without the two L2 runs), hidden layers only.
batch_runs=()
for r in "${runs[@]}"; do [[ "$r" == *_wd* ]] || batch_runs+=("$r"); done
"$ws" rank "${batch_runs[@]}" --accuracy "$out/accuracy.csv" -o "$out/rank_fc1_fc2_no_l2.csv" \
  --layers fc1,fc2 --threads 2 >/dev/null
for f in "$out"/rank_*.corr.csv; do
  echo "== $f"
  cat "$f"
done
