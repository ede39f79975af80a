#!/usr/bin/env bash
# Look at the HTML report as a user would: build weightscope, write the bundled example's
# report, open it in headless Chromium with one layer's plots opened (the page's #layer-N
# link, here without scrolling to it), and save a screenshot. Not run in CI. Installs Debian's `chromium` if missing.
#
#   tools/screenshot-report.sh [OUT_DIR]     (default: target/report-example)
#
# docs/report.png is the screenshot of this script's run (1280 px wide, row 4 opened).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/report-example}
mkdir -p "$out"
out=$(cd "$out" && pwd)

if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium (Debian package)" >&2
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y chromium; else sudo apt-get install -y chromium; fi
fi

cargo build --release -p weightscope-cli
bin=target/release/weightscope
"$bin" report examples/mnist-cnn/model.safetensors --randomize -o "$out/report.html"
"$bin" plot examples/mnist-cnn/model.safetensors --randomize -o "$out/plots" --format png,svg
echo "report: $out/report.html ($(wc -c <"$out/report.html") bytes)"

# Row 4 (fc_layers.0) opened; tall enough to show the summary, the depth plots, the table
# and the layer's plots in one image.
chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --force-device-scale-factor=1 --window-size=1280,2700 --virtual-time-budget=5000 \
    --screenshot="$out/report.png" "file://$out/report.html?noscroll#layer-4" 2>/dev/null
echo "screenshot: $out/report.png"
