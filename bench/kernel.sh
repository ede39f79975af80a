#!/usr/bin/env bash
# Per-layer eigenvalue kernel against the FLOP limit (see bench/README.md, "Kernel speed").
# Usage: bash bench/kernel.sh [--quick] [--bands 32,48,64] [--only f64|f32] [--no-faer] [SIZES]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p weightscope --example kernel_speed -- "$@"
