"""Run weightwatcher's default analysis on a safetensors file or model folder.

Usage: python bench/ww_run.py MODEL OUT_JSON

MODEL is a .safetensors file or a folder holding *.safetensors (shards are
merged into one state dict). The state dict is read with
safetensors.torch.load_file and analysed with weightwatcher's defaults:
    WeightWatcher(model=state_dict).analyze()
(so max_evals=15000, max_N=50000, min_evals=8 apply). OUT_JSON gets the
per-layer rows plus the time spent importing, loading and analysing.
"""

import glob
import json
import math
import os
import sys
import time

t0 = time.perf_counter()
import safetensors.torch  # noqa: E402
import weightwatcher  # noqa: E402

t1 = time.perf_counter()


def load(model):
    if os.path.isdir(model):
        files = sorted(glob.glob(os.path.join(model, "*.safetensors")))
        if not files:
            sys.exit(f"no .safetensors file in {model}")
    else:
        files = [model]
    state = {}
    for f in files:
        state.update(safetensors.torch.load_file(f))
    return state


def clean(v):
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def main():
    model, out = sys.argv[1], sys.argv[2]
    state = load(model)
    t2 = time.perf_counter()
    df = weightwatcher.WeightWatcher(model=state).analyze()
    t3 = time.perf_counter()
    rows = [{k: clean(v) for k, v in r.items()} for r in df.to_dict("records")]
    with open(out, "w") as f:
        json.dump({"weightwatcher": weightwatcher.__version__,
                   "t_import": t1 - t0, "t_load": t2 - t1, "t_analyze": t3 - t2,
                   "layers": rows}, f)


if __name__ == "__main__":
    main()
